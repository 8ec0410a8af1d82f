"""Reading a sweep's results.csv back, its Pareto front, and the scatter plot that marks it.

matplotlib is imported only inside :func:`plot_results` (with the Agg backend: no display is
needed on a cluster head node or in CI), so reading results and computing fronts stays light.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.sweep.spec import SweepError
from simulator.sweep.store import CSV_COLUMNS, CSV_NAME

#: the default front: time, energy, and PE count as the area proxy (all minimised)
DEFAULT_OBJECTIVES = ("total_cycles", "energy_pj", "pe_count")


@dataclass
class Results:
    path: Path
    columns: list[str]
    params: list[str]            # the varied parameters (columns before ``workload``)
    rows: list[dict[str, Any]]

    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") == "ok"]


#: columns kept as text even when they look like numbers
TEXT_COLUMNS = ("workload", "status", "error", "config_hash")


def _number(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _column(cells: list[str]) -> list[Any]:
    """A column's cells as :func:`_number` reads each, converted a column at a time: an int
    column in one pass, a float column in two (only integral values go through
    :func:`_number`, to stay ints as before). A ValueError per float cell made a 20,000-row
    results.csv take 0.79 s to read, 0.49 s this way (pandas.read_csv: as fast, plus 0.6 s
    to import it, and an optional extra)."""
    try:
        return [int(v) if v else None for v in cells]
    except ValueError:
        pass
    try:
        floats = [float(v) if v else None for v in cells]
    except ValueError:
        return [_number(v) for v in cells]
    return [_number(v) if f is not None and f.is_integer() else f
            for v, f in zip(cells, floats, strict=True)]


def read_results(path: str | Path) -> Results:
    """A results.csv (or the sweep folder holding one), values parsed back to numbers."""
    path = Path(path)
    if path.is_dir():
        path = path / CSV_NAME
    if not path.is_file():
        raise SweepError("no such results file (give a sweep's --out folder or its "
                         "results.csv)", where=str(path))
    from workloads.files import read_text  # not UTF-8: a located error, not a traceback

    reader = csv.reader(io.StringIO(read_text(path, "results file", SweepError), newline=""))
    header = next(reader, None)
    if not header or "workload" not in header or "status" not in header:
        raise SweepError("not a sweep results.csv (no workload/status columns)",
                         where=f"{path}:1")
    lines = list(reader)
    width = len(header)
    if all(len(line) == width for line in lines):    # the usual case: a column at a time
        cols = list(zip(*lines, strict=True)) if lines else [()] * width
        columns = [list(cells) if name in TEXT_COLUMNS else _column(list(cells))
                   for name, cells in zip(header, cols, strict=True)]
        rows = [dict(zip(header, values, strict=True)) for values in zip(*columns, strict=True)]
    else:   # a short line has no cell for the last columns, a long one's extra cells go
        rows = [{c: (v if c in TEXT_COLUMNS else _number(v))
                 for c, v in zip(header, line, strict=False)} for line in lines]
    params = header[: header.index("workload")]
    return Results(path, header, params, rows)


def check_columns(results: Results, *names: str | None) -> None:
    for name in names:
        if name is not None and name not in results.columns:
            raise SweepError(f"no column {name!r}; columns: {', '.join(results.columns)}",
                             where=str(results.path))


def parse_objectives(text: str | Sequence[str]) -> list[tuple[str, bool]]:
    """``total_cycles,energy_pj,max:utilization`` -> [(column, maximise?), ...]."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        maximise = item.startswith("max:")
        out.append((item.removeprefix("max:").removeprefix("min:"), maximise))
    if not out:
        raise SweepError("--pareto: expected column names, e.g. total_cycles,energy_pj")
    return out


def pareto_front(rows: Sequence[dict[str, Any]], objectives: Sequence[tuple[str, bool]],
                 group: str | None = "workload") -> list[int]:
    """Indices of the non-dominated rows, within each ``group`` (configs compete on the same
    workload only). Rows missing an objective are left out.

    Sorting lexicographically puts every dominator before what it dominates, so each row is
    checked against the front found so far only: O(n log n + n * front).
    """
    keyed: dict[Any, list[tuple[tuple[float, ...], int]]] = {}
    for i, row in enumerate(rows):
        vals = []
        for col, maximise in objectives:
            v = row.get(col)
            if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
                break
            vals.append(-v if maximise else v)
        else:
            keyed.setdefault(row.get(group) if group else None, []).append((tuple(vals), i))
    front: list[int] = []
    for items in keyed.values():
        items.sort()
        kept: list[tuple[float, ...]] = []
        for vals, i in items:
            if any(all(a <= b for a, b in zip(k, vals, strict=True)) and k != vals
                   for k in kept):
                continue
            kept.append(vals)
            front.append(i)
    return sorted(front)


#: units of the results.csv columns and of config fields often swept (others: by suffix)
UNITS = {"total_cycles": "cycles", "energy_pj": "pJ", "utilization": "fraction of peak MACs",
         "macs": "MACs", "pe_count": "PEs", "time_us": "us", "instructions": "count",
         "wall_s": "s", "point": "index", "array.rows": "PEs", "array.cols": "PEs",
         "dram.bandwidth": "bytes/cycle", "dram.latency": "cycles", "vector.lanes": "lanes",
         "vector.pipeline": "cycles", "word_bytes": "bytes", "cores": "cores",
         **{k: "bytes" for k in ("dram_read", "dram_write", "sram_read", "sram_write")}}
SUFFIX_UNITS = (("_pj_per_byte", "pJ/byte"), ("_pj_per_op", "pJ/op"), ("_pj", "pJ"),
                ("_cycles", "cycles"), ("_bytes", "bytes"), ("_kb", "KiB"), ("_mb", "MiB"),
                ("_gb", "GB"), ("_ghz", "GHz"), ("_us", "us"), ("_ms", "ms"), ("_s", "s"))


def axis_label(column: str) -> str:
    """``total_cycles`` -> ``total_cycles (cycles)``: the column and its unit (a column of no
    known unit says its values are as in results.csv)."""
    unit = UNITS.get(column)
    if unit is None:
        unit = next((u for suffix, u in SUFFIX_UNITS if column.endswith(suffix)),
                    "as in results.csv")
    return f"{column} ({unit})"


def plot_results(results: Results, x: str, y: str, out: str | Path, hue: str | None = None,
                 objectives: Sequence[tuple[str, bool]] = (), logx: bool = False,
                 logy: bool = False, workload: str | None = None, dpi: int = 110,
                 title: str | None = None, size: tuple[float, float] = (7.5, 4.8)
                 ) -> tuple[Path, list[dict[str, Any]]]:
    """Scatter ``y`` against ``x`` of the ok rows (of one ``workload``, if given): a marker per
    workload, a colour per ``hue`` value (per workload when no ``hue``), the Pareto front on
    ``objectives`` drawn as black-edged stars. Returns the file written and the front's rows,
    by workload and then by the first objective."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise SweepError("the plot file must end in .png or .svg", where=str(out))
    check_columns(results, x, y, hue, *(c for c, _ in objectives))
    rows = [r for r in results.ok() if r.get(x) is not None and r.get(y) is not None
            and (workload is None or r["workload"] == workload)]
    if not rows:
        known = sorted({str(r["workload"]) for r in results.rows})
        raise SweepError(f"no ok rows with both {x} and {y} to plot" + (
            f" for workload {workload!r}; workloads: {', '.join(known)}" if workload else ""),
            where=str(results.path))
    front = pareto_front(rows, objectives) if objectives else []

    from simulator.report.figure import MARKERS, save, subplots

    plt, fig, ax = subplots(1, 1, size, dpi)
    colour_by = hue or "workload"

    def order(keys: Any) -> list[Any]:
        return sorted(keys, key=lambda k: (isinstance(k, str), k if k is not None else 0))

    keys = order({r.get(colour_by) for r in rows})
    cmap = plt.get_cmap("tab10" if len(keys) <= 10 else "viridis")
    colours = {key: cmap(n if len(keys) <= 10 else n / max(1, len(keys) - 1))
               for n, key in enumerate(keys)}
    workloads = order({r["workload"] for r in rows})
    markers = {w: MARKERS[n % len(MARKERS)] for n, w in enumerate(workloads)}
    for w in workloads:
        for key in keys:
            pts = [r for r in rows if r["workload"] == w and r.get(colour_by) == key]
            if not pts:
                continue
            label = (f"{w}" if colour_by == "workload" else
                     f"{hue}={key}" + (f", {w}" if len(workloads) > 1 else ""))
            ax.scatter([p[x] for p in pts], [p[y] for p in pts], s=28, alpha=0.8,
                       marker=markers[w], color=colours[key], label=label, zorder=2)
    if front:
        fx, fy = [rows[i][x] for i in front], [rows[i][y] for i in front]
        names = ", ".join(("max " if m else "") + c for c, m in objectives)
        ax.scatter(fx, fy, s=170, marker="*", edgecolors="black", linewidths=1.0,
                   color=[colours[rows[i].get(colour_by)] for i in front], zorder=3)
        ax.scatter([], [], s=170, marker="*", facecolors="white", edgecolors="black",
                   label=f"Pareto front ({names})")  # legend entry in neutral colours
        if {c for c, m in objectives} == {x, y} and not any(m for _, m in objectives):
            by_group: dict[Any, list[tuple[Any, Any]]] = {}
            for i in front:
                by_group.setdefault(rows[i].get("workload"), []).append((rows[i][x],
                                                                          rows[i][y]))
            for pts in by_group.values():
                pts.sort()
                ax.step([p[0] for p in pts], [p[1] for p in pts], where="post",
                        color="black", linewidth=0.8, alpha=0.6, zorder=1)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"{y} vs {x} ({len(rows)} points"
                 f"{', ' + workload if workload else ''})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    save(fig, out, dpi, out.suffix[1:].lower())
    first = objectives[0] if objectives else (y, False)
    ordered = sorted((rows[i] for i in front), key=lambda r: (
        str(r["workload"]), -r[first[0]] if first[1] else r[first[0]]))
    return out, ordered


__all__ = ["CSV_COLUMNS", "DEFAULT_OBJECTIVES", "Results", "pareto_front", "plot_results",
           "read_results"]
