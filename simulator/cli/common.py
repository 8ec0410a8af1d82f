"""What several ``archsim`` commands share: flags, config overrides, the console, result
presentation and the progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from simulator.errors import ConfigError

#: what the global flags asked for (set by :func:`configure`, read by the commands)
QUIET = False
VERBOSE = False
#: the command line being run, as recorded in summary.json (``archsim run ...``)
COMMAND: list[str] | None = None


def configure(quiet: bool = False, verbose: bool = False, argv: list[str] | None = None) -> None:
    """Set the global flags (-q, -v) and the command line for this run of ``archsim``."""
    global QUIET, VERBOSE, COMMAND
    QUIET, VERBOSE, COMMAND = quiet, verbose, argv


def note(message: str) -> None:
    """An informational line on stderr ("wrote FILE", progress of a study); silent with -q."""
    if not QUIET:
        print(message, file=sys.stderr, flush=True)


def check_output(path: str | None, what: str, directory: bool = False) -> None:
    """Before any work: ``path`` (if given) can be written as a file, or with ``directory`` used
    as a folder of outputs; else an ArchsimError naming it (simulator.files.check_output)."""
    if path is not None:
        from simulator.errors import ArchsimError
        from simulator.files import check_output as check

        check(path, what, ArchsimError, directory=directory)


def check_output_flags(args) -> None:
    """``--out DIR`` and ``--timeline FILE`` (add_output_flags), checked before simulating."""
    check_output(getattr(args, "out", None), "--out", directory=True)
    check_output(getattr(args, "timeline", None), "--timeline")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as {dotted key: YAML value}; a malformed one is a ConfigError
    located at that ``--set``, not at a line of the file it overrides."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("expected KEY=VALUE with a dotted key, e.g. --set array.rows=64",
                              where=f"--set {item}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or "not a YAML value"
            raise ConfigError(f"the value is not valid YAML ({problem}); quote a string, e.g. "
                              f"--set '{key.strip()}=\"...\"'", where=f"--set {item}") from None
    return out


def add_set_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", metavar="KEY=VALUE", action="append", dest="overrides",
                   help="override a config field by dotted path (repeatable), e.g. "
                        "--set array.dataflow=os")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the summary (totals, per-layer and per-unit stats) as JSON")
    p.add_argument("--out", metavar="DIR", help="write summary.json and layers.csv into DIR")
    p.add_argument("--timeline", metavar="FILE",
                   help="write a Perfetto/Chrome trace JSON (one track per unit)")


def add_pass_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pass", metavar="NAME[=OPTION]", action="append", dest="passes",
                   help="run a graph pass before lowering (repeatable, in order), e.g. "
                        "--pass im2col=implicit")


def add_input_shape_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", metavar="NAME=D1xD2x...", action="append",
                   dest="input_shapes",
                   help="pin an ONNX model input's shape, fixing its dynamic dims (repeatable), "
                        "e.g. --input-shape input=1x3x224x224")


def add_input_value_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-value", metavar="NAME=VALUE", action="append", dest="input_values",
                   help="pin an ONNX model input to a value (repeatable): a number or a small "
                        "literal tensor such as [1,2,3] or [[0,1],[1,0]]; for inputs that steer "
                        "control flow (an If's condition) or carry shapes, e.g. "
                        "--input-value sr=16000")


def add_input_flags(p: argparse.ArgumentParser) -> None:
    """``--input-shape`` and ``--input-value``: what an ONNX model's inputs are pinned to."""
    add_input_shape_flag(p)
    add_input_value_flag(p)


def parse_input_values(items: list[str] | None) -> dict | None:
    if not items:
        return None
    from workloads.onnx_frontend import parse_input_values

    return parse_input_values(items)


def load_inputs(args, spec: str | None = None, model: bool = True):
    """The workload ``spec`` (default ``args.workload``) as a Graph with the command's
    ``--input-shape``/``--input-value`` pins, and its ONNX model (None for other workloads, or
    when ``model`` is False: then an ONNX zoo model needs no onnx, see workloads.loader)."""
    from workloads.loader import load_workload_and_model

    return load_workload_and_model(spec or args.workload,
                                   parse_input_shapes(getattr(args, "input_shapes", None)),
                                   input_values=parse_input_values(
                                       getattr(args, "input_values", None)), model=model)


def print_warnings(caught) -> None:
    """Warnings the library raised while a command ran (a pass that does not apply to the
    config's target...), one line each on stderr."""
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]] | None:
    if not items:
        return None
    from workloads.onnx_frontend import parse_input_shapes

    return parse_input_shapes(items)


def add_density_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--density", metavar="a=0.3,b=0.4",
                   help="operand densities for the sparse tensor core: a (activations), b "
                        "(weights; valued weights are magnitude-pruned) or a tensor name, "
                        "=FRACTION[:uniform|rows|cols|block], and seed=N; the same as "
                        "--pass density:SPEC run before the other passes")


def pass_specs(args) -> list[str]:
    """The passes a command runs: ``--density SPEC`` first (as the ``density`` pass), then the
    ``--pass`` flags in order."""
    density = [f"density:{args.density}"] if getattr(args, "density", None) else []
    return [*density, *(getattr(args, "passes", None) or [])]


#: the width of rich's console when stdout is a pipe or a file
PIPE_WIDTH = 160


def make_console():
    """A rich console; wide when writing to a pipe or file, so tables are not cut at 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


def print_report(table, lines: list[str]) -> None:
    """A rich table and lines of text, as ``make_console().print`` prints them (the lines with
    ``highlight=False``); written directly when rich's output is plain text (not a terminal, a
    plain table: simulator.cli.plaintext), which saves rendering a row at a time."""
    from simulator.cli import plaintext

    if plaintext.plain_console():
        texts = [plaintext.table(table, PIPE_WIDTH),
                 *(plaintext.line(text, PIPE_WIDTH) for text in lines)]
        if all(text is not None for text in texts):
            sys.stdout.write("".join(texts))
            return
    console = make_console()
    console.print(table)
    for text in lines:
        console.print(text, highlight=False)


def present(result, args, trace=None) -> None:
    from simulator.report.export import summary_json, write_outputs

    if args.json:
        sys.stdout.write(summary_json(result))
    else:
        from simulator.report.table import layer_table, totals_lines

        print_report(layer_table(result), totals_lines(result))
    written: list[Path] = []
    if args.out:
        written += write_outputs(result, args.out, COMMAND)
    if args.timeline:
        from simulator.report.export import atomic_write
        from simulator.report.timeline import timeline_json

        atomic_write(args.timeline, timeline_json(result, trace))
        written.append(Path(args.timeline))
    for path in written:
        note(f"wrote {path}")


class Progress:
    """A rich progress bar on stderr while simulating, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None
        self.task = None

    def __enter__(self):
        if sys.stderr.isatty() and not QUIET:
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


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)
