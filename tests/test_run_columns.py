"""Oracle tests: the column-wise validator, CSV encoder and merge agree with slow references."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.errors import RecordError
from profiles.read import normalize_profile, profiles_frame
from runs.columns import frame_from_arrow, valid_uscc_mask
from runs.merge import merge_parts
from runs.outputs import csv_bytes
from tests._run_support import firm_records

GOOD = firm_records(40, seed=8, unknown_rate=0.3)

# Values a platform export really contains, good and bad, per field.
FIELD_VALUES = {
    "uscc": st.one_of(st.sampled_from([r["uscc"] for r in GOOD]),
                      st.sampled_from(["91430102MA4L0000X0", " 91430111000000000x ", "123",
                                       "９１４３", None])),
    "name": st.sampled_from(["甲公司", "  乙公司 ", "", None]),
    "region_code": st.sampled_from(["430102", "430111", "999999", "43011", None, " 430202 "]),
    "industry_code": st.sampled_from(["C3491", "c3491", "Z9999", "F", None]),
    "established_on": st.sampled_from(["2019-03-01", "2019/03/01", "2019-02-30", None,
                                       "2020-01-01 00:00:00"]),
    "employees": st.one_of(st.none(), st.sampled_from([0.0, 12.0, 12.5, -3.0, 1e9])),
    "revenue": st.one_of(st.none(), st.floats(min_value=-1e12, max_value=1e12),
                         st.sampled_from([float("nan"), float("inf")])),
    "layoff_rate": st.one_of(st.none(), st.sampled_from([0.0, 0.05, 1.0, 1.5, -0.1])),
    "tax_credit_rating": st.sampled_from(["A", "b", "A级", "E", None]),
    "listed": st.sampled_from([True, False, None]),
    "qualifications": st.sampled_from([
        None, [], [{"name": "高企"}], [{"name": "未知资质"}, {"name": "科小"}],
        [{"name": "高新技术企业", "level": "national"}],
        [{"name": "高新技术企业", "level": "galactic"}],
        [{"name": "专精特新", "valid_from": "2023-01-01", "valid_until": "2025-12-31"}],
        [{"name": "瞪羚", "valid_from": "2023/01/01"}, {"name": "小巨人", "valid_until": "x"}],
        [{"name": None}],
    ]),
}


def _arrow(rows: list[dict]) -> pa.Table:
    keys = ("name", "level", "valid_from", "valid_until")
    qual = pa.list_(pa.struct([(k, pa.string()) for k in keys]))
    cols = {}
    for k in FIELD_VALUES:
        values = [r.get(k) for r in rows]
        if k == "qualifications":
            values = [None if v is None else [{k: q.get(k) for k in keys} for q in v]
                      for v in values]
            cols[k] = pa.array(values, type=qual)
        elif k in ("employees", "revenue", "layoff_rate"):
            cols[k] = pa.array(values, type=pa.float64())
        elif k == "listed":
            cols[k] = pa.array(values, type=pa.bool_())
        else:
            cols[k] = pa.array(values, type=pa.string())
    return pa.table(cols)


@settings(max_examples=60)
@given(st.lists(st.fixed_dictionaries(FIELD_VALUES), min_size=1, max_size=12))
def test_columnar_validation_equals_the_record_reader(rows: list[dict]) -> None:
    table = _arrow(rows)
    report = frame_from_arrow(table, "t.parquet")
    records, errors = [], []
    warnings: list[RecordError] = []
    seen: set[str] = set()
    for i, raw in enumerate(table.to_pylist()):
        raw = {k: v for k, v in raw.items() if v is not None}
        if isinstance(raw.get("qualifications"), list):
            raw["qualifications"] = [{k: v for k, v in q.items() if v is not None}
                                     for q in raw["qualifications"]]
        try:
            rec = normalize_profile(raw, f"t.parquet:row {i + 1}", warnings)
        except RecordError as e:
            errors.append((e.where, e.field))
            continue
        if rec["uscc"] in seen:
            errors.append((f"t.parquet:row {i + 1}", "uscc"))
            continue
        seen.add(rec["uscc"])
        records.append(rec)
    assert [(e.where, e.field) for e in report.errors] == errors
    bad_rows = {e[0] for e in errors}
    expected_warn = [(w.where, w.field, w.message) for w in warnings]
    got_warn = [(w.where, w.field, w.message) for w in report.warnings]
    assert [w for w in got_warn if w[0] not in bad_rows] == \
        [w for w in expected_warn if w[0] not in bad_rows]
    pd.testing.assert_frame_equal(report.frame, profiles_frame(records))


@given(st.lists(st.sampled_from([r["uscc"] for r in GOOD]) | st.text(
    alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYIOZ", min_size=17, max_size=19), max_size=30))
def test_vectorised_uscc_check_equals_the_reference(codes: list[str]) -> None:
    from profiles.uscc import uscc_problem

    mask = valid_uscc_mask(pa.array(codes, type=pa.string()))
    assert list(mask) == [uscc_problem(c) is None for c in codes]


TEXT = st.text(alphabet=',"\n\r ab中', max_size=6)
PLAIN = st.text(alphabet="0123456789.ABXabeilg", max_size=6)  # codes, statuses, numbers


@given(st.lists(st.tuples(PLAIN, TEXT, PLAIN, PLAIN, TEXT, TEXT, PLAIN), max_size=15))
def test_csv_encoder_equals_pandas(rows: list[tuple[str, ...]]) -> None:
    cols = ["uscc", "policy_id", "status", "amount", "unmet", "unknown", "score"]
    df = pd.DataFrame(rows, columns=cols, dtype=object)
    mine = csv_bytes(pa.Table.from_pandas(df.astype(str), preserve_index=False))
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=False, lineterminator="\n")
    # pandas (the csv module) leaves a lone \r unquoted; RFC 4180 quotes it, and so do we
    if not any("\r" in v and not any(c in v for c in ',"\n') for r in rows for v in r):
        assert mine.decode("utf-8") == buf.getvalue()
    back = pd.read_csv(io.BytesIO(mine), header=None, dtype=str, keep_default_na=False,
                       names=cols, skip_blank_lines=False) if rows else pd.DataFrame()
    assert back.values.tolist() == [list(r) for r in rows]


@settings(max_examples=60)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["p1", "p2", "p10", "q"]),
                                   st.integers(0, 40)), max_size=25), min_size=1, max_size=5),
       st.integers(1, 7))
def test_merge_is_a_sorted_union(tmp_path_factory, parts: list, block: int) -> None:
    d: Path = tmp_path_factory.mktemp("merge")
    paths, expected = [], []
    seen: set[tuple[str, str]] = set()
    for i, rows in enumerate(parts):
        keys = sorted({(p, f"{u:018d}") for p, u in rows} - seen)
        seen |= set(keys)
        expected += keys
        t = pa.table({"uscc": [k[1] for k in keys], "policy_id": [k[0] for k in keys],
                      "part": [str(i)] * len(keys)})
        paths.append(d / f"{i}.parquet")
        pq.write_table(t, paths[-1])
    for ids in (None, ["p1", "p2", "p10", "q"]):  # text keys and compact fixed-width keys
        got = [(p, u) for t in merge_parts(paths, block_rows=block, policy_ids=ids)
               for p, u in zip(t.column("policy_id").to_pylist(), t.column("uscc").to_pylist(),
                               strict=True)]
        assert got == sorted(expected) and len(set(got)) == len(got)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False) |
                st.sampled_from([0.07, 0.57, 1.13, 2.675, 0.1 + 0.2]), min_size=1, max_size=12))
def test_unit_headers_scale_like_the_record_reader(values: list[float]) -> None:
    """营业收入（亿元）: the same yuan as the reader's decimal scaling, not a double product."""
    from profiles.headers import map_header
    from profiles.read import parse_number
    from profiles.uscc import make_uscc

    header = "营业收入（亿元）"
    field, factor = map_header(header)
    table = pa.table({"uscc": [make_uscc("430111", f"MA{i:06d}") for i in range(len(values))],
                      "name": [f"企业{i}" for i in range(len(values))],
                      header: pa.array(values, type=pa.float64())})
    got = frame_from_arrow(table, "t.parquet").frame[field].tolist()
    assert got == [parse_number(v, field, factor, "t") for v in values]
