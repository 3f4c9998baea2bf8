"""Stable codes for what re-estimation refuses (A-codes): an artifact, a log or a verdict, by reason.

Validation codes (E/W, aieff.dataset.diagnostics) point at a place in a YAML file; these name why an artifact
or a verdict was refused, so a message, a test and the docs can all say `A101` and mean one thing.
Codes are stable: never renumber, only add. Ranges: A1xx the .pt2 gate, A2xx counting, A3xx the
sandbox, A4xx training logs, A5xx fetching and checkpoints, A6xx verdicts.
"""

from __future__ import annotations

from typing import Any

from aieff.repo import DataError

# code -> (short name, what it means)
REFUSALS: dict[str, tuple[str, str]] = {
    # --- A1xx: the .pt2 gate ---
    "A101": (
        "pt2-operator",
        "a graph node calls an operator that is not on the list of pure operators "
        "(tools/aieff/verify/data/pt2_operators.json): in-place and `.out` operators, `copy_`, `set_`, `resize_`, "
        "`from_file`, random operators and every target outside `torch.ops.aten` are refused by name",
    ),
    "A102": (
        "pt2-argument-value",
        "a node's string or flag argument is not among the values listed for its operator (a file path, a free "
        "string, a string where the operator takes none, batch norm in training mode, attention dropout)",
    ),
    "A103": (
        "pt2-argument-kind",
        "a node's argument is of a kind the gate does not accept (lists of strings, mappings, graphs, operators, "
        "custom objects)",
    ),
    "A104": (
        "pt2-dialect",
        "the archive names a verifier dialect other than the one the committed exports use",
    ),
    # --- end A1xx ---
    #
    # --- A2xx: counting ---
    "A201": (
        "weight-not-counted",
        "a parameter or buffer of an export meets the input in an operator no counter prices and that is not "
        "free for a weight of its shape (e.g. a Linear written as an elementwise multiply without a visible sum)",
    ),
    "A202": (
        "weight-unused",
        "a floating-point tensor of an export's state dict is never applied to the input while a checkpoint is "
        "compared with that state dict: the checkpoint would match a graph that skips the layer",
    ),
    "A203": (
        "operator-not-counted",
        "an export runs an operator that neither counter prices and that is not conventionally free, so its "
        "cost would be counted as zero",
    ),
    "A204": (
        "count-depends-on-batch",
        "an export whose cost at a batch of two is not exactly twice one sample's: it mixes samples across the "
        "batch, so a per-sample count would understate what it cost in training",
    ),
    # --- end A2xx ---
    #
    # --- A3xx: the sandbox ---
    "A301": (
        "sandbox-unprotected",
        "a protection the run requires (AIEFF_SANDBOX_REQUIRE; in CI, filesystem and network) is not active "
        "in the sandbox, so the job was not run",
    ),
    "A302": ("sandbox-require-unknown", "AIEFF_SANDBOX_REQUIRE names a protection aieff does not have"),
    # --- end A3xx ---
    #
    # --- A4xx: training logs ---
    "A401": (
        "log-record-length",
        "a record of a binary log (TensorBoard's TFRecord framing) declares more bytes than the file holds "
        "after its header; refused before anything is read",
    ),
    "A402": (
        "log-tensor-not-scalar",
        "a TensorBoard tensor declares a shape of more than one element, or content of another size than one "
        "element of its type; refused before the tensor is built",
    ),
    "A403": (
        "log-pattern-too-complex",
        "a step-log pattern compiles to an RE2 program over the size bound (or over RE2's memory bound): "
        "searching with it could cost seconds per megabyte",
    ),
    "A404": (
        "log-parse-stopped",
        "reading the training log ran past its time or memory bound in the sandbox, or the sandbox could not run it",
    ),
    "A405": (
        "log-too-many-evaluations",
        "a training log yields more evaluations than the bound; no real log comes close",
    ),
    "A470": (
        "batch-differs",
        "the entry's samples_per_step (or its schedule) differs from the batch per optimizer step the pinned log's "
        "own training script gives (read by the level's batch_reader; a schedule's first steps may differ by one), "
        "or the script's sequence length is not the entry's: refused, naming both values",
    ),
    "A471": (
        "batch-unread",
        "a log that counts optimizer steps gives no batch per step that the level's batch_reader can read (the level "
        "names no reader, the log holds no training script, or its script follows no convention the reader knows): "
        "the entry's samples_per_step cannot be checked, so the entry is not verified (its verdict stays claimed)",
    ),
    "A472": (
        "batch-expression",
        "the batch size in a log's training script is not integer arithmetic on literals (a name, a call, `**`, a "
        "value beyond 1e18): it is never evaluated, and the entry is not verified (its verdict stays claimed)",
    ),
    "A473": (
        "step-log-misread",
        "an evaluation the entry's step-log pattern finds does not read the same under the level's batch reader's "
        "own grammar of an evaluation line (another number taken as the step or the value, or not an evaluation "
        "line at all): the steps would rest on the entry's choice of field",
    ),
    # --- end A4xx ---
    #
    # --- A5xx: fetching and checkpoints ---
    "A501": (
        "checkpoint-layout",
        "a safetensors checkpoint's data section is not what its header declares: a tensor's byte range is "
        "not its shape times its dtype size, the ranges overlap or leave gaps, or they do not cover the data "
        "section exactly (a header without the weights); the safetensors library refuses such files too",
    ),
    "A502": (
        "checkpoint-storage",
        "a torch zip checkpoint's storage is not the archive record it names: the record is missing, "
        "compressed, or of another size than the pickle declares",
    ),
    "A503": (
        "checkpoint-view",
        "a torch zip checkpoint's tensor is not a dense view of its own bytes: a zero stride (an expanded view), "
        "strides that overlap or skip, or a range past its storage",
    ),
    "A504": (
        "checkpoint-shared-storage",
        "two tensors of a checkpoint share bytes, other than the same tensor under two names the architecture "
        "itself ties",
    ),
    "A505": (
        "checkpoint-constant",
        "a checkpoint's weight (a tensor named `weight` with two or more dimensions) holds one value repeated, "
        "or every tensor of more than one element does: weights that were never trained",
    ),
    # --- end A5xx ---
    #
    # --- A6xx: verdicts ---
    # --- end A6xx ---
}


class Refused(DataError):
    """An artifact, log or verdict refused for a coded reason; str() reads `A101 name: detail`."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in REFUSALS:
            raise ValueError(f"unknown refusal code {code}")
        self.code = code
        self.detail = detail
        super().__init__(f"{code} {REFUSALS[code][0]}: {detail}")


def failed_job(exc: Refused) -> dict[str, Any]:
    """A sandbox job's result for a refusal: its line as `error`, and its code and detail kept as data."""
    return {"ok": False, "error": str(exc)[:500], "code": exc.code, "detail": exc.detail[:500]}


def codes_markdown() -> str:
    """The refusal-code reference for docs/errors.md (generated)."""
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {c} | `{n}` | {m} |" for c, (n, m) in sorted(REFUSALS.items())]
    return "\n".join(rows) + "\n"
