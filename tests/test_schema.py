"""``archsim schema KIND``: every field of every built-in kind's config is described."""

from __future__ import annotations

import json

import pytest

from simulator.cli import main
from simulator.targets import BUILTIN


def undescribed(schema: dict) -> list[str]:
    """Dotted paths of properties without a description, following $refs into sections."""
    defs = schema.get("$defs", {})
    missing: list[str] = []

    def walk(node: dict, path: str) -> None:
        if "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        for key, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(path + key)
            for alt in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
                if "$ref" in alt:
                    walk(alt, f"{path}{key}.")
                    break

    walk(schema, "")
    return missing


@pytest.mark.parametrize("kind", list(BUILTIN))
def test_every_field_is_described(kind, capsys):
    assert main(["schema", kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == f"archsim {kind} config"
    assert undescribed(schema) == []
    assert "kind" in schema["properties"] and schema["additionalProperties"] is False


def test_unknown_kind_is_a_located_error(capsys):
    assert main(["schema", "gpu"]) == 2
    assert "no target of kind 'gpu'" in capsys.readouterr().err
