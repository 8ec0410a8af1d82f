"""Terminal tables: per-layer rows and the totals, printed by rich (or, when rich would print
plain text, by ``simulator.cli.plaintext`` without importing rich)."""

from __future__ import annotations

from typing import Any

from simulator.result import Result


class Column:
    """A column of a :class:`Table`: its header, left/right justification, cells."""

    __slots__ = ("header", "justify", "cells")

    def __init__(self, header: str, justify: str) -> None:
        self.header, self.justify, self.cells = header, justify, []


class Table:
    """A report table's content, in rich ``Table``'s terms (``add_column``, ``add_row``,
    ``add_section``) with rich's defaults and a left-justified title; it becomes a rich Table
    only when rich prints it (``console.print(table)`` calls :meth:`__rich__`)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.columns: list[Column] = []
        #: per row: whether a rule closes its section
        self.end_section: list[bool] = []

    def add_column(self, header: str, justify: str = "left") -> None:
        self.columns.append(Column(header, justify))

    def add_row(self, *cells: str, end_section: bool = False) -> None:
        for column, cell in zip(self.columns, cells, strict=True):
            column.cells.append(cell)
        self.end_section.append(end_section)

    def add_section(self) -> None:
        if self.end_section:
            self.end_section[-1] = True

    def __rich__(self) -> Any:
        from rich.table import Table as RichTable

        table = RichTable(title=self.title, title_justify="left")
        for column in self.columns:
            table.add_column(column.header, justify=column.justify)
        for i, end in enumerate(self.end_section):
            table.add_row(*(c.cells[i] for c in self.columns), end_section=end)
        return table


def _shape(lr) -> str:
    """``M,N,K`` (and ``xG`` groups) of a GEMM-like layer; empty for any other."""
    m, n, k = lr.shape
    if m is None:
        return ""
    groups = lr.dims.get("groups", 1)
    return f"{m},{n},{k}" + (f" x{groups}" if groups > 1 else "")


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def layer_table(result: Result) -> Table:
    table = Table(title=f"{result.workload} on {result.config_name} ({result.kind})")
    for name, justify in (("layer", "left"), ("op", "left"), ("M,N,K", "right"),
                          ("cycles", "right"), ("MACs", "right"), ("util %", "right"),
                          ("DRAM B", "right"), ("SRAM B", "right"), ("energy uJ", "right")):
        table.add_column(name, justify=justify)
    llm = result.extras.get("llm")
    rows = result.layers
    if llm is not None:  # an LLM step: rows grouped by layer type, each group with its total
        rows = _llm_grouped(table, result.layers, llm)
    for lr in rows:
        table.add_row(lr.name, lr.op, _shape(lr), f"{lr.cycles:,}", _si(lr.macs),
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


def _llm_grouped(table: Table, layers: list, llm: dict) -> list:
    """Add the rows of an LLM step group by group (attention, MLP, lm_head, other), each
    closed by its total; nothing left for the caller's loop."""
    prefixes = llm.get("group_prefixes", {})
    groups: dict[str, list] = {name: [] for name in llm["by_group"]}
    for lr in layers:
        groups.setdefault(prefixes.get(lr.name.split(".", 1)[0], "other"), []).append(lr)
    for name, members in groups.items():
        if not members:
            continue
        for lr in members:
            table.add_row(lr.name, lr.op, _shape(lr), f"{lr.cycles:,}", _si(lr.macs),
                          f"{100 * lr.utilization:.1f}",
                          _si(lr.bytes["dram_read"] + lr.bytes["dram_write"]),
                          _si(lr.bytes["sram_read"] + lr.bytes["sram_write"]),
                          f"{lr.energy_pj / 1e6:.3f}")
        g = llm["by_group"].get(name, {})
        table.add_row(f"[bold]{name} total[/bold]", f"{len(members)} ops", "",
                      f"{g.get('cycles', 0):,}", _si(g.get("macs", 0)), "",
                      _si(g.get("dram_bytes", 0)), "", "", end_section=True)
    return []


def totals_lines(result: Result) -> list[str]:
    e = result.energy_pj
    units = ", ".join(f"{u.name} {100 * u.utilization:.1f}% busy" for u in result.units)
    return [
        f"total cycles {result.total_cycles:,} ({result.time_us:,.2f} us at "
        f"{result.clock_ghz:g} GHz), {result.instructions:,} instructions",
        f"DRAM read {result.bytes['dram_read']:,} B, write {result.bytes['dram_write']:,} B; "
        f"energy {e['total'] / 1e6:.3f} uJ (MAC {e['mac'] / 1e6:.3f}, vector "
        f"{e['vector'] / 1e6:.3f}, SRAM {e['sram'] / 1e6:.3f}, DRAM {e['dram'] / 1e6:.3f}, "
        f"leakage {e.get('leakage', 0.0) / 1e6:.3f})" + _area(result),
        f"units: {units}",
    ] + _llm_lines(result)


def _area(result: Result) -> str:
    """``; area N mm^2 (MAC a, SRAM b, vector c)`` when the energy model estimated it."""
    a = result.area_mm2
    if not a:
        return ""
    return (f"; area {a['total']:.2f} mm^2 (MAC {a['mac']:.2f}, SRAM {a['sram']:.2f}, vector "
            f"{a['vector']:.2f})")


def _llm_lines(result: Result) -> list[str]:
    llm = result.extras.get("llm")
    if llm is None:
        return []
    where = f"seq {llm['seq']}" if llm["phase"] == "prefill" else f"ctx {llm['ctx']}"
    time = f"TTFT {llm['ttft_ms']:.3f} ms" if llm["phase"] == "prefill" else \
        f"TPOT {llm['tpot_ms']:.3f} ms"
    return [f"llm {llm['model']} {llm['phase']} (batch {llm['batch']}, {where}, "
            f"{llm['layers']} layers): {time}, {llm['tokens_per_s']:,.1f} tokens/s; weights "
            f"{llm['weight_bytes']:,} B, KV cache {llm['kv_cache_bytes']:,} B; arithmetic "
            f"intensity {llm['arithmetic_intensity']:.2f} FLOP/B"]
