"""simulator.cli.plaintext writes what rich prints (non-terminal console, width 160), byte for
byte, or declines."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table

from simulator import api
from simulator.cli import plaintext
from simulator.cli.common import PIPE_WIDTH
from simulator.report.table import layer_table, totals_lines


def rich_text(table, lines=()) -> str:
    out = io.StringIO()
    console = Console(width=PIPE_WIDTH, file=out)
    console.print(table)
    for text in lines:
        console.print(text, highlight=False)
    return out.getvalue()


@pytest.mark.parametrize("config, workload", [
    ("configs/systolic-32-ws.yaml", "gemm:64,64,64"),
    ("configs/systolic-32-ws.yaml", "conv:28,28,64,3,3,64,1,1"),
    ("configs/tpu-v1-256-ws.yaml", "resnet18"),
    ("configs/systolic-32-ws.yaml", "zoo:tiny_transformer"),
    ("configs/systolic-32-ws.yaml", "zoo:tiny_cnn"),
])
def test_layer_tables_as_rich_prints_them(config, workload):
    _, result = api.run(api.load_config(config), workload)
    table, lines = layer_table(result), totals_lines(result)
    ours = plaintext.table(table, PIPE_WIDTH)
    assert ours is not None
    mine = ours + "".join(plaintext.line(t, PIPE_WIDTH) or "" for t in lines)
    if all(plaintext.line(t, PIPE_WIDTH) is not None for t in lines):
        assert mine == rich_text(table, lines)
    else:
        assert ours == rich_text(table)


def test_plain_tables_and_lines():
    t = Table(title="a title", title_justify="left")
    t.add_column("name", justify="left")
    t.add_column("value", justify="right")
    for i in range(5):
        t.add_row(f"row {i}", f"{10 ** i:,}", end_section=i == 2)
    t.add_section()
    t.add_row("total", "11,111")
    assert plaintext.table(t, PIPE_WIDTH) == rich_text(t)
    empty = Table(title="nothing", title_justify="left")
    empty.add_column("x")
    assert plaintext.table(empty, PIPE_WIDTH) is None   # no rows: left to rich
    for text in ("plain words: one colon", "a" * PIPE_WIDTH, ""):
        assert plaintext.line(text, PIPE_WIDTH) == rich_text(text)


def test_long_lines_wrap_as_rich_wraps_them():
    import random

    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        width = rng.choice([10, 17, 40, PIPE_WIDTH])
        words = ["x" * rng.randint(1, min(width, 12)) + " " * rng.choice([0, 1, 1, 1, 2, 5])
                 for _ in range(rng.randint(0, 60))]
        text = "".join(words)
        out = io.StringIO()
        Console(width=width, file=out).print(text, highlight=False)
        ours = plaintext.line(text, width)
        if ours is not None:   # None: a word longer than the line (rich folds it)
            assert ours == out.getvalue(), (width, text)
            checked += 1
    assert checked > 150


def test_declines_what_rich_changes():
    for text in ("[bold]x[/bold]", "an :smile: face", "é", "a" * (PIPE_WIDTH + 1)):
        assert plaintext.line(text, PIPE_WIDTH) is None
    wide = Table(title="t", title_justify="left")
    wide.add_column("c")
    wide.add_row("x" * PIPE_WIDTH)
    assert plaintext.table(wide, PIPE_WIDTH) is None
    long_title = Table(title="a long title over a narrow table", title_justify="left")
    long_title.add_column("c")
    assert plaintext.table(long_title, PIPE_WIDTH) is None
    marked = Table(title="t", title_justify="left")
    marked.add_column("c")
    marked.add_row("[bold]total[/bold]")
    assert plaintext.table(marked, PIPE_WIDTH) is None
    centred = Table(title="t")
    centred.add_column("c")
    assert plaintext.table(centred, PIPE_WIDTH) is None


def test_archsim_run_prints_the_same_text_either_way():
    cmd = [sys.executable, "-m", "simulator.cli", "run", "configs/systolic-32-ws.yaml",
           "zoo:tiny_cnn"]
    fast = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    import os

    env = {**os.environ, "TTY_INTERACTIVE": "0"}   # makes plaintext decline: rich prints
    slow = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    assert fast == slow and "total cycles" in fast
