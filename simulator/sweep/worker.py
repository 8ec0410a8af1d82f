"""What runs on a worker (a pool process, a Dask worker, or the driver itself): one point.

The task and the returned row are plain dicts, so they pickle cheaply and the same function
serves every runner. A point never raises: any failure becomes an ``error`` row and the sweep
goes on; only the death of the process itself is left to the runner to detect.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from typing import Any

from simulator.errors import ArchsimError


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Lower and simulate one point; return its metrics (or its error) and the wall time."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"id": task["id"], "index": task["index"]}
    try:
        row.update(_metrics(task))
    except ArchsimError as err:
        row.update(status="error", error=str(err))
    except Exception as err:  # a bug in one point must not end a thousand-point sweep
        row.update(status="error", error=f"{type(err).__name__}: {err}")
    row["wall_s"] = time.perf_counter() - t0
    return row


def _metrics(task: dict[str, Any]) -> dict[str, Any]:
    """The simulation proper. Its own frame, so the trace and result (10^5 objects on a big
    point) are freed before the point's wall time is taken, and count as the point's time."""
    from simulator import pipeline as api
    from simulator.pipeline import config_from_dict

    data = task["config"]
    data = json.loads(data) if isinstance(data, str) else data
    config = config_from_dict(data, f"point {task['index']}")
    _, result = api.run(config, task["workload"], passes=task["passes"] or None)
    return {"status": "ok", "error": None, "total_cycles": result.total_cycles,
            "energy_pj": result.energy_pj["total"], "utilization": result.utilization,
            "macs": result.macs, "pe_count": result.pe_count, "time_us": result.time_us,
            "instructions": result.instructions, **result.bytes}


def init_pool_worker(inherited_fds: tuple[int, ...] = ()) -> None:
    """Pool-process initializer: close the driver's folder lock that fork copied in (or a
    killed driver's lock would outlive it in us), leave Ctrl-C to the driver (which stops the
    pool), and exit if the driver dies (SIGKILL), instead of lingering as an orphan."""
    for fd in inherited_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="archsim-orphan-watch", daemon=True).start()
