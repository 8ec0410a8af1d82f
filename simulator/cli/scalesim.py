"""``archsim scalesim``: the drop-in for SCALE-Sim 3.0.0's command line."""

from __future__ import annotations

from collections.abc import Callable


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
    from simulator.cli.common import check_output, note
    from simulator.scalesim import run_scalesim
    from simulator.scalesim.setup import read_setup

    check_output(args.outdir, "-p", directory=True)

    # a .cfg is read without the pydantic models (start-up); a kind other than systolic is a
    # ConfigError raised there
    setup = read_setup(args.config)
    # the reports go to OUTDIR/<run_name>/: that folder too, before simulating
    check_output(f"{args.outdir}/{setup.run_name}", "-p OUTDIR/<run_name>", directory=True)
    run = run_scalesim(setup, args.topology, args.input_type, args.outdir)
    # a plain table: rich costs ~40 ms of start-up, a third of a small run
    columns = ["LayerID", "Total Cycles", "Stall Cycles", "Overall Util %",
               "Mapping Efficiency %", "Compute Util %"]
    cells = [columns] + [[f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c])
                          for c in columns] for row in run.compute_rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    print(f"SCALE-Sim compatible run {run.run_name}")
    for line in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    note(f"wrote {run.report_dir}")
    return 0
