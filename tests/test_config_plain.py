"""The fast path of config loading (simulator.config.plain): it takes only what the pydantic
models accept, gives the same config field by field (and the same methods), refuses everything
else so the models raise their own errors, and its table is what the models say."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import plain, read_config_file
from simulator.config.plain import Plain, plain_config
from simulator.errors import ArchsimError
from simulator.targets import config_from_dict, config_model, load_config

YAMLS = sorted(p for d in ("configs", "tests", "examples", "docs")
               for p in (ROOT / d).rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _data(path: Path):
    try:
        return read_config_file(path)[0]
    except ArchsimError:
        return None


SYSTOLIC = [p for p in YAMLS if isinstance(_data(p), dict) and _data(p).get("kind") == "systolic"]


def _typed(value):
    """A dump with the type of every leaf (1 and 1.0, True and 1 differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def _same(fast, model) -> None:
    for mode in ("python", "json"):
        for exclude_none in (False, True):
            got = fast.model_dump(mode=mode, exclude_none=exclude_none)
            want = model.model_dump(mode=mode, exclude_none=exclude_none)
            assert _typed(got) == _typed(want)
            assert json.dumps(got) == json.dumps(want)
    assert fast.pe_count == model.pe_count
    for bits in (None, 1, 2, 3, 4, 8, 16, 64):
        assert fast.macs_per_pe(bits) == model.macs_per_pe(bits)
    assert fast.energy.counts_leakage() == model.energy.counts_leakage()
    assert fast.energy.ert_energies() == model.energy.ert_energies()
    assert fast == model and fast.as_model() == model


def _outcome(data, source="x.yaml"):
    """What the models make of ``data``: the config, or the error's text."""
    try:
        return config_from_dict(copy.deepcopy(data), source, {})
    except ArchsimError as err:
        return f"error: {err}"


def test_the_table_is_what_the_models_say():
    table = Path(plain.__file__).with_name("plain_table.py").read_text()
    assert table == plain.table_source(), "run: python -m simulator.config.plain"
    for kind, qualname in plain.KINDS.items():   # the models the targets name
        model = config_model(kind)
        assert f"{model.__module__}:{model.__qualname__}" == qualname


def test_repository_configs():
    assert len(SYSTOLIC) >= 10
    for path in YAMLS:
        data = _data(path)
        fast = plain_config(copy.deepcopy(data))
        model = _outcome(data, str(path))
        if fast is not None:
            assert not isinstance(model, str), path
            _same(fast, model)
            assert load_config(path, plain=True) == model
        elif path in SYSTOLIC and path.parent.name == "configs":
            assert "ert" in data.get("energy", {}), path   # the one thing left to the models


# values a key may be set to: inside and outside each kind of bound, other types, specials
VALUES = [0, 1, -1, 2, 7, 8, 9, 64, 65536, 65537, 2 ** 53, 2 ** 63, -2 ** 70, 0.0, -0.0, 0.5,
          1.5, 2.0, 1e300, float("inf"), float("nan"), True, False, None, "", "ws", "os", "is",
          "rs", "user", "calc", "systolic", "npu", "x", "1", "1.5", [], [1], {}, {"a": 1},
          {"Relu": 1.0}, {"rows": 4, "cols": 4}, {"mac": {"component": "c", "action": "a"}}]
KEYS = ["kind", "name", "clock_ghz", "word_bytes", "array", "array.rows", "array.cols",
        "array.dataflow", "array.extra", "sram", "sram.ifmap_kb", "sram.filter_kb",
        "sram.ofmap_kb", "dram", "dram.bandwidth", "dram.latency", "vector", "vector.lanes",
        "vector.pipeline", "vector.costs", "datapath_bits", "precision_scalable",
        "memory_gb", "scalesim", "scalesim.run_name", "scalesim.bandwidth_mode",
        "scalesim.ifmap_offset", "scalesim.read_request_buffer", "energy", "energy.mac_pj",
        "energy.sram_pj_per_byte", "energy.node_nm", "energy.vdd", "energy.leakage",
        "energy.sram_access_bits", "energy.ert", "energy.ert_map", "energy.ert_table",
        "energy.unknown", "unknown"]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(SYSTOLIC),
       edits=st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)), max_size=4),
       drops=st.lists(st.sampled_from(KEYS), max_size=2))
def test_random_edits(base, edits, drops):
    data = _data(base)
    for key in drops:
        node, *path = key.split(".")
        parent = data if not path else data.get(node)
        if isinstance(parent, dict):
            parent.pop(path[0] if path else node, None)
    for key, value in edits:
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[parts[-1]] = copy.deepcopy(value)
    fast = plain_config(copy.deepcopy(data))
    model = _outcome(data)
    if fast is not None:
        assert not isinstance(model, str), model
        _same(fast, model)


def test_refusals_fall_back_to_the_models_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    for text in ("kind: systolic\narray: {rows: 0, cols: 4}\n",
                 "kind: systolic\narray: {rows: 4, cols: 4, extra: 1}\n",
                 "kind: systolic\narray: {rows: true, cols: 4}\n",
                 "kind: systolic\nname: x\n",
                 "kind: systolic\narray: {rows: 4, cols: 4}\nvector: {costs: {Nope: 1}}\n"):
        path.write_text(text)
        with pytest.raises(ArchsimError) as slow:
            load_config(path)
        with pytest.raises(ArchsimError) as fast:
            load_config(path, plain=True)
        assert str(fast.value) == str(slow.value)
    path.write_text("kind: systolic\narray: {rows: 4, cols: 4}\nvector: {costs: {Relu: 2}}\n")
    assert not isinstance(load_config(path, plain=True), Plain)   # the models decide
    assert plain_config({"kind": "npu"}) is None and plain_config([1]) is None


def test_plain_objects():
    config = load_config(ROOT / "configs" / "systolic-32-ws.yaml", {"array.rows": 8},
                         plain=True)
    assert isinstance(config, Plain) and config.array.rows == 8
    with pytest.raises(TypeError, match="read-only"):
        config.array.rows = 4
    with pytest.raises(AttributeError):
        _ = config.no_such_field
    copied = config.array.model_copy(update={"rows": 16})   # answered by the model
    assert copied.rows == 16 and config.array.rows == 8
    assert json.loads(config.model_dump_json()) == config.model_dump(mode="json")
    assert repr(config).startswith("SystolicConfig(kind='systolic', name='systolic-32-ws'")


def test_no_pydantic_on_the_fast_path():
    code = ("import sys\nfrom simulator.targets import load_config\n"
            "c = load_config('configs/tpu-v1-256-ws.yaml', {'array.rows': 128}, plain=True)\n"
            "print(type(c).__name__, c.pe_count, 'pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.split() == ["SystolicConfig", str(128 * 256), "False"]


def _run_modules() -> set[str]:
    """The modules ``archsim run -q`` of a small GEMM holds at its end (plain-text output)."""
    code = ("import sys, json\nfrom simulator.cli import main\n"   # stdout: a pipe
            "main(['run', '-q', 'configs/systolic-32-ws.yaml', 'gemm:64,64,64'])\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_a_small_run_prints_its_table_without_rich():
    loaded = _run_modules()
    assert "simulator.config.plain" in loaded
    assert not {m for m in loaded if m == "rich" or m.startswith("rich.")}


def test_a_small_run_imports_no_pydantic():
    assert "pydantic" not in _run_modules()
