"""``archsim scalesim``: SCALE-Sim 3.0.0's three reports from closed forms, in a fraction of the
time. Compute columns and SRAM counts are exact; the memory columns come from
:mod:`simulator.scalesim.memory` (see docs/scalesim.md for how close they are)."""

from simulator.scalesim.run import ScaleSimRun, run_scalesim, simulate_layers

__all__ = ["ScaleSimRun", "run_scalesim", "simulate_layers"]
