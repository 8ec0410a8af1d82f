"""Terminal tables (rich): per-layer rows and the totals."""

from __future__ import annotations

from rich.table import Table

from simulator.result import Result


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def layer_table(result: Result) -> Table:
    table = Table(title=f"{result.workload} on {result.config_name} ({result.kind})",
                  title_justify="left")
    for name, justify in (("layer", "left"), ("op", "left"), ("M,N,K", "right"),
                          ("cycles", "right"), ("MACs", "right"), ("util %", "right"),
                          ("DRAM B", "right"), ("SRAM B", "right"), ("energy uJ", "right")):
        table.add_column(name, justify=justify)
    for lr in result.layers:
        d = lr.dims
        shape = f"{d.get('m', '')},{d.get('n', '')},{d.get('k', '')}" if d else ""
        if d.get("groups", 1) > 1:
            shape += f" x{d['groups']}"
        table.add_row(lr.name, lr.op, shape, f"{lr.cycles:,}", _si(lr.macs),
                      f"{100 * lr.utilization:.1f}",
                      _si(lr.bytes["dram_read"] + lr.bytes["dram_write"]),
                      _si(lr.bytes["sram_read"] + lr.bytes["sram_write"]),
                      f"{lr.energy_pj / 1e6:.3f}")
    b = result.bytes
    table.add_section()
    table.add_row("total", "", "", f"{result.total_cycles:,}", _si(result.macs),
                  f"{100 * result.utilization:.1f}", _si(b["dram_read"] + b["dram_write"]),
                  _si(b["sram_read"] + b["sram_write"]), f"{result.energy_pj['total'] / 1e6:.3f}")
    return table


def totals_lines(result: Result) -> list[str]:
    e = result.energy_pj
    units = ", ".join(f"{u.name} {100 * u.utilization:.1f}% busy" for u in result.units)
    return [
        f"total cycles {result.total_cycles:,} ({result.time_us:,.2f} us at "
        f"{result.clock_ghz:g} GHz), {result.instructions:,} instructions",
        f"DRAM read {result.bytes['dram_read']:,} B, write {result.bytes['dram_write']:,} B; "
        f"energy {e['total'] / 1e6:.3f} uJ (MAC {e['mac'] / 1e6:.3f}, vector "
        f"{e['vector'] / 1e6:.3f}, SRAM {e['sram'] / 1e6:.3f}, DRAM {e['dram'] / 1e6:.3f})",
        f"units: {units}",
    ]
