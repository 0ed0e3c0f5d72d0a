"""Push: a firm's subscription, its in-app inbox, and the e-mail unsubscribe link.

Roles follow the firm routes: a ``firm`` key sees and changes only its own
subscription and inbox (any other USCC answers 404, as if it did not exist); ``admin``
may act for any firm; ``officer`` may read. The unsubscribe link needs no key — the
random token in it is the permission, so a recipient can act on the e-mail alone
(RFC 8058 one-click: ``POST``; ``GET`` only shows a confirmation page, because mail
scanners follow links).
"""

from __future__ import annotations

import html
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api.deps import StoreDep, UsccPath, not_found_firm, require, visible_uscc
from api.routes import ERRORS
from api.schemas.common import MessageOut
from push.channels.inbox import InboxPage, expand_for, list_inbox, mark_all_read, mark_read
from push.subscriptions import (
    SubscriptionIn,
    SubscriptionOut,
    delete_subscription,
    get_subscription,
    put_subscription,
    unsubscribe_token,
)
from push.tables import push_channels
from store.keys import ApiKey
from store.store import Store

router = APIRouter(tags=["push"])

Reader = Annotated[ApiKey, Depends(require("admin", "officer", "firm"))]
Writer = Annotated[ApiKey, Depends(require("admin", "firm"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Token = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class MarkedOut(BaseModel):
    marked: int


def _stored(store: Store, key: ApiKey, uscc: str) -> str:
    """The firm's USCC if this key may see it and it is stored; else 404."""
    code = visible_uscc(key, uscc)
    if store.firm(code) is None:
        raise not_found_firm(code)
    return code


@router.put("/firms/{uscc}/subscription", response_model=SubscriptionOut,
            responses=ERRORS,
            summary="choose channels, digest mode, muted topics and the daily cap")
def put_firm_subscription(uscc: UsccPath, body: SubscriptionIn, key: Writer,
                          store: StoreDep) -> SubscriptionOut:
    """Replaces the whole subscription. Webhook secrets are write-only (never returned).
    A bad URL or e-mail address is refused with 422 naming the field."""
    code = _stored(store, key, uscc)
    try:
        with store.transaction() as conn:
            put_subscription(conn, code, body, store.clock())
            out = get_subscription(conn, code)
    except sa.exc.IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"the subscription of {code} changed meanwhile; send it again"
                            ) from None
    assert out is not None
    return out


@router.get("/firms/{uscc}/subscription", response_model=SubscriptionOut,
            responses=ERRORS, summary="the firm's subscription")
def get_firm_subscription(uscc: UsccPath, key: Reader, store: StoreDep) -> SubscriptionOut:
    code = _stored(store, key, uscc)
    with store.transaction(write=False) as conn:
        out = get_subscription(conn, code)
    if out is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"firm {code} has no subscription")
    return out


@router.delete("/firms/{uscc}/subscription", response_model=SubscriptionOut,
               responses=ERRORS, summary="unsubscribe from every channel (the inbox stays)")
def delete_firm_subscription(uscc: UsccPath, key: Writer, store: StoreDep) -> SubscriptionOut:
    code = _stored(store, key, uscc)
    with store.transaction() as conn:
        exists = delete_subscription(conn, code, store.clock())
        out = get_subscription(conn, code) if exists else None
    if out is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"firm {code} has no subscription")
    return out


@router.get("/firms/{uscc}/inbox", response_model=InboxPage,
            responses=ERRORS, summary="the firm's notifications, newest first, each saying why")
def get_inbox(uscc: UsccPath, key: Reader, store: StoreDep, unread: bool = False,
              limit: Limit = 50, offset: Offset = 0) -> InboxPage:
    code = _stored(store, key, uscc)
    expand_for(store, code)
    with store.transaction(write=False) as conn:
        return list_inbox(conn, code, unread_only=unread, limit=limit, offset=offset)


@router.post("/firms/{uscc}/inbox/{notification_id}/read", response_model=MarkedOut,
             responses=ERRORS, summary="mark one notification read")
def read_one(uscc: UsccPath, notification_id: Annotated[int, Path(ge=1, le=2**62)],
             key: Writer, store: StoreDep) -> MarkedOut:
    code = _stored(store, key, uscc)
    with store.transaction() as conn:
        found = mark_read(conn, code, notification_id, store.clock())
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no notification {notification_id}")
    return MarkedOut(marked=1)


@router.post("/firms/{uscc}/inbox/read", response_model=MarkedOut,
             responses=ERRORS, summary="mark every notification read")
def read_all(uscc: UsccPath, key: Writer, store: StoreDep) -> MarkedOut:
    code = _stored(store, key, uscc)
    with store.transaction() as conn:
        return MarkedOut(marked=mark_all_read(conn, code, store.clock()))


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _page(title: str, text: str, form: str = "", code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
                        status_code=code)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse,
            responses={404: {"model": MessageOut}}, summary="confirm page for an e-mail link")
def unsubscribe_page(token: Token, store: StoreDep) -> HTMLResponse:
    with store.transaction(write=False) as conn:
        row = conn.execute(sa.select(push_channels.c.target, push_channels.c.active)
                           .where(push_channels.c.unsubscribe_token == token)).first()
    if row is None:
        return _page("链接无效", "该退订链接不存在或已失效。", code=404)
    if not row.active:
        return _page("已退订", f"{row.target} 已不再接收政策推送邮件。")
    form = (f'<form method="post" action="/unsubscribe/{html.escape(token)}">'
            '<button type="submit">确认退订</button></form>')
    return _page("退订政策推送邮件", f"确认后，{row.target} 将不再收到政策推送邮件。", form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse,
             responses={404: {"model": MessageOut}}, summary="one-click unsubscribe (RFC 8058)")
def unsubscribe(token: Token, store: StoreDep) -> HTMLResponse:
    with store.transaction() as conn:
        channel = unsubscribe_token(conn, token, store.clock())
    if channel is None:
        return _page("链接无效", "该退订链接不存在或已失效。", code=404)
    return _page("已退订", f"{channel.target} 已退订，不会再收到政策推送邮件。")
