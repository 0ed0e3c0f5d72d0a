"""The dispatcher: claim due deliveries, send them, mark them, retry with backoff, dead-letter.

**Expanding.** Each round first turns pending fan-out rows (``push.fanout``) into
notifications and deliveries, one short idempotent transaction per batch.

**Claiming.** The unit a dispatcher claims is a *channel* (one webhook URL or e-mail
address of one firm), with a lease: ``claim_token`` and ``claimed_until`` on the channel
row, set in one short write transaction. On PostgreSQL the candidate channels are
selected ``FOR UPDATE SKIP LOCKED``, so concurrent dispatchers pick disjoint channels
without waiting; on SQLite the claim transaction is ``BEGIN IMMEDIATE``, which
serialises claims (the second dispatcher re-reads the lease after the first commits),
and the ``UPDATE`` re-checks that the lease is free. Owning the whole channel is what
makes the daily cap and the digest exact: no other process sends to it meanwhile.

**Sending.** Each delivery is marked in its own small transaction right after the
receiver answered, and the lease is renewed in it; a dispatcher that finds its lease
taken stops. The lease must outlast a send (it is checked against the timeouts). If a
dispatcher dies between a receiver's 2xx and the mark, the lease expires and another
dispatcher sends the same message again with the same ``X-PolicyMatch-Id``: delivery is
at least once, and exactly once for a receiver that remembers ids (the interface's
idempotency key).

**Failures.** Any non-2xx, refused connection or timeout counts one attempt; the next
is due after ``backoff_base × 2^(attempts−1)`` seconds (capped), and after
``max_attempts`` the delivery is ``dead`` with the last error kept. After ``breaker``
consecutive failures on a channel, the rest of its batch waits for the same backoff
without spending attempts (a receiver that is down should not cost a timeout per
message).

**Fatigue.** An immediate delivery beyond the channel's ``daily_cap`` for the China
calendar day folds into the next digest; daily-digest subscribers get all of theirs
there. A digest is one message with every due item; it is never held back by the cap.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from push import fanout, messages
from push import secrets as secret_box
from push.channels import email as email_channel
from push.channels import webhook
from push.channels.webhook import SendResult
from push.schedule import DEFAULT_DIGEST_HOUR, local_day, next_digest_at
from push.tables import push_channels, push_deliveries, push_notifications, push_subscriptions


@dataclass(frozen=True)
class DispatchSettings:
    """Knobs of the dispatcher; defaults suit a production loop, tests shrink the times."""

    batch: int = 100
    channels_per_claim: int = 8
    lease_seconds: float = 120.0
    max_attempts: int = 6
    backoff_base: float = 30.0
    backoff_max: float = 6 * 3600.0
    webhook_timeout: float = webhook.DEFAULT_TIMEOUT
    digest_hour: int = DEFAULT_DIGEST_HOUR
    breaker: int = 2
    smtp: email_channel.SmtpSettings = field(default_factory=email_channel.SmtpSettings)

    def validate(self) -> None:
        slowest = max(self.webhook_timeout, self.smtp.timeout)
        if self.lease_seconds <= 2 * slowest:
            raise ValueError(
                f"lease ({self.lease_seconds:g} s) must be more than twice the longest send "
                f"timeout ({slowest:g} s), or a slow send could outlive its lease"
            )
        if self.max_attempts < 1 or self.batch < 1 or self.channels_per_claim < 1:
            raise ValueError("max_attempts, batch and channels_per_claim must be at least 1")
        if self.backoff_base < 0 or self.breaker < 1:
            raise ValueError("backoff_base must be ≥ 0 and breaker ≥ 1")


@dataclass
class DispatchReport:
    """Counts of one ``run_once`` (messages, not deliveries, for ``digests``)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    folded: int = 0
    digests: int = 0
    cancelled: int = 0
    channels: int = 0
    expanded: int = 0  # notifications made from the fan-out outbox

    def add(self, other: DispatchReport) -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def progress(self) -> int:
        return self.sent + self.failed + self.dead + self.folded + self.cancelled




class Dispatcher:
    """Delivers what is due from one store. ``clock`` gives UTC "now" (tests fix it)."""

    def __init__(self, store: Any, settings: DispatchSettings | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 worker: str | None = None) -> None:
        self.store = store
        self.settings = settings or DispatchSettings()
        self.settings.validate()
        self.clock = clock or store.clock
        self.worker = worker or uuid.uuid4().hex[:12]

    # -- claiming -------------------------------------------------------------------
    def claim(self) -> list[tuple[int, str]]:
        """Lease up to ``channels_per_claim`` channels that have due deliveries."""
        c, d = push_channels, push_deliveries
        now = self.clock()
        token = uuid.uuid4().hex
        until = now + dt.timedelta(seconds=self.settings.lease_seconds)
        free = sa.or_(c.c.claimed_until.is_(None), c.c.claimed_until < now)
        due = sa.exists().where(d.c.channel_id == c.c.id, d.c.state == "pending",
                                d.c.due_at <= now)
        with self.store.transaction() as conn:
            ids = [int(r) for r in conn.execute(
                sa.select(c.c.id).where(c.c.active.is_(True), free, due).order_by(c.c.id)
                .limit(self.settings.channels_per_claim).with_for_update(skip_locked=True)
            ).scalars()]
            if not ids:
                return []
            conn.execute(sa.update(c).where(c.c.id.in_(ids), free)
                         .values(claim_token=token, claimed_until=until))
            mine = [int(r) for r in conn.execute(
                sa.select(c.c.id).where(c.c.id.in_(ids), c.c.claim_token == token)).scalars()]
        return [(cid, token) for cid in mine]

    def _release(self, channel_id: int, token: str) -> None:
        c = push_channels
        with self.store.transaction() as conn:
            conn.execute(sa.update(c).where(c.c.id == channel_id, c.c.claim_token == token)
                         .values(claim_token=None, claimed_until=None))

    # -- one channel ------------------------------------------------------------------
    def _load(self, conn: sa.Connection, channel_id: int,
              now: dt.datetime) -> tuple[Any, Any, list[Any]]:
        c, s, d, n = push_channels, push_subscriptions, push_deliveries, push_notifications
        channel = conn.execute(sa.select(c).where(c.c.id == channel_id)).mappings().first()
        assert channel is not None  # claimed by this dispatcher: the row exists
        sub = conn.execute(sa.select(s).where(s.c.uscc == channel["uscc"])).mappings().first()
        rows = conn.execute(
            sa.select(d.c.id.label("delivery_id"), d.c.attempts, d.c.digest, n)
            .join(n, n.c.id == d.c.notification_id)
            .where(d.c.channel_id == channel_id, d.c.state == "pending", d.c.due_at <= now)
            .order_by(d.c.id).limit(self.settings.batch)
        ).mappings().all()
        return channel, sub, list(rows)

    def process(self, channel_id: int, token: str) -> DispatchReport:
        """Send what is due on one leased channel; release the lease at the end."""
        report = DispatchReport(channels=1)
        try:
            self._process(channel_id, token, report)
        finally:
            self._release(channel_id, token)
        return report

    def _process(self, channel_id: int, token: str, report: DispatchReport) -> None:
        now = self.clock()
        with self.store.transaction(write=False) as conn:
            channel, sub, rows = self._load(conn, channel_id, now)
        if channel is None or channel["claim_token"] != token:
            return
        if not channel["active"] or sub is None:
            with self.store.transaction() as conn:
                report.cancelled += conn.execute(
                    sa.update(push_deliveries).where(push_deliveries.c.channel_id == channel_id,
                                                     push_deliveries.c.state == "pending")
                    .values(state="cancelled", last_error="channel turned off")).rowcount
            return
        day = local_day(now)
        used = int(channel["cap_used"]) if channel["cap_day"] == day else 0
        cap = int(sub["daily_cap"])
        fold: list[int] = []
        streak = 0
        immediate = [r for r in rows if not r["digest"]]
        digests = [r for r in rows if r["digest"]]
        for k, row in enumerate(immediate):
            if used >= cap:
                fold.append(row["delivery_id"])
                continue
            facts = messages.Facts.from_row(row)
            result = self._send_one(channel, facts)
            if result.ok:
                used += 1
            keep, retry_at = self._record(channel_id, token, [row], result, str(facts.id),
                                          day, used, report)
            streak = 0 if result.ok else streak + 1
            if not keep:
                return
            if streak >= self.settings.breaker and retry_at is not None:
                # The receiver looks down: everything else waits for the same backoff.
                rest = [r["delivery_id"] for r in immediate[k + 1:] + digests]
                self._defer(rest, retry_at)
                return
        if fold:
            at = next_digest_at(self.clock(), self.settings.digest_hour)
            with self.store.transaction() as conn:
                conn.execute(sa.update(push_deliveries)
                             .where(push_deliveries.c.id.in_(fold),
                                    push_deliveries.c.state == "pending")
                             .values(digest=True, due_at=at))
            report.folded += len(fold)
        if digests:
            items = [messages.Facts.from_row(r) for r in digests]
            digest_id = f"digest-{channel_id}-{digests[0]['delivery_id']}"
            result = self._send_digest(channel, digest_id, items)
            if result.ok:
                report.digests += 1
            self._record(channel_id, token, digests, result, digest_id, day,
                         used + (1 if result.ok else 0), report)

    def _defer(self, delivery_ids: Sequence[int], at: dt.datetime) -> None:
        if not delivery_ids:
            return
        with self.store.transaction() as conn:
            conn.execute(sa.update(push_deliveries)
                         .where(push_deliveries.c.id.in_(list(delivery_ids)),
                                push_deliveries.c.state == "pending")
                         .values(due_at=at))

    def _record(self, channel_id: int, token: str, rows: Sequence[Any], result: SendResult,
                message_id: str, day: dt.date, used: int,
                report: DispatchReport) -> tuple[bool, dt.datetime | None]:
        """Mark one send's deliveries and renew the lease; (lease still ours, next retry)."""
        d, c = push_deliveries, push_channels
        now = self.clock()
        retry_at: dt.datetime | None = None
        with self.store.transaction() as conn:
            for row in rows:
                attempts = int(row["attempts"]) + 1
                where = sa.and_(d.c.id == row["delivery_id"], d.c.state == "pending")
                if result.ok:
                    conn.execute(sa.update(d).where(where).values(
                        state="sent", sent_at=now, attempts=attempts, message_id=message_id,
                        last_error=None))
                    report.sent += 1
                elif attempts >= self.settings.max_attempts:
                    conn.execute(sa.update(d).where(where).values(
                        state="dead", attempts=attempts, last_error=result.error,
                        message_id=message_id))
                    report.dead += 1
                else:
                    delay = min(self.settings.backoff_base * 2 ** (attempts - 1),
                                self.settings.backoff_max)
                    retry_at = now + dt.timedelta(seconds=delay)
                    conn.execute(sa.update(d).where(where).values(
                        attempts=attempts, due_at=retry_at, last_error=result.error,
                        message_id=message_id))
                    report.failed += 1
            ours = conn.execute(sa.update(c).where(c.c.id == channel_id, c.c.claim_token == token)
                                .values(cap_day=day, cap_used=used,
                                        claimed_until=now + dt.timedelta(
                                            seconds=self.settings.lease_seconds))).rowcount
        return bool(ours), retry_at

    # -- channels ---------------------------------------------------------------------
    def _secret(self, channel: Any) -> str | SendResult:
        """The channel's webhook secret, decrypted; a failed send if the key is wrong
        (retried, then dead-lettered with the reason — never sent unsigned)."""
        try:
            return secret_box.decrypt(self.store.engine.url, channel["secret"]) or ""
        except secret_box.SecretKeyError as e:
            return SendResult(ok=False, error=str(e))

    def _send_one(self, channel: Any, facts: messages.Facts) -> SendResult:
        if channel["kind"] == "webhook":
            body = webhook.encode_body(messages.payload(facts))
            secret = self._secret(channel)
            if isinstance(secret, SendResult):
                return secret
            return webhook.post(channel["target"], body, str(facts.id), secret,
                                int(self.clock().timestamp()), self.settings.webhook_timeout)
        smtp = self.settings.smtp
        link = smtp.unsubscribe_url(channel["unsubscribe_token"])
        msg = email_channel.build_message(smtp, channel["target"], messages.subject(facts),
                                          messages.body(facts, link), str(facts.id), link)
        return email_channel.send(smtp, msg)

    def _send_digest(self, channel: Any, digest_id: str,
                     items: Sequence[messages.Facts]) -> SendResult:
        if channel["kind"] == "webhook":
            body = webhook.encode_body(messages.digest_payload(digest_id, channel["uscc"], items))
            secret = self._secret(channel)
            if isinstance(secret, SendResult):
                return secret
            return webhook.post(channel["target"], body, digest_id, secret,
                                int(self.clock().timestamp()), self.settings.webhook_timeout)
        smtp = self.settings.smtp
        link = smtp.unsubscribe_url(channel["unsubscribe_token"])
        msg = email_channel.build_message(smtp, channel["target"], messages.digest_subject(items),
                                          messages.digest_body(items, link), digest_id, link)
        return email_channel.send(smtp, msg)

    # -- loops ------------------------------------------------------------------------
    def expand(self) -> int:
        """Turn pending fan-out rows into notifications and deliveries (``push.fanout``)."""
        hour = self.settings.digest_hour
        got = fanout.expand(self.store.transaction, self.clock,
                            lambda now: next_digest_at(now, hour))
        return got[1]

    def run_once(self) -> DispatchReport:
        """Expand pending news, deliver everything due now, then return (failures wait
        for their backoff)."""
        total = DispatchReport()
        total.expanded = self.expand()
        while True:
            claimed = self.claim()
            if not claimed:
                break
            round_report = DispatchReport()
            for channel_id, token in claimed:
                round_report.add(self.process(channel_id, token))
            total.add(round_report)
            if round_report.progress == 0:
                break  # nothing moved (e.g. every lease was lost): do not spin
        return total

    def run_loop(self, interval: float, stop: threading.Event | None = None,
                 before_round: Callable[[], object] | None = None,
                 on_round: Callable[[DispatchReport], object] | None = None) -> DispatchReport:
        """``run_once`` every ``interval`` seconds until ``stop`` is set."""
        stop = stop or threading.Event()
        total = DispatchReport()
        while not stop.is_set():
            started = time.monotonic()
            if before_round is not None:
                before_round()
            report = self.run_once()
            total.add(report)
            if on_round is not None:
                on_round(report)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        return total
