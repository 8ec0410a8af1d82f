"""``archsim im2col``: explicit vs implicit im2col, layer by layer."""

from __future__ import annotations

from collections.abc import Callable

from simulator.cli.common import (
    add_input_flags,
    add_set_flag,
    load_inputs,
    make_console,
    parse_overrides,
    print_warnings,
)


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("im2col", help="compare explicit and implicit im2col layer by layer",
                       description="Simulate WORKLOAD with --pass im2col=explicit and =implicit "
                       "and report, per convolution, the A operand's memory footprint (lowered "
                       "matrix vs input feature map), DRAM traffic and cycles of each.")
    p.add_argument("config")
    p.add_argument("workload")
    add_set_flag(p)
    add_input_flags(p)
    p.add_argument("--json", action="store_true", help="print the rows and totals as JSON")

    return {"im2col": cmd_im2col}


def cmd_im2col(args) -> int:
    import warnings

    from simulator.api import load_config
    from simulator.passes import PassWarning
    from simulator.scenarios.im2col_study import compare_im2col

    config = load_config(args.config, parse_overrides(args.overrides))
    graph, _ = load_inputs(args, model=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PassWarning)
        study = compare_im2col(config, graph)
    print_warnings([w for w in caught if issubclass(w.category, PassWarning)])
    study.workload = args.workload
    totals = {"explicit_cycles": study.explicit.total_cycles,
              "implicit_cycles": study.implicit.total_cycles,
              "explicit_dram_bytes": sum(study.explicit.bytes[k] for k in ("dram_read",
                                                                           "dram_write")),
              "implicit_dram_bytes": sum(study.implicit.bytes[k] for k in ("dram_read",
                                                                           "dram_write"))}
    if args.json:
        import json

        print(json.dumps({"workload": study.workload, "config": study.config_name,
                          "layers": [r.to_json() for r in study.rows], "totals": totals},
                         indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"explicit vs implicit im2col: {study.workload} on {study.config_name}",
                  title_justify="left")
    for col in ("layer", "kernel/stride", "input B", "lowered B", "ratio", "DRAM B expl",
                "DRAM B impl", "cycles expl", "cycles impl", "expl/impl"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in study.rows:
        table.add_row(r.layer, f"{r.kernel}/{r.stride}", f"{r.input_bytes:,}",
                      f"{r.lowered_bytes:,}", f"{r.footprint_ratio:.2f}x",
                      f"{r.explicit_dram_bytes:,}", f"{r.implicit_dram_bytes:,}",
                      f"{r.explicit_cycles:,}", f"{r.implicit_cycles:,}", f"{r.slowdown:.2f}")
    table.add_section()
    table.add_row("network", "", "", "", "", f"{totals['explicit_dram_bytes']:,}",
                  f"{totals['implicit_dram_bytes']:,}", f"{totals['explicit_cycles']:,}",
                  f"{totals['implicit_cycles']:,}",
                  f"{totals['explicit_cycles'] / max(1, totals['implicit_cycles']):.2f}")
    make_console().print(table)
    return 0
