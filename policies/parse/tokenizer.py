"""jieba segmentation with character spans, the policy domain's own words kept whole.

专精特新, 小巨人, 高新技术企业, 规上, 免申即享, 研发费用加计扣除 … are single tokens here, so
that the parser never reads 中小企业 inside 科技型中小企业, or 制造业 inside 制造业单项冠军.
The user dictionary ships in the package (``data/userdict.txt``) together with the names
of GB/T 4754 sections and divisions.

jieba's module-level tokenizer (``jieba.dt``) is shared by every library in the process;
changing its dictionary would change their results, so this class owns a private
``jieba.Tokenizer``. That object holds a lock and cannot be pickled: the wrapper drops it
when pickled and rebuilds it on first use (Dask workers and ``n_jobs`` need that).

Unlike the relevance tokenizer (:mod:`matcher.tokenizer`, index terms of normalised
text), the parser needs every token's exact ``(start, end)`` in the original text, so
that a match is accepted only on token boundaries and every ``source`` is a substring.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jieba

_LOG = logging.getLogger("jieba")




def user_dictionary_path() -> str:
    """The shipped domain dictionary (one ``word freq tag`` a line, jieba's format)."""
    return str(resources.files("policies.parse").joinpath("data", "userdict.txt"))


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
        # jieba logs "Building prefix dict…" at DEBUG to stderr on initialisation; CLI
        # output must stay clean. Its logger is quiet while we build, then restored.
        level = _LOG.level
        _LOG.setLevel(logging.WARNING)
        try:
            tk = jieba.Tokenizer()
            tk.initialize()
            tk.load_userdict(user_dictionary_path())
            for w in self.extra_words:
                tk.add_word(w, 20000)
        finally:
            _LOG.setLevel(level)
        return tk

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
