"""Real peers for the push tests: an HTTP receiver and an SMTP server on 127.0.0.1.

Nothing here mocks a transport: the dispatcher talks HTTP to a ``ThreadingHTTPServer``
and SMTP to an ``aiosmtpd`` server, both on loopback ports picked by the OS.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from matcher.policy import Policy
from profiles.read import normalize_profile
from profiles.uscc import make_uscc
from store.store import Store

AS_OF = dt.date(2026, 6, 30)
NOON = dt.datetime(2026, 6, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in China


class Clock:
    """A settable UTC clock for the store and the dispatcher."""

    def __init__(self, now: dt.datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """A webhook receiver: records every request, answers ``status`` after ``delay``."""

    status: int = 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.headers["X-PolicyMatch-Id"] for r in self.requests)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Received(dict(self.headers.items()), body, self.path))
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


def start_receiver(receiver: Receiver, port: int = 0) -> Receiver:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def stop_receiver(receiver: Receiver) -> None:
    if receiver.server is not None:
        receiver.server.shutdown()
        receiver.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailBox:
    """aiosmtpd handler that keeps every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                policy=email_policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@dataclass
class SmtpServer:
    box: MailBox
    controller: Controller
    port: int


def start_smtp() -> SmtpServer:
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    return SmtpServer(box, controller, port)


def firm(i: int, region: str = "430111", **fields: Any) -> dict[str, Any]:
    """A valid contract profile; ``fields`` override (None removes a field)."""
    raw: dict[str, Any] = {
        "uscc": make_uscc(region, f"{i:08d}"), "name": f"推送测试企业{i}号",
        "region_code": region, "industry_code": "C3491", "employees": 50,
        "revenue": 30_000_000.0, "total_assets": 20_000_000.0, "established_on": "2015-03-01",
        "rd_expense": 1_500_000.0, "qualifications": [{"name": "高新技术企业"}],
    }
    raw.update(fields)
    return normalize_profile({k: v for k, v in raw.items() if v is not None}, f"t:{i}")


def policy(pid: str = "p-rd", **over: Any) -> Policy:
    """A policy like the real ones: region, revenue floor, a qualification; 50万 grant."""
    doc: dict[str, Any] = {
        "id": pid, "title": "长沙市研发奖补政策", "issuer": "长沙市科技局",
        "valid_from": "2026-01-01", "valid_until": "2026-12-31", "mode": "apply",
        "conditions": {"all": [
            {"field": "region_code", "op": "in", "value": ["4301"], "source": "注册在长沙市"},
            {"field": "revenue", "op": ">=", "value": 20_000_000,
             "source": "上年度营业收入2000万元以上"},
            {"field": "qualifications", "op": "has", "value": "高新技术企业",
             "source": "有效期内的高新技术企业"},
        ]},
        "benefits": [{"kind": "grant", "amount": 500_000, "source": "给予一次性奖励50万元"}],
    }
    doc.update(over)
    return Policy.from_json(doc)


def import_firms(store: Any, records: list[dict[str, Any]]) -> None:
    store.import_firms(((str(r["uscc"]), r) for r in records), source="test", actor="test")


def at_once(url: str, clock: Any, work: Any, n: int = 2) -> list[Any]:
    """``work(store)`` in ``n`` threads, each on its own ``Store`` of ``url``, started
    together: what concurrent dispatchers or detectors do. Returns the results; any
    exception in a thread fails the caller's test."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        s = Store(url, clock=clock)
        try:
            results.append(work(s))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
        finally:
            s.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def counts_by(rows: Iterator[Any] | list[Any], key: str) -> Counter[str]:
    return Counter(r[key] for r in rows)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    """A store on each backend (``store_url`` from ``tests._store_support``) with ``clock``."""
    s = Store(store_url, clock=clock)
    try:
        yield s
    finally:
        s.close()


def migration_module(name: str) -> Any:
    """A migration file of ``store/migrations/versions`` loaded as a module (to test the
    code it froze against the live code)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "store" / "migrations" / "versions" / name
    spec = importlib.util.spec_from_file_location(f"_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
