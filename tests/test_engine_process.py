"""The process façade of the engine (what system-level studies such as serving run on): clock,
events, same-moment ordering, and the waiting line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulator.engine import Simulation, WaitingLine


def test_processes_sleep_on_the_clock_and_return_values():
    sim = Simulation()
    log = []

    def worker(name, delay):
        yield sim.timeout(delay)
        log.append((name, sim.now))
        return name.upper()

    done = sim.process(worker("a", 7))
    sim.process(worker("b", 3))
    sim.run()
    assert log == [("b", 3), ("a", 7)] and sim.now == 7
    assert done.value == "A"


def test_events_of_one_moment_fire_in_the_order_they_were_scheduled():
    sim = Simulation()
    log = []

    def sleeper(name):
        yield sim.timeout(5)
        log.append(name)

    for name in "xyz":
        sim.process(sleeper(name))
    # scheduled now, before the processes first run (and ask for their timeouts): fires first
    sim.timeout(5).callbacks.append(lambda _e: log.append("callback"))
    sim.run()
    assert log == ["callback", "x", "y", "z"]


def test_a_waiting_process_resumes_with_the_value_it_was_given():
    sim = Simulation()
    gate = sim.event()
    got = []

    def waiter():
        got.append((yield gate))
        got.append(sim.now)

    def opener():
        yield sim.timeout(4)
        gate.succeed(("cores", 2))

    sim.process(waiter())
    sim.process(opener())
    sim.run()
    assert got == [("cores", 2), 4]


def test_run_until_stops_the_clock():
    sim = Simulation()

    def ticker():
        while True:
            yield sim.timeout(10)

    sim.process(ticker())
    sim.run(until=35)
    assert sim.now == 35


def test_waiting_line_serves_lowest_key_then_first_come():
    line: WaitingLine[str] = WaitingLine()
    for key, item in [(2, "late"), (1, "first"), (2, "later"), (1, "second")]:
        line.push(key, item)
    assert len(line) == 4
    assert [line.pop() for _ in range(4)] == ["first", "second", "late", "later"]
    assert not line


@given(st.lists(st.integers(0, 3), max_size=30))
def test_waiting_line_is_a_stable_sort(keys):
    line: WaitingLine[int] = WaitingLine()
    for i, k in enumerate(keys):
        line.push(k, i)
    out = [line.pop() for _ in keys]
    assert out == sorted(range(len(keys)), key=lambda i: keys[i])


def test_single_server_queue_is_first_come_first_served():
    # A server of service time 10; clients arrive at 0, 1, 2, 30: they are served FCFS, so
    # they leave at 10, 20, 30 and 40.
    sim = Simulation()
    line: WaitingLine = WaitingLine()
    free = [True]
    left = {}

    def grant():
        if free[0] and line:
            free[0] = False
            line.pop().succeed()

    def client(name, arrival):
        yield sim.timeout(arrival)
        turn = sim.event()
        line.push(sim.now, turn)
        grant()
        yield turn
        yield sim.timeout(10)
        left[name] = sim.now
        free[0] = True
        grant()

    for name, arrival in [("a", 0), ("b", 1), ("c", 2), ("d", 30)]:
        sim.process(client(name, arrival))
    sim.run()
    assert left == {"a": 10, "b": 20, "c": 30, "d": 40}
