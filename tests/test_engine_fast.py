"""The in-order event loop equals the SimPy process it replaced (tests/engine_reference.py),
task for task: start, end, unit busy/stall and channel statistics, on random task lists built
to collide (few units, shared channels, equal times, zero-cycle tasks, latencies, several
tasks waiting on one) and on real lowered traces."""

from __future__ import annotations

import pytest
from conftest import CONFIGS
from engine_reference import run_in_order_simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import api
from simulator.engine import Channel, Engine
from simulator.engine.core import TaskArrays

RUN_COLUMNS = Engine.run_columns
RUN_ARRAYS = Engine.run_arrays
LINKS = [Channel("dram", 8, latency=5), Channel("noc", 3.0, latency=0),
         Channel("l2", 2.5, latency=2)]


def _same(columns, links=LINKS):
    units, cycles, channels, nbytes, deps, latency = columns
    ours = RUN_COLUMNS(Engine(links), units, cycles, channels, nbytes, deps, latency=latency)
    ref = run_in_order_simpy({c.name: c for c in links}, units, cycles, channels, nbytes, deps,
                             latency)
    assert ours.start == ref.start and ours.end == ref.end
    assert ours.total_cycles == ref.total_cycles
    assert ours.unit_busy == ref.unit_busy and list(ours.unit_busy) == list(ref.unit_busy)
    assert ours.unit_stall == ref.unit_stall
    assert ours.channel_bytes == ref.channel_bytes and ours.channel_busy == ref.channel_busy
    assert [type(v) for v in ours.channel_busy.values()] == \
        [type(v) for v in ref.channel_busy.values()]
    arrays = TaskArrays.of(units, cycles, channels, nbytes, deps, latency,
                           [c.name for c in links])
    for compiled in (True, False):
        got = RUN_ARRAYS(Engine(links), arrays, compiled=compiled)
        assert got.start.tolist() == ref.start and got.end.tolist() == ref.end
        assert (got.total_cycles, got.unit_busy, got.unit_stall, got.channel_bytes,
                got.channel_busy) == (ref.total_cycles, ref.unit_busy, ref.unit_stall,
                                      ref.channel_bytes, ref.channel_busy)
        assert list(got.unit_busy) == list(ref.unit_busy)
        assert [type(v) for v in got.channel_busy.values()] == \
            [type(v) for v in ref.channel_busy.values()]


@st.composite
def task_columns(draw, max_tasks: int = 40):
    n = draw(st.integers(0, max_tasks))
    units, cycles, channels, nbytes, deps, latency = [], [], [], [], [], []
    for i in range(n):
        units.append(draw(st.sampled_from(["a", "b", "c", "d"])))
        channel = draw(st.sampled_from([None, None, "dram", "dram", "noc", "l2"]))
        channels.append(channel)
        cycles.append(draw(st.sampled_from([0, 0, 1, 2, 3, 8, 13])))
        nbytes.append(draw(st.sampled_from([0, 1, 8, 16, 33, 64])) if channel else 0)
        deps.append(tuple(sorted(draw(st.lists(st.integers(0, i - 1), max_size=3,
                                                unique=True)))) if i else ())
        latency.append(draw(st.sampled_from([0, 0, 0, 4, 9])))
    return units, cycles, channels, nbytes, deps, latency


@settings(max_examples=400, deadline=None)
@given(task_columns())
def test_random_task_lists_schedule_exactly_as_simpy(columns):
    _same(columns)


@settings(max_examples=100, deadline=None)
@given(task_columns(max_tasks=120))
def test_longer_task_lists_schedule_exactly_as_simpy(columns):
    _same(columns)


@pytest.mark.parametrize("config,workload", [
    ("systolic-32-ws.yaml", "resnet18"),
    ("systolic-128-os.yaml", "zoo:tiny_cnn"),
    ("mlu-4.yaml", "zoo:tiny_transformer"),
    ("dstc.yaml", "zoo:tiny_cnn"),
])
def test_real_traces_schedule_exactly_as_simpy(config, workload, monkeypatch):
    """Every engine run a simulation makes (the npu's per kernel, sparse_tc's three variants)
    checked against SimPy."""
    cfg = api.load_config(CONFIGS / config)
    trace = api.lower(cfg, workload)
    runs = []

    def checked(self, units, cycles, channels, nbytes, deps, progress=None, *, latency=None,
                groups=None):
        runs.append(1)
        _same((units, cycles, channels, nbytes, deps, latency), list(self.channels.values()))
        return RUN_COLUMNS(self, units, cycles, channels, nbytes, deps, progress,
                        latency=latency, groups=groups)

    def checked_arrays(self, tasks, progress=None, compiled=None):
        runs.append(1)
        _same(tasks.lists(), list(self.channels.values()))
        return RUN_ARRAYS(self, tasks, progress, compiled)

    monkeypatch.setattr(Engine, "run_columns", checked)
    monkeypatch.setattr(Engine, "run_arrays", checked_arrays)
    api.simulate(trace, cfg)
    assert runs


@pytest.mark.parametrize("deps,channels,message", [
    ([(), (1,), ()], [None, "noc", None], "depends on 1"),
    ([(), (), (0,)], [None, "noc", None], "unknown channel 'noc'"),
    ([(), (), (5,)], [None, None, None], "depends on 5"),
    ([(), (0,), (7,)], [None, None, "noc"], "depends on 7")])   # not the first dependency
def test_bad_task_lists_are_refused_alike_on_arrays(deps, channels, message):
    from simulator.errors import TraceError

    links = [Channel("dram", 8)]
    with pytest.raises(TraceError, match=message):
        Engine(links).run_columns(["a"] * 3, [1] * 3, channels, [0] * 3, deps)
    arrays = TaskArrays.of(["a"] * 3, [1] * 3, channels, [0] * 3, deps, None, ["dram"])
    with pytest.raises(TraceError, match=message):
        Engine(links).run_arrays(arrays, compiled=True)
