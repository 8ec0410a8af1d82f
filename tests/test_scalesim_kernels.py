"""The two kernels of SCALE-Sim's memory loop agree: the C extension (fast to load, no numpy)
and the numba kernel (the fallback, and the one tests/test_scalesim_memory.py checks against
SCALE-Sim's literal demand matrices). Both are then checked against SCALE-Sim's own reports by
tests/test_scalesim*.py through the default kernel."""

from __future__ import annotations

import pytest
from conftest import SCALESIM_REF
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.scalesim import simulate_layers
from simulator.scalesim.mapping import ScaleSimLayer
from simulator.scalesim.memory import default_kernel, run_kernel
from simulator.scalesim.setup import ScaleSimSetup

needs_c = pytest.mark.skipif(default_kernel() != "c",
                             reason="the C extension simulator.scalesim._memloop is not built")


@st.composite
def layers(draw):
    """Small convs and GEMMs with edge folds, border windows and strides, on odd arrays."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(fh, 14)), draw(st.integers(fw, 14))
    return ScaleSimLayer("l", h, w, fh, fw, draw(st.integers(1, 5)), draw(st.integers(1, 12)),
                         draw(st.integers(1, 3)), draw(st.integers(1, 9)),
                         draw(st.integers(1, 9)), draw(st.sampled_from(["os", "ws", "is"])))


@st.composite
def setups(draw, layer: ScaleSimLayer):
    """SRAMs from a fraction of a KiB (groups that close often, buffers that stall) up."""
    kb = st.sampled_from([0.05, 0.2, 0.5, 1, 3, 64])
    return ScaleSimSetup("t", layer.rows, layer.cols, layer.dataflow, draw(kb), draw(kb),
                         draw(kb), draw(st.sampled_from(["calc", "user"])),
                         draw(st.integers(1, 12)), draw(st.integers(1, 12)),
                         draw(st.integers(1, 12)))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_c_and_numba_kernels_give_the_same_result_vector(data):
    layer = data.draw(layers())
    setup = data.draw(setups(layer))
    assert run_kernel(layer, setup, "c") == run_kernel(layer, setup, "numba")


CASES = [("scale_32x32_is.cfg", "alexnet.csv", "conv"),
         ("scale_golden_calc.cfg", "alexnet_part.csv", "conv"),
         ("scale_golden_user_os.cfg", "test_mnk_input.csv", "gemm"),
         ("scale_32x32_ws_USER.cfg", "test_mnk_input.csv", "gemm")]


@needs_c
@pytest.mark.skipif(not SCALESIM_REF.is_dir(), reason="shared/reference not beside the repo")
@pytest.mark.parametrize("cfg,topology,input_type", CASES)
def test_kernels_agree_on_reference_runs(cfg, topology, input_type):
    from simulator.scalesim.setup import read_setup

    setup = read_setup(SCALESIM_REF / "configs" / cfg)
    runs = [simulate_layers(setup, SCALESIM_REF / "topologies" / topology, input_type, kernel=k)
            for k in ("c", "numba")]
    assert [(r.compute_rows, r.bandwidth_rows, r.detail_rows) for r in runs][0] == \
        (runs[1].compute_rows, runs[1].bandwidth_rows, runs[1].detail_rows)
