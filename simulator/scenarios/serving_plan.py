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

The *adaptive* block (:meth:`BlockPlanner.target_block`, VELTAIR's layer-block) also takes its
extent from the target split. The slack is split across the remaining layers as the
layer-by-layer plan above spends it: each layer's share is its planned cycles and one dispatch,
scaled so the shares add up to the slack. The block is grown layer by layer while the fewest
cores that run it within the sum of its layers' shares (one dispatch included) are no more than
the cores free now. On a free chip with slack to spare a block covers many layers; when few
cores are free or the budget is tight it is split, down to one layer that asks for the cores its
share needs (a conflict if fewer are free).
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
        self._layer_plans: dict[int, tuple[np.ndarray, np.ndarray]] = {}

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

    def _layer_plan(self, start: int) -> tuple[np.ndarray, np.ndarray]:
        """For every multiplier: the layer-by-layer plan's total cycles (dispatches included)
        and its cycles per remaining layer (M, L - start)."""
        hit = self._layer_plans.get(start)
        if hit is not None:
            return hit
        iso = np.diff(self.cum[start:], axis=0)                                 # (R, C)
        cost = (self.options[None, None, :] + LAMBDAS[:, None, None]) * iso[None]
        choice = np.argmin(cost, axis=2)                                        # (M, R)
        times = np.take_along_axis(np.broadcast_to(iso, cost.shape), choice[..., None],
                                   axis=2)[..., 0]
        plan = (times.sum(axis=1) + self.overhead * iso.shape[0], times)
        self._layer_plans[start] = plan
        return plan

    def target_block(self, start: int, slack: float, free: int, max_layers: int
                     ) -> tuple[int, int]:
        """The adaptive block from ``start`` (see the module doc): ``(end layer, cores asked)``
        with ``slack`` cycles left and ``free`` cores free, at most ``max_layers`` long."""
        total, times = self._layer_plan(start)
        fits = np.nonzero(total <= slack)[0]
        m = int(fits[0]) if len(fits) else len(total) - 1      # else the fastest plan, scaled
        share = (times[m] + self.overhead) * (slack / total[m])   # per layer, sums to the slack
        stop = min(self.layers, start + max_layers)
        budget = np.cumsum(share[:stop - start])                                # (E,)
        need = self.cum[start + 1:stop + 1] - self.cum[start] + self.overhead   # (E, C)
        ok = need <= budget[:, None]
        usable = ok & (self.options[None, :] <= free)
        grown = np.logical_and.accumulate(usable.any(axis=1))
        if not grown[0]:      # the first layer's share needs more cores than are free
            ci = int(np.argmax(ok[0])) if ok[0].any() else int(np.argmin(need[0]))
            return start + 1, int(self.options[ci])
        e = int(np.nonzero(grown)[0][-1])
        return start + 1 + e, int(self.options[int(np.argmax(usable[e]))])
