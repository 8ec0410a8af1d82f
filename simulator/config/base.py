"""Shared config pieces: strict pydantic base, memory/energy tables, and YAML loading with lines.

Every error a user can make in a config file is reported as ``file:line: field.path: message``.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from simulator.errors import ConfigError
from workloads.files import read_text


def _numeric(annotation: Any) -> bool:
    """A field that holds a number (``int``, ``float``, optionally ``None``)."""
    if annotation in (int, float):
        return True
    return get_origin(annotation) in (Union, types.UnionType) and \
        any(a in (int, float) for a in get_args(annotation))


class Strict(BaseModel):
    """Base of all config models: unknown keys are errors, values are validated on assignment,
    ``true`` is not the number 1 and ``.inf``/``.nan`` are not numbers."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class DramConfig(Strict):
    """Off-chip memory: ``bandwidth`` in bytes/cycle, shared by all transfers; ``latency``."""

    bandwidth: float = Field(32.0, gt=0,
        description=("Off-chip bandwidth in bytes per cycle, shared by every transfer (first come, "
                    "first served)."))
    latency: int = Field(100, ge=0,
        description=("Cycles from a transfer's last byte to its completion (pipelined: "
                     "the channel is free meanwhile)."))


class EnergyTable(Strict):
    """Energy per event in picojoules.

    Defaults are 45 nm figures from Horowitz, "Computing's energy problem" (ISSCC 2014): an 8-bit
    integer multiply-add is about 0.2 pJ, a read from a small (8-64 KB) SRAM about 1.25 pJ per byte
    (10 pJ per 64-bit access), and a DRAM access about 160 pJ per byte (1.3-2.6 nJ per 64 bits).
    A vector-unit operation (add, compare, a step of a transcendental) is costed like a MAC's
    adder and a register access, 0.1 pJ.
    """

    mac_pj: float = Field(0.2, ge=0,
        description=("Energy of one multiply-accumulate, pJ (45 nm 8-bit int: 0.2; Horowitz, ISSCC "
                    "2014)."))
    sram_pj_per_byte: float = Field(1.25, ge=0,
        description="Energy per byte read or written in on-chip SRAM, pJ (small 45 nm SRAM: 1.25).")
    dram_pj_per_byte: float = Field(160.0, ge=0,
        description="Energy per byte moved to or from DRAM, pJ (DDR3-class: 160).")
    vector_pj_per_op: float = Field(0.1, ge=0,
        description="Energy of one vector-unit element operation, pJ.")


#: A vector operator's cost terms: operations per output element, per element of its first
#: input, and per output element per window tap (pooling windows, LRN's ``size``).
CostTerm = Literal["per_output", "per_input", "per_tap"]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]

#: ``vector.costs``: operator type -> operations per output element (a number, replacing the
#: catalogue's whole default cost) or a mapping of cost terms (replacing those terms).
#: Empty: the catalogue's defaults (``archsim ops`` lists them).
VectorCosts = Annotated[dict[str, NonNegative | dict[CostTerm, NonNegative]],
                        AfterValidator(lambda costs: check_cost_keys(costs))]


def check_cost_keys(costs: dict) -> dict:
    """Every key of a ``vector.costs`` table must name an operator of the catalogue."""
    if costs:
        from workloads import ops

        unknown = sorted(k for k in costs if ops.category(k) is None)
        if unknown:
            raise ValueError(f"unknown operator(s) {', '.join(map(repr, unknown))}; keys are "
                             "operator types of the catalogue (see `archsim ops`)")
    return costs


class HardwareConfig(Strict):
    """What every hardware kind has: ``kind``, ``name``, ``clock_ghz``, ``dram``,
    ``word_bytes`` and ``energy``. Each kind's model derives from it (with its own defaults),
    so code that needs only these fields works on any kind, a third-party one included."""

    kind: str = Field(
        description=("The hardware kind (systolic, npu, sparse_tc, zipper, or an "
                     "installed plug-in's)."))
    name: str = Field("hardware", description="A name for reports and timelines.")
    clock_ghz: float = Field(1.0, gt=0,
        description="Clock frequency in GHz: turns cycles into time.")
    dram: DramConfig = Field(DramConfig(), description="Off-chip memory (bandwidth, latency).")
    word_bytes: int = Field(1, ge=1, le=8,
        description=("Bytes per data element unless a pass narrows a tensor (e.g. "
                     "SQuant's weights)."))
    energy: EnergyTable = Field(EnergyTable(),
        description="Energy per event, for the energy report.")

    @property
    def pe_count(self) -> int:
        """Multiply-accumulate units (utilization's denominator); kinds override it."""
        return 1


# --------------------------------------------------------------------------------------------
# YAML with line numbers


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
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"invalid YAML: {problem}", where=at) from None
    lines = _line_index(node) if node is not None else {}
    return data, lines


def read_yaml(path: Path, what: str = "config") -> tuple[Any, dict]:
    """Parse a YAML file; return its data and the key-path -> line index."""
    return parse_yaml_text(read_text(path, what, ConfigError), str(path))


class FieldsError(ValueError):
    """A cross-field rule broken (``warmup`` must be smaller than ``requests``): raised in a
    model validator, it is reported at the line of the first of ``fields`` (or at the ``--set``
    that gave one of them) and names them all, paths relative to the model that raised it."""

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.fields = fields


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
    return f"{source}:{lines[()]}" if () in lines else None


def _shown(value: Any) -> str:
    """A value as the user wrote it, short: no whole mapping of a spec in a one-line error."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_error(err: ValidationError, source: str, lines: dict) -> ConfigError:
    """Turn pydantic's report into one ConfigError naming file:line (or the ``--set`` that gave
    the value), the field path and the fix. Of several errors the deepest is named (for a
    value that may be a number or a mapping, the mapping's bad key, not "not a number"); a
    cross-field rule (:class:`FieldsError`) names its fields and is located at the first."""
    errors = err.errors()
    first = max(errors, key=lambda e: len(_data_path(e["loc"])))
    first = {**first, "loc": _data_path(first["loc"])}
    loc = tuple(first["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, FieldsError) and cause.fields:
        paths = [loc + tuple(f.split(".")) for f in cause.fields]
        given = lines.get(OVERRIDES, {})
        overridden = [p for p in paths if any(p[:c] in given for c in range(1, len(p) + 1))]
        where = _origin(lines, (overridden or paths)[0], source) or source
        dotted = ", ".join(".".join(str(x) for x in p) for p in paths)
    else:
        where = _origin(lines, loc, source) or source
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        parent_model = _model_at(first, err)
        if parent_model:
            msg += f"; accepted keys here: {', '.join(parent_model)}"
    elif first["type"] == "literal_error":
        msg = f"got {_shown(first.get('input'))}; {msg[0].lower()}{msg[1:]}"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif loc:
        msg = f"{msg[0].lower()}{msg[1:]}, got {_shown(first.get('input'))}"
    else:   # the document itself (not a mapping...): its content is not worth quoting
        msg = f"{msg[0].lower()}{msg[1:]}"
    extra = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return ConfigError(f"{dotted}: {msg}{extra}", where=where)


def _data_path(loc: tuple) -> tuple:
    """A pydantic error location without its union-member tags (``constrained-float``,
    ``dict[...]``, ``[key]``): only the keys and indices the user wrote."""
    return tuple(p for p in loc if not (isinstance(p, str) and
                                        ("[" in p or re.fullmatch(r"[a-z]+(-[a-z]+)+", p))))



def _model_at(error: dict, err: ValidationError) -> list[str] | None:
    ctx_model = getattr(err, "_archsim_model", None)
    if ctx_model is None:
        return None
    model = ctx_model
    for part in error["loc"][:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not isinstance(field.annotation, type):
            return None
        if not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return list(model.model_fields)


def parse_model(model: type[BaseModel], data: Any, source: str, lines: dict) -> BaseModel:
    """Validate ``data`` against ``model``; errors come back as a located :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", where=source)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        err._archsim_model = model  # type: ignore[attr-defined]
        raise validation_error(err, source, lines) from None


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
