"""``archsim ops``: the operator catalogue, one row per operator."""

from __future__ import annotations

from collections.abc import Callable


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("ops", help="list the operator catalogue",
                       description="List every operator archsim knows: domain, category, the "
                       "opsets it imports, whether it has numpy semantics (functional execution, "
                       "constant folding), the hardware kinds that lower it and its default "
                       "vector cost.")
    p.add_argument("--json", action="store_true", help="print the catalogue as a JSON list")
    p.add_argument("--category", help="only this category")
    return {"ops": cmd_ops}


def _cost(spec) -> dict | None:
    if spec.cost is not None:
        return spec.cost.to_json() or {"per_output": 0}
    if spec.work is not None:
        doc = (spec.work.__doc__ or spec.work.__name__).strip().splitlines()[0]
        return {"formula": doc}
    return None


def _cost_text(spec) -> str:
    if spec.cost is not None:
        return spec.cost.describe()
    if spec.work is not None:
        return "MACs" if spec.category == "matmul" else "op_cost"
    return "-"


def catalogue_rows(category: str | None = None) -> list[dict]:
    from simulator.errors import ArchsimError
    from simulator.targets import kinds_lowering
    from workloads import ops

    if category is not None and category not in ops.CATEGORIES:
        raise ArchsimError(f"unknown category {category!r}; accepted: "
                           f"{', '.join(ops.CATEGORIES)}", where="--category")
    return [{"op": s.op, "domain": s.domain, "category": s.category, "since": s.since,
             "until": s.until, "functional": s.functional,
             "targets": kinds_lowering(s.op, s.domain),
             "vector_cost": _cost(s), "doc": s.doc}
            for s in ops.specs() if category in (None, s.category)]


def cmd_ops(args) -> int:
    rows = catalogue_rows(args.category)
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    from simulator.cli.common import make_console
    from workloads import ops

    by_key = {(s.domain, s.op): s for s in ops.specs()}
    functional = sum(r["functional"] for r in rows)
    table = Table(title=f"operator catalogue: {len(rows)} operators, {functional} with numpy "
                  "semantics", title_justify="left")
    for col in ("op", "domain", "category", "opsets", "functional", "targets", "vector cost"):
        table.add_column(col)
    for r in rows:
        spec = by_key[(r["domain"], r["op"])]
        table.add_row(r["op"], r["domain"] or "ai.onnx", r["category"], spec.opsets,
                      "yes" if r["functional"] else "no", ", ".join(r["targets"]) or "-",
                      _cost_text(spec))
    make_console().print(table)
    return 0
