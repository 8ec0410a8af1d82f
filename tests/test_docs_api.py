"""docs/api.md is a notebook that cannot drift: its ```python cells run in order in one
namespace, from the repository root, and each prints exactly the ```text block after it."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def cells(text: str) -> list[tuple[str, str | None]]:
    """(code, expected output or None) for each python cell; a text block right after a
    python cell is its output."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    out = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        follows = nxt is not None and nxt[0] == "text" and not text[end:nxt[2]].strip()
        out.append((body, nxt[1] if follows else None))
    return out


def test_the_cell_reader_pairs_code_with_its_output():
    text = "a\n```python\nprint(1)\n```\n\n```text\n1\n```\n```python\nx = 2\n```\nb\n"
    assert cells(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


def test_docs_api_runs_and_prints_what_it_shows(monkeypatch, tmp_path):
    pytest.importorskip("pandas")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # mkdtemp() under tmp_path
    found = cells(DOC.read_text())
    assert len(found) >= 8 and all(expected is not None for _, expected in found)
    namespace: dict = {"__name__": "docs_api"}
    for n, (code, expected) in enumerate(found, start=1):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"{DOC.name} cell {n}", "exec"), namespace)  # noqa: S102
        got = "\n".join(line.rstrip() for line in buf.getvalue().splitlines())
        want = "\n".join(line.rstrip() for line in expected.splitlines())
        assert got == want, f"cell {n} printed\n{got}\ninstead of\n{want}"


if __name__ == "__main__":   # print each cell's output (to write the page's text blocks)
    sys.path.insert(0, str(ROOT))
    tempfile.tempdir = tempfile.mkdtemp()
    ns: dict = {"__name__": "docs_api"}
    for n, (code, _) in enumerate(cells(DOC.read_text()), start=1):
        print(f"--- cell {n}")
        exec(compile(code, f"cell {n}", "exec"), ns)  # noqa: S102
