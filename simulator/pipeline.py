"""The pipeline: ``load_config``, ``load``, ``prepare``, ``compile``, ``lower``, ``simulate``,
``run``, ``replay`` and ``functional``. Use it through :mod:`simulator.api`, the library's front
door (which adds sweeps and DataFrames).

Every command, sweep and study goes through these functions; there is no other path from a
workload to cycles::

    workload --load--> Graph --user passes, target's required passes--> Graph
             --target.lower--> Trace --target.simulate--> Result

The target (``simulator.targets``) is looked up by the config's ``kind``; the passes get the
config and, if they tune for the hardware, the target's cost model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.errors import TraceError, WorkloadError
from simulator.result import Result
from simulator.targets import config_from_dict, config_model, get_target, kinds, load_config
from simulator.trace import Instruction, Trace, read_trace
from simulator.trace.paused import gc_paused
from workloads.graph import Graph

Shapes = dict[str, tuple[int, ...]]

__all__ = ["Result", "Trace", "check_supported", "compile", "config_from_dict", "config_model",
           "cost_model", "functional", "kinds", "load", "load_config", "lower", "prepare",
           "replay", "run", "simulate"]


def load(workload: str, input_shapes: Shapes | None = None,
         input_values: dict[str, Any] | None = None) -> Graph:
    """The Graph of a workload name (``gemm:...``, ``zoo:...``, ``FILE.onnx``, ``gnn:...``);
    ``input_shapes``/``input_values`` pin an ONNX model's inputs (``--input-shape/-value``)."""
    from workloads.loader import load_workload

    return load_workload(workload, input_shapes, input_values)


def cost_model(config) -> Any:
    """The cost model the config's target hands to passes that tune for it (the npu's kernel
    costs), for studies of those passes; a target without one is a ConfigError."""
    from simulator.errors import ConfigError

    target = get_target(config.kind)
    if target.cost_model is None:
        raise ConfigError(f"the {config.kind} target has no cost model")
    return target.cost_model(config)


def check_supported(graph: Graph, config) -> None:
    """Every op of ``graph`` must be one the config's target lowers; one error names them all,
    grouped by type (``Resize x6, If x1``), with the first node of each type."""
    target = get_target(config.kind)
    bad: dict[str, list[str]] = {}
    for op in graph.ops:
        if not target.lowers(op.type, ""):
            bad.setdefault(op.type, []).append(op.name)
    if bad:
        listed = ", ".join(f"{t} x{len(names)} (e.g. node {names[0]!r})"
                           for t, names in sorted(bad.items(), key=lambda kv: -len(kv[1])))
        raise WorkloadError(f"the {target.kind} target runs {target.runs}; it cannot run "
                            f"{listed}", where=graph.name)


#: the most instructions a lowering may emit before the pipeline refuses the workload (each
#: costs a few hundred bytes in memory); ARCHSIM_MAX_INSTRUCTIONS sets another limit
MAX_INSTRUCTIONS = 20_000_000
BYTES_PER_INSTRUCTION = 400


def check_size(graph: Graph, config) -> None:
    """Refuse, before lowering, a workload whose trace would not fit: the target estimates
    its instructions; the error says how large and what to do instead."""
    import os

    estimate = get_target(config.kind).estimate
    if estimate is None:
        return
    limit = int(os.environ.get("ARCHSIM_MAX_INSTRUCTIONS", MAX_INSTRUCTIONS))
    count = estimate(graph, config)
    if count > limit:
        gib = count * BYTES_PER_INSTRUCTION / 2**30
        raise WorkloadError(f"about {count:.3g} instructions (~{gib:,.0f} GiB in memory) to "
                            f"simulate on this {config.kind} config, over the limit of "
                            f"{limit:,}; make the workload smaller (shapes, batch, layers) or the "
                            "array larger, or raise ARCHSIM_MAX_INSTRUCTIONS",
                            where=graph.name)


def prepare(config, workload: str | Graph, passes: list[str] | None = None,
            input_shapes: Shapes | None = None) -> Graph:
    """The graph as the target lowers it: loaded, checked against the target, and rewritten by
    the user's ``passes`` (``"im2col=implicit"``, ``"density:a=0.3"``, ...) and then by the
    passes the target requires."""
    graph = load(workload, input_shapes) if isinstance(workload, str) else workload
    if input_shapes and not isinstance(workload, str):
        raise WorkloadError("input_shapes apply when the workload is named, not to a Graph")
    target = get_target(config.kind)
    check_supported(graph, config)
    specs = [*(passes or []), *target.required_passes(config)]
    if specs:   # the pass registry imports every pass: only when there is one to run
        from simulator.passes import apply_passes

        graph = apply_passes(graph, specs, config, target.cost_model)
    return graph


def compile(config, workload: str | Graph, passes: list[str] | None = None,  # noqa: A001
            input_shapes: Shapes | None = None) -> tuple[Graph, Trace]:
    """The graph as lowered (after the passes, see :func:`prepare`) and its trace for the
    config's kind. What passes note about the graph travels in ``trace.meta``."""
    graph = prepare(config, workload, passes, input_shapes)
    check_supported(graph, config)   # passes may add ops (Block-Skim's predictor)
    check_size(graph, config)
    with gc_paused():   # one object or more per instruction, no garbage: see trace.paused
        trace = get_target(config.kind).lower(
            graph, config, workload if isinstance(workload, str) else graph.name)
    trace.meta = {**graph.meta, **trace.meta}
    trace.timings = {**graph.timings, **trace.timings}
    if "llm" in graph.meta:  # an LLM step: weight/KV bytes of the graph as lowered
        from workloads.llm.metrics import step_facts

        trace.meta["llm"] = step_facts(graph, config.word_bytes)
    return graph, trace


def lower(config, workload: str | Graph, passes: list[str] | None = None,
          input_shapes: Shapes | None = None) -> Trace:
    """Graph (or workload name) + config -> Trace for the config's kind, after the passes."""
    return compile(config, workload, passes, input_shapes)[1]


def _missing_dim(trace: Trace, err: KeyError) -> Exception:
    """A damaged or hand-written trace: an instruction lacks a ``dims`` entry its target times
    it with (a TraceError at the first such instruction); the KeyError itself when none does
    (a bug, not the trace). The instruction is the one in the failing frame (``ins``)."""
    key = err.args[0] if err.args else None
    lacking = None
    tb = err.__traceback__
    while tb is not None:   # the instruction the target was timing: innermost frame's `ins`
        ins = tb.tb_frame.f_locals.get("ins")
        if isinstance(ins, Instruction) and key not in ins.dims:
            lacking = ins
        tb = tb.tb_next
    if not isinstance(key, str) or lacking is None:
        return err
    return TraceError(f"{lacking.op} lacks dims.{key}, which the {trace.kind} target times it "
                      "with", where=f"instruction {lacking.id}")


def simulate(trace: Trace, config=None, timeline: bool = False, progress=None) -> Result:
    """Run a trace on ``config`` (default: the config recorded in the trace header).

    ``progress(done, total)``, if given, is called as instructions are scheduled.
    Besides the extras the target declares, the pipeline adds one of its own: ``llm`` (an LLM
    step's weight and KV bytes, TTFT or TPOT, tokens/s, arithmetic intensity, cycles by layer
    group; ``workloads.llm.metrics``) when the trace header carries the step's facts.
    """
    if config is None:   # the recorded config, without pydantic when plainly valid
        from simulator.config.plain import plain_config

        config = plain_config(trace.config) or config_from_dict(trace.config, "trace header")
    if config.kind != trace.kind:
        raise TraceError(f"trace was lowered for kind {trace.kind!r} but the config is kind "
                         f"{config.kind!r}; replay on a config of the same kind")
    target = get_target(config.kind)
    with gc_paused():
        try:
            result = target.simulate(trace, config, timeline, progress)
        except KeyError as err:
            raise _missing_dim(trace, err) from None
    undeclared = set(result.extras) - set(target.extras)
    if undeclared:  # a target's results are declared with it (simulator.targets.Target.extras)
        raise AssertionError(f"target {target.kind} returned undeclared extras {undeclared}")
    result.notes = _merge(_merge(dict(trace.meta), trace.timings), result.notes)
    facts = result.notes.pop("llm", None)
    if facts is not None:  # the pipeline's own extra (see the docstring)
        from workloads.llm.metrics import result_facts

        result.extras["llm"] = result_facts(
            facts, result.total_cycles, result.clock_ghz, result.macs,
            result.bytes["dram_read"] + result.bytes["dram_write"],
            ((lr.name, lr.cycles, lr.macs, lr.bytes["dram_read"] + lr.bytes["dram_write"])
             for lr in result.layers))
    result.config = config.model_dump(mode="json", exclude_none=True)
    return result


def run(config, workload: str | Graph, timeline: bool = False, progress=None,
        passes: list[str] | None = None,
        input_shapes: Shapes | None = None) -> tuple[Trace, Result]:
    trace = lower(config, workload, passes, input_shapes)
    return trace, simulate(trace, config, timeline, progress)


def replay(path: str | Path, config_path: str | Path | None = None,
           timeline: bool = False, progress=None) -> Result:
    trace = read_trace(path)
    config = load_config(config_path) if config_path else None
    return simulate(trace, config, timeline, progress)


def functional(graph: Graph, trace: Trace, *, seed: int = 0, onnx_model: Any = None,
               original: Graph | None = None, rtol: float = 1e-4):
    """Execute ``trace`` (lowered from ``graph``, the graph after its passes) on real numbers
    and compare with a reference: onnxruntime on the user's ``onnx_model`` when the passes left
    the weights of ``original`` (the graph it imported to) as they were, else on ``graph``
    exported to ONNX; the catalogue's numpy semantics for GNN programs. Raises
    ``FunctionalMismatch`` when they differ."""
    from simulator.functional import check_functional

    if onnx_model is not None and original is not None and _values_changed(original, graph):
        onnx_model = None   # quantized or pruned weights: the model file no longer says it
    return check_functional(graph, trace, seed=seed, onnx_model=onnx_model, rtol=rtol)


def _values_changed(before: Graph, after: Graph) -> bool:
    """A pass replaced or added constant values (passes share the arrays they keep)."""
    for name, tensor in after.tensors.items():
        old = before.tensors.get(name)
        if tensor.values is not None and (old is None or old.values is not tensor.values):
            return True
    return False


def _merge(base: dict, extra: dict) -> dict:
    """``extra`` over ``base``, merging nested mappings (a pass's meta and its timings)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
