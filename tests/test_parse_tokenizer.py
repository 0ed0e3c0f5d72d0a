"""PolicyTokenizer: domain words whole, spans exact, jieba's global state untouched, picklable."""

from __future__ import annotations

import logging
import pickle

import jieba

from policies.parse.parser import default_tokenizer
from policies.parse.tokenizer import PolicyTokenizer

TEXT = (
    "专精特新“小巨人”企业和科技型中小企业享受研发费用加计扣除，"
    "规上工业企业免申即享，制造业单项冠军示范企业除外"
)


def test_domain_words_are_single_tokens() -> None:
    tokens = PolicyTokenizer()(TEXT)
    for word in (
        "专精特新",
        "小巨人",
        "科技型中小企业",
        "研发费用加计扣除",
        "规上工业企业",
        "免申即享",
        "制造业单项冠军示范企业",
    ):
        assert word in tokens, word
    # so 中小企业 is not read inside 科技型中小企业
    assert "中小企业" not in tokens


def test_spans_are_exact() -> None:
    for word, start, end in default_tokenizer().tokenize(TEXT):
        assert TEXT[start:end] == word


def test_global_jieba_untouched() -> None:
    before = jieba.lcut("科技型中小企业申报专精特新中小企业")
    PolicyTokenizer(extra_words=["申报专精"]).tokenize("x")
    assert jieba.lcut("科技型中小企业申报专精特新中小企业") == before
    assert jieba.dt.FREQ.get("申报专精") is None


def test_pickle_round_trip_rebuilds() -> None:
    tk = PolicyTokenizer(extra_words=["稳岗返还资金"])
    first = tk(TEXT + "稳岗返还资金")
    clone = pickle.loads(pickle.dumps(tk))
    assert clone._jieba is None  # dropped when pickled, rebuilt on use
    assert clone(TEXT + "稳岗返还资金") == first


def test_build_is_silent_and_restores_the_logger(capfd) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("jieba")
    logger.setLevel(logging.DEBUG)
    PolicyTokenizer(extra_words=["静默测试词"]).tokenize("静默测试词")
    assert "Building prefix dict" not in capfd.readouterr().err
    assert logger.level == logging.DEBUG


def test_same_segmentation_as_loading_the_file_into_jieba() -> None:
    """The parser's instance comes from the project's one jieba setup
    (``matcher.tokenizer.private_jieba``) with the dictionary read line by line; it must cut
    every policy text exactly as jieba loading that file itself does."""
    import json
    from pathlib import Path

    from policies.parse.industries import industry_words
    from policies.parse.tokenizer import user_dictionary_path

    direct = jieba.Tokenizer()
    direct.initialize()
    direct.load_userdict(user_dictionary_path())
    words = industry_words()
    for w in words:
        direct.add_word(w, 20000)
    ours = PolicyTokenizer(extra_words=words)
    samples = Path(__file__).resolve().parents[1] / "samples" / "policies.jsonl"
    texts = [json.loads(line)["text"] for line in samples.read_text("utf-8").splitlines()
             if line.strip()]
    assert len(texts) >= 5
    for text in [TEXT, *texts]:
        assert ours.tokenize(text) == list(direct.tokenize(text, HMM=False))
