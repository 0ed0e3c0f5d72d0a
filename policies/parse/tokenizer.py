"""jieba segmentation with character spans, the policy domain's own words kept whole.

专精特新, 小巨人, 高新技术企业, 规上, 免申即享, 研发费用加计扣除 … are single tokens here, so
that the parser never reads 中小企业 inside 科技型中小企业, or 制造业 inside 制造业单项冠军.
The user dictionary ships in the package (``data/userdict.txt``) together with the names
of GB/T 4754 sections and divisions.

jieba's module-level tokenizer (``jieba.dt``) is shared by every library in the process;
changing its dictionary would change their results, so this class uses a private
``jieba.Tokenizer`` from ``matcher.tokenizer.private_jieba`` (the project's one jieba
setup, shared by tokenizers with the same words). That object holds a lock and cannot be
pickled: the wrapper drops it when pickled and gets it again on first use (Dask workers
and ``n_jobs`` need that).

Unlike the relevance tokenizer (:mod:`matcher.tokenizer`, index terms of normalised
text), the parser needs every token's exact ``(start, end)`` in the original text, so
that a match is accepted only on token boundaries and every ``source`` is a substring.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import jieba

from matcher.tokenizer import Words, private_jieba


def user_dictionary_path() -> str:
    """The shipped domain dictionary (one ``word freq tag`` a line, jieba's format)."""
    return str(resources.files("policies.parse").joinpath("data", "userdict.txt"))


# jieba's own reading of a user-dictionary line (``jieba.re_userdict``).
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")


@cache
def userdict_words() -> Words:
    """The shipped dictionary as ``(word, freq, tag)``, read line by line as jieba's
    ``load_userdict`` reads it (so the instance is the same as loading the file)."""
    text = resources.files("policies.parse").joinpath("data", "userdict.txt").read_text(
        encoding="utf-8")
    out = []
    for ln in text.splitlines():
        line = ln.strip().lstrip("\ufeff")
        if not line:
            continue
        m = _USERDICT_LINE.match(line)
        assert m is not None  # at least one character: the lazy group matches
        word, freq, tag = m.groups()
        out.append((word, None if freq is None else int(freq), None if tag is None
                    else tag.strip()))
    return tuple(out)


class PolicyTokenizer:
    """A callable ``text -> list of tokens`` with spans, on a private jieba instance.

    Parameters
    ----------
    extra_words
        More words to keep whole (e.g. industry names), added to the private instance
        only.
    hmm
        Use jieba's HMM for unknown words. Off by default: the parser needs stable
        boundaries around known terms, not guesses at new words, and it is faster.
    """

    def __init__(self, extra_words: Iterable[str] = (), hmm: bool = False) -> None:
        self.extra_words = tuple(extra_words)
        self.hmm = hmm
        self._jieba: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    def _build(self) -> jieba.Tokenizer:
        return private_jieba(userdict_words()
                             + tuple((w, 20000, None) for w in self.extra_words))

    @property
    def jieba(self) -> jieba.Tokenizer:
        """The private jieba instance, built on first use (also after unpickling)."""
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    self._jieba = self._build()
        return self._jieba

    def tokenize(self, text: str) -> list[tuple[str, int, int]]:
        """``(token, start, end)`` for every token of ``text``."""
        return list(self.jieba.tokenize(text, HMM=self.hmm))

    def __call__(self, text: str) -> list[str]:
        return [w for w, _, _ in self.tokenize(text)]

    def __getstate__(self) -> dict[str, Any]:
        return {"extra_words": self.extra_words, "hmm": self.hmm}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.extra_words = state["extra_words"]
        self.hmm = state["hmm"]
        self._jieba = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PolicyTokenizer(extra_words=<{len(self.extra_words)}>, hmm={self.hmm})"


# jieba cuts text into blocks of these characters and segments each block on its own
# (jieba.re_han_default); a block's tokens are the same whether it is segmented alone or
# inside the whole text.
_BLOCK = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]")


class TokenBoundaries:
    """Token boundaries of one text, segmenting only the blocks that are asked about.

    The parser checks boundaries for a few candidate words per document (中小企业, 制造业
    …); segmenting just their blocks gives jieba's answer for the whole text at a fraction
    of the cost.
    """

    def __init__(self, text: str, tokenizer: PolicyTokenizer) -> None:
        self.text = text
        self.tokenizer = tokenizer
        self._starts: set[int] = set()
        self._ends: set[int] = set()
        self._done: list[tuple[int, int]] = []

    def _segment_around(self, pos: int) -> None:
        if any(a <= pos <= b for a, b in self._done):
            return
        t = self.text
        s = pos
        while s > 0 and _BLOCK.match(t[s - 1]):
            s -= 1
        e = pos
        while e < len(t) and _BLOCK.match(t[e]):
            e += 1
        for _, a, b in self.tokenizer.jieba.tokenize(t[s:e], HMM=self.tokenizer.hmm):
            self._starts.add(s + a)
            self._ends.add(s + b)
        self._done.append((s, e))

    def is_start(self, pos: int) -> bool:
        self._segment_around(pos)
        return pos in self._starts

    def is_end(self, pos: int) -> bool:
        self._segment_around(max(0, pos - 1))
        return pos in self._ends
