"""``archsim run``, ``validate``, ``lower`` and ``replay``: the everyday path from a workload to
cycles."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from simulator.cli.common import (
    Progress,
    add_density_flag,
    add_input_flags,
    add_output_flags,
    add_pass_flag,
    add_set_flag,
    check_output,
    check_output_flags,
    load_inputs,
    note,
    parse_overrides,
    pass_specs,
    present,
    print_warnings,
)
from simulator.errors import ArchsimError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("run", help="lower a workload and simulate it",
                       description="Lower WORKLOAD for CONFIG's target and simulate it. WORKLOAD "
                       "is gemm:M,N,K, conv:H,W,C,KH,KW,N,STRIDE[,PAD], a zoo model "
                       "(resnet18, alexnet, ..., or the ONNX zoo: zoo:resnet50, zoo:mobilenet_v2, "
                       "zoo:bert_base?seq=128&layers=2, ...), an ONNX model FILE.onnx, or a "
                       "SCALE-Sim topology FILE.csv[:gemm|:conv].")
    p.add_argument("config", help="hardware config (YAML, or a SCALE-Sim .cfg)")
    p.add_argument("workload")
    add_set_flag(p)
    add_pass_flag(p)
    add_input_flags(p)
    add_density_flag(p)
    add_output_flags(p)
    p.add_argument("--functional", action="store_true",
                   help="also execute the trace on real numbers (seeded random inputs and "
                        "missing weights) and compare the outputs with onnxruntime running the "
                        "same model (your own ONNX file, when WORKLOAD is one)")
    p.add_argument("--seed", type=int, default=0, help="seed for --functional data (default 0)")
    p.add_argument("--rtol", type=float, default=1e-4, metavar="R",
                   help="--functional tolerance, relative to each output's largest magnitude "
                        "(default 1e-4; dynamically quantized models need ~5e-2: float "
                        "last-bit differences flip some of their roundings)")

    p = sub.add_parser("validate", help="check a config file and print it with its defaults")
    p.add_argument("config")
    add_set_flag(p)

    p = sub.add_parser("lower", help="lower a workload to an instruction trace file")
    p.add_argument("config")
    p.add_argument("workload")
    p.add_argument("-o", "--output", required=True, metavar="TRACE",
                   help="trace file to write (JSON Lines)")
    add_set_flag(p)
    add_pass_flag(p)
    add_input_flags(p)
    add_density_flag(p)

    p = sub.add_parser("replay", help="simulate a saved trace",
                       description="Simulate TRACE on the config recorded in its header, or on "
                       "--config (same kind).")
    p.add_argument("trace")
    p.add_argument("--config", help="replay on this config instead of the trace's own")
    add_output_flags(p)

    return {"run": cmd_run, "validate": cmd_validate, "lower": cmd_lower, "replay": cmd_replay}


def compile_with_warnings(config, graph, passes: list[str]):
    """``api.compile``, printing on stderr the warnings the passes raise (a pass that does not
    apply to the config's target is skipped with one)."""
    from simulator import api

    with warnings.catch_warnings(record=True) as caught:
        if passes:   # the pass registry is imported only when a pass runs (start-up time)
            from simulator.passes import PassWarning

            warnings.simplefilter("always", PassWarning)
        result = api.compile(config, graph, passes)
    registry = sys.modules.get("simulator.passes")   # loaded if any pass ran
    pass_warning = registry.PassWarning if registry else ()
    print_warnings([w for w in caught if issubclass(w.category, pass_warning)])
    for w in caught:   # anything else keeps its usual route
        if not issubclass(w.category, pass_warning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def cmd_run(args) -> int:
    from simulator import api

    check_output_flags(args)
    if not args.rtol >= 0 or args.rtol == float("inf"):   # NaN fails the first test
        raise ArchsimError(f"--rtol must be a finite number >= 0, got {args.rtol}")
    # plain: the config without pydantic when it is plainly valid (start-up time)
    config = api.load_config(args.config, parse_overrides(args.overrides), plain=True)
    graph, model = load_inputs(args, model=args.functional)   # the ONNX model: --functional
    lowered, trace = compile_with_warnings(config, graph, pass_specs(args))
    trace.workload = args.workload
    with Progress(f"simulating {len(trace.instructions):,} instructions") as progress:
        result = api.simulate(trace, config, bool(args.timeline), progress)
    present(result, args, trace)
    if args.functional:
        return _functional(lowered, trace, args.seed, model, graph, args.rtol)
    return 0


def _functional(lowered, trace, seed: int, model=None, original=None, rtol: float = 1e-4) -> int:
    from simulator import api
    from simulator.functional import FunctionalMismatch

    try:
        report = api.functional(lowered, trace, seed=seed, onnx_model=model, original=original,
                                rtol=rtol)
    except FunctionalMismatch as err:
        print(f"functional check FAILED: {err}", file=sys.stderr)
        return 1
    print(f"functional check vs {report.reference}: {len(report.outputs)} output(s), "
          f"max abs error {report.max_abs:.3g}, max relative error {report.max_rel:.3g} "
          f"(tolerance {report.rtol:g} relative, or {report.atol:g} absolute): OK",
          file=sys.stderr)
    return 0


def cmd_replay(args) -> int:
    from simulator import api
    from simulator.trace import read_trace

    check_output_flags(args)
    trace = read_trace(args.trace)
    config = api.load_config(args.config, plain=True) if args.config else None
    try:
        with Progress(f"replaying {len(trace.instructions):,} instructions") as progress:
            result = api.simulate(trace, config, bool(args.timeline), progress)
    except ArchsimError as err:
        raise _in_trace(err, args.trace) from None
    present(result, args, trace)
    return 0


def _in_trace(err: ArchsimError, path: str) -> ArchsimError:
    """A replay error the target raised about the trace (an instruction, its header config, its
    kind) located in the trace file: instruction i is on line i + 2 (ids count up from 0 after
    the header line). An error in ``--config`` keeps its own place."""
    where = err.where
    if where is None:
        return type(err)(err.what, where=path)
    if where == "trace header":
        return type(err)(err.what, where=f"{path}:1 (header config)")
    ident = where.removeprefix("instruction ")
    if ident.isdigit():
        return type(err)(err.what, where=f"{path}:{int(ident) + 2} ({where})")
    return err


def cmd_validate(args) -> int:
    import yaml

    from simulator import api

    config = api.load_config(args.config, parse_overrides(args.overrides))
    print(f"{args.config}: valid {config.kind} config {config.name!r}")
    print(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False),
          end="")
    return 0


def cmd_lower(args) -> int:
    from simulator import api
    from simulator.trace import write_trace

    check_output(args.output, "-o")
    config = api.load_config(args.config, parse_overrides(args.overrides), plain=True)
    graph, _ = load_inputs(args, model=False)
    _, trace = compile_with_warnings(config, graph, pass_specs(args))
    trace.workload = args.workload
    write_trace(trace, args.output)
    note(f"wrote {args.output}: {len(trace.instructions):,} instructions, "
         f"{len(trace.layers)} layers ({trace.kind})")
    return 0
