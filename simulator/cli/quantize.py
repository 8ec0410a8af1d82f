"""``archsim quantize``: SQuant / round-to-nearest weight quantization of an ONNX model."""

from __future__ import annotations

from collections.abc import Callable


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("quantize", help="SQuant data-free weight quantization of an ONNX model",
                       description="Quantize every Conv, Gemm and MatMul weight of MODEL per "
                       "output channel with SQuant (or round-to-nearest) and write OUT.onnx: "
                       "DequantizeLinear on int8/int4 weights, or float32 dequantized weights "
                       "under the same names with --fake.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                   help="model file to write")
    p.add_argument("--bits", default="4", help="weight bit width, 2 to 8 (default 4)")
    p.add_argument("--mode", default="squant", choices=["squant", "squant-k", "squant-c", "rtn"],
                   help="squant = E+K+C (default), squant-k = E+K, squant-c = E+C, "
                        "rtn = round to nearest")
    p.add_argument("--fake", action="store_true",
                   help="store float32 dequantized weights (w_hat) instead of QDQ")
    return {"quantize": cmd_quantize}


def cmd_quantize(args) -> int:
    from simulator.cli.common import check_output, note
    from simulator.passes.squant import QuantizeError
    from simulator.passes.squant_onnx import quantize_file

    check_output(args.output, "-o")
    try:
        bits = int(args.bits)
    except ValueError:
        raise QuantizeError(f"bits must be an integer from 2 to 8; got {args.bits!r}") from None
    summary = quantize_file(args.model, args.output, bits, args.mode, args.fake)
    storage = sorted({t.storage for t in summary.tensors})
    changed = sum(t.changed_vs_rtn for t in summary.tensors)
    note(f"wrote {args.output}: {len(summary.tensors)} weight tensors, "
         f"{summary.weights:,} weights at {bits} bit ({args.mode}, {'/'.join(storage)}, "
         f"opset {summary.opset}); {changed:,} rounded differently from RTN")
    return 0
