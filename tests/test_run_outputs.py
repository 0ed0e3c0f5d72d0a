"""The Excel workbook for the confirming department: sheets, names, escaping, splitting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

import runs.outputs as outputs
from runs.outputs import XlsxWriter, sheet_names

AS_OF = dt.date(2025, 6, 30)


def rows(items: list[tuple[str, str, str, str, str]]) -> pa.Table:
    cols = ["uscc", "policy_id", "status", "amount", "unmet", "unknown", "score", "name"]
    data = {c: [] for c in cols}
    for pid, uscc, status, amount, name in items:
        for c, v in zip(cols, [uscc, pid, status, amount, "", "", "", name], strict=True):
            data[c].append(v)
    return pa.table({c: pa.array(v, type=pa.string()) for c, v in data.items()})


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20, unique=True))
def test_sheet_names_are_unique_and_valid(ids: list[str]) -> None:
    names = sheet_names(ids)
    assert len({n.lower() for n in names.values()}) == len(ids)
    for n in names.values():
        assert 1 <= len(n) <= 31 and not set(n) & set("[]:*?/\\")


def test_one_sheet_per_policy_in_order_with_escaped_text(tmp_path: Path) -> None:
    w = XlsxWriter(tmp_path / "x.xlsx", [("a", ""), ("b/c", ""), ("d", ""), ("e", "")], AS_OF)
    w.write(rows([("a", "U1", "eligible", "100.5", "A&B <公司>\x07"),
                  ("b/c", "U2", "undetermined", "", "乙")]))
    w.write(rows([("d", "U3", "eligible", "7", "丙")]))
    w.commit()
    wb = load_workbook(tmp_path / "x.xlsx")
    # The summary first; e has no rows: an empty sheet, kept.
    assert wb.sheetnames == ["汇总", "a", "b_c", "d", "e"]
    summary = list(wb["汇总"].iter_rows(values_only=True))[1:]
    assert [r[0] for r in summary] == ["a", "b/c", "d", "e"]
    assert [r[2:] for r in summary] == [(1, 0, 100.5), (0, 1, 0), (1, 0, 7), (0, 0, 0)]
    assert wb["汇总"]["E2"].number_format == "#,##0.00"
    a = list(wb["a"].iter_rows(values_only=True))
    assert a[0][0] == "统一社会信用代码" and a[1][1] == "A&B <公司>" and a[1][4] == 100.5
    assert wb["a"]["E2"].number_format == "#,##0.00"
    b = list(wb["b_c"].iter_rows(values_only=True))
    assert b[1][3] == "待核实" and b[1][4] is None
    assert list(wb["e"].iter_rows(values_only=True))[1:] == []
    assert wb.properties.created == dt.datetime(2025, 6, 30)


def test_a_long_list_continues_on_further_sheets(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "XLSX_MAX_ROWS", 4)  # header + 3 rows per sheet
    w = XlsxWriter(tmp_path / "x.xlsx", [("p", ""), ("q", "")], AS_OF)
    w.write(rows([("p", f"U{i}", "eligible", str(i), "x") for i in range(5)]))
    w.write(rows([("p", "U5", "eligible", "5", "x"), ("p", "U6", "eligible", "6", "x"),
                  ("q", "V", "eligible", "1", "y")]))
    w.commit()
    wb = load_workbook(tmp_path / "x.xlsx")
    assert wb.sheetnames == ["汇总", "p", "p~p2", "p~p3", "q"]
    got = [r[0] for s in ("p", "p~p2", "p~p3") for r in
           list(wb[s].iter_rows(values_only=True))[1:]]
    assert got == [f"U{i}" for i in range(7)]


def test_workbook_bytes_do_not_depend_on_how_rows_arrive(tmp_path: Path) -> None:
    items = [("a", f"U{i}", "eligible", str(i), "名") for i in range(6)]
    for k, blocks in enumerate(([items], [items[:1], items[1:4], items[4:]])):
        w = XlsxWriter(tmp_path / f"{k}.xlsx", [("a", ""), ("b", "")], AS_OF)
        for b in blocks:
            w.write(rows(b))
        w.commit()
    assert (tmp_path / "0.xlsx").read_bytes() == (tmp_path / "1.xlsx").read_bytes()
