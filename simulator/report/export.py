"""Machine-readable outputs: summary.json and layers.csv, written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from simulator.files import atomic_write
from simulator.result import BYTE_KEYS, ENERGY_KEYS, Result

__all__ = ["LAYER_COLUMNS", "atomic_write", "layers_csv", "summary_json", "write_outputs"]

#: layers.csv: the same names as the JSON summary's ``layers`` entries (``M``, ``N``, ``K``:
#: the GEMM shape, empty for a layer without one)
LAYER_COLUMNS = ["name", "op", "M", "N", "K", "groups", "cycles", "start", "end", "macs",
                 "utilization", *BYTE_KEYS, *ENERGY_KEYS]


def summary_json(result: Result, command: list[str] | None = None) -> str:
    """The JSON summary, with the archsim version, the complete config (every default filled)
    and, when given, the command line that produced it."""
    out = result.summary()
    if command is not None:
        out["command"] = command
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def layers_csv(result: Result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LAYER_COLUMNS)
    for record in result.layer_records():
        writer.writerow([_cell(record[c], c) for c in LAYER_COLUMNS])
    return buf.getvalue()


def _cell(value, column: str) -> str:
    if value is None:
        return ""
    if column == "utilization":
        return f"{value:.6f}"
    if column.startswith("energy"):
        return f"{value:.3f}"
    return str(value)


def write_outputs(result: Result, outdir: str | Path, command: list[str] | None = None
                  ) -> list[Path]:
    outdir = Path(outdir)
    files = [outdir / "summary.json", outdir / "layers.csv"]
    atomic_write(files[0], summary_json(result, command))
    atomic_write(files[1], layers_csv(result))
    parquet = _parquet(result)
    if parquet is not None:   # pandas and pyarrow installed: the same table as Parquet
        files.append(outdir / "layers.parquet")
        atomic_write(files[-1], parquet)
    return files


def _parquet(result: Result) -> bytes | None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    buf = io.BytesIO()
    result.to_dataframe().to_parquet(buf, index=False)
    return buf.getvalue()
