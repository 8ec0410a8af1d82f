"""``python -m simulator.cli``: the same as the ``archsim`` console script."""

from simulator.cli import entry

entry()
