"""Reading an Accelergy energy reference table (``energy: {ert: FILE}``).

Accelergy (Wu, Emer, Sze, ICCAD 2019) writes, per component of an architecture, the energy in
pJ of each of its actions. Three layouts are read:

* ``ERT_summary.yaml``, v0.3/v0.4: ``ERT_summary: {table_summary: [{name, actions: [{name,
  energy | average_energy}]}]}``;
* ``ERT_summary.yaml``, v0.2: ``ERT_summary: {components: {NAME: {ACTION: {energy |
  average energy}}}}``;
* ``ERT.yaml``, v0.3/v0.4: ``ERT: {tables: [{name, actions: [{name, arguments, energy}]}]}``.
  An action listed once per argument combination gets the mean over them (what ERT_summary's
  ``average_energy`` reports).

The result is ``{component: {action: pJ}}``. Which component and action price archsim's events
(a MAC, a vector op, an SRAM/DRAM byte read or written) is ``energy.ert_map``'s business;
:func:`default_map` guesses it from the component names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from simulator.errors import ConfigError

#: archsim's events an ERT entry can price
EVENTS = ("mac", "vector", "sram_read", "sram_write", "dram_read", "dram_write")
#: actions that are not an event's energy
_IGNORED = ("idle", "leak")


def parse_ert(data: Any, lines: dict, path: str | Path) -> dict[str, dict[str, float]]:
    """``{component: {action: pJ}}`` from an Accelergy ERT or ERT_summary file's YAML data
    (and its key-path -> line index); a malformed file is a ConfigError at ``FILE:line``."""

    def where(*keys: Any) -> str:
        for cut in range(len(keys), -1, -1):
            if keys[:cut] in lines:
                return f"{path}:{lines[keys[:cut]]}"
        return str(path)

    def energy(value: Any, *keys: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or value in (float("inf"), float("-inf")) or value < 0:
            raise ConfigError(f"energy must be a non-negative number of pJ, got {value!r}",
                              where=where(*keys))
        return float(value)

    if not isinstance(data, dict) or not ({"ERT", "ERT_summary"} & set(data)):
        raise ConfigError("not an Accelergy ERT: expected a top-level 'ERT' or 'ERT_summary' "
                          "key", where=str(path))
    table: dict[str, dict[str, float]] = {}
    if "ERT_summary" in data:
        body = data["ERT_summary"]
        if isinstance(body, dict) and isinstance(body.get("components"), dict):   # v0.2
            for name, actions in body["components"].items():
                if not isinstance(actions, dict):
                    raise ConfigError(f"{name}: expected a mapping of actions",
                                      where=where("ERT_summary", "components", name))
                for action, entry in actions.items():
                    keys = ("ERT_summary", "components", name, action)
                    value = _summary_energy(entry, where(*keys))
                    table.setdefault(str(name), {})[str(action)] = energy(value, *keys)
            return table
        entries = body.get("table_summary") if isinstance(body, dict) else None
        top = ("ERT_summary", "table_summary")
    else:
        body = data["ERT"]
        entries = body.get("tables") if isinstance(body, dict) else None
        top = ("ERT", "tables")
    if not isinstance(entries, list):
        raise ConfigError(f"expected a list under {'.'.join(top)}", where=where(*top[:1]))
    for i, comp in enumerate(entries):
        if not isinstance(comp, dict) or not isinstance(comp.get("name"), str) \
                or not isinstance(comp.get("actions"), list):
            raise ConfigError("expected {name: COMPONENT, actions: [...]}", where=where(*top, i))
        sums: dict[str, list[float]] = {}
        for j, act in enumerate(comp["actions"]):
            keys = (*top, i, "actions", j)
            if not isinstance(act, dict) or not isinstance(act.get("name"), str):
                raise ConfigError("expected {name: ACTION, energy: PJ}", where=where(*keys))
            value = _summary_energy(act, where(*keys))
            sums.setdefault(act["name"], []).append(energy(value, *keys))
        table[comp["name"]] = {a: sum(v) / len(v) for a, v in sums.items()}
    return table


def _summary_energy(entry: Any, where: str) -> Any:
    """An action's energy: ``energy``, else its average (``average_energy`` or, in v0.2,
    ``average energy``)."""
    if isinstance(entry, dict):
        for key in ("energy", "average_energy", "average energy"):
            if key in entry:
                return entry[key]
    raise ConfigError("an action needs 'energy' or 'average_energy'", where=where)


def _leaf(name: str) -> str:
    """``system.PE[0..167].mac`` -> ``mac``: the last name segment, index ranges removed."""
    return re.sub(r"\[[^\]]*\]", "", name).rsplit(".", 1)[-1].lower()


#: component-name patterns (on the last segment) and preferred actions of each event
_PATTERNS = {
    "mac": (("mac",), ("mac_random", "compute", "mac", "multiply_accumulate")),
    "vector": (("vector", "simd"), ("compute", "add", "op")),
    "sram_read": (("glb", "global_buffer", "globalbuffer", "buffer", "sram"), ("read",)),
    "sram_write": (("glb", "global_buffer", "globalbuffer", "buffer", "sram"),
                   ("write", "update", "fill")),
    "dram_read": (("dram",), ("read",)),
    "dram_write": (("dram",), ("write", "update")),
}


def default_map(table: dict[str, dict[str, float]], named: Any = ()
                ) -> dict[str, tuple[str, str]]:
    """Guess ``event -> (component, action)`` from the names: a component whose last name
    segment contains ``mac`` prices a MAC; ``vector``/``simd`` a vector op; ``glb``,
    ``global_buffer``, ``buffer`` or ``sram`` (not ``dram``) an SRAM access (read: ``read``;
    write: ``write``, ``update`` or ``fill``); ``dram`` a DRAM access (``read``; ``write`` or
    ``update``). An event several components match must be named in ``ert_map``
    (:class:`ValueError`); an event none matches keeps archsim's own figure. Events in
    ``named`` (given in ``ert_map``) are not guessed."""
    out: dict[str, tuple[str, str]] = {}
    for event, (names, actions) in _PATTERNS.items():
        if event in named:
            continue
        found = []
        for comp, acts in table.items():
            leaf = _leaf(comp)
            if not any(n in leaf for n in names) or (event.startswith("sram") and "dram" in leaf):
                continue
            action = next((a for a in actions if a in acts), None)
            if action is None and event in ("mac", "vector"):
                action = next((a for a in acts if a not in _IGNORED), None)
            if action is not None:
                found.append((comp, action))
        if len(found) > 1:
            raise ValueError(f"several ERT components could price {event} "
                             f"({', '.join(c for c, _ in found)}); name one under "
                             f"energy.ert_map.{event}")
        if found:
            out[event] = found[0]
    return out
