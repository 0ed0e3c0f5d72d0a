"""The import direction of STYLE.md: matcher is pure and depends on nothing of ours above it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Layers from the bottom up; a package may import only from its own layer or below.
LAYERS = [{"matcher"}, {"profiles", "policies", "embeddings"}, {"store", "runs"},
          {"push", "api", "cli"}]
OURS = set().union(*LAYERS)
# Modules that mean I/O, networking, databases or the clock of the process.
IMPURE = {"os", "io", "pathlib", "sqlite3", "socket", "http", "urllib", "requests", "httpx",
          "sqlalchemy", "psycopg", "subprocess", "shutil", "tempfile", "builtins", "logging",
          "tqdm", "fastapi", "smtplib", "dask", "distributed", "sentence_transformers", "torch",
          "openpyxl", "pyarrow"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _layer(pkg: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if pkg in layer)


def test_import_direction() -> None:
    problems = []
    for pkg in OURS:
        for path in (ROOT / pkg).rglob("*.py") if (ROOT / pkg).is_dir() else []:
            for name in _imports(path) & OURS:
                if _layer(name) > _layer(pkg):
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, problems


def test_matcher_is_pure() -> None:
    problems = []
    for path in (ROOT / "matcher").rglob("*.py"):
        bad = _imports(path) & IMPURE
        text = path.read_text(encoding="utf-8")
        if "print(" in text or "open(" in text or "date.today" in text:
            bad.add("print/open/today")
        if bad:
            problems.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not problems, problems
