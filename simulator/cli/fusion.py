"""``archsim fusion``: the npu fusion/core-count tuners against the baseline."""

from __future__ import annotations

from collections.abc import Callable

from simulator.cli.common import (
    add_input_flags,
    add_set_flag,
    check_output,
    make_console,
    note,
    parse_input_shapes,
    parse_input_values,
    parse_overrides,
)
from simulator.cli.plotflags import add_plot_flags, plot_options
from simulator.errors import ConfigError


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("fusion", help="npu: baseline vs heuristic vs oracle fusion/core plans",
                       description="For each network, simulate the layer-by-layer baseline (the "
                       "config's default_cores), the DLFusion-style heuristic plan and the exact "
                       "oracle plan on an npu CONFIG; report cycles, speedups and search times.")
    p.add_argument("config", help="npu config, e.g. configs/mlu.yaml")
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                   help="workloads (as for run; light:NAME for the onnx wheel's models); "
                        "default: AlexNet, VGG-19, ResNet-50, GoogLeNet, MobileNet-v2, SqueezeNet")
    add_set_flag(p)
    add_input_flags(p)
    p.add_argument("--leave-one-out", action="store_true",
                   help="also judge the heuristic with a rule learned on the synthesized "
                        "kernels plus every other network's fusion units (each network's own "
                        "held out), next to the rule learned on synthesized kernels only")
    p.add_argument("--max-group", type=int, default=8, metavar="N",
                   help="most fusion units per kernel the tuners consider (default 8)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a speedup / search-time plot")
    add_plot_flags(p)

    return {"fusion": cmd_fusion}


def cmd_fusion(args) -> int:
    from simulator.api import load_config
    from simulator.scenarios.fusion_study import (
        NETWORKS,
        fusion_study,
        leave_one_network_out,
        plot_study,
    )

    check_output(args.plot, "--plot")
    config = load_config(args.config, parse_overrides(args.overrides))
    if config.kind != "npu":
        raise ConfigError(f"fusion needs an npu config, got kind {config.kind!r}",
                          where=args.config)
    if args.max_group < 1:
        raise ConfigError(f"--max-group must be at least 1, got {args.max_group}")
    networks = {w: w for w in args.workloads} if args.workloads else NETWORKS
    rows, facts = fusion_study(config, networks, args.max_group,
                               input_shapes=parse_input_shapes(args.input_shapes),
                               input_values=parse_input_values(args.input_values))
    held = leave_one_network_out(config, rows, args.max_group) if args.leave_one_out else []
    if args.plot:
        plot_study(rows, args.plot, **{"title": f"fusion and core-count tuning on {config.name}",
                                       **plot_options(args, 110, (12.0, 4.6))})
        note(f"wrote {args.plot}")
    if args.json:
        import json

        out = {"config": config.name, **facts, "rows": [r.to_json() for r in rows]}
        if held:
            out["leave_one_out"] = [h.to_json() for h in held]
        print(json.dumps(out, indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"fusion/core-count tuning on {config.name} ({config.cores} cores, "
                  f"baseline: layer by layer on {config.default_cores})", title_justify="left")
    for col in ("network", "baseline cycles", "heuristic cycles", "oracle cycles",
                "heur. speedup", "oracle speedup", "heur. vs oracle", "heur. search s",
                "oracle search s", "kernels b/h/o"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for r in rows:
        table.add_row(r.network, f"{r.baseline_cycles:,}", f"{r.heuristic_cycles:,}",
                      f"{r.oracle_cycles:,}", f"{r.heuristic_speedup:.2f}x",
                      f"{r.oracle_speedup:.2f}x", f"{100 * r.heuristic_gap:+.1f}%",
                      f"{r.heuristic_search_s:.4f}", f"{r.oracle_search_s:.1f}",
                      f"{r.baseline_kernels}/{r.heuristic_kernels}/{r.oracle_kernels}")
    console = make_console()
    console.print(table)
    if held:
        lono = Table(title="heuristic vs oracle with the network held out: rule learned on the "
                     "synthesized kernels only, and on them plus the other networks' fusion "
                     "units", title_justify="left")
        for col in ("network", "oracle cycles", "synthesized only", "gap", "+ other networks",
                    "gap", "samples from others"):
            lono.add_column(col, justify="left" if col == "network" else "right")
        for h in held:
            lono.add_row(h.network, f"{h.oracle_cycles:,}", f"{h.synthesized_cycles:,}",
                         f"{100 * h.synthesized_gap:+.1f}%", f"{h.lono_cycles:,}",
                         f"{100 * h.lono_gap:+.1f}%", f"{h.lono_samples:,}")
        console.print(lono)
    note(f"heuristic kernel-cost rule learned from {facts['profiled_layers']} synthesized "
         "layers and fused groups "
         f"({facts['profile_simulations']} simulations, {facts['profile_s']:.1f} s, once per "
         "config)")
    return 0
