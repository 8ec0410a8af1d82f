"""Federated learning client selection with homomorphic encryption (``archsim federated``).

Dubhe (Zhang et al., arXiv 2109.04253) against random selection and a greedy oracle: clients
with Dirichlet(alpha) non-IID shards of scikit-learn's digits train a numpy model with FedAvg,
K clients a round. Dubhe's registration and tries run the real Paillier protocol (``phe``); the
engine times each round (client compute, links, HE operations) so the report shows accuracy,
the skewness of what was selected, and the price of privacy in time and bytes.

Every policy sees the same data split, initial model, devices, links and minibatch orders; only
the choice of clients differs. Selection, accuracy and skewness are deterministic for a seed
(Paillier's randomness changes the ciphertexts, never the decrypted sums).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from simulator.scenarios.fl_data import make_federated_data
from simulator.scenarios.fl_he import HeLedger, ciphertext_bytes
from simulator.scenarios.fl_model import (
    accuracy,
    fedavg,
    init_params,
    layer_sizes,
    local_train,
    param_count,
)
from simulator.scenarios.fl_select import (
    Selection,
    make_dubhe,
    select_oracle,
    select_random,
    skewness,
)
from simulator.scenarios.fl_spec import FederatedSpec
from simulator.scenarios.fl_timing import (
    HeCosts,
    Network,
    RoundPlan,
    client_compute_us,
    mbps_to_bytes_per_us,
    simulate_rounds,
)

FLOAT_BYTES = 4  # model parameters travel as float32


@dataclass
class PolicyResult:
    policy: str
    accuracy: list[float]            # test accuracy after each round's aggregation
    skewness: list[float]            # of the round's selected clients' combined labels
    round_time_s: list[float]
    total_time_s: float
    overhead_time_s: float           # total minus the same rounds without the HE protocol
    he_time_s: float                 # encrypt + add + decrypt time charged, all parties
    he_bytes: int                    # ciphertext bytes on the wire
    he_ops: dict[str, int] = field(default_factory=dict)
    he_measured_us: dict[str, float] = field(default_factory=dict)
    selected: list[list[int]] = field(default_factory=list)
    #: privacy overhead and HE time (s) with both HE cost sources: ``measured`` (this run's own
    #: ``phe`` calls) and ``configured`` (the spec's ``he.*_us``), whichever drove the timeline
    overhead_by_timing: dict[str, float] = field(default_factory=dict)
    he_time_by_timing: dict[str, float] = field(default_factory=dict)

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1]

    @property
    def tail_accuracy(self) -> float:
        """Mean over the last fifth of the rounds: less noisy than the last round alone."""
        tail = max(1, len(self.accuracy) // 5)
        return float(np.mean(self.accuracy[-tail:]))

    @property
    def mean_skewness(self) -> float:
        return float(np.mean(self.skewness))

    def summary(self) -> dict:
        return {"final_accuracy": self.final_accuracy, "tail_accuracy": self.tail_accuracy,
                "mean_skewness": self.mean_skewness, "he_time_s": self.he_time_s,
                "he_bytes": self.he_bytes, "total_time_s": self.total_time_s,
                "overhead_time_s": self.overhead_time_s,
                "overhead_by_timing": self.overhead_by_timing,
                "he_time_by_timing": self.he_time_by_timing,
                "overhead_fraction": self.overhead_time_s / (self.total_time_s
                                                             - self.overhead_time_s)
                if self.total_time_s > self.overhead_time_s else 0.0}


@dataclass
class FederatedReport:
    name: str
    seed: int
    clients: int
    alpha: float
    rounds: int
    clients_per_round: int
    key_bits: int
    he_timing: str
    population_skewness: float      # of all clients' data together
    policies: dict[str, PolicyResult]

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "policies"}
        out["policies"] = {name: {**r.summary(), **asdict(r)}
                           for name, r in self.policies.items()}
        return out


def run_federated(spec: FederatedSpec) -> FederatedReport:
    """Run every policy of ``spec`` and time it on the engine."""
    d, t, s = spec.data, spec.training, spec.system
    data = make_federated_data(d.clients, d.alpha, d.test_fraction, d.samples_per_client,
                               spec.seed, d.class_skew)
    hist = data.histograms
    n, k = d.clients, t.clients_per_round
    sizes = layer_sizes(data.x_train.shape[1], list(t.hidden), data.classes)
    init = init_params(sizes, np.random.default_rng([spec.seed, 2]))
    samples = np.array([len(ix) for ix in data.client_index])

    dev_rng = np.random.default_rng([spec.seed, 6])
    weights = np.array([dev.weight for dev in s.devices])
    device_of = dev_rng.choice(len(s.devices), size=n, p=weights / weights.sum())
    cache: dict = {}
    compute_us = np.array([client_compute_us(int(samples[i]), sizes, t.local_epochs,
                                             t.batch_size, s.devices[device_of[i]].gflops,
                                             s.devices[device_of[i]].target, cache)
                           for i in range(n)])
    link_rng = np.random.default_rng([spec.seed, 7])
    net = Network(mbps_to_bytes_per_us(link_rng.uniform(*s.uplink_mbps, size=n)),
                  mbps_to_bytes_per_us(link_rng.uniform(*s.downlink_mbps, size=n)),
                  int(round(s.latency_ms * 1e3)), mbps_to_bytes_per_us(s.keyholder_mbps))
    model_bytes = param_count(sizes) * FLOAT_BYTES
    server_agg_us = s.server_ns_per_param * param_count(sizes) * k / 1e3

    results = {}
    for policy in spec.policies:
        ledger = HeLedger()
        dubhe = None
        if policy == "dubhe":
            server, clients, packings = make_dubhe(
                hist, k, spec.dubhe.tries, spec.dubhe.min_aggregate, spec.dubhe.registry,
                spec.dubhe.threshold, spec.he.key_bits, ledger)
            server.register([c.register(server.public_key, packings, ledger) for c in clients])
            dubhe = (server, clients, packings)
        params = [p.copy() for p in init]
        accs, skews, plans = [], [], []
        for r in range(t.rounds):
            sel = _select(policy, r, spec, hist, dubhe)
            updates = [local_train(params, data.x_train[data.client_index[c]],
                                   data.y_train[data.client_index[c]], t.local_epochs,
                                   t.batch_size, t.learning_rate,
                                   np.random.default_rng([spec.seed, 1, r, c]))
                       for c in sel.clients]
            params = fedavg(updates, samples[sel.clients])
            accs.append(accuracy(params, data.x_test, data.y_test))
            skews.append(skewness(hist[sel.clients].sum(axis=0)))
            plans.append(RoundPlan(sel.clients, [tr.clients for tr in sel.tries]))
        costs: dict[str, HeCosts] = {}
        if dubhe is not None:
            server, _, packings = dubhe
            costs = {timing: _he_costs(spec, ledger, ciphertext_bytes(server.public_key),
                                       packings["registry"].ciphertexts,
                                       packings["histogram"].ciphertexts, timing)
                     for timing in ("measured", "configured")}
        timelines = {timing: simulate_rounds(plans, compute_us, net, model_bytes, server_agg_us,
                                             data.classes, he, spec.dubhe.overlap)
                     for timing, he in costs.items()}
        tl = timelines.get(spec.he.timing) or simulate_rounds(
            plans, compute_us, net, model_bytes, server_agg_us, data.classes, None,
            spec.dubhe.overlap)
        plain = tl if not costs else simulate_rounds(
            [RoundPlan(p.chosen) for p in plans], compute_us, net, model_bytes, server_agg_us,
            data.classes, None)
        ends = [tl.registration_us, *tl.round_end]
        results[policy] = PolicyResult(
            policy, accs, skews, [(b - a) / 1e6 for a, b in zip(ends[:-1], ends[1:], strict=True)],
            tl.total_us / 1e6, (tl.total_us - plain.total_us) / 1e6, tl.he_ops_us / 1e6,
            tl.he_bytes,
            {"encrypt": ledger.encrypt, "add": ledger.add, "decrypt": ledger.decrypt},
            {op: ledger.mean_us(op) for op in ("encrypt", "add", "decrypt")}
            if dubhe is not None else {},
            [p.chosen for p in plans],
            {t: (x.total_us - plain.total_us) / 1e6 for t, x in timelines.items()},
            {t: x.he_ops_us / 1e6 for t, x in timelines.items()})
    return FederatedReport(spec.name, spec.seed, n, d.alpha, t.rounds, k, spec.he.key_bits,
                           spec.he.timing, skewness(hist.sum(axis=0)), results)


def _select(policy: str, r: int, spec: FederatedSpec, hist: np.ndarray, dubhe) -> Selection:
    n, k = hist.shape[0], spec.training.clients_per_round
    if policy == "random":
        return select_random(n, k, np.random.default_rng([spec.seed, 3, r]))
    if policy == "oracle":
        return select_oracle(hist, k, np.random.default_rng([spec.seed, 8, r]))
    server, clients, _ = dubhe
    coins = [[np.random.default_rng([spec.seed, 5, r, h, c]) for c in range(n)]
             for h in range(spec.dubhe.tries)]
    return server.select(clients, np.random.default_rng([spec.seed, 4, r]), coins)


def _he_costs(spec: FederatedSpec, ledger: HeLedger, ct_bytes: int, reg_cts: int,
              hist_cts: int, timing: str) -> HeCosts:
    if timing == "measured":
        enc, add, dec = (ledger.mean_us(op) for op in ("encrypt", "add", "decrypt"))
    else:
        enc, add, dec = spec.he.encrypt_us, spec.he.add_us, spec.he.decrypt_us
    return HeCosts(enc, add, dec, ct_bytes, reg_cts, hist_cts)
