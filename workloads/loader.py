"""One entry point for every way a user can name a workload on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workloads.builtin import BUILTIN_FORMS, parse_builtin
from workloads.errors import WorkloadError
from workloads.graph import Graph
from workloads.onnx_packaged import PACKAGED
from workloads.onnx_zoo import ONNX_ZOO
from workloads.zoo import ZOO, load_zoo

Shapes = dict[str, tuple[int, ...]]


def load_workload(spec: str, input_shapes: Shapes | None = None,
                  input_values: dict[str, Any] | None = None) -> Graph:
    """``gemm:...``/``conv:...`` built-ins, a zoo model, an ONNX file, or a SCALE-Sim topology.

    - ``resnet18``, ``alexnet``, ... (or ``zoo:resnet18``): the layer-list zoo (workloads.zoo);
    - ``zoo:resnet50``, ``zoo:bert_base?seq=128&layers=2`` (the ``zoo:`` prefix is optional):
      the ONNX zoo (workloads.onnx_zoo), imported through the ONNX frontend;
    - ``FILE.onnx``: any ONNX model; ``input_shapes`` pins its dynamic input dims;
    - ``minilm-l3``, ``minilm-l6-int8``: real MiniLM ONNX models shipped by PyPI packages;
    - ``llm:MODEL?phase=decode&ctx=1024``: one LLM inference step (workloads.llm);
    - ``FILE.csv`` reads SCALE-Sim conv or GEMM rows by their width (``FILE.csv:gemm``/``:conv``
      forces it).
    """
    return load_workload_and_model(spec, input_shapes, input_values=input_values, model=False)[0]


def load_workload_and_model(spec: str, input_shapes: Shapes | None = None, *,
                            input_values: dict[str, Any] | None = None, model: bool = True
                            ) -> tuple[Graph, Any | None]:
    """The Graph and, for ONNX workloads (a file or the ONNX zoo), the ``onnx.ModelProto`` it was
    imported from (the reference a functional check runs in onnxruntime); ``None`` otherwise.
    ``input_values`` pins ONNX inputs to values (``--input-value``). With ``model=False`` the
    ModelProto is not wanted (None is returned in its place): an ONNX zoo model with its default
    parameters then comes from its snapshot (workloads.zoo_snapshot), the same graph without
    onnx."""
    kind, _, rest = spec.partition(":")
    if kind == "llm":  # decoder-only LLM inference steps (workloads/llm, docs/llm.md)
        from workloads.llm import load_llm

        return load_llm(spec), None
    zoo_name = (rest if kind == "zoo" else spec).partition("?")[0]
    if zoo_name in ONNX_ZOO:
        if not model and not input_shapes and not input_values and "?" not in spec:
            from workloads.zoo_snapshot import load_snapshot

            graph = load_snapshot(spec)
            if graph is not None:
                return graph, None
        from workloads.onnx_frontend import load_onnx
        from workloads.onnx_zoo import onnx_zoo_model

        proto = onnx_zoo_model(spec)
        return load_onnx(proto, input_shapes, name=spec.removeprefix("zoo:"),
                         input_values=input_values), proto
    if spec in PACKAGED:
        from workloads.onnx_frontend import load_onnx, read_model
        from workloads.onnx_packaged import packaged_model_path

        proto, _ = read_model(str(packaged_model_path(spec)))
        return load_onnx(proto, input_shapes, name=spec, where=spec,
                         input_values=input_values), proto
    if Path(spec).suffix.lower() == ".onnx":
        from workloads.onnx_frontend import load_onnx, read_model

        proto, _ = read_model(spec)
        return load_onnx(proto, input_shapes, name=Path(spec).stem, where=spec,
                         input_values=input_values), proto
    if input_shapes or input_values:
        raise WorkloadError("--input-shape and --input-value apply to ONNX models only "
                            "(FILE.onnx or an ONNX zoo model: "
                            f"{', '.join(f'zoo:{n}' for n in ONNX_ZOO)})", where=spec)
    if kind == "gnn":
        from workloads.gnn import load_gnn_workload

        return load_gnn_workload(spec), None
    if kind in BUILTIN_FORMS:
        return parse_builtin(spec), None
    if spec in ZOO:
        return load_zoo(spec), None
    if kind == "zoo":
        if rest not in ZOO:
            raise WorkloadError(f"no zoo model {rest!r}; available: {', '.join(ZOO)} (layer "
                                f"lists) and {', '.join(ONNX_ZOO)} (ONNX, with ?key=value "
                                "options, see docs/onnx.md)", where=spec)
        return load_zoo(rest), None
    path_text, forced = spec, None
    for suffix in (":gemm", ":conv"):
        if spec.endswith(suffix):
            path_text, forced = spec[: -len(suffix)], suffix[1:]
    path = Path(path_text)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise WorkloadError("is a folder, not a topology file" if path.is_dir() else
                                "no such topology file", where=path_text)
        from workloads.topology import read_topology

        return read_topology(path, forced or sniff_input_type(path)), None
    accepted = ", ".join(f"{k}:{v[0]}" for k, v in BUILTIN_FORMS.items())
    raise WorkloadError(f"unrecognised workload; accepted: {accepted}, a zoo model "
                        f"({', '.join(ZOO)}, {', '.join(f'zoo:{n}' for n in ONNX_ZOO)}), "
                        "an ONNX model FILE.onnx or a packaged one "
                        f"({', '.join(PACKAGED)}), or a SCALE-Sim topology FILE.csv", where=spec)


def sniff_input_type(path: Path) -> str:
    """``gemm`` when the first data row has the 3 fields of ``name,M,N,K,``, else ``conv``."""
    from workloads.files import read_text

    for line in read_text(path, "topology", WorkloadError).splitlines()[1:]:
        fields = [f for f in line.split(",")[1:] if f.strip()]
        if fields:
            return "gemm" if len(fields) == 3 else "conv"
    return "conv"
