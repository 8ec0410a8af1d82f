"""The LLM serving study: one request alone against the single-model simulation, interpolated
iteration costs against direct simulation, batch 1 against the M/G/1 queue, continuous batching
and chunked prefill never worse than static batching, the KV cache's capacity at every event,
static batching's padding, length traces, errors and the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from simulator import api
from simulator.cli import main
from simulator.scenarios.llm_serving import (
    Setup,
    kv_budget,
    prepare,
    request_lengths,
    run_point,
    study_policy,
)
from simulator.scenarios.llm_serving_profile import IterationCost, served_model, split_result
from simulator.scenarios.llm_serving_sim import (
    KvCache,
    Observer,
    Static,
    make_policy,
    simulate_llm_serving,
)
from simulator.scenarios.llm_serving_spec import (
    PolicySpec,
    is_llm_spec,
    load_llm_serving_spec,
    read_spec_data,
)

SPEC = "configs/scenarios/llm-serving-smollm2.yaml"
MODEL = "llm:smollm2-135m"
POLICIES = [PolicySpec(name=b, batching=b) for b in ("static", "continuous", "chunked-prefill")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("llm-cache"))


def spec_with(cache: str, **overrides):
    return load_llm_serving_spec(SPEC, {"cache_dir": cache, **overrides})


@pytest.fixture(scope="module")
def small(cache) -> Setup:
    """The shipped small spec (SmolLM2-135M on configs/npu-llm.yaml, 0.35 GB of memory)."""
    return prepare(spec_with(cache))[0]


@pytest.fixture(scope="module")
def config(small):
    return api.load_config(small.spec.target, small.spec.target_set)


# ------------------------------------------------------------------------------ exactness

@pytest.fixture(scope="module")
def alone(cache):
    """A profile whose grid holds the steps of one 64-token prompt with 3 output tokens."""
    spec = spec_with(cache, **{"batching.max_batch": 2, "profile.batch": [1, 2],
                               "profile.context": [16, 64, 65, 511],
                               "profile.prompt": [1, 64, 512]})
    return prepare(spec)[0]


@pytest.fixture(scope="module")
def single_model(config):
    """The whole 30-layer model simulated on its own: the prefill and the two decode steps."""
    runs = {"prefill": api.run(config, f"{MODEL}?phase=prefill&seq=64")[1]}
    for ctx in (64, 65):
        runs[ctx] = api.run(config, f"{MODEL}?phase=decode&ctx={ctx}&batch=1")[1]
    return runs


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_one_request_alone_equals_the_single_model_simulation(alone, single_model, policy):
    spec = alone.spec
    kv = KvCache(alone.kv.blocks, alone.kv.block_tokens)
    server = make_policy(policy.batching, alone.cost(policy), kv, 32, spec.batched_tokens(),
                         256, spec.max_model_len)
    start = 1000.0
    run = simulate_llm_serving(server, np.array([start]), np.array([64]), np.array([3]))
    req = run.requests[0]
    prefill = single_model["prefill"].total_cycles
    steps = [single_model[64].total_cycles, single_model[65].total_cycles]
    assert req.first - req.arrival == pytest.approx(prefill, rel=1e-12)
    assert list(run.gaps) == pytest.approx(steps, rel=1e-12)
    assert (req.last - req.first) / 2 == pytest.approx(np.mean(steps), rel=1e-12)
    # the report's milliseconds are the same cycles at the config's clock
    point = run_point(dataclasses.replace(alone, spec=spec.model_copy(update={"warmup": 0}),
                                          unit=np.array([1.0]),
                                          prompts=np.array([64]), outputs=np.array([3])),
                      policy, 1.0)[0]
    per_ms = alone.clock_ghz * 1e6
    assert point.ttft_p50_ms == pytest.approx(prefill / per_ms, rel=1e-9)
    assert point.tpot_p50_ms == pytest.approx(np.mean(steps) / per_ms, rel=1e-9)
    assert run.preemptions == 0 and kv.used == 0


def test_profile_parts_add_up_and_kv_bytes_match_the_simulated_step(alone, single_model,
                                                                      config):
    """A one-layer step's parts add up to its total; the study's KV bytes per token are the
    llm workload's own KV cache bytes."""
    _, one = api.run(config, f"{MODEL}?phase=decode&ctx=64&batch=1&layers=1")
    assert sum(split_result(one).values()) == one.total_cycles
    model = served_model(MODEL)
    llm = single_model[65].extras["llm"]
    assert model.kv_bytes_per_token(config.word_bytes) * 65 == llm["kv_cache_bytes"]
    assert model.layers == llm["layers"] == 30
    assert model.params == 134_515_008    # SmolLM2-135M's published parameter count


def test_iteration_costs_between_grid_points_follow_the_simulation(small, config):
    """Off-grid steps (one layer) against their direct simulation: single sequences within
    1 %; a padded batch of prompts (attention of each prompt costed alone) within 10 %."""
    cost = IterationCost(dataclasses.replace(small.profile, layers=1), 32, 1024)

    def sim(query: str) -> int:
        return api.run(config, f"{MODEL}?{query}&layers=1")[1].total_cycles

    assert cost.decode(3, 300) == pytest.approx(sim("phase=decode&batch=3&ctx=100"), rel=0.01)
    assert cost.decode(24, 24 * 300) == pytest.approx(sim("phase=decode&batch=24&ctx=300"),
                                                      rel=0.01)
    assert cost.mixed(0, 0, [(300, 0)], 1) == pytest.approx(sim("phase=prefill&seq=300"),
                                                            rel=0.01)
    assert cost.mixed(0, 0, [(200, 0)] * 4, 4) == pytest.approx(
        sim("phase=prefill&seq=200&batch=4"), rel=0.10)


# ------------------------------------------------------------------------------ queueing

@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_batch_one_is_an_mg1_queue(cache, batching):
    """max_batch 1: every request is served alone, FCFS: an M/G/1 queue whose service time is
    its prefill plus its decode steps from the profile. Mean wait against Pollaczek-Khinchine,
    lambda E[S^2] / (2 (1 - rho)), and the share never waiting against 1 - rho."""
    spec = spec_with(cache, requests=20000, warmup=0,
                     **{"lengths.prompt": {"mu": float(np.log(32)), "sigma": 0.5},
                        "lengths.output": {"mu": float(np.log(4)), "sigma": 0.5}})
    setup = prepare(spec)[0]
    policy = PolicySpec(name=batching, batching=batching, max_batch=1)
    cost = setup.cost(policy)
    prefill = np.array([cost.mixed(0, 0, [(int(p), 0)], 1) for p in setup.prompts])
    service = prefill + np.array([sum(cost.decode(1, int(p) + k) for k in range(int(o) - 1))
                                  for p, o in zip(setup.prompts, setup.outputs, strict=True)])
    rho = 0.6
    lam = rho / service.mean()                                   # per cycle
    rate_rps = lam * setup.clock_ghz * 1e9
    _, run = run_point(setup, policy, rate_rps)
    wait = np.array([r.first - r.arrival for r in run.requests]) - prefill
    expected = lam * np.mean(service ** 2) / (2 * (1 - rho))
    assert wait.mean() == pytest.approx(expected, rel=0.05)
    assert np.mean(wait <= 1e-6) == pytest.approx(1 - rho, abs=0.015)
    assert run.preemptions == 0


# ------------------------------------------------------------------------------ policies

def test_continuous_and_chunked_prefill_never_worse_than_static(cache):
    """Three seeds x the spec's three loads: iteration-level batching gives at least static
    batching's SLO attainment and throughput, and no higher TTFT (p50, p99) or mean latency;
    over the sweep, at least its maximum load."""
    for seed in (0, 1, 2):
        spec = spec_with(cache, seed=seed, requests=120, warmup=10,
                         sweep=[1, 2, 5, 10, 20, 30, 40], max_load_refine=1)
        setup = prepare(spec)[0]
        reports = {p.name: study_policy(setup, p) for p in POLICIES}
        static = reports["static"]
        for name in ("continuous", "chunked-prefill"):
            better = reports[name]
            assert (better.max_load_rps or 0) >= (static.max_load_rps or 0)
            for load, s in static.loads.items():
                b = better.loads[load]
                assert b.satisfaction >= s.satisfaction, (seed, name, load)
                assert b.tokens_per_s >= s.tokens_per_s * (1 - 1e-9), (seed, name, load)
                assert b.ttft_p50_ms <= s.ttft_p50_ms, (seed, name, load)
                assert b.ttft_p99_ms <= s.ttft_p99_ms, (seed, name, load)
                assert b.latency_mean_ms <= s.latency_mean_ms, (seed, name, load)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_kv_capacity_is_never_exceeded(small, policy):
    """At every event, on the simulation's own accounting: blocks in use never exceed the
    cache, equal the blocks the requests hold, only running requests hold any, and each holds
    enough for the tokens it has cached. At 40 requests/s the cache fills up, and the paged
    policies preempt."""
    seen = {"full": False}

    def check(server, now, requests):
        kv = server.kv
        assert 0 <= kv.used <= kv.total
        held = [r for r in requests if r.blocks]
        assert sum(r.blocks for r in held) == kv.used
        running = {r.ident for r in server.running}
        assert all(r.ident in running for r in held)
        for r in held:
            assert r.blocks * kv.block_tokens >= r.cached
        seen["full"] |= kv.free < kv.blocks_for(small.spec.max_model_len)

    observer = Observer(check)
    point, run = run_point(small, policy, 40.0, observer=observer)
    assert observer.events > 2 * run.iterations
    assert seen["full"]
    assert all(r.done for r in run.requests)
    assert 0 < run.kv_token_occupancy <= run.kv_occupancy <= run.kv_peak / run.kv_blocks
    if policy.batching == "static":
        assert run.preemptions == 0
    else:
        assert run.preemptions > 0 and point.prompt_tokens_recomputed > 0


def test_static_batch_is_padded_and_holds_its_slots(small):
    """Two requests together (prompts 10 and 100, outputs 2 and 4): one prefill padded to 100
    tokens for both, then three decode iterations of both at contexts 100, 101, 102; the
    shorter request's tokens stop after its first decode, its slot does not."""
    cost = small.cost(POLICIES[0])
    kv = KvCache(small.kv.blocks, small.kv.block_tokens)
    server = Static(cost, kv, 32, small.spec.max_model_len)
    run = simulate_llm_serving(server, np.array([0.0, 0.0]), np.array([10, 100]),
                               np.array([2, 4]))
    prefill = cost.mixed(0, 0, [(100, 0), (100, 0)], 2)
    steps = [cost.decode(2, 2 * ctx) for ctx in (100, 101, 102)]
    short, long = run.requests
    assert short.first == long.first == pytest.approx(prefill)
    assert short.last == pytest.approx(prefill + steps[0])
    assert long.last == pytest.approx(prefill + sum(steps))
    assert run.iterations == 4 and run.makespan == pytest.approx(prefill + sum(steps))
    # both slots reserve max_model_len tokens; the K/V written: 110 prompt tokens, then one
    # more per request still decoding (112, 113, 114)
    reserved = 2 * kv.blocks_for(small.spec.max_model_len)
    assert kv.peak == reserved and kv.used == 0
    assert run.kv_occupancy == pytest.approx(reserved / kv.total)
    stored = 110 * prefill + 112 * steps[0] + 113 * steps[1] + 114 * steps[2]
    assert run.kv_token_occupancy == pytest.approx(
        stored / (kv.total * kv.block_tokens * run.makespan))


def test_chunked_prefill_never_stalls_decodes(small):
    """Sarathi-style: while a long prompt is prefilled in chunks, the running request still
    gets a token every iteration, each iteration within the token budget."""
    policy = POLICIES[2]
    cost = small.cost(policy)
    kv = KvCache(small.kv.blocks, small.kv.block_tokens)
    server = make_policy("chunked-prefill", cost, kv, 32, 512, 128, small.spec.max_model_len)
    budgets = []

    def check(srv, now, requests):
        budgets.append(sum(r.pending for r in srv.running))

    run = simulate_llm_serving(server, np.array([0.0, 1.0]), np.array([16, 500]),
                               np.array([40, 2]), Observer(check))
    first, long = run.requests
    gaps = run.gaps[run.gap_ids == 0]
    assert len(gaps) == 39
    # the 500-token prompt takes 4 chunks of at most 127 tokens next to the decode
    chunked = cost.mixed(1, 17, [(127, 0)], 1)
    assert gaps.max() <= chunked * 1.2
    assert long.first > first.first


# ------------------------------------------------------------------------------ inputs

def test_lengths_come_from_the_seeded_lognormal_or_a_csv_trace(cache, tmp_path):
    spec = spec_with(cache, requests=4000)
    p, o = request_lengths(spec)
    assert (p >= 1).all() and (o >= 1).all() and (p + o <= spec.max_model_len).all()
    again = request_lengths(spec)
    assert (again[0] == p).all() and (again[1] == o).all()
    # unclipped, the medians are exp(mu)
    p, o = request_lengths(spec_with(cache, requests=4000, max_model_len=10**6))
    assert np.median(p) == pytest.approx(np.exp(4.927), rel=0.06)
    assert np.median(o) == pytest.approx(np.exp(3.690), rel=0.06)
    trace = tmp_path / "t.csv"
    trace.write_text("num_prefill_tokens,num_decode_tokens\n10,5\n700,3\n20,600\n")
    spec = spec_with(cache, requests=5, warmup=0,
                     **{"lengths.source": "csv", "lengths.csv": str(trace)})
    p, o = request_lengths(spec)
    assert list(p) == [10, 511, 20, 10, 511] and list(o) == [5, 1, 492, 5, 1]


def test_spec_dispatch_and_defaults():
    data, _ = read_spec_data("configs/scenarios/serving.yaml")
    assert not is_llm_spec(data)
    data, _ = read_spec_data(SPEC)
    assert is_llm_spec(data)
    assert is_llm_spec({"tenants": [{"name": "a", "workload": "llm:smollm2-135m"}]})
    shipped = load_llm_serving_spec("configs/scenarios/llm-serving.yaml")
    assert [p.batching for p in shipped.policies] == ["static", "continuous",
                                                      "chunked-prefill"]
    assert shipped.lengths.prompt.mu == pytest.approx(7.0065)


def test_kv_budget_from_the_config_memory(cache, config):
    spec = spec_with(cache)
    budget = kv_budget(spec, config, served_model(MODEL))
    room = 0.35e9 * 0.9 - 134_515_008 * 2
    assert budget.blocks == int(room // (23_040 * 16))
    assert budget.blocks * 16 >= spec.max_model_len


@pytest.mark.parametrize("overrides, message", [
    ({"target_set": {}}, "needs the config's memory_gb"),
    ({"target_set.memory_gb": 0.28}, "not one request of max_model_len"),
    ({"tenants": [{"name": "x", "workload": "llm:smollm2-135m?phase=decode",
                   "ttft_ms": 1, "tpot_ms": 1}]}, "sets phase, seq, ctx and batch"),
    ({"tenants": [{"name": "x", "workload": "llm:mixtral-8x7b", "ttft_ms": 1,
                   "tpot_ms": 1}], "target_set.memory_gb": 200}, "mixture of experts"),
    ({"lengths.source": "csv"}, "source: csv needs csv: FILE"),
    ({"batching.max_batched_tokens": 100}, "at least max_model_len"),
])
def test_bad_specs_are_located_errors(cache, capsys, overrides, message):
    args = ["serve", SPEC, "--set", f"cache_dir={cache}"]
    for key, value in overrides.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_length_trace_names_its_line(cache, tmp_path, capsys):
    trace = tmp_path / "bad.csv"
    trace.write_text("prompt_tokens,output_tokens\n10,5\n7,x\n")
    assert main(["serve", SPEC, "--set", f"cache_dir={cache}", "--set", "lengths.source=csv",
                 "--set", f"lengths.csv={trace}"]) == 2
    assert f"{trace}:3" in capsys.readouterr().err


# ------------------------------------------------------------------------------ CLI

def test_cli_serve_llm_json_and_plot(cache, small, tmp_path, capsys):
    """small: the profile is in the cache, so the CLI finds it there."""
    plot = tmp_path / "llm.png"
    assert main(["serve", SPEC, "--set", f"cache_dir={cache}", "--set", "requests=60",
                 "--set", "warmup=5", "--set", "sweep=[10, 30]", "--set", "max_load_refine=0",
                 "--json", "--plot", str(plot), "--dpi", "50", "--size", "8x3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "llm" and report["profile_cache_hits"] == 1
    assert set(report["policies"]) == {"static", "continuous", "chunked-prefill"}
    for r in report["policies"].values():
        assert set(r["loads"]) == {"light", "medium", "heavy"}
        assert "max_load_rps" in r and len(r["sweep"]) == 2
        point = r["loads"]["light"]
        assert point["ttft_ms"]["p50"] <= point["ttft_ms"]["p99"]
        assert point["tpot_ms"]["p50"] <= point["tpot_ms"]["p99"]
        assert 0 <= point["kv_occupancy"]["mean"] <= point["kv_occupancy"]["peak"] <= 1
    assert report["kv_cache"]["tokens"] == report["kv_cache"]["blocks"] * 16
    png = plot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 400 and int.from_bytes(png[20:24], "big") == 150
    assert main(["serve", SPEC, "--set", f"cache_dir={cache}", "--set", "requests=30",
                 "--set", "warmup=0", "--set", "sweep=[]"]) == 0
    out = capsys.readouterr().out
    assert "continuous" in out and "TTFT p99" in out
    # a figure matplotlib cannot write is refused before the study runs
    assert main(["serve", SPEC, "--set", f"cache_dir={cache}", "--plot", str(plot),
                 "--size", "200x200", "--dpi", "1000"]) == 2
    captured = capsys.readouterr()
    assert "--size/--dpi" in captured.err and "simulating" not in captured.err
