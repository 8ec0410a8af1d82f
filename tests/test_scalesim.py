"""archsim scalesim against SCALE-Sim 3.0.0's own reports and against the closed forms."""

from __future__ import annotations

import csv
import math

import pytest
from conftest import SCALESIM_REF, systolic_config
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import load_config
from simulator.cli import main
from simulator.scalesim import simulate_layers
from simulator.scalesim.compute import compute_stats
from simulator.scalesim.mapping import ScaleSimLayer
from workloads.errors import WorkloadError
from workloads.topology import read_topology, read_topology_layers

needs_ref = pytest.mark.skipif(not SCALESIM_REF.is_dir(),
                               reason="shared/reference not beside the repo")

ALEXNET = ["scale_32x32_os", "scale_32x32_ws", "scale_32x32_is",
           "scale_128x128_os", "scale_128x128_ws", "scale_128x128_is"]
# (report folder, config, topology, input type)
CASES = [(f"alexnet/{c}", c, "alexnet.csv", "conv") for c in ALEXNET] + [
    ("golden_calc", "scale_golden_calc", "alexnet_part.csv", "conv")]
USER_CASES = [(f"golden_user_{df}", f"scale_golden_user_{df}", "test_mnk_input.csv", "gemm")
              for df in ("os", "ws", "is")]


def _report(folder: str, name: str) -> list[list[str]]:
    """A SCALE-Sim report as text fields (values exactly as SCALE-Sim printed them)."""
    with (SCALESIM_REF / "reports" / folder / name).open() as fh:
        rows = [[f.strip() for f in row] for row in csv.reader(fh)]
    return [row[:-1] if row and row[-1] == "" else row for row in rows]


def _ours(rows: list[dict]) -> list[list[str]]:
    return [[str(v) for v in row.values()] for row in rows]


def _run(config_name: str, topology: str, input_type: str):
    config = load_config(SCALESIM_REF / "configs" / f"{config_name}.cfg")
    return simulate_layers(config, SCALESIM_REF / "topologies" / topology, input_type)


@needs_ref
@pytest.mark.parametrize("folder,config_name,topology,input_type", CASES)
def test_compute_report_matches_scalesim_to_the_digit(folder, config_name, topology, input_type):
    """Total Cycles, Stall Cycles, Overall Util, Mapping Efficiency, Compute Util: same text."""
    reference = _report(folder, "COMPUTE_REPORT.csv")
    run = _run(config_name, topology, input_type)
    ours = _ours(run.compute_rows)
    assert len(ours) == len(reference) - 1
    for mine, theirs in zip(ours, reference[1:], strict=True):
        assert mine[0] == theirs[0]
        assert mine[2:] == theirs[2:]


@needs_ref
@pytest.mark.parametrize("folder,config_name,topology,input_type", CASES)
def test_sram_counts_and_bandwidths_match_scalesim(folder, config_name, topology, input_type):
    detail = _report(folder, "DETAILED_ACCESS_REPORT.csv")[1:]
    bandwidth = _report(folder, "BANDWIDTH_REPORT.csv")[1:]
    run = _run(config_name, topology, input_type)
    for mine, theirs in zip(_ours(run.detail_rows), detail, strict=True):
        assert [mine[i] for i in (3, 6, 9)] == [theirs[i] for i in (3, 6, 9)]
    for mine, theirs in zip(_ours(run.bandwidth_rows), bandwidth, strict=True):
        assert mine[1:4] == theirs[1:4]  # SRAM BW = SRAM accesses / Total Cycles


@needs_ref
@pytest.mark.parametrize("folder,config_name,topology,input_type", USER_CASES)
def test_user_mode_compute_columns(folder, config_name, topology, input_type):
    """In USER mode the cycle count is the closed form plus the stalls SCALE-Sim reports, and the
    stall-independent columns are exact."""
    theirs = _report(folder, "COMPUTE_REPORT.csv")[1]
    run = _run(config_name, topology, input_type)
    (layer,) = run.layers
    stats = compute_stats(layer)
    assert stats.compute_cycles + int(theirs[3]) == int(theirs[2])
    assert [str(stats.mapping_efficiency), str(stats.compute_util)] == theirs[5:7]
    mine = run.compute_rows[0]
    assert mine["Total Cycles"] == stats.compute_cycles + mine["Stall Cycles"]


def _closed_form(m, n, k, rows, cols, df):
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[df]
    fr, fc = math.ceil(sr / rows), math.ceil(sc / cols)
    fold = t + (rows if df == "os" else 2 * rows) + cols - 2
    return fr, fc, fold, sr, sc


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 3000), n=st.integers(1, 700), k=st.integers(1, 3000),
       rows=st.sampled_from([4, 8, 16, 32, 128]), cols=st.sampled_from([4, 8, 16, 32, 64]),
       df=st.sampled_from(["os", "ws", "is"]))
def test_gemm_layer_follows_the_closed_forms(m, n, k, rows, cols, df):
    layer = ScaleSimLayer("g", m, k, 1, k, 1, n, 1, rows, cols, df)
    stats = compute_stats(layer)
    fr, fc, fold, sr, sc = _closed_form(m, n, k, rows, cols, df)
    assert stats.compute_cycles == fr * fc * fold - 1
    assert stats.mapping_efficiency == pytest.approx(100 * sr * sc / (fr * rows * fc * cols))
    expected = {"os": (fc * m * k, fr * k * n, m * n + fr * fc * (rows + cols)),
                "ws": (fc * m * k, k * n, fr * m * n),
                "is": (m * k, fc * k * n, fr * m * n)}[df]
    assert (stats.ifmap_sram_reads, stats.filter_sram_reads, stats.ofmap_sram_writes) == expected


CONV_HEADER = "name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Strides,\n"
RESNET_LIKE = CONV_HEADER + """conv1, 230, 230, 7, 7, 3, 64, 2,
res2a, 58, 58, 3, 3, 64, 64, 1,
res3a_down, 56, 56, 1, 1, 64, 128, 2,
res5c, 9, 9, 3, 3, 512, 512, 1,
fc, 1, 1, 1, 1, 512, 1000, 1,
"""
MOBILENET_LIKE = CONV_HEADER + """conv1, 225, 225, 3, 3, 3, 32, 2,
DP_conv2, 114, 114, 3, 3, 32, 1, 1,
pw2, 112, 112, 1, 1, 32, 64, 1,
"""
BERT_GEMMS = """Layer, M, N, K,
qkv, 128, 2304, 768,
scores, 128, 128, 64,
context, 128, 64, 128,
ffn1, 128, 3072, 768,
ffn2, 128, 768, 3072,
"""


@pytest.mark.parametrize("text,input_type", [(RESNET_LIKE, "conv"), (MOBILENET_LIKE, "conv"),
                                             (BERT_GEMMS, "gemm")])
@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_own_topologies_against_closed_forms(tmp_path, text, input_type, df):
    topo = tmp_path / "t.csv"
    topo.write_text(text)
    config = systolic_config(32, 16, df)
    run = simulate_layers(config, topo, input_type)
    expected_rows = []
    for row in read_topology_layers(topo, input_type):
        eh = math.ceil((row.ifmap_h - row.filter_h + row.stride) / row.stride)
        ew = math.ceil((row.ifmap_w - row.filter_w + row.stride) / row.stride)
        channels = 1 if row.depthwise else row.channels
        m, n, k = eh * ew, row.num_filters, row.filter_h * row.filter_w * channels
        fr, fc, fold, _, _ = _closed_form(m, n, k, 32, 16, df)
        cycles = fr * fc * fold - 1
        expected_rows += [(cycles, 100 * m * n * k / (cycles * 32 * 16))] * (
            row.channels if row.depthwise else 1)
    assert len(run.compute_rows) == len(expected_rows)
    for row, (cycles, util) in zip(run.compute_rows, expected_rows, strict=True):
        assert row["Total Cycles"] == cycles
        assert row["Stall Cycles"] == 0
        assert row["Overall Util %"] == pytest.approx(util)


@needs_ref
def test_depthwise_rows_split_per_channel():
    """dw_example: a 4-channel DP layer is 4 layers of its own (SEMANTICS §2.4)."""
    config = load_config(SCALESIM_REF / "configs" / "scale_32x32_os.cfg")
    run = simulate_layers(config, SCALESIM_REF / "topologies" / "dw_example.csv")
    names = [layer.name for layer in run.layers]
    assert names[:4] == [f"DP_dw3x3Channel_{i}" for i in range(4)]
    # SCALE-Sim 3.0.0 on this input prints, per channel layer: 496, 0, 0.3473097278225806,
    # 2.734375, 0.3466109154929578; and for the dense one-filter layer 685, 0, 1.0059306569343065
    rows = _ours(run.compute_rows)
    assert [r[2:] for r in rows[:4]] == [["496", "0", "0.3473097278225806", "2.734375",
                                         "0.3466109154929578"]] * 4
    assert rows[4][2:5] == ["685", "0", "1.0059306569343065"]
    # written as a dense conv with one filter, the same MACs map very differently
    assert run.layers[4].k == 36 and run.layers[4].n == 1


def test_topology_graph_for_the_native_model(tmp_path):
    topo = tmp_path / "m.csv"
    topo.write_text(MOBILENET_LIKE)
    graph = read_topology(topo)
    convs = {op.name: op for op in graph.ops}
    assert convs["DP_conv2"].attrs["group"] == 32
    assert graph.tensor("DP_conv2.Y").shape == (1, 32, 112, 112)  # floor: unpadded
    assert graph.tensor("conv1.Y").shape == (1, 32, 112, 112)
    gemm = tmp_path / "g.csv"
    gemm.write_text(BERT_GEMMS)
    g = read_topology(gemm, "gemm")
    assert g.tensor("qkv.C").shape == (128, 2304)


@pytest.mark.parametrize("text,message", [
    ("h\nconv1, 224, 224, 11, 11, 3, 96, 4\n", "end every row with a trailing comma"),
    ("h\nconv1, 224, 224, 11, 11, three, 96, 4,\n", "Channels: got 'three'"),
    ("h\nconv1, 8, 8, 11, 11, 3, 96, 4,\n", "larger than the 8x8 IFMAP"),
    ("h\n\n", "no layer rows"),
])
def test_bad_topology_rows_name_file_and_line(tmp_path, text, message):
    topo = tmp_path / "bad.csv"
    topo.write_text(text)
    with pytest.raises(WorkloadError, match=message) as err:
        read_topology_layers(topo)
    if "no layer" not in message:
        assert f"{topo}:2" in str(err.value)


@needs_ref
def test_cli_writes_the_three_reports_under_run_name(tmp_path, capsys):
    cfg = SCALESIM_REF / "configs" / "scale_32x32_ws.cfg"
    topo = SCALESIM_REF / "topologies" / "alexnet.csv"
    assert main(["scalesim", "-c", str(cfg), "-t", str(topo), "-p", str(tmp_path),
                 "-l", "ignored.csv"]) == 0
    out = tmp_path / "scale_32x32_ws"
    for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
        ours = (out / name).read_text().splitlines()
        theirs = (SCALESIM_REF / "reports" / "alexnet" / "scale_32x32_ws" / name).read_text()
        assert ours[0] == theirs.splitlines()[0]  # SCALE-Sim's header, byte for byte
        assert len(ours) == 6
    assert "Mapping Efficiency" in capsys.readouterr().out


@needs_ref
def test_cli_gemm_input_type(tmp_path):
    cfg = SCALESIM_REF / "configs" / "scale_golden_user_os.cfg"
    topo = SCALESIM_REF / "topologies" / "test_mnk_input.csv"
    assert main(["scalesim", "-c", str(cfg), "-t", str(topo), "-i", "gemm",
                 "-p", str(tmp_path)]) == 0
    rows = (tmp_path / "scale_example_run_32x32_ws" / "COMPUTE_REPORT.csv").read_text()
    assert rows.splitlines()[1].startswith("0, ")


def test_cli_bad_topology_row_exits_2(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text("header\nconv1, 224, 224, 11, 11, 3, 96, 4\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kind: systolic\narray: {rows: 8, cols: 8}\n")
    assert main(["scalesim", "-c", str(cfg), "-t", str(topo), "-p", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{topo}:2" in err and "trailing comma" in err and "Traceback" not in err
    assert not (tmp_path / "systolic").exists()  # nothing half-written


@pytest.mark.parametrize("edit,message", [
    (("Dataflow : ws", "Dataflow : xs"), "array.dataflow: got 'xs'"),
    (("ArrayHeight:    32", "ArrayHeight:    big"), "ArrayHeight: got 'big'"),
    (("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST"), "accepted: CALC, USER"),
    (("IfmapCustomLayout: False", "IfmapCustomLayout: True"), "True is not modelled"),
    (("SparsitySupport : false", "SparsitySupport : true"), "True is not modelled"),
])
@needs_ref
def test_bad_cfg_names_line_and_key(tmp_path, capsys, edit, message):
    text = (SCALESIM_REF / "configs" / "scale_32x32_ws.cfg").read_text()
    assert edit[0] in text
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text.replace(edit[0], edit[1]))
    topo = SCALESIM_REF / "topologies" / "alexnet.csv"
    assert main(["scalesim", "-c", str(cfg), "-t", str(topo), "-p", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(edit[0][:8]))
    assert message in err and f"bad.cfg:{line}" in err


@needs_ref
def test_cfg_meaning():
    config = load_config(SCALESIM_REF / "configs" / "scale_golden_user_is.cfg")
    assert (config.array.rows, config.array.cols, config.array.dataflow) == (32, 32, "is")
    assert config.sram.ifmap_kb == 64 and config.word_bytes == 1
    assert config.scalesim.bandwidth_mode == "user"
    assert config.scalesim.run_name == "scale_example_run_32x32_ws"
