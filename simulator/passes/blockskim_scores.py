"""Block-Skim's block-importance scores, computed from one layer's attention probabilities.

Two scores, both over blocks of ``block`` tokens (Guan et al., AAAI 2022):

- the paper's predictor: a small CNN over the diagonal ``block x block`` regions of every head
  (heads are the channels): conv3x3 -> BatchNorm -> ReLU -> avgpool2, twice, then a linear layer
  to two logits (skim, keep). :func:`cnn_keep_probability` runs its inference on given weights.
- a training-free score that works on any model: the attention mass a block receives, averaged
  over heads and live queries, relative to a uniform share (1.0 = as much as an average block).

Everything is vectorized numpy: one call scores all blocks of a layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import ArchsimError

#: Parameter names of one predictor, as the authors' PyTorch module names them (state_dict keys).
CNN_KEYS = ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
            "bn1.running_var", "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
            "bn2.running_mean", "bn2.running_var", "fc.weight", "fc.bias")


#: The predictor trained on real text for ``minilm-l6-int8`` (``archsim blockskim-study``, Lee
#: background corpus), shipped with the package: ``--pass blockskim:...,weights=packaged``.
PACKAGED_PREDICTOR = Path(__file__).parent / "data" / "blockskim-minilm-l6-int8.npz"


class PredictorError(ArchsimError):
    """Predictor weights that are missing, misshapen or do not fit the attention maps."""


def diagonal_blocks(probs: np.ndarray, block: int) -> np.ndarray:
    """[H, L, L] attention -> [K, H, block, block]: for block k the region where both queries
    and keys fall in block k (the predictor's input images, heads as channels)."""
    h, lq, lk = probs.shape
    if lq != lk or lq % block:
        raise PredictorError(f"attention maps of shape {probs.shape} are not square with a "
                             f"length divisible by the block size {block}")
    k = lq // block
    tiles = probs.reshape(h, k, block, k, block)
    idx = np.arange(k)
    return np.ascontiguousarray(tiles[:, idx, :, idx, :])  # [K, H, b, b]


def block_mass(probs: np.ndarray, block: int, alive: np.ndarray | None = None) -> np.ndarray:
    """Attention mass each block receives from the live queries, averaged over heads and
    queries, times the number of live blocks (1.0 = a uniform share). Dead blocks score 0.

    ``probs`` is [H, L, L]; ``alive`` is a boolean [L] token mask (default: all alive)."""
    h, length, _ = probs.shape
    if length % block:
        raise PredictorError(f"sequence length {length} is not a multiple of block {block}")
    alive = np.ones(length, bool) if alive is None else np.asarray(alive, bool)
    received = probs[:, alive, :].sum(axis=(0, 1))          # [L] keys
    received = received * alive
    per_block = received.reshape(-1, block).sum(axis=1)
    live_blocks = alive.reshape(-1, block).any(axis=1)
    total = per_block.sum()
    if total <= 0:
        return np.zeros_like(per_block)
    return per_block / total * live_blocks.sum()


@dataclass(frozen=True)
class CnnPredictor:
    """One layer's predictor weights (the PyTorch module's parameters, eval-mode BatchNorm)."""

    params: dict[str, np.ndarray]
    eps: float = 1e-5

    @property
    def heads(self) -> int:
        return int(self.params["conv1.weight"].shape[1])

    def check(self, heads: int, block: int) -> None:
        p = self.params
        missing = [k for k in CNN_KEYS if k not in p]
        if missing:
            raise PredictorError(f"predictor weights lack {', '.join(missing)}")
        want = {"conv1.weight": (heads, heads, 3, 3), "conv2.weight": (heads, heads, 3, 3),
                "fc.weight": (2, heads * (block // 4) ** 2), "fc.bias": (2,)}
        for key in CNN_KEYS:
            shape = want.get(key, (heads,))
            if tuple(p[key].shape) != shape:
                raise PredictorError(f"predictor weight {key} has shape {tuple(p[key].shape)}; "
                                     f"expected {shape} for {heads} heads and block {block}")


def random_predictor(heads: int, block: int, seed: int = 0) -> CnnPredictor:
    """Seeded weights of the right shapes (for timing and for tests of the data path)."""
    rng = np.random.default_rng(seed)
    f = heads * (block // 4) ** 2

    def conv() -> np.ndarray:
        return (rng.standard_normal((heads, heads, 3, 3)) / np.sqrt(9 * heads)).astype(np.float32)

    params = {"conv1.weight": conv(), "conv2.weight": conv(),
              "fc.weight": (rng.standard_normal((2, f)) / np.sqrt(f)).astype(np.float32),
              "fc.bias": rng.standard_normal(2).astype(np.float32) * 0.1}
    for i in (1, 2):
        params[f"conv{i}.bias"] = rng.standard_normal(heads).astype(np.float32) * 0.1
        params[f"bn{i}.weight"] = (1 + 0.1 * rng.standard_normal(heads)).astype(np.float32)
        params[f"bn{i}.bias"] = (0.1 * rng.standard_normal(heads)).astype(np.float32)
        params[f"bn{i}.running_mean"] = (0.1 * rng.standard_normal(heads)).astype(np.float32)
        params[f"bn{i}.running_var"] = (1 + 0.1 * rng.random(heads)).astype(np.float32)
    return CnnPredictor(params)


def load_predictors(path: str | Path) -> dict[int, CnnPredictor]:
    """Per-layer predictors from an ``.npz`` whose keys are ``layer<L>.<param>`` (or bare
    ``<param>`` for one predictor shared by every layer, returned under key -1)."""
    try:
        data = np.load(path)
    except (OSError, ValueError) as err:
        raise PredictorError(f"cannot read predictor weights: {err}", where=str(path)) from None
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key in data.files:
        if key.startswith("meta."):
            continue
        head, dot, rest = key.partition(".")
        if head.startswith("layer") and head[5:].isdigit() and dot:
            layers.setdefault(int(head[5:]), {})[rest] = data[key].astype(np.float32)
        else:
            layers.setdefault(-1, {})[key] = data[key].astype(np.float32)
    if not layers:
        raise PredictorError("no predictor weights in the file", where=str(path))
    return {layer: CnnPredictor(params) for layer, params in layers.items()}


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, C, H, W] * [O, C, 3, 3], stride 1, zero padding 1 (im2col through a strided view)."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N,C,H,W,3,3
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def _bn_relu_pool(x: np.ndarray, p: dict[str, np.ndarray], name: str, eps: float) -> np.ndarray:
    scale = p[f"{name}.weight"] / np.sqrt(p[f"{name}.running_var"] + eps)
    shift = p[f"{name}.bias"] - p[f"{name}.running_mean"] * scale
    x = np.maximum(x * scale[None, :, None, None] + shift[None, :, None, None], 0)
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def cnn_logits(images: np.ndarray, predictor: CnnPredictor) -> np.ndarray:
    """The predictor's forward pass on [K, H, b, b] diagonal blocks -> [K, 2] (skim, keep)."""
    p = {k: v.astype(np.float64) for k, v in predictor.params.items()}
    x = images.astype(np.float64)
    x = _bn_relu_pool(_conv3x3(x, p["conv1.weight"], p["conv1.bias"]), p, "bn1", predictor.eps)
    x = _bn_relu_pool(_conv3x3(x, p["conv2.weight"], p["conv2.bias"]), p, "bn2", predictor.eps)
    return x.reshape(x.shape[0], -1) @ p["fc.weight"].T + p["fc.bias"]


def cnn_keep_probability(probs: np.ndarray, block: int, predictor: CnnPredictor) -> np.ndarray:
    """P(keep) per block: softmax over the two logits of the predictor on [H, L, L] maps."""
    predictor.check(probs.shape[0], block)
    logits = cnn_logits(diagonal_blocks(probs, block), predictor)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z[:, 1] / z.sum(axis=1)


_LOADED: dict[str, dict[int, CnnPredictor]] = {}


def predictor_weights(spec: str) -> dict[int, CnnPredictor]:
    """Predictors from a file, or ``packaged`` for :data:`PACKAGED_PREDICTOR` (cached)."""
    path = str(PACKAGED_PREDICTOR) if spec == "packaged" else spec
    if path not in _LOADED:
        _LOADED[path] = load_predictors(path)
    return _LOADED[path]


def predictor_meta(path: str | Path) -> dict[str, object]:
    """The ``meta.*`` facts an ``.npz`` written by the study carries (model, data, epochs)."""
    with np.load(path) as data:
        return {k[5:]: data[k].item() for k in data.files if k.startswith("meta.")}
