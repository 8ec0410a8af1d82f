"""Run a topology layer by layer and write SCALE-Sim's report files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.config.systolic import ScaleSimOptions, SystolicConfig
from simulator.report.export import atomic_write
from simulator.scalesim.compute import compute_stats, overall_util
from simulator.scalesim.mapping import ScaleSimLayer, expand_layers
from simulator.scalesim.memory import simulate_memory
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


@dataclass
class ScaleSimRun:
    """One run: a row per layer for each of the three reports (keys are the CSV headers)."""

    run_name: str
    layers: list[ScaleSimLayer]
    compute_rows: list[dict] = field(default_factory=list)
    bandwidth_rows: list[dict] = field(default_factory=list)
    detail_rows: list[dict] = field(default_factory=list)
    report_dir: Path | None = None


def _layer_rows(lid: int, layer: ScaleSimLayer, config: SystolicConfig,
                options: ScaleSimOptions) -> tuple[dict, dict, dict]:
    comp = compute_stats(layer)
    mem = simulate_memory(layer, comp, config, options)
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


def simulate_layers(config: SystolicConfig, topology: str | Path,
                    input_type: str = "conv") -> ScaleSimRun:
    """All three reports' rows for ``topology`` on ``config`` (nothing written)."""
    options = config.scalesim or ScaleSimOptions(run_name=config.name,
                                                 ofmap_dram_bandwidth=int(config.dram.bandwidth))
    layers = expand_layers(read_topology_layers(topology, input_type), config)
    run = ScaleSimRun(options.run_name, layers)
    for lid, layer in enumerate(layers):
        comp, bw, detail = _layer_rows(lid, layer, config, options)
        run.compute_rows.append(comp)
        run.bandwidth_rows.append(bw)
        run.detail_rows.append(detail)
    return run


def _csv(columns: list[str], rows: list[dict]) -> str:
    """SCALE-Sim's format: ``", "``-separated, ``str()`` of each value, a trailing comma."""
    lines = [", ".join(columns) + ",\n"]
    lines += [", ".join(str(row[c]) for c in columns) + ",\n" for row in rows]
    return "".join(lines)


def run_scalesim(config: SystolicConfig, topology: str | Path, input_type: str = "conv",
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
