"""The one registry of hardware kinds: a target is one registered :class:`Target` object.

A target names its config model (derived from :class:`~simulator.config.base.HardwareConfig`),
its lowering (Graph -> Trace), its timing model (Trace -> Result), the passes the pipeline must
run before lowering for it, the cost model it hands to passes that tune for it, which operators
of the catalogue it lowers, and the extra results it adds to :class:`~simulator.result.Result`.

Built-in kinds are defined in this package, one module each, and imported only when used.
Other packages add kinds through the Python entry-point group ``archsim.targets``: each entry
point names a :class:`Target` (or a function returning one); ``pip install`` is all it takes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.config import read_config_file
from simulator.config.yamlfile import OVERRIDES, _origin, set_dotted
from simulator.errors import ConfigError

if TYPE_CHECKING:
    from simulator.config.base import HardwareConfig

ENTRY_POINT_GROUP = "archsim.targets"

#: built-in kind -> module defining ``TARGET``
BUILTIN = {"systolic": "simulator.targets.systolic", "npu": "simulator.targets.npu",
           "sparse_tc": "simulator.targets.sparse_tc", "zipper": "simulator.targets.zipper"}


def _no_passes(config: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Target:
    """One hardware kind, everything the pipeline needs to know about it.

    - ``config_model``: its config model, or ``"module:Class"`` naming it (imported on first
      use: building pydantic models is slow, and a run may read its config without them,
      :mod:`simulator.config.plain`); :func:`config_model` gives the class.
    - ``lower(graph, config, workload_name) -> Trace``; it runs no passes.
    - ``simulate(trace, config, timeline, progress) -> Result``.
    - ``required_passes(config) -> [pass spec, ...]``: run by the pipeline after the user's
      passes, before lowering (e.g. zipper's graph tiling sized from its buffers).
    - ``cost_model(config)``: what a pass that tunes for this kind is handed (fusion's kernel
      costs on the npu); ``None`` if no pass tunes for it.
    - ``lowers(op_type, domain) -> bool``: which catalogue operators it runs.
    - ``estimate(graph, config) -> instructions``: roughly how many instructions the lowering
      will emit, so the pipeline can refuse a workload too large to simulate before it tries.
    - ``runs``: a phrase for errors, what workloads it takes ("GNN workloads ...").
    - ``extras``: the keys it adds to ``Result.extras`` (top-level keys of the JSON summary),
      each with what it means.
    """

    kind: str
    config_model: type[HardwareConfig] | str
    lower: Callable[..., Any]
    simulate: Callable[..., Any]
    lowers: Callable[[str, str], bool]
    required_passes: Callable[[Any], list[str]] = _no_passes
    cost_model: Callable[[Any], Any] | None = None
    estimate: Callable[[Any, Any], int] | None = None
    runs: str = "DNN workloads"
    extras: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


_LOADED: dict[str, Target] = {}
_PLUGINS: dict[str, Any] | None = None


def _entry_points() -> dict[str, Any]:
    """Third-party kinds by name (entry points are read once, on first need)."""
    global _PLUGINS
    if _PLUGINS is None:
        from importlib.metadata import entry_points

        _PLUGINS = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)
                    if ep.name not in BUILTIN}
    return _PLUGINS


def kinds() -> list[str]:
    """Every kind this installation knows: built-in first, then installed plug-ins."""
    return [*BUILTIN, *sorted(_entry_points())]


def register(target: Target) -> Target:
    """Make ``target`` known under its kind (for plug-ins built at run time, and tests)."""
    _LOADED[target.kind] = target
    return target


def get_target(kind: str) -> Target:
    """The target of ``kind``; an unknown kind is a :class:`ConfigError` listing the known."""
    target = _LOADED.get(kind)
    if target is not None:
        return target
    if kind in BUILTIN:
        target = importlib.import_module(BUILTIN[kind]).TARGET
    elif isinstance(kind, str) and kind in _entry_points():
        loaded = _entry_points()[kind].load()
        target = loaded() if callable(loaded) and not isinstance(loaded, Target) else loaded
        if not isinstance(target, Target) or target.kind != kind:
            raise ConfigError(f"the {ENTRY_POINT_GROUP} entry point {kind!r} must name a "
                              f"simulator.targets.Target of kind {kind!r}")
    else:
        raise ConfigError(f"no target of kind {kind!r}; known kinds: {', '.join(kinds())}")
    _LOADED[kind] = target
    return target


def all_targets() -> list[Target]:
    return [get_target(k) for k in kinds()]


def op_category(op_type: str, domain: str = "") -> str | None:
    """The catalogue category of an operator type (``None`` if the catalogue lacks it); with no
    domain, graph ops' types are looked up in every domain (they are unique)."""
    from workloads import ops

    if not domain:
        return ops.category(op_type)
    spec = ops.find(op_type, domain)
    return None if spec is None else spec.category


def array_estimate(graph, rows: int, cols: int, dataflow: str, word_bytes: int,
                   sram_kb: tuple[float, float, float]) -> int:
    """Instructions a systolic-array lowering emits, roughly: a load, a GEMM and a store per
    chunk of every fold (a fold streams T rows in chunks whose tiles fit half their SRAM:
    ``sram_kb`` = ifmap, filter, ofmap), three per other op."""
    from simulator.config.methods import spatial
    from workloads import ops

    half = [max(1, int(kb * 512)) for kb in sram_kb]   # half of each SRAM, bytes
    streamed = {"os": (half[0] // rows, half[1] // cols), "ws": (half[0] // rows,
                half[2] // cols), "is": (half[1] // rows, half[2] // cols)}[dataflow]
    chunk = max(1, min(streamed) // max(1, word_bytes))
    total = 0
    for op in graph.ops:
        if not ops.is_matmul(op.type):
            total += 3
            continue
        for g in ops.gemm_shapes(graph, op, word_bytes):
            sr, sc, t = spatial(dataflow, g.m, g.n, g.k)
            total += 3 * -(-sr // rows) * -(-sc // cols) * -(-t // chunk)
    return total


def kinds_lowering(op_type: str, domain: str = "") -> list[str]:
    """The kinds that lower the catalogue operator ``op_type`` (what ``archsim ops`` lists)."""
    return [t.kind for t in all_targets() if t.lowers(op_type, domain)]


# ---------------------------------------------------------------------------------- configs

def config_from_dict(data: Any, source: str = "<config>", lines: dict | None = None
                     ) -> HardwareConfig:
    """Validate a plain dict (as read from YAML) into the config model its ``kind`` names."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", where=source)
    kind = data.get("kind")
    # a built-in kind needs no scan of the installed packages' entry points
    if not isinstance(kind, str) or (kind not in BUILTIN and kind not in kinds()):
        # a --set kind=... is named as such
        where = _origin(lines, ("kind",), source) if ("kind",) in lines or \
            ("kind",) in lines.get(OVERRIDES, {}) else source
        got = "missing" if kind is None else f"{kind!r} is unknown"
        raise ConfigError(f"kind: {got}; accepted kinds: {', '.join(kinds())}", where=where)
    from simulator.config.base import parse_model

    return parse_model(config_model(kind), data, source, lines)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None, *,
                plain: bool = False) -> HardwareConfig:
    """Load a YAML config (or a SCALE-Sim ``.cfg``), applying dotted-path ``overrides`` first.

    ``plain``: a config the fast path takes (:func:`simulator.config.plain.plain_config`: the
    common case of a built-in kind it describes) is returned as a read-only object with the
    model's attributes, methods and ``model_dump``, without importing pydantic; anything else
    goes through the model as without it."""
    data, lines = read_config_file(path)
    for dotted, value in (overrides or {}).items():
        if not isinstance(data, dict):
            break
        set_dotted(data, dotted, value, lines)
    if plain:
        from simulator.config.plain import plain_config

        config = plain_config(data)
        if config is not None:
            return config  # type: ignore[return-value]
    return config_from_dict(data, str(path), lines)


def config_model(kind: str) -> type[HardwareConfig]:
    """The config model of ``kind`` (the class, also when its target names it by string)."""
    model = get_target(kind).config_model
    if isinstance(model, str):
        module, name = model.split(":")
        model = getattr(importlib.import_module(module), name)
    return model

