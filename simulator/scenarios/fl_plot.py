"""Plot of a federated report: test accuracy and skewness per round, one line (colour and
marker) per policy."""

from __future__ import annotations

from pathlib import Path

from simulator.report.figure import marker, save, subplots

COLORS = {"random": "tab:gray", "oracle": "tab:green", "dubhe": "tab:blue"}


def plot_federated(report, path: str | Path, dpi: int = 110, title: str | None = None,
                   size: tuple[float, float] = (10.0, 3.8)) -> None:
    """Write a two-panel PNG atomically (matplotlib is imported only here)."""
    _, fig, (ax_acc, ax_skew) = subplots(1, 2, size, dpi)
    for i, (name, r) in enumerate(report.policies.items()):
        rounds = range(1, len(r.accuracy) + 1)
        style = {"color": COLORS.get(name), "marker": marker(i),
                 "markevery": max(1, len(r.accuracy) // 10), "ms": 4}
        ax_acc.plot(rounds, r.accuracy, label=f"{name} (final {r.final_accuracy:.3f})",
                    **style)
        ax_skew.plot(rounds, r.skewness, label=f"{name} (mean {r.mean_skewness:.3f})",
                     **style)
    ax_acc.set(xlabel="FedAvg round (count)", ylabel="test accuracy (fraction correct)",
               title="FedAvg test accuracy")
    ax_skew.set(xlabel="FedAvg round (count)",
                ylabel="L1 distance to uniform labels (dimensionless, 0-2)",
                title="skewness of the selected clients' labels")
    for ax in (ax_acc, ax_skew):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or f"{report.clients} clients, Dirichlet alpha={report.alpha:g}, "
                 f"K={report.clients_per_round}, Paillier {report.key_bits}-bit", fontsize=9)
    save(fig, path, dpi)
