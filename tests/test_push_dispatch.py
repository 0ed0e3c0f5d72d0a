# ruff: noqa: F811  (pytest fixtures imported from the support modules)
"""The dispatcher against real receivers: an HTTP server and an SMTP server on 127.0.0.1.

Fault tests run real processes: two dispatchers at once, and one killed mid-batch.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from push.channels.email import SmtpSettings
from push.channels.webhook import verify
from push.detect import detect_pending
from push.dispatch import Dispatcher, DispatchSettings
from push.fanout import expand_store
from push.schedule import CHINA
from push.subscriptions import SubscriptionIn, put_subscription
from push.tables import push_deliveries, push_notifications
from store.store import Store, as_utc
from tests._push_support import (  # noqa: F401 - clock, store are fixtures
    AS_OF,
    NOON,
    Clock,
    Receiver,
    clock,
    firm,
    import_firms,
    policy,
    start_receiver,
    start_smtp,
    stop_receiver,
    store,
)
from tests._store_support import postgres_url, store_url  # noqa: F401 - fixtures

SECRET = "测试-secret-0123456789"
FAST = DispatchSettings(lease_seconds=5.0, webhook_timeout=1.0, backoff_base=60.0,
                        max_attempts=3, smtp=SmtpSettings(timeout=1.0))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver(Receiver())
    try:
        yield r
    finally:
        stop_receiver(r)


def subscribe(store: Store, uscc: str, body: dict[str, Any]) -> None:
    with store.transaction() as conn:
        put_subscription(conn, uscc, SubscriptionIn.model_validate(body), store.clock())


def deliveries(store: Store) -> list[Any]:
    expand_store(store)
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(push_deliveries).order_by(push_deliveries.c.id))
                     .mappings())


def notification_ids(store: Store) -> set[str]:
    expand_store(store)
    with store.engine.connect() as conn:
        return {str(i) for i in conn.execute(sa.select(push_notifications.c.id)).scalars()}


def publish(store: Store, n: int = 1) -> None:
    for k in range(n):
        store.put_policy(policy(f"p{k}", title=f"第{k}号研发奖补政策"), actor="t", publish=True)
    detect_pending(store, AS_OF)


def test_webhook_is_signed_json_with_an_idempotency_key(store: Store, receiver: Receiver,
                                                        clock: Clock) -> None:
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                               "secret": SECRET}]})
    publish(store)
    report = Dispatcher(store, FAST).run_once()
    assert report.sent == 1 and receiver.count() == 1
    req = receiver.requests[0]
    header = req.headers["X-PolicyMatch-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(SECRET, header, req.body, int(clock().timestamp()))
    assert not verify("wrong", header, req.body, int(clock().timestamp()))
    assert not verify(SECRET, header, req.body + b" ", int(clock().timestamp()))
    assert req.headers["X-PolicyMatch-Id"] in notification_ids(store)
    assert "application/json" in req.headers["Content-Type"]
    body = req.json
    assert {k: body[k] for k in ("uscc", "policy_id", "event", "status", "amount")} == {
        "uscc": a["uscc"], "policy_id": "p0", "event": "newly_eligible", "status": "eligible",
        "amount": 500000.0}
    assert "《第0号研发奖补政策》" in body["why"] and "50万元" in body["why"]
    assert "上年度营业收入2000万元以上" in body["why"]
    assert "研发奖补".encode() in req.body  # Chinese unescaped in the raw body
    assert Dispatcher(store, FAST).run_once().sent == 0 and receiver.count() == 1
    assert [d["state"] for d in deliveries(store)] == ["sent"]


def test_email_is_chinese_utf8_with_an_unsubscribe_link(store: Store) -> None:
    smtp = start_smtp()
    try:
        a, b = firm(1), firm(2, revenue=None)
        import_firms(store, [a, b])
        for f, addr in ((a, "caiwu@企业.cn"), (b, "b@example.cn")):
            subscribe(store, f["uscc"], {"channels": [{"type": "email", "address": addr}]})
        settings = DispatchSettings(lease_seconds=5.0, webhook_timeout=1.0, smtp=SmtpSettings(
            host="127.0.0.1", port=smtp.port, sender="push@policy-match.cn", timeout=2.0,
            public_url="https://pm.example.cn"))
        publish(store)
        assert Dispatcher(store, settings).run_once().sent == 2
        assert len(smtp.box.messages) == 2
        by_to = {str(m["To"]): m for m in smtp.box.messages}
        mail = by_to["caiwu@企业.cn"]
        assert mail["Subject"] == "【政策找企业】您可申报：第0号研发奖补政策"
        raw_subject = mail.get("Subject")
        assert raw_subject is not None
        part = mail.get_body(("plain",))
        assert part is not None and part.get_content_charset() == "utf-8"
        text = part.get_content()
        assert "贵企业符合《第0号研发奖补政策》的申报条件" in text
        link = re.search(r"退订邮件提醒：(\S+)", text)
        assert link and link.group(1).startswith("https://pm.example.cn/unsubscribe/")
        assert mail["List-Unsubscribe"] == f"<{link.group(1)}>"
        assert mail["X-PolicyMatch-Id"] in notification_ids(store)
        asked = by_to["b@example.cn"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "请补充以下信息以确认是否符合条件：上年度营业收入" in asked
    finally:
        smtp.controller.stop()


def test_receiver_down_retries_with_backoff_then_dead_letter(store: Store, clock: Clock) -> None:
    down = start_receiver(Receiver())
    url = down.url
    stop_receiver(down)  # nothing listens on that port any more
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": url, "secret": "s"}],
                                 "daily_cap": 10})
    publish(store, n=3)
    dispatcher = Dispatcher(store, FAST)
    first = dispatcher.run_once()
    # Two failures open the breaker: the third waits without spending an attempt.
    assert (first.failed, first.sent, first.dead) == (2, 0, 0)
    assert sorted(d["attempts"] for d in deliveries(store)) == [0, 1, 1]
    assert dispatcher.run_once().progress == 0  # nothing is due before the backoff
    first_due = as_utc(deliveries(store)[0]["due_at"])
    assert first_due == clock() + dt.timedelta(seconds=60)
    clock.now = first_due
    dispatcher.run_once()
    assert as_utc(deliveries(store)[0]["due_at"]) == first_due + dt.timedelta(seconds=120)
    for _ in range(10):  # the deferred one gets its own three attempts too
        pending = [as_utc(d["due_at"]) for d in deliveries(store) if d["state"] == "pending"]
        if not pending:
            break
        clock.now = min(pending)
        dispatcher.run_once()
    rows = deliveries(store)
    assert [d["state"] for d in rows] == ["dead"] * 3
    assert all(d["attempts"] == 3 for d in rows)
    assert all("Connection" in d["last_error"] or "refused" in d["last_error"] for d in rows)
    # Nothing is lost: every notification is still in the inbox table.
    assert len(notification_ids(store)) == 3


def test_a_receiver_that_recovers_gets_everything(store: Store, clock: Clock) -> None:
    flaky = start_receiver(Receiver(status=503))
    try:
        a = firm(1)
        import_firms(store, [a])
        subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": flaky.url,
                                                   "secret": "s"}]})
        publish(store)
        dispatcher = Dispatcher(store, FAST)
        assert dispatcher.run_once().failed == 1
        assert "503" in deliveries(store)[0]["last_error"]
        flaky.status = 200
        clock.advance(seconds=61)
        assert dispatcher.run_once().sent == 1
        ids = flaky.ids()
        assert len(ids) == 1 and list(ids.values()) == [2]  # same key on the retry
    finally:
        stop_receiver(flaky)


def test_daily_cap_folds_the_rest_into_the_next_digest(store: Store, receiver: Receiver,
                                                       clock: Clock) -> None:
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                               "secret": SECRET}], "daily_cap": 2})
    publish(store, n=5)
    dispatcher = Dispatcher(store, FAST)
    r = dispatcher.run_once()
    assert (r.sent, r.folded, receiver.count()) == (2, 3, 2)
    clock.now = dt.datetime(2026, 7, 1, 8, 59, tzinfo=CHINA).astimezone(dt.UTC)
    assert dispatcher.run_once().progress == 0
    clock.now = dt.datetime(2026, 7, 1, 9, 0, tzinfo=CHINA).astimezone(dt.UTC)
    r = dispatcher.run_once()
    assert (r.sent, r.digests, receiver.count()) == (3, 1, 3)
    digest = receiver.requests[-1]
    assert digest.headers["X-PolicyMatch-Id"].startswith("digest-")
    body = digest.json
    assert body["event"] == "digest" and len(body["items"]) == 3
    assert {i["policy_id"] for i in body["items"]} == {"p2", "p3", "p4"}
    assert verify(SECRET, digest.headers["X-PolicyMatch-Signature"], digest.body,
                  int(clock().timestamp()))
    assert all(d["state"] == "sent" for d in deliveries(store))


def test_daily_digest_mode_sends_once_a_day(store: Store, receiver: Receiver,
                                            clock: Clock) -> None:
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                               "secret": "s"}], "digest": "daily"})
    publish(store, n=4)
    dispatcher = Dispatcher(store, FAST)
    assert dispatcher.run_once().progress == 0 and receiver.count() == 0
    clock.now = dt.datetime(2026, 7, 1, 9, 0, 1, tzinfo=CHINA).astimezone(dt.UTC)
    r = dispatcher.run_once()
    assert (r.digests, r.sent, receiver.count()) == (1, 4, 1)


def test_unsubscribed_channel_sends_nothing(store: Store, receiver: Receiver) -> None:
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                               "secret": "s"}]})
    publish(store)
    expand_store(store)  # the news is expanded into a pending delivery …
    subscribe(store, a["uscc"], {"channels": []})  # … and the channel dropped before sending
    assert Dispatcher(store, FAST).run_once().sent == 0
    assert receiver.count() == 0
    assert [d["state"] for d in deliveries(store)] == ["cancelled"]


# --- real processes ---------------------------------------------------------------------

def _cli(url: str, cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "POLICY_MATCH_DATABASE_URL": url, "POLICY_MATCH_SMTP_TIMEOUT": "0.5"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dispatch", "--no-detect", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _fleet(store: Store, receiver: Receiver, n_firms: int, n_policies: int) -> set[str]:
    firms = [firm(i) for i in range(1, n_firms + 1)]
    import_firms(store, firms)
    for f in firms:
        subscribe(store, f["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                                   "secret": SECRET}], "daily_cap": 100})
    publish(store, n=n_policies)
    return notification_ids(store)


def test_two_dispatcher_processes_never_send_twice(store_url: str, store: Store,  # noqa: F811
                                                   receiver: Receiver, tmp_path: Path) -> None:
    expected = _fleet(store, receiver, n_firms=30, n_policies=3)
    assert len(expected) == 90
    receiver.delay = 0.01  # keep both processes busy at the same time
    procs = [_cli(store_url, tmp_path, "--once", "--lease", "10", "--timeout", "2",
                  "--batch", "5") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ids = receiver.ids()
    assert set(ids) == expected
    assert max(ids.values()) == 1  # no notification sent twice, by anyone
    sent = [re.search(r"sent (\d+)", err).group(1) for _, err in outs]  # type: ignore[union-attr]
    assert sum(map(int, sent)) == 90 and all(int(s) > 0 for s in sent), outs


def test_killed_dispatcher_delivers_everything_exactly_once_on_restart(
        store_url: str, store: Store, receiver: Receiver, tmp_path: Path) -> None:  # noqa: F811
    expected = _fleet(store, receiver, n_firms=6, n_policies=5)
    receiver.delay = 0.05
    proc = _cli(store_url, tmp_path, "--loop", "--interval", "0.2", "--lease", "3",
                "--timeout", "1", "--batch", "50")
    deadline = time.monotonic() + 60
    while receiver.count() < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-batch: no cleanup, leases left behind
    proc.communicate(timeout=30)
    before = receiver.ids()
    assert 8 <= sum(before.values()) < len(expected)
    # In flight at the kill: requests the receiver got whose delivery was never marked
    # sent (the POST was out, its answer not yet recorded). The dispatcher sends one
    # request at a time and commits "sent" right after each answer, so this is ≤ 1.
    with store.engine.connect() as conn:
        marked = {str(r.notification_id): r.state for r in conn.execute(
            sa.select(push_deliveries.c.notification_id, push_deliveries.c.state))}
    in_flight = {i for i in before if marked[i] != "sent"}
    assert len(in_flight) <= 1
    assert all(marked[i] == "sent" for i in set(before) - in_flight)
    time.sleep(3.2)  # the dead process's leases expire
    restart = _cli(store_url, tmp_path, "--once", "--lease", "3", "--timeout", "1")
    out, err = restart.communicate(timeout=120)
    assert restart.returncode == 0, err
    ids = receiver.ids()
    # Receiver-side count by X-PolicyMatch-Id: every notification arrived, and the number
    # of distinct ids is exactly the number of notifications that were due.
    assert set(ids) == expected and len(ids) == len(expected)
    # Raw duplicates are only ids that were in flight at the kill (same idempotency key,
    # so a receiver that remembers ids counts each once).
    duplicated = {i for i, n in ids.items() if n > 1}
    assert duplicated <= in_flight
    assert sum(ids.values()) - len(expected) == len(duplicated) <= 1
    assert all(d["state"] == "sent" for d in deliveries(store))


def test_subscribing_after_the_news_still_delivers_what_is_true(store: Store,
                                                                receiver: Receiver) -> None:
    a, b = firm(1), firm(2)
    import_firms(store, [a, b])
    publish(store, n=2)  # nobody is subscribed yet: inbox only
    store.put_firm(firm(2, revenue=1_000_000.0), actor="t")  # b no longer matches
    detect_pending(store, AS_OF)
    for f in (a, b):
        subscribe(store, f["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                                   "secret": "s"}],
                                     "muted_topics": ["policy:p1"]})
    assert Dispatcher(store, FAST).run_once().sent == 1
    (req,) = receiver.requests
    # a's news about p0 (p1 is muted); b's old match is superseded, so not pushed.
    assert (req.json["uscc"], req.json["policy_id"]) == (a["uscc"], "p0")
    # Listing the same channel again is not a new channel: nothing is queued twice.
    subscribe(store, a["uscc"], {"channels": [{"type": "webhook", "url": receiver.url,
                                               "secret": "s2"}]})
    assert Dispatcher(store, FAST).run_once().sent == 0
