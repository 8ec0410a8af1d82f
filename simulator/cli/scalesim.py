"""``archsim scalesim``: the drop-in for SCALE-Sim 3.0.0's command line."""

from __future__ import annotations

import sys
from collections.abc import Callable

from simulator.cli.common import make_console
from simulator.errors import ConfigError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("scalesim", help="drop-in for SCALE-Sim 3.0.0's command line",
                       description="Run a SCALE-Sim topology with a SCALE-Sim .cfg and write "
                       "COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv "
                       "under OUTDIR/<run_name>/, as SCALE-Sim does.")
    p.add_argument("-c", dest="config", required=True, help="SCALE-Sim .cfg (or archsim YAML)")
    p.add_argument("-t", dest="topology", required=True, help="topology CSV")
    p.add_argument("-i", dest="input_type", choices=["conv", "gemm"], default="conv",
                   help="topology rows are convs (default) or GEMMs (name,M,N,K,)")
    p.add_argument("-p", dest="outdir", default=".", help="output folder (default: .)")
    p.add_argument("-l", dest="layout", help="accepted for compatibility; ignored")

    return {"scalesim": cmd_scalesim}


def cmd_scalesim(args) -> int:
    from simulator.api import load_config
    from simulator.scalesim import run_scalesim

    config = load_config(args.config)
    if config.kind != "systolic":
        raise ConfigError(f"scalesim needs a systolic config, got kind {config.kind!r}",
                          where=args.config)
    run = run_scalesim(config, args.topology, args.input_type, args.outdir)
    from rich.table import Table

    table = Table(title=f"SCALE-Sim compatible run {run.run_name}", title_justify="left")
    columns = ["LayerID", "Total Cycles", "Stall Cycles", "Overall Util %",
               "Mapping Efficiency %", "Compute Util %"]
    for col in columns:
        table.add_column(col, justify="right")
    for row in run.compute_rows:
        table.add_row(*(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c])
                        for c in columns))
    make_console().print(table)
    print(f"wrote {run.report_dir}", file=sys.stderr)
    return 0
