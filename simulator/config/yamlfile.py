"""Config YAML without pydantic: parsing with a key-path -> line index, and ``--set``
overrides that remember where a value came from (``simulator.config.base`` turns validation
errors into ``file:line`` messages with both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.errors import ConfigError
from workloads.files import read_text


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict:
    """Map every key path in a composed YAML tree to the 1-based line where it is written."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
            # keep the key's own line for the path (the value may start on a later line)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML itself lets the last
    one win silently, which hides typos such as two ``rows:`` lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:   # an unhashable key: let the base class report it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given at line {first})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def parse_yaml_text(text: str, where: str) -> tuple[Any, dict]:
    """Parse YAML text: its data and the key-path -> line index; errors name ``where:line``."""
    # parsed once (yaml.compose, then yaml.load, parsed the text twice): the composed tree
    # gives the lines, then is constructed into the data (construction flattens ``<<`` merges
    # in the tree, so the lines are read first; a key that is a list or a mapping cannot be
    # indexed, and construction reports it as YAML's "found unhashable key")
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            try:
                lines: dict | None = _line_index(node) if node is not None else {}
            except TypeError:
                lines = None
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"invalid YAML: {problem}", where=at) from None
    return data, lines if lines is not None else _line_index(node)


def read_yaml(path: Path, what: str = "config") -> tuple[Any, dict]:
    """Parse a YAML file; return its data and the key-path -> line index."""
    return parse_yaml_text(read_text(path, what, ConfigError), str(path))




#: key of a line index under which :func:`set_dotted` records where overridden values came
#: from (dotted path tuple -> ``--set KEY=VALUE``), so errors name the command line
OVERRIDES = "--set"


def _origin(lines: dict, path: tuple, source: str) -> str | None:
    """Where the value at ``path`` (or its nearest written ancestor) was given: the ``--set``
    that overrode it, else ``source:line``; None when no line is known."""
    given = lines.get(OVERRIDES, {})
    for cut in range(len(path), -1, -1):
        if path[:cut] in given:
            return given[path[:cut]]
        if cut and path[:cut] in lines:
            return f"{source}:{lines[path[:cut]]}"
    created = next((o for p, o in given.items() if path and p[:len(path)] == path), None)
    if created:   # a key the file does not have, made by a --set under it (--set 0.0=1)
        return created
    return f"{source}:{lines[()]}" if () in lines else None




def set_dotted(data: dict, dotted: str, value: Any, lines: dict | None = None) -> None:
    """Set ``a.b.c`` in a nested dict, creating mappings on the way: the override primitive.
    With the file's ``lines`` index, the value's origin (``--set a.b.c=VALUE``) replaces the
    file lines under that path, so an error in it names the command line, not the file."""
    parts = dotted.split(".")
    origin = f"--set {dotted}={_flow(value)}"
    if not all(parts):
        raise ConfigError(f"{dotted!r} is not a dotted key path (e.g. array.rows)",
                          where=origin)
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part!r} is not a mapping, cannot set a key inside it",
                              where=origin)
    node[parts[-1]] = value
    if lines is not None:
        path = tuple(parts)
        for key in [k for k in lines if isinstance(k, tuple) and k[:len(path)] == path]:
            del lines[key]
        given = lines.setdefault(OVERRIDES, {})
        for key in [k for k in given if k[:len(path)] == path]:
            del given[key]
        given[path] = origin


def _flow(value: Any) -> str:
    """A value in YAML flow style, as it would be typed after ``--set KEY=``."""
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16,
                              sort_keys=False).strip()
    except yaml.YAMLError:
        return repr(value)
    return text.removesuffix("...").strip()
