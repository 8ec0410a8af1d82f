"""Snapshots of the ONNX zoo's imported graphs: a zoo model's timing run without onnx.

Importing a zoo model through the ONNX frontend takes seconds (onnx and ml_dtypes load in about
2 s; ResNet-50's 25.5 M seeded weights are drawn and copied into a ModelProto) where lowering and
simulating it take a tenth of a second. The import is deterministic, so its result for each
model's default parameters is kept as data (``workloads/data/zoo-NAME.json``): every op with its
attributes, every tensor with its shape, element type and width, small constants with their
values. A weight's values (the builder's seeded draws, :func:`workloads.onnx_zoo.zoo_constants`)
are computed on first read (:class:`~workloads.graph.LazyTensor`), without onnx; a timing run
never reads them.

A snapshot records a digest of the code the import runs (frontend, catalogue, zoo, Graph IR);
when that code has changed, the snapshot is not used (the ONNX import runs as before) until it is
rewritten: ``python -m workloads.zoo_snapshot``. tests/test_zoo_snapshot.py checks every snapshot
against a fresh import, values included.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from workloads.graph import Graph, LazyTensor, Op, Tensor

FORMAT = 1
_HERE = os.path.dirname(os.path.abspath(__file__))
#: the code an ONNX zoo import runs: a change to any of it may change the imported graph
SOURCES = ("graph.py", "onnx_zoo.py", "onnx_frontend.py", "zoo_snapshot.py", "ops")


def snapshot_path(model: str) -> str:
    return os.path.join(_HERE, "data", f"zoo-{model}.json")


def source_digest() -> str:
    """SHA-256 over the files of :data:`SOURCES` (an ``ops`` folder: its ``.py`` files)."""
    digest = hashlib.sha256()
    for entry in SOURCES:
        path = os.path.join(_HERE, entry)
        files = [os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".py")] \
            if os.path.isdir(path) else [path]
        for file in files:
            with open(file, "rb") as fh:
                digest.update(os.path.relpath(file, _HERE).encode() + b"\0" + fh.read() + b"\0")
    return digest.hexdigest()


class _Values:
    """A snapshot's constant values, made on first read: small ones from the snapshot's own
    data, weights by re-running the zoo builder in recording mode (once per graph)."""

    def __init__(self, model: str, inline: dict[str, list]) -> None:
        self.model = model
        self.inline = inline
        self.made: dict[str, Any] = {}   # one array per name: copies of a tensor share it
        self.built = False

    def __call__(self, name: str) -> Any:
        if name in self.made:
            return self.made[name]
        if name in self.inline:
            import numpy as np

            dtype, shape, data = self.inline[name]
            array = np.array(data, dtype=dtype).reshape(shape)
            array.flags.writeable = False
            self.made[name] = array
        elif not self.built:
            from workloads.onnx_zoo import zoo_constants

            self.made = {**zoo_constants(self.model), **self.made}
            self.built = True
        return self.made[name]

    def __deepcopy__(self, memo: dict) -> _Values:   # shared by a graph's copies: read-only
        return self


def snapshot(graph: Graph, model: str, constants: dict[str, Any]) -> dict[str, Any]:
    """The snapshot of ``graph``, imported from zoo model ``model``; ``constants`` are the
    builder's values (:func:`zoo_constants`): a tensor holding exactly one of them refers to it,
    any other valued tensor is stored (it must be small)."""
    import numpy as np

    tensors = []
    for t in graph.tensors.values():
        values = None
        if t.values is not None:
            same = constants.get(t.name)
            if same is not None and same.dtype == t.values.dtype and \
                    same.shape == t.values.shape and np.array_equal(same, t.values):
                values = "builder"
            elif t.values.size <= 4096:
                values = [t.values.dtype.name, list(t.values.shape), t.values.tolist()]
            else:
                raise ValueError(f"{model}: tensor {t.name!r} holds {t.values.size} values "
                                 "that are not the builder's")
        tensors.append([t.name, list(t.shape), t.bits, t.dtype, t.density, values])
    ops = [[op.name, op.type, op.inputs, op.outputs, op.attrs] for op in graph.ops]
    return {"format": FORMAT, "model": model, "source_digest": source_digest(),
            "inputs": graph.inputs, "outputs": graph.outputs, "meta": graph.meta,
            "timings": graph.timings, "tensors": tensors, "ops": ops}


def load_snapshot(spec: str) -> Graph | None:
    """The graph ``load_onnx`` imports for zoo ``spec`` (``NAME`` or ``zoo:NAME``, default
    parameters), from its snapshot; None when there is none or it is stale."""
    model = spec.removeprefix("zoo:")
    try:
        with open(snapshot_path(model), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT or data.get("source_digest") != source_digest():
        return None
    inline = {t[0]: t[5] for t in data["tensors"] if isinstance(t[5], list)}
    load = _Values(model, inline)
    graph = Graph(model, inputs=data["inputs"], outputs=data["outputs"], meta=data["meta"],
                  timings=data["timings"])
    for name, shape, bits, dtype, density, values in data["tensors"]:
        graph.tensors[name] = Tensor(name, tuple(shape), bits, None, density, dtype) \
            if values is None else LazyTensor.deferred(name, tuple(shape), load, bits, density,
                                                       dtype)
    graph.ops = [Op(*fields) for fields in data["ops"]]
    return graph


def write_snapshots(models: list[str] | None = None) -> list[str]:
    """(Re)write the snapshot of every zoo model (or of ``models``); returns the paths."""
    from workloads.onnx_frontend import load_onnx
    from workloads.onnx_zoo import ONNX_ZOO, onnx_zoo_model, zoo_constants

    written = []
    for model in models or list(ONNX_ZOO):
        graph = load_onnx(onnx_zoo_model(model), None, name=model)
        data = snapshot(graph, model, zoo_constants(model))
        path = snapshot_path(model)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.write("\n")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for written_path in write_snapshots(sys.argv[1:] or None):
        sys.stderr.write(f"wrote {written_path}\n")
