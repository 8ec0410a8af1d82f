"""Per-layer latency tables for the serving study, from the real ``npu`` lowering and timing.

A model's *layers* are the fusion tuner's units (an op plus the views and single-input vector ops
that only post-process it: Conv+BN+Relu, MatMul+Add, ...). Every layer is lowered as one kernel at
every core count the config offers (``NpuConfig.core_options``) and in every compiled *version*
(a tiling: ``fold_group``, share of the operand buffers), and simulated on its own with the
shared DRAM channel at full bandwidth and slowed by each *contention level* x (bandwidth / x):
``cycles[layer, cores, version, level]`` and ``dram[layer, cores, version]`` (bytes). Kernels on
the npu run back to back, so a model's isolated latency on ``c`` cores is exactly the sum of its
layers' cycles.

Identical layers (ResNet's repeated bottlenecks, BERT's encoder layers) are simulated once (the
fusion tuner's structural signature). Tables are cached on disk as JSON, keyed by a hash of the
config, the workload, the versions and the levels.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import api
from simulator.config.npu import NpuConfig
from simulator.passes.fusion_search import fusion_units
from simulator.report.export import atomic_write
from simulator.scenarios.code_digest import code_digest
from simulator.scenarios.serving_spec import VersionSpec
from workloads.graph import Graph

#: Bump when the profiling method changes, so stale cache files are not reused.
PROFILE_FORMAT = 1


@dataclass
class ModelProfile:
    """A model's latency tables (see the module doc). ``cores[i]`` is the core count of column i."""

    workload: str
    layers: list[str]
    ops: list[list[str]]
    cores: list[int]
    levels: list[float]
    cycles: np.ndarray   # float64 (L, C, V, J)
    dram: np.ndarray     # float64 (L, C, V)

    @property
    def fixed_version(self) -> np.ndarray:
        """(L, C): each layer's fastest version in isolation (the one a fixed compile ships)."""
        return np.argmin(self.cycles[:, :, :, 0], axis=2)

    def isolated(self) -> np.ndarray:
        """(L, C): cycles of each layer's fixed version, alone on the chip."""
        v = self.fixed_version
        return np.take_along_axis(self.cycles[:, :, :, 0], v[:, :, None], axis=2)[:, :, 0]

    def best_latency(self) -> float:
        """Cycles of the whole model alone on its fastest core count (the QoS reference)."""
        return float(self.isolated().sum(axis=0).min())

    def to_json(self) -> dict:
        return {"format": PROFILE_FORMAT, "workload": self.workload, "layers": self.layers,
                "ops": self.ops, "cores": self.cores, "levels": self.levels,
                "cycles": self.cycles.tolist(), "dram": self.dram.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> ModelProfile:
        return cls(data["workload"], data["layers"], data["ops"], data["cores"], data["levels"],
                   np.asarray(data["cycles"], dtype=np.float64),
                   np.asarray(data["dram"], dtype=np.float64))


def version_config(config: NpuConfig, version: VersionSpec, contention: float = 1.0
                   ) -> NpuConfig:
    """The config a version is compiled for, with DRAM bandwidth divided by ``contention``."""
    data = config.model_dump()
    data["core"]["fold_group"] = version.fold_group
    for key in ("ifmap_kb", "filter_kb", "ofmap_kb"):
        data["core"]["sram"][key] *= version.sram_scale
    data["dram"]["bandwidth"] = config.dram.bandwidth / contention
    return NpuConfig.model_validate(data)


def profile_model(graph: Graph, config: NpuConfig, versions: Sequence[VersionSpec],
                  levels: Sequence[float], workload: str | None = None) -> ModelProfile:
    """Simulate every layer of ``graph`` at every core count, version and contention level."""
    units = fusion_units(graph)
    cores = config.core_options()
    cycles = np.zeros((len(units), len(cores), len(versions), len(levels)))
    dram = np.zeros((len(units), len(cores), len(versions)))
    for v, version in enumerate(versions):
        base = version_config(config, version)
        slowed = [version_config(config, version, x) for x in levels]
        coster = api.cost_model(base).kernel_coster(graph)
        seen: dict[str, tuple[list[float], float]] = {}
        for li, unit in enumerate(units):
            for ci, c in enumerate(cores):
                key = coster.signature(unit, c)
                if key not in seen:
                    seen[key] = coster.measure(unit, c, slowed)
                times, moved = seen[key]
                cycles[li, ci, v, :] = times
                dram[li, ci, v] = moved
    return ModelProfile(workload or graph.name, [u[0].name for u in units],
                        [[op.name for op in u] for u in units], cores, list(levels), cycles, dram)


def default_cache_dir() -> Path:
    """``$ARCHSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/archsim``, else ``~/.cache/archsim``."""
    if os.environ.get("ARCHSIM_CACHE_DIR"):
        return Path(os.environ["ARCHSIM_CACHE_DIR"])
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "archsim"


#: The modules whose code decides a profile's numbers: a change to any of them (a new lowering
#: rule, a timing fix) must not be hidden by tables cached before it.
_TIMING_MODULES = ("simulator/lower/npu.py", "simulator/lower/implicit_conv.py",
                   "simulator/lower/systolic.py", "simulator/lower/vector_ops.py",
                   "simulator/hw/npu.py", "simulator/hw/vector.py", "simulator/hw/fold.py",
                   "simulator/hw/systolic.py", "simulator/engine/*.py",
                   "simulator/targets/npu.py", "simulator/config/npu.py",
                   "simulator/config/systolic.py", "workloads/ops/*.py",
                   "workloads/onnx_frontend.py", "workloads/onnx_zoo.py")


def _code_digest() -> str:
    return code_digest(tuple(_TIMING_MODULES))


def cache_path(cache_dir: Path, workload: str, config: NpuConfig,
               versions: Sequence[VersionSpec], levels: Sequence[float]) -> Path:
    key = json.dumps({"format": PROFILE_FORMAT, "code": _code_digest(), "workload": workload,
                      "config": config.model_dump(mode="json"),
                      "versions": [v.model_dump() for v in versions],
                      "levels": list(levels)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", workload).strip("_")[:60]
    return cache_dir / "serving" / f"{stem}-{digest}.json"


def load_profile(workload: str, graph_loader, config: NpuConfig,
                 versions: Sequence[VersionSpec], levels: Sequence[float],
                 cache_dir: Path | None) -> tuple[ModelProfile, bool]:
    """The profile of ``workload`` from the cache, or measured (and cached) if absent or
    unreadable; ``graph_loader()`` builds the graph only when needed. Returns (profile, hit)."""
    path = cache_path(cache_dir, workload, config, versions, levels) if cache_dir else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if data.get("format") == PROFILE_FORMAT:
                return ModelProfile.from_json(data), True
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is measured again and overwritten
    profile = profile_model(graph_loader(), config, versions, levels, workload)
    if path is not None:
        atomic_write(path, json.dumps(profile.to_json()))
    return profile, False
