"""``archsim sweep`` and ``archsim plot``: design-space sweeps and their Pareto plots."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.cli.common import cell, check_output, make_console, note
from simulator.cli.plotflags import add_plot_flags, plot_options
from simulator.errors import ArchsimError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("sweep", help="run a design-space sweep (resumable; local pool or Dask)",
                       description="Run every point of SPEC (a YAML sweep spec) not already in "
                       "DIR, storing each as it finishes in DIR/results.sqlite and writing "
                       "DIR/results.csv. Rerun the same command to resume after a crash or "
                       "Ctrl-C.")
    p.add_argument("spec", help="sweep spec (YAML): base, workloads, grid/zip/random, "
                                "constraints")
    p.add_argument("--out", metavar="DIR", help="output folder, resumed if it already holds "
                   "results (required unless --dry-run)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: the number of cores)")
    where.add_argument("--cluster", metavar="ADDR",
                       help="run on Dask: tcp://HOST:PORT of a running `dask scheduler`, or "
                            "local:N for a LocalCluster of N workers (needs archsim[dist])")
    p.add_argument("--cluster-timeout", type=float, metavar="SECONDS",
                   help="with --cluster: give up if no Dask worker has joined after this long "
                        "(default: wait, saying so)")
    p.add_argument("--retry-errors", action="store_true",
                   help="rerun the points that ended in an error (ok points are kept)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the points the spec expands to and exit")

    p = sub.add_parser("plot", help="plot sweep results and mark their Pareto front",
                       description="Scatter one column of a sweep's results.csv against "
                       "another, mark the Pareto front (per workload) and list it.")
    p.add_argument("results", help="results.csv, or the sweep's --out folder")
    p.add_argument("--x", required=True, help="column on the x axis, e.g. array.rows")
    p.add_argument("--y", required=True, help="column on the y axis, e.g. total_cycles")
    p.add_argument("--hue", help="column that colours the points, e.g. workload")
    p.add_argument("--workload", help="plot only this workload's rows")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="PNG or SVG by suffix (default: Y-vs-X.png beside the results)")
    p.add_argument("--pareto", metavar="COLS", default="total_cycles,energy_pj,pe_count",
                   help="objectives of the front, minimised (max:COL to maximise); default "
                        "total_cycles,energy_pj,pe_count (PEs as the area proxy)")
    p.add_argument("--logx", action="store_true", help="log-scale x axis")
    p.add_argument("--logy", action="store_true", help="log-scale y axis")
    add_plot_flags(p)
    return {"sweep": cmd_sweep, "plot": cmd_plot}


class _SweepBar:
    """The live sweep bar on a terminal (done/total, failed, points/s, ETA); on a pipe, one
    line at the start and the summary at the end only."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.failed = 0

    def start(self, total: int, done: int, to_run: int, runner: str) -> None:
        from simulator.cli import common

        note(f"sweep: {total} points, {done} already done, {to_run} to run on {runner}")
        if not sys.stderr.isatty() or not to_run or common.QUIET:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} points/s" if speed else "-- points/s")

        self.bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("[red]{task.fields[failed]} failed"), Rate(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("sweep", total=total, completed=done, failed=0)

    def waiting(self, address: str) -> None:
        print(f"sweep: waiting for Dask workers to join the scheduler at {address} (start "
              f"them with `dask worker {address}`; --cluster-timeout SECONDS gives up)",
              file=sys.stderr, flush=True)

    def point(self, row: dict) -> None:
        self.failed += row["status"] == "error"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failed=self.failed)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def cmd_sweep(args) -> int:
    from simulator.sweep import load_spec, run_sweep

    if not args.dry_run:
        check_output(args.out, "--out", directory=True)
    spec = load_spec(args.spec)
    if args.dry_run:
        expansion = spec.expand()
        print(f"{len(expansion.points)} points ({expansion.excluded} excluded by constraints, "
              f"{expansion.duplicates} duplicates)", file=sys.stderr)
        for p in expansion.points:
            params = " ".join(f"{k}={v}" for k, v in p.params.items())
            print(f"{p.index}\t{p.workload}\t{params}")
        return 0
    if not args.out:
        raise ArchsimError("--out DIR is required: the folder that holds results.csv and the "
                           "store the sweep resumes from")
    if args.cluster_timeout is not None and not args.cluster:
        raise ArchsimError("--cluster-timeout applies to --cluster runs only")
    if args.workers is not None and args.workers < 1:
        raise ArchsimError(f"--workers must be at least 1, got {args.workers}")
    bar = _SweepBar()
    try:
        report = run_sweep(spec, args.out, workers=args.workers, cluster=args.cluster,
                           retry_errors=args.retry_errors, progress=bar,
                           cluster_timeout=args.cluster_timeout)
    except KeyboardInterrupt:
        bar.stop()
        print(f"sweep interrupted; finished points are kept in {args.out}; rerun the same "
              "command to resume", file=sys.stderr)
        raise
    finally:
        bar.stop()
    extra = (f", {report.excluded} excluded by constraints" if report.excluded else "") + \
        (f", {report.duplicates} duplicates skipped" if report.duplicates else "")
    note(f"sweep: ran {report.ran} points ({report.ok} ok, {report.failed} failed) in "
         f"{report.wall_s:.1f} s on {report.runner}; {report.already_done} were already done"
         f"{extra}")
    note(f"wrote {report.csv_path} (store: {report.store_path})")
    return 0


def cmd_plot(args) -> int:
    from simulator.sweep.plot import parse_objectives, plot_results, read_results

    check_output(args.output, "-o")
    results = read_results(args.results)
    default = f"{args.y}-vs-{args.x}.png".replace("/", "_")
    out = Path(args.output) if args.output else results.path.parent / default
    objectives = parse_objectives(args.pareto)
    path, front = plot_results(results, args.x, args.y, out, hue=args.hue,
                               objectives=objectives, logx=args.logx, logy=args.logy,
                               workload=args.workload, **plot_options(args))
    from rich.table import Table

    columns = list(dict.fromkeys(["workload", *results.params, args.x, args.y,
                                  *(c for c, _ in objectives)]))
    plotted = [r for r in results.ok() if args.workload in (None, r["workload"])]
    table = Table(title=f"Pareto front: {len(front)} of {len(plotted)} ok points (per "
                  f"workload; minimising {args.pareto})", title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col == "workload" else "right")
    for row in front:
        table.add_row(*(cell(row.get(c)) for c in columns))
    make_console().print(table)
    note(f"wrote {path}")
    return 0
