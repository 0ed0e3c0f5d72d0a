"""How a firm obtains the support (DATA.md §2 ``mode``): 需申报, 免申即享 or 即申即享.

免申即享 (no application: the authority finds eligible firms in its own data and pays)
changes what the engine may do with an eligible verdict, so the wording is read strictly:
a text that merely *mentions* the approach while requiring an application stays ``apply``.
"""

from __future__ import annotations

import re

_NO_APPLICATION = re.compile(
    r"免申即享|免于申报|免申报|无需(?:企业)?(?:申报|申请)|无需提交(?:任何)?(?:申请|材料)|免申即办|"
    r"不需(?:要)?(?:企业)?(?:申报|申请)"
)
_INSTANT = re.compile(r"即申即享|即申即兑|即申即办|即报即享")
# 免申即享 said of *other* measures, or denied: 不适用免申即享, 非免申即享.
_NEGATED = re.compile(r"(?:不适用|不属于|非|不实行|不再实行)[“\"]?$")


def policy_mode(text: str) -> str:
    """``no_application``, ``instant`` or ``apply`` from the wording of the whole text."""
    for rx, mode in ((_NO_APPLICATION, "no_application"), (_INSTANT, "instant")):
        for m in rx.finditer(text):
            if _NEGATED.search(text[max(0, m.start() - 6):m.start()]):
                continue
            return mode
    return "apply"
