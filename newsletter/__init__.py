"""Weekly review-digest newsletter pipeline.

ingest -> select -> compose -> fan out -> deliver -> record events. The public surface is the
``newsletter`` command line, ``worker.py``'s Celery app and the names re-exported here.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.errors import ConfigError, InputError, NewsletterError, WorkError

__version__ = "0.1.0"

__all__ = ["ConfigError", "InputError", "NewsletterError", "Settings", "WorkError", "__version__"]
