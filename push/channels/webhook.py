"""Webhook channel: HTTP POST of JSON, signed with HMAC-SHA256 over timestamp and body.

The receiver checks ``X-PolicyMatch-Signature: t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA256 of ``"<t>.<raw body>"`` with the shared secret: the timestamp inside
the MAC stops replays of an old request, the raw body (not a re-serialised one) means
the receiver verifies exactly the bytes it got. ``X-PolicyMatch-Id`` is the idempotency
key: after a dispatcher crash the same notification may arrive again, under the same
id, and a receiver that remembers ids handles it once.

Redirects are not followed (a signed body must not be replayed to another host), and
every request has a timeout; anything but a 2xx answer is a failure to retry.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-PolicyMatch-Signature"
ID_HEADER = "X-PolicyMatch-Id"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "policy-match-push/1"


@dataclass(frozen=True)
class SendResult:
    """Outcome of one delivery attempt; ``error`` says what went wrong, for the dead letter."""

    ok: bool
    error: str | None = None
    status: int | None = None


def encode_body(payload: dict[str, Any]) -> bytes:
    """The raw body: compact UTF-8 JSON with Chinese unescaped, keys in a fixed order."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """Receiver side: a valid signature made within ``tolerance`` seconds of ``now``."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = sign(secret, t, body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def post(url: str, body: bytes, message_id: str, secret: str, timestamp: int,
         timeout: float = DEFAULT_TIMEOUT) -> SendResult:
    """POST ``body`` to ``url`` with signature and idempotency headers; never raises."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn_cls: type[http.client.HTTPConnection] = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        ID_HEADER: message_id,
    }
    conn = conn_cls(host, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read(512).decode("utf-8", "replace")
        if 200 <= resp.status < 300:
            return SendResult(True, status=resp.status)
        kind = "redirect not followed" if 300 <= resp.status < 400 else "HTTP error"
        return SendResult(False, f"{kind} {resp.status} {resp.reason}: {text[:200]}",
                          resp.status)
    except TimeoutError:
        return SendResult(False, f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException) as e:
        return SendResult(False, f"{type(e).__name__}: {e}")
    finally:
        conn.close()
