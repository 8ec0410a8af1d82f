"""``archsim federated``: parsing and presentation for the federated client-selection scenario
(issue 11). Importing this module is cheap; the scenario loads only when the command runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from simulator.cli.common import add_set_flag, check_output, make_console, note, parse_overrides
from simulator.cli.plotflags import add_plot_flags, plot_options


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("federated", help="FL client selection: random vs oracle vs Dubhe "
                       "(Paillier-encrypted registration), accuracy, skewness, HE cost",
                       description="Train a FedAvg model on non-IID clients of scikit-learn's "
                       "digits with each selection policy of SPEC, time every round on the engine "
                       "(client compute, links, Paillier operations) and print per policy the "
                       "final test accuracy, mean skewness of the selected data, HE time and "
                       "bytes. Needs scikit-learn (pip install 'archsim[federated]').")
    p.add_argument("spec", help="scenario spec (YAML), e.g. configs/scenarios/federated.yaml")
    add_set_flag(p)
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (per policy summary and per-round series)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write accuracy and skewness per round for each policy")
    add_plot_flags(p)
    return {"federated": cmd_federated}


def cmd_federated(args) -> int:
    from simulator.scenarios.federated import run_federated
    from simulator.scenarios.fl_spec import load_federated_spec

    check_output(args.plot, "--plot")
    spec = load_federated_spec(args.spec, parse_overrides(args.overrides))
    options = plot_options(args) if args.plot else {}   # a bad --dpi/--size: before the work
    report = run_federated(spec)
    if args.plot:
        from simulator.scenarios.fl_plot import plot_federated

        plot_federated(report, args.plot, **options)
        note(f"wrote {args.plot}")
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
        return 0
    from rich.table import Table

    table = Table(title=f"{report.name}: {report.clients} clients, Dirichlet alpha="
                  f"{report.alpha:g}, K={report.clients_per_round}, {report.rounds} rounds, "
                  f"Paillier {report.key_bits}-bit ({report.he_timing} HE timing); "
                  f"skewness of all data {report.population_skewness:.3f}",
                  title_justify="left")
    for col in ("policy", "final acc", "last-20% acc", "mean skewness", "time s",
                "privacy overhead s", "overhead measured / configured HE s", "HE time s",
                "HE bytes"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, r in report.policies.items():
        s = r.summary()
        table.add_row(name, f"{s['final_accuracy']:.3f}", f"{s['tail_accuracy']:.3f}",
                      f"{s['mean_skewness']:.3f}", f"{s['total_time_s']:.2f}",
                      f"{s['overhead_time_s']:.2f} ({100 * s['overhead_fraction']:.0f}%)",
                      " / ".join(f"{s['overhead_by_timing'].get(t, 0.0):.2f}"
                                 for t in ("measured", "configured")),
                      f"{s['he_time_s']:.3f}", f"{s['he_bytes']:,}")
    make_console().print(table)
    return 0
