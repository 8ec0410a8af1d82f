"""The federated-selection scenario spec (``archsim federated SPEC.yaml``): pydantic models and
YAML loading with ``file:line`` errors, so a typo in a spec is reported like one in a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.config.base import FieldsError, Strict, parse_model
from simulator.config.yamlfile import read_yaml, set_dotted

POLICIES = ("random", "oracle", "dubhe")


class DataSpec(Strict):
    """Clients over scikit-learn's digits, each with a label mix drawn from Dirichlet(alpha) and
    ``samples_per_client`` samples (default: the training set shared out evenly). ``class_skew``
    > 0 makes the population itself skewed: class c dominates clients in proportion to
    (c+1)^-class_skew, while the test set stays balanced."""

    dataset: Literal["digits"] = "digits"
    clients: int = Field(60, ge=2)
    alpha: float = Field(0.1, gt=0)
    test_fraction: float = Field(0.25, gt=0, lt=1)
    samples_per_client: int | None = Field(None, ge=1)
    class_skew: float = Field(0.0, ge=0)   # Zipf exponent of how many clients each class dominates


class TrainingSpec(Strict):
    """FedAvg: ``rounds`` rounds, ``clients_per_round`` (K) clients each, local minibatch SGD.
    ``hidden: []`` is multinomial logistic regression; ``[32]`` a one-hidden-layer ReLU MLP."""

    rounds: int = Field(40, ge=1)
    clients_per_round: int = Field(10, ge=2)
    local_epochs: int = Field(2, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    hidden: list[int] = Field(default_factory=lambda: [32])


class DubheSpec(Strict):
    """Dubhe's selection. ``registry``: ``dominant`` registers the client's largest class,
    ``threshold`` every class holding at least ``threshold`` of its data. ``tries`` (H) candidate
    selections per round, the most uniform one wins. The key holder decrypts only sums of at
    least ``min_aggregate`` distinct clients. ``overlap``: a round's tries (which need no model)
    run while the previous round trains."""

    registry: Literal["dominant", "threshold"] = "dominant"
    threshold: float = Field(0.3, gt=0, le=1)
    tries: int = Field(5, ge=1)
    min_aggregate: int = Field(2, ge=2)
    overlap: bool = True


class HeSpec(Strict):
    """Paillier (``phe``) key length and the cost charged per operation on the timeline:
    ``measured`` (default) times the real ``phe`` operations this run performs (the mean per
    operation; varies with the machine and its load), ``configured`` uses the ``*_us`` figures
    (reproducible timelines). The report gives the overhead both ways whichever drives it."""

    key_bits: int = Field(1024, ge=128)
    timing: Literal["configured", "measured"] = "measured"
    encrypt_us: float = Field(11200.0, ge=0)
    add_us: float = Field(9.0, ge=0)
    decrypt_us: float = Field(3400.0, ge=0)


class DeviceSpec(Strict):
    """A client device class: ``gflops`` sustained, or ``target``: an archsim hardware config
    whose simulated cycles time each local training step. ``weight``: share of the clients."""

    name: str = "device"
    gflops: float | None = Field(None, gt=0)
    target: str | None = None
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> DeviceSpec:
        if (self.gflops is None) == (self.target is None):
            raise FieldsError("give exactly one of gflops or target", "gflops", "target")
        return self


class SystemSpec(Strict):
    """Links per client (Mbit/s drawn uniformly in ``[low, high]``, seeded), one-way latency,
    the key holder's link, and the server's FedAvg cost per parameter per client."""

    devices: list[DeviceSpec] = Field(default_factory=lambda: [DeviceSpec(gflops=2.0)],
                                      min_length=1)
    uplink_mbps: tuple[float, float] = (2.0, 10.0)
    downlink_mbps: tuple[float, float] = (10.0, 50.0)
    latency_ms: float = Field(20.0, ge=0)
    keyholder_mbps: float = Field(20.0, gt=0)
    server_ns_per_param: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> SystemSpec:
        for name in ("uplink_mbps", "downlink_mbps"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise FieldsError(f"{name} must be [low, high] with 0 < low <= high, got "
                                  f"[{low:g}, {high:g}]", name)
        return self


class FederatedSpec(Strict):
    name: str = "federated"
    seed: int = 0
    policies: list[Literal["random", "oracle", "dubhe"]] = Field(
        default_factory=lambda: list(POLICIES), min_length=1)
    data: DataSpec = Field(default_factory=DataSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    dubhe: DubheSpec = Field(default_factory=DubheSpec)
    he: HeSpec = Field(default_factory=HeSpec)
    system: SystemSpec = Field(default_factory=SystemSpec)

    @model_validator(mode="after")
    def _fits(self) -> FederatedSpec:
        if self.training.clients_per_round > self.data.clients:
            raise FieldsError(f"training.clients_per_round ({self.training.clients_per_round}) "
                              f"exceeds data.clients ({self.data.clients})",
                              "training.clients_per_round", "data.clients")
        if self.dubhe.min_aggregate > self.training.clients_per_round:
            raise FieldsError(f"dubhe.min_aggregate ({self.dubhe.min_aggregate}) must not "
                              "exceed training.clients_per_round "
                              f"({self.training.clients_per_round})",
                              "dubhe.min_aggregate", "training.clients_per_round")
        return self


def parse_federated_spec(data: Any, source: str = "<spec>", lines: dict | None = None,
                         base_dir: Path | None = None) -> FederatedSpec:
    """Validate plain data; a device ``target`` path is resolved against ``base_dir``."""
    spec = parse_model(FederatedSpec, data if data is not None else {}, source, lines or {})
    if base_dir is not None:
        for dev in spec.system.devices:
            if dev.target and not Path(dev.target).is_absolute():
                local = base_dir / dev.target
                if local.exists():
                    dev.target = str(local)
    return spec  # type: ignore[return-value]


def load_federated_spec(path: str | Path,
                        overrides: dict[str, Any] | None = None) -> FederatedSpec:
    """Read a spec file, applying dotted ``--set`` overrides before validation."""
    path = Path(path)
    data, lines = read_yaml(path, "scenario spec")
    data = data if data is not None else {}
    for dotted, value in (overrides or {}).items():
        if isinstance(data, dict):
            set_dotted(data, dotted, value, lines)
    spec = parse_federated_spec(data, str(path), lines, path.parent)
    from simulator.scenarios.serving_spec import check_target

    for i, dev in enumerate(spec.system.devices):
        if dev.target:
            check_target(dev.target, ("system", "devices", i, "target"), str(path), lines)
    return spec
