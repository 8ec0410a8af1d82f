"""One entry point for every way a user can name a workload on the command line."""

from __future__ import annotations

from pathlib import Path

from workloads.builtin import BUILTIN_FORMS, parse_builtin
from workloads.errors import WorkloadError
from workloads.graph import Graph
from workloads.zoo import ZOO, load_zoo


def load_workload(spec: str) -> Graph:
    """``gemm:...``/``conv:...`` built-ins, a zoo model name, or a SCALE-Sim topology ``.csv``
    (``FILE.csv`` reads conv or GEMM rows by their width; ``FILE.csv:gemm``/``:conv`` forces it)."""
    kind = spec.partition(":")[0]
    if kind in BUILTIN_FORMS:
        return parse_builtin(spec)
    if spec in ZOO:
        return load_zoo(spec)
    if kind == "zoo":
        return load_zoo(spec.partition(":")[2])
    path_text, forced = spec, None
    for suffix in (":gemm", ":conv"):
        if spec.endswith(suffix):
            path_text, forced = spec[: -len(suffix)], suffix[1:]
    path = Path(path_text)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise WorkloadError("no such topology file", where=path_text)
        from workloads.topology import read_topology

        return read_topology(path, forced or sniff_input_type(path))
    accepted = ", ".join(f"{k}:{v[0]}" for k, v in BUILTIN_FORMS.items())
    raise WorkloadError(f"unrecognised workload; accepted: {accepted}, a zoo model "
                        f"({', '.join(ZOO)}), or a SCALE-Sim topology FILE.csv", where=spec)


def sniff_input_type(path: Path) -> str:
    """``gemm`` when the first data row has the 3 fields of ``name,M,N,K,``, else ``conv``."""
    for line in path.read_text().splitlines()[1:]:
        fields = [f for f in line.split(",")[1:] if f.strip()]
        if fields:
            return "gemm" if len(fields) == 3 else "conv"
    return "conv"
