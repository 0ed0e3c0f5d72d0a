"""``policy-match keys create --role ROLE [--uscc USCC]`` (the key is the last line printed),
``keys list``, ``keys revoke ID``."""

from __future__ import annotations

import argparse
from typing import Any

from matcher.errors import PolicyMatchError
from profiles.uscc import uscc_problem
from store.schema import ROLES
from store.store import open_store

ACTOR = "cli"


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="API keys: create, list, revoke")
    verbs = p.add_subparsers(dest="keys_verb", required=True)
    create = verbs.add_parser("create", help="make a key; prints it once, as the last line")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--uscc", default=None, help="the firm a firm key is bound to")
    create.add_argument("--label", default="", help="who or what the key is for")
    create.set_defaults(func=run_create)
    lst = verbs.add_parser("list", help="every key (never the secrets)")
    lst.set_defaults(func=run_list)
    revoke = verbs.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    revoke.set_defaults(func=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    uscc = args.uscc.strip().upper() if args.uscc else None
    if uscc is not None and (problem := uscc_problem(uscc)):
        raise PolicyMatchError(f"--uscc: {problem}")
    with open_store() as store:
        key, token = store.create_key(args.role, uscc=uscc, label=args.label, actor=ACTOR)
    bound = f" for {key.uscc}" if key.uscc else ""
    print(f"created {key.role} key {key.id}{bound}; it is shown only now:")
    print(token)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        for k in store.keys():
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            print(f"{k.id}\t{k.role}\t{k.uscc or '-'}\t{state}\t{k.label}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with open_store() as store:
        key = store.revoke_key(args.id, actor=ACTOR)
    print(f"revoked {key.role} key {key.id}")
    return 0
