"""Energy and area model: per-event energies, leakage and area of a hardware config.

Every number below names its source; docs/energy.md explains the model and compares it with
Accelergy/CACTI. What the model computes, for a config and a run's event counts:

* dynamic energy = MACs x E_mac + vector ops x E_vec + SRAM bytes read x E_sram_rd +
  SRAM bytes written x E_sram_wr + DRAM bytes read/written x E_dram;
* leakage energy = sum over components of their leakage power x run time (cycles / clock);
* area = sum over components of their area.

The built-in figures are 45 nm figures; ``energy.node_nm`` scales on-chip energies, leakage and
area to another node with Stillmaker & Baas's equations (DRAM energy is off-chip and not
scaled). Numbers a config pins (``mac_pj``, ``sram_pj_per_byte``, ...) are taken as 45 nm figures
too; energies read from an Accelergy ERT (``energy.ert``) are used exactly as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KIB = 1024

# --------------------------------------------------------------------------------------------
# SRAM access energy vs capacity and width (45 nm)

#: Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, slide
#: "Memory energy" (45 nm): a 64-bit access to an 8 KB, 32 KB and 1 MB SRAM costs about 10, 20
#: and 100 pJ. (capacity in bytes, pJ per 64-bit access)
HOROWITZ_SRAM_64BIT: tuple[tuple[int, float], ...] = (
    (8 * KIB, 10.0), (32 * KIB, 20.0), (1024 * KIB, 100.0))


def _power_law_fit(points: tuple[tuple[int, float], ...]) -> tuple[float, float]:
    """Least-squares line through (log depth, log energy): energy = a * depth ** b, with depth
    the number of 64-bit words (capacity / 8 bytes)."""
    xs = [math.log(c / 8) for c, _ in points]
    ys = [math.log(e) for _, e in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


#: energy of a 64-bit access = SRAM_FIT_A * words ** SRAM_FIT_B (45 nm, pJ): the fit through
#: Horowitz's three points (b ~ 0.47; CACTI's depth exponent as Accelergy's hwcomponents
#: measures it is 0.78, see docs/energy.md)
SRAM_FIT_A, SRAM_FIT_B = _power_law_fit(HOROWITZ_SRAM_64BIT)

#: CACTI 7 run shipped with Accelergy (accelergy/share/estimation_plug_ins/cacti/cacti7_exec/
#: out.csv: 65 nm, 448 B, 16-bit, 2 ports): dynamic read 1.04792 pJ, write 1.6894 pJ,
#: standby leakage 0.39434 mW, area 0.00688911 mm^2
CACTI7_READ_PJ, CACTI7_WRITE_PJ = 1.04792, 1.6894
CACTI7_LEAK_MW, CACTI7_BITS, CACTI7_NODE_NM = 0.39434, 448 * 8, 65
#: a write costs this many reads (the CACTI 7 run above)
SRAM_WRITE_OVER_READ = CACTI7_WRITE_PJ / CACTI7_READ_PJ


def sram_access_pj(capacity_bytes: float, width_bits: int = 64) -> float:
    """45 nm energy of one ``width_bits`` read of an SRAM of ``capacity_bytes``: linear in the
    width at a fixed depth (the bit lines and sense amplifiers that fire), and Horowitz's power
    law in the depth (words of ``width_bits``), as Accelergy's hwcomponents scales SRAMs."""
    depth = max(1.0, capacity_bytes * 8 / width_bits)
    return SRAM_FIT_A * depth ** SRAM_FIT_B * width_bits / 64


def sram_read_pj_per_byte(capacity_bytes: float, width_bits: int = 64) -> float:
    return sram_access_pj(capacity_bytes, width_bits) / (width_bits / 8)


# --------------------------------------------------------------------------------------------
# Technology-node scaling: Stillmaker & Baas, "Scaling equations for the accurate prediction of
# CMOS device performance from 180 nm to 7 nm", Integration 58 (2017) 74-81, as tabulated in
# Accelergy's hwcomponents (hwcomponents/scaling/techscaling.py).

TECH_NODES_NM = (130, 90, 65, 45, 32, 20, 16, 14, 10, 7)
#: energy per operation at a node = a*Vdd^2 + b*Vdd + c (relative units); the ratio of two nodes'
#: polynomials at one Vdd is the energy scaling factor
ENERGY_POLY = ((7.171, -6.709, 2.904), (4.762, -4.781, 2.092), (3.755, -4.398, 1.975),
               (1.103, -0.362, 0.2767), (0.9559, -0.7823, 0.471), (0.373, -0.1582, 0.04104),
               (0.2958, -0.1241, 0.03024), (0.2363, -0.09675, 0.02239),
               (0.2068, -0.09311, 0.02375), (0.1776, -0.09097, 0.02447))
#: area of a 45 nm design at each node of TECH_NODES_NM (the 45 nm row of the area table)
AREA_FROM_45 = (6.4, 2.8, 1.5, 1.0, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059)


def _node_index(node_nm: float) -> float:
    """Fractional index of ``node_nm`` in TECH_NODES_NM (linear between neighbours)."""
    if not TECH_NODES_NM[-1] <= node_nm <= TECH_NODES_NM[0]:
        raise ValueError(f"technology node {node_nm:g} nm outside {TECH_NODES_NM[-1]}-"
                         f"{TECH_NODES_NM[0]} nm")
    for i in range(len(TECH_NODES_NM) - 1):
        big, small = TECH_NODES_NM[i], TECH_NODES_NM[i + 1]
        if small <= node_nm <= big:
            return i + (big - node_nm) / (big - small)
    return float(len(TECH_NODES_NM) - 1)


def _interp(values: tuple[float, ...], x: float) -> float:
    lo = math.floor(x)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] * (1 - (x - lo)) + values[hi] * (x - lo)


def energy_poly(node_nm: float, vdd: float) -> float:
    """Stillmaker & Baas's energy polynomial at ``node_nm`` and ``vdd`` (interpolated
    linearly between tabulated nodes, as hwcomponents does)."""
    x = _node_index(node_nm)
    per_node = tuple(a * vdd * vdd + b * vdd + c for a, b, c in ENERGY_POLY)
    return _interp(per_node, x)


def energy_factor(node_nm: float, vdd: float = 0.8, from_nm: float = 45) -> float:
    """Energy (and leakage power) of a design at ``node_nm`` over the same at ``from_nm``."""
    if node_nm == from_nm:
        return 1.0
    return energy_poly(node_nm, vdd) / energy_poly(from_nm, vdd)


def area_factor(node_nm: float) -> float:
    """Area of a 45 nm design at ``node_nm``, over its 45 nm area."""
    return _interp(AREA_FROM_45, _node_index(node_nm))


# --------------------------------------------------------------------------------------------
# Datapath area and leakage (45 nm unless said)

#: Horowitz ISSCC 2014, 45 nm: area in um^2 of a multiplier and of an adder
HOROWITZ_AREA_UM2 = {"int8_mult": 282.0, "int32_add": 137.0, "fp16_mult": 1640.0,
                     "fp16_add": 1360.0, "fp32_mult": 7700.0, "fp32_add": 4184.0}
#: Horowitz ISSCC 2014, 45 nm: energy in pJ (documentation and tests; mac_pj defaults to the
#: 8-bit multiply, 0.2 pJ)
HOROWITZ_ENERGY_PJ = {"int8_add": 0.03, "int32_add": 0.1, "int8_mult": 0.2, "int32_mult": 3.1,
                      "fp16_add": 0.4, "fp16_mult": 1.1, "fp32_add": 0.9, "fp32_mult": 3.7}
#: Aladdin's 40 nm component table (Shao et al., ISCA 2014, as in Accelergy's hwcomponents-library
#: aladdin.py): leakage in W of a 32-bit adder and a 32-bit multiplier; a multiplier's leakage
#: scales with its width squared, an adder's linearly
ALADDIN_LEAK_W = {"add32": 2.40e-6, "mult32": 8.00e-5}
ALADDIN_NODE_NM = 40


def mac_area_um2(bits: int) -> float:
    """One MAC at 45 nm (Horowitz): an 8-bit integer multiplier with a 32-bit accumulator;
    16-bit data: fp16 multiply, fp32 accumulate; 32-bit and wider: fp32 both."""
    if bits <= 8:
        return HOROWITZ_AREA_UM2["int8_mult"] + HOROWITZ_AREA_UM2["int32_add"]
    if bits <= 16:
        return HOROWITZ_AREA_UM2["fp16_mult"] + HOROWITZ_AREA_UM2["fp32_add"]
    return HOROWITZ_AREA_UM2["fp32_mult"] + HOROWITZ_AREA_UM2["fp32_add"]


def mac_leak_w(bits: int, vdd: float = 0.8) -> float:
    """One MAC's leakage at 45 nm: Aladdin's multiplier at ``bits`` (width squared) plus a
    32-bit accumulating adder, scaled from 40 nm."""
    mult = ALADDIN_LEAK_W["mult32"] * (min(bits, 32) / 32) ** 2
    return (mult + ALADDIN_LEAK_W["add32"]) * energy_factor(45, vdd, ALADDIN_NODE_NM)


def lane_area_um2() -> float:
    """A vector lane at 45 nm: one 32-bit adder (Horowitz)."""
    return HOROWITZ_AREA_UM2["int32_add"]


def lane_leak_w(vdd: float = 0.8) -> float:
    """A vector lane's leakage at 45 nm: Aladdin's 32-bit adder, scaled from 40 nm."""
    return ALADDIN_LEAK_W["add32"] * energy_factor(45, vdd, ALADDIN_NODE_NM)


#: SRAM bit cell plus its share of the periphery: about 600 lambda^2 with lambda the feature
#: size (D. J. Greaves, "45nm SRAM memory area and power consumption", Cambridge SoC D/M
#: lecture notes, rules of thumb from CACTI): 600 x 0.045^2 um^2 = 1.215 um^2 per bit at 45 nm
SRAM_UM2_PER_BIT_45 = 600 * 0.045 ** 2


def sram_area_um2(capacity_bytes: float) -> float:
    return capacity_bytes * 8 * SRAM_UM2_PER_BIT_45


def sram_leak_w_per_bit(vdd: float = 0.8) -> float:
    """SRAM leakage per bit at 45 nm: the CACTI 7 run's (high-performance transistors, a
    448-byte two-port array whose periphery weighs in), scaled from 65 nm; an upper figure for
    large arrays in a low-power process (docs/energy.md)."""
    return CACTI7_LEAK_MW * 1e-3 / CACTI7_BITS * energy_factor(45, vdd, CACTI7_NODE_NM)


def sram_leak_w(capacity_bytes: float, vdd: float = 0.8, nw_per_bit: float | None = None
                ) -> float:
    """SRAM leakage at 45 nm, linear in the bits (as hwcomponents scales CACTI's)."""
    per_bit = sram_leak_w_per_bit(vdd) if nw_per_bit is None else nw_per_bit * 1e-9
    return capacity_bytes * 8 * per_bit


# --------------------------------------------------------------------------------------------
# A config's components


@dataclass(frozen=True)
class Component:
    """``count`` identical units of one kind (``mac``, ``sram``, ``vector``) at 45 nm.
    An SRAM is one bank of ``capacity_bytes``; ``charged`` banks price the SRAM bytes the
    trace counts (the trace does not say which buffer a byte went to)."""

    name: str
    kind: str
    count: int
    bits: int = 8
    capacity_bytes: float = 0.0
    charged: bool = False


def components(config: Any) -> list[Component]:
    """What a config is built of, read from the fields the built-in kinds declare; a kind
    without them (a plug-in) is its ``pe_count`` MACs."""
    bits = 8 * int(getattr(config, "word_bytes", 1))
    kind = getattr(config, "kind", "")
    out: list[Component] = []

    def operand_srams(sram: Any, copies: int, prefix: str = "") -> None:
        for field in ("ifmap_kb", "filter_kb", "ofmap_kb"):   # double-buffered: two halves
            kb = getattr(sram, field)
            out.append(Component(f"{prefix}sram.{field[:-3]}", "sram", 2 * copies,
                                 capacity_bytes=kb * KIB / 2, charged=True))

    if kind == "systolic":
        out.append(Component("array", "mac", config.pe_count, bits))
        operand_srams(config.sram, 1)
        out.append(Component("vector", "vector", config.vector.lanes))
    elif kind == "npu":
        core, n = config.core, config.cores
        out.append(Component("core.array", "mac", n * core.array.rows * core.array.cols, bits))
        operand_srams(core.sram, n, "core.")
        if core.scratchpad_kb:
            out.append(Component("core.scratchpad", "sram", n,
                                 capacity_bytes=core.scratchpad_kb * KIB, charged=True))
        out.append(Component("core.vector", "vector", n * core.vector.lanes))
    elif kind == "sparse_tc":
        out.append(Component("tensor_cores", "mac", config.pe_count, bits))
        out.append(Component("l2", "sram", 1, capacity_bytes=config.l2.kb * KIB, charged=True))
        out.append(Component("cuda", "vector", config.sms * config.cuda.lanes))
    elif kind == "zipper":
        out.append(Component("gemm", "mac", config.pe_count, bits))
        for field in ("vertex_kb", "edge_kb", "weight_kb"):
            out.append(Component(f"buffers.{field[:-3]}", "sram", 1,
                                 capacity_bytes=getattr(config.buffers, field) * KIB,
                                 charged=True))
        out.append(Component("vector", "vector", config.vector.lanes))
        out.append(Component("gather", "vector", config.gather.lanes))
    else:
        out.append(Component("pes", "mac", int(getattr(config, "pe_count", 1)), bits))
    return out


# --------------------------------------------------------------------------------------------
# Per-event energies of a config


@dataclass(frozen=True)
class EventEnergies:
    """pJ per MAC, per vector op, per byte read/written in SRAM and DRAM, and leakage in pJ per
    cycle; ``area_mm2`` by component kind (and ``total``)."""

    mac: float
    vector: float
    sram_read: float
    sram_write: float
    dram_read: float
    dram_write: float
    leakage_per_cycle: float
    area_mm2: dict[str, float]

    def split(self, macs: int, nbytes: dict[str, int], vector_ops: int, cycles: int
              ) -> dict[str, float]:
        """Energy of ``macs`` MACs, ``vector_ops`` vector ops, ``nbytes`` moved and ``cycles``
        of leakage, by part (pJ): the parts add up to ``total``."""
        sram_read = nbytes.get("sram_read", 0) * self.sram_read
        sram_write = nbytes.get("sram_write", 0) * self.sram_write
        dram_read = nbytes.get("dram_read", 0) * self.dram_read
        dram_write = nbytes.get("dram_write", 0) * self.dram_write
        mac = macs * self.mac
        vector = vector_ops * self.vector
        leakage = cycles * self.leakage_per_cycle
        sram, dram = sram_read + sram_write, dram_read + dram_write
        return {"mac": mac, "vector": vector, "sram": sram, "dram": dram, "leakage": leakage,
                "sram_read": sram_read, "sram_write": sram_write, "dram_read": dram_read,
                "dram_write": dram_write, "total": mac + vector + sram + dram + leakage}


def event_energies(table: Any, hardware: Any = None) -> EventEnergies:
    """The per-event energies of an ``EnergyTable`` on a config's hardware (``hardware``: the
    config; None: only the table's numbers, no SRAM capacity known, no leakage or area).

    Order of precedence for each event: an ERT entry (``table.ert``), a number the table pins,
    the built-in model. On-chip built-in and pinned figures are scaled from 45 nm to
    ``table.node_nm``."""
    scale = energy_factor(table.node_nm, table.vdd)
    comps = components(hardware) if hardware is not None else []
    charged = [c for c in comps if c.kind == "sram" and c.charged]
    if table.sram_pj_per_byte is not None:
        sram_read = table.sram_pj_per_byte * scale
    elif charged:   # the mean per-byte read energy of the buffers a byte may have touched
        sram_read = scale * sum(sram_read_pj_per_byte(c.capacity_bytes, table.sram_access_bits)
                                for c in charged) / len(charged)
    else:   # no buffer known (a plug-in kind): Horowitz's 8 KB SRAM, 10 pJ per 64 bits
        sram_read = scale * sram_read_pj_per_byte(8 * KIB)
    if table.sram_write_pj_per_byte is not None:
        sram_write = table.sram_write_pj_per_byte * scale
    elif table.sram_pj_per_byte is not None:
        sram_write = sram_read   # the flat table: one figure for reads and writes
    else:
        sram_write = sram_read * SRAM_WRITE_OVER_READ
    dram_read = table.dram_pj_per_byte
    dram_write = (table.dram_write_pj_per_byte if table.dram_write_pj_per_byte is not None
                  else dram_read)
    energies = {"mac": table.mac_pj * scale, "vector": table.vector_pj_per_op * scale,
                "sram_read": sram_read, "sram_write": sram_write, "dram_read": dram_read,
                "dram_write": dram_write}
    energies.update(table.ert_energies())
    leak_w = 0.0
    area = {"mac": 0.0, "sram": 0.0, "vector": 0.0}
    for c in comps:
        if c.kind == "mac":
            leak_w += c.count * mac_leak_w(c.bits, table.vdd)
            area["mac"] += c.count * mac_area_um2(c.bits)
        elif c.kind == "sram":
            leak_w += c.count * sram_leak_w(c.capacity_bytes, table.vdd,
                                            table.sram_leak_nw_per_bit)
            area["sram"] += c.count * sram_area_um2(c.capacity_bytes)
        else:
            leak_w += c.count * lane_leak_w(table.vdd)
            area["vector"] += c.count * lane_area_um2()
    clock_ghz = float(getattr(hardware, "clock_ghz", 1.0) or 1.0)
    leak_pj_per_cycle = leak_w * scale * 1e3 / clock_ghz if table.counts_leakage() else 0.0
    area_mm2 = {k: v * 1e-6 * area_factor(table.node_nm) for k, v in area.items()} \
        if comps else {}
    if area_mm2:
        area_mm2["total"] = sum(area_mm2.values())
    return EventEnergies(leakage_per_cycle=leak_pj_per_cycle, area_mm2=area_mm2, **energies)
