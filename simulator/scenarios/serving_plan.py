"""How many cores a block asks for: the request's remaining QoS slack split across its layers.

The remaining layers are cut into blocks of the policy's size (the whole model, one layer, or
``k`` layers) and every block gets one core count. Of all such assignments that fit the slack,
the request wants the one using the fewest core-cycles: for a multiplier ``lam`` every block
takes the core count minimising ``(cores + lam) * cycles`` (``lam = 0``: the most core-efficient
count, large ``lam``: the fastest), and the smallest ``lam`` whose plan fits the slack is used
(Lagrangian relaxation over a fixed grid of multipliers). The block about to run asks for its
core count in that plan. With one block (model-wise) this is the fewest cores that meet the
slack; finer blocks can give cores to the layers that scale and take them from those that do
not, which is why model-wise scheduling wastes cores. (VELTAIR's released code splits the
budget in proportion to MACs instead; equal marginal cost is the efficient split.)

Plans depend only on the tenant, the first remaining layer and the block size, so each is
computed once per run and reused by every request.
"""

from __future__ import annotations

import numpy as np

#: The multipliers tried, in cores: 0, then log-spaced from very core-frugal to the fastest.
LAMBDAS = np.concatenate([[0.0], np.logspace(-2, 4, 73)])


class BlockPlanner:
    """Core requests for one tenant from its isolated per-layer cycles ``iso`` (L, C)."""

    def __init__(self, iso: np.ndarray, options: list[int], overhead: float = 0.0) -> None:
        self.cum = np.vstack([np.zeros(iso.shape[1]), np.cumsum(iso, axis=0)])   # (L+1, C)
        self.options = np.asarray(options, dtype=np.float64)
        self.layers = iso.shape[0]
        self.overhead = overhead   # cycles every block pays before its first layer (dispatch)
        self._plans: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] = {}

    def _plan(self, start: int, size: int) -> tuple[np.ndarray, np.ndarray, int]:
        """For every multiplier: the plan's total cycles and the first block's core index;
        and the first block's fastest core index."""
        key = (start, size)
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        edges = np.append(np.arange(start, self.layers, size), self.layers)
        block = self.cum[edges[1:]] - self.cum[edges[:-1]]                 # (B, C)
        cost = (self.options[None, None, :] + LAMBDAS[:, None, None]) * block[None]  # (M, B, C)
        choice = np.argmin(cost, axis=2)                                   # (M, B)
        times = np.take_along_axis(np.broadcast_to(block, cost.shape), choice[..., None],
                                   axis=2)[..., 0]
        total = times.sum(axis=1) + self.overhead * len(block)             # (M,) non-increasing
        plan = (total, choice[:, 0], int(np.argmin(block[0])))
        self._plans[key] = plan
        return plan

    def cores(self, start: int, size: int, slack: float) -> int:
        """Cores the block of ``size`` layers from ``start`` asks for with ``slack`` cycles left
        for the rest of the request, dispatch overheads included (the fastest count if no plan
        fits)."""
        total, first, fastest = self._plan(start, size)
        fits = np.nonzero(total <= slack)[0]
        ci = int(first[fits[0]]) if len(fits) else fastest
        return int(self.options[ci])
