"""The LLM serving spec (``archsim serve SPEC.yaml`` with ``kind: llm``): pydantic models and YAML
loading with ``file:line`` errors, as the multi-tenant spec (:mod:`.serving_spec`) does.

The default request lengths are log-normal with parameters fitted (maximum likelihood on the log
of the lengths) to ShareGPT conversations as tokenized for Sarathi-Serve (the processed trace
``sharegpt_8k_filtered_stats_llama2_tokenizer.csv`` in the sarathi-serve repository: 30,731
requests, Llama-2 tokenizer, prompt plus output at most 8k tokens; the medians, 1,730 prompt and
415 output tokens, and 90th percentiles, 5,696 and 834, are the ones the Sarathi-Serve paper
lists for its openchat_sharegpt4 dataset). Only the four fitted numbers are used; no data ships.
Its medians are exp(mu), 1,104 and 320 tokens, not the trace's (its log lengths are skewed), and
~11 % of its prompts exceed 8k tokens; clipped at an 8k ``max_model_len`` (:class:`LengthSpec`)
the mean lengths come out near the trace's (2,333 and 444 tokens over the shipped spec's 400
requests; trace 2,340 and 439). A CSV trace gives the real distribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from simulator.config.base import FieldsError, Strict, parse_model
from simulator.config.yamlfile import read_yaml, set_dotted

#: log(tokens) mean and standard deviation of the ShareGPT trace (see the module doc).
SHAREGPT_PROMPT = (7.0065, 1.6258)
SHAREGPT_OUTPUT = (5.7694, 1.0011)


class LogNormal(Strict):
    """A length distribution: ``exp(N(mu, sigma^2))`` tokens, rounded (``sigma`` 0: fixed)."""

    mu: float
    sigma: float = Field(ge=0)


class LengthSpec(Strict):
    """Prompt and output lengths of the requests: ``lognormal`` (``prompt`` and ``output``
    distributions) or ``csv`` (a trace file with ``prompt_tokens`` and ``output_tokens`` columns
    (or Sarathi/Vidur's ``num_prefill_tokens`` and ``num_decode_tokens``), taken in file order
    and repeated when the run has more requests than rows). Either way a prompt is clipped to
    ``[1, max_model_len - 1]`` tokens and an output to ``[1, max_model_len - prompt]``."""

    source: Literal["lognormal", "csv"] = "lognormal"
    prompt: LogNormal = Field(default_factory=lambda: LogNormal(mu=SHAREGPT_PROMPT[0],
                                                                sigma=SHAREGPT_PROMPT[1]))
    output: LogNormal = Field(default_factory=lambda: LogNormal(mu=SHAREGPT_OUTPUT[0],
                                                                sigma=SHAREGPT_OUTPUT[1]))
    csv: str | None = None

    @model_validator(mode="after")
    def _csv(self) -> LengthSpec:
        if self.source == "csv" and not self.csv:
            raise FieldsError("source: csv needs csv: FILE", "source", "csv")
        return self


class TenantSpec(Strict):
    """The served model (``llm:MODEL``, optionally ``?layers=L`` or ``&routing=...``; the study
    sets phase, seq, ctx and batch itself) and its latency targets: time to first token and
    time per output token (a request meets its SLO when both hold)."""

    name: str
    workload: str
    ttft_ms: float = Field(gt=0)
    tpot_ms: float = Field(gt=0)


class PolicySpec(Strict):
    """A batching policy: ``static`` (request-level: a batch is formed from the waiting requests
    when the accelerator is free, its prompts padded to the longest, and it decodes until its
    longest output is done; each slot reserves ``max_model_len`` tokens of KV cache),
    ``continuous`` (iteration-level with a paged KV cache: a waiting request joins at the next
    iteration if its prompt's blocks are free; prefill iterations take priority over decode
    iterations; when a decode needs a block and none is free, the latest-arrived running request
    is preempted and later recomputed) or ``chunked-prefill`` (every iteration runs all decodes
    and fills the rest of a ``chunk_tokens`` budget with prompt chunks). ``max_batch`` and
    ``chunk_tokens`` override the spec's ``batching`` values for this policy."""

    name: str
    batching: Literal["static", "continuous", "chunked-prefill"]
    max_batch: int | None = Field(None, ge=1)
    chunk_tokens: int | None = Field(None, ge=1)


class BatchingSpec(Strict):
    """``max_batch``: sequences in one iteration (vLLM's max_num_seqs); ``max_batched_tokens``:
    prompt tokens one continuous-batching prefill iteration may take (vLLM's
    max_num_batched_tokens; at least ``max_model_len``); ``chunk_tokens``: the chunked-prefill
    token budget of an iteration (decodes plus prompt chunks; Sarathi-Serve's chunk size)."""

    max_batch: int = Field(64, ge=1)
    max_batched_tokens: int | None = Field(None, ge=1)
    chunk_tokens: int = Field(512, ge=2)


class KvCacheSpec(Strict):
    """The KV cache: the config's ``memory_gb`` times ``memory_utilization`` (vLLM's
    gpu_memory_utilization) minus the weights, in blocks of ``block_tokens`` tokens."""

    memory_utilization: float = Field(0.9, gt=0, le=1)
    block_tokens: int = Field(16, ge=1)


class ProfileGrid(Strict):
    """Where the iteration costs are simulated (the rest is interpolated): decode batch sizes,
    decode contexts and prompt lengths. Empty: powers of two up to ``max_batch`` and
    ``max_model_len`` (contexts every factor of 4 from 16), each maximum included."""

    batch: list[int] = Field(default_factory=list)
    context: list[int] = Field(default_factory=list)
    prompt: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _positive(self) -> ProfileGrid:
        for key in ("batch", "context", "prompt"):
            if any(v < 1 for v in getattr(self, key)):
                raise FieldsError("grid values must be positive token or batch counts", key)
        return self


def _default_policies() -> list[PolicySpec]:
    return [PolicySpec(name="static", batching="static"),
            PolicySpec(name="continuous", batching="continuous"),
            PolicySpec(name="chunked-prefill", batching="chunked-prefill")]


class LlmServingSpec(Strict):
    """The whole study. ``target``: an npu or systolic config with ``memory_gb`` (set it in
    ``target_set`` if the file has none). ``loads`` and ``sweep``: arrival rates in requests per
    second; each run draws ``requests`` Poisson arrivals and lengths from ``seed`` (the same for
    every policy and rate; the first ``warmup`` requests are served but not counted). A load is
    held when at least ``slo_attainment`` of the counted requests meet both latency targets."""

    kind: Literal["llm"] = "llm"
    name: str = "llm-serving"
    target: str
    target_set: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    requests: int = Field(300, ge=1)
    warmup: int = Field(0, ge=0)
    slo_attainment: float = Field(0.9, gt=0, le=1)
    max_model_len: int = Field(4096, ge=2)
    tenants: list[TenantSpec] = Field(min_length=1)
    lengths: LengthSpec = Field(default_factory=LengthSpec)
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    kv_cache: KvCacheSpec = Field(default_factory=KvCacheSpec)
    loads: dict[str, float] = Field(min_length=1)
    sweep: list[float] = Field(default_factory=list)
    max_load_refine: int = Field(2, ge=0, le=10)
    policies: list[PolicySpec] = Field(default_factory=_default_policies, min_length=1)
    profile: ProfileGrid = Field(default_factory=ProfileGrid)
    cache_dir: str | None = None
    #: the file the spec came from (for located errors)
    _source: str = PrivateAttr("<spec>")

    @model_validator(mode="after")
    def _check(self) -> LlmServingSpec:
        if len(self.tenants) != 1:
            raise FieldsError("one served model per accelerator (several LLMs sharing one are "
                             "not modelled)", "tenants")
        if len({p.name for p in self.policies}) != len(self.policies):
            raise FieldsError("policy names must be distinct", "policies")
        for name, rate in self.loads.items():
            if rate <= 0:
                raise FieldsError(f"load {name!r} must be a positive rate, got {rate}",
                                  f"loads.{name}")
        if any(r <= 0 for r in self.sweep):
            raise FieldsError("sweep rates must be positive", "sweep")
        if self.warmup >= self.requests:
            raise FieldsError("warmup must be smaller than requests", "warmup", "requests")
        if self.batching.max_batched_tokens is not None and \
                self.batching.max_batched_tokens < self.max_model_len:
            raise FieldsError("batching.max_batched_tokens must be at least max_model_len (a "
                              "prompt must fit in one prefill iteration)",
                              "batching.max_batched_tokens", "max_model_len")
        return self

    def max_batch(self, policy: PolicySpec) -> int:
        return policy.max_batch or self.batching.max_batch

    def chunk_tokens(self, policy: PolicySpec) -> int:
        return policy.chunk_tokens or self.batching.chunk_tokens

    def batched_tokens(self) -> int:
        return self.batching.max_batched_tokens or max(self.max_model_len, 2048)


def is_llm_spec(data: Any) -> bool:
    """A serving spec for LLMs: ``kind: llm``, or tenants whose workloads are ``llm:``."""
    if not isinstance(data, dict):
        return False
    if data.get("kind") == "llm":
        return True
    tenants = data.get("tenants")
    return isinstance(tenants, list) and bool(tenants) and all(
        isinstance(t, dict) and str(t.get("workload", "")).startswith("llm:") for t in tenants)


def parse_llm_serving_spec(data: Any, source: str = "<spec>", lines: dict | None = None,
                           base_dir: Path | None = None) -> LlmServingSpec:
    """Validate plain data; a relative ``target`` or ``lengths.csv`` is resolved against
    ``base_dir`` (the spec's folder) when the file exists there."""
    spec = parse_model(LlmServingSpec, data if data is not None else {}, source, lines or {})
    spec._source = source
    if base_dir is not None:
        if not Path(spec.target).is_absolute() and (base_dir / spec.target).exists():
            spec.target = str(base_dir / spec.target)
        csv = spec.lengths.csv
        if csv and not Path(csv).is_absolute() and (base_dir / csv).exists():
            spec.lengths.csv = str(base_dir / csv)
    return spec  # type: ignore[return-value]


def read_spec_data(path: str | Path, overrides: dict[str, Any] | None = None
                   ) -> tuple[Any, dict]:
    """A spec file's data (with dotted ``--set`` overrides applied) and its line index."""
    data, lines = read_yaml(Path(path), "scenario spec")
    data = data if data is not None else {}
    if isinstance(data, dict):
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value, lines)
    return data, lines


def load_llm_serving_spec(path: str | Path, overrides: dict[str, Any] | None = None
                          ) -> LlmServingSpec:
    """Read a spec file, applying dotted ``--set`` overrides before validation."""
    data, lines = read_spec_data(path, overrides)
    return parse_llm_serving_spec(data, str(path), lines, Path(path).parent)
