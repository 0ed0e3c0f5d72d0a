"""The run's published files: CSV (UTF-8 with BOM), Excel for the confirming department, Parquet.

Each writer streams sorted rows (policy_id, then uscc) into a temporary name beside its
target and is renamed into place only by :meth:`commit`, so no reader ever sees half a
list. The bytes depend only on the rows: no timestamps, fixed row-group sizes, fixed
workbook properties — a rerun with the same inputs writes byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matcher.eligibility import Columns
from runs.csv_lines import csv_lines

CSV_COLUMNS: tuple[str, ...] = Columns.ALL
PARQUET_SCHEMA = pa.schema([
    ("uscc", pa.string()), ("policy_id", pa.string()), ("status", pa.string()),
    ("amount", pa.float64()), ("unmet", pa.string()), ("unknown", pa.string()),
    ("score", pa.float64()),
])
PARQUET_ROW_GROUP = 262_144
XLSX_HEADERS: tuple[tuple[str, str, float], ...] = (
    # (row column, Chinese header, column width)
    ("uscc", "统一社会信用代码", 22),
    ("name", "企业名称", 36),
    ("policy_id", "政策编号", 18),
    ("status", "核定状态", 10),
    ("amount", "预计金额（元）", 16),
    ("unmet", "未满足条件", 40),
    ("unknown", "待补充信息", 30),
    ("score", "相关度", 8),
)
STATUS_CN = {"eligible": "符合条件", "undetermined": "待核实"}
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included (last row number)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def temp_beside(path: Path) -> Path:
    """A fresh temporary name in the target's directory (same filesystem: rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; published files follow the umask
    os.close(fd)
    return Path(tmp)


def commit_file(tmp: Path, path: Path) -> None:
    """Flush to disk, then rename into place."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_PLAIN_COLUMNS = frozenset({"uscc", "status", "amount", "score"})


def csv_quote(col: pa.Array) -> pa.Array:
    """RFC 4180 minimal quoting: only fields holding a comma, quote or line break."""
    needs = None
    for ch in (",", '"', "\n", "\r"):  # literal scans: much faster than one regex
        hit = pc.match_substring(col, ch)
        needs = hit if needs is None else pc.or_(needs, hit)
    if not pc.any(needs).as_py():
        return col
    q = pa.scalar('"', col.type)
    quoted = pc.binary_join_element_wise(q, pc.replace_substring(col, '"', '""'), q,
                                         pa.scalar("", col.type))
    return pc.if_else(needs, quoted, col)


def amount_text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Yuan as text, exactly :func:`matcher.eligibility.format_amounts`, built column-wise.

    '' when unknown, whole yuan without a decimal point (within half a fen), else two
    decimals. The two decimals come from integer fen where a product in doubles decides
    the rounding; the rare value too close to half a fen goes through ``%.2f`` itself.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    v = col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    n = len(v)
    known = np.isfinite(v)
    r = np.round(np.where(known, v, 0.0))
    whole = np.abs(np.where(known, v, 0.0) - r) < 0.005
    cents = np.where(known & ~whole, v, 0.0) * 100.0
    fen = np.round(cents)
    hard = known & ~whole & (
        (np.abs(np.abs(cents - fen) - 0.5) <= 1e-9 * np.maximum(np.abs(cents), 1.0))
        | (np.abs(cents) >= 2.0**52))
    fen[hard] = 0.0
    a = np.abs(fen).astype(np.int64)
    digits = pa.array(a // 100, type=pa.int64()).cast(pa.large_string())
    frac = pc.utf8_lpad(pa.array(a % 100, type=pa.int64()).cast(pa.large_string()), 2, "0")
    sign = pc.if_else(pa.array(fen < 0), pa.scalar("-", pa.large_string()),
                      pa.scalar("", pa.large_string()))
    text = pc.if_else(pa.array(whole), pa.array(r.astype(np.int64), type=pa.int64())
                      .cast(pa.large_string()), _join(sign, digits, ".", frac))
    if hard.any():
        exact = np.full(n, "", dtype=object)
        exact[hard] = np.char.mod("%.2f", v[hard]).astype(str).astype(object)
        text = pc.if_else(pa.array(hard), pa.array(exact, type=pa.large_string()), text)
    return pc.if_else(pa.array(known), text, pa.scalar("", pa.large_string()))


def _plain(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array without dictionary encoding (chunks may carry different dictionaries)."""
    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type):
            chunks = [c.dictionary_decode() for c in col.chunks]
            col = pa.chunked_array(chunks, type=col.type.value_type)
        return col.combine_chunks()
    return col.dictionary_decode() if pa.types.is_dictionary(col.type) else col


def text_column(table: pa.Table, name: str, quote: bool = False) -> pa.Array:
    """A column as large_string text ('' for missing/null), CSV-quoted if asked.

    Dictionary columns are quoted on their (small) dictionaries, numbers (the amount)
    formatted as the list writes yuan; a column the table lacks (score) is empty.
    """
    n = table.num_rows
    if name not in table.column_names:
        return pa.repeat(pa.scalar("", pa.large_string()), n)
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        pieces = []
        for chunk in col.chunks:
            d = pc.fill_null(chunk.dictionary.cast(pa.large_string()), "")
            pieces.append((csv_quote(d) if quote else d).take(chunk.indices))
        out = pa.chunked_array(pieces, type=pa.large_string()).combine_chunks() \
            if pieces else pa.array([], type=pa.large_string())
        return pc.fill_null(out, "")
    if pa.types.is_floating(col.type):
        return amount_text(col)
    out = pc.fill_null(col.combine_chunks().cast(pa.large_string()), "")
    return csv_quote(out) if quote else out


def csv_bytes(table: pa.Table, columns: tuple[str, ...] = CSV_COLUMNS) -> bytes:
    """The CSV lines (``\\n``-terminated, no header) of a table (text, codes or an amount)."""
    # codes, statuses and numbers never hold a comma, quote or line break
    quoted = frozenset(c for c in columns if c not in _PLAIN_COLUMNS)
    return csv_lines(table, columns, quoted, csv_quote).tobytes()


def text_rows(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The table's ``columns`` as plain text (what a reader of the list sees)."""
    return pa.Table.from_arrays([text_column(table, c) for c in columns], names=list(columns))


class CsvWriter:
    """DATA.md §5 CSV, UTF-8 with BOM (so Excel shows Chinese), written as rows stream in."""

    def __init__(self, path: Path, columns: tuple[str, ...] = CSV_COLUMNS) -> None:
        import hashlib

        self.path = path
        self.columns = columns
        self.tmp = temp_beside(path)
        self.fh = self.tmp.open("wb")
        self.digest = hashlib.sha256()  # of the bytes written: no second read for the manifest
        self.size = 0
        self._put(("\ufeff" + ",".join(columns) + "\n").encode("utf-8"))

    def _put(self, data: bytes | np.ndarray) -> None:
        # A numba-built byte array is written through its buffer, without a copy.
        view = memoryview(data) if isinstance(data, bytes) else data.data
        self.fh.write(view)
        self.digest.update(view)
        self.size += len(data)

    def write(self, table: pa.Table) -> None:
        quoted = frozenset(c for c in self.columns if c not in _PLAIN_COLUMNS)
        self._put(csv_lines(table, self.columns, quoted, csv_quote))

    def commit(self) -> None:
        self.fh.close()
        commit_file(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def typed_rows(table: pa.Table) -> pa.Table:
    """§5 rows with numbers as numbers: amount and score float64, empty → null."""
    arrays = []
    for f in PARQUET_SCHEMA:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = _plain(table.column(f.name))
        if f.type == pa.float64() and not pa.types.is_floating(col.type):
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        arrays.append(col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA)


class ParquetRowsWriter:
    """Parquet for analysts; fixed-size row groups so the bytes do not depend on chunking."""

    def __init__(self, path: Path, row_group: int = PARQUET_ROW_GROUP) -> None:
        self.path = path
        self.tmp = temp_beside(path)
        self.row_group = row_group
        self.writer = pq.ParquetWriter(self.tmp, PARQUET_SCHEMA, compression="zstd",
                                       write_statistics=True)
        self.pending: list[pa.Table] = []
        self.n_pending = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.pending.append(typed_rows(table))
        self.n_pending += table.num_rows
        while self.n_pending >= self.row_group:
            buf = pa.concat_tables(self.pending)
            self.writer.write_table(buf.slice(0, self.row_group), row_group_size=self.row_group)
            rest = buf.slice(self.row_group)
            self.pending = [rest] if rest.num_rows else []
            self.n_pending = rest.num_rows

    def commit(self) -> None:
        if self.n_pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=self.row_group)
        self.writer.close()
        commit_file(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def sheet_names(policy_ids: list[str]) -> dict[str, str]:
    """Excel-safe, unique sheet names (≤ 31 characters, no []:*?/\\) for the policy ids."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for pid in policy_ids:
        base = _SHEET_BAD.sub("_", pid)[:31] or "policy"
        name, k = base, 2
        while name.lower() in used:
            suffix = f"~{k}"
            name, k = base[: 31 - len(suffix)] + suffix, k + 1
        used.add(name.lower())
        out[pid] = name
    return out


_CELL_LETTERS = "ABCDEFGH"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_BAD_XML = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"


def _xml_text(col: pa.Array) -> pa.Array:
    """Text escaped for an XML text node; characters XML cannot hold are dropped."""
    if pc.any(pc.match_substring_regex(col, _BAD_XML)).as_py():
        col = pc.replace_substring_regex(col, _BAD_XML, "")
    for raw, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(col, raw)).as_py():
            col = pc.replace_substring(col, raw, esc)
    return col


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literals (large_string)."""
    arrays = [p if isinstance(p, pa.Array | pa.ChunkedArray) else pa.scalar(p, pa.large_string())
              for p in parts]
    return pc.binary_join_element_wise(*arrays, pa.scalar("", pa.large_string()))


def _buffer_bytes(arr: pa.Array) -> bytes:
    arr = arr.cast(pa.large_string())
    if len(arr) == 0:
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    return arr.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]


SUMMARY_SHEET = "汇总"


class XlsxWriter:
    """A summary sheet (``汇总``: per policy, firms eligible and to verify, the amount
    total), then one sheet per policy with Chinese headers, for the department that
    confirms the list.

    The workbook is written directly as SpreadsheetML (a zip of XML parts), with every row
    built column-wise in Arrow — a per-cell writer needs minutes for millions of rows.
    Amounts are number cells with a money format (so the department can sum them); text
    is inline. A policy with more rows than a sheet holds continues on sheets named
    ``<id>~p2`` …. Rows arrive sorted by policy, so sheets are written one after another.
    Zip entries carry a fixed date and the workbook's creation time is the evaluation
    date: the file is byte-identical on rerun.
    """

    def __init__(self, path: Path, policies: list[tuple[str, str]], as_of: dt.date) -> None:
        import zipfile

        self.path = path
        self.tmp = temp_beside(path)
        self.as_of = as_of
        self.policies = [pid for pid, _ in policies]
        self.titles = dict(policies)
        self.names = sheet_names(self.policies)
        self.zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                   compresslevel=1, allowZip64=True)
        self.sheets: list[str] = []  # sheet names in workbook order
        self.next = 0  # index of the next policy without a sheet
        self.current: str | None = None  # policy whose sheet is open
        self.fh: Any = None
        self.row = 0
        self.part = 1
        # Per policy: rows eligible, rows undetermined, sum of the amounts (the summary
        # sheet a department opens first; a policy's own sheet may well be empty).
        self.totals: dict[str, list[float]] = {pid: [0, 0, 0.0] for pid in self.policies}

    def _entry(self, name: str) -> Any:
        import zipfile

        info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def _open_sheet(self, name: str) -> None:
        self.sheets.append(name)
        self.fh = self.zip.open(self._entry(f"xl/worksheets/sheet{len(self.sheets)}.xml"), "w",
                                force_zip64=True)
        widths = "".join(f'<col min="{j + 1}" max="{j + 1}" width="{w}" customWidth="1"/>'
                         for j, (_, _, w) in enumerate(XLSX_HEADERS))
        header = "".join(
            f'<c r="{_CELL_LETTERS[j]}1" s="1" t="inlineStr"><is><t>{h}</t></is></c>'
            for j, (_, h, _) in enumerate(XLSX_HEADERS))
        self.fh.write((
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
            f'<cols>{widths}</cols><sheetData><row r="1">{header}</row>'
        ).encode())
        self.row = 1

    def _close_sheet(self) -> None:
        if self.fh is not None:
            self.fh.write(b"</sheetData></worksheet>")
            self.fh.close()
            self.fh = None

    def _advance_to(self, pid: str | None) -> None:
        """Close the open sheet and open (empty) sheets up to policy ``pid`` (None: all)."""
        self._close_sheet()
        while self.next < len(self.policies):
            nxt = self.policies[self.next]
            self.next += 1
            self._open_sheet(self.names[nxt])
            self.current, self.part = nxt, 1
            if nxt == pid:
                return
            self._close_sheet()
        self.current = None

    def _rows_xml(self, t: pa.Table, first_row: int) -> bytes:
        n = t.num_rows
        r = pa.array(np.arange(first_row, first_row + n).astype(str), type=pa.large_string())
        cells = []
        for j, (col, _, _) in enumerate(XLSX_HEADERS):
            v = t.column(col).combine_chunks().cast(pa.large_string())
            ref = _join(f'<c r="{_CELL_LETTERS[j]}', r)
            if col in ("amount", "score"):
                cell = _join(ref, '" s="2"><v>' if col == "amount" else '"><v>', v, "</v></c>")
            else:
                if col == "status":
                    v = pc.if_else(pc.equal(v, "eligible"), STATUS_CN["eligible"],
                                   pc.if_else(pc.equal(v, "undetermined"),
                                              STATUS_CN["undetermined"], v))
                    v = v.cast(pa.large_string())
                cell = _join(ref, '" t="inlineStr"><is><t xml:space="preserve">', _xml_text(v),
                             "</t></is></c>")
            cells.append(pc.if_else(pc.equal(v, ""), pa.scalar("", pa.large_string()), cell))
        rows = _join(_join('<row r="', r, '">'), *cells, "</row>")
        return _buffer_bytes(rows)

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = text_rows(table, tuple(c for c, _, _ in XLSX_HEADERS))
        pids = table.column("policy_id").combine_chunks()
        # rows are sorted by policy: split the block where the policy changes
        values = pids.to_numpy(zero_copy_only=False)
        cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(values)], strict=True):
            pid = values[lo]
            if pid != self.current:
                self._advance_to(pid)
            block = table.slice(int(lo), int(hi - lo))
            self._count(pid, block)
            while block.num_rows:
                room = XLSX_MAX_ROWS - self.row
                if room == 0:
                    self._close_sheet()
                    self.part += 1
                    suffix = f"~p{self.part}"
                    self._open_sheet(self.names[pid][: 31 - len(suffix)] + suffix)
                    continue
                take = block.slice(0, room)
                self.fh.write(self._rows_xml(take, self.row + 1))
                self.row += take.num_rows
                block = block.slice(take.num_rows)

    def _count(self, pid: str, block: pa.Table) -> None:
        status = block.column("status").combine_chunks()
        amount = block.column("amount").combine_chunks()
        amount = pc.if_else(pc.equal(amount, ""), pa.scalar(None, amount.type), amount)
        total = self.totals.setdefault(pid, [0, 0, 0.0])
        total[0] += pc.sum(pc.equal(status, "eligible")).as_py() or 0
        total[1] += pc.sum(pc.equal(status, "undetermined")).as_py() or 0
        total[2] += pc.sum(amount.cast(pa.float64())).as_py() or 0.0

    def _summary_sheet(self) -> None:
        """The first sheet: one row per policy with its counts and amount total."""
        name = SUMMARY_SHEET if SUMMARY_SHEET not in self.sheets else f"{SUMMARY_SHEET}~"
        self.sheets.append(name)
        heads = ("政策编号", "政策名称", "符合条件（家）", "待核实（家）", "预计金额合计（元）")
        widths = (22, 48, 14, 14, 20)
        cols = "".join(f'<col min="{j + 1}" max="{j + 1}" width="{w}" customWidth="1"/>'
                       for j, w in enumerate(widths))
        rows = ['<row r="1">' + "".join(
            f'<c r="{_CELL_LETTERS[j]}1" s="1" t="inlineStr"><is><t>{h}</t></is></c>'
            for j, h in enumerate(heads)) + "</row>"]
        for r, pid in enumerate(self.policies, start=2):
            eligible, undetermined, amount = self.totals.get(pid, [0, 0, 0.0])
            text = [pid, self.titles.get(pid) or ""]
            cells = [f'<c r="{_CELL_LETTERS[j]}{r}" t="inlineStr"><is><t xml:space="preserve">'
                     f'{_escape(v)}</t></is></c>' for j, v in enumerate(text)]
            cells += [f'<c r="{_CELL_LETTERS[j]}{r}"><v>{int(v)}</v></c>'
                      for j, v in ((2, eligible), (3, undetermined))]
            cells.append(f'<c r="{_CELL_LETTERS[4]}{r}" s="2"><v>{round(amount, 2)!r}</v></c>')
            rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        with self.zip.open(self._entry(f"xl/worksheets/sheet{len(self.sheets)}.xml"),
                           "w") as fh:
            fh.write((
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                f'<cols>{cols}</cols><sheetData>{"".join(rows)}</sheetData></worksheet>'
            ).encode())

    def _package(self) -> None:
        z = self.zip
        # The summary is the last part written but the first sheet shown.
        order = [len(self.sheets), *range(1, len(self.sheets))]
        sheets = "".join(
            f'<sheet name="{_escape(self.sheets[i - 1])}" sheetId="{i}" r:id="rId{i}"/>'
            for i in order)
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/'
            f'2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self.sheets) + 1))
        n = len(self.sheets)
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1))
        created = f"{self.as_of.isoformat()}T00:00:00Z"
        parts = {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
                'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/vnd.'
                'openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                '<Override PartName="/docProps/core.xml" ContentType="application/vnd.'
                'openxmlformats-package.core-properties+xml"/>'
                '<Override PartName="/docProps/app.xml" ContentType="application/vnd.'
                f'openxmlformats-officedocument.extended-properties+xml"/>{overrides}</Types>'),
            "_rels/.rels": (
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
                'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
                '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/'
                '2006/relationships/extended-properties" Target="docProps/app.xml"/>'
                '</Relationships>'),
            "docProps/core.xml": (
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
                'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
                'XMLSchema-instance"><dc:title>免申即享名单</dc:title><dc:creator>policy-match'
                f'</dc:creator><dc:description>as_of {self.as_of.isoformat()}</dc:description>'
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>'
                f'<dcterms:modified xsi:type="dcterms:W3CDTF">{created}</dcterms:modified>'
                '</cp:coreProperties>'),
            "docProps/app.xml": (
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                'extended-properties"><Application>policy-match</Application></Properties>'),
            "xl/workbook.xml": (
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets>{sheets}</sheets></workbook>'),
            "xl/_rels/workbook.xml.rels": (
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                f'relationships">{rels}<Relationship Id="rId{n + 1}" Type="http://schemas.'
                'openxmlformats.org/officeDocument/2006/relationships/styles" '
                'Target="styles.xml"/></Relationships>'),
            "xl/styles.xml": (
                '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                '<numFmts count="1"><numFmt numFmtId="164" formatCode="#,##0.00"/></numFmts>'
                '<fonts count="2"><font><sz val="11"/><name val="等线"/></font>'
                '<font><b/><sz val="11"/><name val="等线"/></font></fonts>'
                '<fills count="3"><fill><patternFill patternType="none"/></fill>'
                '<fill><patternFill patternType="gray125"/></fill>'
                '<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/>'
                '<bgColor indexed="64"/></patternFill></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
                '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
                'borderId="0"/></cellStyleXfs><cellXfs count="3">'
                '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
                '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" '
                'applyFill="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
                'applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle '
                'name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
        }
        for name, text in parts.items():
            z.writestr(self._entry(name),
                       '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text)

    def commit(self) -> None:
        self._advance_to(None)  # sheets for the policies after the last listed row
        self._summary_sheet()
        self._package()
        self.zip.close()
        commit_file(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._close_sheet()
            self.zip.close()
        finally:
            self.tmp.unlink(missing_ok=True)
