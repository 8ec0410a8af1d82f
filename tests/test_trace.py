"""Trace files: canonical bytes, round trips that keep cycles, and errors with line numbers."""

from __future__ import annotations

import json

import pytest
from conftest import systolic_config

from simulator import api
from simulator.errors import TraceError
from simulator.trace import read_trace, write_trace


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_lower_save_replay_gives_identical_cycles(tmp_path, df):
    cfg = systolic_config(32, 32, df, bandwidth=12, latency=40,
                          sram={"ifmap_kb": 8, "filter_kb": 8, "ofmap_kb": 4})
    trace, direct = api.run(cfg, "alexnet")
    path = tmp_path / "t.jsonl"
    write_trace(trace, path)
    replayed = api.replay(path)
    assert replayed.summary() == direct.summary()
    assert [lr.cycles for lr in replayed.layers] == [lr.cycles for lr in direct.layers]


def test_trace_bytes_are_reproducible(tmp_path):
    cfg = systolic_config(32, 32, "ws")
    write_trace(api.lower(cfg, "resnet18"), tmp_path / "a.jsonl")
    write_trace(api.lower(cfg, "resnet18"), tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    # and reading then writing again changes nothing
    write_trace(read_trace(tmp_path / "a.jsonl"), tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


def test_header_records_kind_config_and_workload(tmp_path):
    cfg = systolic_config(8, 8, "os")
    write_trace(api.lower(cfg, "gemm:10,20,30"), tmp_path / "t.jsonl")
    head = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert head["format"] == "archsim-trace" and head["version"] == 1
    assert head["kind"] == "systolic" and head["workload"] == "gemm:10,20,30"
    assert head["config"]["array"] == {"rows": 8, "cols": 8, "dataflow": "os"}
    (layer,) = head["layers"]
    assert {k: layer[k] for k in ("name", "op", "macs", "dims")} == {
        "name": "gemm", "op": "Gemm", "macs": 6000,
        "dims": {"m": 10, "n": 20, "k": 30, "groups": 1}}
    assert layer["args"] == {"inputs": ["A", "gemm.B"], "outputs": ["gemm.C"], "attrs": {},
                             "shapes": [[10, 20]], "a": "A"}


def test_replay_on_other_config_changes_memory_timing_only(tmp_path):
    cfg = systolic_config(32, 32, "ws", bandwidth=64)
    trace = api.lower(cfg, "gemm:512,256,512")
    write_trace(trace, tmp_path / "t.jsonl")
    fast = api.replay(tmp_path / "t.jsonl")
    slow = api.simulate(read_trace(tmp_path / "t.jsonl"), systolic_config(32, 32, "ws",
                                                                           bandwidth=2))
    assert slow.total_cycles > fast.total_cycles
    assert slow.macs == fast.macs and slow.bytes == fast.bytes


def test_replay_on_smaller_array_is_an_error(tmp_path):
    trace = api.lower(systolic_config(64, 64, "os"), "gemm:128,128,128")
    with pytest.raises(TraceError, match="lower the workload again"):
        api.simulate(trace, systolic_config(32, 32, "os"))


def _write(tmp_path, lines):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def _good_lines(tmp_path):
    write_trace(api.lower(systolic_config(8, 8, "os"), "gemm:16,16,16"), tmp_path / "g.jsonl")
    return (tmp_path / "g.jsonl").read_text().splitlines()


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: ls.__setitem__(3, ls[3][:-5]), "not valid JSON"),
    (lambda ls: ls.__setitem__(3, ls[3].replace('"op":"', '"op":"X')), "unknown op"),
    (lambda ls: ls.__setitem__(3, ls[3].replace('"id":2', '"id":7')), "out of sequence"),
    (lambda ls: ls.__setitem__(3, ls[3].replace('"deps":[', '"deps":[99,')), "deps must"),
    (lambda ls: ls.__setitem__(3, ls[3].replace('"unit":', '"colour":1,"unit":')), "unknown key"),
])
def test_malformed_line_reports_its_line_number(tmp_path, mutate, message):
    lines = _good_lines(tmp_path)
    mutate(lines)
    p = _write(tmp_path, lines)
    with pytest.raises(TraceError) as info:
        read_trace(p)
    assert str(info.value).startswith(f"{p}:4: ")
    assert message in str(info.value)


def test_bad_header(tmp_path):
    p = _write(tmp_path, ['{"format": "other"}'])
    with pytest.raises(TraceError, match=r":1: not an archsim trace"):
        read_trace(p)
    p = _write(tmp_path, ['{"format": "archsim-trace", "version": 99}'])
    with pytest.raises(TraceError, match="version 99 is not supported"):
        read_trace(p)


def test_shipped_example_trace_replays(root):
    path = root / "traces" / "gemm-256x128x256-32x32-ws.jsonl"
    trace = read_trace(path)
    again = api.lower(api.config_from_dict(trace.config), trace.workload)
    assert [i.to_json() for i in again.instructions] == [i.to_json() for i in trace.instructions]
    assert api.replay(path).total_cycles > 0


@pytest.mark.parametrize(("config", "workload", "op"), [
    ("systolic-32-ws.yaml", "gemm:64,64,64", "LOAD"), ("dstc.yaml", "gemm:256,256,256", "SPGEMM"),
    ("zipper.yaml", "gnn:gcn:cora", "GATHER")])
def test_an_unknown_unit_is_refused_on_replay(tmp_path, config, workload, op, capsys):
    from conftest import CONFIGS

    from simulator.cli import main

    path = tmp_path / "t.jsonl"
    assert main(["lower", str(CONFIGS / config), workload, "-o", str(path)]) == 0
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if f'"op":"{op}"' in line)
    obj = json.loads(lines[at])
    obj["unit"] = "warp_drive"
    lines[at] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert "warp_drive" in err and f"instruction {at - 1}" in err and "Traceback" not in err
