"""Chinese word segmentation for relevance scoring: jieba with the project's domain words.

Why a wrapper and not ``jieba.lcut``: jieba's module-level tokenizer (``jieba.dt``) is
process-global state that other code may load dictionaries into, its logger prints on
first use, and its ``Tokenizer`` holds a lock, so it cannot be pickled — which Dask
workers, ``n_jobs`` and a pickled ``PolicyMatcher`` all need. :class:`ChineseTokenizer`
owns a private ``jieba.Tokenizer`` that it builds lazily (and again after unpickling),
loads the domain dictionary shipped in ``matcher/data/`` into it, and is a plain
callable, so it plugs into scikit-learn as ``CountVectorizer(tokenizer=ChineseTokenizer(),
token_pattern=None, lowercase=False)``.

The jieba instances themselves come from :func:`private_jieba`, which the policy
parser's tokenizer uses too (with its own word list): one jieba setup in the project.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import jieba

Mode = Literal["search", "exact"]

# A token worth indexing has at least one CJK character, letter or digit.
_CONTENT = re.compile(r"[\u3400-\u9fff\w]")
_NUMBER = re.compile(r"^[\d.%]+$")

# Built tokenizers are shared by every ChineseTokenizer with the same words in this
# process: building one reads jieba's 350,000-word dictionary (about a second).
_BUILT: dict[tuple[tuple[str, int | None, str | None], ...], jieba.Tokenizer] = {}  # by words
_BUILD_LOCK = threading.Lock()
_WARNING = 30  # logging.WARNING; matcher/ does no logging of its own


def _data_lines(name: str) -> list[str]:
    """Non-comment lines of a word list shipped in ``matcher/data``."""
    text = resources.files("matcher").joinpath("data", name).read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@cache
def domain_words() -> tuple[tuple[str, int | None, str | None], ...]:
    """The shipped user dictionary as ``(word, freq, tag)`` (jieba's user-dict format)."""
    out = []
    for line in _data_lines("user_dict.txt"):
        parts = line.split()
        word = parts[0]
        freq = int(parts[1]) if len(parts) > 1 else None
        tag = parts[2] if len(parts) > 2 else None
        out.append((word, freq, tag))
    return tuple(out)


@cache
def default_stop_words() -> frozenset[str]:
    """The shipped stop words: function words and 经营范围/policy boilerplate."""
    return frozenset(_data_lines("stopwords.txt"))


Words = tuple[tuple[str, int | None, str | None], ...]


def private_jieba(words: Words) -> jieba.Tokenizer:
    """A private, initialised jieba tokenizer with ``words`` (``(word, freq, tag)``, added
    in order, as jieba's ``load_userdict`` would) added, built without output.

    The one place the project builds jieba instances: the relevance tokenizer here and
    the policy parser's (``policies.parse.tokenizer``) each pass their own word list, and
    an instance is shared by every tokenizer with the same list in the process (building
    one reads jieba's 350,000-word dictionary, about a second). Nothing may add words to
    an instance afterwards.

    jieba logs "Building prefix dict…" at DEBUG to stderr on initialisation. Its logger
    is raised to WARNING only while we build and restored afterwards, so code that wants
    jieba's messages still gets them.
    """
    logger = jieba.default_logger  # jieba's own logger; its level is restored below
    with _BUILD_LOCK:
        built = _BUILT.get(words)
        if built is not None:
            return built
        level = logger.level
        logger.setLevel(_WARNING)
        try:
            tk = jieba.Tokenizer()
            tk.initialize()
            for word, freq, tag in words:
                tk.add_word(word, freq, tag)
        finally:
            logger.setLevel(level)
        _BUILT[words] = tk
        return tk


class ChineseTokenizer:
    """Segment Chinese text into index terms: domain words, no stop words, no punctuation.

    Parameters
    ----------
    mode : {"search", "exact"}
        ``"search"`` (jieba's search mode) also emits the known sub-words of a long word,
        so 工业机器人 matches a policy that only says 机器人; ``"exact"`` emits each word
        once. Search mode is the default because firm and policy texts name the same thing
        at different granularity.
    extra_words : iterable of str, optional
        Words added to the shipped domain dictionary (a region's own industry names).
    stop_words : iterable of str, optional
        Replaces the shipped stop words when given; ``()`` keeps every word.
    min_length : int
        Shorter tokens are dropped. Two by default: single characters (的, 等, 及) are
        mostly function words, and a single-character content word rarely decides
        relevance on its own.
    hmm : bool
        Let jieba guess words missing from its dictionary (new product names).
    """

    def __init__(
        self,
        mode: Mode = "search",
        extra_words: Iterable[str] | None = None,
        stop_words: Iterable[str] | None = None,
        min_length: int = 2,
        hmm: bool = True,
    ) -> None:
        if mode not in ("search", "exact"):
            raise ValueError(f"mode must be 'search' or 'exact', got {mode!r}")
        if min_length < 1:
            raise ValueError(f"min_length must be at least 1, got {min_length!r}")
        self.mode: Mode = mode
        self.extra_words = tuple(extra_words or ())
        self.stop_words = (
            default_stop_words() if stop_words is None else frozenset(stop_words)
        )
        self.min_length = min_length
        self.hmm = hmm
        self._tk: jieba.Tokenizer | None = None

    # -- the jieba instance, built on first use ------------------------------------------
    def _words(self) -> tuple[tuple[str, int | None, str | None], ...]:
        return domain_words() + tuple((w, None, None) for w in self.extra_words)

    @property
    def jieba_tokenizer(self) -> jieba.Tokenizer:
        """The private jieba tokenizer (built on first access)."""
        if self._tk is None:
            self._tk = private_jieba(self._words())
        return self._tk

    # -- segmentation ---------------------------------------------------------------------
    @staticmethod
    def normalize(text: str) -> str:
        """NFKC (full-width ＡＩ５Ｇ → AI5G) and lower case, so 5G and ５ｇ are one term."""
        return unicodedata.normalize("NFKC", text).lower()

    def __call__(self, text: str | None) -> list[str]:
        """Index terms of ``text`` in order (repeats kept: term frequency matters).

        Results are memoised per process for equal tokenizers (a grid search refits on
        the same policy and firm texts many times; jieba needs milliseconds per text).
        """
        if not text:
            return []
        return list(_memo_terms(self, text))

    def segment(self, text: str) -> list[str]:
        """:meth:`__call__` without the memo."""
        tk = self.jieba_tokenizer
        stop = self.stop_words
        out: list[str] = []
        for word in tk.cut(self.normalize(text), HMM=self.hmm):
            word = word.strip()
            # A stop word's parts are boilerplate too (营业执照 → 营业, 执照), so the
            # whole word is judged before its sub-words are emitted.
            if word in stop or not _CONTENT.search(word) or _NUMBER.match(word):
                continue
            if self.mode == "search":
                out.extend(g for g in self._subwords(tk, word) if g not in stop)
            if len(word) >= self.min_length:
                out.append(word)
        return out

    def _subwords(self, tk: jieba.Tokenizer, word: str) -> list[str]:
        """Known 2- and 3-character parts of a longer word (jieba's search mode)."""
        found = []
        for n in (2, 3):
            if len(word) > n and n >= self.min_length:
                for i in range(len(word) - n + 1):
                    gram = word[i : i + n]
                    if tk.FREQ.get(gram):
                        found.append(gram)
        return found

    def tokenize_many(self, texts: Iterable[str | None]) -> list[list[str]]:
        return [self(t) for t in texts]

    # -- pickling and comparison ----------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tk"] = None  # holds an RLock; rebuilt (or re-shared) on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tk = None

    def _key(self) -> tuple[object, ...]:
        return (self.mode, self.extra_words, self.stop_words, self.min_length, self.hmm)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChineseTokenizer) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        default = self.stop_words == default_stop_words()
        parts = [f"mode={self.mode!r}"]
        if self.extra_words:
            parts.append(f"extra_words={list(self.extra_words)!r}")
        if not default:
            parts.append(f"stop_words=<{len(self.stop_words)} words>")
        if self.min_length != 2:
            parts.append(f"min_length={self.min_length}")
        if not self.hmm:
            parts.append("hmm=False")
        return f"ChineseTokenizer({', '.join(parts)})"


@lru_cache(maxsize=65_536)
def _memo_terms(tokenizer: ChineseTokenizer, text: str) -> tuple[str, ...]:
    return tuple(tokenizer.segment(text))
