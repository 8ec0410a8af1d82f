"""SQuant accuracy on trained models and real data: fp32 vs RTN vs SQuant, weight-only.

**Digits CNN** (default):

Trains (numpy, Adam, a few seconds) conv3x3(1->16) - ReLU - conv3x3/2(16->32) - ReLU -
conv3x3/2(32->32) - ReLU - Flatten - Gemm(512->10) on 8x8 digits (70/30 split, stratified),
exports it to ONNX, quantizes every weight with ``quantize_model`` at W8/W6/W4/W3 (and W2) in
modes rtn / squant-k / squant-c / squant, and runs each model in onnxruntime on the test split.
Several training seeds are averaged because one 540-image test split is noisy at low bits.

**MiniLM sentence embeddings on the Lee corpus** (``--minilm``): the real trained
paraphrase-MiniLM-L3-v2 (fp32, the ``minilm`` extra) with every Gemm/MatMul weight (the
``quantize_model`` set: 18 tensors; the embedding tables and LayerNorm stay fp32) replaced by
``squant(values, bits, mode, axis).w_hat``; the 50 evaluation documents of the Lee corpus
embedded (mean pooling), and Pearson / Spearman of the 1,225 pairwise cosine similarities
against the human ratings. Nothing is trained, so nothing can overlap the evaluation data.

Reproducible to the digit: BLAS and onnxruntime run single-threaded (set below, before numpy
loads), every seed is fixed, and the versions used are printed with the table. Needs
scikit-learn (``pip install -e '.[accuracy]'``); not part of the test suite.
Usage: ``python bench/squant_accuracy.py [--seeds 5] [--epochs 40] [--markdown]``,
``python bench/squant_accuracy.py --minilm [--lee DIR] [--markdown]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"          # one BLAS thread: the same sums in the same order every run

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from simulator.passes.squant_onnx import quantize_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [(1, 16, 1), (16, 32, 2), (32, 32, 2)]  # (in, out, stride), 3x3, pad 1
BITS = [8, 6, 4, 3, 2]
MODES = ["rtn", "squant-k", "squant-c", "squant"]


def im2col_index(c: int, h: int, w: int, stride: int) -> tuple[np.ndarray, int, int]:
    """Gather indices into a zero-padded [c, h+2, w+2] image for 3x3/pad 1 patches."""
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    ci, ky, kx = np.meshgrid(np.arange(c), np.arange(3), np.arange(3), indexing="ij")
    oy, ox = np.meshgrid(np.arange(oh) * stride, np.arange(ow) * stride, indexing="ij")
    rows = oy.reshape(-1, 1) + ky.reshape(1, -1)
    cols = ox.reshape(-1, 1) + kx.reshape(1, -1)
    chans = np.broadcast_to(ci.reshape(1, -1), rows.shape)
    flat = (chans * (h + 2) + rows) * (w + 2) + cols
    return flat, oh, ow


class Net:
    """The CNN with im2col convolutions and hand-written backprop."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.params: dict[str, np.ndarray] = {}
        h = 8
        self.geo = []
        for i, (cin, cout, stride) in enumerate(LAYERS):
            self.params[f"conv{i}.W"] = (rng.normal(0, np.sqrt(2 / (cin * 9)), (cout, cin, 3, 3))
                                         .astype(np.float32))
            self.params[f"conv{i}.b"] = np.zeros(cout, np.float32)
            idx, oh, ow = im2col_index(cin, h, h, stride)
            self.geo.append((cin, h, idx, oh))
            h = oh
        self.flat = LAYERS[-1][1] * h * h
        self.params["fc.W"] = rng.normal(0, np.sqrt(1 / self.flat), (10, self.flat)) \
            .astype(np.float32)
        self.params["fc.b"] = np.zeros(10, np.float32)

    def forward(self, x: np.ndarray):
        cache = []
        for i, (_, _, idx, oh) in enumerate(self.geo):
            n = x.shape[0]
            padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(n, -1)
            col = padded[:, idx]                                   # [n, P, cin*9]
            w = self.params[f"conv{i}.W"].reshape(len(self.params[f"conv{i}.b"]), -1)
            y = col @ w.T + self.params[f"conv{i}.b"]              # [n, P, cout]
            cache.append((x.shape, col, y))
            x = np.maximum(y, 0).transpose(0, 2, 1).reshape(n, -1, oh, oh)
        flat = x.reshape(x.shape[0], -1)
        logits = flat @ self.params["fc.W"].T + self.params["fc.b"]
        return logits, (cache, flat)

    def grads(self, x: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        logits, (cache, flat) = self.forward(x)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1
        d = p / len(labels)
        g = {"fc.W": d.T @ flat, "fc.b": d.sum(0)}
        dx = (d @ self.params["fc.W"]).reshape(x.shape[0], -1)
        for i in reversed(range(len(self.geo))):
            cin, h, idx, oh = self.geo[i]
            xshape, col, y = cache[i]
            n = xshape[0]
            dy = dx.reshape(n, -1, oh * oh).transpose(0, 2, 1) * (y > 0)   # [n, P, cout]
            g[f"conv{i}.W"] = np.einsum("npo,npk->ok", dy, col).reshape(
                self.params[f"conv{i}.W"].shape)
            g[f"conv{i}.b"] = dy.sum((0, 1))
            if i:
                w = self.params[f"conv{i}.W"].reshape(dy.shape[2], -1)
                dcol = dy @ w                                              # [n, P, cin*9]
                dpad = np.zeros((n, cin * (h + 2) * (h + 2)), np.float32)
                for b in range(n):
                    np.add.at(dpad[b], idx.reshape(-1), dcol[b].reshape(-1))
                dx = dpad.reshape(n, cin, h + 2, h + 2)[:, :, 1:-1, 1:-1]
        return g


def train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> Net:
    rng = np.random.default_rng(seed)
    net = Net(rng)
    m = {k: np.zeros_like(v) for k, v in net.params.items()}
    v = {k: np.zeros_like(p) for k, p in net.params.items()}
    step, lr = 0, 2e-3
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            g = net.grads(x[batch], y[batch])
            step += 1
            for k, p in net.params.items():
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                mh, vh = m[k] / (1 - 0.9 ** step), v[k] / (1 - 0.999 ** step)
                p -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
    return net


def to_onnx(net: Net) -> onnx.ModelProto:
    nodes, prev = [], "input"
    for i, (_, _, stride) in enumerate(LAYERS):
        nodes.append(helper.make_node("Conv", [prev, f"conv{i}.W", f"conv{i}.b"], [f"c{i}"],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[stride, stride], name=f"conv{i}"))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev = f"r{i}"
    nodes.append(helper.make_node("Flatten", [prev], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.W", "fc.b"], ["logits"], transB=1,
                                  name="fc"))
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(p, k) for k, p in net.params.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def top1(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    return float((sess.run(None, {"input": x})[0].argmax(1) == y).mean() * 100)


def versions() -> str:
    import sklearn

    return (f"python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
            f"{ort.__version__}, onnx {onnx.__version__}, scikit-learn {sklearn.__version__}; "
            "one BLAS and one onnxruntime thread")


def print_table(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        print("  ".join(f"{h:>15}" for h in head))
        for r in rows:
            print("  ".join(f"{c:>15}" for c in r))


MINILM_BITS = [8, 6, 4, 3]
MINILM_MODES = ["rtn", "squant"]


def minilm(lee: Path, markdown: bool) -> int:
    """Lee-corpus correlations of MiniLM-L3 with SQuant / RTN weights (see the module doc)."""
    from simulator.passes.squant import squant
    from simulator.passes.squant_onnx import weight_axes
    from simulator.scenarios.sentence_eval import (
        Encoder,
        correlations,
        pair_similarities,
        tokenize,
    )
    from workloads.onnx_packaged import packaged_model_path
    from workloads.wordpiece import read_documents, read_similarities

    model = onnx.load(str(packaged_model_path("minilm-l3")))
    docs = tokenize(read_documents(lee / "lee.cor"))
    human = read_similarities(lee / "similarities0-1.txt", len(docs))
    axes = weight_axes(model)

    def score(m) -> tuple[float, float]:
        enc = Encoder(m)
        return correlations(pair_similarities(np.array([enc.embed(d) for d in docs])), human)

    fp = score(model)
    cells: dict[tuple, tuple[float, float]] = {}
    for bits in MINILM_BITS:
        for mode in MINILM_MODES:
            q = onnx.ModelProto()
            q.CopyFrom(model)
            for init in q.graph.initializer:
                if init.name in axes:
                    w = numpy_helper.to_array(init)
                    w_hat = squant(w, bits, mode, axes[init.name]).w_hat.astype(np.float32)
                    init.CopyFrom(numpy_helper.from_array(w_hat, init.name))
            cells[(bits, mode)] = score(q)
            print(f"W{bits} {mode}: Pearson {cells[(bits, mode)][0]:.4f}, Spearman "
                  f"{cells[(bits, mode)][1]:.4f}", file=sys.stderr)
    head = ["weights", *(f"{m} Spearman" for m in MINILM_MODES),
            *(f"{m} Pearson" for m in MINILM_MODES)]
    rows = [["fp32", *[f"{fp[1]:.4f}"] * len(MINILM_MODES), *[f"{fp[0]:.4f}"] * len(MINILM_MODES)]]
    rows += [[f"W{b}", *(f"{cells[(b, m)][1]:.4f}" for m in MINILM_MODES),
              *(f"{cells[(b, m)][0]:.4f}" for m in MINILM_MODES)] for b in MINILM_BITS]
    print_table(head, rows, markdown)
    print(f"paraphrase-MiniLM-L3-v2, {len(axes)} weight tensors quantized per output channel; "
          f"Lee corpus, {len(docs)} documents, {len(human)} pairs; {versions()}",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--minilm", action="store_true",
                        help="MiniLM-L3 on the Lee corpus instead of the digits CNN")
    parser.add_argument("--lee", type=Path, default=ROOT / "tests" / "data" / "lee",
                        help="folder with lee.cor and similarities0-1.txt")
    args = parser.parse_args(argv)
    if args.minilm:
        return minilm(args.lee, args.markdown)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.3, random_state=0,
                                              stratify=digits.target)
    acc: dict[tuple, list[float]] = {}
    for seed in range(args.seeds):
        model = to_onnx(train(x_tr, y_tr, seed, args.epochs))
        acc.setdefault(("fp32",), []).append(top1(model, x_te, y_te))
        for bits in BITS:
            for mode in MODES:
                qdq, _ = quantize_model(model, bits, mode)
                acc.setdefault((bits, mode), []).append(top1(qdq, x_te, y_te))
        print(f"seed {seed}: fp32 {acc[('fp32',)][-1]:.2f}, W4 rtn {acc[(4, 'rtn')][-1]:.2f}, "
              f"W4 squant {acc[(4, 'squant')][-1]:.2f}", file=sys.stderr)
    fp = np.mean(acc[("fp32",)])
    head = ["weights", "fp32", *MODES]
    rows = [[f"W{b}", f"{fp:.2f}", *(f"{np.mean(acc[(b, m)]):.2f} ± {np.std(acc[(b, m)]):.2f}"
                                      for m in MODES)] for b in BITS]
    print_table(head, rows, args.markdown)
    print(f"{args.seeds} seeds (0..{args.seeds - 1}), {args.epochs} epochs, {len(y_te)} test "
          f"images; top-1 % mean ± std; {versions()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
