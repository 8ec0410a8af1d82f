"""``archsim schema KIND``: a config kind's JSON schema, every field described (for YAML
editors: point the yaml-language-server at it)."""

from __future__ import annotations

import json
from collections.abc import Callable


def add_parsers(sub) -> dict[str, Callable]:
    p = sub.add_parser("schema", help="print a config kind's JSON schema",
                       description="Print the JSON schema of KIND's config (systolic, npu, "
                       "sparse_tc, zipper, or an installed plug-in's kind), with a description "
                       "for every field: for YAML editors (e.g. `# yaml-language-server: "
                       "$schema=systolic.json`) and for reading what a key means.")
    p.add_argument("kind")
    return {"schema": cmd_schema}


def cmd_schema(args) -> int:
    from simulator.targets import config_model

    schema = config_model(args.kind).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"archsim {args.kind} config"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0
