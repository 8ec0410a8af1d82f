"""Sweep results as a pandas DataFrame (``load_sweep``) and as Parquet beside results.csv:
pandas and pyarrow are an optional extra (``pip install 'archsim[pandas]'``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from simulator.sweep.spec import SweepError
from simulator.sweep.store import CSV_NAME

PARQUET_NAME = "results.parquet"


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise SweepError("load_sweep needs pandas: pip install 'archsim[pandas]'") from None
    return pd


def load_sweep(path: str | Path):
    """A sweep's results (its ``--out`` folder, or a results.csv) as a DataFrame: one row per
    point, the swept parameters, the contract columns and the fixed ``set:`` values."""
    path = Path(path)
    csv_path = path / CSV_NAME if path.is_dir() else path
    if not csv_path.is_file():
        raise SweepError("no such results file (give a sweep's --out folder or its "
                         "results.csv)", where=str(csv_path))
    frame = _pandas().read_csv(csv_path)
    if "workload" not in frame.columns or "status" not in frame.columns:
        raise SweepError("not a sweep results.csv (no workload/status columns)",
                         where=f"{csv_path}:1")
    return frame


def parquet_bytes(csv_text: str) -> bytes | None:
    """results.csv's table as Parquet, when pandas and pyarrow are installed."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    buf = io.BytesIO()
    pd.read_csv(io.StringIO(csv_text)).to_parquet(buf, index=False)
    return buf.getvalue()
