"""``archsim serve`` with an LLM spec (``kind: llm``, or tenants that are ``llm:`` workloads):
presentation of the LLM serving study. ``serve`` dispatches here on the spec's content."""

from __future__ import annotations

import json
import sys

from simulator.cli.common import make_console, note, parse_overrides


def is_llm(args) -> bool:
    """The spec file describes LLM serving (read once more by the study itself)."""
    from simulator.scenarios.llm_serving_spec import is_llm_spec, read_spec_data

    data, _ = read_spec_data(args.spec, parse_overrides(args.overrides))
    return is_llm_spec(data)


def cmd_llm_serve(args) -> int:
    from simulator.scenarios.llm_serving import run_llm_serving
    from simulator.scenarios.llm_serving_spec import load_llm_serving_spec

    spec = load_llm_serving_spec(args.spec, parse_overrides(args.overrides))
    from simulator.cli.plotflags import plot_options

    # a bad --size/--dpi is refused before minutes of simulation (serve checked --jobs >= 1)
    options = plot_options(args, 120, (16.0, 4.2)) if args.plot else {}
    report = run_llm_serving(spec, progress=note, jobs=args.jobs)
    if args.plot:
        from simulator.scenarios.llm_serving_plot import plot_llm_serving

        plot_llm_serving(report, args.plot, **options)
        note(f"wrote {args.plot}")
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
                "TPOT p99", "tokens/s", "done req/s", "KV blocks", "KV tokens",
                "preempt", "max load req/s"):
        table.add_column(col, justify="left" if col in ("policy", "load") else "right",
                         no_wrap=col in ("policy", "max load req/s"))
    for name, r in report.policies.items():
        for row in _rows(name, r):
            table.add_row(*row)
    make_console().print(table)
    print("times in ms; TTFT/TPOT over the counted requests; throughput over the whole run; "
          "KV blocks: mean/peak share of the cache's blocks allocated (static: reserved); "
          "KV tokens: time-averaged share of its token slots holding a token's K/V",
          file=sys.stderr)
    return 0


def _held(r) -> str:
    """The policy's max load: a rate, ``>= rate`` (held at every swept rate), ``< rate`` (at
    none) or ``no sweep``."""
    if r.max_load_bound == "<":
        return f"< {min(p.rate_rps for p in r.sweep):,.3g}"
    if r.max_load_rps is None:
        return "no sweep"
    bound = "" if r.max_load_bound == "=" else r.max_load_bound + " "
    return f"{bound}{r.max_load_rps:,.3g}"


def _rows(name: str, r) -> list[list[str]]:
    rows = []
    for i, (load, p) in enumerate(r.loads.items()):
        rows.append([name if i == 0 else "", load, f"{p.rate_rps:g}",
                     f"{100 * p.satisfaction:.1f}%", f"{p.ttft_p50_ms:,.0f}",
                     f"{p.ttft_p99_ms:,.0f}", f"{p.tpot_p50_ms:.1f}", f"{p.tpot_p99_ms:.1f}",
                     f"{p.tokens_per_s:,.0f}", f"{p.requests_per_s:.2f}",
                     f"{100 * p.kv_occupancy:.0f}/{100 * p.kv_peak:.0f}%",
                     f"{100 * p.kv_token_occupancy:.0f}%", f"{p.preemptions}",
                     _held(r) if i == 0 else ""])
    return rows
