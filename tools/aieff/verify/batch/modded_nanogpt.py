"""The batch per step of a modded-nanogpt log: read from the training script the log starts with.

Every speedrun script (tracks 1-3) logs its own source, then a line of `=` signs, then the run's output;
later scripts append the files they import, each under a `# name` header between lines of dashes. The
first file is parsed with `ast` (parsed, never run), and the batch is read from the assignments at its top
level and in its `Hyperparameters` class, by the first convention that applies (every one is global: the
scripts fix the run's total batch whatever the number of GPUs):

1. `TRAINING_STAGES = [TrainingStage(duration=..., batch_size=TOKENS, ...), ...]` with
   `num_scheduled_iterations`: stage i starts at round(sum of the earlier durations x scheduled
   iterations), the last stage (no duration) at the scheduled iterations (the script's TrainingSchedule,
   whose boundary and lookup code must be the known one).
2. `train_bs_schedule = (TOKENS, ...)`, `train_bs_extension = TOKENS` with `num_scheduled_iterations`:
   step s trains on train_bs_schedule[int(len x s / N)] before N, then on the extension (the script's
   `get_bs`, which must be the known one); phase k starts at the first step that gives index k.
3. `train_batch_size = TOKENS` (tokens per step over every device and accumulation step).
4. `batch_size = SEQUENCES` with `sequence_length = TOKENS` (sequences across all devices).
5. `batch_size = TOKENS` without a `sequence_length` (tokens across all devices).
6. `seq_len` or `train_seq_len = TOKENS` per device, with the script fixing the devices it sums over:
   `assert world_size == K` (one sequence per device) or `grad_accum_steps = K // world_size` (K device-steps).

Each value must be integer arithmetic on literals (aieff.verify.batch.arith); a name assigned twice where
the reading needs it, or a convention whose parts are missing, leaves the batch unread.
"""

from __future__ import annotations

import ast
import math
import re
from itertools import accumulate

from aieff.verify.batch import Reading, Unread
from aieff.verify.batch.arith import MAX_VALUE, integer, number

# An evaluation line of every speedrun script (`step:1390/1420 val_loss:3.2772 train_time:...`): the step and
# value an entry's step-log pattern reads must be these (aieff.verify.batch.confirm).
EVALUATION = re.compile(
    r"step:(?P<step>[0-9]{1,12})/[0-9]{1,12} val_loss:(?P<value>[0-9]{1,6}(?:\.[0-9]{1,12})?)(?![0-9.])"
)
SEPARATOR = re.compile(r"={20,}\s*")
FILE_RULE = re.compile(r"-{20,}\s*")
MAX_SCRIPT_LINES = 50_000  # the longest speedrun script is under 5,000 lines
MAX_STAGES = 100
MAX_SKIPPED = 20
# A line the reader might read: never left out of the script to make it parse.
READ_NAMES = re.compile(r"batch|seq_len|sequence_length|TRAINING_STAGES|TrainingS|num_scheduled|world_size|get_bs")

# The transition code the schedules are read by, as ast.unparse writes it.
GET_BS = (
    "def get_bs(step: int):\n"
    "    if step >= args.num_scheduled_iterations:\n"
    "        return args.train_bs_extension\n"
    "    x = step / args.num_scheduled_iterations\n"
    "    bs_idx = int(len(args.train_bs_schedule) * x)\n"
    "    return args.train_bs_schedule[bs_idx]"
)
STAGE_ENDS = {
    "ends = [0] + [round(c * scheduled_iterations) for c in accumulate((s.duration for s in stages[:-1]))] "
    "+ [self.total_steps]",
    "ends = [0, *[round(c * scheduled_iterations) for c in accumulate((s.duration for s in stages[:-1]))], "
    "self.total_steps]",
}
STAGE_LOOKUP = (
    "def lookup(self, step: int) -> tuple[TrainingStage, float]:\n"
    "    for i, (start, end) in enumerate(self.boundaries):\n"
    "        if step < end:\n"
    "            t = (step - start) / (end - start)\n"
    "            return (self.stages[i], t)\n"
    "    return (self.stages[-1], 1.0)"
)


def script(text: str) -> tuple[str, int]:
    """The first file of the script the log starts with, and the log line it starts on (1-based)."""
    lines = text.splitlines()[: MAX_SCRIPT_LINES + 2]
    start = 1 if lines and SEPARATOR.fullmatch(lines[0]) else 0
    end = next((n for n in range(start, len(lines)) if SEPARATOR.fullmatch(lines[n])), None)
    if end is None or end == start:
        raise Unread("the log does not start with its training script (no script before a line of '=' signs)")
    body = lines[start:end]
    for n in range(len(body) - 2):  # the files the script imports follow it, each under a `# name` header
        if FILE_RULE.fullmatch(body[n]) and body[n + 1].startswith("# ") and FILE_RULE.fullmatch(body[n + 2]):
            body = body[:n]
            break
    return "\n".join(body), start + 1


class _Script:
    """The settings of one script: top-level and Hyperparameters assignments, by name."""

    def __init__(self, text: str) -> None:
        source, self.first = script(text)
        self.tree, self.skipped = _parse(source)
        self.settings: dict[str, list[ast.expr]] = {}
        self.top: list[ast.stmt] = list(self.tree.body)
        for stmt in self.tree.body:
            self._collect(stmt)
            if isinstance(stmt, ast.ClassDef) and stmt.name == "Hyperparameters":
                for inner in stmt.body:
                    self._collect(inner)

    def _collect(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            self.settings.setdefault(stmt.targets[0].id, []).append(stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            self.settings.setdefault(stmt.target.id, []).append(stmt.value)

    def has(self, name: str) -> bool:
        return name in self.settings

    def node(self, name: str) -> ast.expr:
        found = self.settings.get(name, [])
        if len(found) != 1:
            raise Unread(f"the script assigns {name} {len(found)} times: which one the run used is not clear")
        return found[0]

    def line(self, node: ast.AST) -> int:
        return self.first + node.lineno - 1  # type: ignore[attr-defined]

    def value(self, name: str, notes: list[str], what: str) -> int:
        node = self.node(name)
        v = integer(node)
        if v <= 0:
            raise Unread(f"{name} = {v} is not a positive count")
        notes.append(f"log line {self.line(node)}: {name} = {ast.unparse(node)} = {v:,} {what}")
        return v

    def function(self, name: str, owner: str | None = None) -> ast.FunctionDef | None:
        scope: list[ast.stmt] = self.top
        if owner is not None:
            cls = [s for s in self.top if isinstance(s, ast.ClassDef) and s.name == owner]
            if len(cls) != 1:
                return None
            scope = cls[0].body
        found = [s for s in scope if isinstance(s, ast.FunctionDef) and s.name == name]
        return found[0] if len(found) == 1 else None


def _parse(source: str) -> tuple[ast.Module, list[int]]:
    """The script's syntax tree, and the lines left out to get it.

    Later scripts use Python 3.12's f-strings (quotes nested in a replacement field), which the 3.11 parser
    refuses. Such a line, inside a block and naming nothing the reader reads, is left out (replaced by
    `pass` at its indentation), at most MAX_SKIPPED times; any other syntax error leaves the batch unread.
    """
    lines = source.split("\n")
    skipped: list[int] = []
    while True:
        try:
            return ast.parse("\n".join(lines)), skipped
        except SyntaxError as exc:
            n = (exc.lineno or 0) - 1
            line = lines[n] if 0 <= n < len(lines) else ""
            indent = line[: len(line) - len(line.lstrip())]
            if len(skipped) >= MAX_SKIPPED or not indent or READ_NAMES.search(line) or n in skipped:
                raise Unread(f"the script the log starts with is not Python (line {exc.lineno}): {exc.msg}") from exc
            lines[n] = indent + "pass"
            skipped.append(n)


def read(text: str) -> Reading:
    """The batch per optimizer step the log's own script trained with."""
    s = _Script(text)
    notes: list[str] = []
    if s.skipped:
        where = ", ".join(str(s.first + n) for n in s.skipped)
        notes.append(f"log line(s) {where}: not Python 3.11 (e.g. a 3.12 f-string), left out; they set no batch")
    if s.has("TRAINING_STAGES"):
        return _stages(s, notes)
    if s.has("train_bs_schedule"):
        return _bs_schedule(s, notes)
    if s.has("train_batch_size"):
        return Reading("tokens", ((0, s.value("train_batch_size", notes, "tokens per step")),), None, tuple(notes))
    if s.has("batch_size") and s.has("sequence_length"):
        length = s.value("sequence_length", notes, "tokens per sequence")
        n = s.value("batch_size", notes, "sequences per step (all devices)")
        return Reading("sequences", ((0, n),), length, tuple(notes))
    if s.has("batch_size"):
        return Reading(
            "tokens", ((0, s.value("batch_size", notes, "tokens per step (all devices)")),), None, tuple(notes)
        )
    names = [n for n in ("train_seq_len", "seq_len") if s.has(n)]
    if len(names) == 1:
        devices = _devices(s, notes)
        per_device = s.value(names[0], notes, "tokens per device")
        notes.append(f"{devices} x {per_device:,} = {devices * per_device:,} tokens per step")
        return Reading("tokens", ((0, devices * per_device),), None, tuple(notes))
    raise Unread(
        "the script sets none of the batch conventions aieff reads (TRAINING_STAGES, train_bs_schedule, "
        "train_batch_size, batch_size, seq_len or train_seq_len with a fixed world size)"
    )


def _devices(s: _Script, notes: list[str]) -> int:
    """The device-steps a per-device batch is summed over, as the script fixes them at its top level."""
    found: list[tuple[int, str, ast.stmt]] = []
    for stmt in s.top:
        if (
            isinstance(stmt, ast.Assert)
            and isinstance(stmt.test, ast.Compare)
            and isinstance(stmt.test.left, ast.Name)
            and stmt.test.left.id == "world_size"
            and len(stmt.test.ops) == 1
            and isinstance(stmt.test.ops[0], ast.Eq)
        ):
            found.append((integer(stmt.test.comparators[0]), "devices", stmt))
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "grad_accum_steps"
            and isinstance(stmt.value, ast.BinOp)
            and isinstance(stmt.value.op, ast.FloorDiv)
            and isinstance(stmt.value.right, ast.Name)
            and stmt.value.right.id == "world_size"
        ):
            found.append((integer(stmt.value.left), "device-steps (devices x accumulation steps)", stmt))
    if len(found) != 1 or found[0][0] <= 0:
        raise Unread(
            "the script's batch is per device, and it does not fix the devices once "
            "(`assert world_size == K` or `grad_accum_steps = K // world_size` at its top level)"
        )
    k, what, stmt = found[0]
    notes.append(f"log line {s.line(stmt)}: {ast.unparse(stmt)}: {k} {what}")
    return k


def _bs_schedule(s: _Script, notes: list[str]) -> Reading:
    get_bs = s.function("get_bs")
    if get_bs is None or ast.unparse(get_bs) != GET_BS:
        raise Unread("the script's train_bs_schedule is not applied by the get_bs function aieff knows")
    node = s.node("train_bs_schedule")
    if not isinstance(node, ast.Tuple | ast.List) or not 1 <= len(node.elts) <= MAX_STAGES:
        raise Unread("train_bs_schedule is not a tuple of batch sizes")
    sizes = [integer(e) for e in node.elts]
    scheduled = s.value("num_scheduled_iterations", notes, "scheduled steps")
    extension = s.value("train_bs_extension", notes, "tokens per step after the scheduled steps")
    notes.append(f"log line {s.line(node)}: train_bs_schedule = {ast.unparse(node)} tokens per step")
    phases = []
    for k, size in enumerate(sizes):
        if size <= 0:
            raise Unread("a batch size of train_bs_schedule is not positive")
        phases.append((_first_step(k, len(sizes), scheduled), size))
    phases.append((scheduled, extension))
    notes.append(
        "get_bs: step s trains on train_bs_schedule[int(len x s / num_scheduled_iterations)], then on "
        "train_bs_extension: " + ", ".join(f"{n:,} tokens from step {st:,}" for st, n in phases)
    )
    return Reading("tokens", tuple(_distinct(phases)), None, tuple(notes))


def _first_step(k: int, count: int, scheduled: int) -> int:
    """The first step s with int(count * (s / scheduled)) >= k, computed as the script computes it (floats)."""
    if k == 0:
        return 0
    s = -(-k * scheduled // count)
    for _ in range(4):  # float rounding moves it by at most one step either way
        if s > 0 and int(count * ((s - 1) / scheduled)) >= k:
            s -= 1
        elif int(count * (s / scheduled)) < k:
            s += 1
        else:
            return s
    raise Unread("the schedule's transition step could not be placed")


def _stages(s: _Script, notes: list[str]) -> Reading:
    init, lookup = s.function("__init__", "TrainingSchedule"), s.function("lookup", "TrainingSchedule")
    ends_code = [ast.unparse(n) for n in ast.walk(init) if isinstance(n, ast.Assign)] if init else []
    if lookup is None or ast.unparse(lookup) != STAGE_LOOKUP or not STAGE_ENDS & set(ends_code):
        raise Unread("the script's TRAINING_STAGES are not applied by the TrainingSchedule code aieff knows")
    calls = [
        n
        for n in ast.walk(s.tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "TrainingSchedule"
    ]
    if len(calls) != 1 or len(calls[0].args) < 2 or ast.unparse(calls[0].args[1]) != "args.num_scheduled_iterations":
        raise Unread("the script does not build one TrainingSchedule over args.num_scheduled_iterations")
    node = s.node("TRAINING_STAGES")
    if not isinstance(node, ast.List) or not 1 <= len(node.elts) <= MAX_STAGES:
        raise Unread("TRAINING_STAGES is not a list of stages")
    scheduled = s.value("num_scheduled_iterations", notes, "scheduled steps")
    sizes, durations = [], []
    for i, stage in enumerate(node.elts):
        if not (isinstance(stage, ast.Call) and isinstance(stage.func, ast.Name) and stage.func.id == "TrainingStage"):
            raise Unread("an element of TRAINING_STAGES is not a TrainingStage(...) call")
        if stage.args:
            raise Unread("a TrainingStage is given positional arguments")
        kw = {k.arg: k.value for k in stage.keywords}
        if len(kw) != len(stage.keywords) or "batch_size" not in kw:
            raise Unread("a TrainingStage gives no batch_size (or gives an argument twice)")
        sizes.append(integer(kw["batch_size"]))
        if i < len(node.elts) - 1:
            if "duration" not in kw:
                raise Unread("a TrainingStage before the last gives no duration")
            d = number(kw["duration"])
            if not 0 < d <= 1:
                raise Unread(f"a stage's duration {d!r} is not in (0, 1]")
            durations.append(d)
        notes.append(
            f"log line {s.line(stage)}: stage {i}: batch_size = {ast.unparse(kw['batch_size'])} = {sizes[-1]:,} tokens"
        )
    ends = [0, *(round(c * scheduled) for c in accumulate(durations))]
    if ends[-1] != scheduled and len(node.elts) > 1:
        raise Unread("the stages' durations do not add up to the scheduled steps (the script asserts they do)")
    if any(n <= 0 for n in sizes) or any(b < a for a, b in zip(ends, ends[1:], strict=False)):
        raise Unread("a stage's batch size is not positive or its boundaries go backwards")
    phases = list(zip(ends, sizes, strict=True))
    notes.append(
        "TrainingSchedule: stage i runs from round(sum of earlier durations x num_scheduled_iterations): "
        + ", ".join(f"{n:,} tokens from step {st:,}" for st, n in phases)
    )
    return Reading("tokens", tuple(_distinct(phases)), None, tuple(notes))


def _distinct(phases: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Phases with a later start for the same step dropped (an empty stage) and equal neighbours merged."""
    out: list[tuple[int, int]] = []
    for start, n in phases:
        if not 0 <= start <= MAX_VALUE or not math.isfinite(start):
            raise Unread("a phase starts outside the bounds")
        if out and out[-1][0] == start:
            out[-1] = (start, n)
        elif not out or out[-1][1] != n:
            out.append((start, n))
    return out
