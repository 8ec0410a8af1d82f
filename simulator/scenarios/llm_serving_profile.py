"""Per-iteration costs of an LLM on one accelerator, from archsim's own simulated prefill and decode
steps (the ``llm:`` workload of docs/llm.md), for the LLM serving study.

**What is simulated.** A one-layer model (``layers=1``: embedding, decoder layer 0, final norm and
lm_head) at every grid point: decode steps at each (batch ``B``, context ``c``) of the batch and
context grids and prefills of one prompt at each length ``s`` of the prompt grid, each through
:func:`simulator.api.run` on the study's config. Every op's cycles (the per-layer rows of the
result, which add up to the total) go to one of four parts:

- ``lin``: ops of layer 0 that act on each token alone (norms, Q/K/V/output projections, RoPE,
  MLP, residuals): they depend only on the number of tokens in the step;
- ``attn``: layer 0's attention core (``scores*``, ``scale``, ``mask``, ``softmax``, ``probs*``,
  ``pv*``): it depends on each sequence's query tokens and context;
- ``in``: ops before the layers (the embedding lookup; in prefill, the last-position gather);
- ``out``: the final norm and lm_head, on one row per sequence that emits a token.

Decoder layers are identical and the npu runs kernels back to back, so an ``L``-layer step takes
``in + L * (lin + attn) + out`` cycles: exactly the full model's simulated time on the npu (tested
against the ``L``-layer simulation); on the systolic target layers may overlap a little at their
boundaries, so there it is the sum of the layers' own cycles.

**An iteration of a serving policy** (decodes of ``B`` sequences with contexts ``c_i``, and
prompt pieces of ``q_j`` tokens after ``k_j`` tokens already cached; ``n`` rows emit a token):

- decodes only: ``in_d(B) + L * (lin_d(B) + attn_d(B, mean c)) + out(B)``, where
  ``attn_d(B, mean c)`` stands for the batch's attention: its cost is linear in each context
  (measured: 0.07 % off linear between contexts 1,024 and 4,096 on Mistral-7B), so ``B``
  sequences at their mean context read the same KV bytes and do the same work;
- with prompt tokens (prefill, a static batch's padded prefill, or a chunked-prefill iteration
  mixing decodes and prompt chunks), ``N = B + sum q_j`` tokens:
  ``in_p(N) + L * (lin_p(N) + attn_d(B, mean c) + sum_j q_j * a(k_j + q_j)) + out(n)``, where
  ``a(s) = attn_p(s) / s`` is a prefill's attention per query row at context ``s``: a chunk's
  ``q`` rows attend over ``k + q`` keys. ``lin_p``/``in_p`` come from the prefill runs (their
  K/V go to the cache as a prefill writes them), ``lin_d``/``in_d`` from the decode runs.

**Interpolation.** Between grid points every table is piecewise linear: ``lin``, ``in`` and
``out`` in the token or row count; ``attn_d`` bilinearly in (``B``, ``c``); the prefill's
attention per query row ``a(s)`` in ``s`` (attention is quadratic in ``s``, ``a`` about linear).
Beyond the last grid point the last segment is extended (a static batch's padded prefill of
``b`` prompts has ``b * s`` tokens, beyond the prompt grid: the projections are compute-bound
there, linear in tokens). A single prompt on the grid, or a decode step at a grid point, is
exactly the simulated step.

Tables are cached on disk as JSON, keyed by the model, the config, the grid and a digest of the
code that times them (the workload builder, catalogue, lowerings, hardware models, engine,
targets, configs and this module), as the multi-tenant profiles are.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import api
from simulator.errors import WorkloadError
from simulator.files import atomic_write
from simulator.scenarios.code_digest import code_digest

#: Bump when the profiling method changes, so stale cache files are not reused.
PROFILE_FORMAT = 1

#: layer 0's attention core: the ops whose cost depends on the context, not only on tokens
_ATTN_CORE = re.compile(r"^attn\.L0\.(scores|scale|mask|softmax|probs|pv)")
_OUT = re.compile(r"^(other\.output_norm|lm_head)")
#: the options of ``llm:`` a serving tenant may set; the study sets the others per step
_USER_OPTIONS = ("layers", "routing")


@dataclass(frozen=True)
class ServedModel:
    """The served model: ``base`` is the ``llm:`` workload without step options (``routing``
    kept), ``layers`` the decoder layers served, ``params`` its parameter count."""

    workload: str
    base: str
    name: str
    layers: int
    params: int
    kv_heads: int
    head_dim: int

    def kv_bytes_per_token(self, word_bytes: int) -> int:
        """K and V of one token in every layer: layers x 2 x kv_heads x head_dim x word."""
        return self.layers * 2 * self.kv_heads * self.head_dim * word_bytes

    def weight_bytes(self, word_bytes: int) -> int:
        """Every parameter at the config's word size (what must stay resident)."""
        return self.params * word_bytes


def served_model(workload: str) -> ServedModel:
    """Parse a tenant's ``llm:MODEL[?layers=L&routing=R]``; a step option is a located error."""
    from workloads.llm.spec import parse_spec

    if not workload.startswith("llm:"):
        raise WorkloadError("an LLM serving tenant is an llm:MODEL workload", where=workload)
    _, _, query = workload.partition("?")
    keep = []
    for item in filter(None, query.split("&")):
        key = item.partition("=")[0]
        if key not in _USER_OPTIONS:
            raise WorkloadError(f"option {key!r}: the serving study sets phase, seq, ctx and "
                                "batch itself; a tenant may give only layers= or routing=",
                                where=workload)
        if key == "routing":
            keep.append(item)
    spec = parse_spec(workload)
    model = spec.model
    if model.experts:
        raise WorkloadError(f"{model.name} is a mixture of experts: its layers route tokens "
                            "differently, so one profiled layer does not stand for all; the "
                            "serving study takes dense models", where=workload)
    name = workload.removeprefix("llm:").partition("?")[0]
    base = f"llm:{name}" + (f"?{'&'.join(keep)}" if keep else "")
    full = model.layers
    layers = spec.layers or full
    per_layer = (model.params() - _outside_params(model)) // full
    params = _outside_params(model) + layers * per_layer
    return ServedModel(workload, base, model.name, layers, params, model.kv_heads, model.hd)


def _outside_params(model) -> int:
    """Parameters outside the decoder layers: token table, lm_head (if untied), final norm."""
    return model.vocab * model.hidden * (1 if model.tied_embeddings else 2) + model.hidden


def _step(base: str, **options: int | str) -> str:
    sep = "&" if "?" in base else "?"
    return base + sep + "&".join(f"{k}={v}" for k, v in options.items())


def split_result(result) -> dict[str, float]:
    """A one-layer step's cycles by part (``in``, ``lin``, ``attn``, ``out``; see the module
    doc). They add up to the step's total."""
    parts = {"in": 0.0, "lin": 0.0, "attn": 0.0, "out": 0.0}
    for layer in result.layers:
        name = layer.name
        if ".L0." in name:
            parts["attn" if _ATTN_CORE.match(name) else "lin"] += layer.cycles
        elif _OUT.match(name):
            parts["out"] += layer.cycles
        else:
            parts["in"] += layer.cycles
    if not parts["attn"] or not parts["lin"] or not parts["out"]:
        raise RuntimeError(f"llm step {result.workload}: op names no longer show the layer, "
                           "attention and lm_head groups this profile splits by")
    return parts


@dataclass
class LlmProfile:
    """The simulated one-layer steps (cycles) on the grids; see the module doc."""

    workload: str
    layers: int
    clock_ghz: float
    batch: list[int]
    context: list[int]
    prompt: list[int]
    dec_lin: np.ndarray    # (B,)
    dec_in: np.ndarray     # (B,)
    dec_out: np.ndarray    # (B,)
    dec_attn: np.ndarray   # (B, C)
    pre_lin: np.ndarray    # (S,)
    pre_in: np.ndarray     # (S,)
    pre_out: np.ndarray    # (S,)
    pre_attn: np.ndarray   # (S,)

    _ARRAYS = ("dec_lin", "dec_in", "dec_out", "dec_attn", "pre_lin", "pre_in", "pre_out",
               "pre_attn")

    def to_json(self) -> dict:
        out = {"format": PROFILE_FORMAT, "workload": self.workload, "layers": self.layers,
               "clock_ghz": self.clock_ghz, "batch": self.batch, "context": self.context,
               "prompt": self.prompt}
        out.update({k: getattr(self, k).tolist() for k in self._ARRAYS})
        return out

    @classmethod
    def from_json(cls, data: dict) -> LlmProfile:
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in cls._ARRAYS}
        return cls(data["workload"], data["layers"], data["clock_ghz"], data["batch"],
                   data["context"], data["prompt"], **arrays)


def default_grid(max_batch: int, max_model_len: int) -> tuple[list[int], list[int], list[int]]:
    """Batch sizes and prompt lengths: powers of two up to the maximum (included); decode
    contexts every factor of 4 from 16 (attention is linear in the context)."""
    def powers(top: int, start: int, factor: int) -> list[int]:
        out, v = [], start
        while v < top:
            out.append(v)
            v *= factor
        return out + [top]

    return (powers(max_batch, 1, 2), powers(max_model_len, 16, 4),
            powers(max_model_len, 1, 2))


def _measure(args: tuple) -> dict[str, float]:
    config, workload = args
    _, result = api.run(config, workload)
    return split_result(result)


def profile_llm(model: ServedModel, config, batch: Sequence[int], context: Sequence[int],
                prompt: Sequence[int], progress: Callable[[str], None] | None = None,
                jobs: int = 1) -> LlmProfile:
    """Simulate the one-layer decode and prefill steps on the grids (on ``jobs`` processes)."""
    batch, context, prompt = sorted(set(batch)), sorted(set(context)), sorted(set(prompt))
    steps = [_step(model.base, phase="decode", ctx=c, batch=b, layers=1)
             for b in batch for c in context]
    steps += [_step(model.base, phase="prefill", seq=s, batch=1, layers=1) for s in prompt]
    if progress:
        progress(f"profiling {model.workload}: {len(steps)} one-layer steps "
                 f"(decode batch {batch[0]}-{batch[-1]} x context {context[0]}-{context[-1]}, "
                 f"prefill {prompt[0]}-{prompt[-1]} tokens) on {max(1, jobs)} process(es)")
    args = [(config, w) for w in steps]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(_measure, args))
    else:
        parts = [_measure(a) for a in args]
    nb, nc = len(batch), len(context)
    dec = parts[:nb * nc]
    pre = parts[nb * nc:]

    def table(rows: list[dict], key: str) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=np.float64)

    first_ctx = dec[::nc]          # the token-wise parts do not depend on the context
    return LlmProfile(model.workload, model.layers, config.clock_ghz, batch, context, prompt,
                      table(first_ctx, "lin"), table(first_ctx, "in"), table(first_ctx, "out"),
                      table(dec, "attn").reshape(nb, nc), table(pre, "lin"), table(pre, "in"),
                      table(pre, "out"), table(pre, "attn"))


#: The code that decides a profile's numbers: a change to any of it must not be hidden by
#: tables cached before it.
_TIMING_MODULES = ("workloads/llm/*.py", "workloads/ops/*.py", "workloads/graph.py",
                   "simulator/lower/*.py", "simulator/hw/*.py", "simulator/engine/*.py",
                   "simulator/targets/*.py", "simulator/config/*.py", "simulator/passes/*.py",
                   "simulator/trace/*.py", "simulator/pipeline.py",
                   "simulator/scenarios/llm_serving_profile.py")


def timing_digest() -> str:
    return code_digest(tuple(_TIMING_MODULES))


def cache_path(cache_dir: Path, model: ServedModel, config, grid: tuple) -> Path:
    key = json.dumps({"format": PROFILE_FORMAT, "code": timing_digest(), "model": model.base,
                      "layers": model.layers, "config": config.model_dump(mode="json"),
                      "grid": [list(g) for g in grid]}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.base).strip("_")[:60]
    return cache_dir / "llm-serving" / f"{stem}-{digest}.json"


def load_llm_profile(model: ServedModel, config, grid: tuple, cache_dir: Path | None,
                     progress: Callable[[str], None] | None = None, jobs: int = 1
                     ) -> tuple[LlmProfile, bool]:
    """The profile from the cache, or simulated (and cached) if absent or unreadable.
    Returns (profile, hit)."""
    path = cache_path(cache_dir, model, config, grid) if cache_dir else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if data.get("format") == PROFILE_FORMAT:
                prof = LlmProfile.from_json(data)
                prof.layers = model.layers
                return prof, True
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is simulated again and overwritten
    prof = profile_llm(model, config, *grid, progress=progress, jobs=jobs)
    if path is not None:
        atomic_write(path, json.dumps(prof.to_json()))
    return prof, False


# ----------------------------------------------------------------------------- interpolation

def interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise linear through (xs, ys) (xs increasing), the end segments extended."""
    n = len(xs)
    if n == 1:
        return float(ys[0])
    i = min(max(bisect_right(xs, x) - 1, 0), n - 2)
    x0, x1 = xs[i], xs[i + 1]
    return float(ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0))


class IterationCost:
    """Cycles of one serving iteration from a profile (the formulas of the module doc), with the
    per-batch-size tables precomputed up to ``max_batch`` and token tables up to
    ``max_tokens``."""

    def __init__(self, profile: LlmProfile, max_batch: int, max_tokens: int) -> None:
        p = profile
        self.profile = p
        self.layers = p.layers
        b = [float(v) for v in p.batch]
        ctx = [float(v) for v in p.context]
        self._ctx = ctx
        # decode tables per integer batch size
        self._dec_fixed = [0.0]
        self._dec_attn: list[list[float]] = [[0.0] * len(ctx)]
        for n in range(1, max_batch + 1):
            self._dec_fixed.append(interp(n, b, p.dec_in) + self.layers * interp(n, b, p.dec_lin)
                                   + interp(n, b, p.dec_out))
            self._dec_attn.append([interp(n, b, p.dec_attn[:, j]) for j in range(len(ctx))])
        # rows emitting a token: lm_head on n rows (0 rows: not run)
        out_x, out_y = [0.0] + b, [0.0] + [float(v) for v in p.dec_out]
        self._out = [interp(n, out_x, out_y) for n in range(max_batch + 1)]
        self._out_x, self._out_y = out_x, out_y
        s = [float(v) for v in p.prompt]
        self._s = s
        self._a = [float(v) / x for v, x in zip(p.pre_attn, s, strict=True)]
        self._pre_fixed = [0.0] + [interp(n, s, p.pre_in) + self.layers * interp(n, s, p.pre_lin)
                                   for n in range(1, max_tokens + 1)]
        self._pre_lin, self._pre_in = list(p.pre_lin), list(p.pre_in)

    def _decode_attn(self, batch: int, ctx_sum: float) -> float:
        return interp(ctx_sum / batch, self._ctx, self._dec_attn[batch])

    def out(self, rows: int) -> float:
        if rows < len(self._out):
            return self._out[rows]
        return interp(rows, self._out_x, self._out_y)

    def prefill_attn(self, query: int, cached: int) -> float:
        """Attention of ``query`` prompt rows after ``cached`` tokens (one layer)."""
        return query * interp(cached + query, self._s, self._a)

    def decode(self, batch: int, ctx_sum: float) -> float:
        """Decodes only: ``batch`` sequences whose contexts add up to ``ctx_sum``."""
        return self._dec_fixed[batch] + self.layers * self._decode_attn(batch, ctx_sum)

    def mixed(self, batch: int, ctx_sum: float, pieces: Sequence[tuple[int, int]],
              rows: int) -> float:
        """Decodes of ``batch`` sequences (contexts adding up to ``ctx_sum``) with prompt
        pieces ``(query tokens, tokens cached before)``; ``rows`` sequences emit a token."""
        tokens = batch + sum(q for q, _ in pieces)
        if tokens < len(self._pre_fixed):
            fixed = self._pre_fixed[tokens]
        else:
            fixed = interp(tokens, self._s, self._pre_in) + \
                self.layers * interp(tokens, self._s, self._pre_lin)
        attn = sum(self.prefill_attn(q, k) for q, k in pieces)
        if batch:
            attn += self._decode_attn(batch, ctx_sum)
        return fixed + self.layers * attn + self.out(rows)
