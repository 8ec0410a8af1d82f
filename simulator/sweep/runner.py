"""Running a sweep: skip what the store already has, run the rest, store each point at once.

Three executors yield rows as points finish, and the driver (this process, the only writer)
commits each to the store before asking for the next:

- ``serial``: in this process (``workers=1``), no pickling, no pool start-up;
- ``pool``: local worker processes, one point each at a time (memory stays flat on a
  100,000-point sweep, Ctrl-C is prompt); a worker that dies costs only its own point, which
  a fresh worker runs once more (twice lost: an error row), while the others go on;
- ``dask``: a Dask distributed scheduler (``tcp://HOST:PORT``) or a LocalCluster
  (``local:N``); ``dask`` is imported only on this path.

The numbers depend only on the point (config, workload, passes), never on which worker ran
it or in what order, and results.csv is written in spec order, so every runner gives the
same file (but for wall times).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import Any, Protocol

from simulator.sweep.spec import Point, SweepError, SweepSpec, load_spec
from simulator.sweep.store import HELD_LOCKS, ResultStore
from simulator.sweep.worker import init_pool_worker, run_point

CSV_REFRESH_S = 10.0   # results.csv is rewritten at most this often while a sweep runs,
CSV_MAX_SHARE = 0.05   # and never takes more than this share of the driver's time
WINDOW_PER_WORKER = 4  # Dask: tasks in flight per worker: enough to hide IPC, small enough to stop


class SweepProgress(Protocol):
    """What a front end (the CLI's progress bar) is told; the library itself never prints."""

    def start(self, total: int, done: int, to_run: int, runner: str) -> None: ...

    def point(self, row: dict[str, Any]) -> None: ...

    def waiting(self, address: str) -> None:
        """A Dask scheduler has no worker yet; the sweep waits for one (optional)."""


@dataclass
class SweepReport:
    total: int          # points in the spec (after constraints and duplicates)
    already_done: int   # found in the store and skipped
    ran: int            # computed by this run
    ok: int             # of those, succeeded
    failed: int         # of those, error rows
    excluded: int       # dropped by constraints
    duplicates: int
    wall_s: float
    runner: str
    csv_path: Path
    store_path: Path
    sim_s: float = 0.0  # sum of in-worker wall times of the points this run computed


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_sweep(spec: SweepSpec | str | Path, out: str | Path, workers: int | None = None,
              cluster: str | None = None, retry_errors: bool = False,
              progress: SweepProgress | None = None,
              cluster_timeout: float | None = None) -> SweepReport:
    """Run every point of ``spec`` not already in ``out``'s store; return what happened."""
    t0 = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    expansion = spec.expand()
    points = expansion.points
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    with ResultStore(out) as store:
        done = store.finished(include_errors=not retry_errors)
        todo = [p for p in points if p.point_id not in done]
        store.begin_run(spec.source, len(points))
        by_id = {p.point_id: p for p in todo}

        def started() -> None:
            """The runner is up (pool forked, cluster reached): now the front end may draw."""
            if progress is not None:
                progress.start(len(points), len(points) - len(todo), len(todo), runner)

        if cluster:
            runner = f"dask {cluster}"
            waiting = getattr(progress, "waiting", None)
            rows = _dask([p.task() for p in todo], cluster, started, waiting, cluster_timeout)
        elif workers == 1 or len(todo) <= 1:
            runner = "1 worker (in process)"
            rows = _serial((p.task() for p in todo), started)
        else:
            n = min(workers, len(todo))
            runner = f"{n} local workers"
            rows = _pool([p.task() for p in todo], n, started)
        ok = failed = 0
        sim_s = 0.0
        last_csv, csv_every = time.monotonic(), CSV_REFRESH_S
        try:
            with contextlib.closing(rows):
                for row in rows:
                    store.add(by_id[row["id"]], row)
                    ok += row["status"] == "ok"
                    failed += row["status"] == "error"
                    sim_s += row.get("wall_s") or 0.0
                    if progress is not None:
                        progress.point(row)
                    if time.monotonic() - last_csv > csv_every:
                        t_csv = time.monotonic()
                        store.write_csv(points, spec.param_names, spec.fixed)
                        last_csv = time.monotonic()
                        csv_every = max(CSV_REFRESH_S, (last_csv - t_csv) / CSV_MAX_SHARE)
        finally:
            csv_path = store.write_csv(points, spec.param_names, spec.fixed)
            _write_parquet(csv_path)
        return SweepReport(len(points), len(points) - len(todo), ok + failed, ok, failed,
                           expansion.excluded, expansion.duplicates,
                           time.perf_counter() - t0, runner, csv_path, store.path, sim_s)


def _write_parquet(csv_path: Path) -> None:
    """results.parquet beside results.csv, when pandas and pyarrow are installed."""
    from simulator.files import atomic_write
    from simulator.sweep.frame import PARQUET_NAME, parquet_bytes

    data = parquet_bytes(csv_path.read_text())
    if data is not None:
        atomic_write(csv_path.with_name(PARQUET_NAME), data)


def _serial(tasks: Iterable[dict], started: Callable[[], None]) -> Iterator[dict]:
    started()
    for task in tasks:
        yield run_point(task)


def _died_row(task: dict) -> dict:
    return {"id": task["id"], "index": task["index"], "status": "error", "wall_s": None,
            "error": "the worker process died while running this point (killed, or out of "
                     "memory?); rerun with --retry-errors to try it again"}


def _mp_context() -> Any:
    """How pool workers start. ``fork`` on Linux while the driver is single-threaded: the
    workers inherit the imported simulator and start in milliseconds (forkserver spends ~0.5 s
    importing it again, 15% of a 64-point sweep of 50 ms points). With threads alive (a
    progress bar, a rebuilt pool) fork could copy a held lock into a child, so then
    forkserver, which forks from a clean single-threaded server; spawn elsewhere."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["simulator.sweep.worker", "simulator.pipeline"])
        return ctx
    return mp.get_context("spawn")


class _Worker:
    """One pool process and the duplex pipe it gets tasks on and sends rows back on."""

    def __init__(self, ctx: Any, fds: tuple[int, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, fds), daemon=True)
        self.proc.start()
        child.close()
        self.task: dict | None = None   # the point it is running

    def give(self, task: dict) -> None:
        self.task = task
        self.conn.send(task)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout=1)


def _worker_main(conn: Any, fds: tuple[int, ...]) -> None:
    """A pool process: run the points it is sent, one at a time, until the pipe closes."""
    init_pool_worker(fds)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(run_point(task))


def _new_worker() -> _Worker:
    """A worker process, started the way :func:`_mp_context` says is safe now; a forked one
    closes the copies of the driver's lock descriptors it inherits."""
    ctx = _mp_context()
    return _Worker(ctx, tuple(HELD_LOCKS) if ctx.get_start_method() == "fork" else ())


def _pool(tasks: list[dict], workers: int, started: Callable[[], None]) -> Iterator[dict]:
    """``workers`` processes, one point each at a time. A worker that dies (killed, out of
    memory) costs only the point it was running: that point is given to a fresh worker once
    more (the kill may have come from outside) and, if it kills that one too, becomes an error
    row; the other workers never stop."""
    queue: deque[dict] = deque(tasks)
    deaths: dict[str, int] = {}
    pool = [_new_worker() for _ in range(workers)]
    started()
    fruitless = 0   # workers in a row that died before finishing a single point

    def assign(i: int, task: dict) -> None:
        """Give ``task`` to worker ``i``; one that died while idle (its pipe is broken) is
        replaced first: an idle worker's death costs no point."""
        try:
            pool[i].give(task)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            pool[i].stop()
            pool[i] = _new_worker()
            pool[i].give(task)

    try:
        for i in range(len(pool)):
            if queue:
                assign(i, queue.popleft())
        while any(w.task is not None for w in pool):
            busy = [w for w in pool if w.task is not None]
            ready = mp_connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for i, worker in enumerate(pool):
                if worker.task is None:
                    continue
                row = None
                if worker.conn in ready:
                    with contextlib.suppress(EOFError, OSError):
                        row = worker.conn.recv()
                if row is not None:
                    fruitless = 0
                    worker.task = None
                    yield row
                    if queue:
                        assign(i, queue.popleft())
                    continue
                if worker.proc.sentinel not in ready and worker.proc.is_alive():
                    continue
                task, worker.task = worker.task, None   # the process died with this point
                worker.stop()
                fruitless += 1
                if fruitless >= 3 * workers:
                    raise SweepError("the worker processes die before finishing any point; "
                                     "run with --workers 1 to see why")
                deaths[task["id"]] = deaths.get(task["id"], 0) + 1
                if deaths[task["id"]] >= 2:
                    yield _died_row(task)   # it killed two workers: it is the cause
                    task = queue.popleft() if queue else None
                pool[i] = _new_worker()
                if task is not None:
                    assign(i, task)
    finally:
        for worker in pool:
            worker.stop()


def _dask(tasks: list[dict], address: str, started: Callable[[], None],
          waiting: Callable[[str], None] | None = None, timeout: float | None = None
          ) -> Iterator[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SweepError("--cluster needs Dask distributed: pip install 'archsim[dist]'",
                         where=f"--cluster {address}") from None
    import logging

    cluster = None
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise SweepError("expected local:N with N >= 1 workers", where=f"--cluster {address}")
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        target: Any = cluster
    elif address.startswith(("tcp://", "tls://", "ucx://", "ws://", "wss://")):
        target = address
    else:
        raise SweepError("expected tcp://HOST:PORT (a running dask scheduler) or local:N",
                         where=f"--cluster {address}")
    try:
        client = Client(target, timeout="20s")
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        raise SweepError(f"cannot reach the Dask scheduler: {err}",
                         where=f"--cluster {address}") from None
    try:
        if not client.nthreads():   # a scheduler with no worker: say so, and wait
            if waiting is not None:
                waiting(address)
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise SweepError(f"no Dask worker joined the scheduler within {timeout:g} s",
                                 where=f"--cluster {address}") from None
        slots = max(1, sum(client.nthreads().values()))
        pending = deque(tasks)
        running = as_completed()
        by_key: dict[str, dict] = {}

        def submit() -> None:
            task = pending.popleft()
            fut = client.submit(run_point, task, key=f"archsim-point-{task['id']}", pure=False)
            by_key[fut.key] = task
            running.add(fut)

        while pending and running.count() < slots * WINDOW_PER_WORKER:
            submit()
        started()
        for fut in running:
            task = by_key.pop(fut.key)
            try:
                row = fut.result()
            except Exception as err:  # KilledWorker: the point took down workers repeatedly
                row = _died_row(task)
                row["error"] = f"dask: {type(err).__name__}: {err}"
            fut.release()
            yield row
            if pending:
                submit()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def expand_only(spec: SweepSpec | str | Path) -> list[Point]:
    """The points a sweep would run (``archsim sweep --dry-run``)."""
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    return spec.expand().points
