"""Read a policy document as published (.txt, .html, .docx, .pdf) into plain text.

Government pages wrap the policy in menus, breadcrumbs and footers; only the article body
is policy text. Word files keep tables (申报条件 often sit in one). PDFs are read from their
text layer: a scanned PDF has none, and that is said plainly rather than returning an
empty policy that would look like "no conditions".
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from matcher.errors import PolicyMatchError
from policies.parse.header import _HEADER_LINE, _LABELS

SUPPORTED = (".txt", ".text", ".md", ".html", ".htm", ".shtml", ".xhtml", ".docx", ".pdf")


class DocumentError(PolicyMatchError):
    """A document that cannot be read as policy text; the message names the file."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


def read_document(path: str | Path) -> str:
    """The policy text of ``path``, by its extension.

    Raises
    ------
    DocumentError
        Unreadable, empty, binary (not text), a .pdf without a text layer, or an
        unsupported format.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DocumentError(path, f"cannot read ({e.strerror or e})") from None
    if not data.strip():
        raise DocumentError(path, "empty file: no policy text")
    ext = path.suffix.lower()
    if ext in (".html", ".htm", ".shtml", ".xhtml"):
        text = html_text(_decode(path, data))
    elif ext == ".docx":
        text = docx_text(path, data)
    elif ext == ".pdf":
        text = pdf_text(path, data)
    elif ext in (".txt", ".text", ".md", ""):
        text = _decode(path, data)
    else:
        raise DocumentError(
            path, f"unsupported format {ext!r}; use one of {', '.join(SUPPORTED)}"
        )
    text = normalize_text(text)
    if not text.strip():
        raise DocumentError(path, "no policy text found in the document")
    return text


def normalize_text(text: str) -> str:
    """Unix newlines, no trailing blanks, at most one empty line in a row; characters kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ")
    text = text.replace("\xa0", " ").replace("\ufeff", "")
    lines = [ln.rstrip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if not ln and out and not out[-1]:
            continue
        out.append(ln)
    return "\n".join(out).strip() + "\n"


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (many government sites); binary refused."""
    if b"\x00" in data[:8192]:
        raise DocumentError(path, "binary file, not text (a NUL byte found)")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text
    raise DocumentError(path, "binary file or unknown encoding: not UTF-8 or GB18030 text")


def _looks_like_text(text: str) -> bool:
    sample = text[:4000]
    if not sample:
        return False
    bad = sum(1 for c in sample
              if (ord(c) < 32 and c not in "\n\r\t\f") or 0xE000 <= ord(c) <= 0xF8FF)
    return bad / len(sample) < 0.02


_NOISE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form",
               "iframe", "button", "select", "svg")
_NOISE_WORDS = re.compile(
    r"nav|menu|header|footer|breadcrumb|crumb|sidebar|share|toolbar|banner|copyright|"
    r"login|search|position|location|dh|daohang", re.I)
_CONTENT_WORDS = re.compile(
    r"TRS_Editor|TRS_UEDITOR|zoom|article|content|main|zwnr|xxgk|detail|text|body", re.I)
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
           "section", "article", "dd", "dt", "ul", "ol", "blockquote"}
# A table row is one line with its cells side by side (从业人员 | 100人以上 reads as one
# requirement), as docx tables are read; a cell holding paragraphs still breaks at them.
_CELLS = {"td", "th"}


def html_text(markup: str) -> str:
    """The article text of a government web page: menus, scripts and footers left out.

    The body is the element with the most text that is not mostly links; ``<meta>``
    tags that Chinese government sites carry (ArticleTitle, PubDate, ContentSource)
    become the header lines the parser reads (标题/发布机关/日期).
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    meta = {
        str(m.get("name") or m.get("property") or "").lower(): str(m.get("content") or "").strip()
        for m in soup.find_all("meta")
    }
    title = meta.get("articletitle") or (soup.title.get_text(strip=True) if soup.title else "")
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        title = h1.get_text(strip=True)
    issuer = meta.get("contentsource") or meta.get("author") or ""
    date = meta.get("pubdate") or meta.get("publishdate") or ""
    for tag in soup(_NOISE_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None:
            continue
        ident = " ".join([str(tag.get("id") or ""), *(tag.get("class") or [])])
        if ident.strip() and _NOISE_WORDS.search(ident) and not _CONTENT_WORDS.search(ident):
            tag.decompose()
    body = _main_block(soup)
    text = _block_text(body) if body is not None else ""
    header: list[str] = []
    if title:
        header.append(f"标题：{title}")
    if issuer:
        header.append(f"发布机关：{issuer}")
    if date:
        header.append(f"日期：{date[:10]}")
    if title and text.lstrip().startswith(title):
        text = text.lstrip()[len(title):]
    header, text = _leading_labels(header, text)
    return "\n".join(header) + ("\n\n" if header else "") + text


def _leading_labels(header: list[str], text: str) -> tuple[list[str], str]:
    """Labelled lines (发布机关：… 发布日期：…) that open the article join the header.

    Pages print them as paragraphs under the heading; left in the body, after the blank
    line that ends the header, they would not be read as the issuer and date at all.
    """
    lines = text.split("\n")
    have = {m.group(1) for h in header if (m := _HEADER_LINE.match(h))}
    keys = {_LABELS[k] for k in have}
    taken = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        m = _HEADER_LINE.match(line)
        if m is None or i > 12:
            break
        if _LABELS[m.group(1)] not in keys:
            header.append(line.strip())
            keys.add(_LABELS[m.group(1)])
        taken = i + 1
    return header, "\n".join(lines[taken:])


def _main_block(soup: object) -> object | None:
    from bs4 import Tag

    best: Tag | None = None
    best_score = 0.0
    for tag in soup.find_all(["article", "main", "div", "td", "section", "body"]):  # type: ignore[attr-defined]
        text = tag.get_text("", strip=True)
        n = len(text)
        if n < 20:
            continue
        links = sum(len(a.get_text("", strip=True)) for a in tag.find_all("a"))
        density = links / n
        if density > 0.5:
            continue
        ident = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
        bonus = 1.5 if ident.strip() and _CONTENT_WORDS.search(ident) else 1.0
        # prefer the innermost block that still holds most of the text
        score = n * (1 - density) * bonus
        inner = best is not None and best in tag.parents and score >= best_score * 0.85
        if score > best_score * 1.15 or inner:
            best, best_score = tag, score
    return best


def _block_text(tag: object) -> str:
    from bs4 import NavigableString, Tag

    parts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, NavigableString):
            parts.append(str(node))
            return
        if not isinstance(node, Tag):
            return
        block = node.name in _BLOCKS
        if block:
            parts.append("\n")
        elif node.name in _CELLS:
            parts.append(" ")
        for child in node.children:
            walk(child)
        if block:
            parts.append("\n")

    walk(tag)
    text = "".join(parts)
    text = re.sub(r"[ \t]+", " ", text)
    return "\n".join(ln.strip() for ln in text.split("\n"))


def docx_text(path: Path, data: bytes) -> str:
    """Paragraphs and table cells of a Word file, in document order."""
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        doc = docx.Document(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - python-docx raises many types for bad files
        raise DocumentError(path, f"not a readable .docx file ({type(e).__name__}: {e})") from None
    lines: list[str] = []
    for block in doc.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = cell.text.strip()
                    if t and (not cells or cells[-1] != t):
                        cells.append(t)
                lines.append(" ".join(cells))
    return "\n".join(lines)


def pdf_text(path: Path, data: bytes) -> str:
    """The text layer of a PDF; a scan (no text layer) is refused with that reason."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001
                raise DocumentError(path, "encrypted PDF: cannot read its text") from None
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except Exception as e:  # noqa: BLE001 - pypdf raises many types for broken files
        raise DocumentError(path, f"not a readable PDF ({type(e).__name__}: {e})") from None
    text = "\n".join(pages)
    if not text.strip():
        raise DocumentError(
            path,
            f"PDF has no text layer ({len(pages)} page(s) of images, e.g. a scan): "
            "run OCR first or supply the text",
        )
    return text
