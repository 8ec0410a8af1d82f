"""The columnar instruction store: a trace's instructions as typed columns, not Python objects.

A lowering that emits millions of instructions cannot afford a dataclass, two dicts and a list
per instruction (about 1 KB each). :class:`InstructionTable` keeps, per instruction, small codes
(op, unit, layer and tensor interned into name lists), its dependencies as CSR, and its ``dims``
and ``bytes`` as one row in the value block of their *schema* (the tuple of keys, in emission
order; a GEMM's dims share one schema, a LOAD's bytes another). Blocks are ``array('i')`` until a
value needs 64 bits (then ``'q'``), or a plain list should a value not be an integer.

It is a ``Sequence[Instruction]``: indexing and iteration give :class:`Instruction` objects made
on demand (copies: changing one does not change the table), so every consumer of
``trace.instructions`` reads it unchanged; hardware models that want speed read whole columns
(:meth:`column`, :meth:`dim`, :meth:`nbytes`, :meth:`deps_csr`) as numpy arrays.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from simulator.trace.format import Instruction

_INT32 = "i"
_INT64 = "q"


class NamePool:
    """Strings numbered in order of first appearance."""

    __slots__ = ("code", "names")

    def __init__(self) -> None:
        self.names: list[Any] = []
        self.code: dict[Any, int] = {}

    def __call__(self, name: Any) -> int:
        code = self.code.get(name)
        if code is None:
            code = self.code[name] = len(self.names)
            self.names.append(name)
        return code


class InstructionTable(Sequence[Instruction]):
    """Instructions with consecutive ids 0..n-1, stored as columns (see the module doc)."""

    def __init__(self) -> None:
        self._op = array("B")
        self._unit = array(_INT32)
        self._layer = array(_INT32)
        self._tensor = array(_INT32)       # -1: none
        self._dschema = array("H")
        self._drow = array(_INT32)
        self._bschema = array("H")
        self._brow = array(_INT32)
        self._dep_ptr = array(_INT64, [0])
        self._dep_idx = array(_INT32)
        self.ops = NamePool()
        self.units = NamePool()
        self.layers = NamePool()
        self.tensors = NamePool()
        self._schema_code: dict[tuple[str, ...], int] = {}
        self.schemas: list[tuple[str, ...]] = []
        self._blocks: list[Any] = []       # per schema: its rows' values, row after row
        self._rows: list[int] = []         # per schema: rows so far

    # ------------------------------------------------------------------ building
    @classmethod
    def of(cls, instructions: Iterable[Instruction]) -> InstructionTable:
        """A table holding ``instructions`` (ids must count up from 0; deps kept as given)."""
        if isinstance(instructions, InstructionTable):
            return instructions
        table = cls()
        for ins in instructions:
            if ins.id != len(table):
                raise ValueError(f"instruction ids must count up from 0 in order; found "
                                 f"{ins.id} at position {len(table)}")
            table.append(ins)
        return table

    def schema(self, keys: tuple[str, ...]) -> int:
        """The code of a dims/bytes key tuple (registered on first use)."""
        code = self._schema_code.get(keys)
        if code is None:
            code = self._schema_code[keys] = len(self.schemas)
            self.schemas.append(keys)
            self._blocks.append(array(_INT32))
            self._rows.append(0)
        return code

    def _put(self, code: int, values: Iterable[Any]) -> int:
        """Append one row to schema ``code``'s block; returns its row number."""
        block = self._blocks[code]
        try:
            block.extend(values)
        except (OverflowError, TypeError):
            values = list(values)
            width = len(self.schemas[code])
            # a partial extend may have appended some values before failing: drop them
            del block[self._rows[code] * width:]
            if all(type(v) is int for v in values) and isinstance(block, array):
                block = array(_INT64, block)
            else:   # not integers (a hand-made trace): keep them as they are
                block = list(block)
            block.extend(values)
            self._blocks[code] = block
        row = self._rows[code]
        self._rows[code] = row + 1
        return row

    def append(self, ins: Instruction) -> None:
        """Append ``ins`` as it is (its id must be the next one)."""
        self.emit_row(ins.op, ins.unit, ins.layer, tuple(ins.dims), ins.dims.values(),
                      tuple(ins.bytes), ins.bytes.values(), ins.deps, ins.tensor)

    def emit(self, op: str, unit: str, layer: str, dims: dict[str, int],
             nbytes: dict[str, int], deps: Iterable[int | None], tensor: str | None = None
             ) -> int:
        """:meth:`TraceBuilder.emit`'s contract: append, dropping ``None`` and repeated deps
        (kept sorted); returns the new id."""
        unique = set(deps)
        unique.discard(None)
        return self.emit_row(op, unit, layer, tuple(dims), dims.values(), tuple(nbytes),
                             nbytes.values(), sorted(unique), tensor)

    def emit_row(self, op: str, unit: str, layer: str, dim_keys: tuple[str, ...],
                 dim_values: Iterable[int], byte_keys: tuple[str, ...],
                 byte_values: Iterable[int], deps: Iterable[int], tensor: str | None) -> int:
        """Append one instruction from its parts; ``deps`` are stored as given."""
        ident = len(self._op)
        self._op.append(self.ops(op))
        self._unit.append(self.units(unit))
        self._layer.append(self.layers(layer))
        self._tensor.append(-1 if tensor is None else self.tensors(tensor))
        for schemas, rows, keys, values in ((self._dschema, self._drow, dim_keys, dim_values),
                                            (self._bschema, self._brow, byte_keys, byte_values)):
            code = self.schema(keys)
            schemas.append(code)
            rows.append(self._put(code, values) if keys else 0)
        self._dep_idx.extend(deps)
        self._dep_ptr.append(len(self._dep_idx))
        return ident

    def extend_kinds(self, kinds: Sequence[tuple[str, str, tuple[str, ...], tuple[str, ...]]],
                     kind: Sequence[int], layer: str, tensors: Sequence[str | None],
                     dim_values: Sequence[int], byte_values: Sequence[int],
                     deps: Sequence[int], ndeps: Sequence[int],
                     tensor_names: Sequence[str | None] | None = None) -> None:
        """Append a batch of instructions of one layer, column by column (numpy, no per-
        instruction Python): instruction j is of ``kinds[kind[j]]`` = (op, unit, dim keys,
        byte keys); its dims and bytes are the next values of ``dim_values`` and
        ``byte_values`` (as many as its keys), its deps the next ``ndeps[j]`` of ``deps``.
        Its tensor is ``tensors[j]``, or ``tensor_names[tensors[j]]`` when names are given
        (then ``tensors`` holds small ints). Any of these may be numpy arrays."""
        import numpy as np

        n = len(kind)
        if not n:
            return
        k = np.asarray(kind, dtype=np.intp)
        lut = {name: np.array(values, dtype=np.int64) for name, values in (
            ("op", [self.ops(op) for op, _, _, _ in kinds]),
            ("unit", [self.units(unit) for _, unit, _, _ in kinds]),
            ("dims", [self.schema(keys) for _, _, keys, _ in kinds]),
            ("bytes", [self.schema(keys) for _, _, _, keys in kinds]))}
        self._op.frombytes(lut["op"][k].astype(np.uint8).tobytes())
        self._unit.frombytes(lut["unit"][k].astype(np.int32).tobytes())
        self._layer.frombytes(np.full(n, self.layers(layer), dtype=np.int32).tobytes())
        pool = self.tensors
        if tensor_names is None:
            codes = [-1 if t is None else pool(t) for t in dict.fromkeys(tensors)]
            code_of = dict(zip(dict.fromkeys(tensors), codes, strict=True))
            self._tensor.extend(map(code_of.__getitem__, tensors))
        else:   # names enter the pool in order of first appearance, as above
            which = np.asarray(tensors, dtype=np.intp)
            first = [(int(np.argmax(which == j)), j) for j in range(len(tensor_names))
                     if (which == j).any()]
            code_of = np.full(len(tensor_names), -1, dtype=np.int32)
            for _, j in sorted(first):
                code_of[j] = -1 if tensor_names[j] is None else pool(tensor_names[j])
            self._tensor.frombytes(code_of[which].tobytes())
        for schemas, rows, values, column in (
                (self._dschema, self._drow, dim_values, 2),
                (self._bschema, self._brow, byte_values, 3)):
            widths = np.array([len(spec[column]) for spec in kinds], dtype=np.int64)[k]
            offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
            flat = np.asarray(values, dtype=np.int64)
            schema_of_kind = lut["dims" if column == 2 else "bytes"]
            codes_k = schema_of_kind[k]
            row = np.zeros(n, dtype=np.int64)
            for code in sorted(set(schema_of_kind.tolist())):
                mine = np.flatnonzero(codes_k == code)
                if not mine.size:
                    continue
                width = len(self.schemas[code])
                row[mine] = self._rows[code] + np.arange(mine.size)
                if width:
                    take = offsets[mine][:, None] + np.arange(width)
                    self._extend_block(code, flat[take].ravel())
                self._rows[code] += int(mine.size)
            schemas.frombytes(codes_k.astype(np.uint16).tobytes())
            rows.frombytes(np.where(widths > 0, row, 0).astype(np.int32).tobytes())
        self._dep_idx.frombytes(np.asarray(deps, dtype=np.int32).tobytes())
        self._dep_ptr.frombytes((self._dep_ptr[-1] + np.cumsum(np.asarray(ndeps, np.int64)))
                                .astype(np.int64).tobytes())

    def _extend_block(self, code: int, values) -> None:
        """Append int64 ``values`` (numpy) to schema ``code``'s block, widening it to 64 bits
        first if a value needs them."""
        import numpy as np

        block = self._blocks[code]
        if not isinstance(block, array):
            block.extend(values.tolist())
            return
        if block.typecode == _INT32 and values.size and (
                values.max() > 2**31 - 1 or values.min() < -2**31):
            block = self._blocks[code] = array(_INT64, block)
        block.frombytes(values.astype(np.int32 if block.typecode == _INT32 else np.int64)
                        .tobytes())

    # ------------------------------------------------------------------ Sequence
    def __len__(self) -> int:
        return len(self._op)

    def _row(self, schema: int, row: int) -> dict[str, Any]:
        keys = self.schemas[schema]
        width = len(keys)
        if not width:
            return {}
        return dict(zip(keys, self._blocks[schema][row * width:(row + 1) * width], strict=True))

    def _instruction(self, i: int) -> Instruction:
        tensor = self._tensor[i]
        return Instruction(
            i, self.ops.names[self._op[i]], self.units.names[self._unit[i]],
            self.layers.names[self._layer[i]], self._row(self._dschema[i], self._drow[i]),
            self._row(self._bschema[i], self._brow[i]),
            self._dep_idx[self._dep_ptr[i]:self._dep_ptr[i + 1]].tolist(),
            None if tensor < 0 else self.tensors.names[tensor])

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._instruction(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("instruction index out of range")
        return self._instruction(index)

    def __setitem__(self, index: int, ins: Instruction) -> None:
        """Replace instruction ``index`` (an edited copy of it: a hand-made change, as tests
        make) with ``ins``; its id must stay and its number of dependencies too."""
        if index < 0:
            index += len(self)
        lo, hi = self._dep_ptr[index], self._dep_ptr[index + 1]
        if ins.id != index or len(ins.deps) != hi - lo:
            raise ValueError("a replaced instruction keeps its id and its number of deps")
        self._op[index] = self.ops(ins.op)
        self._unit[index] = self.units(ins.unit)
        self._layer[index] = self.layers(ins.layer)
        self._tensor[index] = -1 if ins.tensor is None else self.tensors(ins.tensor)
        for schemas, rows, values in ((self._dschema, self._drow, ins.dims),
                                      (self._bschema, self._brow, ins.bytes)):
            code = self.schema(tuple(values))
            schemas[index] = code
            rows[index] = self._put(code, values.values())
        self._dep_idx[lo:hi] = array(_INT32, ins.deps)

    def __iter__(self) -> Iterator[Instruction]:
        for i in range(len(self)):
            yield self._instruction(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"InstructionTable({len(self):,} instructions)"

    # ------------------------------------------------------------------ columns
    def column(self, name: str):
        """Codes per instruction as an int64 array: ``op``, ``unit``, ``layer`` or ``tensor``
        (-1: none); their names are ``self.ops.names`` etc."""
        import numpy as np

        source = {"op": self._op, "unit": self._unit, "layer": self._layer,
                  "tensor": self._tensor}[name]
        return np.array(source, dtype=np.int64)

    def _keyed(self, schemas, rows, key: str, default: int, at):
        import numpy as np

        n = len(self)
        codes = np.frombuffer(schemas, dtype=np.uint16) if n else np.zeros(0, np.uint16)
        row = np.frombuffer(rows, dtype=np.int32) if n else np.zeros(0, np.int32)
        if at is not None:
            codes, row = codes[at], row[at]
        out = np.full(codes.size, default, dtype=np.int64)
        for code, keys in enumerate(self.schemas):
            if key not in keys:
                continue
            mine = np.flatnonzero(codes == code)
            if not mine.size:
                continue
            values = np.asarray(self._blocks[code]).reshape(-1, len(keys))[:, keys.index(key)]
            out[mine] = values[row[mine]]
        return out

    def dim(self, key: str, default: int = -1, at=None):
        """``dims[key]`` of every instruction (or of those at the indices ``at``) as an int64
        array, ``default`` where absent."""
        return self._keyed(self._dschema, self._drow, key, default, at)

    def nbytes(self, key: str, at=None):
        """``bytes[key]`` of every instruction (or of those at ``at``) as an int64 array, 0
        where absent."""
        return self._keyed(self._bschema, self._brow, key, 0, at)

    def deps_csr(self):
        """Dependencies as CSR int64 arrays (ptr, idx): instruction i waits for
        ``idx[ptr[i]:ptr[i + 1]]``."""
        import numpy as np

        return np.array(self._dep_ptr, dtype=np.int64), np.array(self._dep_idx, dtype=np.int64)

    def nbytes_used(self) -> int:
        """Bytes the columns occupy (not counting the name lists)."""
        columns = (self._op, self._unit, self._layer, self._tensor, self._dschema, self._drow,
                   self._bschema, self._brow, self._dep_ptr, self._dep_idx)
        blocks = sum(b.itemsize * len(b) if isinstance(b, array) else 8 * len(b)
                     for b in self._blocks)
        return sum(c.itemsize * len(c) for c in columns) + blocks
