"""The ``archsim`` command: argument parsing and presentation only; the work is in the library.

A user mistake (:class:`ArchsimError`) prints one or two lines and exits with status 2; a bug
still shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from simulator.errors import ArchsimError, ConfigError

EXIT_USER_ERROR = 2


def _parse_overrides(items: list[str] | None) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, "
                              "e.g. --set array.rows=64")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the summary (totals, per-layer and per-unit stats) as JSON")
    p.add_argument("--out", metavar="DIR", help="write summary.json and layers.csv into DIR")
    p.add_argument("--timeline", metavar="FILE",
                   help="write a Perfetto/Chrome trace JSON (one track per unit)")


def _add_pass_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pass", metavar="NAME[=OPTION]", action="append", dest="passes",
                   help="run a graph pass before lowering (repeatable, in order), e.g. "
                        "--pass im2col=implicit")


def _add_input_shape_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", metavar="NAME=D1xD2x...", action="append",
                   dest="input_shapes",
                   help="pin an ONNX model input's shape, fixing its dynamic dims (repeatable), "
                        "e.g. --input-shape input=1x3x224x224")


def _parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]] | None:
    if not items:
        return None
    from workloads.onnx_frontend import parse_input_shapes

    return parse_input_shapes(items)


def _add_density_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--density", metavar="a=0.3,b=0.4",
                   help="operand densities for the sparse tensor core: a (activations), b "
                        "(weights; valued weights are magnitude-pruned) or a tensor name, "
                        "=FRACTION[:uniform|rows|cols|block], and seed=N")


def _with_density(graph, spec: str | None):
    if not spec:
        return graph
    from simulator.passes.density import apply_density

    return apply_density(graph, spec)


def _add_set_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", metavar="KEY=VALUE", action="append", dest="overrides",
                   help="override a config field by dotted path (repeatable), e.g. "
                        "--set array.dataflow=os")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archsim", description="Cycle-level simulator for DNN accelerators.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="lower a workload and simulate it",
                       description="Lower WORKLOAD for CONFIG's target and simulate it. WORKLOAD "
                       "is gemm:M,N,K, conv:H,W,C,KH,KW,N,STRIDE[,PAD], a zoo model "
                       "(resnet18, alexnet, ..., or the ONNX zoo: zoo:resnet50, zoo:mobilenet_v2, "
                       "zoo:bert_base?seq=128&layers=2, ...), an ONNX model FILE.onnx, or a "
                       "SCALE-Sim topology FILE.csv[:gemm|:conv].")
    p.add_argument("config", help="hardware config (YAML, or a SCALE-Sim .cfg)")
    p.add_argument("workload")
    _add_set_flag(p)
    _add_pass_flag(p)
    _add_input_shape_flag(p)
    _add_density_flag(p)
    _add_output_flags(p)
    p.add_argument("--functional", action="store_true",
                   help="also execute the trace on real numbers (seeded random inputs and "
                        "missing weights) and compare the outputs with onnxruntime running the "
                        "same model (your own ONNX file, when WORKLOAD is one)")
    p.add_argument("--seed", type=int, default=0, help="seed for --functional data (default 0)")

    p = sub.add_parser("validate", help="check a config file and print it with its defaults")
    p.add_argument("config")
    _add_set_flag(p)

    p = sub.add_parser("lower", help="lower a workload to an instruction trace file")
    p.add_argument("config")
    p.add_argument("workload")
    p.add_argument("-o", "--output", required=True, metavar="TRACE",
                   help="trace file to write (JSON Lines)")
    _add_set_flag(p)
    _add_pass_flag(p)
    _add_input_shape_flag(p)
    _add_density_flag(p)

    p = sub.add_parser("replay", help="simulate a saved trace",
                       description="Simulate TRACE on the config recorded in its header, or on "
                       "--config (same kind).")
    p.add_argument("trace")
    p.add_argument("--config", help="replay on this config instead of the trace's own")
    _add_output_flags(p)

    p = sub.add_parser("im2col", help="compare explicit and implicit im2col layer by layer",
                       description="Simulate WORKLOAD with --pass im2col=explicit and =implicit "
                       "and report, per convolution, the A operand's memory footprint (lowered "
                       "matrix vs input feature map), DRAM traffic and cycles of each.")
    p.add_argument("config")
    p.add_argument("workload")
    _add_set_flag(p)
    _add_input_shape_flag(p)
    p.add_argument("--json", action="store_true", help="print the rows and totals as JSON")

    p = sub.add_parser("fusion", help="npu: baseline vs heuristic vs oracle fusion/core plans",
                       description="For each network, simulate the layer-by-layer baseline (the "
                       "config's default_cores), the DLFusion-style heuristic plan and the exact "
                       "oracle plan on an npu CONFIG; report cycles, speedups and search times.")
    p.add_argument("config", help="npu config, e.g. configs/mlu.yaml")
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                   help="workloads (as for run; light:NAME for the onnx wheel's models); "
                        "default: AlexNet, VGG-19, ResNet-50, GoogLeNet, MobileNet-v2, SqueezeNet")
    _add_set_flag(p)
    p.add_argument("--max-group", type=int, default=8, metavar="N",
                   help="most fusion units per kernel the tuners consider (default 8)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a speedup / search-time plot")

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

    p = sub.add_parser("quantize", help="SQuant data-free weight quantization of an ONNX model",
                       description="Quantize every Conv, Gemm and MatMul weight of MODEL per "
                       "output channel with SQuant (or round-to-nearest) and write OUT.onnx: "
                       "DequantizeLinear on int8/int4 weights, or float32 dequantized weights "
                       "under the same names with --fake.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                   help="model file to write")
    p.add_argument("--bits", default="4", help="weight bit width, 2 to 8 (default 4)")
    p.add_argument("--mode", default="squant", choices=["squant", "squant-k", "squant-c", "rtn"],
                   help="squant = E+K+C (default), squant-k = E+K, squant-c = E+C, "
                        "rtn = round to nearest")
    p.add_argument("--fake", action="store_true",
                   help="store float32 dequantized weights (w_hat) instead of QDQ")
    _add_sweep_parsers(sub)
    _add_gnn_report_parser(sub)
    from simulator.cli_federated import add_parser as _add_federated_parser

    _add_federated_parser(sub, _add_set_flag)   # federated (issue 11)
    from simulator.cli_transformer import add_parsers as _add_transformer_parsers

    _add_transformer_parsers(sub, _add_set_flag)   # attention, blockskim (issue 8)
    return parser


def _version() -> str:
    from simulator import __version__

    return f"archsim {__version__}"


# ------------------------------------------------------------------------------------------
# commands


def _console():
    """A rich console; wide when writing to a pipe or file, so tables are not cut at 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _present(result, args) -> None:
    from simulator.report.export import summary_json, write_outputs

    if args.json:
        sys.stdout.write(summary_json(result))
    else:
        from simulator.report.table import layer_table, totals_lines

        console = _console()
        console.print(layer_table(result))
        for line in totals_lines(result):
            console.print(line, highlight=False)
    written: list[Path] = []
    if args.out:
        written += write_outputs(result, args.out)
    if args.timeline:
        from simulator.report.export import atomic_write
        from simulator.report.timeline import timeline_json

        atomic_write(args.timeline, timeline_json(result))
        written.append(Path(args.timeline))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)


class _Progress:
    """A rich progress bar on stderr while simulating, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None
        self.task = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def cmd_run(args) -> int:
    from simulator import api
    from simulator.config import load_config
    from workloads.loader import load_workload_and_model

    config = load_config(args.config, _parse_overrides(args.overrides))
    graph, model = load_workload_and_model(args.workload, _parse_input_shapes(args.input_shapes))
    graph = _with_density(graph, args.density)
    trace = api.lower(config, graph, args.passes)
    trace.workload = args.workload
    with _Progress(f"simulating {len(trace.instructions):,} instructions") as progress:
        result = api.simulate(trace, config, bool(args.timeline), progress)
    _present(result, args)
    if args.functional:
        return _functional(graph, trace, args.seed, model)
    return 0


def _functional(graph, trace, seed: int, model=None) -> int:
    from simulator.functional import FunctionalMismatch, check_functional

    try:
        report = check_functional(graph, trace, seed=seed, onnx_model=model)
    except FunctionalMismatch as err:
        print(f"functional check FAILED: {err}", file=sys.stderr)
        return 1
    reference = "the ONNX model" if model is not None else "the graph exported to ONNX"
    print(f"functional check vs onnxruntime on {reference}: {len(report.outputs)} output(s), "
          f"max abs error "
          f"{report.max_abs:.3g}, max relative error {report.max_rel:.3g} (tolerance "
          f"{report.rtol:g}): OK", file=sys.stderr)
    return 0


def cmd_replay(args) -> int:
    from simulator import api
    from simulator.config import load_config
    from simulator.trace import read_trace

    trace = read_trace(args.trace)
    config = load_config(args.config) if args.config else None
    with _Progress(f"replaying {len(trace.instructions):,} instructions") as progress:
        result = api.simulate(trace, config, bool(args.timeline), progress)
    _present(result, args)
    return 0


def cmd_validate(args) -> int:
    import yaml

    from simulator.config import load_config

    config = load_config(args.config, _parse_overrides(args.overrides))
    print(f"{args.config}: valid {config.kind} config {config.name!r}")
    print(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False),
          end="")
    return 0


def cmd_lower(args) -> int:
    from simulator import api
    from simulator.config import load_config
    from simulator.trace import write_trace

    config = load_config(args.config, _parse_overrides(args.overrides))
    workload = args.workload
    if args.density:
        from workloads.loader import load_workload

        workload = _with_density(load_workload(args.workload,
                                               _parse_input_shapes(args.input_shapes)),
                                 args.density)
    trace = api.lower(config, workload, args.passes, _parse_input_shapes(args.input_shapes))
    trace.workload = args.workload
    write_trace(trace, args.output)
    print(f"wrote {args.output}: {len(trace.instructions):,} instructions, "
          f"{len(trace.layers)} layers ({trace.kind})", file=sys.stderr)
    return 0


def cmd_scalesim(args) -> int:
    from simulator.config import load_config
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
    _console().print(table)
    print(f"wrote {run.report_dir}", file=sys.stderr)
    return 0


def cmd_im2col(args) -> int:
    from simulator.config import load_config
    from simulator.scenarios.im2col_study import compare_im2col

    config = load_config(args.config, _parse_overrides(args.overrides))
    study = compare_im2col(config, args.workload, _parse_input_shapes(args.input_shapes))
    totals = {"explicit_cycles": study.explicit.total_cycles,
              "implicit_cycles": study.implicit.total_cycles,
              "explicit_dram_bytes": sum(study.explicit.bytes[k] for k in ("dram_read",
                                                                           "dram_write")),
              "implicit_dram_bytes": sum(study.implicit.bytes[k] for k in ("dram_read",
                                                                           "dram_write"))}
    if args.json:
        import json

        print(json.dumps({"workload": study.workload, "config": study.config_name,
                          "layers": [r.to_json() for r in study.rows], "totals": totals},
                         indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"explicit vs implicit im2col: {study.workload} on {study.config_name}",
                  title_justify="left")
    for col in ("layer", "kernel/stride", "input B", "lowered B", "ratio", "DRAM B expl",
                "DRAM B impl", "cycles expl", "cycles impl", "expl/impl"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in study.rows:
        table.add_row(r.layer, f"{r.kernel}/{r.stride}", f"{r.input_bytes:,}",
                      f"{r.lowered_bytes:,}", f"{r.footprint_ratio:.2f}x",
                      f"{r.explicit_dram_bytes:,}", f"{r.implicit_dram_bytes:,}",
                      f"{r.explicit_cycles:,}", f"{r.implicit_cycles:,}", f"{r.slowdown:.2f}")
    table.add_section()
    table.add_row("network", "", "", "", "", f"{totals['explicit_dram_bytes']:,}",
                  f"{totals['implicit_dram_bytes']:,}", f"{totals['explicit_cycles']:,}",
                  f"{totals['implicit_cycles']:,}",
                  f"{totals['explicit_cycles'] / max(1, totals['implicit_cycles']):.2f}")
    _console().print(table)
    return 0


def cmd_fusion(args) -> int:
    from simulator.config import load_config
    from simulator.scenarios.fusion_study import NETWORKS, fusion_study, plot_study

    config = load_config(args.config, _parse_overrides(args.overrides))
    if config.kind != "npu":
        raise ConfigError(f"fusion needs an npu config, got kind {config.kind!r}",
                          where=args.config)
    if args.max_group < 1:
        raise ConfigError(f"--max-group must be at least 1, got {args.max_group}")
    networks = {w: w for w in args.workloads} if args.workloads else NETWORKS
    rows, facts = fusion_study(config, networks, args.max_group)
    if args.plot:
        plot_study(rows, args.plot, f"fusion and core-count tuning on {config.name}")
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({"config": config.name, **facts, "rows": [r.to_json() for r in rows]},
                         indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"fusion/core-count tuning on {config.name} ({config.cores} cores, "
                  f"baseline: layer by layer on {config.default_cores})", title_justify="left")
    for col in ("network", "baseline cycles", "heuristic cycles", "oracle cycles",
                "heur. speedup", "oracle speedup", "heur. vs oracle", "heur. search s",
                "oracle search s", "kernels b/h/o"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for r in rows:
        table.add_row(r.network, f"{r.baseline_cycles:,}", f"{r.heuristic_cycles:,}",
                      f"{r.oracle_cycles:,}", f"{r.heuristic_speedup:.2f}x",
                      f"{r.oracle_speedup:.2f}x", f"{100 * r.heuristic_gap:+.1f}%",
                      f"{r.heuristic_search_s:.4f}", f"{r.oracle_search_s:.1f}",
                      f"{r.baseline_kernels}/{r.heuristic_kernels}/{r.oracle_kernels}")
    _console().print(table)
    print(f"heuristic thresholds learned from {facts['profiled_layers']} synthesized layers "
          f"({facts['profile_simulations']} simulations, {facts['profile_s']:.1f} s, once per "
          "config)", file=sys.stderr)
    return 0


def cmd_quantize(args) -> int:
    from simulator.passes.squant import QuantizeError
    from simulator.passes.squant_onnx import quantize_file

    try:
        bits = int(args.bits)
    except ValueError:
        raise QuantizeError(f"bits must be an integer from 2 to 8; got {args.bits!r}") from None
    summary = quantize_file(args.model, args.output, bits, args.mode, args.fake)
    storage = sorted({t.storage for t in summary.tensors})
    changed = sum(t.changed_vs_rtn for t in summary.tensors)
    print(f"wrote {args.output}: {len(summary.tensors)} weight tensors, "
          f"{summary.weights:,} weights at {bits} bit ({args.mode}, {'/'.join(storage)}, "
          f"opset {summary.opset}); {changed:,} rounded differently from RTN", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# sweep and plot


def _add_sweep_parsers(sub) -> None:
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


class _SweepBar:
    """The live sweep bar on a terminal (done/total, failed, points/s, ETA); on a pipe, one
    line at the start and the summary at the end only."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.failed = 0

    def start(self, total: int, done: int, to_run: int, runner: str) -> None:
        print(f"sweep: {total} points, {done} already done, {to_run} to run on {runner}",
              file=sys.stderr)
        if not sys.stderr.isatty() or not to_run:
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
    bar = _SweepBar()
    try:
        report = run_sweep(spec, args.out, workers=args.workers, cluster=args.cluster,
                           retry_errors=args.retry_errors, progress=bar)
    except KeyboardInterrupt:
        bar.stop()
        print(f"sweep interrupted; finished points are kept in {args.out}; rerun the same "
              "command to resume", file=sys.stderr)
        raise
    finally:
        bar.stop()
    extra = (f", {report.excluded} excluded by constraints" if report.excluded else "") + \
        (f", {report.duplicates} duplicates skipped" if report.duplicates else "")
    print(f"sweep: ran {report.ran} points ({report.ok} ok, {report.failed} failed) in "
          f"{report.wall_s:.1f} s on {report.runner}; {report.already_done} were already done"
          f"{extra}", file=sys.stderr)
    print(f"wrote {report.csv_path} (store: {report.store_path})", file=sys.stderr)
    return 0


def cmd_plot(args) -> int:
    from simulator.sweep.plot import parse_objectives, plot_results, read_results

    results = read_results(args.results)
    default = f"{args.y}-vs-{args.x}.png".replace("/", "_")
    out = Path(args.output) if args.output else results.path.parent / default
    objectives = parse_objectives(args.pareto)
    path, front = plot_results(results, args.x, args.y, out, hue=args.hue,
                               objectives=objectives, logx=args.logx, logy=args.logy,
                               workload=args.workload)
    from rich.table import Table

    columns = list(dict.fromkeys(["workload", *results.params, args.x, args.y,
                                  *(c for c, _ in objectives)]))
    plotted = [r for r in results.ok() if args.workload in (None, r["workload"])]
    table = Table(title=f"Pareto front: {len(front)} of {len(plotted)} ok points (per "
                  f"workload; minimising {args.pareto})", title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col == "workload" else "right")
    for row in front:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _console().print(table)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


# ------------------------------------------------------------------------------------------
# gnn-report (issue 7)


def _add_gnn_report_parser(sub) -> None:
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
    _add_set_flag(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def cmd_gnn_report(args) -> int:
    from simulator.config import config_from_dict, load_config
    from simulator.scenarios.gnn_study import gnn_report

    overrides = _parse_overrides(args.overrides)
    if args.config:
        config = load_config(args.config, overrides)
    else:
        from simulator.config.base import set_dotted

        data: dict[str, Any] = {"kind": "zipper"}
        for key, value in overrides.items():
            set_dotted(data, key, value)
        config = config_from_dict(data, "built-in zipper config")
    if config.kind != "zipper":
        raise ConfigError(f"gnn-report needs a zipper config, got kind {config.kind!r}",
                          where=args.config)
    models = [m for m in args.models.split(",") if m]
    graphs = [g for g in args.graphs.split(",") if g]
    rows = gnn_report(config, models, graphs, args.options)
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
    _console().print(table)
    return 0


COMMANDS = {"run": cmd_run, "replay": cmd_replay, "validate": cmd_validate, "lower": cmd_lower,
            "scalesim": cmd_scalesim, "im2col": cmd_im2col, "quantize": cmd_quantize,
            "fusion": cmd_fusion}
COMMANDS.update(sweep=cmd_sweep, plot=cmd_plot)
COMMANDS["gnn-report"] = cmd_gnn_report


def cmd_federated(args) -> int:
    from simulator.cli_federated import cmd_federated as run

    return run(args)


COMMANDS["federated"] = cmd_federated


def _transformer_command(name: str):
    def run(args) -> int:
        from simulator import cli_transformer

        return getattr(cli_transformer, f"cmd_{name}")(args)
    return run


COMMANDS.update(attention=_transformer_command("attention"),
                blockskim=_transformer_command("blockskim"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ArchsimError as err:
        print(f"archsim {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
