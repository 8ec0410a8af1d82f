"""The multi-tenant serving spec (``archsim serve SPEC.yaml``): pydantic models and YAML loading
with ``file:line`` errors, so a typo in a spec is reported like one in a hardware config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.config.base import FieldsError, Strict, parse_model
from simulator.config.yamlfile import OVERRIDES, _origin, read_yaml, set_dotted
from simulator.errors import ConfigError


class TenantSpec(Strict):
    """A served model. Its QoS target is ``qos_ms``, or ``qos_factor`` times its isolated latency
    on the fastest core count (exactly one of the two). ``weight``: its share of the arrivals."""

    name: str
    workload: str
    qos_ms: float | None = Field(None, gt=0)
    qos_factor: float | None = Field(None, gt=1)
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> TenantSpec:
        if (self.qos_ms is None) == (self.qos_factor is None):
            raise FieldsError("give exactly one of qos_ms or qos_factor", "qos_ms", "qos_factor")
        return self


class PolicySpec(Strict):
    """A scheduling policy. ``granularity``: what one core allocation covers (a whole request,
    one layer, or a block of consecutive layers). ``block``: a fixed block size in layers,
    ``adaptive`` (grown while the request's latency target split across its layers can be met
    with the cores free now; VELTAIR's layer-block) or ``feedback`` (sized by the recent
    conflict rate). ``compilation``: ``fixed`` runs each layer's
    fastest-in-isolation version, ``adaptive`` picks the version that is fastest under the DRAM
    contention at dispatch time."""

    name: str
    granularity: Literal["model", "layer", "block"]
    block: int | Literal["adaptive", "feedback"] = "adaptive"
    compilation: Literal["fixed", "adaptive"] = "fixed"

    @model_validator(mode="after")
    def _block(self) -> PolicySpec:
        if isinstance(self.block, int) and self.block < 1:
            raise FieldsError(f"block must be a positive number of layers, 'adaptive' or "
                              f"'feedback', got {self.block}", "block")
        return self


class AdaptiveBlockSpec(Strict):
    """Block sizes: an ``adaptive`` block is at most ``max`` layers long; a ``feedback`` block
    starts at ``start`` layers, doubles when more than ``high`` of the last ``window``
    scheduling decisions were conflicts and halves below ``low``, within ``[min, max]``."""

    min: int = Field(1, ge=1)
    max: int = Field(32, ge=1)
    start: int = Field(4, ge=1)
    window: int = Field(32, ge=1)
    low: float = Field(0.05, ge=0, le=1)
    high: float = Field(0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _range(self) -> AdaptiveBlockSpec:
        if not self.min <= self.start <= self.max:
            raise FieldsError(f"need min <= start <= max, got min {self.min}, start "
                              f"{self.start}, max {self.max}", "min", "start", "max")
        if self.low > self.high:
            raise FieldsError(f"need low <= high, got low {self.low:g}, high {self.high:g}",
                              "low", "high")
        return self


class VersionSpec(Strict):
    """One compiled version of every layer: the lowering's tiling (``fold_group``: array folds per
    instruction, i.e. the tile size; ``sram_scale``: the share of the operand buffers it tiles
    for)."""

    fold_group: int = Field(4, ge=1, le=64)
    sram_scale: float = Field(1.0, gt=0, le=1)


def _default_policies() -> list[PolicySpec]:
    return [PolicySpec(name="model-wise", granularity="model"),
            PolicySpec(name="layer-wise", granularity="layer"),
            PolicySpec(name="layer-block", granularity="block"),
            PolicySpec(name="veltair", granularity="block", compilation="adaptive")]


class ServingSpec(Strict):
    """The whole study. ``target``: an npu config, with ``target_set`` dotted overrides (as
    ``--set`` gives them). ``loads`` and ``sweep`` are total arrival rates (requests per second
    over all tenants); each run draws ``requests`` Poisson arrivals from ``seed`` (the same
    arrivals for every policy; the first ``warmup`` are not counted). A block plans to use
    ``alpha`` of its request's remaining time; every scheduling decision costs ``dispatch_us``.
    ``contention_levels``: DRAM slowdowns every layer is profiled at (1 = alone)."""

    name: str = "serving"
    target: str
    target_set: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    requests: int = Field(600, ge=1)
    warmup: int = Field(0, ge=0)
    qos_satisfaction: float = Field(0.95, gt=0, le=1)
    dispatch_us: float = Field(0.0, ge=0)
    alpha: float = Field(1.0, gt=0, le=1)
    tenants: list[TenantSpec] = Field(min_length=1)
    loads: dict[str, float] = Field(min_length=1)
    sweep: list[float] = Field(default_factory=list)
    max_load_refine: int = Field(2, ge=0, le=10)
    policies: list[PolicySpec] = Field(default_factory=_default_policies, min_length=1)
    adaptive_block: AdaptiveBlockSpec = Field(default_factory=AdaptiveBlockSpec)
    versions: list[VersionSpec] = Field(default_factory=lambda: [VersionSpec()], min_length=1)
    contention_levels: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ServingSpec:
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise FieldsError(f"tenant names must be distinct, got {', '.join(names)}",
                              "tenants")
        if len({p.name for p in self.policies}) != len(self.policies):
            raise FieldsError("policy names must be distinct", "policies")
        for name, rate in self.loads.items():
            if rate <= 0:
                raise FieldsError(f"load {name!r} must be a positive rate, got {rate}",
                                  f"loads.{name}")
        if any(r <= 0 for r in self.sweep):
            raise FieldsError("sweep rates must be positive", "sweep")
        levels = self.contention_levels
        if not levels or levels[0] != 1.0 or \
                any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
            raise FieldsError("contention_levels must start at 1 and increase",
                              "contention_levels")
        if self.warmup >= self.requests:
            raise FieldsError(f"warmup ({self.warmup}) must be smaller than requests "
                              f"({self.requests})", "warmup", "requests")
        return self


def parse_serving_spec(data: Any, source: str = "<spec>", lines: dict | None = None,
                       base_dir: Path | None = None) -> ServingSpec:
    """Validate plain data; a relative ``target`` or ``cache_dir`` is resolved against
    ``base_dir`` (the spec's folder) when the file exists there."""
    spec = parse_model(ServingSpec, data if data is not None else {}, source, lines or {})
    if base_dir is not None and not Path(spec.target).is_absolute():
        local = base_dir / spec.target
        if local.exists():
            spec.target = str(local)
    return spec  # type: ignore[return-value]


def load_serving_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> ServingSpec:
    """Read a spec file, applying dotted ``--set`` overrides before validation."""
    path = Path(path)
    data, lines = read_yaml(path, "scenario spec")
    data = data if data is not None else {}
    for dotted, value in (overrides or {}).items():
        if isinstance(data, dict):
            set_dotted(data, dotted, value, lines)
    spec = parse_serving_spec(data, str(path), lines, path.parent)
    config = check_target(spec.target, ("target",), str(path), lines, spec.target_set,
                          ("target_set",))
    if config.kind != "npu":
        raise ConfigError(f"target: the serving study runs on an npu config, got kind "
                          f"{config.kind!r} ({spec.target})",
                          where=_origin(lines, ("target",), str(path)) or str(path))
    return spec


def check_target(target: str, at: tuple, source: str, lines: dict,
                 overrides: dict[str, Any] | None = None, overrides_at: tuple = ()) -> Any:
    """The hardware config a spec names at key path ``at``, loaded now (before minutes of
    study) with its ``overrides`` (the spec's ``target_set``). A missing file is an error at the
    spec's line; a bad override at the override's line (or its ``--set``); an error inside the
    config file stays located in that file."""
    from simulator.targets import load_config

    where = _origin(lines, at, source) or source
    path = Path(target)
    if not path.is_file():
        raise ConfigError(f"{'.'.join(map(str, at))}: {'a folder' if path.is_dir() else 'no'} "
                          f"config file {target}", where=where)
    try:
        return load_config(path, overrides)
    except ConfigError as err:
        given = (err.where or "").removeprefix("--set ")
        key = given.partition("=")[0]
        if err.where and err.where.startswith("--set ") and key in (overrides or {}):
            under = (*overrides_at, key)   # a --set of the spec inside that override?
            place = next((o for p, o in lines.get(OVERRIDES, {}).items()
                          if p[:len(under)] == under), None) or \
                _origin(lines, under, source) or source
            raise ConfigError(f"{'.'.join(overrides_at)}.{err.what}", where=place) from None
        raise
