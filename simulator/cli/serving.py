"""``archsim serve``: parsing and presentation for the multi-tenant serving study (issue 10).
Importing this module is cheap; the scenario loads only when the command runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from simulator.cli.common import add_set_flag, check_output, make_console, note, parse_overrides
from simulator.cli.plotflags import add_plot_flags, plot_options
from simulator.errors import ArchsimError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("serve", help="multi-tenant serving: model-wise vs layer-wise vs adaptive "
                       "layer-block scheduling, fixed vs adaptive compilation (VELTAIR)",
                       description="Profile every layer of the tenants' models on the npu target "
                       "(each core count, compiled version and DRAM contention level; cached), "
                       "then serve seeded Poisson requests with each policy of SPEC and print per "
                       "policy and load: requests, served within QoS, QoS satisfaction, mean/p99 "
                       "latency and conflict rate, and the highest load held at the QoS "
                       "satisfaction target.")
    p.add_argument("spec", help="scenario spec (YAML), e.g. configs/scenarios/serving.yaml")
    add_set_flag(p)
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (per policy: loads, sweep, max load)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write QoS satisfaction and p99 latency against load for each policy")
    add_plot_flags(p)
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="simulate policies on N processes (same report; default 1)")
    return {"serve": cmd_serve}


def cmd_serve(args) -> int:
    from simulator.cli.llm_serving import cmd_llm_serve, is_llm

    if args.jobs < 1:
        raise ArchsimError(f"--jobs must be at least 1, got {args.jobs}")
    check_output(args.plot, "--plot")
    if is_llm(args):     # kind: llm, or llm: tenants (docs/llm-serving.md)
        return cmd_llm_serve(args)
    from simulator.scenarios.serving import run_serving
    from simulator.scenarios.serving_spec import load_serving_spec

    spec = load_serving_spec(args.spec, parse_overrides(args.overrides))
    options = plot_options(args) if args.plot else {}   # a bad --dpi/--size: before the work
    report = run_serving(spec, progress=note, jobs=args.jobs)
    if args.plot:
        from simulator.scenarios.serving_plot import plot_serving

        plot_serving(report, args.plot, **options)
        note(f"wrote {args.plot}")
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
        return 0
    from rich.table import Table

    tenants = ", ".join(f"{t['name']} (QoS {t['qos_ms']:.2f} ms)" for t in report.tenants)
    table = Table(title=f"{report.name}: {report.cores}-core npu, {tenants}; "
                  f"max load at >= {100 * report.qos_satisfaction:.0f}% within QoS",
                  title_justify="left")
    for col in ("policy", "load", "req/s", "requests", "within QoS", "satisfaction",
                "mean ms", "p99 ms", "conflict rate", "max load req/s"):
        table.add_column(col, justify="left" if col in ("policy", "load") else "right")
    for name, r in report.policies.items():
        bound = "" if r.max_load_bound == "=" else r.max_load_bound + " "
        held = f"{bound}{r.max_load_rps:,.0f}" if r.max_load_rps is not None else \
            "below the sweep"
        for i, (load, p) in enumerate(r.loads.items()):
            table.add_row(name if i == 0 else "", load, f"{p.rate_rps:,.0f}", f"{p.requests}",
                          f"{p.within_qos}", f"{100 * p.satisfaction:.1f}%", f"{p.mean_ms:.2f}",
                          f"{p.p99_ms:.2f}", f"{100 * p.conflict_rate:.1f}%",
                          held if i == 0 else "")
    make_console().print(table)
    return 0
