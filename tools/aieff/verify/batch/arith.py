"""Evaluate the arithmetic a training script writes its batch size in, without running any of it.

Only an `ast` tree of number literals joined by + - * // (and, for the fractions a schedule's durations
are written in, /) with parentheses is evaluated; a name, a call, an attribute, `**` or anything else is
refused (ExpressionRefused), never evaluated. Every literal and every intermediate value is bounded, so
no expression can cost more than a few operations on small numbers.
"""

from __future__ import annotations

import ast
import operator

MAX_VALUE = 10**18  # no batch, step count or token count of a real run comes close
MAX_NODES = 64  # `8 * 2048 * 8` is 5 nodes

_INT_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


class ExpressionRefused(ValueError):
    """An expression that is not pure bounded arithmetic on number literals."""


def integer(node: ast.expr) -> int:
    """The value of an integer expression: int literals, + - * // and parentheses."""
    value = _evaluate(node, fractions=False)
    assert isinstance(value, int)
    return value


def number(node: ast.expr) -> int | float:
    """The value of an expression that may also divide with / (a float, exactly as Python computes it)."""
    return _evaluate(node, fractions=True)


def _evaluate(node: ast.expr, *, fractions: bool) -> int | float:
    if sum(1 for _ in ast.walk(node)) > MAX_NODES:
        raise ExpressionRefused(f"more than {MAX_NODES} syntax nodes")
    return _value(node, fractions)


def _value(node: ast.AST, fractions: bool) -> int | float:
    if isinstance(node, ast.Constant):
        v = node.value
        if type(v) is int or (fractions and type(v) is float):
            return _bounded(v)
        raise ExpressionRefused(f"the literal {ast.unparse(node)[:40]} is not a number")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        inner = _value(node.operand, fractions)
        return inner if isinstance(node.op, ast.UAdd) else -inner
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op in _INT_OPS or (fractions and op is ast.Div):
            left, right = _value(node.left, fractions), _value(node.right, fractions)
            if op in (ast.FloorDiv, ast.Div) and right == 0:
                raise ExpressionRefused("division by zero")
            return _bounded(operator.truediv(left, right) if op is ast.Div else _INT_OPS[op](left, right))
        raise ExpressionRefused(f"the operator {type(node.op).__name__} is not + - * //" + (" /" if fractions else ""))
    raise ExpressionRefused(f"{type(node).__name__} ({ast.unparse(node)[:60]}) is not arithmetic on literals")


def _bounded(v: int | float) -> int | float:
    if not -MAX_VALUE <= v <= MAX_VALUE:  # also false for nan
        raise ExpressionRefused(f"a value beyond {MAX_VALUE:.0e}")
    return v
