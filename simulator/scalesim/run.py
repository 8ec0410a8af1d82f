"""Run a topology layer by layer and write SCALE-Sim's report files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.files import atomic_write
from simulator.scalesim.compute import compute_stats, overall_util
from simulator.scalesim.mapping import ScaleSimLayer, expand_layers
from simulator.scalesim.memory import simulate_memory
from simulator.scalesim.setup import ScaleSimSetup
from workloads.topology import read_topology_layers

COMPUTE_COLUMNS = ["LayerID", "Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles",
                   "Overall Util %", "Mapping Efficiency %", "Compute Util %"]
BANDWIDTH_COLUMNS = ["LayerID", "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW",
                     "Avg IFMAP DRAM BW", "Avg FILTER DRAM BW", "Avg OFMAP DRAM BW"]
DETAIL_COLUMNS = ["LayerID"] + [
    f"{level} {operand} {what}"
    for level in ("SRAM", "DRAM")
    for operand, verb in (("IFMAP", "Reads"), ("Filter", "Reads"), ("OFMAP", "Writes"))
    for what in ("Start Cycle", "Stop Cycle", verb)
]


class ScaleSimRun:
    """One run: a row per layer for each of the three reports (keys are the CSV headers)."""

    def __init__(self, run_name: str, layers: list[ScaleSimLayer]) -> None:
        self.run_name = run_name
        self.layers = layers
        self.compute_rows: list[dict] = []
        self.bandwidth_rows: list[dict] = []
        self.detail_rows: list[dict] = []
        self.report_dir: Path | None = None


def _layer_rows(lid: int, layer: ScaleSimLayer, setup: ScaleSimSetup,
                kernel: str | None) -> tuple[dict, dict, dict]:
    comp = compute_stats(layer)
    mem = simulate_memory(layer, setup, kernel)
    total = comp.compute_cycles + mem.stall_cycles
    (i_start, i_stop, i_reads), (f_start, f_stop, f_reads), (o_start, o_stop, o_writes) = (
        mem.dram[k] for k in ("ifmap", "filter", "ofmap"))
    compute_row = dict(zip(COMPUTE_COLUMNS, [
        lid, int(o_stop - min(i_start, f_start)), total, mem.stall_cycles,
        overall_util(layer, total), comp.mapping_efficiency, comp.compute_util], strict=True))
    bandwidth_row = dict(zip(BANDWIDTH_COLUMNS, [
        lid, comp.ifmap_sram_reads / total, comp.filter_sram_reads / total,
        comp.ofmap_sram_writes / total, i_reads / (i_stop - i_start + 1),
        f_reads / (f_stop - f_start + 1), o_writes / (o_stop - o_start + 1)], strict=True))
    sram_counts = (comp.ifmap_sram_reads, comp.filter_sram_reads, comp.ofmap_sram_writes)
    detail = [lid]
    for operand, count in zip(("ifmap", "filter", "ofmap"), sram_counts, strict=True):
        start, stop = mem.sram[operand]
        detail += [float(start), float(stop), count]
    for operand in ("ifmap", "filter", "ofmap"):
        start, stop, words = mem.dram[operand]
        detail += [float(start), float(stop), words]
    return compute_row, bandwidth_row, dict(zip(DETAIL_COLUMNS, detail, strict=True))


def simulate_layers(config: Any, topology: str | Path, input_type: str = "conv",
                    kernel: str | None = None) -> ScaleSimRun:
    """All three reports' rows for ``topology`` on ``config`` (a systolic config or a
    :class:`ScaleSimSetup`; nothing written). ``kernel``: ``c`` or ``numba`` (default: the
    C extension when it is built)."""
    setup = config if isinstance(config, ScaleSimSetup) else ScaleSimSetup.of(config)
    layers = expand_layers(read_topology_layers(topology, input_type), setup)
    run = ScaleSimRun(setup.run_name, layers)
    for lid, layer in enumerate(layers):
        comp, bw, detail = _layer_rows(lid, layer, setup, kernel)
        run.compute_rows.append(comp)
        run.bandwidth_rows.append(bw)
        run.detail_rows.append(detail)
    return run


def _csv(columns: list[str], rows: list[dict]) -> str:
    """SCALE-Sim's format: ``", "``-separated, ``str()`` of each value, a trailing comma."""
    lines = [", ".join(columns) + ",\n"]
    lines += [", ".join(str(row[c]) for c in columns) + ",\n" for row in rows]
    return "".join(lines)


def run_scalesim(config: Any, topology: str | Path, input_type: str = "conv",
                 outdir: str | Path = ".") -> ScaleSimRun:
    """Simulate and write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
    DETAILED_ACCESS_REPORT.csv under ``outdir/<run_name>/``, each atomically."""
    run = simulate_layers(config, topology, input_type)
    run.report_dir = Path(outdir) / run.run_name
    atomic_write(run.report_dir / "COMPUTE_REPORT.csv", _csv(COMPUTE_COLUMNS, run.compute_rows))
    atomic_write(run.report_dir / "BANDWIDTH_REPORT.csv",
                 _csv(BANDWIDTH_COLUMNS, run.bandwidth_rows))
    atomic_write(run.report_dir / "DETAILED_ACCESS_REPORT.csv",
                 _csv(DETAIL_COLUMNS, run.detail_rows))
    return run
