"""The analysts' tuning notebook runs top to bottom on the repository's data (nbclient).

It loads the labelled relevance set and ``samples/``, grid-searches, plots with Chinese
labels and shows recommendations. The test executes it in a real Jupyter kernel and
checks what an analyst would see: no error, the two figures, no missing-glyph warning (a
CJK font is in use, not boxes), and the held-out comparison.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "tuning.ipynb"


def _outputs(nb: nbformat.NotebookNode, kind: str) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if kind == "png" and "image/png" in o.get("data", {}):
                out.append(o["data"]["image/png"])
            elif kind == "stdout" and o.get("name") == "stdout":
                out.append(o["text"])
            elif kind == "stderr" and o.get("name") == "stderr":
                out.append(o["text"])
            elif kind == "text" and "text/plain" in o.get("data", {}):
                out.append(o["data"]["text/plain"])
    return out


def test_tuning_notebook_runs_and_renders_chinese() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = NotebookClient(
        nb, timeout=1800, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell

    stderr = "".join(_outputs(nb, "stderr"))
    assert "missing from font" not in stderr and "Glyph" not in stderr, stderr
    assert len(_outputs(nb, "png")) == 2  # weight curve and per-sector bars
    text = "\n".join(_outputs(nb, "text"))
    assert "Noto Sans SC" in text  # the CJK font is the one in use
    stdout = "".join(_outputs(nb, "stdout"))
    assert "204 firms (102 tune, 102 test), 65 policies" in stdout
    line = next(s for s in stdout.splitlines() if s.startswith("hybrid "))
    hybrid, best = float(line.split()[1]), float(line.split()[-1])
    assert hybrid > best, line
    assert "湖南" in text  # the sample firms' recommendations are shown
