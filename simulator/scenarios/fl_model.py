"""The FedAvg model: a numpy softmax classifier with optional ReLU hidden layers, trained by
minibatch SGD on cross-entropy, and the sample-weighted parameter average of FedAvg."""

from __future__ import annotations

import numpy as np

Params = list[np.ndarray]  # [W0, b0, W1, b1, ...]; W has shape (in, out)


def layer_sizes(features: int, hidden: list[int], classes: int) -> list[int]:
    return [features, *hidden, classes]


def init_params(sizes: list[int], rng: np.random.Generator) -> Params:
    """He-normal weights, zero biases."""
    params: Params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    return params


def param_count(sizes: list[int]) -> int:
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def training_macs(sizes: list[int], samples: int) -> int:
    """MACs of forward + backward over ``samples`` samples: forward and weight gradient for every
    layer, input gradient for all but the first."""
    per = sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))
    return samples * (2 * per + sum(i * o for i, o in zip(sizes[1:-1], sizes[2:], strict=True)))


def forward(params: Params, x: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer; the last entry is the logits."""
    acts = [x]
    for k in range(0, len(params), 2):
        z = acts[-1] @ params[k] + params[k + 1]
        acts.append(z if k == len(params) - 2 else np.maximum(z, 0.0))
    return acts


def predict(params: Params, x: np.ndarray) -> np.ndarray:
    return forward(params, x)[-1].argmax(axis=1)


def accuracy(params: Params, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(params, x) == y).mean())


def sgd_step(params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> None:
    """One step of mean cross-entropy gradient descent, in place."""
    acts = forward(params, x)
    logits = acts[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    grad = p / len(y)
    for k in range(len(params) - 2, -1, -2):
        gw = acts[k // 2].T @ grad
        gb = grad.sum(axis=0)
        if k:
            grad = (grad @ params[k].T) * (acts[k // 2] > 0)
        params[k] -= lr * gw
        params[k + 1] -= lr * gb


def local_train(params: Params, x: np.ndarray, y: np.ndarray, epochs: int, batch: int,
                lr: float, rng: np.random.Generator) -> Params:
    """A client's update: ``epochs`` passes of shuffled minibatch SGD from the global model."""
    local = [p.copy() for p in params]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            ix = order[start:start + batch]
            sgd_step(local, x[ix], y[ix], lr)
    return local


def fedavg(updates: list[Params], weights: np.ndarray) -> Params:
    """Average of client models weighted by their sample counts."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return [sum(wk * u[j] for wk, u in zip(w, updates, strict=True))
            for j in range(len(updates[0]))]
