"""Constraints such as ``array.rows == array.cols``: parsed with :mod:`ast`, never ``eval``'d.

A spec is user text, possibly shared and run on a cluster, so a constraint is parsed once into
an AST and interpreted over a small whitelist: comparisons, ``and``/``or``/``not``, arithmetic,
numbers and strings, lists/tuples for ``in``, ``min``/``max``/``abs``, and dotted names that
are looked up in the point's config (``array.rows``, ``dram.bandwidth``). Anything else (calls,
subscripts, lambdas, attribute access on values, comprehensions) is rejected when the spec is
loaded, with the constraint's line.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}
_MAX_EXPONENT = 64  # keeps ``2 ** 10 ** 9`` from hanging the driver


class ConstraintSyntaxError(ValueError):
    """The text is not an allowed constraint; the message says which part."""


class UnknownName(KeyError):
    """A dotted name that is neither a swept parameter nor a config field."""


def _dotted(node: ast.AST) -> str | None:
    """``array.rows`` parses as Attribute(Name('array'), 'rows'); give back the dotted text."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _check(node: ast.AST) -> None:
    """Reject every node outside the whitelist, before anything is evaluated."""
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConstraintSyntaxError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left)
        for c in node.comparators:
            _check(c)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ConstraintSyntaxError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ConstraintSyntaxError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)) or node.value is None:
            raise ConstraintSyntaxError(f"constant {node.value!r} is not allowed")
    elif isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _check(e)
    elif isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS) or node.keywords:
            raise ConstraintSyntaxError("only min(...), max(...) and abs(...) may be called")
        for a in node.args:
            _check(a)
    elif isinstance(node, (ast.Name, ast.Attribute)):
        if _dotted(node) is None:
            raise ConstraintSyntaxError("attributes may only follow a parameter name")
    else:
        raise ConstraintSyntaxError(f"{type(node).__name__} is not allowed in a constraint")


def _names(node: ast.AST) -> list[str]:
    """Every dotted name the expression reads (outermost Attribute chains only)."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        return [_dotted(node) or ""]
    if isinstance(node, ast.Call):
        return [n for a in node.args for n in _names(a)]
    return [n for child in ast.iter_child_nodes(node) for n in _names(child)]


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint; ``holds(lookup)`` evaluates it with ``lookup(dotted) -> value``."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise ConstraintSyntaxError(f"not an expression: {err.msg}") from None
        _check(tree)
        return cls(text, tree, tuple(dict.fromkeys(_names(tree.body))))

    def holds(self, lookup: Callable[[str], Any]) -> bool:
        return bool(_eval(self.tree.body, lookup))


def _eval(node: ast.AST, lookup: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)):
        return lookup(_dotted(node) or "")
    if isinstance(node, ast.Compare):
        left = _eval(node.left, lookup)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, lookup)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, lookup) for v in node.values)
        return any(_eval(v, lookup) for v in node.values)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, lookup), _eval(node.right, lookup)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, lookup))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, lookup) for e in node.elts]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_eval(a, lookup) for a in node.args))
    raise ConstraintSyntaxError(f"{type(node).__name__} is not allowed")  # unreachable: _check
