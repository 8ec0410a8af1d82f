"""The serving study's figure: QoS satisfaction, mean latency and p99 latency over QoS against
load, one line per policy."""

from __future__ import annotations

import io

from simulator.report.export import atomic_write
from simulator.scenarios.serving import ServingReport


def plot_serving(report: ServingReport, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_sat, ax_mean, ax_p99) = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, r in report.policies.items():
        points = sorted(r.sweep or r.loads.values(), key=lambda p: p.rate_rps)
        rates = [p.rate_rps for p in points]
        ax_sat.plot(rates, [100 * p.satisfaction for p in points], marker="o", ms=3, label=name)
        ax_mean.plot(rates, [p.mean_ms for p in points], marker="o", ms=3, label=name)
        ax_p99.plot(rates, [p.p99_over_qos for p in points], marker="o", ms=3, label=name)
    ax_sat.axhline(100 * report.qos_satisfaction, color="grey", ls="--", lw=0.8)
    ax_sat.set_ylabel("requests served within QoS (%)")
    ax_sat.set_title("QoS satisfaction")
    ax_mean.set_ylabel("mean latency (ms)")
    ax_mean.set_title("mean latency (all tenants)")
    ax_p99.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax_p99.set_ylabel("p99 of latency / QoS target")
    ax_p99.set_title("tail latency relative to QoS")
    for ax in (ax_sat, ax_mean, ax_p99):
        ax.set_xlabel("load (requests/s, all tenants)")
    ax_sat.legend(fontsize=8)
    fig.suptitle(f"{report.name}: {report.cores}-core npu, "
                 f"{', '.join(t['name'] for t in report.tenants)}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
