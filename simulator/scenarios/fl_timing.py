"""Per-round timing of federated learning on the SimPy engine, one tick = 1 microsecond.

Every client is a unit (its local training, encryption and uploads run in order on it) with its own
uplink and downlink channels; a transfer occupies the sender's unit, so downloads run on a per-
client ``down{i}`` unit. The server runs FedAvg on ``server`` and homomorphic additions on
``server_he``, the key holder decrypts on ``keyholder`` and has its own link. Dubhe's tries run
concurrently and contend for the same clients and links; the engine resolves the overlap. Client
compute time comes from a device's sustained GFLOP/s, or from an archsim target simulating the
training step's GEMMs cycle by cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.engine import Channel, Engine, Task
from simulator.scenarios.fl_model import training_macs


@dataclass(frozen=True)
class HeCosts:
    """Microseconds per Paillier operation and bytes per ciphertext; ``*_cts`` ciphertexts per
    packed registry / histogram vector."""

    encrypt_us: float
    add_us: float
    decrypt_us: float
    ciphertext_bytes: int
    registry_cts: int
    histogram_cts: int


@dataclass(frozen=True)
class Network:
    up: np.ndarray          # bytes per microsecond, per client
    down: np.ndarray
    latency_us: int
    keyholder: float        # bytes per microsecond, both ways


@dataclass
class RoundPlan:
    chosen: list[int]
    tries: list[list[int]] = field(default_factory=list)  # Dubhe's tentative selections


@dataclass
class Timeline:
    registration_us: int
    round_end: list[int]
    he_bytes: int
    he_ops_us: float        # encrypt + add + decrypt time charged, summed over parties

    @property
    def total_us(self) -> int:
        return self.round_end[-1] if self.round_end else self.registration_us


def mbps_to_bytes_per_us(mbps: float) -> float:
    return mbps / 8.0


def device_step_us(sizes: list[int], batch: int, target: str, cache: dict) -> float:
    """One SGD step of ``batch`` samples on an archsim target: forward, weight-gradient and
    input-gradient GEMMs of every layer, each simulated; microseconds at the target's clock."""
    key = (target, tuple(sizes), batch)
    if key not in cache:
        from simulator import api
        from simulator.api import load_config

        config = load_config(target)
        gemms = []
        for layer, (i, o) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            gemms += [(batch, o, i), (i, o, batch)]
            if layer:
                gemms.append((batch, i, o))
        total = 0.0
        for m, n, k in gemms:
            total += api.run(config, f"gemm:{m},{n},{k}")[1].time_us
        cache[key] = total
    return cache[key]


def client_compute_us(samples: int, sizes: list[int], epochs: int, batch: int,
                      gflops: float | None, target: str | None, cache: dict) -> int:
    """Local training time of one client on its device."""
    if gflops is not None:
        return int(round(2 * training_macs(sizes, samples * epochs) / (gflops * 1e3)))
    full, tail = divmod(samples, batch)
    step = full * device_step_us(sizes, batch, target, cache)
    if tail:
        step += device_step_us(sizes, tail, target, cache)
    return int(round(epochs * step))


def simulate_rounds(plans: list[RoundPlan], compute_us: np.ndarray, net: Network,
                    model_bytes: int, server_agg_us: float, classes: int,
                    he: HeCosts | None, overlap: bool = False) -> Timeline:
    """Build every round's tasks (registration first when ``he`` is given) and run the engine.
    ``overlap`` starts a round's tries (which need no model) while the previous round trains."""
    n = len(compute_us)
    tasks: list[Task] = []

    def add(unit: str, cycles: float = 0, channel: str | None = None, nbytes: int = 0,
            deps: list[int] | tuple[int, ...] = ()) -> int:
        tasks.append(Task(unit, int(round(cycles)), channel, int(nbytes), tuple(deps)))
        return len(tasks) - 1

    he_bytes = 0
    he_us = 0.0
    plain = classes * 8  # a vector of float64 probabilities or counts, in the clear

    def keyholder_round_trip(after: int, cts: int) -> int:
        nonlocal he_bytes, he_us
        assert he is not None
        send = add("kh_down", 0, "kh_down", cts * he.ciphertext_bytes, [after])
        dec = add("keyholder", he.decrypt_us * cts, deps=[send])
        he_bytes += cts * he.ciphertext_bytes
        he_us += he.decrypt_us * cts
        return add("kh_up", 0, "kh_up", plain, [dec])

    barrier = None
    registration_end = 0
    reg_marker = None
    if he is not None:
        uploads = []
        for i in range(n):
            enc = add(f"client{i}", he.encrypt_us * (he.registry_cts + he.histogram_cts))
            uploads.append(add(f"client{i}", 0, f"up{i}", he.registry_cts * he.ciphertext_bytes,
                               [enc]))
        he_us += n * he.encrypt_us * (he.registry_cts + he.histogram_cts)
        he_bytes += n * he.registry_cts * he.ciphertext_bytes
        total = add("server_he", he.add_us * (n - 1) * he.registry_cts, deps=uploads)
        he_us += he.add_us * (n - 1) * he.registry_cts
        back = keyholder_round_trip(total, he.registry_cts)
        bcast = [add(f"down{i}", 0, f"down{i}", plain, [back]) for i in range(n)]
        barrier = reg_marker = add("server", 0, deps=bcast)

    def selection(plan: RoundPlan, after: int | None) -> int | None:
        """Dubhe's tries for one round, all started once ``after`` is done; returns the task
        that ends them (None when the round has no tries)."""
        nonlocal he_bytes, he_us
        if not plan.tries:
            return None
        assert he is not None
        deps = [] if after is None else [after]
        returns = []
        for group in plan.tries:
            ups = [add(f"client{c}", 0, f"up{c}", he.histogram_cts * he.ciphertext_bytes, deps)
                   for c in group]
            he_bytes += len(group) * he.histogram_cts * he.ciphertext_bytes
            summed = add("server_he", he.add_us * (len(group) - 1) * he.histogram_cts,
                         deps=ups)
            he_us += he.add_us * (len(group) - 1) * he.histogram_cts
            returns.append(keyholder_round_trip(summed, he.histogram_cts))
        return add("server_he", 0, deps=returns)

    # Task creation order is each unit's queue order. With ``overlap`` the next round's tries
    # are created before this round's training, so they run while the chosen clients train.
    sel_of = [None] * len(plans)
    ends = []
    if plans:
        sel_of[0] = selection(plans[0], barrier)
    for r, plan in enumerate(plans):
        if overlap and r + 1 < len(plans):
            sel_of[r + 1] = selection(plans[r + 1], sel_of[r] if sel_of[r] is not None
                                      else barrier)
        elif r + 1 < len(plans):
            sel_of[r + 1] = -1  # created after this round ends
        gate = [t for t in (barrier, sel_of[r]) if t is not None]
        done = []
        for c in plan.chosen:
            down = add(f"down{c}", 0, f"down{c}", model_bytes, gate)
            work = add(f"client{c}", compute_us[c], deps=[down])
            done.append(add(f"client{c}", 0, f"up{c}", model_bytes, [work]))
        barrier = add("server", server_agg_us, deps=done)
        ends.append(barrier)
        if r + 1 < len(plans) and sel_of[r + 1] == -1:
            sel_of[r + 1] = selection(plans[r + 1], barrier)

    channels = [Channel("kh_down", net.keyholder, net.latency_us),
                Channel("kh_up", net.keyholder, net.latency_us)]
    for i in range(n):
        channels += [Channel(f"up{i}", float(net.up[i]), net.latency_us),
                     Channel(f"down{i}", float(net.down[i]), net.latency_us)]
    stats = Engine(channels).run(tasks)
    if reg_marker is not None:
        registration_end = stats.end[reg_marker]
    return Timeline(registration_end, [stats.end[i] for i in ends], he_bytes, he_us)
