"""``archsim serve`` with an LLM spec (``kind: llm``, or tenants that are ``llm:`` workloads):
presentation of the LLM serving study. ``serve`` dispatches here on the spec's content."""

from __future__ import annotations

import json
import sys

from simulator.cli.common import make_console, parse_overrides


def is_llm(args) -> bool:
    """The spec file describes LLM serving (read once more by the study itself)."""
    from simulator.scenarios.llm_serving_spec import is_llm_spec, read_spec_data

    data, _ = read_spec_data(args.spec, parse_overrides(args.overrides))
    return is_llm_spec(data)


def _plot_options(args) -> dict:
    """Plot flags the ``serve`` command may carry (``--dpi``, ``--title``, ``--size``)."""
    options = {}
    if getattr(args, "dpi", None):
        options["dpi"] = args.dpi
    if getattr(args, "title", None):
        options["title"] = args.title
    size = getattr(args, "size", None)
    if isinstance(size, str) and "x" in size.lower():
        w, _, h = size.lower().partition("x")
        options["size"] = (float(w), float(h))
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        options["size"] = (float(size[0]), float(size[1]))
    return options


def cmd_llm_serve(args) -> int:
    from simulator.scenarios.llm_serving import run_llm_serving
    from simulator.scenarios.llm_serving_spec import load_llm_serving_spec

    spec = load_llm_serving_spec(args.spec, parse_overrides(args.overrides))
    report = run_llm_serving(spec, progress=lambda msg: print(msg, file=sys.stderr),
                             jobs=max(1, getattr(args, "jobs", 1) or 1))
    if args.plot:
        from simulator.scenarios.llm_serving_plot import plot_llm_serving

        plot_llm_serving(report, args.plot, **_plot_options(args))
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
        return 0
    from rich.table import Table

    t, kv = report.tenant, report.kv
    title = (f"{report.name}: {t['workload']} on {report.kind} ({report.target}); KV cache "
             f"{kv.blocks * kv.block_tokens * kv.kv_bytes_per_token / 1e9:.3g} GB = "
             f"{kv.tokens:,} tokens; SLO TTFT <= {t['ttft_ms']:g} ms and TPOT <= "
             f"{t['tpot_ms']:g} ms for >= {100 * report.slo_attainment:.0f}% of requests "
             f"(alone: TTFT {t['isolated']['ttft_ms']:.1f} ms, TPOT "
             f"{t['isolated']['tpot_ms']:.2f} ms at the median request)")
    table = Table(title=title, title_justify="left")
    for col in ("policy", "load", "req/s", "SLO met", "TTFT p50", "TTFT p99", "TPOT p50",
                "TPOT p99", "tokens/s", "done req/s", "KV mean", "KV peak", "preempt",
                "max load req/s"):
        table.add_column(col, justify="left" if col in ("policy", "load") else "right")
    for name, r in report.policies.items():
        bound = "" if r.max_load_bound == "=" else r.max_load_bound + " "
        held = f"{bound}{r.max_load_rps:,.3g}" if r.max_load_rps is not None else \
            "below the sweep"
        for i, (load, p) in enumerate(r.loads.items()):
            table.add_row(name if i == 0 else "", load, f"{p.rate_rps:g}",
                          f"{100 * p.satisfaction:.1f}%", f"{p.ttft_p50_ms:,.0f}",
                          f"{p.ttft_p99_ms:,.0f}", f"{p.tpot_p50_ms:.1f}",
                          f"{p.tpot_p99_ms:.1f}", f"{p.tokens_per_s:,.0f}",
                          f"{p.requests_per_s:.2f}", f"{100 * p.kv_occupancy:.0f}%",
                          f"{100 * p.kv_peak:.0f}%", f"{p.preemptions}",
                          held if i == 0 else "")
    make_console().print(table)
    print("times in ms; TTFT/TPOT over the counted requests; throughput over the whole run; "
          "KV: share of the cache's blocks in use", file=sys.stderr)
    return 0
