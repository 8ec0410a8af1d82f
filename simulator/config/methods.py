"""What configs compute from their fields, without pydantic: the dataflow mapping and the
methods of the config models (``pe_count``, ``macs_per_pe``, ``counts_leakage``,
``ert_energies``), written once. The pydantic models derive from these mixins, and so do the
plain objects :mod:`simulator.config.plain` builds for a run that does not import pydantic.
"""

from __future__ import annotations

#: What each dataflow maps onto the array's rows, onto its columns, and streams in time, for a
#: GEMM C[M x N] = A[M x K] x B[K x N] (SCALE-Sim's mapping): the lowering tiles by it and the
#: fold rule (simulator.hw.fold) times by it.
SPATIAL = {"os": ("m", "n", "k"), "ws": ("k", "n", "m"), "is": ("k", "m", "n")}


def spatial(dataflow: str, m: int, n: int, k: int) -> tuple[int, int, int]:
    """(Sr, Sc, T): the GEMM extents on the rows, on the columns and in time."""
    dims = {"m": m, "n": n, "k": k}
    sr, sc, t = (dims[d] for d in SPATIAL[dataflow])
    return sr, sc, t


class HardwareMethods:
    """Of every kind (``HardwareConfig``)."""

    __slots__ = ()

    @property
    def pe_count(self) -> int:
        """Multiply-accumulate units (utilization's denominator); kinds override it."""
        return 1


class SystolicMethods(HardwareMethods):
    """Of ``kind: systolic`` (``SystolicConfig``)."""

    __slots__ = ()

    @property
    def pe_count(self) -> int:
        return self.array.rows * self.array.cols

    def macs_per_pe(self, weight_bits: int | None) -> int:
        """MACs a PE runs per cycle on weights of ``weight_bits`` (None: ``word_bytes`` x 8)."""
        if not self.precision_scalable:
            return 1
        word = self.word_bytes * 8
        return max(1, (self.datapath_bits or word) // (weight_bits or word))


class EnergyMethods:
    """Of the energy table (``EnergyTable``)."""

    __slots__ = ()

    def counts_leakage(self) -> bool:
        """Leakage is counted unless switched off, or the flat table is pinned (see
        ``EnergyTable``)."""
        return self.leakage if self.leakage is not None else self.sram_pj_per_byte is None

    def ert_energies(self) -> dict[str, float]:
        """Per-event energies the ERT gives: pJ per MAC or vector op, pJ per byte for the
        memory events (an access's energy over the bytes it moves), used as written."""
        if self.ert_table is None:
            return {}
        from simulator.config.ert import default_map

        chosen = {e: (c, a, None)
                  for e, (c, a) in default_map(self.ert_table, self.ert_map).items()}
        chosen.update({e: (m.component, m.action, m.bytes) for e, m in self.ert_map.items()})
        out = {}
        for event, (comp, action, nbytes) in chosen.items():
            pj = self.ert_table[comp][action]
            out[event] = pj if event in ("mac", "vector") else pj / (nbytes or 8)
        return out
