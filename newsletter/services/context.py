"""What every service call needs: the settings, the database, and how mail and work leave.

A face makes one :class:`Context` per process (the command line per invocation, the web app
at start-up) and passes it to every service function. It holds no connection of its own but
the engine's pool: each call that sends mail gets a transport of its own, and closes it. The
mail, Celery and dispatch modules are imported when first needed, not with the context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.models import utcnow
from newsletter.tokens import Signer, load_fallbacks, load_secret

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from newsletter.delivery.dispatch import CeleryDispatcher, InlineDispatcher
    from newsletter.jobs.confirmations import Confirmations
    from newsletter.mail.transport import Transport
    from newsletter.preflight.run import Probes


@dataclass
class Context:
    settings: Settings
    factory: sessionmaker[Session]
    # How to get a transport for one piece of work (default: make_transport(settings));
    # tests pass one that hands out their in-memory transport.
    transport_factory: Callable[[], Transport] | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    # How the pre-flight check reaches DNS and the web (default: for real); tests pass stubs.
    probes: Probes | None = None

    @cached_property
    def secret(self) -> bytes:
        """NEWSLETTER_SECRET_KEY (or the generated one), read once."""
        return load_secret(self.settings)

    @cached_property
    def fallbacks(self) -> tuple[bytes, ...]:
        """NEWSLETTER_SECRET_KEY_FALLBACKS: keys of before a rotation, still accepted."""
        return load_fallbacks(self.settings)

    @cached_property
    def signer(self) -> Signer:
        """Signs with the secret key; verifies what it or a fallback key signed."""
        return Signer(self.secret, self.fallbacks)

    def transport(self) -> Transport:
        """A transport for one piece of work; the caller closes it."""
        if self.transport_factory is not None:
            return self.transport_factory()
        from newsletter.mail import make_transport  # the SMTP and DKIM modules, when needed

        return make_transport(self.settings)

    def check_mail(self) -> None:
        """Make (and close) one transport, so that a mail set-up that cannot work (a bad DKIM
        key) stops start-up with its reason instead of failing every request later."""
        self.transport().close()

    @contextmanager
    def dispatcher(self) -> Iterator[InlineDispatcher | CeleryDispatcher]:
        """Where batches run: the workers when a broker is set, else this process."""
        from newsletter.jobs.dispatchers import dispatcher_for

        dispatcher = dispatcher_for(self.settings, self.factory)
        try:
            yield dispatcher
        finally:
            dispatcher.close()

    @cached_property
    def confirmations(self) -> Confirmations:
        """Confirmation mail after the commit: a worker's task when a broker is set, else sent
        here on a transport of its own."""
        from newsletter.jobs.celery_app import create_celery
        from newsletter.jobs.confirmations import CeleryConfirmations, InlineConfirmations

        if self.settings.broker_url:
            return CeleryConfirmations(create_celery(self.settings))
        return InlineConfirmations(self.factory, self.settings, self.signer, self.transport)
