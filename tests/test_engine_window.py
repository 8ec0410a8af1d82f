"""The ready-window dispatch policy (a run-time tile scheduler) on hand-built task lists whose
schedules are known exactly, and its invariants on random task lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine import Channel, Engine, InOrder, ReadyWindow, Task
from simulator.errors import TraceError


def window(w: int, tasks: list[Task], channels: list[Channel] | None = None):
    return Engine(channels, dispatch=ReadyWindow(w)).run(tasks)


# Two tiles, each a 10-cycle task on "a" feeding a 5-cycle task on "b".
TWO_TILES = [Task("a", 10, group=0), Task("b", 5, deps=(0,), group=0),
             Task("a", 10, group=1), Task("b", 5, deps=(2,), group=1)]


def test_window_of_one_runs_tiles_one_after_another():
    stats = window(1, TWO_TILES)
    assert stats.start == [0, 10, 15, 25]      # tile 1 is admitted when tile 0 retires at 15
    assert stats.end == [10, 15, 25, 30]
    assert stats.unit_stall == {"a": 5, "b": 20}


@pytest.mark.parametrize("w", [2, 3, 100])
def test_wider_window_overlaps_tiles_on_different_units(w):
    stats = window(w, TWO_TILES)
    assert stats.start == [0, 10, 10, 20]      # tile 1's GEMM runs while tile 0's tail does
    assert stats.total_cycles == 25
    assert stats.unit_busy == {"a": 20, "b": 10}


def test_groups_are_admitted_by_id_not_by_list_order():
    tasks = [Task("a", 4, group=7), Task("a", 3, group=2)]
    stats = window(1, tasks)
    assert stats.start == [3, 0]


def test_idle_unit_takes_the_lowest_ready_index_not_its_list_head():
    tasks = [Task("a", 10), Task("b", 3, deps=(0,)), Task("b", 4)]
    in_order = Engine().run(tasks)
    assert in_order.start[1:] == [10, 13]      # b waits for its head, then runs task 2
    stats = window(1, tasks)
    assert stats.start[1:] == [10, 0]          # b runs ready task 2 while task 1 waits
    assert stats.total_cycles == 13


def test_completions_of_a_moment_are_seen_before_its_dispatch():
    # At 5, "a" frees (task 0) and task 1 completes, readying task 2: "a" must pick task 2
    # (lowest ready index), which it would miss if it dispatched before seeing task 1 finish.
    tasks = [Task("a", 5), Task("b", 5), Task("a", 1, deps=(1,)), Task("a", 1)]
    stats = window(1, tasks)
    assert stats.start == [0, 0, 5, 6]


def test_a_retiring_group_admits_the_next_before_the_same_moments_dispatch():
    tasks = [Task("a", 5, group=0), Task("b", 5, group=0), Task("a", 2, group=1),
             Task("b", 9, group=1)]
    stats = window(1, tasks)
    assert stats.start == [0, 0, 5, 5]


def test_zero_cycle_tasks_complete_within_their_moment():
    tasks = [Task("a", 0), Task("a", 0, deps=(0,)), Task("b", 3, deps=(1,))]
    stats = window(1, tasks)
    assert stats.start == [0, 0, 0] and stats.end == [0, 0, 3]


def test_completion_latency_delays_dependants_not_the_unit():
    tasks = [Task("dma", 10, latency=100), Task("dma", 10, latency=100),
             Task("pe", 1, deps=(0,))]
    stats = window(1, tasks)
    assert stats.start == [0, 10, 110]
    assert stats.end == [110, 120, 111]
    assert stats.unit_busy["dma"] == 20 and stats.unit_stall["dma"] == 0


def test_zero_occupancy_with_latency_leaves_its_unit_to_the_next_moment():
    # Task 0 never makes "dma" busy, so no moment is due when it frees; "dma" takes task 1
    # at the next moment: task 2's completion at 7 (the rule zipper's scheduler always had).
    tasks = [Task("dma", 0, latency=100), Task("dma", 5), Task("c", 7)]
    stats = window(1, tasks)
    assert stats.start == [0, 7, 0]
    assert stats.end == [100, 12, 7]


def test_busy_unit_with_waiting_work_is_served_when_it_frees():
    # "dma" frees at 10 while task 0's completion is 100 cycles later: task 1 starts at 10.
    tasks = [Task("dma", 10, latency=100), Task("dma", 10)]
    assert window(1, tasks).start == [0, 10]


def test_work_readied_while_its_unit_is_busy_starts_when_the_unit_frees():
    # Task 2 becomes ready at 5 while "dma" is busy until 10; nothing completes at 10.
    tasks = [Task("dma", 10, latency=100), Task("c", 5), Task("dma", 3, deps=(1,))]
    assert window(1, tasks).start == [0, 0, 10]


def test_transfers_share_a_channel_in_dispatch_order():
    link = Channel("dram", 10, latency=5)
    tasks = [Task("d0", channel="dram", nbytes=100), Task("d1", channel="dram", nbytes=100),
             Task("pe", 1, deps=(1,))]
    stats = window(1, tasks, [link])
    assert stats.start == [0, 10, 25]
    assert stats.end == [15, 25, 26]
    assert stats.channel_busy == {"dram": 20} and stats.channel_bytes == {"dram": 200}
    assert stats.unit_stall["d1"] == 10


def test_dependency_on_a_later_group_deadlocks_a_narrow_window():
    tasks = [Task("a", 1, group=1), Task("a", 1, deps=(0,), group=0)]
    with pytest.raises(TraceError, match="deadlock: instruction 1"):
        window(1, tasks)
    assert window(2, tasks).start == [0, 1]


def test_bad_task_lists_are_rejected():
    with pytest.raises(TraceError, match="earlier"):
        window(1, [Task("a", deps=(1,)), Task("a")])
    with pytest.raises(TraceError, match="unknown channel"):
        window(1, [Task("a", channel="noc", nbytes=1)])
    with pytest.raises(ValueError, match="at least one"):
        ReadyWindow(0)


def test_progress_reaches_every_task():
    calls = []
    Engine(dispatch=ReadyWindow(2)).run([Task("u", cycles=1)] * 9000,
                                        progress=lambda d, t: calls.append((d, t)))
    assert calls == [(8192, 9000), (9000, 9000)]


def test_empty_task_list():
    stats = window(3, [])
    assert stats.total_cycles == 0 and stats.start == [] and stats.unit_busy == {}


# --------------------------------------------------------------------------------- properties

@st.composite
def task_lists(draw, max_tasks: int = 30, units: int = 4, groups: int = 5):
    """Random tasks; groups never decrease along the list (tiles in program order), so no task
    waits on a group admitted after its own and no window deadlocks."""
    n = draw(st.integers(0, max_tasks))
    group = sorted(draw(st.lists(st.integers(0, groups - 1), min_size=n, max_size=n)))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tasks.append(Task(f"u{draw(st.integers(0, units - 1))}", draw(st.integers(0, 20)),
                          deps=tuple(sorted(deps)), latency=draw(st.sampled_from([0, 0, 3, 50])),
                          group=group[i]))
    return tasks


@settings(max_examples=150, deadline=None)
@given(task_lists())
def test_one_task_per_unit_and_every_group_in_flight_is_the_in_order_schedule(tasks):
    # Nothing contends: each task starts the moment its dependencies are done, either way.
    tasks = [Task(f"own{i}", t.cycles, deps=t.deps, latency=t.latency, group=t.group)
             for i, t in enumerate(tasks)]
    groups = len({t.group for t in tasks}) or 1
    a = Engine(dispatch=ReadyWindow(groups)).run(tasks)
    b = Engine(dispatch=InOrder()).run(tasks)
    assert (a.start, a.end, a.unit_busy, a.unit_stall) == (b.start, b.end, b.unit_busy,
                                                          b.unit_stall)


@settings(max_examples=100, deadline=None)
@given(task_lists())
def test_window_of_one_with_a_group_per_task_is_serial(tasks):
    tasks = [Task(t.unit, t.cycles, deps=t.deps, latency=t.latency, group=i)
             for i, t in enumerate(tasks)]
    stats = window(1, tasks)
    for i in range(1, len(tasks)):
        assert stats.start[i] == stats.end[i - 1]
    assert stats.total_cycles == sum(t.cycles + t.latency for t in tasks)


@settings(max_examples=150, deadline=None)
@given(task_lists(), st.integers(1, 4))
def test_window_schedules_are_feasible(tasks, w):
    stats = window(w, tasks)
    units: dict[str, list[tuple[int, int]]] = {}
    for i, t in enumerate(tasks):
        hold = stats.end[i] - t.latency
        assert hold - stats.start[i] == t.cycles
        assert all(stats.start[i] >= stats.end[d] for d in t.deps)
        units.setdefault(t.unit, []).append((stats.start[i], hold))
    for u, spans in units.items():   # a unit runs one task at a time
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert stats.unit_busy[u] == sum(e - s for s, e in spans)
        assert stats.unit_stall[u] == spans[-1][1] - stats.unit_busy[u]
    life: dict[int, list[int]] = {}   # a group is in flight at least from its first start to
    for i, t in enumerate(tasks):     # its last end: never more than w at once
        lo, hi = life.get(t.group, (stats.start[i], stats.end[i]))
        life[t.group] = [min(lo, stats.start[i]), max(hi, stats.end[i])]
    for t0, _ in life.values():
        assert sum(lo <= t0 < hi for lo, hi in life.values()) <= w
