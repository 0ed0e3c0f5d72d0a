"""What each firm wants to hear and how: channels, digest mode, muted topics, a daily cap.

Fatigue is the failure mode of push: so a firm (or its admin) chooses its channels,
immediate messages or one daily digest, topics to mute, and a cap on messages a day
per channel (default 3; the rest fold into the next digest). The in-app inbox is not a
channel here: every notification is always in the inbox, muted or not, capped or not.

A channel opened after the news (the firm subscribes the day after a policy was
published) catches up on the last ``CATCH_UP_DAYS`` of news that is still true.

Validation happens in the request models, so a bad URL or e-mail address is refused
(HTTP 422, naming the field) before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from matcher.changes import DEADLINE_APPROACHING, EVENTS, NEWLY_ELIGIBLE, NEWLY_UNDETERMINED
from matcher.policy import BENEFIT_KINDS, MODES
from push import secrets as secret_box
from push.bulk import insert_rows
from push.schedule import next_digest_at
from push.tables import (
    push_channels,
    push_deliveries,
    push_notifications,
    push_subscriptions,
)
from store.schema import policies
from store.store import as_utc

DEFAULT_DAILY_CAP = 3
# A channel opened now catches up on this many days of news that is still true.
CATCH_UP_DAYS = 7
CATCH_UP_EVENTS = (NEWLY_ELIGIBLE, NEWLY_UNDETERMINED, DEADLINE_APPROACHING)
MAX_CHANNELS = 10

# Topics a firm can mute: an event kind, a benefit kind, an application mode, or one
# policy as ``policy:<id>``.
TOPICS: frozenset[str] = frozenset(EVENTS) | frozenset(BENEFIT_KINDS) | frozenset(MODES)
POLICY_TOPIC_PREFIX = "policy:"

# Whole-string matches (``fullmatch``): ``$`` would let a trailing newline through, and a
# newline in an address is a header injection.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable webhook address, or None.

    http and https only (plain http is allowed for receivers on an internal network),
    a host, no user:password part (it would end up in logs), no fragment, no spaces.
    """
    if len(url) > 2048:
        return "is longer than 2048 characters"
    if any(c.isspace() for c in url) or any(ord(c) < 32 for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"is not a valid URL ({e})"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if parts.fragment:
        return "must not contain a #fragment"
    if port == 0:
        return "has port 0"
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
        if re.fullmatch(r"[0-9.]+", host):
            return f"has an invalid IP address {host!r}"
    if not is_ip:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return f"has an invalid host name {host!r}"
        if not all(_LABEL.fullmatch(label) for label in ascii_host.rstrip(".").split(".")):
            return f"has an invalid host name {host!r}"
    return None


def email_problem(address: str) -> str | None:
    """Why ``address`` is not a deliverable-looking e-mail address, or None.

    A strict subset of RFC 5322 (dot-atom local part, a domain of valid labels with a
    dot, IDN allowed): what an SMTP server accepts without quoting.
    """
    if len(address) > 254:
        return "is longer than 254 characters"
    if any(c.isspace() or ord(c) < 32 for c in address):
        return "contains spaces or control characters"
    if address.count("@") != 1:
        return "must contain exactly one @"
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL.fullmatch(local):
        return "has an invalid part before the @"
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return f"has an invalid domain {domain!r}"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"has an invalid domain {domain!r}"
    if labels[-1].isdigit():
        return f"has an invalid domain {domain!r}"
    return None


class WebhookChannelIn(BaseModel):
    """An HTTP endpoint that receives signed JSON (see ``push.channels.webhook``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str = Field(max_length=2048, description="http(s) URL that receives POSTs")
    secret: str = Field(min_length=1, max_length=512,
                        description="shared secret for the HMAC-SHA256 signature")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        problem = url_problem(v)
        if problem:
            raise ValueError(f"webhook url {problem}")
        return v


class EmailChannelIn(BaseModel):
    """An e-mail address (messages in Chinese, with an unsubscribe link)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["email"]
    address: str = Field(max_length=254)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        problem = email_problem(v)
        if problem:
            raise ValueError(f"e-mail address {problem}")
        local, domain = v.split("@")
        return f"{local}@{domain.lower()}"


ChannelIn = Annotated[WebhookChannelIn | EmailChannelIn, Field(discriminator="type")]


class SubscriptionIn(BaseModel):
    """Body of ``PUT /firms/{uscc}/subscription``."""

    model_config = ConfigDict(extra="forbid")
    channels: list[ChannelIn] = Field(default_factory=list, max_length=MAX_CHANNELS)
    digest: Literal["immediate", "daily"] = "immediate"
    daily_cap: int = Field(DEFAULT_DAILY_CAP, ge=1, le=100,
                           description="messages a day per channel; the rest go in a digest")
    muted_topics: list[str] = Field(default_factory=list, max_length=200)

    @field_validator("muted_topics")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        for t in v:
            if t not in TOPICS and not (t.startswith(POLICY_TOPIC_PREFIX)
                                        and len(t) > len(POLICY_TOPIC_PREFIX)):
                known = ", ".join(sorted(TOPICS))
                raise ValueError(f"unknown topic {t!r}; use one of {known} or policy:<id>")
        return sorted(set(v))

    @field_validator("channels")
    @classmethod
    def _distinct(cls, v: list[Any]) -> list[Any]:
        seen = set()
        for c in v:
            key = (c.type, c.url if c.type == "webhook" else c.address)
            if key in seen:
                raise ValueError(f"channel listed twice: {key[0]} {key[1]}")
            seen.add(key)
        return v


class ChannelOut(BaseModel):
    """A channel as the API shows it: never the secret."""

    id: int
    type: str
    url: str | None = None
    address: str | None = None
    active: bool
    unsubscribed_at: dt.datetime | None = None


class SubscriptionOut(BaseModel):
    uscc: str
    channels: list[ChannelOut]
    digest: str
    daily_cap: int
    muted_topics: list[str]
    updated_at: dt.datetime


@dataclass(frozen=True)
class Channel:
    """A channel as the dispatcher needs it."""

    id: int
    uscc: str
    kind: str
    target: str
    secret: str | None  # as stored: encrypted (``push.secrets.decrypt`` to sign)
    unsubscribe_token: str


def _target(c: WebhookChannelIn | EmailChannelIn) -> str:
    return c.url if isinstance(c, WebhookChannelIn) else c.address


def put_subscription(conn: sa.Connection, uscc: str, sub: SubscriptionIn,
                     now: dt.datetime) -> None:
    """Create or replace a firm's subscription inside the caller's transaction.

    Channels are matched by (type, target): a kept channel keeps its id, its pending
    deliveries and its unsubscribe link (a new secret applies to the next send); a
    dropped one is deactivated and its pending deliveries cancelled; an e-mail address
    that was unsubscribed stays off until it is listed again here.
    """
    from push import fanout
    from push.columnar import bucket_of

    # News still in the compact outbox is expanded under the channels as they were, so
    # channels opened here get it through ``catch_up`` (still true, not muted) only.
    fanout.expand_some(conn, now, next_digest_at(now), bucket=int(bucket_of([uscc])[0]),
                       limit=1_000_000)
    values = {"digest": sub.digest, "daily_cap": sub.daily_cap,
              "muted_topics": list(sub.muted_topics), "updated_at": now}
    done = conn.execute(sa.update(push_subscriptions)
                        .where(push_subscriptions.c.uscc == uscc).values(**values)).rowcount
    if not done:
        conn.execute(sa.insert(push_subscriptions).values(uscc=uscc, created_at=now, **values))
    existing = {
        (r.kind, r.target): r
        for r in conn.execute(sa.select(push_channels).where(push_channels.c.uscc == uscc))
    }
    wanted = {(c.type, _target(c)): c for c in sub.channels}
    opened: list[int] = []  # channels that were off or did not exist: they catch up
    for key, c in wanted.items():
        secret = (secret_box.encrypt(secret_box.conn_url(conn), c.secret)
                  if isinstance(c, WebhookChannelIn) else None)  # encrypted at rest
        if key in existing:
            conn.execute(sa.update(push_channels).where(push_channels.c.id == existing[key].id)
                         .values(secret=secret, active=True, unsubscribed_at=None,
                                 updated_at=now))
            if not existing[key].active:
                opened.append(int(existing[key].id))
        else:
            opened.append(int(conn.execute(sa.insert(push_channels).values(
                uscc=uscc, kind=key[0], target=key[1], secret=secret, active=True,
                unsubscribe_token=secrets.token_urlsafe(32), cap_used=0,
                created_at=now, updated_at=now,
            ).returning(push_channels.c.id)).scalar_one()))
    dropped = [r.id for key, r in existing.items() if key not in wanted and r.active]
    if dropped:
        deactivate_channels(conn, dropped, now)
    if opened:
        catch_up(conn, uscc, opened, sub, now)


def catch_up(conn: sa.Connection, uscc: str, channel_ids: list[int], sub: SubscriptionIn,
             now: dt.datetime) -> int:
    """Queue, on newly opened channels, the firm's recent news that is still true.

    A firm that subscribes after a policy was published would otherwise never be pushed
    about it. "Recent" is ``CATCH_UP_DAYS``; "still true" means the notification's
    verdict version is the firm's current one and the verdict still matches. The usual
    fatigue rules apply on the way out: mutes here, the daily cap and digest in the
    dispatcher. Returns the number of deliveries queued.
    """
    from push import snapshots

    n, p = push_notifications, policies
    rows = conn.execute(
        sa.select(n.c.id, n.c.policy_id, n.c.event, n.c.version)
        .where(n.c.uscc == uscc, n.c.event.in_(CATCH_UP_EVENTS),
               n.c.created_at >= now - dt.timedelta(days=CATCH_UP_DAYS))
        .order_by(n.c.id)
    ).all()
    if rows:
        snap = snapshots.current(conn, uscc, sorted({r.policy_id for r in rows}))
        live = {(pid, int(ver)) for pid, ver, st in zip(
            snap["policy_id"], snap["version"], snap["status"], strict=True)
            if st in ("eligible", "undetermined")}
        rows = [r for r in rows if (r.policy_id, int(r.version)) in live]
    if not rows:
        return 0
    docs = dict(conn.execute(sa.select(p.c.id, p.c.document)
                             .where(p.c.id.in_({r.policy_id for r in rows}))).all())
    daily = sub.digest == "daily"
    due = next_digest_at(now) if daily else now
    out: list[tuple[Any, ...]] = []
    for r in rows:
        doc = docs.get(r.policy_id) or {}
        topics = frozenset({str(b.get("kind")) for b in doc.get("benefits") or []}
                           | {str(doc.get("mode", ""))})
        if muted(sub.muted_topics, r.event, r.policy_id, topics):
            continue
        out.extend((r.id, cid, "pending", daily, due, 0, now) for cid in channel_ids)
    insert_rows(conn, push_deliveries, ("notification_id", "channel_id", "state", "digest",
                                        "due_at", "attempts", "created_at"), out,
                conflict=["notification_id", "channel_id"])
    return len(out)


def deactivate_channels(conn: sa.Connection, channel_ids: list[int], now: dt.datetime,
                        unsubscribed: bool = False) -> None:
    """Turn channels off and cancel what they still had to send."""
    values: dict[str, Any] = {"active": False, "updated_at": now}
    if unsubscribed:
        values["unsubscribed_at"] = now
    conn.execute(sa.update(push_channels).where(push_channels.c.id.in_(channel_ids))
                 .values(**values))
    conn.execute(sa.update(push_deliveries)
                 .where(push_deliveries.c.channel_id.in_(channel_ids),
                        push_deliveries.c.state == "pending")
                 .values(state="cancelled", last_error="channel turned off"))


def get_subscription(conn: sa.Connection, uscc: str) -> SubscriptionOut | None:
    sub = conn.execute(sa.select(push_subscriptions)
                       .where(push_subscriptions.c.uscc == uscc)).mappings().first()
    if sub is None:
        return None
    rows = conn.execute(sa.select(push_channels).where(push_channels.c.uscc == uscc)
                        .order_by(push_channels.c.id)).mappings().all()
    channels = [
        ChannelOut(
            id=r["id"], type=r["kind"],
            url=r["target"] if r["kind"] == "webhook" else None,
            address=r["target"] if r["kind"] == "email" else None,
            active=bool(r["active"]), unsubscribed_at=as_utc(r["unsubscribed_at"]),
        )
        for r in rows
    ]
    return SubscriptionOut(
        uscc=uscc, channels=channels, digest=sub["digest"], daily_cap=sub["daily_cap"],
        muted_topics=list(sub["muted_topics"]), updated_at=as_utc(sub["updated_at"]),
    )


def delete_subscription(conn: sa.Connection, uscc: str, now: dt.datetime) -> bool:
    """Unsubscribe a firm from every channel (its inbox stays). False if it had none."""
    ids = [r.id for r in conn.execute(sa.select(push_channels.c.id).where(
        push_channels.c.uscc == uscc, push_channels.c.active.is_(True)))]
    exists = conn.execute(sa.select(push_subscriptions.c.uscc)
                          .where(push_subscriptions.c.uscc == uscc)).first() is not None
    if ids:
        deactivate_channels(conn, ids, now, unsubscribed=True)
    return exists


def unsubscribe_token(conn: sa.Connection, token: str, now: dt.datetime) -> Channel | None:
    """Turn off the channel an unsubscribe link names (idempotent); None if unknown."""
    row = conn.execute(sa.select(push_channels)
                       .where(push_channels.c.unsubscribe_token == token)).mappings().first()
    if row is None:
        return None
    if row["active"]:
        deactivate_channels(conn, [row["id"]], now, unsubscribed=True)
    return channel_from_row(row)


def channel_from_row(row: Any) -> Channel:
    return Channel(id=int(row["id"]), uscc=row["uscc"], kind=row["kind"], target=row["target"],
                   secret=row["secret"], unsubscribe_token=row["unsubscribe_token"])


def muted(muted_topics: list[str] | tuple[str, ...], event: str, policy_id: str,
          policy_topics: frozenset[str]) -> bool:
    """Whether a firm muted this notification (by event, policy, benefit kind or mode)."""
    if not muted_topics:
        return False
    topics = {event, f"{POLICY_TOPIC_PREFIX}{policy_id}"} | policy_topics
    return not topics.isdisjoint(muted_topics)


