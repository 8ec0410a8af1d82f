"""The error contract on a corpus of bad inputs (tests/bad_inputs/ and mutations made here): every
case runs the ``archsim`` CLI in-process, exits with status 2, prints one or two lines on stderr
and no traceback, and names the place: ``file:line``, the ``--set``, the flag or the workload.
Output paths are checked before any work starts: the functions that would do the work are
replaced by ones that fail the test if called."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CONFIGS

from simulator.cli import main

B = Path(__file__).resolve().parent / "bad_inputs"
C = CONFIGS
SYS = f"{C}/systolic-32-ws.yaml"
CFG = f"{C}/scalesim/scale_32x32_ws.cfg"
TOPO = f"{C}/scalesim/alexnet.csv"


def run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_contract(code: int, err: str, command: str, *expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith(f"archsim {command}: error: "), err
    for text in expected:
        assert text in err, err


# (argv, what the message must contain: the place, and a word of the problem)
INPUT_CASES = {
    # non-UTF-8 bytes in every kind of file a user gives: located at the line of the first one
    "utf8-config": (["run", B / "not_utf8.yaml", "gemm:8,8,8"],
                    [f"{B}/not_utf8.yaml:2: not UTF-8 text"]),
    "utf8-validate": (["validate", B / "not_utf8.yaml"], [f"{B}/not_utf8.yaml:2: not UTF-8"]),
    "utf8-cfg": (["scalesim", "-c", B / "not_utf8.cfg", "-t", TOPO, "-p", "{T}/o"],
                 [f"{B}/not_utf8.cfg:2: not UTF-8 text"]),
    "utf8-topology-scalesim": (["scalesim", "-c", CFG, "-t", B / "not_utf8_topology.csv", "-i",
                                "gemm", "-p", "{T}/o"],
                               [f"{B}/not_utf8_topology.csv:2: not UTF-8 text"]),
    "utf8-topology-run": (["run", SYS, B / "not_utf8_topology.csv"],
                          [f"{B}/not_utf8_topology.csv:2: not UTF-8 text"]),
    "utf8-edge-list": (["run", f"{C}/zipper.yaml", f"gnn:gcn:{B}/not_utf8.edges"],
                       [f"{B}/not_utf8.edges:1: not UTF-8 text"]),
    "utf8-sweep": (["sweep", B / "not_utf8_sweep.yml", "--out", "{T}/s"],
                   [f"{B}/not_utf8_sweep.yml:2: not UTF-8 text"]),
    "utf8-serve": (["serve", B / "not_utf8_serve.yaml"],
                   [f"{B}/not_utf8_serve.yaml:4: not UTF-8 text"]),
    "utf8-federated": (["federated", B / "not_utf8_federated.yaml"],
                       [f"{B}/not_utf8_federated.yaml:3: not UTF-8 text"]),
    # numbers: no booleans, no inf/NaN, no duplicate keys, on every kind of config
    "rows-true": (["validate", B / "rows_true.yaml"],
                  [f"{B}/rows_true.yaml:3: array.rows: expected a number, got true"]),
    "clock-inf": (["run", B / "clock_inf.yaml", "gemm:8,8,8", "--json"],
                  [f"{B}/clock_inf.yaml:3: clock_ghz:", "finite number"]),
    "clock-nan": (["validate", B / "clock_nan.yaml"], [f"{B}/clock_nan.yaml:3: clock_ghz:"]),
    "duplicate-key": (["validate", B / "duplicate_keys.yaml"],
                      [f"{B}/duplicate_keys.yaml:4:", "duplicate key 'array'", "line 3"]),
    "duplicate-nested": (["validate", B / "duplicate_nested.yaml"],
                         [f"{B}/duplicate_nested.yaml:5:", "duplicate key 'rows'"]),
    "unknown-key": (["validate", B / "unknown_key.yaml"],
                    [f"{B}/unknown_key.yaml:4: srma: unknown key"]),
    "unknown-kind": (["validate", B / "unknown_kind.yaml"],
                     [f"{B}/unknown_kind.yaml:1: kind: 'quantum' is unknown"]),
    "no-kind": (["validate", B / "no_kind.yaml"], [f"{B}/no_kind.yaml", "kind: missing"]),
    "not-a-mapping": (["validate", B / "not_a_mapping.yaml"],
                      [f"{B}/not_a_mapping.yaml: a config must be a mapping"]),
    "empty": (["validate", B / "empty.yaml"], [f"{B}/empty.yaml: a config must be a mapping"]),
    "bad-yaml": (["validate", B / "bad_yaml.yaml"], [f"{B}/bad_yaml.yaml:3: invalid YAML"]),
    "tab": (["validate", B / "tab_indent.yaml"], [f"{B}/tab_indent.yaml:3: invalid YAML"]),
    "negative": (["validate", B / "negative_rows.yaml"],
                 [f"{B}/negative_rows.yaml:3: array.rows:", "greater than or equal to 1"]),
    "string-number": (["validate", B / "rows_string.yaml"],
                      [f"{B}/rows_string.yaml:3: array.rows:", "'many'"]),
    "fraction": (["validate", B / "rows_float.yaml"], [f"{B}/rows_float.yaml:3: array.rows:"]),
    "list-for-mapping": (["validate", B / "array_list.yaml"], [f"{B}/array_list.yaml:3: array:"]),
    "zero-bandwidth": (["validate", B / "dram_zero_bw.yaml"],
                       [f"{B}/dram_zero_bw.yaml:3: dram.bandwidth:"]),
    "npu-bool": (["validate", B / "npu_bool_cores.yaml"],
                 [f"{B}/npu_bool_cores.yaml:3: cores: expected a number, got true"]),
    "npu-inf": (["validate", B / "npu_inf_bw.yaml"], [f"{B}/npu_inf_bw.yaml:3: dram.bandwidth:"]),
    "npu-literal": (["validate", B / "npu_bad_topology.yaml"],
                    [f"{B}/npu_bad_topology.yaml:3: noc.topology: got 'hypercube'"]),
    "npu-cross-field": (["validate", B / "npu_default_cores.yaml"],
                        [f"{B}/npu_default_cores.yaml:4: default_cores, cores:"]),
    "sparse-tc-bool": (["validate", B / "sparse_tc_bool.yaml"],
                       [f"{B}/sparse_tc_bool.yaml:3: sms: expected a number"]),
    "sparse-tc-nan": (["validate", B / "sparse_tc_nan.yaml"],
                      [f"{B}/sparse_tc_nan.yaml:3: clock_ghz:"]),
    "zipper-inf": (["validate", B / "zipper_inf.yaml"], [f"{B}/zipper_inf.yaml:3: gemm.rows:"]),
    "zipper-literal": (["validate", B / "zipper_policy.yaml"],
                       [f"{B}/zipper_policy.yaml:3: scheduler.policy: got 'random'"]),
    "energy-bool": (["validate", B / "energy_bool.yaml"],
                    [f"{B}/energy_bool.yaml:3: energy.mac_pj: expected a number"]),
    "cfg-value": (["scalesim", "-c", B / "bad.cfg", "-t", TOPO, "-p", "{T}/o"],
                  [f"{B}/bad.cfg:5: [architecture_presets] ArrayHeight: got 'lots'"]),
    "cfg-percent": (["scalesim", "-c", B / "percent.cfg", "-t", TOPO, "-p", "{T}/o"],
                    [f"{B}/percent.cfg:8: [architecture_presets] FilterSramSzkB: got '64%'"]),
    "topology-value": (["run", SYS, B / "bad_topology.csv"],
                       [f"{B}/bad_topology.csv:2: N: got 'x'"]),
    "topology-short": (["run", SYS, B / "short_topology.csv"],
                       [f"{B}/short_topology.csv:2: a conv row needs"]),
    # --set: the command-line value is named, never a line of the file it overrides
    "set-yaml": (["validate", SYS, "--set", "array.rows=[1,2"],
                 ["--set array.rows=[1,2: the value is not valid YAML"]),
    "set-bool": (["validate", SYS, "--set", "array.rows=true"],
                 ["--set array.rows=true: array.rows: expected a number, got true"]),
    "set-inf": (["validate", SYS, "--set", "clock_ghz=.inf"],
                ["--set clock_ghz=.inf: clock_ghz:", "finite number"]),
    "set-unknown": (["validate", SYS, "--set", "array.rowz=4"],
                    ["--set array.rowz=4: array.rowz: unknown key"]),
    "set-into-number": (["validate", SYS, "--set", "array.rows.x=4"],
                        ["--set array.rows.x=4:", "not a mapping"]),
    "set-no-key": (["validate", SYS, "--set", "=4"], ["--set =4: expected KEY=VALUE"]),
    "set-npu": (["validate", f"{C}/mlu.yaml", "--set", "core.array.rows=0"],
                ["--set core.array.rows=0: core.array.rows:"]),
    "set-npu-cross-field": (["validate", f"{C}/mlu-4.yaml", "--set", "default_cores=8"],
                            ["--set default_cores=8: default_cores, cores:"]),
    "set-sparse-tc": (["validate", f"{C}/dstc.yaml", "--set", "otc.m=-1"],
                      ["--set otc.m=-1: otc.m:"]),
    "set-serve": (["serve", f"{C}/scenarios/serving.yaml", "--set", "requests=true"],
                  ["--set requests=true: requests: expected a number"]),
    # workloads
    "size-limit": (["run", SYS, "gemm:1000000000,1000000000,1000000000"],
                   ["gemm:1000000000,1000000000,1000000000:", "instructions", "over the limit",
                    "ARCHSIM_MAX_INSTRUCTIONS"]),
    "gemm-zero": (["run", SYS, "gemm:0,8,8"], ["gemm:0,8,8: expected gemm:M,N,K"]),
    "conv-short": (["run", SYS, "conv:8,8,8"], ["conv:8,8,8: expected conv:"]),
    "unknown-workload": (["run", SYS, "nosuchmodel"], ["nosuchmodel: unrecognised workload"]),
    "onnx-folder": (["run", SYS, "{T}/model.onnx"], ["{T}/model.onnx:", "folder"]),
    "onnx-missing": (["run", SYS, "{T}/none.onnx"], ["{T}/none.onnx: no such ONNX file"]),
    "topology-folder": (["run", SYS, "{T}/adir.csv"], ["{T}/adir.csv:", "folder"]),
    "missing-config": (["run", "{T}/nope.yaml", "gemm:8,8,8"], ["{T}/nope.yaml: cannot read"]),
    "folder-config": (["validate", "{T}/adir"], ["{T}/adir:", "directory"]),
    "missing-trace": (["replay", "{T}/none.jsonl"], ["{T}/none.jsonl: cannot read trace"]),
    "rtol-negative": (["run", SYS, "gemm:8,8,8", "--functional", "--rtol", "-1"],
                      ["--rtol must be a finite number >= 0, got -1.0"]),
    "rtol-nan": (["run", SYS, "gemm:8,8,8", "--functional", "--rtol", "nan"], ["--rtol"]),
    "quantize-folder": (["quantize", "{T}/adir", "-o", "{T}/q.onnx"],
                        ["{T}/adir: a folder, not an ONNX model"]),
    "plot-utf8": (["plot", B / "not_utf8_topology.csv", "--x", "a", "--y", "b"],
                  [f"{B}/not_utf8_topology.csv:2: not UTF-8 text"]),
    "plot-missing": (["plot", "{T}/none.csv", "--x", "a", "--y", "b"],
                     ["{T}/none.csv: no such results file"]),
    "scalesim-run-name": (["scalesim", "-c", CFG, "-t", TOPO, "-p", "{T}/ss"],
                          ["{T}/ss/scale_32x32_ws: -p OUTDIR/<run_name> names a file"]),
    # serving and federated specs: cross-field rules name their fields, at the first one's line
    "serve-qos": (["serve", B / "serve_qos_both.yaml"],
                  [f"{B}/serve_qos_both.yaml:15: tenants.0.qos_ms, tenants.0.qos_factor:"]),
    "serve-names": (["serve", B / "serve_same_tenant.yaml"],
                    [f"{B}/serve_same_tenant.yaml:14: tenants: tenant names must be distinct"]),
    "serve-block": (["serve", B / "serve_block_min_max.yaml"],
                    [f"{B}/serve_block_min_max.yaml:28: adaptive_block.min, "
                     "adaptive_block.start, adaptive_block.max:"]),
    "serve-target": (["serve", B / "serve_bad_target.yaml"],
                     [f"{B}/serve_bad_target.yaml:5: target: no config file"]),
    "serve-target-kind": (["serve", B / "serve_systolic_target.yaml"],
                          [f"{B}/serve_systolic_target.yaml:5: target:", "npu config"]),
    "serve-target-set": (["serve", B / "serve_bad_target_set.yaml"],
                         [f"{B}/serve_bad_target_set.yaml:7: target_set.dram.bandwith: "
                          "unknown key"]),
    "serve-target-set-flag": (["serve", f"{C}/scenarios/serving.yaml", "--set",
                               "target_set.dram.bandwidth=-1"],
                              ["--set target_set.dram.bandwidth=-1: target_set.dram.bandwidth:"]),
    "serve-inf": (["serve", B / "serve_requests_inf.yaml"],
                  [f"{B}/serve_requests_inf.yaml:9: requests:"]),
    "serve-levels": (["serve", B / "serve_contention.yaml"],
                     [f"{B}/serve_contention.yaml:34: contention_levels:"]),
    "serve-jobs": (["serve", f"{C}/scenarios/serving.yaml", "--jobs", "0"],
                   ["--jobs must be at least 1, got 0"]),
    "fl-cross-field": (["federated", B / "fl_clients_per_round.yaml"],
                       [f"{B}/fl_clients_per_round.yaml:15: training.clients_per_round, "
                        "data.clients:"]),
    "fl-device": (["federated", B / "fl_device_both.yaml"],
                  [f"{B}/fl_device_both.yaml:36: system.devices.0.gflops, "
                   "system.devices.0.target:"]),
    "fl-range": (["federated", B / "fl_uplink.yaml"],
                 [f"{B}/fl_uplink.yaml:38: system.uplink_mbps:"]),
    "fl-bool": (["federated", B / "fl_bool.yaml"],
                [f"{B}/fl_bool.yaml:14: training.rounds: expected a number"]),
    "fl-policy": (["federated", B / "fl_policy.yaml"], [f"{B}/fl_policy.yaml:5: policies.1:"]),
    "fl-dataset": (["federated", B / "fl_dataset.yaml"], [f"{B}/fl_dataset.yaml:7: data.dataset"]),
    # sweep specs
    "sweep-base": (["sweep", B / "sweep_bad_base.yml", "--dry-run"],
                   [f"{B}/sweep_bad_base.yml:1: base: no such config file"]),
    "sweep-constraint": (["sweep", B / "sweep_bad_constraint.yml", "--dry-run"],
                         [f"{B}/sweep_bad_constraint.yml:4: constraints[0]:"]),
    "sweep-workload": (["sweep", B / "sweep_bad_workload.yml", "--dry-run"],
                       [f"{B}/sweep_bad_workload.yml:2: workloads[0]: expected gemm:M,N,K"]),
    "sweep-duplicate": (["sweep", B / "sweep_dup.yml", "--dry-run"],
                        [f"{B}/sweep_dup.yml:3:", "duplicate key 'workloads'"]),
    "sweep-grid-bool": (["sweep", B / "sweep_grid_bool.yml", "--dry-run"],
                        [f"{B}/sweep_grid_bool.yml:3: array.rows: expected a number"]),
    "sweep-grid-empty": (["sweep", B / "sweep_grid_empty.yml", "--dry-run"],
                         [f"{B}/sweep_grid_empty.yml:3: grid: array.rows:"]),
    "sweep-grid-value": (["sweep", B / "sweep_grid_value.yml", "--dry-run"],
                         [f"{B}/sweep_grid_value.yml:3: array.dataflow: got 'diagonal'"]),
    "sweep-missing": (["sweep", B / "sweep_no_workloads.yml", "--dry-run"],
                      [f"{B}/sweep_no_workloads.yml:1: workloads: required key is missing"]),
    "sweep-set": (["sweep", B / "sweep_set_bad.yml", "--dry-run"],
                  [f"{B}/sweep_set_bad.yml:3: set: array.rows:"]),
    "sweep-field": (["sweep", B / "sweep_unknown_field.yml", "--dry-run"],
                    [f"{B}/sweep_unknown_field.yml:3: grid: array.rowz:"]),
    "sweep-top-key": (["sweep", B / "sweep_unknown_top.yml", "--dry-run"],
                      [f"{B}/sweep_unknown_top.yml:4: workers: unknown key"]),
    "sweep-workers": (["sweep", f"{C}/sweeps/systolic-shape.yml", "--out", "{T}/s", "--workers",
                       "0"], ["--workers must be at least 1"]),
}


def _fill(items: list, tmp: Path) -> list[str]:
    return [str(a).replace("{T}", str(tmp)) for a in items]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """A folder with a file ``afile``, folders ``adir``, ``model.onnx`` and ``adir.csv``, and
    ``ss/scale_32x32_ws`` a file."""
    (tmp_path / "afile").write_text("x")
    for name in ("adir", "model.onnx", "adir.csv", "ss"):
        (tmp_path / name).mkdir()
    (tmp_path / "ss" / "scale_32x32_ws").write_text("x")   # where scalesim's reports go
    return tmp_path


@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_bad_input(case: str, tmp: Path, capsys) -> None:
    argv, expected = INPUT_CASES[case]
    code, err = run(capsys, _fill(argv, tmp))
    assert_contract(code, err, str(argv[0]), *_fill(expected, tmp))


# --------------------------------------------------------------------------------------------
# output paths: refused before any work


def _no_work(*args, **kwargs):
    raise AssertionError("the command started its work before checking its output path")


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Every function an output-writing command does its work with fails the test if called."""
    for target in ("simulator.api.simulate", "simulator.api.compile", "simulator.api.load_config",
                   "simulator.sweep.run_sweep", "simulator.sweep.load_spec",
                   "simulator.scalesim.run_scalesim",
                   "simulator.scenarios.serving_spec.load_serving_spec",
                   "simulator.scenarios.fl_spec.load_federated_spec",
                   "simulator.scenarios.attention.resolve_model",
                   "simulator.scenarios.llm_roofline.roofline",
                   "simulator.pipeline.load_config",
                   "simulator.passes.squant_onnx.quantize_file"):
        monkeypatch.setattr(target, _no_work)


#: (argv with OUT where the output path goes, whether it is a folder)
OUTPUT_COMMANDS = {
    "run-out": (["run", SYS, "gemm:8,8,8", "--out", "OUT"], True),
    "run-timeline": (["run", SYS, "gemm:8,8,8", "--timeline", "OUT"], False),
    "replay-out": (["replay", "{T}/t.jsonl", "--out", "OUT"], True),
    "lower": (["lower", SYS, "gemm:8,8,8", "-o", "OUT"], False),
    "scalesim": (["scalesim", "-c", CFG, "-t", TOPO, "-p", "OUT"], True),
    "sweep": (["sweep", f"{C}/sweeps/systolic-shape.yml", "--out", "OUT"], True),
    "plot": (["plot", "{T}/afile", "--x", "a", "--y", "b", "-o", "OUT"], False),
    "serve": (["serve", f"{C}/scenarios/serving.yaml", "--plot", "OUT"], False),
    "federated": (["federated", f"{C}/scenarios/federated.yaml", "--plot", "OUT"], False),
    "fusion": (["fusion", f"{C}/mlu.yaml", "--plot", "OUT"], False),
    "attention": (["attention", "minilm-l3", "--plot", "OUT"], False),
    "llm-roofline": (["llm", "roofline", f"{C}/npu-llm.yaml", "smollm2-135m", "--plot", "OUT"],
                     False),
    "quantize": (["quantize", "{T}/m.onnx", "-o", "OUT"], False),
}


def _bad_paths() -> list:
    paths = [("folder-for-file", "{T}/adir", "names a folder"),
             ("file-for-folder", "{T}/afile", "names a file"),
             ("under-a-file", "{T}/afile/sub/out", "{T}/afile is a file, not a folder")]
    if Path("/sys").is_dir():   # not writable even by root (os.access says it is to root)
        paths.append(("no-permission-sys", "/sys/archsim-bad-inputs/out",
                      "no permission to write in /sys"))
    if os.geteuid() != 0:
        paths.append(("no-permission", "{T}/ro/out", "no permission to write in {T}/ro"))
    return paths


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
@pytest.mark.parametrize("bad", _bad_paths(), ids=lambda b: b[0])
def test_bad_output_path_refused_before_work(command: str, bad: tuple, tmp: Path, no_work,
                                             capsys) -> None:
    argv, folder = OUTPUT_COMMANDS[command]
    _, path, message = bad
    if (folder and message == "names a folder") or (not folder and message == "names a file"):
        pytest.skip("the right kind of path for this flag")
    (tmp / "ro").mkdir(mode=0o555)
    before = sorted(p.name for p in tmp.iterdir())
    code, err = run(capsys, _fill([path if a == "OUT" else a for a in argv], tmp))
    assert_contract(code, err, argv[0], f"{_fill([path], tmp)[0]}:", _fill([message], tmp)[0])
    assert sorted(p.name for p in tmp.iterdir()) == before   # nothing written anywhere
    assert not list(Path("/sys").glob(".archsim-probe-*"))


# --------------------------------------------------------------------------------------------
# traces: malformed lines, values beyond what archsim simulates, units of other hardware

TARGETS = {"systolic": (SYS, "gemm:32,32,32"), "npu": (f"{C}/mlu.yaml", "gemm:64,64,64"),
           "sparse_tc": (f"{C}/dstc.yaml", "gemm:64,64,64"),
           "zipper": (f"{C}/zipper.yaml", "gnn:gcn:rmat?scale=5&edges=100&features=8")}


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, list[str]]:
    """A small trace of each target, as lines of JSON."""
    from simulator import api
    from simulator.trace import write_trace

    out = {}
    folder = tmp_path_factory.mktemp("traces")
    for kind, (config, workload) in TARGETS.items():
        path = folder / f"{kind}.jsonl"
        write_trace(api.lower(api.load_config(config), workload), path)
        out[kind] = path.read_text().splitlines()
    return out


def _set(key: str, value):
    return lambda d: d.__setitem__(key, value)


#: mutation of instruction 1 (line 3) or of the header (line 1) -> what the message says
MUTATIONS = {
    "unknown-unit": (3, _set("unit", "warp_drive"), ":3 (instruction 1):", "'warp_drive'"),
    "unknown-op": (3, _set("op", "TELEPORT"), ":3:", "unknown op 'TELEPORT'"),
    "dims-1e18": (3, lambda d: d["dims"].__setitem__("x", 10 ** 18), ":3:",
                  "beyond what archsim simulates"),
    "bytes-1e30": (3, lambda d: d["bytes"].__setitem__("dram_read", 1e30), ":3:",
                   "non-negative integers"),
    "bytes-negative": (3, lambda d: d["bytes"].__setitem__("dram_read", -5), ":3:",
                       "non-negative integers"),
    "dims-bool": (3, lambda d: d["dims"].__setitem__("x", True), ":3:", "non-negative integers"),
    "dep-forward": (3, _set("deps", [999]), ":3:", "ids of earlier instructions"),
    "id-order": (3, _set("id", 77), ":3:", "out of sequence"),
    "missing-keys": (3, lambda d: d.clear(), ":3:", "required keys"),
    "header-kind": (1, _set("kind", "quantum"), ":", "kind 'quantum'"),
    "header-config": (1, lambda d: d["config"].__setitem__("clock_ghz", "fast"),
                      ":1 (header config): clock_ghz:", "'fast'"),
    "header-inf": (1, lambda d: d["config"].__setitem__("clock_ghz", float("inf")),
                   ":1 (header config): clock_ghz:", "finite"),
    "header-version": (1, _set("version", 99), ":1:", "version 99"),
}


@pytest.mark.parametrize("kind", list(TARGETS))
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_bad_trace(kind: str, mutation: str, traces, tmp_path: Path, capsys) -> None:
    line, change, where, what = MUTATIONS[mutation]
    lines = list(traces[kind])
    data = json.loads(lines[line - 1])
    change(data)
    lines[line - 1] = json.dumps(data)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, err = run(capsys, ["replay", path, "--json"])
    assert_contract(code, err, "replay", f"{path}{where}", what)


def test_npu_unit_of_a_missing_core(traces, tmp_path: Path, capsys) -> None:
    lines = list(traces["npu"])
    data = json.loads(lines[2])
    data["unit"] = "core99." + data["unit"].split(".", 1)[1]
    lines[2] = json.dumps(data)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, err = run(capsys, ["replay", path])
    assert_contract(code, err, "replay", f"{path}:", "uses core 99 but the config has 16")


@pytest.mark.parametrize("damage", ["truncated", "not-utf8", "empty"])
def test_damaged_trace_file(damage: str, traces, tmp_path: Path, capsys) -> None:
    text = "\n".join(traces["systolic"]) + "\n"
    path = tmp_path / "t.jsonl"
    if damage == "truncated":
        path.write_text(text[:-40])
    elif damage == "not-utf8":
        path.write_bytes(text.encode().replace(b'"gemm"', b'"g\xe9mm"', 1))
    else:
        path.write_text("")
    code, err = run(capsys, ["replay", path])
    assert_contract(code, err, "replay", f"{path}:")
    if damage == "truncated":   # the last of the 5 lines is cut: the JSON error, located
        assert f"{path}:5: not valid JSON (Unterminated string starting at column " in err
        assert "at at" not in err


def test_replay_on_another_kind(traces, tmp_path: Path, capsys) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(traces["systolic"]) + "\n")
    code, err = run(capsys, ["replay", path, "--config", f"{C}/mlu.yaml"])
    assert_contract(code, err, "replay", f"{path}:", "kind 'systolic'", "kind 'npu'")
