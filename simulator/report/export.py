"""Machine-readable outputs: summary.json and layers.csv, written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from simulator.result import BYTE_KEYS, Result

LAYER_COLUMNS = ["layer", "op", "cycles", "start", "end", "macs", "utilization",
                 *BYTE_KEYS, "energy_pj"]


def atomic_write(path: str | Path, text: str | bytes) -> None:
    """Write to a temp file beside ``path`` then rename: readers never see half a file.
    ``bytes`` are written as they are (e.g. a serialized ONNX model)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
        else:
            with os.fdopen(fd, "w", newline="") as fh:
                fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_json(result: Result) -> str:
    return json.dumps(result.summary(), indent=2, sort_keys=True) + "\n"


def layers_csv(result: Result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LAYER_COLUMNS)
    for lr in result.layers:
        writer.writerow([lr.name, lr.op, lr.cycles, lr.start, lr.end, lr.macs,
                         f"{lr.utilization:.6f}", *(lr.bytes[k] for k in BYTE_KEYS),
                         f"{lr.energy_pj:.3f}"])
    return buf.getvalue()


def write_outputs(result: Result, outdir: str | Path) -> list[Path]:
    outdir = Path(outdir)
    files = [outdir / "summary.json", outdir / "layers.csv"]
    atomic_write(files[0], summary_json(result))
    atomic_write(files[1], layers_csv(result))
    return files
