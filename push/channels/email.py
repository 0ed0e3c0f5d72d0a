"""E-mail channel: SMTP, Chinese subject and body as UTF-8 MIME, with an unsubscribe link.

The subject is RFC 2047-encoded and the body ``text/plain; charset="utf-8"``, which
every mail client in use renders; the ``List-Unsubscribe`` header (with RFC 8058
one-click ``List-Unsubscribe-Post``) lets the mail client offer "unsubscribe" itself,
and the same link is in the body. Settings come from the environment, read once by the
dispatcher at its edge, never inside logic.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from push.channels.webhook import ID_HEADER, SendResult

ENV_PREFIX = "POLICY_MATCH_SMTP_"
PUBLIC_URL_ENV = "POLICY_MATCH_PUBLIC_URL"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail.

    ``public_url`` is the address of the API as firms see it; unsubscribe links point
    to ``<public_url>/unsubscribe/<token>``.
    """

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "policy-match@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = 10.0
    public_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """``POLICY_MATCH_SMTP_HOST``, ``_PORT``, ``_FROM``, ``_USER``, ``_PASSWORD``,
        ``_STARTTLS`` (1/0), ``_SSL`` (1/0), ``_TIMEOUT`` and ``POLICY_MATCH_PUBLIC_URL``."""
        env = os.environ if environ is None else environ
        d = cls()

        def get(name: str) -> str | None:
            v = env.get(ENV_PREFIX + name)
            return v if v not in (None, "") else None

        flag = {"1", "true", "yes", "on"}
        return cls(
            host=get("HOST") or d.host,
            port=int(get("PORT") or d.port),
            sender=get("FROM") or d.sender,
            username=get("USER"),
            password=get("PASSWORD"),
            starttls=(get("STARTTLS") or "").lower() in flag,
            ssl=(get("SSL") or "").lower() in flag,
            timeout=float(get("TIMEOUT") or d.timeout),
            public_url=(env.get(PUBLIC_URL_ENV) or d.public_url).rstrip("/"),
        )

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.public_url}/unsubscribe/{token}"


def build_message(settings: SmtpSettings, to: str, subject: str, body: str,
                  message_id: str, unsubscribe_url: str | None) -> EmailMessage:
    """A UTF-8 MIME message with the idempotency key and unsubscribe headers."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    domain = settings.sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=f"pm{message_id}", domain=domain)
    msg[ID_HEADER] = message_id
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(body, charset="utf-8")
    return msg


def send(settings: SmtpSettings, msg: EmailMessage) -> SendResult:
    """Hand the message to the SMTP server; never raises (errors become the result)."""
    try:
        smtp_cls = smtplib.SMTP_SSL if settings.ssl else smtplib.SMTP
        with smtp_cls(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls and not settings.ssl:
                smtp.starttls()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(msg)
        if refused:
            return SendResult(False, f"recipient refused: {refused}")
        return SendResult(True)
    except (TimeoutError, smtplib.SMTPException, OSError) as e:
        return SendResult(False, f"{type(e).__name__}: {e}")
