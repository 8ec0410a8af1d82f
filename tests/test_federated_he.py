"""Dubhe's Paillier layer: packing, encrypted sums equal plaintext sums, and the server has no
code path that decrypts a single client's vector."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("phe")

from phe.paillier import PaillierPrivateKey  # noqa: E402

from simulator.scenarios.fl_he import (  # noqa: E402
    EncryptedSum,
    HeLedger,
    KeyHolder,
    Packing,
    PrivacyError,
    aggregate,
    encrypt_vector,
)
from simulator.scenarios.fl_select import make_dubhe, skewness  # noqa: E402

KEY_BITS = 256  # fast; the protocol is the same at 1024/2048


def _holder(length: int, bound: int, min_aggregate: int = 2):
    packing = Packing.for_bound(length, bound, KEY_BITS)
    ledger = HeLedger()
    holder = KeyHolder(KEY_BITS, {"histogram": packing, "registry": packing}, min_aggregate,
                       ledger)
    return holder, packing, ledger


def _private_keys(obj, depth: int = 3) -> list:
    """PaillierPrivateKey objects reachable through attributes, dicts and sequences."""
    if isinstance(obj, PaillierPrivateKey):
        return [obj]
    if depth == 0:
        return []
    children: list = []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    elif hasattr(obj, "__dict__") and not callable(obj):
        children = list(vars(obj).values())
    return [k for c in children for k in _private_keys(c, depth - 1)]


def test_packing_round_trip_and_chunks():
    rng = np.random.default_rng(0)
    vals = rng.integers(0, 1000, size=40)
    p = Packing.for_bound(40, 40 * 1000, KEY_BITS)
    assert p.slot_bits == (40 * 1000).bit_length() + 1
    assert p.slots == (KEY_BITS - 3) // p.slot_bits
    assert p.ciphertexts == -(-40 // p.slots) > 1
    assert np.array_equal(p.unpack(p.pack(vals)), vals)
    with pytest.raises(ValueError):
        p.pack(np.full(40, 1 << p.slot_bits))


@pytest.mark.parametrize("length", [10, 40])   # one ciphertext per vector, and several
def test_encrypted_aggregate_equals_plaintext_sum(length):
    rng = np.random.default_rng(length)
    hists = rng.integers(0, 300, size=(7, length))
    holder, packing, ledger = _holder(length, int(hists.sum()))
    parts = [encrypt_vector(holder.public_key, packing, i, "histogram", h, ledger)
             for i, h in enumerate(hists)]
    total = holder.decrypt_sum(aggregate(parts, 2, ledger))
    assert np.array_equal(total, hists.sum(axis=0))
    sub = holder.decrypt_sum(aggregate(parts[2:5], 2, ledger))
    assert np.array_equal(sub, hists[2:5].sum(axis=0))
    assert ledger.encrypt == 7 * packing.ciphertexts
    assert ledger.add == (6 + 2) * packing.ciphertexts
    assert ledger.decrypt == 2 * packing.ciphertexts


def test_key_holder_refuses_individual_vectors():
    holder, packing, ledger = _holder(10, 5000)
    v = [encrypt_vector(holder.public_key, packing, i, "histogram", np.arange(10) + i, ledger)
         for i in range(4)]
    with pytest.raises(PrivacyError):          # a registration itself
        holder.decrypt_sum(v[0])
    with pytest.raises(PrivacyError):          # a forged sum: only aggregate() can seal one
        EncryptedSum("histogram", frozenset({0, 1}), v[0].ciphertexts)
    with pytest.raises(PrivacyError):          # a "sum" of one client
        aggregate([v[0]], 2, ledger)
    with pytest.raises(PrivacyError):          # the same client twice is still one client
        aggregate([v[0], v[0]], 2, ledger)
    with pytest.raises(PrivacyError):          # mixing channels
        aggregate([v[0], encrypt_vector(holder.public_key, packing, 1, "registry",
                                        np.ones(10), ledger)], 2, ledger)
    assert ledger.decrypt == 0
    holder.decrypt_sum(aggregate(v[:3], 2, ledger))
    with pytest.raises(PrivacyError):          # {0,1,2} then {0,1} would reveal client 2
        holder.decrypt_sum(aggregate(v[:2], 2, ledger))
    holder.decrypt_sum(aggregate([v[0], v[3]], 2, ledger))   # differs by more than one: fine
    strict, packing3, ledger3 = _holder(10, 5000, min_aggregate=3)
    w = [encrypt_vector(strict.public_key, packing3, i, "histogram", np.ones(10), ledger3)
         for i in range(2)]
    with pytest.raises(PrivacyError):
        aggregate(w, 3, ledger3)


def test_private_key_is_unreachable_from_server_and_holder_attributes():
    hists = np.random.default_rng(1).integers(0, 20, size=(8, 10))
    ledger = HeLedger()
    server, clients, packings = make_dubhe(hists, 4, 3, 2, "dominant", 0.3, KEY_BITS, ledger)
    assert _private_keys(server) == []
    assert all(_private_keys(c) == [] for c in clients)
    # the key holder keeps its key only inside the decrypt_sum closure, not as an attribute
    holder = KeyHolder(KEY_BITS, packings, 2, HeLedger())
    assert _private_keys(holder) == []


def test_every_decryption_in_a_dubhe_run_is_an_aggregate():
    rng = np.random.default_rng(2)
    hists = rng.integers(0, 30, size=(12, 10))
    ledger = HeLedger()
    server, clients, packings = make_dubhe(hists, 4, 3, 2, "dominant", 0.3, KEY_BITS, ledger)
    seen: list[EncryptedSum] = []
    real = server._decrypt_sum

    def spy(agg):
        seen.append(agg)
        return real(agg)

    server._decrypt_sum = spy
    server.register([c.register(server.public_key, packings, ledger) for c in clients])
    registry = np.zeros(10, dtype=np.int64)
    for h in hists:
        registry[np.argmax(h)] += 1
    assert np.array_equal(server.registry_total, registry)
    active = int((registry > 0).sum())
    assert np.allclose(server.class_probability,
                       np.minimum(1.0, 4 / (active * np.maximum(registry, 1))))
    for r in range(3):
        coins = [[np.random.default_rng([r, h, c]) for c in range(12)] for h in range(3)]
        sel = server.select(clients, np.random.default_rng(r), coins)
        assert len(sel.clients) == 4 and len(set(sel.clients)) == 4
        best = min(sel.tries, key=lambda t: t.skewness)
        assert sel.clients == best.clients
        for t in sel.tries:   # the decrypted sums are the clients' true combined labels
            assert t.skewness == pytest.approx(skewness(hists[t.clients].sum(axis=0)))
    assert len(seen) == 1 + 3 * 3
    assert all(type(a) is EncryptedSum and len(a.contributors) >= 4 for a in seen)
    assert seen[0].contributors == frozenset(range(12))
