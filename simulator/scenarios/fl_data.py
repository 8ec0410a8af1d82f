"""Federated data: scikit-learn's digits (shipped inside the wheel, no download), a seeded
stratified test split, and a non-IID split of the training set over clients by a client-wise
Dirichlet(alpha): each client's label mix is drawn from Dir(alpha); small alpha gives clients
dominated by one or two classes. (The per-class split of Hsu et al. 2019 leaves many clients
empty at alpha = 0.1 with 1,347 samples, so it cannot give the strong skew Dubhe targets.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.errors import ArchsimError


class FederatedError(ArchsimError):
    """A federated scenario that cannot run as specified (missing extra, impossible split)."""


@dataclass(frozen=True)
class FederatedData:
    x_train: np.ndarray           # (n, features) float64 in [0, 1]
    y_train: np.ndarray           # (n,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    client_index: list[np.ndarray]  # per client, indices into the training set
    classes: int

    @property
    def histograms(self) -> np.ndarray:
        """(clients, classes) int64 label counts: what a client registers."""
        return np.stack([np.bincount(self.y_train[ix], minlength=self.classes)
                         for ix in self.client_index])


def load_digits_xy() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digit images, scaled to [0, 1]. Read straight from the CSV that
    scikit-learn ships (what ``sklearn.datasets.load_digits`` reads) without importing sklearn,
    which would cost seconds of scipy imports for a 500 KB table."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FederatedError("the federated scenario needs scikit-learn for the digits data set; "
                             "install it with: pip install 'archsim[federated]'")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.exists():
        table = np.loadtxt(path, delimiter=",")
        x, y = table[:, :-1], table[:, -1]
    else:  # a future layout: fall back to the public loader
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.data, digits.target
    return x.astype(np.float64) / 16.0, y.astype(np.int64)


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices with each class split in the same proportion."""
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(len(idx) * test_fraction))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def class_prior(classes: int, class_skew: float) -> np.ndarray:
    """Zipf(``class_skew``) weights over classes (class 0 most common); 0 gives uniform."""
    w = np.arange(1, classes + 1, dtype=np.float64) ** -class_skew
    return w / w.sum()


def dirichlet_partition(y: np.ndarray, clients: int, alpha: float, per_client: int,
                        rng: np.random.Generator, class_skew: float = 0.0) -> list[np.ndarray]:
    """Client-wise Dirichlet split: client k draws its label mix q_k ~ Dir(alpha * C * prior),
    prior = :func:`class_prior` (uniform unless ``class_skew`` > 0, which makes some classes
    dominate many clients and others few: a skewed population, Dubhe's setting), and then
    ``per_client`` samples without replacement, class by class as q_k says; a class that runs out
    is replaced by the client's next classes in proportion to q_k. Every client gets the same
    amount of data, and alpha controls the skew down to one class per client."""
    classes = int(y.max()) + 1
    concentration = alpha * classes * class_prior(classes, class_skew)
    if clients * per_client > len(y):
        raise FederatedError(f"{clients} clients x {per_client} samples each exceeds the "
                             f"{len(y)} training samples; lower data.clients or "
                             "data.samples_per_client")
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in range(classes)]
    left = np.array([len(p) for p in pools], dtype=np.int64)
    out = []
    for _ in range(clients):
        q = rng.dirichlet(concentration)
        want = rng.multinomial(per_client, q)
        take = np.minimum(want, left)
        while take.sum() < per_client:  # some class ran out: re-draw the deficit elsewhere
            room = left - take
            weights = np.where(room > 0, q + 1e-12, 0.0)
            extra = rng.multinomial(per_client - take.sum(), weights / weights.sum())
            take += np.minimum(extra, room)
        mine = []
        for c in np.flatnonzero(take):
            mine.extend(pools[c][:take[c]])
            del pools[c][:take[c]]
        left -= take
        out.append(np.sort(np.asarray(mine, dtype=np.int64)))
    return out


def make_federated_data(clients: int, alpha: float, test_fraction: float,
                        per_client: int | None, seed: int,
                        class_skew: float = 0.0) -> FederatedData:
    """Digits split into a test set and ``clients`` non-IID shards, all from ``seed``;
    ``per_client`` None shares the whole training set out evenly."""
    x, y = load_digits_xy()
    rng = np.random.default_rng([seed, 0x0DA7A])
    train, test = stratified_split(y, test_fraction, rng)
    per_client = len(train) // clients if per_client is None else per_client
    if per_client < 1:
        raise FederatedError(f"{clients} clients leave no data for each of them; the training "
                             f"set has {len(train)} samples")
    parts = dirichlet_partition(y[train], clients, alpha, per_client, rng, class_skew)
    return FederatedData(x[train], y[train], x[test], y[test], parts, int(y.max()) + 1)
