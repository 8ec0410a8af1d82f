"""Client selection policies: random (plain FedAvg), a greedy oracle that sees every client's
label histogram, and Dubhe (arXiv 2109.04253): encrypted registration, server-computed
participation probabilities, client-side coin flips, and H tries of which the most uniform
encrypted aggregate wins. Skewness is the L1 distance of the selected clients' combined label
distribution from uniform (0 = balanced, up to 2 - 2/C for a single class)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.scenarios.fl_he import (
    EncryptedVector,
    HeLedger,
    KeyHolder,
    Packing,
    aggregate,
    encrypt_vector,
)


def skewness(counts: np.ndarray) -> float:
    """L1 distance between the normalised ``counts`` and the uniform distribution."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return float(2.0 - 2.0 / len(counts))
    return float(np.abs(counts / total - 1.0 / len(counts)).sum())


@dataclass
class Try:
    """One Dubhe try: the tentatively selected clients and the skewness of their decrypted sum."""

    clients: list[int]
    skewness: float


@dataclass
class Selection:
    clients: list[int]
    tries: list[Try] = field(default_factory=list)


def select_random(n: int, k: int, rng: np.random.Generator) -> Selection:
    return Selection(sorted(int(i) for i in rng.choice(n, size=k, replace=False)))


def select_oracle(histograms: np.ndarray, k: int, rng: np.random.Generator) -> Selection:
    """Greedy with full knowledge: start from a random client, then add, one at a time, the
    client that brings the combined distribution closest to uniform (ties broken at random).
    The random start keeps the oracle from training on the same k clients every round."""
    hist = np.asarray(histograms, dtype=np.float64)
    n, c = hist.shape
    order = rng.permutation(n)          # candidate order: ties go to the earliest
    hist = hist[order]
    chosen = [0]
    total = hist[0].copy()
    free = np.ones(n, dtype=bool)
    free[0] = False
    for _ in range(k - 1):
        cand = total + hist
        share = cand / np.maximum(cand.sum(axis=1, keepdims=True), 1e-300)
        dist = np.abs(share - 1.0 / c).sum(axis=1)
        dist[~free] = np.inf
        best = int(np.argmin(dist))
        chosen.append(best)
        free[best] = False
        total += hist[best]
    return Selection(sorted(int(order[i]) for i in chosen))


def registry_vector(histogram: np.ndarray, mode: str, threshold: float) -> np.ndarray:
    """What a client registers: its dominant class (one-hot), or every class with at least
    ``threshold`` of its data (its dominant class if none reaches it)."""
    hist = np.asarray(histogram)
    out = np.zeros(len(hist), dtype=np.int64)
    if mode == "threshold":
        share = hist / max(hist.sum(), 1)
        out[share >= threshold] = 1
    if not out.any():
        out[int(np.argmax(hist))] = 1
    return out


class DubheClient:
    """A client: keeps its histogram to itself, sends only ciphertexts, flips its own coin."""

    def __init__(self, cid: int, histogram: np.ndarray, registry: np.ndarray) -> None:
        self.cid = cid
        self._histogram = np.asarray(histogram, dtype=np.int64)
        self._registry = np.asarray(registry, dtype=np.int64)
        self._encrypted_histogram: EncryptedVector | None = None

    def register(self, public_key, packings: dict[str, Packing],
                 ledger: HeLedger) -> EncryptedVector:
        """Encrypt the registry (sent now) and the histogram (sent when tentatively chosen)."""
        self._encrypted_histogram = encrypt_vector(public_key, packings["histogram"], self.cid,
                                                   "histogram", self._histogram, ledger)
        return encrypt_vector(public_key, packings["registry"], self.cid, "registry",
                              self._registry, ledger)

    def volunteers(self, class_probability: np.ndarray, rng: np.random.Generator) -> bool:
        """Participate with the mean probability of the classes this client registered."""
        p = float(class_probability[self._registry > 0].mean())
        return bool(rng.random() < p)

    def encrypted_histogram(self) -> EncryptedVector:
        if self._encrypted_histogram is None:
            raise RuntimeError("client has not registered")
        return self._encrypted_histogram


class DubheServer:
    """The server: public key, the key holder's ``decrypt_sum``, and identities; no plaintext
    client data ever reaches it."""

    def __init__(self, public_key, decrypt_sum, k: int, tries: int, min_aggregate: int,
                 ledger: HeLedger) -> None:
        self.public_key = public_key
        self._decrypt_sum = decrypt_sum
        self.k = k
        self.tries = tries
        self.min_aggregate = min_aggregate
        self.ledger = ledger
        self.registry_total: np.ndarray | None = None
        self.class_probability: np.ndarray | None = None

    def register(self, registrations: list[EncryptedVector]) -> None:
        """Sum the encrypted registries, learn only the total per class, and set each class's
        participation probability so every registered class expects k/C' volunteers."""
        total = self._decrypt_sum(aggregate(registrations, self.min_aggregate, self.ledger))
        active = max(int((total > 0).sum()), 1)
        self.registry_total = total
        self.class_probability = np.minimum(
            1.0, self.k / (active * np.maximum(total, 1))).astype(np.float64)

    def select(self, clients: list[DubheClient], rng: np.random.Generator,
               coin_rngs: list[list[np.random.Generator]]) -> Selection:
        """H tries: clients volunteer by their own coins; the server trims the volunteers to k at
        random (or tops them up with random others), sums their encrypted histograms, has the
        key holder decrypt the sum, and keeps the most uniform try."""
        assert self.class_probability is not None, "register() first"
        n = len(clients)
        tries: list[Try] = []
        for h in range(self.tries):
            vol = [c.cid for c in clients if c.volunteers(self.class_probability,
                                                          coin_rngs[h][c.cid])]
            if len(vol) > self.k:
                chosen = sorted(int(i) for i in rng.choice(vol, size=self.k, replace=False))
            else:
                rest = np.setdiff1d(np.arange(n), vol)
                extra = rng.choice(rest, size=self.k - len(vol), replace=False)
                chosen = sorted([*vol, *(int(i) for i in extra)])
            agg = aggregate([clients[i].encrypted_histogram() for i in chosen],
                            self.min_aggregate, self.ledger)
            tries.append(Try(chosen, skewness(self._decrypt_sum(agg))))
        best = min(range(len(tries)), key=lambda i: tries[i].skewness)
        return Selection(tries[best].clients, tries)


def make_dubhe(histograms: np.ndarray, k: int, tries: int, min_aggregate: int, registry: str,
               threshold: float, key_bits: int, ledger: HeLedger
               ) -> tuple[DubheServer, list[DubheClient], dict[str, Packing]]:
    """Key holder, clients and server, with packings sized for the largest possible sums."""
    hist = np.asarray(histograms, dtype=np.int64)
    n, c = hist.shape
    packings = {"registry": Packing.for_bound(c, n, key_bits),
                "histogram": Packing.for_bound(c, int(hist.sum()), key_bits)}
    holder = KeyHolder(key_bits, packings, min_aggregate, ledger)
    clients = [DubheClient(i, hist[i], registry_vector(hist[i], registry, threshold))
               for i in range(n)]
    server = DubheServer(holder.public_key, holder.decrypt_sum, k, tries, min_aggregate, ledger)
    return server, clients, packings
