"""The work that runs by itself: the weekly job, the minute tick, the Celery app and its
tasks (batches, confirmations, the tick), where batches run, and the demo."""
