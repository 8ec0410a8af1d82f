"""The serving study's figure: QoS satisfaction, mean latency and p99 latency over QoS against
load, one line (colour and marker) per policy."""

from __future__ import annotations

from simulator.report.figure import marker, save, subplots
from simulator.scenarios.serving import ServingReport


def plot_serving(report: ServingReport, path: str, dpi: int = 120, title: str | None = None,
                 size: tuple[float, float] = (15.0, 4.2)) -> None:
    _, fig, (ax_sat, ax_mean, ax_p99) = subplots(1, 3, size, dpi)
    for i, (name, r) in enumerate(report.policies.items()):
        points = sorted(r.sweep or r.loads.values(), key=lambda p: p.rate_rps)
        rates = [p.rate_rps for p in points]
        style = {"marker": marker(i), "ms": 4, "label": name}
        ax_sat.plot(rates, [100 * p.satisfaction for p in points], **style)
        ax_mean.plot(rates, [p.mean_ms for p in points], **style)
        ax_p99.plot(rates, [p.p99_over_qos for p in points], **style)
    ax_sat.axhline(100 * report.qos_satisfaction, color="grey", ls="--", lw=0.8)
    ax_sat.set_ylabel("requests served within QoS (%)")
    ax_sat.set_title("QoS satisfaction")
    ax_mean.set_ylabel("mean latency (ms)")
    ax_mean.set_title("mean latency (all tenants)")
    ax_p99.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax_p99.set_ylabel("p99 latency / QoS target (ratio)")
    ax_p99.set_title("tail latency relative to QoS")
    for ax in (ax_sat, ax_mean, ax_p99):
        ax.set_xlabel("load (requests/s, all tenants)")
        ax.grid(alpha=0.3)
    ax_sat.legend(fontsize=8)
    fig.suptitle(title or f"{report.name}: {report.cores}-core npu, "
                 f"{', '.join(t['name'] for t in report.tenants)}", fontsize=10)
    save(fig, path, dpi)
