"""Hypothesis fuzzing of the parsers a user's files go through: hardware configs (YAML and
SCALE-Sim .cfg), traces, sweep / serving / federated specs, topology CSVs and edge lists. On
random bytes, random YAML and mutations of the shipped files, a parser either succeeds or raises
an :class:`ArchsimError` (which the CLI prints as a located line); any other exception is a bug.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import yaml
from conftest import CONFIGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.errors import ArchsimError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

#: keys of the configs and specs, so random YAML reaches past "unknown key"
KEYS = ["kind", "name", "clock_ghz", "array", "rows", "cols", "dataflow", "sram", "ifmap_kb",
        "filter_kb", "ofmap_kb", "dram", "bandwidth", "latency", "word_bytes", "energy",
        "mac_pj", "cores", "default_cores", "core", "noc", "topology", "vector", "lanes",
        "systolic", "npu", "zipper", "sparse_tc", "ws", "os", "base", "workloads", "grid",
        "set", "constraints", "target", "tenants", "requests", "policies", "loads", "sweep",
        "training", "data", "rounds", "seed"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(KEYS),
                    st.text(max_size=8))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=20)


def mutations(text: str) -> st.SearchStrategy[bytes]:
    """``text`` with a span cut, replaced or repeated, or random bytes put in."""
    raw = text.encode()
    n = len(raw)

    @st.composite
    def mutate(draw) -> bytes:
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        how = draw(st.sampled_from(["cut", "replace", "insert", "repeat"]))
        if how == "cut":
            return raw[:i] + raw[j:]
        if how == "repeat":
            return raw[:j] + raw[i:j] + raw[j:]
        junk = draw(st.one_of(
            st.binary(max_size=12),
            st.text(string.printable, max_size=12).map(str.encode),
            st.sampled_from([b": ", b"- ", b"{", b"[", b"\t", b"true", b".inf", b"-1", b"1e999",
                             b"\n  x: 1", b"&a", b"*a", b"!!python/object:os.system", b"\xff",
                             b"'", b'"', b"0x10", b"~"])))
        return raw[:i] + junk + (raw[j:] if how == "replace" else raw[i:])

    return mutate()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def survives(call, path: Path, data: bytes):
    """``call(path)`` on a file holding ``data``: its result, or None on an ArchsimError."""
    path.write_bytes(data)
    try:
        return call(path)
    except ArchsimError as err:
        assert str(err).strip() and "Traceback" not in str(err)
        return None


def load_config(path: Path):
    from simulator.api import load_config

    return load_config(path)


CONFIG_TEXTS = [p.read_text() for p in sorted(CONFIGS.glob("*.yaml"))]


@FUZZ
@given(data=st.binary(max_size=300))
def test_config_random_bytes(folder: Path, data: bytes) -> None:
    survives(load_config, folder / "c.yaml", data)


@FUZZ
@given(doc=documents)
def test_config_random_yaml(folder: Path, doc) -> None:
    survives(load_config, folder / "c.yaml", yaml.safe_dump(doc).encode())


@FUZZ
@given(data=st.sampled_from(CONFIG_TEXTS).flatmap(mutations))
def test_config_mutated(folder: Path, data: bytes) -> None:
    config = survives(load_config, folder / "c.yaml", data)
    if config is not None:   # what loads is a usable config: its numbers are finite numbers
        dumped = config.model_dump_json()
        assert "Infinity" not in dumped and "NaN" not in dumped


def load_cfg(path: Path):
    from simulator.config.scalesim_cfg import load_scalesim_cfg

    return load_scalesim_cfg(path)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200),
                      mutations((CONFIGS / "scalesim" / "scale_32x32_ws.cfg").read_text())))
def test_scalesim_cfg(folder: Path, data: bytes) -> None:
    survives(load_cfg, folder / "c.cfg", data)


@pytest.fixture(scope="module")
def trace_texts(tmp_path_factory) -> list[str]:
    from simulator import api
    from simulator.trace import write_trace

    texts = []
    folder = tmp_path_factory.mktemp("traces")
    for config, workload in [("systolic-32-ws.yaml", "gemm:32,32,64"),
                             ("mlu.yaml", "gemm:64,64,64")]:
        path = folder / "t.jsonl"
        write_trace(api.lower(api.load_config(CONFIGS / config), workload), path)
        texts.append(path.read_text())
    return texts


def read_and_replay(path: Path):
    from simulator import api
    from simulator.trace import read_trace

    return api.simulate(read_trace(path))


@FUZZ
@given(data=st.data())
def test_trace_mutated_read_and_replayed(folder: Path, trace_texts, data) -> None:
    raw = data.draw(st.sampled_from(trace_texts).flatmap(mutations))
    survives(read_and_replay, folder / "t.jsonl", raw)


@FUZZ
@given(data=st.binary(max_size=300))
def test_trace_random_bytes(folder: Path, data: bytes) -> None:
    survives(read_and_replay, folder / "t.jsonl", data)


def load_sweep(path: Path):
    from simulator.sweep import load_spec

    return load_spec(path)


SWEEP = (CONFIGS / "sweeps" / "systolic-shape.yml").read_text().replace(
    "../systolic-32-ws.yaml", str(CONFIGS / "systolic-32-ws.yaml"))


@FUZZ
@given(data=st.one_of(mutations(SWEEP), st.binary(max_size=200),
                      documents.map(lambda d: yaml.safe_dump(d).encode())))
def test_sweep_spec(folder: Path, data: bytes) -> None:
    survives(load_sweep, folder / "s.yml", data)


def load_serving(path: Path):
    from simulator.scenarios.serving_spec import load_serving_spec

    return load_serving_spec(path)


def load_federated(path: Path):
    from simulator.scenarios.fl_spec import load_federated_spec

    return load_federated_spec(path)


SERVING = (CONFIGS / "scenarios" / "serving.yaml").read_text().replace(
    "../mlu.yaml", str(CONFIGS / "mlu.yaml"))
FEDERATED = (CONFIGS / "scenarios" / "federated.yaml").read_text().replace(
    "../systolic-32-ws.yaml", str(CONFIGS / "systolic-32-ws.yaml"))


@FUZZ
@given(data=st.one_of(mutations(SERVING), documents.map(lambda d: yaml.safe_dump(d).encode())))
def test_serving_spec(folder: Path, data: bytes) -> None:
    survives(load_serving, folder / "s.yaml", data)


@FUZZ
@given(data=st.one_of(mutations(FEDERATED), documents.map(lambda d: yaml.safe_dump(d).encode())))
def test_federated_spec(folder: Path, data: bytes) -> None:
    survives(load_federated, folder / "f.yaml", data)


def read_topology(path: Path):
    from workloads.topology import read_topology

    return read_topology(path, "conv")


@FUZZ
@given(data=st.one_of(mutations((CONFIGS / "scalesim" / "alexnet.csv").read_text()),
                      st.binary(max_size=200)))
def test_topology_csv(folder: Path, data: bytes) -> None:
    survives(read_topology, folder / "t.csv", data)


def read_edges(path: Path):
    from workloads.gnn.graphs import read_edge_list

    return read_edge_list(path)


@FUZZ
@given(data=st.one_of(mutations("# a graph\n0 1\n1 2\n2 0\n3 1\n"), st.binary(max_size=100)))
def test_edge_list(folder: Path, data: bytes) -> None:
    survives(read_edges, folder / "g.edges", data)


def apply_sets(items: list[str]):
    from simulator.api import load_config
    from simulator.cli.common import parse_overrides

    return load_config(CONFIGS / "systolic-32-ws.yaml", parse_overrides(items))


set_items = st.lists(st.builds(
    lambda key, sep, value: f"{key}{sep}{value}",
    st.one_of(st.sampled_from(["array.rows", "array", "sram.ifmap_kb", "clock_ghz", "dram",
                               "energy.mac_pj", "array.rows.x", "", ".", "a..b", "kind"]),
              st.text(max_size=10)),
    st.sampled_from(["=", "", "=="]),
    st.one_of(st.text(max_size=12), st.sampled_from(["[1,2", "{a: 1", "true", ".inf", "-1",
                                                     "1e999", "&x", "*x", "!!binary x"]))),
    max_size=3)


@FUZZ
@given(items=set_items)
def test_set_overrides(items: list[str]) -> None:
    """``--set`` items: applied, or an ArchsimError naming a ``--set``."""
    try:
        apply_sets(items)
    except ArchsimError as err:
        assert err.where is not None and err.where.startswith("--set "), str(err)


@FUZZ
@given(name=st.builds(lambda kind, rest: f"{kind}:{rest}", st.sampled_from(["gemm", "conv"]),
                      st.text(string.digits + ",-+.e x", max_size=30)))
def test_builtin_workload_names(name: str) -> None:
    from workloads.loader import load_workload

    try:
        load_workload(name)
    except ArchsimError as err:
        assert err.where == name
