"""Machine-readable outputs: summary.json and layers.csv, written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from simulator.result import BYTE_KEYS, Result
from workloads.files import atomic_write

__all__ = ["LAYER_COLUMNS", "atomic_write", "layers_csv", "summary_json", "write_outputs"]

#: layers.csv: the same names as the JSON summary's ``layers`` entries (``M``, ``N``, ``K``:
#: the GEMM shape, empty for a layer without one)
ENERGY_KEYS = ("energy_pj", "energy_mac_pj", "energy_vector_pj", "energy_sram_pj",
               "energy_dram_pj")
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
    for lr in result.layers:
        m, n, k = ("" if v is None else v for v in lr.shape)
        writer.writerow([lr.name, lr.op, m, n, k, lr.dims.get("groups", 1 if m != "" else ""),
                         lr.cycles, lr.start, lr.end, lr.macs, f"{lr.utilization:.6f}",
                         *(lr.bytes[key] for key in BYTE_KEYS),
                         *(f"{getattr(lr, key):.3f}" for key in ENERGY_KEYS)])
    return buf.getvalue()


def write_outputs(result: Result, outdir: str | Path, command: list[str] | None = None
                  ) -> list[Path]:
    outdir = Path(outdir)
    files = [outdir / "summary.json", outdir / "layers.csv"]
    atomic_write(files[0], summary_json(result, command))
    atomic_write(files[1], layers_csv(result))
    return files
