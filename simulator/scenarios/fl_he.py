"""Dubhe's additively homomorphic layer on Paillier (the ``phe`` package).

Who can see what is enforced by the types, not by convention:

- a client turns a count vector into an :class:`EncryptedVector` (packed ciphertexts, no key);
- the server holds only the public key; :func:`aggregate` adds the ciphertexts of at least
  ``min_aggregate`` distinct clients into an :class:`EncryptedSum`, the only thing that can be
  decrypted; an ``EncryptedSum`` cannot be built any other way (its constructor checks a seal
  only :func:`aggregate` has);
- the :class:`KeyHolder` (a client, not the server) owns the private key and exposes one
  operation, :meth:`KeyHolder.decrypt_sum`, which refuses anything but a sealed sum of enough
  distinct clients, and a sum whose contributors differ from an already decrypted one by a single
  client (subtracting the two would reveal that client).

Vectors are packed: ``slots`` counts of ``slot_bits`` bits each share one plaintext, so a
ten-class histogram costs one encryption and one ciphertext instead of ten; slot widths leave
room for the largest possible sum, so additions never carry into the next slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.errors import ArchsimError

_SEAL = object()  # only aggregate() passes it: no other code path builds a decryptable sum


class PrivacyError(ArchsimError):
    """An attempt to decrypt something other than an aggregate of enough distinct clients."""


@dataclass
class HeLedger:
    """What the HE layer did: operation counts, ciphertext bytes on the wire, and the measured
    wall time of the real ``phe`` operations."""

    encrypt: int = 0
    add: int = 0
    decrypt: int = 0
    bytes_sent: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: {"encrypt": 0.0, "add": 0.0, "decrypt": 0.0})

    def mean_us(self, op: str) -> float:
        n = getattr(self, op)
        return 1e6 * self.seconds[op] / n if n else 0.0


@dataclass(frozen=True)
class Packing:
    """``length`` non-negative counts in ciphertexts of ``slots`` slots of ``slot_bits`` each."""

    length: int
    slot_bits: int
    slots: int

    @classmethod
    def for_bound(cls, length: int, max_sum: int, key_bits: int) -> Packing:
        """Slots wide enough for any sum up to ``max_sum``; the packed plaintext stays below
        2^(key_bits-3) <= n/3, phe's largest positive integer."""
        slot_bits = int(max_sum).bit_length() + 1
        slots = (key_bits - 3) // slot_bits
        if slots < 1:
            raise PrivacyError(f"he.key_bits={key_bits} cannot hold one {slot_bits}-bit count")
        return cls(length, slot_bits, min(slots, length))

    @property
    def ciphertexts(self) -> int:
        return -(-self.length // self.slots)

    def pack(self, values: np.ndarray) -> list[int]:
        vals = [int(v) for v in np.asarray(values).ravel()]
        if len(vals) != self.length or min(vals) < 0 or max(vals) >> (self.slot_bits - 1):
            raise ValueError(f"expected {self.length} counts in [0, 2^{self.slot_bits - 1})")
        out = []
        for start in range(0, self.length, self.slots):
            word = 0
            for k, v in enumerate(vals[start:start + self.slots]):
                word |= v << (k * self.slot_bits)
            out.append(word)
        return out

    def unpack(self, words: Iterable[int]) -> np.ndarray:
        mask = (1 << self.slot_bits) - 1
        vals: list[int] = []
        for word in words:
            take = min(self.slots, self.length - len(vals))
            vals.extend((word >> (k * self.slot_bits)) & mask for k in range(take))
        return np.asarray(vals, dtype=np.int64)


@dataclass(frozen=True)
class EncryptedVector:
    """One client's encrypted vector on ``channel`` (``registry`` or ``histogram``)."""

    owner: int
    channel: str
    ciphertexts: tuple

    @property
    def nbytes(self) -> int:
        return len(self.ciphertexts) * ciphertext_bytes(self.ciphertexts[0].public_key)


@dataclass(frozen=True)
class EncryptedSum:
    """The homomorphic sum over ``contributors`` (distinct clients); build it with
    :func:`aggregate`."""

    channel: str
    contributors: frozenset[int]
    ciphertexts: tuple
    seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seal is not _SEAL:
            raise PrivacyError("an EncryptedSum is only built by aggregate() over clients' "
                               "encrypted vectors")

    @property
    def nbytes(self) -> int:
        return len(self.ciphertexts) * ciphertext_bytes(self.ciphertexts[0].public_key)


def ciphertext_bytes(public_key) -> int:
    """A Paillier ciphertext lives mod n^2: twice the key length."""
    return (public_key.nsquare.bit_length() + 7) // 8


def encrypt_vector(public_key, packing: Packing, owner: int, channel: str, values: np.ndarray,
                   ledger: HeLedger) -> EncryptedVector:
    """Client side: pack and encrypt ``values`` under the shared public key."""
    cts = []
    for word in packing.pack(values):
        t = time.perf_counter()
        cts.append(public_key.encrypt(word))
        ledger.seconds["encrypt"] += time.perf_counter() - t
        ledger.encrypt += 1
    return EncryptedVector(owner, channel, tuple(cts))


def aggregate(parts: Sequence[EncryptedVector], min_aggregate: int,
              ledger: HeLedger) -> EncryptedSum:
    """Server side: add the ciphertexts of distinct clients' vectors on one channel."""
    if not parts or any(type(p) is not EncryptedVector for p in parts):
        raise PrivacyError("aggregate() takes clients' EncryptedVectors")
    owners = [p.owner for p in parts]
    if len(set(owners)) != len(owners):
        raise PrivacyError("a client appears twice in an aggregate")
    if len(owners) < min_aggregate:
        raise PrivacyError(f"an aggregate needs at least {min_aggregate} distinct clients, "
                           f"got {len(owners)}")
    channels = {p.channel for p in parts}
    if len(channels) != 1:
        raise PrivacyError(f"cannot add vectors of different channels {sorted(channels)}")
    total = list(parts[0].ciphertexts)
    t = time.perf_counter()
    for p in parts[1:]:
        total = [a + b for a, b in zip(total, p.ciphertexts, strict=True)]
    ledger.seconds["add"] += time.perf_counter() - t
    ledger.add += (len(parts) - 1) * len(total)
    return EncryptedSum(channels.pop(), frozenset(owners), tuple(total), seal=_SEAL)


class KeyHolder:
    """The client that generated the key pair. The server gets :attr:`public_key` and
    :attr:`decrypt_sum`; nothing it can call decrypts a single client's vector."""

    def __init__(self, key_bits: int, packings: dict[str, Packing], min_aggregate: int,
                 ledger: HeLedger) -> None:
        try:
            from phe import paillier
        except ImportError:
            raise ArchsimError("the dubhe policy needs the phe package (python-paillier); "
                               "install it with: pip install 'archsim[federated]'") from None

        self.public_key, private_key = paillier.generate_paillier_keypair(n_length=key_bits)
        self._min = min_aggregate
        self._packings = dict(packings)
        self._seen: dict[str, list[frozenset[int]]] = {}

        def decrypt_sum(agg: EncryptedSum) -> np.ndarray:
            """Decrypt a sealed sum of >= min_aggregate distinct clients; refuse anything else."""
            if type(agg) is not EncryptedSum or agg.seal is not _SEAL:
                raise PrivacyError("the key holder decrypts only aggregates built by aggregate(), "
                                   f"got {type(agg).__name__}")
            if len(agg.contributors) < self._min:
                raise PrivacyError(f"refusing to decrypt a sum of {len(agg.contributors)} "
                                   f"client(s); at least {self._min} are required")
            seen = self._seen.setdefault(agg.channel, [])
            for prev in seen:
                if len(prev ^ agg.contributors) == 1:
                    raise PrivacyError("refusing to decrypt a sum that differs from an earlier "
                                       "one by a single client (the difference would reveal it)")
            seen.append(agg.contributors)
            words = []
            for ct in agg.ciphertexts:
                t = time.perf_counter()
                words.append(private_key.decrypt(ct))
                ledger.seconds["decrypt"] += time.perf_counter() - t
                ledger.decrypt += 1
            return self._packings[agg.channel].unpack(words)

        self.decrypt_sum: Callable[[EncryptedSum], np.ndarray] = decrypt_sum
