"""Every figure archsim writes: the PNG is exactly --size x --dpi pixels, --title is its title,
every axis label names a unit, and series (workloads, policies) differ in marker."""

from __future__ import annotations

import argparse
import importlib.util
import re
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from simulator.cli import main
from simulator.cli.plotflags import PlotOptionError, add_plot_flags, parse_size, plot_options

ROOT = Path(__file__).resolve().parents[1]
UNIT = re.compile(r"\([^()]*[A-Za-z%][^()]*\)")   # "(cycles)", "(%)", "(FLOP/byte ...)"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (bytes 16-24)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions close after saving (so the test can inspect them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    closed: list = []
    real = plt.close

    def close(fig=None):
        closed.append(fig)
        real(fig)

    monkeypatch.setattr(plt, "close", close)
    return closed


def title_of(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()


def check_units(fig) -> int:
    """Every non-empty axis label carries a unit in parentheses; returns how many labels."""
    labels = [lab for ax in fig.axes for lab in (ax.get_xlabel(), ax.get_ylabel()) if lab]
    labels += [t.get_text() for t in (fig._supxlabel, fig._supylabel) if t is not None]
    for label in labels:
        assert UNIT.search(label), f"axis label without a unit: {label!r}"
    return len(labels)


def check(fig, path: Path, size: tuple[float, float], dpi: int, title: str) -> None:
    assert png_size(path) == (round(size[0] * dpi), round(size[1] * dpi))
    assert title_of(fig) == title
    assert check_units(fig) >= 2


# --- the flags ---

def test_size_parses_width_by_height_and_refuses_the_rest():
    assert parse_size("8x4.5") == (8.0, 4.5)
    assert parse_size("3X2") == (3.0, 2.0)
    for bad in ("8", "x4", "0x3", "-2x3", "nanx3", "infx2", "8x4x2", "300x2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_plot_options_pass_only_the_flags_given():
    p = argparse.ArgumentParser()
    add_plot_flags(p)
    assert plot_options(p.parse_args([])) == {}
    args = p.parse_args(["--dpi", "50", "--size", "4x3", "--title", "T"])
    assert plot_options(args) == {"dpi": 50, "size": (4.0, 3.0), "title": "T"}
    with pytest.raises(PlotOptionError, match="--size/--dpi"):   # 200 in x 400 dpi: too big
        plot_options(p.parse_args(["--dpi", "400", "--size", "200x2"]))


# --- each plot function ---

def point(rate, **kw):
    return SimpleNamespace(rate_rps=rate, **kw)


def test_serving_plot(tmp_path, figures):
    from simulator.scenarios.serving_plot import plot_serving

    policies = {name: SimpleNamespace(sweep=[point(r, satisfaction=s, mean_ms=2.0 * r,
                                                   p99_over_qos=0.3 * r)
                                             for r, s in ((1, 1.0), (2, 0.9), (4, 0.5))],
                                      loads={})
                for name in ("model-wise", "layer-wise", "veltair")}
    report = SimpleNamespace(policies=policies, qos_satisfaction=0.95, name="s", cores=4,
                             tenants=[{"name": "a"}])
    path = tmp_path / "s.png"
    plot_serving(report, str(path), dpi=40, title="serving", size=(9.0, 3.0))
    fig = figures[-1]
    check(fig, path, (9.0, 3.0), 40, "serving")
    markers = {line.get_marker() for line in fig.axes[0].get_lines() if line.get_label() in
               policies}
    assert len(markers) == 3   # a marker per policy


def test_federated_plot(tmp_path, figures):
    from simulator.scenarios.fl_plot import plot_federated

    policies = {n: SimpleNamespace(accuracy=[0.1, 0.5, 0.8], skewness=[0.9, 0.6, 0.5],
                                   final_accuracy=0.8, mean_skewness=0.67)
                for n in ("random", "oracle", "dubhe")}
    report = SimpleNamespace(policies=policies, clients=10, alpha=0.1, clients_per_round=3,
                             key_bits=512)
    path = tmp_path / "f.png"
    plot_federated(report, path, dpi=30, title="fl", size=(6.0, 2.5))
    check(figures[-1], path, (6.0, 2.5), 30, "fl")


def test_roofline_plot(tmp_path, figures):
    from simulator.scenarios.llm_roofline import plot_roofline

    pts = [{"dram_bytes": 10, "intensity": i, "achieved_flops": 1e12 * i, "phase": ph,
            "group": g} for i, ph, g in ((1.0, "decode", "mlp"), (50.0, "prefill", "attention"))]
    report = {"points": pts, "peak_flops": 1e14, "bandwidth_bytes_per_s": 1e12,
              "ridge_flop_per_byte": 100.0, "model": "m", "config": "c", "seq": 8, "ctx": 8,
              "batch": 1}
    path = tmp_path / "r.png"
    plot_roofline(report, str(path), dpi=25, title="roof", size=(4.0, 4.0))
    check(figures[-1], path, (4.0, 4.0), 25, "roof")


def test_fusion_plot_keeps_the_legend_off_the_bars(tmp_path, figures):
    from simulator.scenarios.fusion_study import plot_study

    rows = [SimpleNamespace(network=n, heuristic_speedup=s, oracle_speedup=s * 1.01,
                            heuristic_search_s=0.01, oracle_search_s=10.0)
            for n, s in (("AlexNet", 4.6), ("VGG-19", 5.9))]
    path = tmp_path / "fu.png"
    plot_study(rows, str(path), "fusion", dpi=30, size=(8.0, 3.0))
    fig = figures[-1]
    check(fig, path, (8.0, 3.0), 30, "fusion")
    fig.canvas.draw()   # the speedup legend lies above the axes, not over the tallest bar
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().y0 >= ax.get_window_extent().y1 - 1


def test_attention_heatmap_grid(tmp_path, figures):
    from simulator.report.attention_plot import heatmap_grid

    probs = np.full((2, 3, 8, 8), 1 / 8, np.float32)
    path = tmp_path / "a.png"
    heatmap_grid(probs, np.array([0, 1, 0, 1, 0, 1]), ["broad", "local"], path, title="att",
                 dpi=20, size=(6.0, 4.0))
    check(figures[-1], path, (6.0, 4.0), 20, "att")


def test_sparse_tc_bench_plot(tmp_path, figures):
    spec = importlib.util.spec_from_file_location("bench_sparse_tc",
                                                  ROOT / "bench" / "bench_sparse_tc.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [{"a": a, "b": b, "norm": a * b + 0.1} for b in (1.0, 0.4) for a in (1.0, 0.5)]
    path = tmp_path / "d.png"
    bench.plot(rows, path, dpi=30, title="density", size=(5.0, 3.0))
    check(figures[-1], path, (5.0, 3.0), 30, "density")


# --- archsim plot (the sweep scatter) through the CLI ---

RESULTS = """array.rows,workload,total_cycles,energy_pj,status,pe_count
8,gemm:64,64,64,1000,50.0,ok,64
16,gemm:64,64,64,600,60.0,ok,256
8,resnet18,9000,500.0,ok,64
16,resnet18,5000,700.0,ok,256
"""


def test_sweep_plot_cli_marks_each_workload(tmp_path, figures, capsys):
    csv = tmp_path / "results.csv"
    csv.write_text(RESULTS.replace("gemm:64,64,64", '"gemm:64,64,64"'))
    out = tmp_path / "p.png"
    assert main(["plot", str(csv), "--x", "array.rows", "--y", "total_cycles", "-o", str(out),
                 "--dpi", "40", "--size", "5x3", "--title", "sweep"]) == 0
    fig = figures[-1]
    check(fig, out, (5.0, 3.0), 40, "sweep")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "array.rows (PEs)" and ax.get_ylabel() == "total_cycles (cycles)"
    series = {c.get_label(): c for c in ax.collections if not c.get_label().startswith("_")}
    gemm, resnet = series["gemm:64,64,64"], series["resnet18"]
    assert not np.array_equal(gemm.get_paths()[0].vertices, resnet.get_paths()[0].vertices)
    assert not np.allclose(gemm.get_facecolor(), resnet.get_facecolor())


def test_sweep_plot_cli_refuses_a_bad_size(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    csv.write_text(RESULTS.replace("gemm:64,64,64", '"gemm:64,64,64"'))
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(csv), "--x", "array.rows", "--y", "total_cycles", "--size", "5by3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "Traceback" not in err
    assert main(["plot", str(csv), "--x", "array.rows", "--y", "total_cycles", "--size",
                 "100x100", "--dpi", "1000", "-o", str(tmp_path / "big.png")]) == 2
    err = capsys.readouterr().err
    assert "--size/--dpi" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "big.png").exists()


# --- reading results.csv back ---

def test_read_results_parses_cells_as_the_per_cell_rule_does(tmp_path):
    """A column is converted at a time, but every cell gets what int(), else float(), else the
    text gives it (ints stay ints in a float column; empty is None; text columns stay text)."""
    import csv as csvmod
    import math
    import random

    from simulator.sweep.plot import read_results

    def per_cell(text: str, column: str):
        if column in ("workload", "status", "error", "config_hash"):
            return text
        if text == "":
            return None
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    rng = random.Random(3)
    cells = ["", "1", "-3", "2.5", "1e3", "nan", "inf", "abc", "0", "7.0", "12"]
    header = ["a", "b", "workload", "status", "c", "d"]
    lines = [[rng.choice(cells), rng.choice(cells[:3]), rng.choice(cells), "ok",
              rng.choice(cells[:7]), rng.choice(["4", "5"])] for _ in range(400)]
    path = tmp_path / "results.csv"
    with path.open("w", newline="") as fh:
        csvmod.writer(fh).writerows([header, *lines])

    def same(a, b) -> bool:
        return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a)
                                                  and math.isnan(b)))

    rows = read_results(path).rows
    assert len(rows) == len(lines)
    for row, line in zip(rows, lines, strict=True):
        assert list(row) == header
        assert all(same(row[c], per_cell(v, c)) for c, v in zip(header, line, strict=True))
    with path.open("a", newline="") as fh:     # a short line: only the cells it has
        csvmod.writer(fh).writerow(["2.5", "1"])
    short = read_results(path).rows[-1]
    assert short == {"a": 2.5, "b": 1}


def test_every_command_that_plots_takes_the_figure_flags():
    """Any subcommand with a --plot option (and archsim plot) has --dpi, --title and --size."""
    from simulator.cli import build_parser

    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    plotting = []
    stack = list(sub.choices.items())
    while stack:
        name, p = stack.pop()
        options = {s for a in p._actions for s in a.option_strings}
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                stack += [(f"{name} {n}", q) for n, q in a.choices.items()]
        if "--plot" in options or name == "plot":
            plotting.append(name)
            assert {"--dpi", "--title", "--size"} <= options, name
    assert {"plot", "serve", "federated", "fusion", "attention", "llm roofline"} <= set(plotting)
