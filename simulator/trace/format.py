"""The trace: the contract between lowering and simulation, kept in memory or as JSON Lines.

Line 1 is a header ``{"format": "archsim-trace", "version": 1, "kind": ..., "config": {...},
"workload": ..., "layers": [...]}``; every further line is one instruction. Writing is canonical
(sorted keys, compact separators) so the same trace is byte-identical every time.
See docs/trace-format.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import TraceError
from simulator.files import atomic_writer

FORMAT_NAME = "archsim-trace"
FORMAT_VERSION = 1
OPS = ("LOAD", "STORE", "GEMM", "IM2COL", "SPGEMM", "VEC", "GATHER", "SCATTER", "SEND", "RECV",
       "BARRIER")


@dataclass(slots=True)
class Instruction:
    """One instruction. ``dims`` are the op's integer dimensions; ``bytes`` counts the traffic it
    causes per memory level and direction (``dram_read``, ``sram_write``, ...)."""

    id: int
    op: str
    unit: str
    layer: str
    dims: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    deps: list[int] = field(default_factory=list)
    tensor: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "op": self.op, "unit": self.unit, "layer": self.layer,
                               "dims": self.dims, "bytes": self.bytes, "deps": self.deps}
        if self.tensor is not None:
            out["tensor"] = self.tensor
        return out


@dataclass
class LayerInfo:
    """Per-layer facts instructions do not carry: op type, MACs, vector operations, GEMM shape,
    and ``args`` (the op's tensors and attributes, for functional execution)."""

    name: str
    op: str
    macs: int
    dims: dict[str, int] = field(default_factory=dict)
    vector_ops: int = 0
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "op": self.op, "macs": self.macs,
                               "dims": self.dims}
        if self.vector_ops:
            out["vector_ops"] = self.vector_ops
        if self.args:
            out["args"] = self.args
        return out


@dataclass
class Trace:
    kind: str
    config: dict[str, Any]
    workload: str
    layers: list[LayerInfo] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    #: What passes noted about the graph (a fusion plan, Block-Skim's kept tokens): plain,
    #: deterministic JSON, written to the header so a replay reports it too.
    meta: dict[str, Any] = field(default_factory=dict)
    #: Wall-clock figures of the passes that lowered it (a tuner's search time): in memory
    #: only, never written, so the same inputs give byte-identical trace files.
    timings: dict[str, Any] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": self.kind,
                "config": self.config, "workload": self.workload,
                "layers": [layer.to_json() for layer in self.layers]}
        if self.meta:
            head["meta"] = self.meta
        return head


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def write_trace(trace: Trace, path: str | Path) -> None:
    """Write atomically (temp file + rename): a failed write never leaves half a trace behind."""
    with atomic_writer(path) as fh:
        fh.write(_dump(trace.header()) + "\n")
        for ins in trace.instructions:
            fh.write(_dump(ins.to_json()) + "\n")


_INT_MAPS = ("dims", "bytes")
#: the largest dimension or byte count an instruction may carry (256 TiB): beyond it a value
#: is a corrupt or hand-made trace, not a workload
MAX_VALUE = 2**48


def _instruction(obj: Any, where: str, expected_id: int) -> Instruction:
    if not isinstance(obj, dict):
        raise TraceError("an instruction must be a JSON object", where)
    missing = [k for k in ("id", "op", "unit", "layer", "deps") if k not in obj]
    if missing:
        raise TraceError(f"instruction lacks {', '.join(missing)}; required keys: id, op, unit, "
                         "layer, dims, bytes, deps", where)
    unknown = set(obj) - {"id", "op", "unit", "layer", "dims", "bytes", "deps", "tensor"}
    if unknown:
        raise TraceError(f"unknown key(s) {', '.join(sorted(unknown))}", where)
    if obj["id"] != expected_id:
        raise TraceError(f"id {obj['id']!r} out of sequence; expected {expected_id} "
                         "(ids count up from 0 in file order)", where)
    if obj["op"] not in OPS:
        raise TraceError(f"unknown op {obj['op']!r}; accepted: {', '.join(OPS)}", where)
    for key in ("unit", "layer"):
        if not isinstance(obj[key], str):
            raise TraceError(f"{key} must be a string", where)
    for key in _INT_MAPS:
        value = obj.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
        ):
            raise TraceError(f"{key} must map names to non-negative integers", where)
        big = next((k for k, v in value.items() if v > MAX_VALUE), None)
        if big is not None:
            raise TraceError(f"{key}.{big} = {value[big]} is beyond what archsim simulates "
                             f"(at most 2^48 = {MAX_VALUE:,})", where)
    deps = obj["deps"]
    if not isinstance(deps, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < expected_id for d in deps
    ):
        raise TraceError("deps must be a list of ids of earlier instructions", where)
    return Instruction(id=obj["id"], op=obj["op"], unit=obj["unit"], layer=obj["layer"],
                       dims=obj.get("dims", {}), bytes=obj.get("bytes", {}), deps=deps,
                       tensor=obj.get("tensor"))


def _text(raw: bytes, path: Path, lineno: int) -> str:
    """One line as UTF-8 text; else a TraceError at its line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError("not UTF-8 text; an archsim trace is UTF-8 JSON Lines",
                         f"{path}:{lineno}") from None


def _json_problem(err: json.JSONDecodeError) -> str:
    """json's message with its column, read as one phrase: "Unterminated string starting at
    column 12", not "starting at at column 12"."""
    return f"{err.msg.removesuffix(' at')} at column {err.colno}"


def read_trace(path: str | Path) -> Trace:
    """Read and validate a trace; any malformed line is reported with its line number."""
    path = Path(path)
    if path.is_dir():
        raise TraceError("is a directory, not a trace", where=str(path))
    try:
        fh = path.open("rb")
    except OSError as err:
        raise TraceError(f"cannot read trace: {err.strerror}", where=str(path)) from None
    with fh:
        first = _text(fh.readline(), path, 1)
        if not first.strip():
            raise TraceError("empty file; expected an archsim trace header line", f"{path}:1")
        try:
            head = json.loads(first)
        except json.JSONDecodeError as err:
            raise TraceError(f"header is not valid JSON ({_json_problem(err)})",
                             f"{path}:1") from None
        if not isinstance(head, dict) or head.get("format") != FORMAT_NAME:
            raise TraceError(f'not an archsim trace: the header needs "format": "{FORMAT_NAME}"',
                             f"{path}:1")
        if head.get("version") != FORMAT_VERSION:
            raise TraceError(f"trace format version {head.get('version')!r} is not supported; "
                             f"this archsim reads version {FORMAT_VERSION}", f"{path}:1")
        for key in ("kind", "config", "workload", "layers"):
            if key not in head:
                raise TraceError(f"header lacks {key!r}", f"{path}:1")
        try:
            layers = [LayerInfo(name=x["name"], op=x["op"], macs=int(x["macs"]),
                                dims=dict(x.get("dims", {})),
                                vector_ops=int(x.get("vector_ops", 0)),
                                args=dict(x.get("args", {}))) for x in head["layers"]]
        except (KeyError, TypeError, ValueError):
            raise TraceError("header 'layers' must be a list of {name, op, macs, dims, ...}",
                             f"{path}:1") from None
        instructions: list[Instruction] = []
        for lineno, raw in enumerate(fh, start=2):
            line = _text(raw, path, lineno)
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise TraceError(f"not valid JSON ({_json_problem(err)})", where) from None
            instructions.append(_instruction(obj, where, len(instructions)))
    meta = head.get("meta", {})
    if not isinstance(meta, dict):
        raise TraceError("header 'meta' must be a JSON object", f"{path}:1")
    return Trace(kind=head["kind"], config=head["config"], workload=head["workload"],
                 layers=layers, instructions=instructions, meta=meta)
