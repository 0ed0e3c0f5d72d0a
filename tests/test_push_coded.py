"""The coded verdict path (``matcher.coded``, ``push.outbox.diff``) says what the string
API (``matcher.changes.newly_matched``) says, and its blobs read back — old ones too."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher import coded
from matcher.changes import evaluate_policy, matched_codes, matched_table, newly_matched
from matcher.coded import MatchCodes, concat
from matcher.derive import derive
from matcher.encode import encode
from profiles.reference import size_standard
from push import columnar, snapshots
from push.outbox import diff

AS_OF = dt.date(2026, 6, 30)
POLICIES = ["p1", "p2", "p3"]
UNKNOWNS = ["", "revenue", "revenue | employees", "a | b | c", "unmapped"]
STATUSES = ["eligible", "undetermined", "ineligible"]


@st.composite
def verdicts(draw: Any, with_told: bool) -> pd.DataFrame:
    firms = draw(st.lists(st.sampled_from([f"9143{i:014d}" for i in range(6)]), unique=True,
                          max_size=6))
    rows = []
    for u in firms:
        for p in draw(st.lists(st.sampled_from(POLICIES), unique=True, max_size=3)):
            rows.append({
                "uscc": u, "policy_id": p, "status": draw(st.sampled_from(STATUSES)),
                "amount": draw(st.sampled_from([np.nan, 100_000.0, 250_000.0])),
                "unknown": draw(st.sampled_from(UNKNOWNS)),
                "met": draw(st.sampled_from(["", "纳税信用等级为A/B级", "注册地在长沙市"])),
                "review": "",
                "as_of": AS_OF - dt.timedelta(days=draw(st.integers(0, 40))),
            })
    frame = pd.DataFrame(rows, columns=["uscc", "policy_id", "status", "amount", "unknown",
                                        "met", "review", "as_of"])
    return frame if with_told else frame.drop(columns="as_of")


def _stored(frame: pd.DataFrame) -> MatchCodes:
    m = MatchCodes.from_frame(frame)
    told = np.array([d.toordinal() for d in frame["as_of"]], dtype=np.int64)
    return MatchCodes(**{**m.__dict__, "version": np.ones(len(m), np.int64), "told": told})


@st.composite
def before_after(draw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stored table and a current one that mostly repeats it (unchanged pairs are where
    reminders and versions are decided), with some pairs changed, gone or new."""
    prev = draw(verdicts(with_told=True))
    rows = []
    for r in prev.drop(columns="as_of").to_dict("records"):
        fate = draw(st.sampled_from(["same", "same", "status", "unknown", "gone"]))
        if fate == "status":
            r["status"] = draw(st.sampled_from(STATUSES))
        elif fate == "unknown":
            r["unknown"] = draw(st.sampled_from(UNKNOWNS))
        if fate != "gone":
            rows.append(r)
    extra = draw(verdicts(with_told=False))
    seen = {(r["uscc"], r["policy_id"]) for r in rows}
    rows += [r for r in extra.to_dict("records") if (r["uscc"], r["policy_id"]) not in seen]
    return prev, pd.DataFrame(rows, columns=list(extra.columns))


@settings(max_examples=200, deadline=None)
@given(pair=before_after(), k=st.integers(0, 3), days=st.sampled_from([None, 0, 14]),
       withdrawn=st.lists(st.sampled_from(POLICIES), unique=True, max_size=1),
       ends=st.lists(st.integers(-3, 30), min_size=3, max_size=3))
def test_coded_diff_finds_the_events_newly_matched_finds(
        pair: tuple[pd.DataFrame, pd.DataFrame], k: int, days: int | None,
        withdrawn: list[str], ends: list[int]) -> None:
    prev, cur = pair
    until = {p: AS_OF + dt.timedelta(days=e) for p, e in zip(POLICIES, ends, strict=True)}
    want = newly_matched(prev, cur, k_missing=k, deadline_days=days, as_of=AS_OF,
                         valid_until=until, withdrawn=withdrawn)
    d = diff(_stored(prev), MatchCodes.from_frame(cur), AS_OF, k_missing=k,
             deadline_days=days, valid_until=until, withdrawn=withdrawn)
    from matcher.changes import CAUSES, EVENTS

    rows = d.events.rows
    got = {(str(d.state.uscc[r]), str(d.state.policy_id[r]), EVENTS[kind], CAUSES[c],
            coded.STATUSES[d.before[r]])
           for r, kind, c in zip(rows, d.events.kind, d.events.cause, strict=True)}
    assert got == {(r.uscc, r.policy_id, r.event, r.cause, r.previous_status)
                   for r in want.itertuples()}
    # Every event is written with its pair's new snapshot, and reminders restamp ``told``.
    assert d.write[rows].all()
    remind = rows[d.events.kind == 3]
    assert (d.state.told[remind] == AS_OF.toordinal()).all()


@settings(max_examples=100, deadline=None)
@given(pair=before_after())
def test_versions_move_exactly_when_status_or_open_items_change(
        pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    prev, cur = pair
    d = diff(_stored(prev), MatchCodes.from_frame(cur), AS_OF, k_missing=2,
             deadline_days=None, valid_until={})
    before = {(r.uscc, r.policy_id): r for r in prev.itertuples()}
    now = {(r.uscc, r.policy_id): r for r in cur.itertuples()}
    for i, (u, p) in enumerate(zip(d.state.uscc, d.state.policy_id, strict=True)):
        b, c = before.get((u, p)), now.get((u, p))
        status = c.status if c is not None else "ineligible"
        unknown = c.unknown if c is not None else ""
        moved = b is None or b.status != status or b.unknown != unknown
        assert d.state.version[i] == (2 if moved and b is not None else 1)
        assert coded.STATUSES[d.state.status[i]] == status
        assert str(d.state.unknown[i]) == unknown


def test_codes_round_trip_through_frames_and_concat() -> None:
    a = MatchCodes.from_frame(pd.DataFrame({
        "uscc": ["A", "B"], "policy_id": ["p1", "p1"], "status": ["eligible", "undetermined"],
        "amount": [1.0, np.nan], "unknown": ["", "revenue"], "met": ["x", "y"]}))
    b = MatchCodes.from_frame(pd.DataFrame({
        "uscc": ["C"], "policy_id": ["p2"], "status": ["undetermined"], "amount": [2.0],
        "unknown": ["employees"], "met": ["y"], "review": ["须评审"]}))
    both = concat([a, b]).to_frame()
    assert both["uscc"].tolist() == ["A", "B", "C"]
    assert both["policy_id"].tolist() == ["p1", "p1", "p2"]
    assert both["unknown"].tolist() == ["", "revenue", "employees"]
    assert both["review"].tolist() == ["", "", "须评审"]
    assert both["status"].tolist() == ["eligible", "undetermined", "undetermined"]
    assert concat([a, b]).take(np.array([2, 0])).to_frame()["uscc"].tolist() == ["C", "A"]
    with pytest.raises(ValueError, match="unknown verdict status"):
        coded.status_codes(["eligible", "maybe"])


def test_repeated_texts_share_one_code() -> None:
    """Equal texts must have equal codes: the diff compares codes, not strings."""
    cat = coded.from_codes(np.array([0, 1, 2, 3]), ["a", "", "a", ""])
    assert cat.codes[0] == cat.codes[2] and cat.codes[1] == cat.codes[3]
    assert list(cat) == ["a", "", "a", ""]


def test_matched_codes_spell_out_as_matched_table() -> None:
    from bench.synthetic import AS_OF as SYN_AS_OF
    from bench.synthetic import synthetic_firms, synthetic_policies

    firms = encode(derive(synthetic_firms(3000, seed=5), SYN_AS_OF, size_standard()))
    for policy in synthetic_policies(8, seed=6):
        ev = evaluate_policy(firms, policy, SYN_AS_OF)
        codes = matched_codes(ev, 2)
        table = matched_table(evaluate_policy(firms, policy, SYN_AS_OF), 2)
        pd.testing.assert_frame_equal(codes.to_frame(), table)
        # Eligible rows ask for nothing and leave nothing to a reviewer.
        eligible = codes.status == coded.ELIGIBLE
        assert set(np.asarray(codes.unknown)[eligible]) <= {""}
        assert set(np.asarray(codes.review)[eligible]) <= {""}


def _old_blob(table: pa.Table) -> bytes:
    """A blob as written before dictionary texts and whole-stream zstd (per-buffer zstd,
    plain strings)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema,
                        options=ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("rows", [3, 5000])
def test_blobs_old_and_new_decode_to_the_same_codes(rows: int) -> None:
    rng = np.random.default_rng(rows)
    usccs = np.array([f"91430{i:013d}" for i in range(rows)], dtype=object)
    m = MatchCodes(
        uscc=usccs, policy_id=coded.categorical(["p1"] * rows),
        status=rng.choice([coded.ELIGIBLE, coded.UNDETERMINED], rows).astype(np.int8),
        amount=rng.choice([np.nan, 1e5], rows),
        unknown=coded.categorical(rng.choice(["", "revenue", "营业收入 | 研发费用"], rows)),
        met=coded.categorical(rng.choice(["", "注册地在长沙市"], rows)),
        review=coded.categorical([""] * rows),
        version=rng.integers(1, 4, rows), told=np.full(rows, AS_OF.toordinal()))
    raw = columnar.uscc_bytes(usccs)
    new = snapshots.encode_rows(m, raw)
    old_schema = pa.schema([(f.name, pa.int64() if pa.types.is_integer(f.type) else f.type)
                            for f in snapshots.PLAIN_SCHEMA])  # as 0102 wrote them
    plain = new.cast(old_schema)
    for blob in (columnar.encode(new), _old_blob(plain)):
        back = snapshots.decode(snapshots.as_dictionaries(columnar.decode_table(blob)),
                                m.policy_id)
        pd.testing.assert_frame_equal(snapshots.to_frame(back), snapshots.to_frame(m))
    if rows >= columnar.COMPRESS_FROM_ROWS:
        assert columnar.encode(new)[:4] == b"PMZ1"


def test_uscc_bytes_go_to_arrow_unchanged_and_short_codes_take_the_slow_road() -> None:
    good = np.array(["91430100MA4L16JQ9B", "91430102MA4PBUM13X"], dtype=object)
    raw = columnar.uscc_bytes(good)
    assert columnar.fixed_width(raw)
    assert columnar.uscc_array(raw, good).to_pylist() == list(good)
    short = np.array(["91430100MA4L16JQ9B", "914301"], dtype=object)
    raw = columnar.uscc_bytes(short)
    assert not columnar.fixed_width(raw)
    assert columnar.uscc_array(raw, short).to_pylist() == list(short)


def test_each_blob_carries_only_the_texts_its_rows_use() -> None:
    """One firm against hundreds of policies has thousands of distinct texts; a blob
    holding a few of its rows must not carry all of them."""
    texts = [f"条件{i}：注册地在长沙市" for i in range(500)]
    codes = np.array([3, 3, 7, 400, 401, 401, 12], dtype=np.int32)
    key = np.array([1, 1, 1, 5, 5, 5, 9])
    cat = pd.Categorical.from_codes(codes, pd.Index(texts, dtype=object))
    few = coded.categorical(["", "x", "", "x", "", "", "x"])
    base = pa.table({"n": pa.array(np.arange(7))})
    got = columnar.keyed_tables(base, {"met": cat, "unknown": few}, key, ["n", "met", "unknown"])
    assert [k for k, _ in got] == [1, 5, 9]
    for (_, table), want in zip(got, [[3, 3, 7], [400, 401, 401], [12]], strict=True):
        met = table.column("met").combine_chunks()
        assert len(met.dictionary) == len(set(want))  # the 500 texts are not all there
        assert met.to_pylist() == [texts[i] for i in want]
        assert table.column_names == ["n", "met", "unknown"]
    assert [t.column("unknown").to_pylist() for _, t in got] == [["", "x", ""], ["x", "", ""],
                                                                ["x"]]
