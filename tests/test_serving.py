"""The multi-tenant serving study: exactness against the npu simulation, queueing against M/D/1,
the DRAM contention model, the core planner, conflicts, version choice, determinism and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simulator.api import load_config
from simulator.cli import main
from simulator.config.npu import KernelSpec
from simulator.engine import Simulation
from simulator.hw.npu import simulate_kernels
from simulator.lower.npu import lower_kernels
from simulator.scenarios.serving import run_serving
from simulator.scenarios.serving_chip import Chip, contention_level
from simulator.scenarios.serving_plan import BlockPlanner
from simulator.scenarios.serving_profile import ModelProfile, profile_model
from simulator.scenarios.serving_sim import Tenant, pick_kernel, simulate_serving
from simulator.scenarios.serving_spec import (
    AdaptiveBlockSpec,
    PolicySpec,
    VersionSpec,
    parse_serving_spec,
)
from workloads.loader import load_workload

MLU4 = "configs/mlu-4.yaml"
MODEL = PolicySpec(name="m", granularity="model")
LAYER = PolicySpec(name="l", granularity="layer")
ADAPTIVE = AdaptiveBlockSpec()


@pytest.fixture(scope="module")
def tiny():
    """zoo:tiny_cnn on the 4-core npu, one version (the config's own tiling)."""
    config = load_config(MLU4)
    graph = load_workload("zoo:tiny_cnn")
    prof = profile_model(graph, config, [VersionSpec(fold_group=config.core.fold_group)],
                         [1.0, 2.0, 4.0], "zoo:tiny_cnn")
    return config, graph, prof


def whole_model_cycles(config, graph, prof: ModelProfile, cores: list[int]) -> int:
    """The single-model simulation: the whole network lowered as one trace (each layer a
    kernel on its core count) and simulated by the npu hardware model."""
    kernels = [KernelSpec(tuple(ops), c) for ops, c in zip(prof.ops, cores, strict=True)]
    trace = lower_kernels(graph, config, kernels)
    return simulate_kernels(trace, config)[0].total_cycles


def synthetic(cycles: list[list[list[float]]], dram: list[list[float]] | None = None,
              cores: list[int] | None = None, levels: list[float] | None = None
              ) -> ModelProfile:
    """A hand-made profile: ``cycles[layer][core option][level]``, one version."""
    arr = np.asarray(cycles, dtype=np.float64)[:, :, None, :]
    moved = np.zeros(arr.shape[:3]) if dram is None else \
        np.asarray(dram, dtype=np.float64)[:, :, None]
    n_levels = arr.shape[-1]
    return ModelProfile("synthetic", [f"l{i}" for i in range(arr.shape[0])],
                        [[f"l{i}"] for i in range(arr.shape[0])],
                        cores or [1 << i for i in range(arr.shape[1])],
                        levels or [float(2 ** j) for j in range(n_levels)], arr, moved)


# --------------------------------------------------------------------------------- exactness

@pytest.mark.parametrize("policy", [MODEL, LAYER])
def test_one_tenant_without_contention_equals_the_single_model_simulation(tiny, policy):
    config, graph, prof = tiny
    tenant = Tenant("cnn", prof, qos=3 * prof.best_latency())
    gap = 10 * prof.isolated().sum(axis=0).max()          # requests never overlap
    arrivals = np.array([0.0, gap, 2 * gap])
    run = simulate_serving([tenant], config.cores, config.core_options(), config.dram.bandwidth,
                           prof.levels, policy, ADAPTIVE, arrivals, np.zeros(3, dtype=int))
    assert run.conflicts == 0 and run.mean_level == 1.0
    for r in range(3):
        cores = [0] * len(prof.layers)
        for req, start, end, want, got, _ in run.grants:
            if req == r:
                assert got == want
                cores[start:end] = [got] * (end - start)
        assert run.latency[r] == whole_model_cycles(config, graph, prof, cores)
    if policy is MODEL:
        assert run.decisions == 3
    else:
        assert run.decisions == 3 * len(prof.layers)


def test_profile_rows_are_the_kernels_simulated_alone(tiny):
    config, graph, prof = tiny
    for ci, c in enumerate(prof.cores):
        whole = whole_model_cycles(config, graph, prof, [c] * len(prof.layers))
        assert prof.cycles[:, ci, 0, 0].sum() == whole
    # the DRAM slowed 2x and 4x never makes a layer faster, and makes some slower
    assert (np.diff(prof.cycles, axis=3) >= 0).all()
    assert (prof.cycles[..., 2] > prof.cycles[..., 0]).any()


# --------------------------------------------------------------------------------- queueing

def test_model_wise_on_one_core_is_an_md1_queue():
    """One core, one model of deterministic service D, Poisson arrivals at rate lam: the mean
    latency is D + rho*D / (2(1-rho)) and a share 1-rho of requests never waits."""
    service = 1000.0
    prof = synthetic([[[service / 2, service / 2]], [[service / 2, service / 2]]], cores=[1])
    tenant = Tenant("d", prof, qos=1e12)
    rho, n = 0.6, 20000
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(service / rho, n))
    run = simulate_serving([tenant], 1, [1], 100.0, prof.levels, MODEL, ADAPTIVE, arrivals,
                           np.zeros(n, dtype=int))
    mean = run.latency.mean()
    assert mean == pytest.approx(service * (1 + rho / (2 * (1 - rho))), rel=0.03)
    assert np.mean(run.latency <= service + 1e-6) == pytest.approx(1 - rho, abs=0.015)
    assert run.conflicts == 0


# --------------------------------------------------------------------------------- contention

def test_contention_level_solves_the_fluid_balance():
    """Two equal kernels, t(x) = a + s(x-1) on [1, 2], b bytes each, channel B: the level x
    solves x*B = 2b / t(x), a quadratic."""
    a, s, b, bw = 1000.0, 600.0, 150_000.0, 200.0
    times = [(a, a + s), (a, a + s)]
    x = contention_level(times, [b, b], [1.0, 2.0], bw)
    # bw*x*(a + s(x-1)) = 2b  ->  bw*s*x^2 + bw*(a-s)*x - 2b = 0
    qa, qb, qc = bw * s, bw * (a - s), -2 * b
    root = (-qb + math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    assert 1 < root < 2
    assert x == pytest.approx(root, rel=1e-9)
    # demands that fit: no slowdown; beyond the last level: extrapolated, still balanced
    assert contention_level(times, [b / 4, b / 4], [1.0, 2.0], bw) == 1.0
    far = contention_level(times, [20 * b, 20 * b], [1.0, 2.0], bw)
    assert far * bw == pytest.approx(40 * b / (a + s * (far - 1)), rel=1e-9)


def test_chip_runs_a_lone_kernel_exactly_and_slows_co_runners():
    env = Simulation()
    chip = Chip(env, 100.0, [1.0, 2.0, 4.0])
    done = {}

    def go(name, start, times, dram):
        yield env.timeout(start)
        yield chip.run(np.array(times), dram)
        done[name] = env.now

    env.process(go("alone", 0, [1234.0, 2000.0, 3000.0], 100_000.0))
    env.process(go("a", 5000, [1000.0, 1500.0, 2500.0], 90_000.0))
    env.process(go("b", 5000, [1000.0, 1500.0, 2500.0], 90_000.0))
    env.run()
    assert done["alone"] == 1234.0
    # together they ask 180 B/cycle of 100: x*100 = 2*90000/(1000 + 500(x-1)), x in (1, 2)
    x = (-500 + math.sqrt(500 ** 2 + 4 * 500 * 1800)) / (2 * 500)
    assert done["a"] == done["b"] == pytest.approx(5000 + 1000 + 500 * (x - 1), rel=1e-9)


# --------------------------------------------------------------------------------- decisions

def test_planner_model_wise_takes_the_fewest_cores_that_fit_and_finer_blocks_use_less():
    rng = np.random.default_rng(3)
    options = [1, 2, 4]
    speedup = rng.uniform(1.0, 2.0, size=(6, 2)).cumprod(axis=1)     # per-layer scaling
    one = rng.uniform(100, 1000, size=6)
    iso = np.column_stack([one, one / speedup[:, 0], one / speedup[:, 1]])
    planner = BlockPlanner(iso, options)
    totals = iso.sum(axis=0)
    for slack in np.linspace(totals.min() * 0.9, totals.max() * 1.1, 25):
        fits = [c for c, t in zip(options, totals, strict=True) if t <= slack]
        want = planner.cores(0, 6, slack)
        assert want == (fits[0] if fits else options[int(np.argmin(totals))])
        if not fits:
            continue
        # the layer-by-layer plan (replayed from its first choices) fits and costs no more
        # core-cycles than the model-wise one
        cores, t, start = [], 0.0, 0
        for start in range(6):
            c = planner.cores(start, 1, slack - t)
            cores.append(c)
            t += iso[start, options.index(c)]
        assert t <= slack + 1e-9
        layer_cost = sum(c * iso[i, options.index(c)] for i, c in enumerate(cores))
        model_cost = fits[0] * totals[options.index(fits[0])]
        assert layer_cost <= model_cost + 1e-9


def test_adaptive_block_is_long_on_a_free_chip_and_split_when_cores_are_short():
    options = [1, 2, 4]
    one = np.linspace(100.0, 1000.0, 10)
    iso = np.column_stack([one, one / 1.8, one / 3.0])        # every layer scales
    planner = BlockPlanner(iso, options, overhead=10.0)
    fastest = iso[:, 2].sum() + 10.0 * 10
    # a free chip and slack to spare: one block covers every layer, on the fewest cores that
    # run them all within the slack (the layer plan's shares add up to the slack)
    end, want = planner.target_block(0, 2.5 * fastest, free=4, max_layers=32)
    assert end == 10
    totals = iso.sum(axis=0) + 10.0
    assert want == next(c for c, t in zip(options, totals, strict=True) if t <= 2.5 * fastest)
    assert planner.target_block(0, 2.5 * fastest, free=4, max_layers=3)[0] == 3   # capped
    # a tight budget with one core free: the first layer alone, asking the cores its share needs
    end, want = planner.target_block(0, 1.05 * fastest, free=1, max_layers=32)
    assert (end, want) == (1, 4)
    # the same budget with the chip free: a longer block on 4 cores
    end, want = planner.target_block(0, 1.05 * fastest, free=4, max_layers=32)
    assert end > 1 and want == 4
    # every grown block runs within the sum of its layers' shares on the cores it asks for
    for slack in np.linspace(0.8, 3.0, 12) * fastest:
        for free in options:
            for start in (0, 4, 9):
                end, want = planner.target_block(start, slack, free, 32)
                total, times = planner._layer_plan(start)
                fits = np.nonzero(total <= slack)[0]
                m = int(fits[0]) if len(fits) else len(total) - 1
                budget = ((times[m] + 10.0) * slack / total[m])[:end - start].sum()
                need = iso[start:end, options.index(want)].sum() + 10.0
                assert want <= free and need <= budget + 1e-6 or (end - start == 1)
    # in a run: one request alone takes its whole model in one decision, with no conflict
    tenant = Tenant("t", synthetic([[[float(t)], [float(t) / 1.8], [float(t) / 3]] for t in one]),
                    qos=2.5 * iso[:, 2].sum())
    block = PolicySpec(name="b", granularity="block", block="adaptive")
    run = simulate_serving([tenant], 4, options, 1e9, [1.0], block, ADAPTIVE,
                           np.array([0.0]), np.array([0]))
    assert [(g[1], g[2]) for g in run.grants] == [(0, 10)] and run.conflicts == 0


def test_a_block_that_finds_too_few_free_cores_is_a_conflict():
    loose = Tenant("loose", synthetic([[[100.0]] * 3]), qos=1e9, weight=1)      # asks 1 core
    fast = synthetic([[[400.0], [200.0], [100.0]]])                            # scales
    tight = Tenant("tight", fast, qos=150.0)                                   # asks 4 cores
    run = simulate_serving([loose, tight], 4, [1, 2, 4], 1e9, [1.0], MODEL, ADAPTIVE,
                           np.array([0.0, 10.0]), np.array([0, 1]))
    assert [(g[3], g[4]) for g in run.grants] == [(1, 1), (4, 2)]
    assert run.decisions == 2 and run.conflicts == 1 and run.conflict_rate == 0.5
    assert run.latency[1] == 200.0      # ran on the 2 cores it got


def test_adaptive_compilation_picks_the_frugal_version_under_contention():
    # version 0: fast alone, greedy for DRAM; version 1: slower alone, frugal
    cycles = np.array([[[[1000.0, 3000.0, 7000.0], [1200.0, 1300.0, 1500.0]]]])
    dram = np.array([[[200_000.0, 20_000.0]]])
    prof = ModelProfile("v", ["l0"], [["l0"]], [1], [1.0, 2.0, 4.0], cycles, dram)
    tenant = Tenant("v", prof, qos=1e9)
    env = Simulation()
    chip = Chip(env, 100.0, prof.levels)
    assert pick_kernel(tenant, 0, 1, [1], chip, adaptive=True)[1] == 200_000.0   # alone
    chip.run(np.array([1000.0, 3000.0, 7000.0]), 200_000.0)                      # a co-runner
    assert pick_kernel(tenant, 0, 1, [1], chip, adaptive=True)[1] == 20_000.0
    assert pick_kernel(tenant, 0, 1, [1], chip, adaptive=False)[1] == 200_000.0


# --------------------------------------------------------------------------------- study, CLI

def small_spec(tmp_path, seed: int = 0, **extra) -> dict:
    return {"name": "small", "target": str(__import__("pathlib").Path(MLU4).resolve()),
            "seed": seed, "requests": 60, "dispatch_us": 0.5, "alpha": 0.8,
            "tenants": [{"name": "cnn", "workload": "zoo:tiny_cnn", "qos_factor": 2},
                        {"name": "tf", "workload": "zoo:tiny_transformer", "qos_ms": 0.2}],
            "loads": {"light": 5000, "heavy": 40000}, "sweep": [5000, 20000, 40000],
            "versions": [{"fold_group": 1}, {"fold_group": 4}],
            "contention_levels": [1, 2, 4], "cache_dir": str(tmp_path / "cache"), **extra}


def strip_timing(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.endswith(("_seconds", "_hits"))}


def test_study_is_deterministic_for_a_seed_and_cached(tmp_path):
    first = run_serving(parse_serving_spec(small_spec(tmp_path)))
    assert first.profile_cache_hits == 0
    again = run_serving(parse_serving_spec(small_spec(tmp_path)), jobs=2)
    assert again.profile_cache_hits == 2
    a, b = strip_timing(first.to_json()), strip_timing(again.to_json())
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    other = strip_timing(run_serving(parse_serving_spec(small_spec(tmp_path, seed=1))).to_json())
    assert json.dumps(other, sort_keys=True) != json.dumps(a, sort_keys=True)
    for name, pol in a["policies"].items():
        light, heavy = pol["loads"]["light"], pol["loads"]["heavy"]
        assert light["requests"] == heavy["requests"] == 60
        assert 0 <= heavy["qos_satisfaction"] <= light["qos_satisfaction"] <= 1, name
        assert heavy["p99_ms"] >= heavy["mean_ms"] > 0


def test_cli_serve_json_and_errors(tmp_path, capsys):
    import yaml

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(small_spec(tmp_path, policies=[
        {"name": "model-wise", "granularity": "model"},
        {"name": "veltair", "granularity": "block", "compilation": "adaptive"}])))
    assert main(["serve", str(spec), "--json", "--set", "requests=30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["policies"]) == {"model-wise", "veltair"}
    # the command prints what the library computes for the same spec, and each load point's
    # totals are its tenants' requests, within-QoS counts and request-weighted mean latency
    spec_data = yaml.safe_load(spec.read_text())
    lib = strip_timing(run_serving(parse_serving_spec({**spec_data, "requests": 30})).to_json())
    assert json.dumps(strip_timing(out), sort_keys=True) == json.dumps(lib, sort_keys=True)
    for pol in out["policies"].values():
        for point in pol["loads"].values():
            tenants = point["tenants"].values()
            assert point["requests"] == 30 == sum(t["requests"] for t in tenants)
            assert point["within_qos"] == sum(t["within_qos"] for t in tenants)
            assert point["qos_satisfaction"] == pytest.approx(point["within_qos"] / 30)
            assert point["mean_ms"] == pytest.approx(
                sum(t["requests"] * t["mean_ms"] for t in tenants) / 30)
            assert max(t["p99_ms"] for t in tenants) >= point["mean_ms"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("granularity: model", "granularity: models"))
    assert main(["serve", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "granularity" in err and "Traceback" not in err
