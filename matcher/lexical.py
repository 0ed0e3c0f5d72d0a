"""BM25 over jieba tokens, as sparse matrices: firms are queries, policies are documents.

Scoring every firm against every policy is one sparse product (``Q @ W.T``), where ``W``
holds each policy term's precomputed BM25 weight (idf × saturated, length-normalised
term frequency) — the eager-scoring idea of ``bm25s``, done with scikit-learn's
``CountVectorizer`` and SciPy so the tokenizer stays a plain callable.

BM25 (Robertson & Zaragoza 2009, Lucene's idf variant, which is never negative):

    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    w(t, d) = idf(t) · tf(t, d) · (k1 + 1) / (tf(t, d) + k1 · (1 - b + b · |d| / avgdl))
    score(q, d) = Σ_{t ∈ q} w(t, d)

Query terms count once (a firm's 经营范围 repeats its core words across licence items;
counting every repeat would let the longest scope win rather than the best match).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from matcher.tokenizer import ChineseTokenizer

Tokenize = Callable[[str], list[str]]


class BM25Scorer:
    """BM25 relevance of query texts (firms) to an indexed set of documents (policies).

    Parameters
    ----------
    tokenizer : callable, optional
        ``text -> list of terms``; a :class:`~matcher.tokenizer.ChineseTokenizer` when None.
    k1 : float
        Term-frequency saturation (≥ 0): how much the 2nd, 3rd … mention of a term adds.
    b : float
        Length normalisation in [0, 1]: 1 fully discounts long policies, 0 ignores length.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Term → column, over the indexed documents.
    idf_ : ndarray of shape (n_terms,)
    doc_weights_ : scipy.sparse.csr_matrix of shape (n_documents, n_terms)
        BM25 weight of each document term.
    """

    def __init__(self, tokenizer: Tokenize | None = None, k1: float = 1.5, b: float = 0.75):
        self.tokenizer = tokenizer
        self.k1 = k1
        self.b = b

    def _check_params(self) -> None:
        if not (isinstance(self.k1, int | float) and self.k1 >= 0):
            raise ValueError(f"k1 must be a number ≥ 0, got {self.k1!r}")
        if not (isinstance(self.b, int | float) and 0 <= self.b <= 1):
            raise ValueError(f"b must be a number in [0, 1], got {self.b!r}")

    def fit(self, documents: Sequence[str]) -> BM25Scorer:
        """Index ``documents`` (policy texts)."""
        self._check_params()
        tokenizer = self.tokenizer if self.tokenizer is not None else ChineseTokenizer()
        self.tokenizer_ = tokenizer
        self.vectorizer_ = CountVectorizer(
            tokenizer=tokenizer, token_pattern=None, lowercase=False, dtype=np.float32
        )
        docs = [d or "" for d in documents]
        try:
            tf = self.vectorizer_.fit_transform(docs).tocsr()
        except ValueError:  # no document has a single term: an empty vocabulary
            self.vectorizer_.vocabulary_ = {}
            tf = sp.csr_matrix((len(docs), 0), dtype=np.float32)
        self.vocabulary_: dict[str, int] = dict(self.vectorizer_.vocabulary_)
        self.terms_ = np.array(
            sorted(self.vocabulary_, key=self.vocabulary_.__getitem__), dtype=object
        )
        n_docs = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = lengths.mean() if n_docs and lengths.mean() > 0 else 1.0
        norm = self.k1 * (1 - self.b + self.b * lengths / avgdl)  # per document
        w = tf.copy().astype(np.float64)
        rows = np.repeat(np.arange(n_docs), np.diff(w.indptr))
        w.data = self.idf_[w.indices] * w.data * (self.k1 + 1) / (w.data + norm[rows])
        self.doc_weights_ = w.astype(np.float32).tocsr()
        self.doc_weights_.sort_indices()
        # Term-major copy for scoring: a (queries × terms) @ (terms × documents) product
        # of two CSR matrices needs no conversion per call.
        self.term_weights_ = self.doc_weights_.T.tocsr()
        return self

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        """Binary query-term matrix over the index vocabulary (unknown terms dropped).

        Built directly rather than through ``CountVectorizer.transform``, whose set-up
        costs more than the work for the one-firm requests of the API.
        """
        vocab = self.vocabulary_
        indptr = [0]
        indices: list[int] = []
        for text in queries:
            cols = sorted({vocab[t] for t in self.tokenizer_(text or "") if t in vocab})
            indices.extend(cols)
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sp.csr_matrix(
            (data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
            shape=(len(queries), len(vocab)),
        )

    def score_matrix(self, q: sp.csr_matrix) -> np.ndarray:
        """BM25 scores (n_queries, n_documents), float32, from a :meth:`query_matrix`."""
        if q.shape[1] == 0:
            return np.zeros((q.shape[0], self.doc_weights_.shape[0]), dtype=np.float32)
        return np.asarray((q @ self.term_weights_).toarray(), dtype=np.float32)

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """BM25 score of every query against every indexed document."""
        return self.score_matrix(self.query_matrix(queries))

    def top_terms_many(
        self, q: sp.csr_matrix, query_row: int, docs: Sequence[int], n: int = 5
    ) -> list[list[str]]:
        """:meth:`top_terms` for several documents of one query, with one sparse slice."""
        qi = q.indices[q.indptr[query_row] : q.indptr[query_row + 1]]
        if len(qi) == 0 or len(docs) == 0 or n <= 0:
            return [[] for _ in docs]
        mark = np.zeros(len(self.terms_), dtype=bool)
        mark[qi] = True
        w = self.doc_weights_
        out = []
        for d in docs:
            a, b = w.indptr[d], w.indptr[d + 1]
            idx = w.indices[a:b]
            sel = mark[idx]
            terms, contrib = idx[sel], w.data[a:b][sel]
            # The best few are enough: only parts of shown terms are ever skipped.
            order = np.lexsort((terms, -contrib))[: 4 * n]  # deterministic on ties
            out.append(self._shown([str(self.terms_[t]) for t in terms[order]], n))
        return out

    @staticmethod
    def _shown(terms: list[str], n: int) -> list[str]:
        shown: list[str] = []
        for term in terms:
            if any(term in s for s in shown):
                continue
            shown = [s for s in shown if s not in term]  # a longer term replaces its parts
            shown.append(term)
            if len(shown) >= n:
                break
        return shown

    def top_terms(
        self, q: sp.csr_matrix, query_row: int, doc: int, n: int = 5
    ) -> list[str]:
        """The query's terms that contribute most to its score on ``doc``, best first.

        Search-mode tokenisation emits 工业机器人 together with 机器人 and 工业; a term
        contained in a better-scoring one already shown is left out, so the reader sees
        工业机器人 once rather than three pieces of it.
        """
        qi = q.indices[q.indptr[query_row] : q.indptr[query_row + 1]]
        w = self.doc_weights_
        di = w.indices[w.indptr[doc] : w.indptr[doc + 1]]
        dv = w.data[w.indptr[doc] : w.indptr[doc + 1]]
        common, _, pos = np.intersect1d(qi, di, assume_unique=True, return_indices=True)
        if len(common) == 0:
            return []
        contrib = dv[pos]
        order = np.lexsort((common, -contrib))[: 4 * n]  # deterministic on ties
        return self._shown([str(self.terms_[common[k]]) for k in order], n)
