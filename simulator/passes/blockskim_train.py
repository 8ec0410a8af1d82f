"""Training Block-Skim's CNN predictor in numpy (seeded, deterministic).

The network is the paper's (Guan et al., AAAI 2022) and :class:`CnnPredictor`'s: over the diagonal
``block x block`` attention regions of every head (heads are the channels), conv3x3 ->
BatchNorm -> ReLU -> avgpool2, twice, then a linear layer to two logits (skim, keep). It is
trained here with minibatch Adam on a class-balanced cross-entropy, BatchNorm in training mode
(batch statistics, running averages with momentum 0.1 as PyTorch keeps them, unbiased running
variance), so the weights it returns are eval-mode weights the pass, :func:`cnn_logits` and
onnxruntime all run the same way.

Everything is float32 numpy with im2col convolutions; a given seed, data and thread count give
the same weights on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.passes.blockskim_scores import CnnPredictor, PredictorError

EPS = 1e-5
MOMENTUM = 0.1


def _im2col(x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [N*H*W, C*9] patches of a 3x3, stride 1, zero-padding 1 convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))   # N,C,H,W,3,3
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * h * w, c * 9)


def _col2im(cols: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """The adjoint of :func:`_im2col`: [N*H*W, C*9] gradients back onto [N, C, H, W]."""
    n, c, h, w = shape
    g = cols.reshape(n, h, w, c, 3, 3)
    out = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            out[:, :, i:i + h, j:j + w] += g[..., i, j].transpose(0, 3, 1, 2)
    return out[:, :, 1:-1, 1:-1]


@dataclass
class _Stage:
    """What one conv + BN + ReLU + pool stage keeps for its backward pass."""

    shape: tuple[int, int, int, int]
    cols: np.ndarray
    xhat: np.ndarray
    inv_std: np.ndarray
    y: np.ndarray


def _stage_forward(x: np.ndarray, p: dict[str, np.ndarray], i: int, train: bool
                   ) -> tuple[np.ndarray, _Stage | None]:
    n, c, h, w = x.shape
    wgt = p[f"conv{i}.weight"]
    cols = _im2col(x)
    conv = (cols @ wgt.reshape(wgt.shape[0], -1).T + p[f"conv{i}.bias"])   # [N*H*W, O]
    if train:
        mean, var = conv.mean(0), conv.var(0)
        m = conv.shape[0]
        p[f"bn{i}.running_mean"] = ((1 - MOMENTUM) * p[f"bn{i}.running_mean"]
                                    + MOMENTUM * mean).astype(x.dtype)
        p[f"bn{i}.running_var"] = ((1 - MOMENTUM) * p[f"bn{i}.running_var"]
                                   + MOMENTUM * var * m / max(m - 1, 1)).astype(x.dtype)
    else:
        mean, var = p[f"bn{i}.running_mean"], p[f"bn{i}.running_var"]
    inv_std = (1.0 / np.sqrt(var + EPS)).astype(x.dtype)
    xhat = (conv - mean) * inv_std
    y = xhat * p[f"bn{i}.weight"] + p[f"bn{i}.bias"]
    r = np.maximum(y, 0).reshape(n, h, w, -1).transpose(0, 3, 1, 2)
    pooled = r.reshape(n, r.shape[1], h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return pooled.astype(x.dtype), (_Stage(x.shape, cols, xhat, inv_std, y) if train
                                       else None)


def _stage_backward(dpool: np.ndarray, st: _Stage, p: dict[str, np.ndarray], i: int,
                    grads: dict[str, np.ndarray], need_input: bool) -> np.ndarray | None:
    n, c, h, w = st.shape
    o = dpool.shape[1]
    dr = np.repeat(np.repeat(dpool, 2, axis=2), 2, axis=3) / 4           # [N, O, H, W]
    dy = dr.transpose(0, 2, 3, 1).reshape(-1, o) * (st.y > 0)
    grads[f"bn{i}.weight"] = (dy * st.xhat).sum(0)
    grads[f"bn{i}.bias"] = dy.sum(0)
    dxhat = dy * p[f"bn{i}.weight"]
    m = dy.shape[0]
    dconv = st.inv_std / m * (m * dxhat - dxhat.sum(0) - st.xhat * (dxhat * st.xhat).sum(0))
    wgt = p[f"conv{i}.weight"]
    grads[f"conv{i}.weight"] = (dconv.T @ st.cols).reshape(wgt.shape)
    grads[f"conv{i}.bias"] = dconv.sum(0)
    if not need_input:
        return None
    return _col2im(dconv @ wgt.reshape(o, -1), st.shape)


def init_params(heads: int, block: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation (Kaiming-uniform conv/linear, unit BN, zero stats)."""
    feat = heads * (block // 4) ** 2

    def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    p: dict[str, np.ndarray] = {}
    for i in (1, 2):
        p[f"conv{i}.weight"] = uniform((heads, heads, 3, 3), heads * 9)
        p[f"conv{i}.bias"] = uniform((heads,), heads * 9)
        p[f"bn{i}.weight"] = np.ones(heads, np.float32)
        p[f"bn{i}.bias"] = np.zeros(heads, np.float32)
        p[f"bn{i}.running_mean"] = np.zeros(heads, np.float32)
        p[f"bn{i}.running_var"] = np.ones(heads, np.float32)
    p["fc.weight"] = uniform((2, feat), feat)
    p["fc.bias"] = uniform((2,), feat)
    return p


TRAINABLE = ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "conv2.weight",
             "conv2.bias", "bn2.weight", "bn2.bias", "fc.weight", "fc.bias")


def forward(x: np.ndarray, p: dict[str, np.ndarray], train: bool = False):
    """Logits [N, 2] (and the stages kept for backward when ``train``)."""
    h1, s1 = _stage_forward(x, p, 1, train)
    h2, s2 = _stage_forward(h1, p, 2, train)
    feat = h2.reshape(len(x), -1)
    return feat @ p["fc.weight"].T + p["fc.bias"], (s1, s2, feat)


def loss_and_grads(x: np.ndarray, labels: np.ndarray, class_weight: np.ndarray,
                   p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """Class-weighted mean cross-entropy of a minibatch and its gradients (BN in train mode)."""
    logits, (s1, s2, feat) = forward(x, p, train=True)
    z = logits - logits.max(1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    wts = class_weight[labels]
    norm = wts.sum()
    loss = float(-(wts * np.log(prob[np.arange(len(x)), labels] + 1e-12)).sum() / norm)
    dz = prob.copy()
    dz[np.arange(len(x)), labels] -= 1
    dz = (dz * wts[:, None] / norm).astype(x.dtype)
    grads = {"fc.weight": dz.T @ feat, "fc.bias": dz.sum(0)}
    dh2 = (dz @ p["fc.weight"]).reshape(len(x), -1, s2.shape[2] // 2, s2.shape[3] // 2)
    dh1 = _stage_backward(dh2, s2, p, 2, grads, need_input=True)
    _stage_backward(dh1, s1, p, 1, grads, need_input=False)
    return loss, grads


@dataclass
class TrainReport:
    epochs: int
    samples: int
    keep_fraction: float      # of the labels
    final_loss: float
    train_accuracy: float     # eval-mode, on the training set


def train_predictor(images: np.ndarray, labels: np.ndarray, epochs: int = 20, seed: int = 0,
                    batch: int = 64, lr: float = 2e-3) -> tuple[CnnPredictor, TrainReport]:
    """Train one predictor on [N, H, b, b] diagonal blocks with labels 1 = keep, 0 = skim."""
    images = np.ascontiguousarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    if images.ndim != 4 or images.shape[2] != images.shape[3] or len(images) != len(labels):
        raise PredictorError(f"training images of shape {images.shape} with {len(labels)} labels "
                             "are not [N, heads, block, block] with one label each")
    n, heads, block, _ = images.shape
    rng = np.random.default_rng(seed)
    p = init_params(heads, block, rng)
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    class_weight = np.where(counts > 0, n / (2 * np.maximum(counts, 1)), 0.0).astype(np.float32)
    m = {k: np.zeros_like(p[k]) for k in TRAINABLE}
    v = {k: np.zeros_like(p[k]) for k in TRAINABLE}
    step, loss = 0, float("nan")
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            if len(idx) < 2:
                continue
            loss, g = loss_and_grads(images[idx], labels[idx], class_weight, p)
            step += 1
            for k in TRAINABLE:
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k]
                mh, vh = m[k] / (1 - 0.9 ** step), v[k] / (1 - 0.999 ** step)
                p[k] = (p[k] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
    pred = CnnPredictor({k: v.astype(np.float32) for k, v in p.items()}, eps=EPS)
    logits, _ = forward(images, pred.params, train=False)
    acc = float((logits.argmax(1) == labels).mean()) if n else 0.0
    return pred, TrainReport(epochs, n, float(labels.mean()) if n else 0.0, loss, acc)
