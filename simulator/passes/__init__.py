"""Graph -> Graph passes, each registered under a name and run before lowering.

On the command line a pass is ``--pass NAME``, ``--pass NAME=OPTION`` or, for a pass with
several settings, ``--pass NAME:KEY=VALUE,KEY=VALUE`` (repeatable, in order).
A pass never mutates its input graph: it returns a new one (ops and attrs copied).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from simulator.errors import ArchsimError
from workloads.graph import Graph


class PassError(ArchsimError):
    """A pass named or configured wrongly on the command line."""


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, str | None], Graph]
    options: tuple[str, ...]  # accepted option values; () for a pass that takes none
    default: str | None
    doc: str
    needs_config: bool = False  # run(graph, option, config): the pass tunes for the hardware


PASSES: dict[str, Pass] = {}


def register(name: str, options: tuple[str, ...] = (), default: str | None = None,
             needs_config: bool = False):
    def wrap(fn: Callable[..., Graph]):
        PASSES[name] = Pass(name, fn, options, default, (fn.__doc__ or "").strip().split("\n")[0],
                            needs_config)
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


def apply_passes(graph: Graph, specs: list[str] | None, config=None) -> Graph:
    """Run the named passes in order (parsing all of them first, so a typo fails fast).
    ``config`` is the hardware config, handed to passes that tune for it."""
    parsed = [parse_pass(spec) for spec in specs or []]
    for p, value in parsed:
        if p.needs_config:
            if config is None:
                raise PassError(f"pass {p.name} tunes for a hardware config; none was given")
            graph = p.run(graph, value, config)
        else:
            graph = p.run(graph, value)
    return graph


def _load_builtin_passes() -> None:
    from simulator.passes import (  # noqa: F401  (register themselves)
        blockskim,  # issue 8: Block-Skim
        fusion,  # issue 6: npu fusion/core-count tuner (needs the hardware config)
        gnn_redundancy,
        gnn_tiling,
        im2col,
        squant_pass,
    )


_load_builtin_passes()
