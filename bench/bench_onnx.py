"""ONNX end to end: ResNet-50 import + lower + simulate, and functional simulation of small nets.

Targets (issue 3):
- ResNet-50 from the onnx wheel (onnx/backend/test/data/light/light_resnet50.onnx) imported,
  lowered and simulated on configs/systolic-128-os.yaml in < 3 s wall. Measured two ways: the
  whole `archsim run ... --json` command in a fresh process (Python start-up and imports
  included), and in-process per phase (best of N).
- Functional simulation (lower, execute every GEMM tile / im2col gather / vector op in numpy,
  run onnxruntime, compare) of the small test nets in seconds: < 5 s each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "systolic-128-os.yaml"
FUNCTIONAL_CONFIG = ROOT / "configs" / "systolic-32-ws.yaml"
RESNET_TARGET_S = 3.0
FUNCTIONAL_TARGET_S = 5.0
FUNCTIONAL_NETS = ["tiny_cnn", "tiny_transformer", "mobilenet_v2?size=64", "resnet50?size=64"]


def light_resnet50() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / \
        "light_resnet50.onnx"


def bench_resnet50(repeat: int) -> bool:
    model = light_resnet50()
    archsim = Path(sys.executable).with_name("archsim")
    cmd = ([str(archsim)] if archsim.exists() else [sys.executable, "-m", "simulator.cli"]) + \
        ["run", str(CONFIG), str(model), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    cli_s = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"resnet50: archsim run failed: {proc.stderr.strip()}")
        return False

    from simulator import api
    from simulator.api import load_config
    from workloads.onnx_frontend import load_onnx

    config = load_config(CONFIG)
    best = {"import": float("inf"), "lower": float("inf"), "simulate": float("inf")}
    for _ in range(repeat):
        t0 = time.perf_counter()
        graph = load_onnx(model)
        t1 = time.perf_counter()
        trace = api.lower(config, graph)
        t2 = time.perf_counter()
        result = api.simulate(trace, config)
        t3 = time.perf_counter()
        for key, value in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            best[key] = min(best[key], value)
    total = sum(best.values())
    ok = cli_s < RESNET_TARGET_S
    print(f"resnet50 (onnx wheel) on {CONFIG.name}: `archsim run --json` {cli_s:.2f} s wall "
          f"[target < {RESNET_TARGET_S:g} s] {'OK' if ok else 'MISSED'}; in-process best of "
          f"{repeat}: import {best['import']:.3f} s + lower {best['lower']:.3f} s + simulate "
          f"{best['simulate']:.3f} s = {total:.3f} s; {len(trace.instructions):,} instructions, "
          f"{result.total_cycles:,} cycles, {result.macs:,} MACs")
    return ok


def bench_functional() -> bool:
    from simulator import api
    from simulator.api import load_config
    from simulator.functional import check_functional
    from workloads.loader import load_workload_and_model

    config = load_config(FUNCTIONAL_CONFIG)
    ok = True
    for spec in FUNCTIONAL_NETS:
        for im2col in ("explicit", "implicit"):
            t0 = time.perf_counter()
            graph, model = load_workload_and_model(f"zoo:{spec}")
            trace = api.lower(config, graph, [f"im2col={im2col}"])
            report = check_functional(graph, trace, onnx_model=model)
            seconds = time.perf_counter() - t0
            met = seconds < FUNCTIONAL_TARGET_S and report.ok
            ok &= met
            macs = sum(layer.macs for layer in trace.layers)
            print(f"functional {spec} ({im2col} im2col) on {FUNCTIONAL_CONFIG.name}: "
                  f"{seconds:.2f} s [target < {FUNCTIONAL_TARGET_S:g} s] "
                  f"{'OK' if met else 'MISSED'}; {len(trace.instructions):,} instructions, "
                  f"{macs:,} MACs, max rel error {report.max_rel:.2g}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    ok = bench_resnet50(args.repeat)
    ok &= bench_functional()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
