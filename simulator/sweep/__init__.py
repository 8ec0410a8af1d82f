"""Design-space sweeps: specs, local and Dask runners, a resumable results store, plots.

``archsim sweep SPEC --out DIR`` is :func:`run_sweep`; ``archsim plot`` is
:func:`simulator.sweep.plot.plot_results`. Dask and matplotlib are imported only on the paths
that use them.
"""

from simulator.sweep.frame import load_sweep
from simulator.sweep.runner import SweepReport, default_workers, run_sweep
from simulator.sweep.spec import Point, SweepError, SweepSpec, load_spec, parse_spec
from simulator.sweep.store import ResultStore

__all__ = ["Point", "ResultStore", "SweepError", "SweepReport", "SweepSpec", "default_workers",
           "load_spec", "load_sweep", "parse_spec", "run_sweep"]
