"""SQuant speed: the whole ResNet-50 weight set at 4 bit, E+K+C (mode ``squant``).

Target (issue 4): < 1 s wall on a 2-core machine. The 54 weight shapes (53 Conv + the FC, 25.5 M
weights) are read from the onnx wheel's ``light_resnet50.onnx``; the weights are random normal
(std 0.05, seeded). Time is the best of N passes over all tensors, after one warm-up call that
loads (or compiles) the numba kernels; the cold first pass is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from simulator.passes.squant import squant

TARGET_S = 1.0
MODEL = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"


def resnet50_weight_shapes(path: Path = MODEL) -> list[tuple[tuple[int, ...], int]]:
    """(shape, channel axis) of every Conv and Gemm weight. Light models hold each weight as a
    ConstantOfShape of a ``*__SHAPE`` initializer, so the shapes are read from those."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name: i for i in model.graph.initializer}
    made_from = {n.output[0]: n.input[0] for n in model.graph.node
                 if n.op_type == "ConstantOfShape"}
    shapes = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        name = node.input[1]
        init = inits.get(name) or inits[made_from[name]]
        shape = tuple(init.dims) if name in inits else \
            tuple(int(v) for v in numpy_helper.to_array(init))
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        axis = 1 if node.op_type == "Gemm" and not trans_b else 0
        shapes.append((shape, axis))
    return shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--mode", default="squant")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    shapes = resnet50_weight_shapes()
    weights = [(rng.normal(0.0, 0.05, size=s).astype(np.float32), axis) for s, axis in shapes]
    total = sum(w.size for w, _ in weights)
    t0 = time.perf_counter()
    squant(weights[0][0][:2], args.bits, args.mode)  # load or compile the kernels
    load_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for w, axis in weights:
            squant(w, args.bits, args.mode, axis)
        times.append(time.perf_counter() - t0)
    best = min(times)
    ok = best < TARGET_S
    print(f"squant: ResNet-50 weights ({len(weights)} tensors, {total / 1e6:.1f} M) at "
          f"{args.bits} bit, mode {args.mode}: {best:.3f} s (first pass {times[0]:.3f} s, "
          f"kernel load {load_s:.2f} s) [target < {TARGET_S:.0f} s] {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
