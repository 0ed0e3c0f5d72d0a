"""Helpers for the parser tests: where the shared corpus is, and small document builders.

The shared corpus lives beside the repository (``../shared/corpus``), as on every
developer machine and in CI; a missing corpus is a setup error, reported as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
GOLDEN = Path(__file__).resolve().parent / "golden"
EXTRA = GOLDEN / "extra"


def corpus_dir() -> Path:
    """``../shared/corpus``; fails with a clear message when the checkout lacks it."""
    if not (CORPUS / "gold.jsonl").is_file() or not (CORPUS / "policies").is_dir():
        raise FileNotFoundError(
            f"shared corpus not found at {CORPUS}: the tests expect a copy of shared/ "
            "next to the repository (../shared/corpus/gold.jsonl and ../shared/corpus/policies)"
        )
    return CORPUS


def load_gold(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def leaves(node: Any) -> list[dict[str, Any]]:
    if node is None:
        return []
    if "field" in node:
        return [node]
    out: list[dict[str, Any]] = []
    for key in ("all", "any"):
        for c in node.get(key, []):
            out.extend(leaves(c))
    if "not" in node:
        out.extend(leaves(node["not"]))
    return out


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (CJK through a ToUnicode map).

    The font is a CID font with Identity-H encoding and no embedded glyphs: viewers may
    draw boxes, but the text layer is exact, which is what a text-layer reader needs.
    """
    content = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
    for ln in lines:
        content.append("<" + "".join(f"{ord(c):04X}" for c in ln) + "> Tj T*")
    content.append("ET")
    stream = "\n".join(content).encode("ascii")
    cmap = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        "1 beginbfrange\n<0000> <FFFF> <0000>\nendbfrange\n"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        b"/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor 8 0 R /DW 1000 >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 4 "
        b"/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 700 /StemV 80 >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def pdf_without_text() -> bytes:
    """A valid one-page PDF with nothing on the page (what a scan's text layer looks like)."""
    import io

    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
