"""The memory side of ``archsim scalesim`` (SRAM/DRAM windows, DRAM traffic, stalls) against
SCALE-Sim 3.0.0's own reports: every memory-derived column must match to the digit."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import SCALESIM_REF

from simulator.api import load_config
from simulator.scalesim import simulate_layers
from simulator.scalesim.mapping import ScaleSimLayer

DATA = Path(__file__).parent / "data" / "scalesim"
needs_ref = pytest.mark.skipif(not SCALESIM_REF.is_dir(),
                               reason="shared/reference not beside the repo")

ALEXNET = ["scale_32x32_os", "scale_32x32_ws", "scale_32x32_is",
           "scale_128x128_os", "scale_128x128_ws", "scale_128x128_is"]
# (report folder, config, topology, input type): CALC and USER (bandwidth-limited, stalling)
REF_CASES = [(f"alexnet/{c}", c, "alexnet.csv", "conv") for c in ALEXNET] + [
    ("golden_calc", "scale_golden_calc", "alexnet_part.csv", "conv")] + [
    (f"golden_user_{df}", f"scale_golden_user_{df}", "test_mnk_input.csv", "gemm")
    for df in ("os", "ws", "is")]
# extra SCALE-Sim 3.0.0 runs kept as fixtures (tests/data/scalesim/<case>/: cfg, topology, reports)
FIXTURE_CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir()) if DATA.is_dir() else []

MEMORY_COMPUTE_COLUMNS = ["Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles"]


def _report(folder: Path, name: str) -> list[dict[str, str]]:
    """A SCALE-Sim report as {header: text}, values exactly as SCALE-Sim printed them."""
    with (folder / name).open() as fh:
        rows = [[f.strip() for f in row] for row in csv.reader(fh)]
    rows = [row[:-1] if row and row[-1] == "" else row for row in rows]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _assert_memory_columns(run, folder: Path) -> None:
    detail = _report(folder, "DETAILED_ACCESS_REPORT.csv")
    bandwidth = _report(folder, "BANDWIDTH_REPORT.csv")
    compute = _report(folder, "COMPUTE_REPORT.csv")
    assert len(run.detail_rows) == len(detail)
    for lid, (mine, theirs) in enumerate(zip(run.detail_rows, detail, strict=True)):
        assert {k: str(v) for k, v in mine.items()} == theirs, f"layer {lid}"
    for lid, (mine, theirs) in enumerate(zip(run.bandwidth_rows, bandwidth, strict=True)):
        assert {k: str(v) for k, v in mine.items()} == theirs, f"layer {lid}"
    for lid, (mine, theirs) in enumerate(zip(run.compute_rows, compute, strict=True)):
        assert [str(mine[c]) for c in MEMORY_COMPUTE_COLUMNS] == [
            theirs[c] for c in MEMORY_COMPUTE_COLUMNS], f"layer {lid}"


@needs_ref
@pytest.mark.parametrize("folder,config_name,topology,input_type", REF_CASES)
def test_memory_columns_match_scalesim_reports(folder, config_name, topology, input_type):
    """SRAM/DRAM start and stop cycles, DRAM reads/writes, DRAM bandwidths, Total Cycles (incl.
    prefetch) and stall cycles: the same text as SCALE-Sim's reports, CALC and USER mode."""
    config = load_config(SCALESIM_REF / "configs" / f"{config_name}.cfg")
    run = simulate_layers(config, SCALESIM_REF / "topologies" / topology, input_type)
    _assert_memory_columns(run, SCALESIM_REF / "reports" / folder)


@pytest.mark.parametrize("case", FIXTURE_CASES)
def test_memory_columns_match_extra_scalesim_runs(case):
    """Odd array shapes and SRAM sizes, depthwise splits, USER mode with OFMAP write stalls."""
    folder = DATA / case
    input_type = (folder / "input_type").read_text().strip()
    run = simulate_layers(load_config(folder / "config.cfg"), folder / "topology.csv", input_type)
    _assert_memory_columns(run, folder)


def _skew(mat: np.ndarray) -> np.ndarray:
    """Column j delayed by j rows (-1 elsewhere): the systolic input skew."""
    rows, cols = mat.shape
    out = np.full((rows + cols - 1, cols), -1, dtype=np.int64)
    for j in range(cols):
        out[j:j + rows, j] = mat[:, j]
    return out


def _pad(mat: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.full((rows, cols), -1, dtype=np.int64)
    out[:mat.shape[0], :mat.shape[1]] = mat
    return out


def _demand_matrices(layer: ScaleSimLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SEMANTICS.md §3.3's demand matrices, built literally (fold by fold, column fold outer)."""
    from simulator.scalesim.demand import ifmap_matrix

    r, c, df = layer.rows, layer.cols, layer.dataflow
    m, n, k = layer.m, layer.n, layer.k
    ifm = ifmap_matrix(layer).astype(np.int64)
    fil = np.arange(n)[None, :] * k + np.arange(k)[:, None]
    ofm = np.arange(m)[:, None] * n + np.arange(n)[None, :]
    fr_n, fc_n = layer.folds
    idle = lambda rows, cols: np.full((rows, cols), -1, dtype=np.int64)  # noqa: E731
    out = ([], [], [])
    for fc in range(fc_n):
        for fr in range(fr_n):
            rs, cs = slice(fr * r, (fr + 1) * r), slice(fc * c, (fc + 1) * c)
            if df == "os":
                t = k
                parts = (_skew(np.vstack([_pad(ifm[rs].T, t, r), idle(c - 1, r)])),
                         _skew(np.vstack([_pad(fil[:, cs], t, c), idle(r - 1, c)])),
                         _skew(np.vstack([idle(t - 1, c), _pad(ofm[rs, cs], r, c)[::-1]])))
            elif df == "ws":
                t = m
                parts = (_skew(np.vstack([idle(r, r), _pad(ifm[:, rs], t, r), idle(c - 1, r)])),
                         np.vstack([_pad(fil[rs, cs], r, c)[::-1], idle(r + c + t - 2, c)]),
                         _skew(np.vstack([idle(2 * r - 1, c), _pad(ofm[:, cs], t, c)])))
            else:
                t = n
                parts = (np.vstack([_pad(ifm[cs, rs].T, r, c)[::-1], idle(r + c + t - 2, c)]),
                         _skew(np.vstack([idle(r, r), _pad(fil[rs].T, t, r), idle(c - 1, r)])),
                         _skew(np.vstack([idle(2 * r - 1, c), _pad(ofm[cs].T, t, c)])))
            for acc, part in zip(out, parts, strict=True):
                acc.append(part)
    return tuple(np.vstack(acc) for acc in out)


LAYERS = [  # name, H, W, Fh, Fw, C, filters, stride, rows, cols: edge folds, borders, strides
    ("a", 9, 9, 3, 3, 2, 5, 2, 4, 3), ("b", 7, 6, 2, 3, 3, 7, 1, 5, 4),
    ("c", 8, 8, 3, 3, 1, 1, 3, 3, 6), ("d", 5, 12, 1, 12, 1, 9, 1, 4, 4)]


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("spec", LAYERS, ids=[s[0] for s in LAYERS])
def test_kernel_rows_are_scalesims_demand_rows(spec, dataflow):
    """The kernel's per-row address lists equal the literal demand matrices' valid entries, in
    column order (OFMAP: their count), for every row of every fold."""
    from simulator.scalesim import _kernels as kern
    from simulator.scalesim.demand import DATAFLOW_CODE, ifmap_factors

    name, h, w, fh, fw, ch, nf, s, rows, cols = spec
    layer = ScaleSimLayer(name, h, w, fh, fw, ch, nf, s, rows, cols, dataflow)
    mats = _demand_matrices(layer)
    assert all(mat.shape[0] == layer.demand_rows for mat in mats)
    pix, tap = ifmap_factors(layer)
    sr, sc, _ = layer.spatial
    fr_n, fc_n = layer.folds
    buf = np.empty(max(rows, cols), dtype=np.int64)
    row = 0
    for fc in range(fc_n):
        for fr in range(fr_n):
            ru, cu = min(rows, sr - fr * rows), min(cols, sc - fc * cols)
            for t in range(layer.fold_cycles):
                for op, mat in enumerate(mats):
                    cnt = kern._fill(DATAFLOW_CODE[dataflow], op, t, fr, fc, ru, cu, rows, cols,
                                     layer.n, layer.k, pix, tap, buf)
                    expected = mat[row][mat[row] >= 0]
                    if op == kern.OFMAP:
                        assert cnt == expected.size
                    else:
                        assert list(buf[:cnt]) == list(expected), (op, row)
                row += 1
