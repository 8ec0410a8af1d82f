"""Graph -> Graph passes, each registered under a name and run before lowering.

On the command line a pass is ``--pass NAME``, ``--pass NAME=OPTION`` or, for a pass with
several settings, ``--pass NAME:KEY=VALUE,KEY=VALUE`` (repeatable, in order).
A pass never mutates its input graph: it returns a new one (ops and attrs copied).

A pass that tunes for the hardware declares what it needs: the config (``needs_config``) or
the target's cost model (``needs_cost_model``, e.g. fusion's kernel costs on the npu). The
pipeline (``simulator.api``) hands them over; a pass imports no lowering or hardware module.

A pass may declare the hardware ``kinds`` it applies to. On another kind it is an error
(``elsewhere="error"``: the pass would be meaningless there), or, for a pass that is a harmless
no-op elsewhere (``elsewhere="warn"``, e.g. ``im2col`` on targets that always read convolutions
in place), it is skipped with a :class:`PassWarning` (Python ``warnings``; the CLI prints it on
stderr), never silently.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.errors import ArchsimError
from workloads.graph import Graph


class PassError(ArchsimError):
    """A pass named or configured wrongly on the command line."""


class PassWarning(UserWarning):
    """A pass that does not apply to the config's target was skipped."""


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[..., Graph]
    options: tuple[str, ...]  # accepted option values; () for a pass that takes none
    default: str | None
    doc: str
    needs_config: bool = False      # run(graph, option, config); config may be None
    needs_cost_model: bool = False  # run(graph, option, cost_model)
    kinds: tuple[str, ...] = ()     # the hardware kinds it applies to (empty: every kind)
    elsewhere: str = "error"        # on other kinds: "error", or "warn" (skipped, a warning)


PASSES: dict[str, Pass] = {}


def register(name: str, options: tuple[str, ...] = (), default: str | None = None,
             needs_config: bool = False, needs_cost_model: bool = False,
             kinds: tuple[str, ...] = (), elsewhere: str = "error"):
    if elsewhere not in ("error", "warn"):
        raise ValueError(f"pass {name}: elsewhere must be 'error' or 'warn'")

    def wrap(fn: Callable[..., Graph]):
        PASSES[name] = Pass(name, fn, options, default, (fn.__doc__ or "").strip().split("\n")[0],
                            needs_config, needs_cost_model, tuple(kinds), elsewhere)
        return fn
    return wrap


def copy_graph(graph: Graph) -> Graph:
    """A copy whose ops (and attrs) can be changed; tensor values are shared, not copied."""
    new = copy.copy(graph)
    new.ops = [copy.copy(op) for op in graph.ops]
    for op in new.ops:
        op.attrs = dict(op.attrs)
    new.tensors = {name: copy.copy(t) for name, t in graph.tensors.items()}
    return new


def parse_pass(spec: str) -> tuple[Pass, str | None]:
    name, colon, option = spec.partition(":")
    if not colon or "=" in name:
        name, _, option = spec.partition("=")
    if name not in PASSES:
        raise PassError(f"unknown pass {name!r}; available: {', '.join(sorted(PASSES)) or 'none'}",
                        where=f"--pass {spec}")
    p = PASSES[name]
    value = option or p.default
    if p.options and value not in p.options:
        raise PassError(f"pass {name} takes one of {', '.join(p.options)}; got {option!r}",
                        where=f"--pass {spec}")
    return p, value


def apply_passes(graph: Graph, specs: list[str] | None, config=None,
                 cost_model: Callable[[Any], Any] | None = None) -> Graph:
    """Run the named passes in order (parsing all of them first, so a typo fails fast).
    ``config`` is the hardware config and ``cost_model(config)`` builds the target's cost
    model (once, if a pass needs it): what passes that tune for the hardware are handed."""
    parsed = [parse_pass(spec) for spec in specs or []]
    skipped = set()
    for p, _ in parsed:
        if p.kinds and config is not None and config.kind not in p.kinds:
            said = f"pass {p.name} applies to kind {' or '.join(p.kinds)} only; the config is " \
                f"kind {config.kind!r}"
            if p.elsewhere == "error":
                raise PassError(said, where=f"--pass {p.name}")
            warnings.warn(PassWarning(f"--pass {p.name}: {said}, so it changes nothing and was "
                                      "skipped"), stacklevel=2)
            skipped.add(p.name)
    model = None
    for p, value in parsed:
        if p.name in skipped:
            continue
        if p.needs_cost_model:
            if config is None:
                raise PassError(f"pass {p.name} tunes for a hardware config; none was given")
            if cost_model is None:
                raise PassError(f"pass {p.name} tunes for a target that prices its choices; "
                                f"the {config.kind} target has no cost model",
                                where=f"--pass {p.name}")
            model = model or cost_model(config)
            graph = p.run(graph, value, model)
        elif p.needs_config:  # the config may be None: such a pass has a config-free form
            graph = p.run(graph, value, config)
        else:
            graph = p.run(graph, value)
    return graph


def _load_builtin_passes() -> None:
    from simulator.passes import (  # noqa: F401  (register themselves)
        blockskim,  # issue 8: Block-Skim
        density,  # issue 5: operand densities for the sparse tensor core
        fusion,  # issue 6: npu fusion/core-count tuner (needs the npu's cost model)
        gnn_redundancy,
        gnn_tiling,
        im2col,
        squant_pass,
    )


_load_builtin_passes()
