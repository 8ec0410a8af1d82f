"""Real trained ONNX models (the ``models`` extra) on every target: import, lower, simulate and
check the trace functionally against onnxruntime on the model file.

    python bench/real_models.py          # a table: instructions, cycles, max relative error, s

The pairs tests/test_real_models.py leaves out for time (the OCR detector and recognizer on
sparse_tc, which plans depthwise convolutions one channel group at a time) run here. The
dynamically quantized classifier is made by onnxruntime's quantize_dynamic, as in the test.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

TARGETS = {"systolic": "systolic-32-ws.yaml", "npu": "mlu.yaml", "sparse_tc": "dstc.yaml"}


def main() -> int:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from test_real_models import MODELS, _constants_as_initializers, document_image

    from simulator import api
    from simulator.functional import check_functional
    from workloads.loader import load_workload_and_model
    from workloads.onnx_export import random_values
    from workloads.onnx_packaged import packaged_model_path

    folder = Path(tempfile.mkdtemp())
    onnx.save(_constants_as_initializers(onnx.load(str(packaged_model_path("ppocr-cls")))),
              folder / "cls.onnx")
    quantize_dynamic(folder / "cls.onnx", folder / "cls_int8.onnx",
                     weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv", "MatMul"])
    models = {**MODELS, str(folder / "cls_int8.onnx"): (MODELS["ppocr-cls"][0], None)}
    print(f"{'model':<14} {'target':<10} {'instructions':>12} {'cycles':>12} {'max rel err':>12} "
          f"{'s':>6}")
    for name, (shapes, pins) in models.items():
        label = "ppocr-cls-int8" if name.endswith("cls_int8.onnx") else name
        for kind, config in TARGETS.items():
            start = time.perf_counter()
            graph, model = load_workload_and_model(name, shapes, input_values=pins)
            cfg = api.load_config(ROOT / "configs" / config)
            lowered, trace = api.compile(cfg, graph)
            result = api.simulate(trace, cfg)
            values = random_values(lowered)
            if name == "ppocr-det":
                values["x"] = document_image(*shapes["x"][2:])
            report = check_functional(lowered, trace, onnx_model=model, values=values,
                                      raise_on_mismatch=False)
            seconds = time.perf_counter() - start
            print(f"{label:<14} {kind:<10} {len(trace.instructions):>12,} "
                  f"{result.total_cycles:>12,} {report.max_rel:>12.3g} {seconds:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
