"""Shared fixtures: paths to shipped configs and the public SCALE-Sim reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
REFERENCE = ROOT.parent / "shared" / "reference"
SCALESIM_REF = REFERENCE / "scalesim"

# Tests against the public reference data skip when shared/ is not beside the checkout (a user's
# own clone); in CI it is always there, so a missing copy must fail loudly, not skip quietly.
if os.environ.get("CI") and not REFERENCE.is_dir():
    raise RuntimeError(f"CI run without the reference data: {REFERENCE} is missing")


@pytest.fixture
def root() -> Path:
    return ROOT


def systolic_config(rows=32, cols=32, dataflow="ws", bandwidth=1e12, latency=0, **extra):
    """A systolic config built in code; huge bandwidth by default so DMA never limits compute."""
    from simulator.api import config_from_dict

    data = {"kind": "systolic", "name": f"t{rows}x{cols}{dataflow}",
            "array": {"rows": rows, "cols": cols, "dataflow": dataflow},
            "dram": {"bandwidth": bandwidth, "latency": latency}}
    data.update(extra)
    return config_from_dict(data)
