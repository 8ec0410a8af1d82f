"""The results store: SQLite as the primary, ``results.csv`` derived from it.

Why SQLite and not CSV or Parquet as the primary:

- each finished point is one committed transaction, so a kill (Ctrl-C, SIGKILL, power cut of
  the driver) never leaves a torn row: the point is either all there or not there, and the
  next run recomputes exactly the missing ones. Appending to a CSV can leave half a line, and
  Parquet is columnar with a footer: it cannot be appended a row at a time at all;
- the point id is the primary key, so "never duplicated" is a database guarantee rather than a
  convention of the writer;
- it ships with Python: the default path needs no pandas/pyarrow, and other programs (a
  notebook, ``archsim plot``, a test) can read it while a sweep writes (WAL mode).

``results.csv`` is rewritten atomically from the store, in spec order, while the sweep runs
and at its end, so it is always a complete, well-formed file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simulator.report.export import atomic_write
from simulator.result import BYTE_KEYS
from simulator.sweep.spec import Point, SweepError

try:
    import fcntl
except ImportError:  # Windows: no folder lock; the primary key still prevents duplicates
    fcntl = None  # type: ignore[assignment]

STORE_NAME = "results.sqlite"
CSV_NAME = "results.csv"
LOCK_NAME = ".results.lock"
LOCK_WAIT_S = 5.0  # a killed driver's forked workers may hold the lock for a moment

#: lock file descriptors this process holds; pool workers forked from it close their copies
HELD_LOCKS: set[int] = set()

#: measured columns of a point, in the order they follow the parameters in results.csv
METRICS = ["total_cycles", "energy_pj", "utilization", "macs", "pe_count", *BYTE_KEYS,
           "time_us", "instructions"]
#: results.csv: the varied parameters come first, then these
CSV_COLUMNS = ["workload", "total_cycles", "energy_pj", "status", "error", "utilization",
               "macs", "pe_count", *BYTE_KEYS, "time_us", "instructions", "config_hash",
               "wall_s", "point"]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    params TEXT NOT NULL,
    workload TEXT NOT NULL,
    passes TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,
    {", ".join(f"{m} {'REAL' if m in ('energy_pj', 'utilization', 'time_us') else 'INTEGER'}"
               for m in METRICS)},
    wall_s REAL,
    run INTEGER NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    spec TEXT NOT NULL,
    points INTEGER NOT NULL
);
"""

_COLUMNS = ["id", "idx", "params", "workload", "passes", "config_hash", "status", "error",
            *METRICS, "wall_s", "run", "finished_at"]


class ResultStore:
    """``DIR/results.sqlite``: one row per finished point, committed as it arrives."""

    def __init__(self, outdir: str | Path) -> None:
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.lock = self._lock()
        self.path = self.outdir / STORE_NAME
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a crash
        self.db.executescript(_SCHEMA)
        self.db.commit()
        self.run = 0

    def _lock(self) -> int | None:
        """One sweep writes to a folder at a time: two would compute every point twice. The
        lock is an flock, so the kernel releases it when its holder dies, even by SIGKILL."""
        if fcntl is None:
            return None
        fd = os.open(self.outdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SweepError("another archsim sweep is writing to this folder; wait "
                                     "for it to finish or pick another --out",
                                     where=str(self.outdir)) from None
                time.sleep(0.1)
        HELD_LOCKS.add(fd)
        return fd

    def close(self) -> None:
        self.db.close()
        if self.lock is not None:
            HELD_LOCKS.discard(self.lock)
            os.close(self.lock)  # closing the descriptor releases the flock
            self.lock = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def begin_run(self, spec_source: str, points: int) -> int:
        """Number this invocation, so each row says which run computed it."""
        cur = self.db.execute("SELECT COALESCE(MAX(run), 0) + 1 FROM runs")
        self.run = int(cur.fetchone()[0])
        self.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?)",
                        (self.run, time.time(), spec_source, points))
        self.db.commit()
        return self.run

    def finished(self, include_errors: bool = True) -> set[str]:
        """Ids of points already in the store (those resume skips)."""
        query = "SELECT id FROM points" + ("" if include_errors else " WHERE status = 'ok'")
        return {row[0] for row in self.db.execute(query)}

    def add(self, point: Point, row: dict[str, Any]) -> None:
        """Commit one finished point. An ``ok`` row is never overwritten; an ``error`` row is
        replaced when the point is rerun (``--retry-errors``)."""
        values = {
            "id": point.point_id, "idx": point.index,
            "params": json.dumps(point.params, sort_keys=True), "workload": point.workload,
            "passes": json.dumps(list(point.passes)), "config_hash": point.config_hash,
            "status": row["status"], "error": row.get("error"),
            **{m: row.get(m) for m in METRICS},
            "wall_s": row.get("wall_s"), "run": self.run, "finished_at": time.time(),
        }
        cols = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        update = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
        self.db.execute(f"INSERT INTO points ({cols}) VALUES ({marks}) ON CONFLICT(id) DO "
                        f"UPDATE SET {update} WHERE points.status = 'error'",
                        [values[c] for c in _COLUMNS])
        self.db.commit()

    def rows(self) -> dict[str, dict[str, Any]]:
        cur = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM points")
        return {r[0]: dict(zip(_COLUMNS, r, strict=True)) for r in cur}

    def write_csv(self, points: Iterable[Point], param_names: list[str],
                  fixed: dict[str, Any] | None = None) -> Path:
        """Rewrite ``results.csv``: the finished points of this spec, in spec order."""
        path = self.outdir / CSV_NAME
        atomic_write(path, results_csv(points, param_names, self.rows(), fixed))
        return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def results_csv(points: Iterable[Point], param_names: list[str],
                rows: dict[str, dict[str, Any]], fixed: dict[str, Any] | None = None) -> str:
    """One row per finished point: the swept parameters, the contract columns, then the spec's
    fixed ``set:`` values (the same on every row, so a table read alone still says what was
    simulated)."""
    fixed = {k: v for k, v in (fixed or {}).items() if k not in param_names}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*param_names, *CSV_COLUMNS, *fixed])
    for p in points:
        row = rows.get(p.point_id)
        if row is None:
            continue
        out = {**row, "point": p.index, "workload": p.workload,
               "error": " ".join((row["error"] or "").split())}
        writer.writerow([*(_cell(p.params[n]) for n in param_names),
                         *(_cell(out.get(c)) for c in CSV_COLUMNS),
                         *(_cell(v) for v in fixed.values())])
    return buf.getvalue()
