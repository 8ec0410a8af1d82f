"""The SimPy core on hand-built task lists whose timing is known exactly."""

from __future__ import annotations

import pytest

from simulator.engine import Channel, Engine, Task
from simulator.errors import TraceError


def test_in_order_unit_runs_tasks_back_to_back():
    stats = Engine().run([Task("u", cycles=5), Task("u", cycles=7), Task("u", cycles=0)])
    assert stats.start == [0, 5, 12]
    assert stats.end == [5, 12, 12]
    assert stats.total_cycles == 12
    assert stats.unit_busy == {"u": 12}
    assert stats.unit_stall == {"u": 0}


def test_dependency_across_units_delays_and_counts_stall():
    stats = Engine().run([Task("a", cycles=10), Task("b", cycles=3, deps=(0,))])
    assert stats.start[1] == 10 and stats.end[1] == 13
    assert stats.unit_stall["b"] == 10


def test_channel_contention_serialises_concurrent_transfers():
    # Two DMA units each move 100 bytes over a 10 B/cycle link at the same time: FIFO.
    eng = Engine([Channel("dram", 10, latency=0)])
    stats = eng.run([Task("dma0", channel="dram", nbytes=100),
                     Task("dma1", channel="dram", nbytes=100)])
    assert sorted(stats.end) == [10, 20]
    assert stats.channel_bytes["dram"] == 200
    assert stats.channel_busy["dram"] == 20
    assert stats.total_cycles == 20


def test_channel_latency_is_pipelined():
    # The link is free once the last byte is sent; completion comes `latency` later.
    eng = Engine([Channel("dram", 8, latency=100)])
    stats = eng.run([Task("dma", channel="dram", nbytes=64), Task("dma", channel="dram", nbytes=64),
                     Task("pe", cycles=1, deps=(1,))])
    assert stats.end[:2] == [108, 116]
    assert stats.start[1] == 8
    assert stats.start[2] == 116 and stats.total_cycles == 117


def test_partial_bytes_round_up_to_whole_cycles():
    stats = Engine([Channel("l", 32)]).run([Task("d", channel="l", nbytes=33)])
    assert stats.total_cycles == 2


def test_forward_dependency_is_rejected():
    with pytest.raises(TraceError, match="earlier"):
        Engine().run([Task("a", deps=(1,)), Task("a")])


def test_unknown_channel_is_rejected():
    with pytest.raises(TraceError, match="unknown channel"):
        Engine([Channel("dram", 1)]).run([Task("a", channel="noc", nbytes=1)])


def test_many_independent_units_overlap():
    tasks = [Task(f"u{i}", cycles=100) for i in range(8)]
    assert Engine().run(tasks).total_cycles == 100


def test_progress_reports_every_task_by_the_end():
    calls = []
    Engine().run([Task("u", cycles=1)] * 20000, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (20000, 20000)
    assert [d for d, _ in calls[:-1]] == [8192, 16384]


def test_task_latency_delays_dependants_but_not_the_unit():
    stats = Engine().run([Task("dma", cycles=10, latency=100), Task("dma", cycles=10),
                          Task("pe", cycles=1, deps=(0,))])
    assert stats.start == [0, 10, 110]
    assert stats.end == [110, 20, 111]
    assert stats.unit_busy["dma"] == 20 and stats.unit_stall["dma"] == 0


def test_task_latency_adds_to_the_channel_latency():
    eng = Engine([Channel("dram", 8, latency=100)])
    stats = eng.run([Task("dma", channel="dram", nbytes=64, latency=7),
                     Task("pe", cycles=1, deps=(0,))])
    assert stats.end[0] == 8 + 100 + 7 and stats.start[1] == 115
