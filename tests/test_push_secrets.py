# ruff: noqa: F811  (pytest fixtures imported from the support modules)
"""Webhook secrets at rest: encrypted in the database, recoverable to sign, migrated."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from push import secrets
from push.channels.email import SmtpSettings
from push.channels.webhook import verify
from push.detect import detect_pending
from push.dispatch import Dispatcher, DispatchSettings
from push.subscriptions import SubscriptionIn, put_subscription
from push.tables import push_channels, push_deliveries
from store.migrate import alembic_config
from store.store import Store
from tests._push_support import (  # noqa: F401 - clock, store are fixtures
    AS_OF,
    Receiver,
    clock,
    firm,
    import_firms,
    migration_module,
    policy,
    start_receiver,
    stop_receiver,
    store,
)
from tests._store_support import postgres_url, store_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SECRET = "密钥-plain-0123456789"
FAST = DispatchSettings(lease_seconds=5.0, webhook_timeout=1.0, backoff_base=60.0,
                        max_attempts=2, smtp=SmtpSettings(timeout=1.0))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver(Receiver())
    yield r
    stop_receiver(r)


@pytest.fixture(autouse=True)
def _own_key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL stores fall back to a per-user key file: keep it in this test's folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(secrets.KEY_ENV, raising=False)


def subscribe(store: Store, uscc: str, secret: str, url: str) -> None:
    body = {"channels": [{"type": "webhook", "url": url, "secret": secret}]}
    with store.transaction() as conn:
        put_subscription(conn, uscc, SubscriptionIn.model_validate(body), store.clock())


def stored_secrets(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [s for s in conn.execute(sa.select(push_channels.c.secret)).scalars()]


def test_secret_is_encrypted_at_rest_and_still_signs(store: Store, receiver: Receiver,
                                                      clock: object) -> None:
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], SECRET, receiver.url)
    (raw,) = stored_secrets(store)
    assert raw.startswith(secrets.PREFIX) and SECRET not in raw
    assert SECRET.encode() not in raw.encode()
    assert secrets.decrypt(store.engine.url, raw) == SECRET
    key = secrets.key_file(store.engine.url)
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    if store.dialect == "sqlite":  # beside the database file
        assert key.parent == Path(store.engine.url.database).resolve().parent
    store.put_policy(policy("p0"), actor="t", publish=True)
    detect_pending(store, AS_OF)
    assert Dispatcher(store, FAST).run_once().sent == 1
    req = receiver.requests[0]
    now = int(clock().timestamp())  # type: ignore[operator]
    assert verify(SECRET, req.headers["X-PolicyMatch-Signature"], req.body, now)
    assert not verify(raw, req.headers["X-PolicyMatch-Signature"], req.body, now)


def test_env_key_wins_and_rotation_keeps_old_secrets_readable(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(secrets.KEY_ENV, old)
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], SECRET, receiver.url)
    (raw,) = stored_secrets(store)
    assert Fernet(old.encode()).decrypt(raw[len(secrets.PREFIX):].encode()) == SECRET.encode()
    monkeypatch.setenv(secrets.KEY_ENV, f"{new},{old}")  # rotate: new first, old still read
    assert secrets.decrypt(store.engine.url, raw) == SECRET
    assert not secrets.key_file(store.engine.url).exists()  # no key file when the env has one


def test_wrong_key_is_a_clear_failure_never_an_unsigned_send(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secrets.KEY_ENV, Fernet.generate_key().decode())
    a = firm(1)
    import_firms(store, [a])
    subscribe(store, a["uscc"], SECRET, receiver.url)
    store.put_policy(policy("p0"), actor="t", publish=True)
    detect_pending(store, AS_OF)
    monkeypatch.setenv(secrets.KEY_ENV, Fernet.generate_key().decode())  # key lost
    report = Dispatcher(store, FAST).run_once()
    assert report.sent == 0 and report.failed == 1 and receiver.count() == 0
    with store.engine.connect() as conn:
        (d,) = conn.execute(sa.select(push_deliveries)).mappings().all()
    assert d["state"] == "pending" and "cannot be decrypted" in d["last_error"]


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    path = secrets.key_file(url)
    path.write_bytes(Fernet.generate_key())
    os.chmod(path, 0o644)
    secrets._box.cache_clear()
    with pytest.raises(secrets.SecretKeyError, match="chmod 600"):
        secrets.encrypt(url, "s")


def test_migration_encrypts_existing_plain_secrets(store_url: str) -> None:  # noqa: F811
    s = Store(store_url)
    uscc = str(firm(1)["uscc"])
    subscribe(s, uscc, SECRET, "http://127.0.0.1:9/h")
    with s.engine.connect().execution_options(write=True) as conn:
        command.downgrade(alembic_config(conn), "0102_push_fanout")
        conn.commit()
    assert stored_secrets(s) == [SECRET]  # the old schema's plain form
    s.close()
    s = Store(store_url)  # opening upgrades to the newest revision
    (raw,) = stored_secrets(s)
    assert raw.startswith(secrets.PREFIX) and secrets.decrypt(s.engine.url, raw) == SECRET
    s.close()


def test_migration_froze_the_same_key_source_and_format(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0103 carries its own copy of the key lookup and token format; it must find the key
    ``push.secrets`` uses and write what it reads (and read what it writes)."""
    frozen = migration_module("0103_push_secrets.py")
    monkeypatch.delenv(secrets.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    secrets._box.cache_clear()
    for url in (f"sqlite:///{tmp_path / 'm.db'}", "postgresql://postgres@127.0.0.1/test",
                "sqlite://"):
        u = sa.make_url(url)
        assert frozen.key_file(u) == secrets.key_file(u)
    for env in ("", f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"):
        if env:
            monkeypatch.setenv(secrets.KEY_ENV, env)
        secrets._box.cache_clear()
        u = sa.make_url(f"sqlite:///{tmp_path / 'm.db'}")
        ring = frozen.key_ring(u)
        token = frozen.PREFIX + ring.encrypt("密钥 s3cret".encode()).decode("ascii")
        assert secrets.decrypt(u, token) == "密钥 s3cret"
        live = secrets.encrypt(u, "другой")
        assert live.startswith(frozen.PREFIX)
        assert ring.decrypt(live[len(frozen.PREFIX):].encode("ascii")).decode() == "другой"
    secrets._box.cache_clear()


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=512))
def test_any_secret_round_trips(tmp_path: Path, text: str) -> None:
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    token = secrets.encrypt(url, text)
    assert token.startswith(secrets.PREFIX) and secrets.decrypt(url, token) == text
