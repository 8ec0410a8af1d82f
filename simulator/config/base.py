"""Shared config pieces: strict pydantic base, memory/energy tables, and validation errors with
lines (the YAML reading itself is :mod:`simulator.config.yamlfile`, which needs no pydantic).

Every error a user can make in a config file is reported as ``file:line: field.path: message``.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.config.methods import EnergyMethods, HardwareMethods
from simulator.config.yamlfile import OVERRIDES, _origin, read_yaml
from simulator.errors import ConfigError


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


class ErtEntry(Strict):
    """Which ERT component and action price one archsim event."""

    component: str = Field(description="The component's full name in the ERT.")
    action: str = Field(description="The action's name (read, write, mac_random, ...).")
    bytes: float | None = Field(None, gt=0,
        description=("Bytes one access moves (SRAM/DRAM events; default 8: a 64-bit access). "
                     "MAC and vector entries price one operation."))


#: the events ``energy.ert_map`` may name
ErtEvent = Literal["mac", "vector", "sram_read", "sram_write", "dram_read", "dram_write"]


class EnergyTable(EnergyMethods, Strict):
    """Energy per event in picojoules, at 45 nm unless ``node_nm`` says otherwise.

    Built-in figures (docs/energy.md gives every source): a MAC 0.2 pJ (Horowitz, ISSCC 2014,
    45 nm 8-bit multiply), a vector op 0.1 pJ, DRAM 160 pJ per byte; SRAM per access from a
    power-law fit to Horowitz's 64-bit accesses of 8 KB / 32 KB / 1 MB SRAMs (10 / 20 / 100 pJ)
    in the capacity of each of the config's buffers, linear in the access width, writes at CACTI
    7's write/read ratio; leakage and area per component (``simulator.hw.energy``).
    Pinning ``sram_pj_per_byte`` selects the flat table of earlier releases: one SRAM figure for
    reads and writes whatever the buffer, and (unless ``leakage: true``) no leakage, so a config
    that pins ``mac_pj``, ``sram_pj_per_byte`` and ``dram_pj_per_byte`` keeps its totals.
    ``ert`` imports an Accelergy ERT or ERT_summary; its entries replace those events' figures.
    """

    mac_pj: float = Field(0.2, ge=0,
        description=("Energy of one multiply-accumulate, pJ at 45 nm (8-bit int multiply: 0.2; "
                     "Horowitz, ISSCC 2014)."))
    sram_pj_per_byte: float | None = Field(None, ge=0,
        description=("Flat energy per SRAM byte read (and written, unless "
                     "sram_write_pj_per_byte), pJ at 45 nm, whatever the buffer. None: per "
                     "buffer, from its capacity and the access width (docs/energy.md)."))
    sram_write_pj_per_byte: float | None = Field(None, ge=0,
        description=("Energy per SRAM byte written, pJ at 45 nm. None: sram_pj_per_byte if "
                     "pinned, else the read energy x CACTI 7's write/read ratio (1.61)."))
    dram_pj_per_byte: float = Field(160.0, ge=0,
        description=("Energy per byte read from DRAM (and written, unless "
                     "dram_write_pj_per_byte), pJ (DDR3-class: 160); not node-scaled."))
    dram_write_pj_per_byte: float | None = Field(None, ge=0,
        description="Energy per byte written to DRAM, pJ. None: dram_pj_per_byte.")
    vector_pj_per_op: float = Field(0.1, ge=0,
        description="Energy of one vector-unit element operation, pJ at 45 nm.")
    sram_access_bits: int = Field(64, ge=8, le=8192,
        description=("Bits one SRAM access reads or writes (the capacity model's width; "
                     "Horowitz's figures are for 64)."))
    node_nm: float = Field(45, ge=7, le=130,
        description=("Technology node, nm (7-130): on-chip energies, leakage and area scale "
                     "from 45 nm by Stillmaker & Baas (2017)."))
    vdd: float = Field(0.8, gt=0, le=2,
        description="Supply voltage, V, at which the node scaling compares nodes.")
    sram_leak_nw_per_bit: float | None = Field(None, ge=0,
        description=("SRAM leakage per bit, nW at 45 nm. None: CACTI 7's high-performance-"
                     "transistor figure, about 89 nW (an upper figure; low-power processes "
                     "leak far less: docs/energy.md)."))
    leakage: bool | None = Field(None, strict=True,
        description=("Count leakage (power x run time). None: yes, unless sram_pj_per_byte "
                     "pins the flat table of earlier releases."))
    ert: str | None = Field(None,
        description=("An Accelergy ERT_summary.yaml or ERT.yaml (path relative to this config "
                     "file; a --set path: to the working directory): its entries price "
                     "the events ert_map names or its component names suggest."))
    ert_map: dict[ErtEvent, ErtEntry] = Field(default_factory=dict,
        description=("Event (mac, vector, sram_read, sram_write, dram_read, dram_write) -> "
                     "{component, action, bytes}; events not named are matched by component "
                     "name (docs/energy.md)."))
    ert_table: dict[str, dict[str, float]] | None = Field(None,
        description=("The imported table, {component: {action: pJ}} (filled from ert; "
                     "recorded so a replay needs no file)."))

    @model_validator(mode="after")
    def _load_ert(self, info: ValidationInfo) -> EnergyTable:
        if self.ert is not None and self.ert_table is None:
            from simulator.config.ert import parse_ert

            path = Path(self.ert).expanduser()
            ctx = info.context or {}
            source, lines = ctx.get("source"), ctx.get("lines") or {}
            given = lines.get(OVERRIDES, {})
            by_set = any(k[-1:] == ("ert",) or k[-1:] == ("energy",) for k in given)
            if not path.is_absolute() and source and not by_set and Path(source).is_file():
                path = Path(source).parent / path
            if not path.is_file():
                raise FieldsError(f"no such ERT file: {path}", "ert")
            self.__dict__["ert_table"] = parse_ert(*read_yaml(path, "ERT"), path)
        if self.ert_table is not None:
            from simulator.config.ert import default_map

            try:
                default_map(self.ert_table, self.ert_map)
            except ValueError as err:
                raise FieldsError(str(err), "ert") from None
            for event, entry in self.ert_map.items():
                actions = self.ert_table.get(entry.component)
                if actions is None:
                    raise FieldsError(f"component {entry.component!r} is not in the ERT "
                                      f"(it has {', '.join(sorted(self.ert_table))})",
                                      f"ert_map.{event}.component")
                if entry.action not in actions:
                    raise FieldsError(f"{entry.component} has no action {entry.action!r} "
                                      f"(it has {', '.join(sorted(actions))})",
                                      f"ert_map.{event}.action")
        elif self.ert_map:
            raise FieldsError("ert_map needs an ert file", "ert_map", "ert")
        return self


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


class HardwareConfig(HardwareMethods, Strict):
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


class FieldsError(ValueError):
    """A cross-field rule broken (``warmup`` must be smaller than ``requests``): raised in a
    model validator, it is reported at the line of the first of ``fields`` (or at the ``--set``
    that gave one of them) and names them all, paths relative to the model that raised it."""

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.fields = fields


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
                                        (re.fullmatch(r"[\w-]*\[.*\]", p) or
                                         re.fullmatch(r"[a-z]+(-[a-z]+)+", p))))



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
        return model.model_validate(data, context={"source": source, "lines": lines})
    except ValidationError as err:
        err._archsim_model = model  # type: ignore[attr-defined]
        raise validation_error(err, source, lines) from None
