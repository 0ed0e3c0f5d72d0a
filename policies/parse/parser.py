"""A policy document → a contract Policy (DATA.md §2–§4).

:class:`PolicyParser` follows the scikit-learn conventions the project uses: the
constructor stores its settings, the tokenizer is built on first use, and the object
pickles (its jieba instance is rebuilt after unpickling). ``parse`` is pure: text in,
JSON-ready dict out, no I/O; ``parse_file`` reads a file through
:mod:`policies.parse.documents`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matcher.policy import Policy
from policies.parse.benefits import find_benefits
from policies.parse.clauses import mask
from policies.parse.dates import policy_window
from policies.parse.documents import read_document
from policies.parse.eligibility import ConditionReader
from policies.parse.header import read_header
from policies.parse.industries import industry_words
from policies.parse.leaves import ReadContext
from policies.parse.mode import policy_mode
from policies.parse.regions import find_regions
from policies.parse.sections import find_sections
from policies.parse.tokenizer import PolicyTokenizer, TokenBoundaries
from policies.parse.tree import Node, leaves, simplify, to_json


class PolicyParser:
    """Parse Chinese policy documents into contract policies.

    Parameters
    ----------
    tokenizer
        A :class:`PolicyTokenizer`; the default one carries the domain dictionary and
        the GB/T 4754 industry names.
    """

    def __init__(self, tokenizer: PolicyTokenizer | None = None) -> None:
        self.tokenizer = tokenizer

    @property
    def tokenizer_(self) -> PolicyTokenizer:
        """The tokenizer in use: the given one, or the process-wide default."""
        return self.tokenizer if self.tokenizer is not None else default_tokenizer()

    def parse(self, text: str, policy_id: str) -> dict[str, Any]:
        """The contract policy (JSON form) of ``text``; every leaf's source is in ``text``."""
        header = read_header(text)
        masked = mask(text)
        sections = find_sections(text, header.body_start)
        issuer_regions: list[str] = []
        if header.issuer_start >= 0:
            issuer_text = text[header.issuer_start:header.issuer_end]
            for r in find_regions(issuer_text):
                if r.code not in issuer_regions:
                    issuer_regions.append(r.code)
        issuer_regions = _most_specific(issuer_regions)
        tokens = TokenBoundaries(text, self.tokenizer_)
        ctx = ReadContext(text, masked, tokens, tuple(issuer_regions))
        benefits = find_benefits(text, masked, sections)
        reader = ConditionReader(ctx, sections, issuer_regions,
                                 (header.issuer_start, header.issuer_end), header.body_start)
        tree = simplify(reader.read(has_benefits=bool(benefits)))
        required = {lf.ident() for lf in leaves(tree)} if tree is not None else set()
        prefs: list[Node] = []
        for pref in (simplify(p) for p in reader.preferences):
            # a preference the conditions already require ranks nothing: leave it out
            if pref is None or all(lf.ident() in required for lf in leaves(pref)):
                continue
            key = [lf.ident() for lf in leaves(pref)]
            if not any(key == [lf.ident() for lf in leaves(q)] for q in prefs):
                prefs.append(pref)
        window = policy_window(
            text,
            [(s.start, s.end, s.kind) for s in sections if s.kind not in ("basis", "eligibility")],
            header.year,
            header.issued_on,
        )
        out: dict[str, Any] = {
            "id": policy_id,
            "title": header.title,
            "issuer": header.issuer,
            "issued_on": header.issued_on.isoformat() if header.issued_on else None,
            "valid_from": window.valid_from.isoformat() if window.valid_from else None,
            "valid_until": window.valid_until.isoformat() if window.valid_until else None,
            "mode": policy_mode(text[header.body_start:] or text),
            "conditions": to_json(tree, text),
            "preferences": [to_json(p, text) for p in prefs],
            "benefits": benefits,
            "text": text,
            "source_url": header.source_url,
        }
        Policy.from_json(out)  # the contract's own validation: refuse to emit what it rejects
        return out

    def parse_file(self, path: str | Path) -> dict[str, Any]:
        """Read ``path`` (.txt/.html/.docx/.pdf) and parse it; ``id`` is the file stem."""
        path = Path(path)
        return self.parse(read_document(path), path.stem)


def _most_specific(codes: list[str]) -> list[str]:
    """Drop a region when a more specific one inside it is also named (株洲市 + 湖南省)."""
    return [c for c in codes if not any(o != c and o.startswith(c) for o in codes)]


_DEFAULT: PolicyTokenizer | None = None


def default_tokenizer() -> PolicyTokenizer:
    """One tokenizer per process (building jieba's prefix dictionary takes ~1 s)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PolicyTokenizer(extra_words=industry_words())
    return _DEFAULT


def parse_text(text: str, policy_id: str) -> dict[str, Any]:
    """Convenience: :meth:`PolicyParser.parse` with the default tokenizer."""
    return PolicyParser().parse(text, policy_id)
