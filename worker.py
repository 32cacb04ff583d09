"""The Celery application for ``celery -A worker worker`` and ``celery -A worker beat``.

Settings come from ``NEWSLETTER_*`` variables (and ``.env``), like the command line.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.jobs.celery_app import create_celery

app = create_celery(Settings.from_env())
