"""The compiled fold loop (simulator/lower/_fold_kernel.py) against the Python loop it replaces on
large GEMMs: the same instructions (ids, dims, bytes, deps, tensors), the same SRAM contents and
``last_write`` afterwards, on random GEMM chains and configs and on real models; which loop runs
is only a matter of speed."""

from __future__ import annotations

import random

import pytest

from simulator import api
from simulator.api import config_from_dict
from simulator.lower import systolic
from simulator.lower.systolic import SystolicLowering
from workloads.graph import Graph, Tensor, add_conv, add_gemm


def _lower(cfg, graph: Graph, compiled: bool, monkeypatch) -> SystolicLowering:
    """Lower ``graph`` with the compiled loop on every GEMM the Python loop would otherwise
    fold (``compiled``), or never."""
    with monkeypatch.context() as patch:
        patch.setattr(systolic, "KERNEL_MIN_FOLDS", 1 if compiled else 10**18)
        patch.setattr(systolic, "KERNEL_LOAD_FOLDS", 0)
        low = SystolicLowering(cfg)
        graph.validate()
        for op in graph.ops:
            low.lower_layer(graph, op)
    return low


def _state(low: SystolicLowering) -> list:
    return [[(key, tile.nbytes, tile.release) for key, tile in sram.tiles.items()] + [sram.used]
            for sram in (low.ifmap, low.filter, low.ofmap)] + [sorted(low.last_write.items())]


def _assert_same(cfg, graph: Graph, monkeypatch) -> int:
    python = _lower(cfg, graph, False, monkeypatch)
    compiled = _lower(cfg, graph, True, monkeypatch)
    want, got = python.out.instructions, compiled.out.instructions
    assert len(got) == len(want)
    for a, b in zip(want, got, strict=True):
        assert a == b, f"instruction {a.id}: {b} != {a}"
    assert got.tensors.names == want.tensors.names   # the same codes, in the same order
    assert _state(compiled) == _state(python)
    return len(want)


def _random_case(seed: int) -> tuple:
    rng = random.Random(seed)
    kb = [0.0625, 0.25, 1, 4, 64]
    cfg = config_from_dict({
        "kind": "systolic", "name": f"random-{seed}",
        "array": {"rows": rng.choice([1, 2, 3, 4, 8, 16]), "cols": rng.choice([1, 2, 4, 5, 8]),
                  "dataflow": rng.choice(["os", "ws", "is"])},
        "sram": {"ifmap_kb": rng.choice(kb), "filter_kb": rng.choice(kb),
                 "ofmap_kb": rng.choice(kb)},
        "word_bytes": rng.choice([1, 2]),
        "precision_scalable": rng.random() < 0.5,
    })
    graph = Graph(name=f"chain-{seed}")
    m, k = rng.randint(1, 150), rng.randint(1, 150)
    graph.add_tensor(Tensor("A", (m, k)))
    graph.inputs.append("A")
    x = add_gemm(graph, "g1", "A", rng.randint(1, 150))
    if rng.random() < 0.5:   # sub-byte weights: fractional B widths, packed K on the PEs
        graph.tensor("g1.B").bits = rng.choice([2, 4])
    x = add_gemm(graph, "g2", x, rng.randint(1, 100))
    add_gemm(graph, "g3", "A", rng.randint(1, 100))   # reads A again: tiles may still be on chip
    graph.outputs.append(x)
    return cfg, graph


@pytest.mark.parametrize("seed", range(40))
def test_random_gemm_chains_lower_identically(monkeypatch, seed):
    cfg, graph = _random_case(seed)
    _assert_same(cfg, graph, monkeypatch)


@pytest.mark.parametrize("seed", range(6))
def test_small_batches_and_a_growing_table_change_nothing(monkeypatch, seed):
    """Batches of a few instructions make the kernel stop and resume at fold boundaries (and
    grow its SRAM rows and key table between calls) many times."""
    cfg, graph = _random_case(100 + seed)
    monkeypatch.setattr(systolic, "BATCH", 7 + seed)
    _assert_same(cfg, graph, monkeypatch)


def test_grouped_convolutions_key_tiles_by_group(monkeypatch):
    cfg = config_from_dict({"kind": "systolic", "array": {"rows": 4, "cols": 4,
                                                          "dataflow": "ws"},
                            "sram": {"ifmap_kb": 1, "filter_kb": 1, "ofmap_kb": 0.5}})
    graph = Graph(name="grouped")
    graph.add_tensor(Tensor("X", (1, 8, 10, 10)))
    graph.inputs.append("X")
    y = add_conv(graph, "conv", "X", 8, (3, 3), (1, 1), (1, 1, 1, 1), group=4)
    graph.outputs.append(y)
    assert _assert_same(cfg, graph, monkeypatch) > 100


@pytest.mark.parametrize("config,workload,passes", [
    ("systolic-32-ws.yaml", "zoo:tiny_cnn", ()),
    ("systolic-128-os.yaml", "zoo:tiny_transformer", ()),
    ("systolic-32-ws.yaml", "zoo:tiny_cnn", ("im2col=implicit",)),   # opaque keys
    ("systolic-32-ws.yaml", "zoo:tiny_cnn", ("squant:bits=4",)),
])
def test_models_lower_identically(monkeypatch, config, workload, passes):
    cfg = api.load_config(f"configs/{config}")
    graph = api.prepare(cfg, workload, passes=list(passes))
    assert _assert_same(cfg, graph, monkeypatch) > 200


def test_the_compiled_loop_runs_only_once_numba_pays(monkeypatch):
    """Small lowerings stay in Python (no numba import); a lowering past KERNEL_LOAD_FOLDS
    folds switches, and the trace is the same either way."""
    cfg = config_from_dict({"kind": "systolic", "array": {"rows": 4, "cols": 4,
                                                          "dataflow": "os"},
                            "sram": {"ifmap_kb": 1, "filter_kb": 1, "ofmap_kb": 1}})
    low = SystolicLowering(cfg)
    assert not low._compiled_pays(systolic.KERNEL_MIN_FOLDS - 1, _shape())
    monkeypatch.setattr(systolic, "_KERNEL_MODULE", "not.loaded")
    assert not low._compiled_pays(systolic.KERNEL_MIN_FOLDS, _shape())
    low.folds = systolic.KERNEL_LOAD_FOLDS
    assert low._compiled_pays(systolic.KERNEL_MIN_FOLDS, _shape())


def _shape():
    from workloads.ops import GemmShape

    return GemmShape(8, 8, 8, 1, 1, 1, "A", "B", "C")
