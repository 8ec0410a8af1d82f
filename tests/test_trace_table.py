"""The columnar instruction store: the same instructions as the list form, whichever way they
were appended, in a fraction of the memory; and the systolic target times a list and a table
of the same instructions identically."""

from __future__ import annotations

import random

import numpy as np
import pytest

from simulator import api
from simulator.lower.systolic import GEMM_DIMS, KINDS
from simulator.trace import (
    Instruction,
    InstructionTable,
    Trace,
    TraceBuilder,
    read_trace,
    write_trace,
)


def _random_instructions(n: int, seed: int) -> list[Instruction]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        op = rng.choice(["LOAD", "GEMM", "STORE", "VEC"])
        dims = {k: rng.randrange(0, 1 << rng.choice([4, 20, 40]))
                for k in rng.sample(["rows", "cols", "t", "work", "m0"], rng.randrange(0, 4))}
        nbytes = {k: rng.randrange(0, 1 << 36) for k in rng.sample(
            ["dram_read", "dram_write", "sram_read", "sram_write"], rng.randrange(0, 3))}
        deps = sorted(rng.sample(range(i), min(i, rng.randrange(0, 4))))
        out.append(Instruction(i, op, rng.choice(["array", "dma_load", "vector"]),
                               f"layer{rng.randrange(5)}", dims, nbytes, deps,
                               rng.choice([None, "x", "w", "y"])))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_table_holds_exactly_the_instructions_appended(seed):
    """Random instructions, with values beyond 32 bits (the block widens) and repeated or
    missing keys: every one comes back equal, and so do the columns."""
    listed = _random_instructions(300, seed)
    table = InstructionTable.of(listed)
    assert len(table) == 300 and list(table) == listed and table == listed
    assert table[-1] == listed[-1] and table[10:20] == listed[10:20]
    for key in ("rows", "work", "m0"):
        assert table.dim(key).tolist() == [i.dims.get(key, -1) for i in listed]
    for key in ("dram_read", "sram_write"):
        assert table.nbytes(key).tolist() == [i.bytes.get(key, 0) for i in listed]
    ptr, idx = table.deps_csr()
    assert [idx[ptr[i]:ptr[i + 1]].tolist() for i in range(300)] == [i.deps for i in listed]


def test_non_integer_dims_are_kept_as_they_are():
    table = InstructionTable()
    table.emit("RECV", "noc", "l", {"hops": 2}, {}, [])
    table.emit("RECV", "noc", "l", {"hops": 1.5}, {}, [0])
    assert [i.dims for i in table] == [{"hops": 2}, {"hops": 1.5}]


def test_emit_cleans_dependencies_like_the_list_builder():
    listed, columnar = TraceBuilder(), TraceBuilder(columnar=True)
    for builder in (listed, columnar):
        builder.emit("LOAD", "dma_load", "a", {}, {"dram_read": 4}, [None])
        builder.emit("GEMM", "array", "a", {"rows": 2}, {}, [0, None, 0], "y")
        builder.emit("STORE", "dma_store", "a", {}, {"dram_write": 4}, [1, 0, 1])
    assert columnar.instructions == listed.instructions
    assert [i.deps for i in columnar.instructions] == [[], [0], [0, 1]]


def test_a_batch_equals_the_same_instructions_emitted_one_by_one():
    """extend_kinds (the systolic fold loop's path) against emit_row, on a random batch."""
    rng = random.Random(7)
    kinds = [(op, unit, GEMM_DIMS if op == "GEMM" else (), keys) for op, unit, keys in KINDS]
    one, batch = InstructionTable(), InstructionTable()
    one.emit("VEC", "vector", "before", {"work": 3}, {}, [])
    batch.emit("VEC", "vector", "before", {"work": 3}, {}, [])
    kind, tensors, dims, values, deps, ndeps = [], [], [], [], [], []
    for i in range(1, 200):
        k = rng.randrange(3)
        d = [rng.randrange(1 << 33) for _ in GEMM_DIMS] if k == 1 else []
        b = [rng.randrange(1 << 20), rng.randrange(1 << 20)]
        p = sorted(rng.sample(range(i), min(i, rng.randrange(3))))
        tensor = rng.choice(["a", "b", "c.psum"])
        op, unit, dk, bk = kinds[k]
        one.emit_row(op, unit, "L", dk, d, bk, b, p, tensor)
        kind.append(k)
        tensors.append(tensor)
        dims += d
        values += b
        deps += p
        ndeps.append(len(p))
    batch.extend_kinds(kinds, kind, "L", tensors, dims, values, deps, ndeps)
    batch.emit("VEC", "vector", "after", {"work": 1}, {}, [5])
    one.emit("VEC", "vector", "after", {"work": 1}, {}, [5])
    assert list(batch) == list(one)


def test_an_edited_copy_can_be_put_back():
    table = InstructionTable.of(_random_instructions(20, 1))
    ins = table[5]
    ins.dims["extra"] = 9
    ins.unit = "other"
    table[5] = ins
    assert table[5] == ins
    ins.deps = ins.deps + [0, 1]
    with pytest.raises(ValueError, match="number of deps"):
        table[5] = ins


@pytest.mark.parametrize("workload,dataflow", [("resnet18", "ws"), ("mobilenet_v2", "is"),
                                               ("tiny_transformer", "os")])
def test_list_and_table_of_one_trace_time_identically(tmp_path, workload, dataflow):
    """The systolic target on a columnar trace and on the list read back from its file:
    identical results, layer by layer and instruction by instruction."""
    cfg = api.load_config("configs/systolic-32-ws.yaml", {"array.dataflow": dataflow})
    trace = api.lower(cfg, workload)
    assert isinstance(trace.instructions, InstructionTable)
    write_trace(trace, tmp_path / "t.jsonl")
    again = read_trace(tmp_path / "t.jsonl")
    assert isinstance(again.instructions, list) and again.instructions == trace.instructions
    a = api.simulate(trace, cfg, timeline=True)
    b = api.simulate(again, cfg, timeline=True)
    assert a.total_cycles == b.total_cycles and a.layer_records() == b.layer_records()
    assert a.timeline == b.timeline and a.units == b.units and a.bytes == b.bytes


def test_a_table_is_much_smaller_than_the_objects():
    cfg = api.load_config("configs/systolic-32-ws.yaml")
    trace = api.lower(cfg, "resnet18")
    per = trace.instructions.nbytes_used() / len(trace.instructions)
    assert per < 100, per   # the list form took ~1 KB an instruction


def test_ids_out_of_order_are_refused():
    listed = _random_instructions(3, 0)
    listed[1].id = 5
    with pytest.raises(ValueError, match="count up from 0"):
        InstructionTable.of(listed)
    cfg = api.load_config("configs/systolic-32-ws.yaml")
    trace = Trace("systolic", {}, "w", [], listed)
    with pytest.raises(Exception, match="count up from 0"):
        api.simulate(trace, cfg)


def test_columns_are_int64_numpy():
    table = InstructionTable.of(_random_instructions(10, 2))
    for column in ("op", "unit", "layer", "tensor"):
        assert table.column(column).dtype == np.int64


@pytest.mark.parametrize("change,message", [
    (lambda i: i.dims.pop("t"), "GEMM lacks dims.t"),
    (lambda i: i.dims.__setitem__("cols", 999), "GEMM fold uses 32x999 PEs but the config's "
                                                "array is 32x32"),
    (lambda i: setattr(i, "unit", "vector"), "GEMM on unit 'vector' is not executed"),
])
def test_the_systolic_target_names_the_first_bad_instruction(change, message):
    """Timing checks made column by column report the instruction the loop reported."""
    from simulator.errors import TraceError

    cfg = api.load_config("configs/systolic-32-ws.yaml")
    trace = api.lower(cfg, "gemm:64,64,64")
    listed = list(trace.instructions)
    gemms = [i for i in listed if i.op == "GEMM"]
    change(gemms[1])
    change(gemms[2])
    bad = Trace("systolic", trace.config, "w", trace.layers, listed)
    with pytest.raises(TraceError, match=message) as err:
        api.simulate(bad, cfg)
    assert err.value.where == f"instruction {gemms[1].id}"


@pytest.mark.parametrize("config,workload", [("systolic-32-ws.yaml", "mobilenet_v2"),
                                             ("systolic-128-os.yaml", "tiny_transformer"),
                                             ("mlu-4.yaml", "zoo:tiny_cnn")])
def test_fold_loop_batches_hand_over_the_same_trace(monkeypatch, config, workload):
    """The fold loop hands its instructions over every BATCH of them (bounded memory on huge
    GEMMs): any batch size gives the same trace, columnar (systolic) or through the npu's
    per-core builders."""
    from simulator.lower import systolic

    cfg = api.load_config(f"configs/{config}")
    whole = api.lower(cfg, workload)
    monkeypatch.setattr(systolic, "BATCH", 5)
    assert list(api.lower(cfg, workload).instructions) == list(whole.instructions)

