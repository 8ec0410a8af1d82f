"""``archsim llm roofline``: every matrix op of a prefill and a decode step placed against the
config's compute roof (2 x PEs x clock FLOP/s) and DRAM roof (bandwidth x arithmetic
intensity), from simulated cycles and bytes.

An op's arithmetic intensity is its FLOPs (2 x MACs) over the DRAM bytes it moved in the
simulation (weights, activations, KV cache); its achieved rate is its FLOPs over its simulated
time (the layer's cycles, which also contain its share of stalls).
"""

from __future__ import annotations

from typing import Any

from simulator import pipeline
from workloads.llm.graph import layer_group


def roofs(config, pe_count: int) -> dict[str, float]:
    hz = config.clock_ghz * 1e9
    peak = 2.0 * pe_count * hz
    bandwidth = float(config.dram.bandwidth) * hz
    return {"peak_flops": peak, "bandwidth_bytes_per_s": bandwidth,
            "ridge_flop_per_byte": peak / bandwidth}


def roofline(config, model: str, seq: int = 512, ctx: int = 1024, batch: int = 1,
             layers: int = 1) -> dict[str, Any]:
    """Points of both phases (``layers`` decoder layers and lm_head) and the roofs."""
    points: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    pe = 1
    for phase in ("prefill", "decode"):
        where = f"seq={seq}" if phase == "prefill" else f"ctx={ctx}"
        spec = f"llm:{model}?phase={phase}&{where}&batch={batch}&layers={layers}"
        _, result = pipeline.run(config, spec)
        pe = result.pe_count
        hz = result.clock_ghz * 1e9
        summary[phase] = {k: result.extras["llm"][k] for k in
                          ("arithmetic_intensity", "tokens_per_s", "ttft_ms", "tpot_ms")
                          if k in result.extras["llm"]}
        for lr in result.layers:
            if not lr.macs:
                continue
            moved = lr.bytes["dram_read"] + lr.bytes["dram_write"]
            seconds = max(lr.cycles, 1) / hz
            points.append({"phase": phase, "op": lr.name, "group": layer_group(lr.name),
                           "flops": 2 * lr.macs, "dram_bytes": moved,
                           "intensity": 2 * lr.macs / moved if moved else float("inf"),
                           "achieved_flops": 2 * lr.macs / seconds})
    out = {"model": model, "config": config.name, "layers": layers, "batch": batch,
           "seq": seq, "ctx": ctx, **roofs(config, pe), "phases": summary, "points": points}
    ridge = out["ridge_flop_per_byte"]
    for p in points:
        p["bound"] = "memory" if p["intensity"] < ridge else "compute"
    return out


def plot_roofline(report: dict[str, Any], path: str, dpi: int = 110, title: str | None = None,
                  size: tuple[float, float] = (8.0, 5.5)) -> None:
    import numpy as np

    from simulator.report.figure import save, subplots

    _, fig, ax = subplots(1, 1, size, dpi)
    pts = [p for p in report["points"] if p["dram_bytes"]]
    lo = min([p["intensity"] for p in pts] + [0.1]) / 2
    hi = max([p["intensity"] for p in pts] + [report["ridge_flop_per_byte"] * 4]) * 2
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    roof = np.minimum(report["peak_flops"], x * report["bandwidth_bytes_per_s"])
    ax.loglog(x, roof / 1e12, color="black", lw=1.5, label="roofline")
    markers = {"attention": "o", "mlp": "s", "lm_head": "^", "other": "x"}
    colors = {"prefill": "tab:blue", "decode": "tab:red"}
    seen = set()
    for p in pts:
        key = (p["phase"], p["group"])
        ax.scatter(p["intensity"], p["achieved_flops"] / 1e12, marker=markers[p["group"]],
                   color=colors[p["phase"]], s=28, alpha=0.8,
                   label=f"{p['phase']} {p['group']}" if key not in seen else None)
        seen.add(key)
    ax.set_xlabel("arithmetic intensity (FLOP/byte of DRAM traffic)")
    ax.set_ylabel("achieved throughput (TFLOP/s)")
    ax.set_title(title or f"{report['model']} on {report['config']}: prefill seq "
                 f"{report['seq']}, decode ctx {report['ctx']}, batch {report['batch']}")
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    save(fig, path, dpi)
