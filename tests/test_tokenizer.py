"""ChineseTokenizer: domain words, stop words, pickling, jieba's global state, silence."""

from __future__ import annotations

import pickle
import subprocess
import sys
import unicodedata

import jieba
from hypothesis import given
from hypothesis import strategies as st
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import CountVectorizer

from matcher.tokenizer import ChineseTokenizer, default_stop_words, domain_words

SCOPE = (
    "一般项目：工业机器人制造；工业机器人销售；智能机器人的研发；伺服控制机构制造；"
    "货物进出口（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
)


def test_domain_words_stay_whole() -> None:
    tk = ChineseTokenizer(mode="exact")
    assert "专精特新" in tk("支持专精特新小巨人企业发展")
    assert "集成电路" in tk("集成电路设计与芯片封装测试")
    # jieba's own dictionary splits the term the domain dictionary keeps.
    plain = list(jieba.Tokenizer().cut("专精特新小巨人"))
    assert "专精特新" not in plain


def test_search_mode_adds_parts_of_long_words() -> None:
    terms = ChineseTokenizer()("工业机器人制造")
    assert {"工业机器人", "机器人", "工业"} <= set(terms)
    assert terms.index("机器人") < terms.index("工业机器人")  # parts before the whole
    assert "机器人" not in ChineseTokenizer(mode="exact")("工业机器人制造")


def test_boilerplate_and_its_parts_are_dropped() -> None:
    terms = ChineseTokenizer()(SCOPE)
    for word in ("营业执照", "营业", "执照", "一般项目", "经营活动", "依法", "的"):
        assert word not in terms
    assert "伺服" in terms and "进出口" in terms


def test_full_width_and_case_are_normalised() -> None:
    tk = ChineseTokenizer()
    assert tk("５Ｇ通信模组") == tk("5g通信模组")
    assert "5g" in tk("5G通信模组")


def test_stop_words_min_length_and_extra_words_are_parameters() -> None:
    assert "企业" in ChineseTokenizer(stop_words=())("企业")
    assert "企业" not in ChineseTokenizer()("企业")
    assert "车" in ChineseTokenizer(min_length=1, mode="exact")("电动车 车")
    assert "湘江新区" in ChineseTokenizer(extra_words=["湘江新区"], mode="exact")("湘江新区企业")


def test_empty_and_none_give_no_terms() -> None:
    tk = ChineseTokenizer()
    assert tk("") == [] and tk(None) == [] and tk("，。；、") == []


def test_pickle_round_trip_rebuilds_lazily() -> None:
    tk = ChineseTokenizer(extra_words=["湘江新区"])
    before = tk(SCOPE)  # builds the jieba instance, which holds an RLock
    blob = pickle.dumps(tk)
    clone = pickle.loads(blob)
    assert clone._tk is None  # nothing unpicklable travelled
    assert clone == tk and hash(clone) == hash(tk)
    assert clone(SCOPE) == before


def test_never_touches_the_global_jieba_tokenizer() -> None:
    ChineseTokenizer()("专精特新小巨人")
    assert "专精特新" not in jieba.dt.FREQ  # our words went into a private instance
    assert jieba.dt.user_word_tag_tab.get("专精特新") is None


def test_silent_on_import_and_first_use() -> None:
    code = (
        "from matcher.tokenizer import ChineseTokenizer\n"
        "print(ChineseTokenizer()('工业机器人制造'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stderr == ""
    assert "工业机器人" in done.stdout


def test_scikit_learn_tokenizer_parameter() -> None:
    vec = CountVectorizer(tokenizer=ChineseTokenizer(), token_pattern=None, lowercase=False)
    matrix = vec.fit_transform([SCOPE, "集成电路设计；芯片销售"])
    vocab = vec.vocabulary_
    assert matrix[0, vocab["工业机器人"]] == 2  # two licence items name it
    assert matrix[1, vocab["集成电路"]] == 1
    assert "营业执照" not in vocab


def test_works_in_worker_processes() -> None:
    tk = ChineseTokenizer()
    texts = [SCOPE, "集成电路设计", "冷链物流服务"]
    got = Parallel(n_jobs=2, backend="loky")(delayed(tk)(t) for t in texts)
    assert got == [tk(t) for t in texts]


def test_shipped_lists_are_loaded() -> None:
    words = {w for w, _, _ in domain_words()}
    assert {"专精特新", "工业机器人", "集成电路"} <= words
    assert {"有限公司", "营业执照"} <= default_stop_words()


ALPHABET = list("工业机器人制造集成电路的和、；5GＡ企业专精特新 ")


@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=40))
def test_terms_come_from_the_text(text: str) -> None:
    tk = ChineseTokenizer()
    norm = unicodedata.normalize("NFKC", text).lower()
    terms = tk(text)
    assert terms == tk(text)  # deterministic
    for t in terms:
        assert t in norm
        assert len(t) >= 2
        assert t not in default_stop_words()
