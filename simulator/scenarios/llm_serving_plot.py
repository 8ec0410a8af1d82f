"""The LLM serving study's figure: SLO attainment, p99 TTFT, p99 TPOT and output tokens/s
against load (log scale: the sweep spans two decades), one line (colour and marker) per policy,
the targets dashed."""

from __future__ import annotations

from simulator.report.figure import marker, save, subplots
from simulator.scenarios.llm_serving import LlmServingReport


def plot_llm_serving(report: LlmServingReport, path: str, dpi: int = 120,
                     title: str | None = None,
                     size: tuple[float, float] = (16.0, 4.2)) -> None:
    _, fig, axes = subplots(1, 4, size, dpi)
    ax_slo, ax_ttft, ax_tpot, ax_tok = axes
    for i, (name, r) in enumerate(report.policies.items()):
        points = sorted(r.sweep or r.loads.values(), key=lambda p: p.rate_rps)
        rates = [p.rate_rps for p in points]
        style = {"marker": marker(i), "ms": 4, "label": name}
        ax_slo.plot(rates, [100 * p.satisfaction for p in points], **style)
        ax_ttft.plot(rates, [p.ttft_p99_ms / 1e3 for p in points], **style)
        ax_tpot.plot(rates, [p.tpot_p99_ms for p in points], **style)
        ax_tok.plot(rates, [p.tokens_per_s for p in points], **style)
    t = report.tenant
    ax_slo.axhline(100 * report.slo_attainment, color="grey", ls="--", lw=0.8)
    ax_slo.set_ylabel("requests within both targets (%)")
    ax_slo.set_title("SLO attainment")
    ax_ttft.axhline(t["ttft_ms"] / 1e3, color="grey", ls="--", lw=0.8)
    ax_ttft.set_yscale("log")
    ax_ttft.set_ylabel("p99 time to first token (s)")
    ax_ttft.set_title("TTFT p99")
    ax_tpot.axhline(t["tpot_ms"], color="grey", ls="--", lw=0.8)
    ax_tpot.set_yscale("log")
    ax_tpot.set_ylabel("p99 time per output token (ms)")
    ax_tpot.set_title("TPOT p99")
    ax_tok.set_ylabel("output throughput (tokens/s)")
    ax_tok.set_title("throughput")
    for ax in axes:
        ax.set_xlabel("load (requests/s)")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    ax_slo.legend(fontsize=8)
    fig.suptitle(title or f"{report.name}: {t['workload']} on {report.kind}, KV cache "
                 f"{report.kv.tokens:,} tokens", fontsize=10)
    save(fig, path, dpi)
