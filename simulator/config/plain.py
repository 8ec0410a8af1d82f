"""Configs read without pydantic, for a run's start-up: the fast path of ``load_config``.

Importing pydantic and building the config models takes about 0.2-0.3 s, most of a small
``archsim run``. So the CLI's run, lower and replay read a config through :func:`plain_config`
first: it checks the data against a table of the models' fields (:mod:`plain_table`, written
by ``python -m simulator.config.plain`` from the pydantic models themselves: types, bounds,
literals, defaults) and builds :class:`Plain` objects with the models' attributes and methods
(the mixins of :mod:`simulator.config.methods`) and their ``model_dump``. It accepts only
what it fully understands and the models plainly accept: exact ints, numbers, strings, bools,
literals and nested mappings within the bounds, and the defaults of anything else (vector cost
tables, ERT imports, ...). Everything else (an unknown key, a bool for a number, a string for
an int, any kind not in the table, a table older than the models) returns None, and the caller
goes through the models, which raise their located errors or accept what the table does not
describe. tests/test_config_plain.py checks the two give equal configs on every YAML config of
the repository and on random edits of them, and that the table is fresh.

A :class:`Plain` config is read-only; anything it does not provide itself (``model_copy``,
``model_dump_json``, ``model_json_schema``...) is answered by the pydantic model it stands for,
built on first use.
"""

from __future__ import annotations

import math
import os
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
#: the source files the table is derived from: a table written from other sources is stale
SOURCES = ("base.py", "methods.py", "systolic.py", "plain.py")
#: the kinds the table describes, and their models (npu and sparse_tc have cross-field rules,
#: and zipper's required pass checks its config's class)
KINDS = {"systolic": "simulator.config.systolic:SystolicConfig"}
#: model validators the fast path may skip, with the fields that must keep their defaults for
#: the validator to do nothing (EnergyTable._load_ert reads and checks an ERT file)
SKIPPED_VALIDATORS = {"EnergyTable._load_ert": ("ert", "ert_map", "ert_table")}
#: the one field validator of every model (``Strict``): a bool is not a number; the fast path
#: never takes a bool for a number either
SHARED_FIELD_VALIDATOR = "_no_boolean_numbers"


def source_digest() -> str:
    """A checksum of :data:`SOURCES` (CRC-32: it detects a stale table; zlib is loaded at
    start-up anyway, hashlib's OpenSSL is not)."""
    import zlib

    crc = 0
    for name in SOURCES:
        with open(os.path.join(_HERE, name), "rb") as fh:
            crc = zlib.crc32(name.encode() + b"\0" + fh.read() + b"\0", crc)
    return f"{crc:08x}"


# ------------------------------------------------------------------------------- the objects

class Plain:
    """A validated config (or part of one) with the attributes of the model it stands for."""

    #: the model's qualified name (``module:Class``), its field names in order, and those of
    #: its float fields (a default written as ``45`` stays an int, dumped as 45.0 in JSON)
    _model: str = ""
    _fields: tuple[str, ...] = ()
    _floats: frozenset[str] = frozenset()

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} read by simulator.config.plain is read-only; "
                        "build the pydantic model (simulator.targets.config_from_dict) to "
                        "change it")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name not in _MODEL_NAMES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.as_model(), name)

    def as_model(self) -> Any:
        """The pydantic model this stands for (validated from :meth:`model_dump`)."""
        model = self.__dict__.get("_as_model")
        if model is None:
            import importlib

            module, cls = self._model.split(":")
            model = getattr(importlib.import_module(module), cls).model_validate(
                self.model_dump())
            self.__dict__["_as_model"] = model
        return model

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False,
                   **options: Any) -> dict[str, Any]:
        """The model's ``model_dump`` (other options: the model's own)."""
        if options or mode not in ("python", "json"):
            return self.as_model().model_dump(mode=mode, exclude_none=exclude_none, **options)
        out = {}
        for name in self._fields:
            value = self.__dict__[name]
            if isinstance(value, Plain):
                value = value.model_dump(mode=mode, exclude_none=exclude_none)
            elif isinstance(value, dict):
                value = dict(value)
            elif value is None and exclude_none:
                continue
            elif mode == "json" and type(value) is int and name in self._floats:
                value = float(value)
            out[name] = value
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Plain):
            return self._model == other._model and self.model_dump() == other.model_dump()
        if type(other).__name__ == type(self).__name__ and hasattr(other, "model_dump"):
            return self.model_dump() == other.model_dump()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (as the models: mutable, unhashable)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(
            f"{name}={self.__dict__[name]!r}" for name in self._fields) + ")"


#: the pydantic attributes a Plain object answers through its model
_MODEL_NAMES = frozenset({
    "model_copy", "model_dump_json", "model_json_schema", "model_fields", "model_config",
    "model_fields_set", "model_extra", "model_computed_fields", "model_post_init",
    "model_validate", "model_construct"})

_CLASSES: dict[str, type[Plain]] = {}


def _class(qualname: str, fields: dict[str, dict]) -> type[Plain]:
    cls = _CLASSES.get(qualname)
    if cls is None:
        from simulator.config import methods

        name = qualname.split(":")[1]
        mixin = {"SystolicConfig": methods.SystolicMethods,
                 "EnergyTable": methods.EnergyMethods}.get(name)
        if mixin is None and name.endswith("Config") and "kind" in fields:
            mixin = methods.HardwareMethods
        bases = (Plain,) if mixin is None else (mixin, Plain)
        floats = frozenset(f for f, spec in fields.items() if spec["type"] == "float")
        cls = _CLASSES[qualname] = type(name, bases, {"_model": qualname, "_fields": tuple(fields),
                                                      "_floats": floats})
    return cls


# ---------------------------------------------------------------------------- the validator

class _Refused(Exception):
    """A value the fast path does not take: the models decide."""


def _number(value: Any, spec: dict) -> Any:
    kind = spec["type"]
    if kind == "int":
        if type(value) is not int or abs(value) >= 2 ** 63:
            raise _Refused
    elif type(value) is float:
        if not math.isfinite(value):
            raise _Refused
    elif type(value) is int and abs(value) < 2 ** 53:
        value = float(value)
    else:
        raise _Refused
    if ("ge" in spec and not value >= spec["ge"]) or ("gt" in spec and not value > spec["gt"]) \
            or ("le" in spec and not value <= spec["le"]) or \
            ("lt" in spec and not value < spec["lt"]):
        raise _Refused
    return value


def _value(value: Any, spec: dict, models: dict) -> Any:
    if value is None:
        if spec.get("none"):
            return None
        raise _Refused
    kind = spec["type"]
    if kind in ("int", "float"):
        return _number(value, spec)
    if kind == "str":
        if type(value) is not str:
            raise _Refused
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise _Refused
        return value
    if kind == "literal":
        if type(value) is not str or value not in spec["choices"]:
            raise _Refused
        return value
    if kind == "model":
        if type(value) is not dict:
            raise _Refused
        return _model(spec["model"], value, models)
    # "default": only the default itself, as given
    if type(value) is not type(spec["default"]) or value != spec["default"]:
        raise _Refused
    return _copy(value)


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value


def _model(qualname: str, data: dict, models: dict) -> Plain:
    fields = models[qualname]
    if not all(type(key) is str and key in fields for key in data):
        raise _Refused   # an unknown key (or not a string): the model names it
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _value(data[name], spec, models)
        elif "default" not in spec:
            raise _Refused   # required
        elif spec["type"] == "model" and spec["default"] is not None:
            values[name] = _trusted(spec["model"], spec["default"], models)
        else:
            values[name] = _copy(spec["default"])
    return _class(qualname, fields)(values)


def _trusted(qualname: str, dump: dict, models: dict) -> Plain:
    """A default instance, from its recorded dump (not validated again: pydantic keeps a
    default's values as written, ``512`` for a float field stays an int)."""
    values = {}
    for name, spec in models[qualname].items():
        value = dump[name]
        if spec["type"] == "model" and value is not None:
            value = _trusted(spec["model"], value, models)
        values[name] = _copy(value)
    return _class(qualname, models[qualname])(values)


_FRESH: bool | None = None


def plain_config(data: Any) -> Plain | None:
    """The config of ``data`` (a YAML config's plain data, ``--set`` overrides applied) when
    the fast path takes it, else None (validate it with the models)."""
    global _FRESH
    if type(data) is not dict or type(data.get("kind")) is not str or data["kind"] not in KINDS:
        return None
    from simulator.config import plain_table

    if _FRESH is None:
        _FRESH = plain_table.SOURCE_DIGEST == source_digest()
    if not _FRESH or data["kind"] not in plain_table.KINDS:
        return None
    try:
        return _model(plain_table.KINDS[data["kind"]], data, plain_table.MODELS)
    except _Refused:
        return None


# ---------------------------------------------------------------------- writing the table

def describe(model: type) -> dict[str, dict]:
    """The table rows of ``model`` and the models its fields hold: ``{qualname: {field:
    spec}}``. A field whose type, constraints or validators the fast path does not check
    itself is described as ``default`` (only its default is taken); a model with a model
    validator the fast path cannot skip, or options other than the shared ones, is an error."""
    import types
    import typing

    import annotated_types
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    out: dict[str, dict] = {}

    def qual(cls: type) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def visit(cls: type) -> str:
        name = qual(cls)
        if name in out:
            return name
        config = cls.model_config
        expected = {"extra": "forbid", "validate_assignment": True, "frozen": False,
                    "allow_inf_nan": False}
        if {k: config.get(k) for k in expected} != expected or any(
                k not in expected for k in config):
            raise ValueError(f"{name}: model options {dict(config)} are not the shared ones")
        decorators = cls.__pydantic_decorators__
        skipped: tuple[str, ...] = ()
        for validator in decorators.model_validators:
            key = f"{cls.__name__}.{validator}"
            if key not in SKIPPED_VALIDATORS:
                raise ValueError(f"{name}: model validator {validator} is not one the fast "
                                 "path may skip")
            skipped += SKIPPED_VALIDATORS[key]
        checked = {f for d in decorators.field_validators.values() if d.cls_var_name !=
                   SHARED_FIELD_VALIDATOR for f in d.info.fields}
        if any(d.cls_var_name == SHARED_FIELD_VALIDATOR and d.info.fields != ("*",)
               for d in decorators.field_validators.values()):
            raise ValueError(f"{name}: {SHARED_FIELD_VALIDATOR} is not on every field")
        out[name] = rows = {}
        for field, info in cls.model_fields.items():
            spec: dict[str, Any] = {}
            if info.default_factory is not None:
                spec["default"] = info.default_factory()
            elif info.default is not PydanticUndefined:
                default = info.default
                spec["default"] = default.model_dump() if isinstance(default, BaseModel) \
                    else default
            annotation = info.annotation
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType) and \
                    len(args) == 2 and type(None) in args:
                spec["none"] = True
                annotation = next(a for a in args if a is not type(None))
            plain = True
            for meta in info.metadata:
                bound = next((k for k in ("ge", "gt", "le", "lt")
                              if isinstance(meta, getattr(annotated_types, k.title()))), None)
                if bound is not None and annotation in (int, float):
                    spec[bound] = getattr(meta, bound)
                elif not (type(meta).__name__ == "Strict" and annotation is bool):
                    plain = False
            if field in checked or field in skipped or info.alias or info.validation_alias:
                plain = False
            if plain and annotation in (int, float, str, bool):
                spec["type"] = annotation.__name__
            elif plain and typing.get_origin(annotation) is typing.Literal and \
                    all(type(a) is str for a in typing.get_args(annotation)):
                spec["type"] = "literal"
                spec["choices"] = list(typing.get_args(annotation))
            elif plain and isinstance(annotation, type) and issubclass(annotation, BaseModel):
                spec["type"] = "model"
                spec["model"] = visit(annotation)
            elif "default" in spec:
                spec = {"type": "default", "default": spec["default"]}
            else:
                raise ValueError(f"{name}.{field}: required, and of a type the fast path "
                                 "does not check")
            rows[field] = spec
        return name

    visit(model)
    return out


def table_source() -> str:
    """The text of ``plain_table.py`` for the models as they are."""
    import importlib

    models: dict[str, dict] = {}
    for qualname in KINDS.values():
        module, name = qualname.split(":")
        models.update(describe(getattr(importlib.import_module(module), name)))
    rows = []
    for qualname, fields in models.items():
        rows.append(f"    {qualname!r}: {{\n")
        rows += [f"        {field!r}: {spec!r},\n" for field, spec in fields.items()]
        rows.append("    },\n")
    return ('"""The config models\' fields for simulator.config.plain, written by `python -m '
            'simulator.config.plain`\nfrom the models: do not edit (tests/test_config_plain.py '
            'checks it is what they say)."""\n# ruff: noqa: E501\n\n'
            f"SOURCE_DIGEST = {source_digest()!r}\n\n"
            f"KINDS = {KINDS!r}\n\n"
            "MODELS = {\n" + "".join(rows) + "}\n")


def main() -> None:
    path = os.path.join(_HERE, "plain_table.py")
    with open(path, "w") as fh:
        fh.write(table_source())


if __name__ == "__main__":
    main()
