"""The batch per step of an AlgoPerf submission: read from its submission.py, which the entry pins (batch_source).

AlgoPerf's logs (eval_measurements.csv) count optimizer steps but never name the batch: the framework asks the
submission's `get_batch_size(workload_name)` for it. The pinned source is parsed with `ast` (parsed, never run)
and the one top-level `def get_batch_size` is read for the level's workload (`batch_workload`), in one of two
shapes:

1. an if/elif chain on the parameter: `if workload_name == 'wmt': return 128` (or `in ('wmt', ...)`), where
   the branch's body is a single `return` of integer arithmetic on literals (aieff.verify.batch.arith); the
   chain may be followed by a return or raise (its default, never read: a workload in no branch is unread);
2. a dict literal looked up by the parameter: `return {'wmt': 128, ...}[workload_name]`, or the dict bound to a
   name first (`sizes = {...}` then `return sizes[workload_name]`), its values literals.

Anything else (a computed value, a call, a branch that does more than return, a chain on another name, the
workload in no branch, a second definition) leaves the batch unread, so the entry stays claimed (A471).
The batch is in examples per optimizer step over every device: the level's samples.
"""

from __future__ import annotations

import ast

from aieff.verify.batch import Reading, Unread
from aieff.verify.batch.arith import integer

READS_SOURCE = True  # reads the entry's batch_source, not its logs (aieff.verify.batch.read_source)
MAX_SOURCE_BYTES = 1 << 20  # the longest v0.5 submission.py is under 60 kB
MAX_BRANCHES = 200


def read_source(text: str, workload: str) -> Reading:
    """The batch `get_batch_size(workload)` returns in `text`, read without running any of it."""
    if len(text.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        raise Unread(f"the submission source is over {MAX_SOURCE_BYTES:,} bytes")
    tree = ast.parse(text)
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_batch_size"]
    if len(found) != 1:
        raise Unread(f"the submission defines get_batch_size {len(found)} times at its top level, not once")
    fn = found[0]
    args = fn.args
    if len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise Unread("get_batch_size does not take the one argument workload_name")
    name = args.args[0].arg
    body = [s for s in fn.body if not _docstring(s)]
    value, how = _chain(body, name, workload) if body and isinstance(body[0], ast.If) else _lookup(body, name, workload)
    return Reading(
        unit="samples",
        phases=((0, value),),
        sequence_length=None,
        notes=(f"batch_source line {fn.lineno}: get_batch_size({workload!r}) returns {value:,} ({how})",),
    )


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _chain(body: list[ast.stmt], name: str, workload: str) -> tuple[int, str]:
    """The literal an if/elif chain on `name` returns for `workload`."""
    node: ast.stmt | None = body[0]
    if len(body) > 2 or (len(body) == 2 and not isinstance(body[1], ast.Return | ast.Raise)):
        raise Unread("get_batch_size does more than one if/elif chain (and a return or raise after it)")
    for _ in range(MAX_BRANCHES):
        if not isinstance(node, ast.If):
            break
        if _names(node.test, name, workload):
            ret = node.body[0] if len(node.body) == 1 else None
            if not isinstance(ret, ast.Return) or ret.value is None:
                raise Unread(f"line {node.lineno}: the {workload!r} branch does more than return a literal")
            return integer(ret.value), f"if/elif chain, line {ret.lineno}"
        if len(node.orelse) != 1:
            break  # an else that returns or raises: the workload is in no branch
        node = node.orelse[0]
    raise Unread(f"get_batch_size's if/elif chain has no branch for {workload!r}")


def _names(test: ast.expr, name: str, workload: str) -> bool:
    """Whether the test is `name == 'w'` (or `name in ('w', ...)`) for this workload; Unread when the test is
    not of that shape (the chain could not be followed honestly past it)."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.left, ast.Name)
        and test.left.id == name
    ):
        right = test.comparators[0]
        if isinstance(test.ops[0], ast.Eq) and isinstance(right, ast.Constant) and isinstance(right.value, str):
            return right.value == workload
        if (
            isinstance(test.ops[0], ast.In)
            and isinstance(right, ast.Tuple | ast.List | ast.Set)
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in right.elts)
        ):
            return workload in [e.value for e in right.elts]  # type: ignore[attr-defined]
    raise Unread(f"line {test.lineno}: a test other than {name} == 'literal' in get_batch_size's chain")


def _lookup(body: list[ast.stmt], name: str, workload: str) -> tuple[int, str]:
    """The value a dict literal gives `workload`: `return {...}[name]`, or `d = {...}` then `return d[name]`."""
    table: ast.expr | None = None
    if len(body) == 2 and isinstance(body[0], ast.Assign) and len(body[0].targets) == 1:
        target, table = body[0].targets[0], body[0].value
        ret = body[1]
        if not (isinstance(target, ast.Name) and isinstance(ret, ast.Return) and isinstance(ret.value, ast.Subscript)):
            raise Unread("get_batch_size is neither an if/elif chain nor a dict literal looked up by the workload")
        if not (isinstance(ret.value.value, ast.Name) and ret.value.value.id == target.id):
            raise Unread("get_batch_size returns another subscript than its dict's")
        key = ret.value.slice
    elif len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Subscript):
        table, key = body[0].value.value, body[0].value.slice
    else:
        raise Unread("get_batch_size is neither an if/elif chain nor a dict literal looked up by the workload")
    if not (isinstance(key, ast.Name) and key.id == name):
        raise Unread(f"get_batch_size's dict is looked up by another key than {name}")
    if not isinstance(table, ast.Dict) or len(table.keys) > MAX_BRANCHES:
        raise Unread("get_batch_size's table is not a dict literal")
    hits = []
    for k, v in zip(table.keys, table.values, strict=True):
        if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
            raise Unread("get_batch_size's dict has a key that is not a string literal")
        if k.value == workload:
            hits.append(v)
    if len(hits) != 1:
        raise Unread(f"get_batch_size's dict gives {workload!r} {len(hits)} times, not once")
    return integer(hits[0]), f"dict literal, line {hits[0].lineno}"
