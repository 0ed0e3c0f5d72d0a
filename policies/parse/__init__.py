"""Policy documents as provinces publish them → contract policies (DATA.md §2–§4).

``policy-match parse FILE...`` uses :class:`PolicyParser`; ``policy-match eval-parse``
measures it against hand-made gold policies (:mod:`policies.parse.evaluate`).

Pipeline, one module per job: :mod:`documents` (txt/html/docx/pdf → text) →
:mod:`header` (title, issuer, date) → :mod:`sections` (申报条件, 支持标准, 申报时间 …) →
:mod:`outline` and :mod:`clauses` (numbered lists, sentences, clauses) → :mod:`leaves`
(numbers with :mod:`numbers` and :mod:`bounds`; regions, industries, qualifications,
exclusions) → :mod:`eligibility` (the tree: lists, alternatives, tiers, award targets) →
:mod:`tree` (simplification) ; beside it :mod:`benefits`, :mod:`dates`, :mod:`mode`.
"""

from policies.parse.documents import DocumentError, read_document
from policies.parse.evaluate import evaluate
from policies.parse.parser import PolicyParser, parse_text
from policies.parse.tokenizer import PolicyTokenizer

__all__ = [
    "DocumentError",
    "PolicyParser",
    "PolicyTokenizer",
    "evaluate",
    "parse_text",
    "read_document",
]
