"""Sending one batch: claim due rows, build each message from its variant, send, record.

Exactly-once rests on three rules:
1. A row is claimed atomically, with a lease (:mod:`newsletter.delivery.claim`) that a
   heartbeat renews while the batch lives (:mod:`newsletter.delivery.lease`); no message
   starts without half a lease in hand.
2. The outcome of every message is committed before the next message's content leaves
   (:mod:`newsletter.delivery.outcomes`: one statement on a connection held for the batch,
   committed while the server reads the next envelope): a worker killed mid-batch can lose at
   most the one message in flight (the guarantee allows one duplicate per killed process),
   never a whole batch of "sent" marks.
3. A sent row is never claimed again; an ``unknown`` one (connection lost after DATA) is not
   retried blindly.

A failure that is not the reader's is not charged to them: a server failing everyone is
ridden out with the message in hand (:mod:`newsletter.delivery.outage`), and a refusal every
reader would meet (our return path, the message itself) pauses the issue with the reason.

Asked to stop (:meth:`Sender.request_stop`: SIGINT or SIGTERM in this process, a Celery warm
shutdown), a batch finishes the message in flight, records it, and hands its unsent rows back
to the queue before it returns, so nothing waits for a lease.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.links import recipient_values
from newsletter.compose.message import MessageTemplate, issue_template
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.attempts import BatchResult, retry_or_fail
from newsletter.delivery.batch_end import finish_if_done, pause, stand_down
from newsletter.delivery.claim import Claim, ClaimedRow, claim_batch, claimed_rows
from newsletter.delivery.lease import Heartbeat, LeaseLost, stall_bound
from newsletter.delivery.outage import Watch
from newsletter.delivery.outcomes import OutcomeLog, RecordError
from newsletter.delivery.ratelimit import NoLimit, RateLimiter
from newsletter.issues.variants import stored_variant
from newsletter.mail.replies import Verdict
from newsletter.mail.transport import (
    DeliveryError,
    Envelope,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    UnknownOutcome,
)
from newsletter.mail.verp import MessageTags, ReturnPath, UnsubscribeAddress
from newsletter.models import DeliveryState, Issue, IssueStatus, IssueVariant, utcnow
from newsletter.subscribers import audience
from newsletter.subscribers.health import SoftBounceRule
from newsletter.tokens import Signer, load_secret

STATUS_CHECK_EVERY = 1.0  # pause and cancel must reach every worker within 2 s


class Sender:
    """Everything one worker process needs to send batches; reused across batches."""

    check_every = STATUS_CHECK_EVERY  # seconds between looks at the issue's status

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        transport: Transport,
        *,
        worker_id: str | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.factory = factory
        bind = factory.kw.get("bind")
        if not isinstance(bind, Engine):
            raise TypeError("Sender needs a sessionmaker bound to an Engine")
        self.engine = bind  # outcomes are written on a connection of their own, per batch
        self.settings = settings
        self.transport = transport
        self.limiter: RateLimiter = limiter or NoLimit()
        # at most 48 characters, so a claim token fits claimed_by
        self.worker_id = (worker_id or f"{os.uname().nodename[:40]}:{os.getpid()}")[:48]
        self.signer = Signer(load_secret(settings))
        # parsed once per process: each parseaddr costs ~60 µs, a tenth of a message's work
        self.mail_from = settings.sender_email
        # With NEWSLETTER_BOUNCE_ADDRESS: a signed VERP return path per message (delivery/verp.py)
        self.return_path = ReturnPath.from_settings(settings)
        self.tags = MessageTags(load_secret(settings))  # X-Newsletter-Id, for feedback loops
        # each reader's List-Unsubscribe mailto carries the same signed tag (mail/verp.py)
        self.unsubscribe = UnsubscribeAddress.from_settings(settings)
        self.soft_bounces = SoftBounceRule.from_settings(settings)
        self._templates: dict[tuple[int, int], tuple[int, MessageTemplate]] = {}
        # the server failing every message, as this process meets it (delivery/outage.py)
        self.outage = Watch(
            factory,
            self.worker_id,
            settings.smtp_outage_pause,
            sending=lambda issue_id: self._status(issue_id) is IssueStatus.SENDING,
            stopping=lambda: self.stop_requested,
            check_every=self.check_every,
        )
        self.lease = timedelta(seconds=settings.delivery_lease)
        smtp = settings.smtp
        self.stall_after = stall_bound(self.lease, smtp.timeout if smtp else 30.0)
        # Set from a signal handler (so a plain flag, no lock); read between messages.
        self.stop_requested = False

    def request_stop(self) -> None:
        """Finish the message in flight, hand the rest of the batch back, take no more."""
        self.stop_requested = True

    def _template(
        self, session: Session, issue_id: int, mask: int, version: int
    ) -> MessageTemplate:
        cached = self._templates.get((issue_id, mask))
        if cached is not None and cached[0] == version:
            return cached[1]
        variant = session.get(IssueVariant, (issue_id, mask))
        if variant is None:
            raise RuntimeError(f"issue {issue_id} has no composed variant for mask {mask}")
        issue = session.get(Issue, issue_id)
        assert issue is not None
        template = issue_template(stored_variant(variant), self.settings, issue.week_key)
        self._templates[(issue_id, mask)] = (version, template)
        return template

    # -- sending --------------------------------------------------------------------------
    def run_batch(self, issue_id: int) -> BatchResult:
        """Claim up to ``batch_size`` due rows of ``issue_id`` and send them."""
        result = BatchResult()
        if self.stop_requested:
            return result
        claimed_at, now = time.monotonic(), utcnow()
        with transaction(self.factory) as session:
            claim = claim_batch(
                session, issue_id, now, self.worker_id, self.settings.batch_size, self.lease
            )
            if claim is None:
                return result
            rows = claimed_rows(session, claim) if claim.ids else []
            templates = {
                r.mask: self._template(session, issue_id, r.mask, claim.version) for r in rows
            }
        result.claimed = len(rows)
        if not rows:
            return result
        beat = Heartbeat(
            self.engine,
            claim.token,
            claim.ids,
            self.lease,
            stall_after=self.stall_after,
            claimed_at=claimed_at,
        )
        try:
            with (
                OutcomeLog(
                    self.engine, claim.token, sync_every=self.settings.sync_commit_every
                ) as log,
                beat,
            ):
                self._send_rows(issue_id, claim, rows, templates, log, beat, result)
        except (KeyboardInterrupt, SystemExit):
            # Forced out mid-message (a second Ctrl+C): the log recorded what the server took;
            # the rest, the message cut short included, goes back to the queue now.
            result.handed_back = stand_down(self.factory, claim, None)
            raise
        return result

    def _send_rows(
        self,
        issue_id: int,
        claim: Claim,
        rows: list[ClaimedRow],
        templates: dict[int, MessageTemplate],
        log: OutcomeLog,
        beat: Heartbeat,
        result: BatchResult,
    ) -> None:
        checked = time.monotonic()
        left = {row.delivery_id for row in rows}
        gone: set[int] = set()  # readers unsubscribed or bounced since the claim
        for row in rows:
            left.discard(row.delivery_id)
            if self.stop_requested:  # SIGINT, SIGTERM, a warm shutdown: hand the rest back
                log.flush(durable=True)
                result.handed_back = stand_down(self.factory, claim, None)
                return
            # Pause and cancel live in the database; every worker looks between messages.
            if time.monotonic() - checked >= self.check_every:
                checked = time.monotonic()
                status = self._status(issue_id)
                if status is not IssueStatus.SENDING:
                    log.flush(durable=True)  # a staged "sent" must not be handed back as unsent
                    stand_down(self.factory, claim, status)
                    return
                with self.factory() as session:
                    gone |= audience.gone(session, left | {row.delivery_id})
            if row.delivery_id in gone:
                row = replace(row, eligible=False)
            # Only rows this batch still owns, and only with half a lease in hand.
            try:
                owned = beat.ensure()
            except SQLAlchemyError as exc:
                raise RecordError(f"cannot renew the lease of claim {claim.token}: {exc}") from exc
            if row.delivery_id not in owned:
                continue
            failure = self._send_one(issue_id, row, templates[row.mask], log, beat, result)
            if isinstance(failure, PermanentFailure):  # our side is refused: an operator must act
                log.flush(durable=True)
                pause(
                    self.factory,
                    issue_id,
                    f"paused: every message would be refused: {failure.reason}",
                )
                stand_down(self.factory, claim, IssueStatus.PAUSED)
                return
            while isinstance(failure, TemporaryFailure):
                # The server failed, not this reader: the message stays in hand for another try.
                log.flush()  # a deferral staged before must be written before the streak's end
                give_up = self.outage.ride_out(issue_id, failure.reason)
                if give_up is not None:
                    log.flush(durable=True)
                    if give_up.pause:
                        pause(self.factory, issue_id, give_up.pause)
                    status = self._status(issue_id)
                    handed = stand_down(
                        self.factory, claim, status if status is not IssueStatus.SENDING else None
                    )
                    result.handed_back = handed if self.stop_requested else 0
                    return
                if row.delivery_id not in beat.ensure():
                    break
                failure = self._send_one(issue_id, row, templates[row.mask], log, beat, result)
            else:
                if failure:
                    self.outage.answered(issue_id)
        log.flush(durable=True)
        finish_if_done(self.factory, issue_id)

    # -- steering -------------------------------------------------------------------------
    def _status(self, issue_id: int) -> IssueStatus | None:
        with self.factory() as session:
            return session.scalar(select(Issue.status).where(Issue.id == issue_id))

    def _send_one(
        self,
        issue_id: int,
        row: ClaimedRow,
        template: MessageTemplate,
        log: OutcomeLog,
        beat: Heartbeat,
        result: BatchResult,
    ) -> DeliveryError | bool:
        """Send one row and stage its outcome. Returns the failure, staging nothing, when it
        is not this reader's: a temporary one (the server failing everyone,
        :mod:`newsletter.delivery.outage`: the caller waits and tries the same row again) or a
        permanent one every reader would meet (our return path or the message refused: the
        caller pauses the issue). Otherwise whether the server answered without a deferral
        (sent, refused, outcome unknown)."""
        if not row.eligible:
            reason = "no longer subscribed or suppressed"
            log.stage(row.delivery_id, DeliveryState.SKIPPED, reason, utcnow())
            result.skipped += 1
            return False
        recipient = recipient_values(
            self.signer,
            self.settings.base_url,
            issue_id=issue_id,
            subscriber_id=row.subscriber_id,
            email=row.email,
            name=row.name,
            category_mask=row.category_mask,
        )
        # signed once: X-Newsletter-Id, the VERP return path and the unsubscribe mailto
        tag = self.tags.for_delivery(issue_id, row.subscriber_id)
        try:
            message = template.build(
                recipient,
                to_name=row.name,
                message_id=row.message_id,
                date=utcnow(),
                unsubscribe_mailto=self.unsubscribe.at(tag),
                tag=tag,
            )
        except Exception as exc:  # bad data must fail its own row, not the whole batch
            reason = f"cannot build the message: {type(exc).__name__}: {exc}"
            log.stage(row.delivery_id, DeliveryState.FAILED, reason, utcnow())
            result.failed += 1
            result.errors.append(f"{row.email}: {reason}")
            return False
        # The shared rate (NEWSLETTER_SEND_RATE across all workers, NEWSLETTER_DOMAIN_RATE per
        # recipient domain) is taken just before the message goes, never for skipped rows. A
        # wait for it can be long (many workers, one strict domain): the previous outcome is
        # committed first, so no delivered message waits unrecorded while the lease is at risk,
        # and the wait is not counted as a transaction in flight (the heartbeat keeps renewing).
        if not isinstance(self.limiter, NoLimit):
            log.flush()
        self.limiter.acquire(row.email.rpartition("@")[2])

        def ready() -> None:
            log.flush()  # the previous outcome, committed while the server reads the envelope
            beat.hold(row.delivery_id)  # and this row still ours: only then its content goes

        try:
            # The previous message's outcome is committed through ``ready``, while the mail
            # server reads this one's envelope (see newsletter.delivery.outcomes).
            mail_from = self.return_path.at(tag) if self.return_path else self.mail_from
            beat.busy()  # only the transaction itself counts towards "hung"
            try:
                self.transport.send(
                    Envelope(mail_from, row.email, row.message_id), message, ready=ready
                )
            finally:
                beat.idle()
        except RecordError:
            raise  # the database failed, not the transport: stop the batch
        except LeaseLost:
            return False  # another batch has the row now; nothing of it left here
        except TemporaryFailure as exc:
            if self.outage.current is not None or exc.server_wide:
                return exc
            if self.outage.deferred(row.delivery_id):  # readers in a row: the server defers all
                return exc
            retry_or_fail(row, log, exc.reason, result)
            return False
        except PermanentFailure as exc:
            if exc.server_wide:
                return exc
            # What it says of the address (newsletter.subscribers.health): a refusal of the
            # address or by the receiver's policy. A refused *message* (its size, the protocol)
            # says nothing of the address, and would hit every recipient alike.
            if exc.from_receiver and exc.verdict in (Verdict.ADDRESS, Verdict.POLICY):
                log.refused(
                    issue_id, row.delivery_id, row.subscriber_id, exc, self.soft_bounces, utcnow()
                )
            else:
                log.stage(row.delivery_id, DeliveryState.FAILED, exc.reason, utcnow())
            result.failed += 1
            result.errors.append(f"{row.email}: {exc.reason}")
        except UnknownOutcome as exc:
            log.stage(row.delivery_id, DeliveryState.UNKNOWN, exc.reason, utcnow())
            result.unknown += 1
        except DeliveryError as exc:  # a transport's own subclass: treat as temporary
            retry_or_fail(row, log, exc.reason, result)
            return False
        except Exception as exc:  # an unexpected transport error: retried, attempts capped
            retry_or_fail(row, log, f"{type(exc).__name__}: {exc}", result)
            return False
        else:
            log.stage(row.delivery_id, DeliveryState.SENT, None, utcnow())
            result.sent += 1
        return True  # the server answered: deferrals before were about their readers

    def close(self) -> None:
        self.transport.close()
        self.limiter.close()
