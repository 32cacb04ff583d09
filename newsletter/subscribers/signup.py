"""A sign-up from start to sent confirmation, shared by the web form and the command line.

The request is stored and committed first; only then is the confirmation mailed (the Indico
rule: never mail about a row that may roll back). A confirmation the transport refuses clears
the request's time, so the person can ask again at once instead of after the hourly throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.confirmation import confirmation_message
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.transport import DeliveryError, Envelope, Transport
from newsletter.delivery.verp import ReturnPath
from newsletter.models import Subscriber
from newsletter.subscribers.consent import SignupResult, confirm_token, subscribe
from newsletter.subscribers.tokens import Signer


@dataclass(frozen=True)
class SignUp:
    result: SignupResult
    sent: bool  # a confirmation went out
    error: str | None = None  # why it could not


def sign_up(
    factory: sessionmaker[Session],
    settings: Settings,
    signer: Signer,
    transport: Transport,
    request: tuple[str, str | None, list[str]],
    now: datetime,
    *,
    source: str,
) -> SignUp:
    """Store the sign-up ``(email, name, categories)``, then mail its confirmation link.
    Raises :class:`~newsletter.errors.InputError` for an invalid address."""
    email, name, categories = request
    with transaction(factory) as session:
        result = subscribe(session, email, name, categories, now, source=source)
        link = ""
        if result.send_confirmation and result.subscriber_id is not None:
            subscriber = session.get(Subscriber, result.subscriber_id)
            assert subscriber is not None
            link = f"{settings.base_url}/confirm/{confirm_token(signer, subscriber)}"
    if not link:
        return SignUp(result, sent=False)
    assert result.subscriber_id is not None
    sid = result.subscriber_id
    message_id, message = confirmation_message(settings, result.email, name, link, now, sid)
    return_path = ReturnPath.from_settings(settings)
    mail_from = return_path.for_confirmation(sid) if return_path else settings.sender_email
    envelope = Envelope(mail_from, result.email, message_id)
    try:
        transport.send(envelope, message)
    except DeliveryError as exc:
        with transaction(factory) as session:
            subscriber = session.get(Subscriber, result.subscriber_id)
            if subscriber is not None:
                subscriber.confirm_sent_at = None
        return SignUp(result, sent=False, error=exc.reason)
    return SignUp(result, sent=True)
