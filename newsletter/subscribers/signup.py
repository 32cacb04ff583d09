"""A sign-up from request to confirmation mail, shared by the web form and the command line.

The request is stored and committed first (:func:`newsletter.subscribers.consent.subscribe`);
only then is the confirmation mailed (the Indico rule: never mail about a row that may roll
back). :func:`send_confirmation` builds that mail from the database alone, given the
subscriber's id, so it runs the same in the requesting process or in a Celery worker
(``newsletter.jobs``): the link is bound to the moment of the request, which the row keeps.
A confirmation the transport refuses clears that moment, so the person can ask again at once
instead of after the hourly throttle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.confirmation import confirmation_message
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.mail.transport import DeliveryError, Envelope, Transport
from newsletter.mail.verp import MessageTags, ReturnPath
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.subscribers.consent import confirm_token
from newsletter.tokens import Signer


def send_confirmation(
    factory: sessionmaker[Session],
    settings: Settings,
    signer: Signer,
    transport: Transport,
    subscriber_id: int,
    now: datetime,
) -> str | None:
    """Mail the confirmation link of a pending sign-up; the reason it could not, or None.

    Nothing is sent (and None returned) when the sign-up is no longer pending or was never
    asked to confirm: a queued task that runs late must not mail someone who has since
    confirmed or left.
    """
    with factory() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if (
            subscriber is None
            or subscriber.status is not SubscriberStatus.PENDING
            or subscriber.confirm_sent_at is None
        ):
            return None
        asked = subscriber.confirm_sent_at
        email, name = subscriber.email, subscriber.name
        link = f"{settings.base_url}/confirm/{confirm_token(signer, subscriber)}"
    tag = MessageTags.from_settings(settings).for_confirmation(subscriber_id)
    message_id, message = confirmation_message(settings, email, name, link, now, subscriber_id, tag)
    return_path = ReturnPath.from_settings(settings)
    mail_from = return_path.at(tag) if return_path else settings.sender_email
    try:
        transport.send(Envelope(mail_from, email, message_id), message)
    except DeliveryError as exc:
        withdraw_request(factory, subscriber_id, asked)
        return exc.reason
    return None


def withdraw_request(
    factory: sessionmaker[Session], subscriber_id: int, asked: datetime | None = None
) -> None:
    """Forget that a confirmation was asked for, so the person may ask again at once: its mail
    could not be sent (or handed to a worker). With ``asked``, only that request's moment is
    forgotten: a newer request keeps its own."""
    condition = [Subscriber.id == subscriber_id, Subscriber.status == SubscriberStatus.PENDING]
    if asked is not None:
        condition.append(Subscriber.confirm_sent_at == asked)
    with transaction(factory) as session:
        session.execute(
            update(Subscriber)
            .where(*condition)
            .values(confirm_sent_at=None)
            .execution_options(synchronize_session=False)
        )
