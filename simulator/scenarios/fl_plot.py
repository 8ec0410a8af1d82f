"""Plot of a federated report: test accuracy and skewness per round, one line per policy."""

from __future__ import annotations

from pathlib import Path

COLORS = {"random": "tab:gray", "oracle": "tab:green", "dubhe": "tab:blue"}


def plot_federated(report, path: str | Path) -> None:
    """Write a two-panel PNG atomically (matplotlib is imported only here)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simulator.report.export import atomic_write

    fig, (ax_acc, ax_skew) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, r in report.policies.items():
        rounds = range(1, len(r.accuracy) + 1)
        color = COLORS.get(name)
        ax_acc.plot(rounds, r.accuracy, label=f"{name} (final {r.final_accuracy:.3f})",
                    color=color)
        ax_skew.plot(rounds, r.skewness, label=f"{name} (mean {r.mean_skewness:.3f})",
                     color=color)
    ax_acc.set(xlabel="round", ylabel="test accuracy", title="FedAvg test accuracy")
    ax_skew.set(xlabel="round", ylabel="L1 distance to uniform",
                title="skewness of the selected clients' labels")
    for ax in (ax_acc, ax_skew):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report.clients} clients, Dirichlet alpha={report.alpha:g}, "
                 f"K={report.clients_per_round}, Paillier {report.key_bits}-bit", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
