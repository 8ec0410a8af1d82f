"""The attention study's k-means (simulator.scenarios.attention.kmeans) against scipy's
kmeans2 as the independent reference: same partition, same inertia, on seeded blobs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simulator.scenarios.attention import AttentionError, kmeans, standardize


def scipy_kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 10) -> np.ndarray:
    """Best of ``n_init`` seeded kmeans2 (k-means++) runs by inertia, on z-scored features."""
    from scipy.cluster.vq import kmeans2

    z = standardize(x)
    rng = np.random.default_rng(seed)
    best = (np.inf, None)
    for _ in range(n_init):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # an empty cluster in a bad restart
            centers, labels = kmeans2(z, k, iter=100, minit="++", seed=rng)
        inertia = ((z - centers[labels]) ** 2).sum()
        if inertia < best[0] - 1e-12:
            best = (inertia, labels)
    return best[1]


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)}


def inertia(x: np.ndarray, labels: np.ndarray) -> float:
    z = standardize(x)
    return float(sum(((z[labels == c] - z[labels == c].mean(0)) ** 2).sum()
                     for c in np.unique(labels)))


@pytest.mark.parametrize(("k", "seed"), [(3, 0), (4, 1), (5, 2), (6, 3)])
def test_kmeans_partitions_like_scipy(k, seed):
    """72 'heads' with 9 features around k well-separated centres plus noise."""
    rng = np.random.default_rng(100 + seed)
    centres = rng.normal(0, 4, (k, 9))
    x = centres[rng.integers(k, size=72)] + rng.normal(0, 1, (72, 9))
    labels, centers = kmeans(x, k, seed)
    reference = scipy_kmeans(x, k, seed)
    assert partition(labels) == partition(reference)
    assert inertia(x, labels) == pytest.approx(inertia(x, reference), rel=1e-12)
    # labels are numbered by first appearance and the centers are the clusters' means
    assert labels[0] == 0 and list(dict.fromkeys(labels.tolist())) == list(range(k))
    z = standardize(x)
    assert np.allclose(centers, [z[labels == c].mean(0) for c in range(k)])


def test_kmeans_refuses_more_clusters_than_heads():
    with pytest.raises(AttentionError, match="3 heads"):
        kmeans(np.zeros((3, 2)), 4)
