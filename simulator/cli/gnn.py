"""``archsim gnn-report``: the GNN characterization on the zipper target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.cli.common import add_set_flag, make_console, parse_overrides
from simulator.errors import ConfigError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("gnn-report", help="GNN characterization: stage split, bytes, "
                       "utilization, vs op-by-op and systolic",
                       description="Run each GNN model on each graph on the zipper target and "
                       "print the busy time split into scatter, apply-edge, gather and "
                       "apply-vertex, DRAM bytes, unit utilization, and the cycles of the "
                       "op-by-op schedule and of a matched systolic target.")
    p.add_argument("config", nargs="?", help="zipper config (default: the built-in one, "
                   "equal to configs/zipper.yaml)")
    p.add_argument("--models", default="gcn,sage,gin,gat", help="comma-separated models")
    p.add_argument("--graphs", default="cora,citeseer", help="comma-separated graphs")
    p.add_argument("--options", default="", help="workload options for every run, e.g. "
                   "hidden=64&layers=3")
    p.add_argument("--cpu-repeats", type=int, default=3, metavar="N",
                   help="measure each op on this CPU (scipy.sparse/numpy) N times and report "
                        "the median per stage (default 3; 0 skips the measurement)")
    add_set_flag(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    return {"gnn-report": cmd_gnn_report}


def cmd_gnn_report(args) -> int:
    from simulator.api import config_from_dict, load_config
    from simulator.scenarios.gnn_study import gnn_report

    overrides = parse_overrides(args.overrides)
    if args.config:
        config = load_config(args.config, overrides)
    else:
        from simulator.config.yamlfile import set_dotted

        data: dict[str, Any] = {"kind": "zipper"}
        for key, value in overrides.items():
            set_dotted(data, key, value)
        config = config_from_dict(data, "built-in zipper config")
    if config.kind != "zipper":
        raise ConfigError(f"gnn-report needs a zipper config, got kind {config.kind!r}",
                          where=args.config)
    models = [m for m in args.models.split(",") if m]
    graphs = [g for g in args.graphs.split(",") if g]
    if args.cpu_repeats < 0:
        raise ConfigError(f"--cpu-repeats must be >= 0, got {args.cpu_repeats}")
    rows = gnn_report(config, models, graphs, args.options, args.cpu_repeats)
    if args.json:
        import json

        print(json.dumps([r.to_json() for r in rows], indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"GNN characterization on {config.name} (zipper, S="
                  f"{config.scheduler.tiles_in_flight}); stage = share of busy cycles",
                  title_justify="left")
    for col in ("model", "graph", "scatter", "apply-edge", "gather", "apply-vertex",
                "zipper cyc", "op-by-op", "systolic", "DRAM MB", "gemm/vec/gs/dma util %",
                "saved ops"):
        table.add_column(col, justify="left" if col in ("model", "graph") else "right")
    for r in rows:
        share = r.stage_share
        util = "/".join(f"{100 * r.utilization.get(u, 0):.0f}"
                        for u in ("gemm", "vector", "gs", "dma"))
        table.add_row(r.model, r.graph, *(f"{100 * share[s]:.0f}%" for s in
                                          ("scatter", "apply_edge", "gather", "apply_vertex")),
                      f"{r.zipper_cycles:,}",
                      f"{r.op_by_op_cycles:,} ({r.op_by_op_cycles / r.zipper_cycles:.2f}x)",
                      f"{r.systolic_cycles:,} ({r.systolic_cycles / r.zipper_cycles:.2f}x)",
                      f"{r.dram_bytes / 1e6:.1f}", util,
                      f"{sum(r.ops_saved.values()):,}")
    console = make_console()
    console.print(table)
    if any(r.cpu_stage_s for r in rows):
        from simulator.scenarios.gnn_cpu import blas_threads

        cpu = Table(title="measured on this CPU (scipy.sparse + numpy, median of "
                    f"{args.cpu_repeats}, BLAS threads {blas_threads() or '?'}) vs simulated "
                    f"at {config.clock_ghz:g} GHz; stage = share of CPU time",
                    title_justify="left")
        for col in ("model", "graph", "scatter", "apply-edge", "gather", "apply-vertex",
                    "CPU us", "zipper us", "systolic us", "CPU/zipper"):
            cpu.add_column(col, justify="left" if col in ("model", "graph") else "right")
        for r in rows:
            share = r.cpu_share
            cpu.add_row(r.model, r.graph, *(f"{100 * share[s]:.0f}%" for s in
                                            ("scatter", "apply_edge", "gather", "apply_vertex")),
                        f"{r.cpu_us:,.0f}", f"{r.zipper_us:,.0f}", f"{r.systolic_us:,.0f}",
                        f"{r.cpu_us / r.zipper_us:.1f}x")
        console.print(cpu)
    return 0
