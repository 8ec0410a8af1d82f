"""``archsim scalesim`` reads a .cfg without pydantic: the fast path must give exactly what the
config models give, and refuse exactly what they refuse, with the same located message."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import SCALESIM_REF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config.scalesim_cfg import load_scalesim_cfg
from simulator.config.systolic import SPATIAL
from simulator.errors import ArchsimError
from simulator.scalesim.mapping import SPATIAL as SCALESIM_SPATIAL
from simulator.scalesim.setup import ScaleSimSetup, read_setup

needs_ref = pytest.mark.skipif(not SCALESIM_REF.is_dir(),
                               reason="shared/reference not beside the repo")
KEYS = ["ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB",
        "Bandwidth", "Dataflow", "InterfaceBandwidth", "IfmapSRAMBankBandwidth",
        "FilterSRAMBankBandwidth", "ReadRequestBuffer", "WriteRequestBuffer", "IfmapOffset",
        "run_name"]
VALUES = ["0", "-3", "1", "7", "65536", "65537", "big", "1.5", "os", "ws", "is", "xs", "USER",
          "CALC", "user", "8, 9"]


def _outcome(read, path):
    try:
        return read(path)
    except ArchsimError as err:
        return f"error: {err}"


def _slow(path):
    return ScaleSimSetup.of(load_scalesim_cfg(path))


def test_scalesim_mapping_is_the_native_models():
    assert SCALESIM_SPATIAL == SPATIAL


@needs_ref
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)), max_size=3))
def test_fast_path_equals_the_config_models(tmp_path, edits):
    text = (SCALESIM_REF / "configs" / "scale_golden_user_is.cfg").read_text()
    for key, value in edits:
        text, count = re.subn(rf"^({key}\s*[:=]\s*).*$", rf"\g<1>{value}", text,
                              flags=re.MULTILINE)
        assert count == 1
    path = tmp_path / "edited.cfg"
    path.write_text(text)
    assert _outcome(read_setup, path) == _outcome(_slow, path)


@needs_ref
@pytest.mark.parametrize("cfg", sorted(p.name for p in (SCALESIM_REF / "configs").glob("*.cfg"))
                         if SCALESIM_REF.is_dir() else [])
def test_reference_configs_read_alike_without_pydantic(cfg):
    path = SCALESIM_REF / "configs" / cfg
    assert read_setup(path) == _slow(path)
    code = ("import sys\nfrom simulator.scalesim.setup import read_setup\n"
            f"read_setup({str(path)!r})\nprint(sorted(m for m in ('pydantic', 'numpy', 'yaml') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_yaml_and_other_kinds_go_through_the_models(tmp_path):
    yaml_cfg = tmp_path / "a.yaml"
    yaml_cfg.write_text("kind: systolic\nname: y\narray: {rows: 8, cols: 4, dataflow: is}\n"
                        "dram: {bandwidth: 12}\n")
    assert read_setup(yaml_cfg) == ScaleSimSetup("y", 8, 4, "is", 512, 512, 256,
                                                 ofmap_dram_bandwidth=12)
    npu = tmp_path / "n.yaml"
    npu.write_text("kind: npu\n")
    with pytest.raises(ArchsimError, match="scalesim needs a systolic config"):
        read_setup(npu)
