"""The pydantic models: the single source of truth for what an entry and a level may say."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = "1"

# --- reusable field types -------------------------------------------------------------------------

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=80),
    Field(description="Lower-case slug: letters, digits and single hyphens."),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000, strip_whitespace=False)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
# Every number has a finite range, so no product or ratio the tracker derives can overflow to inf.
MAX_MAGNITUDE = 1e30
Positive = Annotated[float, Field(ge=1e-30, le=MAX_MAGNITUDE, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0, le=10**18)]
Epochs = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
Pixels = Annotated[int, Field(gt=0, le=16384)]
Tokens = Annotated[int, Field(gt=0, le=1 << 22)]
Sha256 = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="Lower-case hex sha256 of the file's bytes."),
]
ArxivId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}\.[0-9]{4,5}$"),
    Field(description="New-style arXiv identifier without version, e.g. '1905.11946'."),
]


def _https(value: str) -> str:
    if not value.startswith("https://"):
        raise PydanticCustomError("aieff_E028", "url must start with https://, got {url}", {"url": value})
    if len(value) > 2000 or re.search(r"\s", value) or len(value) <= len("https://x"):
        raise PydanticCustomError("aieff_E013", "not a valid url: {url}", {"url": value[:100]})
    return value


HttpsUrl = Annotated[str, AfterValidator(_https), Field(description="An https:// URL.")]


def _repo_path(value: str) -> str:
    parts = value.split("/")
    if value.startswith(("/", "~")) or "\\" in value or ":" in value or ".." in parts or "" in parts:
        raise PydanticCustomError(
            "aieff_E029", "path must be relative to the repository and stay inside it: {p}", {"p": value}
        )
    if parts[0] != "entries" or len(parts) < 3 or any(p.startswith(".") for p in parts):
        raise PydanticCustomError(
            "aieff_E029", "in-repository artifacts live under entries/<level>/ (no hidden files): {p}", {"p": value}
        )
    return value


RepoPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(_repo_path),
    Field(description="A path relative to the repository root, e.g. 'entries/lvl/run.tsv'."),
]


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("aieff_E014", "expected a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise PydanticCustomError("aieff_E014", "not an ISO 8601 date (YYYY-MM-DD): {v}", {"v": value})
    raise PydanticCustomError("aieff_E014", "expected a date (YYYY-MM-DD)")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date), Field(description="ISO 8601 date.")]


class Model(BaseModel):
    """Strict base: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- units ------------------------------------------------------------------------------------------

ComputeUnit = Literal[
    "FLOP",
    "multiply-adds",
    "1e15 multiply-adds",
    "teraflop/s-days",
    "petaflop/s-days",
    "teraflop/s-days (multiply-adds)",
    "petaflop/s-days (multiply-adds)",
]
PerSampleUnit = Literal["FLOP", "multiply-adds"]


class Source(Model):
    """A citable source for a number."""

    title: Name = Field(description="The source's title.")
    url: HttpsUrl
    locator: Name | None = Field(None, description="Where in the source: table, figure, section.")


class CitedSource(Source):
    """A source for a number: where in it the number stands is required."""

    locator: Name = Field(description="Where in the source the number stands: table, figure, section, log line.")


class Publication(Model):
    """The paper or post that introduced the result."""

    title: Name = Field(description="The paper or post title.")
    authors: list[Name] = Field(min_length=1, description="In order; a long list may end in 'et al.'.")
    url: HttpsUrl
    date: IsoDate = Field(description="First public date (arXiv v1 where one exists).")
    arxiv: ArxivId | None = Field(None, description='The arXiv id, quoted (e.g. "1905.11946"), when there is one.')
    venue: Name | None = Field(None, description="Where it was published, e.g. NeurIPS 2012.")


TRACKER_CSV = "github.com/openai/ai-and-efficiency/blob/master/efficiency_sota.csv"  # the original tracker


class TrackerRow(Model):
    """The entry's row in the original tracker's efficiency_sota.csv (openai/ai-and-efficiency, 2020-06-01),
    cell by cell as published; its compute and factor are the entry's claim from that file."""

    row: Annotated[int, Field(ge=1, le=1000)] = Field(description="Data row number in that file (1 = first row).")
    metric: Name = Field(description="Its Metric cell, e.g. AlexNet.")
    publication: Name = Field(description="Its Publication cell.")
    date: IsoDate = Field(description="Its Publication Date cell, as an ISO date.")
    link: HttpsUrl = Field(description="Its Publication link cell.")
    analysis: Name = Field(description="Its Analysis cell.")
    analysis_link: HttpsUrl | None = Field(None, description="Its Analysis link cell; absent when empty.")
    corrected_analysis_link: HttpsUrl | None = Field(
        None, description="The analysis link aieff publishes instead, where the tracker's points elsewhere."
    )
    why: Text | None = Field(None, description="Why any cell differs in aieff's copy of the row.")


class ComputeClaim(Model):
    """Training compute to reach the level, exactly as one source states it."""

    value: Positive = Field(description="The number, in `unit`.")
    unit: ComputeUnit = Field(
        description="The unit the source's number is in, convention included: 'multiply-adds' "
        "counts one per multiply-add (= 2 FLOP); '(multiply-adds)' days count 8.64e16 (tera) or "
        "8.64e19 (peta) multiply-adds per day."
    )
    unit_as_labelled: Name | None = Field(
        None, description="The unit label the source prints, when it differs from `unit`."
    )
    method: Literal["counted", "reported", "hardware-time"] = Field(
        description="counted: from architecture and epochs; reported: stated by the authors; "
        "hardware-time: from GPU-days times peak throughput."
    )
    source: CitedSource = Field(description="Where the number is stated, with its locator.")
    confidence: Literal["high", "medium", "low"] = Field(
        description="How sure the entry is that the number means what this claim says."
    )
    stated_reduction_factor: Positive | None = Field(
        None,
        description="The reduction factor against the level's baseline that this source prints. "
        "Recorded only to check the source; aieff always computes its own.",
    )
    note: Text | None = Field(
        None, description="How the source got the number, and anything a reader needs to compare it."
    )


class ForwardCost(Model):
    """Cost of one forward pass for one sample."""

    value: Positive = Field(description="Cost of one forward pass of one sample, in `unit`.")
    unit: PerSampleUnit = Field(description="FLOP, or multiply-adds (1 multiply-add = 2 FLOP).")
    resolution: Pixels | None = Field(None, description="Square input side in pixels (at most 16,384).")
    sequence_length: Tokens | None = Field(None, description="Tokens per sample (at most 4,194,304).")
    source: CitedSource | None = Field(None, description="Where the figure comes from (absent when counted by aieff).")


class ResolutionPhase(Model):
    """One phase of a progressive-resizing schedule: epochs [start, end) at one resolution."""

    start_epoch: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] = Field(
        description="First epoch of the phase (epochs done when it starts)."
    )
    end_epoch: Epochs = Field(description="Epochs done when the phase ends.")
    forward_cost: ForwardCost = Field(description="Forward cost per sample at this phase's resolution.")

    @model_validator(mode="after")
    def _order(self) -> ResolutionPhase:
        if self.end_epoch <= self.start_epoch:
            raise PydanticCustomError("aieff_E013", "end_epoch must be greater than start_epoch")
        return self


class RunCompute(Model):
    """Total compute of a whole training run, absolute or relative to another entry's run."""

    value: Positive | None = Field(None, description="The whole run's compute, in `unit`.")
    unit: ComputeUnit | None = Field(None, description="The unit of `value`.")
    relative_to: Slug | None = Field(None, description="Entry id whose total run compute this divides.")
    fewer_by: Positive | None = Field(None, description="This run used `fewer_by` x less compute.")
    source: CitedSource = Field(description="Where the whole run's compute is stated.")

    @model_validator(mode="after")
    def _one_form(self) -> RunCompute:
        absolute = self.value is not None and self.unit is not None
        relative = self.relative_to is not None and self.fewer_by is not None
        given = sum(x is not None for x in (self.value, self.unit, self.relative_to, self.fewer_by))  # fields
        if absolute == relative or given != 2:
            raise PydanticCustomError("aieff_E013", "give either value and unit, or relative_to and fewer_by")
        return self


class StepBatch(Model):
    """From `from_step` on, each optimizer step trains on `samples` samples (a batch-size schedule)."""

    from_step: Annotated[int, Field(ge=0, le=10**12)] = Field(
        description="The first optimizer step (0-based) trained with this many samples."
    )
    samples: PositiveInt = Field(description="Samples per step from `from_step` on, in the level's sample unit.")


# --- the optimizer's own arithmetic (aieff.verify.optimizer_cost) -----------------------------------


class OptimizerRule(Model):
    """How one set of an export's parameters is updated each step (first matching rule wins)."""

    parameters: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="Regular expression matched against the whole of each parameter's state-dict name in the export."
    )
    method: Literal["elementwise", "newton-schulz"] = Field(
        description="elementwise: a fixed FLOP count per parameter (Adam, SGD); newton-schulz: Muon's "
        "orthogonalization of each matrix, ns_steps x (2 m^2 n + m^3) multiply-adds (m <= n), plus the "
        "elementwise part."
    )
    elementwise_flop: Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False)] = Field(
        description="FLOP per parameter per step of the update's elementwise arithmetic, counted from the script."
    )
    ns_steps: Annotated[int, Field(gt=0, le=1000)] | None = Field(
        None, description="Newton-Schulz iterations per step (newton-schulz only)."
    )
    split: Annotated[int, Field(gt=0, le=1000)] = Field(
        1, description="Each matched matrix is orthogonalized as this many equal blocks of its rows (fused q, k, v: 3)."
    )
    ns_products: Literal["XXt, AA, BX", "XXt, AX, AB"] = Field(
        "XXt, AA, BX",
        description="The products of one iteration as the script writes them: 2 m^2 n + m^3 or 3 m^2 n multiply-adds.",
    )
    products: dict[
        Literal["r2c", "rc2", "r3", "c3", "m2n", "m3", "r2", "c2"], Annotated[float, Field(ge=0, le=1e4)]
    ] = Field(
        {},
        description="Further matrix arithmetic per matched matrix (of r rows and c columns; m = min, n = max) "
        "per step, in multiply-adds: coefficient of each monomial (r2c = r^2 c ...), e.g. SOAP's rotations, "
        "Gram statistics and eigenbasis refresh, counted from the script.",
    )

    @model_validator(mode="after")
    def _steps(self) -> OptimizerRule:
        if (self.method == "newton-schulz") != (self.ns_steps is not None):
            raise PydanticCustomError("aieff_E013", "ns_steps goes with method newton-schulz, and only with it")
        return self


class OptimizerDefinition(Model):
    """An optimizer as a record's script defines it, in the terms aieff counts its FLOP per step from."""

    name: Name = Field(description="The optimizer as the source names it, with what sets its cost.")
    rules: list[OptimizerRule] = Field(min_length=1, max_length=100, description="Every export parameter's update.")
    extra_parameters: Annotated[int, Field(ge=0, le=10**15)] = Field(
        0, description="Parameters the graph-only export leaves out (biases, norm gains, scalars), from the script."
    )
    extra_elementwise_flop: Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False)] = Field(
        0, description="FLOP per step for each of extra_parameters."
    )
    source: CitedSource = Field(description="The script that defines the optimizer, with its locator.")
    note: Text | None = Field(None, description="How each count was read from the script's update.")


class OptimizerTerm(Model):
    """The optimizer FLOP per step an entry adds to 3 x forward x samples (x steps to the level)."""

    definition: Slug = Field(description="The level's optimizers key of the definition this run used.")
    flop_per_step: Positive = Field(description="FLOP per optimizer step, as aieff counts it from the definition.")


class Training(Model):
    """The facts from which compute to the level is derived (never the derived number itself)."""

    epochs_to_target: Epochs | None = Field(None, description="Epochs until the level was reached.")
    samples_to_target: PositiveInt | None = Field(None, description="Training samples seen until then.")
    samples_per_epoch: PositiveInt | None = Field(
        None, description="Override of the level's dataset size, when the run used another."
    )
    forward_cost: ForwardCost | None = Field(None, description="Forward cost per sample, for the whole run.")
    resolution_schedule: list[ResolutionPhase] | None = Field(
        None,
        min_length=1,
        description="Forward cost per phase, for progressive resizing (contiguous phases from epoch 0).",
    )
    total_run_compute: RunCompute | None = Field(
        None, description="The whole run's compute, when the source gives that instead of per-sample facts."
    )
    fraction_of_run_to_target: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="The part of the run (0 to 1] done when the level was reached, with total_run_compute."
    )
    steps_to_target: PositiveInt | None = Field(
        None,
        description="Optimizer steps until the level was reached: with samples_per_step (or its schedule), "
        "or with total_steps and total_run_compute.",
    )
    total_steps: PositiveInt | None = Field(None, description="Steps of the whole run (with total_run_compute).")
    samples_per_step: PositiveInt | None = Field(
        None,
        description="Samples per optimizer step, in the level's sample unit (images, or sequences of "
        "forward_cost.sequence_length tokens).",
    )
    samples_per_step_schedule: list[StepBatch] | None = Field(
        None, min_length=1, max_length=1000, description="Samples per step when the batch size changes."
    )
    source: CitedSource | None = Field(None, description="Where the training facts come from.")
    optimizer: OptimizerTerm | None = Field(
        None,
        description="The optimizer's own FLOP per step (Newton-Schulz, preconditioners), added x steps_to_target "
        "to 3 x forward x samples.",
    )

    def optimizer_steps(self) -> float | None:
        """Optimizer steps to the level: steps_to_target, or samples_to_target / samples_per_step (a median over
        an even number of runs can fall between two steps)."""
        if self.steps_to_target is not None:
            return float(self.steps_to_target)
        if self.samples_to_target is not None and self.samples_per_step is not None:
            return self.samples_to_target / self.samples_per_step
        return None

    def samples_after(self, steps: int) -> int:
        """Samples trained on in the first `steps` optimizer steps (the batch-size schedule summed)."""
        schedule = self.samples_per_step_schedule or [StepBatch(from_step=0, samples=self.samples_per_step or 0)]
        total = 0
        for batch, nxt in zip(schedule, [*schedule[1:], None], strict=True):
            end = min(steps, nxt.from_step if nxt else steps)
            total += max(0, end - batch.from_step) * batch.samples
        return total

    @model_validator(mode="after")
    def _coherent(self) -> Training:
        per_step = self.samples_per_step is not None or self.samples_per_step_schedule is not None
        by_samples = per_step or any(
            x is not None
            for x in (self.epochs_to_target, self.samples_to_target, self.forward_cost, self.resolution_schedule)
        )
        by_run = self.total_run_compute is not None
        if by_samples == by_run:
            raise PydanticCustomError(
                "aieff_E013",
                "give either per-sample facts (epochs_to_target or samples_to_target, with "
                "forward_cost or resolution_schedule) or total_run_compute with the part of the run",
            )
        if by_samples:
            if self.samples_per_step is not None and self.samples_per_step_schedule is not None:
                raise PydanticCustomError("aieff_E013", "give one of samples_per_step, samples_per_step_schedule")
            if self.samples_per_step_schedule is not None:
                starts = [b.from_step for b in self.samples_per_step_schedule]
                if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
                    raise PydanticCustomError(
                        "aieff_E013", "samples_per_step_schedule must start at step 0 and increase"
                    )
            if self.total_steps is not None or (self.steps_to_target is not None and not per_step):
                raise PydanticCustomError(
                    "aieff_E013", "steps_to_target with per-sample facts needs samples_per_step (no total_steps)"
                )
            targets = [self.epochs_to_target, self.samples_to_target, self.steps_to_target]
            if sum(x is not None for x in targets) != 1:
                raise PydanticCustomError(
                    "aieff_E013", "give exactly one of epochs_to_target, samples_to_target, steps_to_target"
                )
            if (self.forward_cost is None) == (self.resolution_schedule is None):
                raise PydanticCustomError("aieff_E013", "give exactly one of forward_cost, resolution_schedule")
            if self.resolution_schedule is not None:
                _check_schedule(self.resolution_schedule, self.epochs_to_target)
            if self.optimizer is not None and self.optimizer_steps() is None:
                raise PydanticCustomError(
                    "aieff_E013",
                    "training.optimizer needs steps_to_target, or samples_to_target with samples_per_step (its FLOP "
                    "is per step)",
                )
        else:
            steps = self.steps_to_target is not None or self.total_steps is not None
            if (self.fraction_of_run_to_target is not None) == steps:
                raise PydanticCustomError(
                    "aieff_E013", "give either fraction_of_run_to_target or steps_to_target with total_steps"
                )
            if steps and (
                self.steps_to_target is None or self.total_steps is None or self.steps_to_target > self.total_steps
            ):
                raise PydanticCustomError("aieff_E013", "need steps_to_target <= total_steps, both given")
        return self


def _check_schedule(phases: list[ResolutionPhase], epochs: float | None) -> None:
    if phases[0].start_epoch != 0:
        raise PydanticCustomError("aieff_E013", "the resolution schedule must start at epoch 0")
    for a, b in zip(phases, phases[1:], strict=False):
        if b.start_epoch != a.end_epoch:
            raise PydanticCustomError("aieff_E013", "resolution phases must be contiguous")
    if epochs is not None and phases[-1].end_epoch < epochs:
        raise PydanticCustomError("aieff_E013", "the resolution schedule ends before epochs_to_target")


class Artifact(Model):
    """A file the estimate reads: a URL with pinned sha256, or a path inside this repository."""

    url: HttpsUrl | None = Field(
        None, description="An https URL on a public host, pinned to a commit where the host allows it (a raw-file URL)."
    )
    path: RepoPath | None = Field(
        None, description="A path under entries/<level>/ in this repository (files there are at most 1 MiB)."
    )
    sha256: Sha256
    size_bytes: PositiveInt | None = Field(
        None, description="The file's size in bytes, for readers (the sha256 is what is checked)."
    )

    @model_validator(mode="after")
    def _one_place(self) -> Artifact:
        if (self.url is None) == (self.path is None):
            raise PydanticCustomError("aieff_E013", "give exactly one of url, path")
        return self


Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class TorchvisionKwargs(Model):
    """Constructor arguments a torchvision builder may receive: an allow-list (no weights, no downloads)."""

    num_classes: Annotated[int, Field(gt=0, le=100_000)] | None = Field(
        None, description="Output classes (1 to 100,000)."
    )
    width_mult: Annotated[float, Field(gt=0, le=16, allow_inf_nan=False)] | None = Field(
        None, description="Width multiplier (MobileNet, MNASNet)."
    )
    dropout: Fraction | None = Field(None, description="Dropout probability (no effect on the count).")
    stochastic_depth_prob: Fraction | None = Field(
        None, description="Stochastic depth probability (no effect on the count)."
    )
    attention_dropout: Fraction | None = Field(
        None, description="Attention dropout probability (no effect on the count)."
    )
    aux_logits: bool | None = Field(None, description="Build the auxiliary classifiers (GoogLeNet, Inception v3).")
    transform_input: bool | None = Field(None, description="Inception-style input transform.")
    init_weights: bool | None = Field(None, description="Initialise weights (no effect on the count).")
    zero_init_residual: bool | None = Field(
        None, description="Zero-initialise the last BatchNorm of each residual block (no effect on the count)."
    )
    groups: Annotated[int, Field(gt=0, le=1024)] | None = Field(None, description="Convolution groups (ResNeXt).")
    width_per_group: Annotated[int, Field(gt=0, le=4096)] | None = Field(
        None, description="Channels per group (ResNeXt, Wide ResNet)."
    )
    image_size: Pixels | None = Field(None, description="Input side for models that fix it (ViT).")

    def given(self) -> dict[str, object]:
        """Only the arguments the entry sets."""
        return self.model_dump(exclude_none=True)


class Architecture(Model):
    """The network: a torchvision constructor, or a torch.export archive (.pt2)."""

    torchvision: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)] | None = Field(
        None,
        description="A torchvision model builder name, e.g. `resnet50` (built without weights on the meta device).",
    )
    kwargs: TorchvisionKwargs = Field(
        default_factory=TorchvisionKwargs,
        description="Arguments for the torchvision builder (allow-listed; weights never).",
    )
    export: Artifact | None = Field(
        None,
        description="A `torch.export` archive (.pt2), best graph-only (weights on the meta device): "
        "see docs/graph-only-exports.md.",
    )
    input: Literal["image", "tokens", "vector"] = Field(
        "image",
        description="What one sample is: an image (3 x resolution x resolution), tokens (sequence_length ids) "
        "or a vector.",
    )
    input_features: Annotated[int, Field(gt=0, le=1 << 24)] | None = Field(
        None, description="Features per sample for 'vector' inputs."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Architecture:
        if (self.torchvision is None) == (self.export is None):
            raise PydanticCustomError("aieff_E013", "give exactly one of torchvision, export")
        return self


LogFormat = Literal[
    "dawnbench-tsv", "mlperf-mllog", "pytorch-imagenet-stdout", "jsonl", "csv", "step-log", "tensorboard"
]
STEP_LOG_GROUPS = frozenset({"step", "value", "epoch", "samples"})


def _check_pattern(pattern: str) -> None:
    """A step-log pattern must compile under RE2 within the program size the log reader allows (A403
    there; refused here first) and name step and value."""
    from aieff.dataset.pattern import compile_pattern
    from aieff.refusals import Refused

    try:
        compiled = compile_pattern(pattern)
    except Refused as exc:
        raise PydanticCustomError(
            "aieff_E013",
            "pattern is not a valid RE2 expression within the log reader's bounds: {why}",
            {"why": exc.detail[:120]},
        ) from None
    names = set(compiled.groupindex)
    if not {"step", "value"} <= names or not names <= STEP_LOG_GROUPS:
        raise PydanticCustomError(
            "aieff_E013",
            "pattern must name the groups step and value, and may name epoch and samples; it names {names}",
            {"names": sorted(names)},
        )


class TrainingLog(Artifact):
    """A training log and how to read it."""

    format: LogFormat = Field(
        description="How to read the log; each format is a module under tools/aieff/verify/logs/."
    )
    columns: dict[Literal["epoch", "samples", "step", "metric"], Name] | None = Field(
        None,
        description="For csv and jsonl: which column holds epoch, samples and the metric; for csv, `step` "
        "instead names a column of optimizer steps done (e.g. AlgoPerf's global_step), read with samples_per_step. "
        "For mlperf-mllog, samples says where the evaluations' samples trained are (BERT): epoch_num, 'epoch_num x "
        "global_batch_size' or train_samples (aieff.verify.logs.mlperf.SAMPLE_SOURCES); a BERT log so read must "
        "evaluate 100,000 to 1,000,000 samples apart (MLPerf BERT's cadence), or the reading is refused.",
    )
    metric_scale: Literal["percent", "fraction"] = Field(
        "percent", description="Scale of the metric in the log; converted to the level's unit."
    )
    epochs_start_at: Literal[0, 1] | None = Field(
        None,
        description="Whether whole-number epoch labels count from 0 (label 0 = one epoch done) or 1; "
        "inferred from the first label when absent. Fractional labels are amounts of training done.",
    )
    pretraining_eval: bool | None = Field(
        None,
        description="Whether the log's first evaluation ran before any training (and is not counted). "
        "Inferred when absent: a DAWNBench row labelled 0 at 0 hours is one.",
    )
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        None,
        description="For step-log: an RE2 pattern (linear-time) searched in each line, with named groups "
        "`step` (optimizer steps done) and `value` (the metric), optionally `epoch` and `samples`. "
        "Example for nanoGPT-style lines: 'step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)'.",
    )
    tag: Name | None = Field(None, description="For tensorboard: the scalar tag that holds the metric.")
    step_means: Literal["steps", "epochs", "samples"] = Field(
        "steps", description="For tensorboard: what an event's step counts."
    )
    several_runs: bool = Field(
        False,
        description="The file holds several runs one after another (the step counter goes back where the next "
        "starts): each run is read on its own and they combine as the level's policy says (median).",
    )

    @model_validator(mode="after")
    def _format_fields(self) -> TrainingLog:
        if (self.format == "step-log") != (self.pattern is not None):
            raise PydanticCustomError("aieff_E013", "pattern is required by, and only allowed with, format step-log")
        if (self.format == "tensorboard") != (self.tag is not None):
            raise PydanticCustomError("aieff_E013", "tag is required by, and only allowed with, format tensorboard")
        if self.columns and "step" in self.columns and self.format != "csv":
            raise PydanticCustomError("aieff_E013", "columns.step is read by format csv only")
        if self.pattern is not None:
            _check_pattern(self.pattern)
        return self


class Artifacts(Model):
    """What CI re-estimates the compute from."""

    architecture: Architecture | None = Field(
        None, description="The network, counted for forward multiply-adds per sample."
    )
    checkpoint: Artifact | None = Field(
        None,
        description="Trained weights (safetensors or a torch zip): their names and shapes must be the architecture's.",
    )
    training_log: TrainingLog | None = Field(
        None,
        description="The run's evaluation log: the first evaluation at the level gives the epochs, samples or steps.",
    )
    training_logs: Annotated[list[TrainingLog], Field(min_length=2, max_length=100)] | None = Field(
        None,
        description="Instead of training_log, one log per run when a result is several runs of one submission "
        "(MLPerf's 5 or 10): the median over the runs that reached the level counts, aborted runs are listed "
        "as aborted.",
    )
    batch_source: Artifact | None = Field(
        None,
        description="The file the level's batch_reader reads the batch per optimizer step from, when the logs do "
        "not give it (AlgoPerf: the submission's submission.py, pinned at a commit): parsed in the sandbox, "
        "never run; its sha256 binds the verdict like a log's.",
    )

    def files(self) -> list[tuple[tuple[str, ...], Artifact]]:
        """Every referenced file with its field path under `artifacts`."""
        found: list[tuple[tuple[str, ...], Artifact | None]] = [
            (("checkpoint",), self.checkpoint),
            (("training_log",), self.training_log),
            *((("training_logs", str(i)), log) for i, log in enumerate(self.training_logs or [])),
            (("architecture", "export"), self.architecture.export if self.architecture else None),
        ]
        found.append((("batch_source",), self.batch_source))
        return [(where, art) for where, art in found if art is not None]

    def logs(self) -> list[TrainingLog]:
        """The run logs: one, several, or none."""
        return [self.training_log] if self.training_log else list(self.training_logs or [])

    @model_validator(mode="after")
    def _one_log_field(self) -> Artifacts:
        if self.training_log is not None and self.training_logs is not None:
            raise PydanticCustomError("aieff_E013", "give training_log (one run) or training_logs (runs), not both")
        return self


class Withdrawn(Model):
    """Marks an entry as withdrawn instead of deleting it."""

    date: IsoDate
    reason: Text = Field(description="Why the entry no longer counts.")


RunChoice = Literal["only-run", "submitted-version", "every-run"]


class Submission(Model):
    """Which candidate of the level's source this entry is, and how its run and date were chosen: what the
    level's policy checks (aieff validate, E040-E043)."""

    candidate: Name = Field(
        description="The source's own name for it, exactly as the level's policy lists it (e.g. 'record 85')."
    )
    division: Literal["closed", "open"] | None = Field(
        None, description="The division the submission was made in, where the source has divisions (MLPerf)."
    )
    organisation: Name | None = Field(None, description="Who submitted it, as the source names them.")
    run_choice: RunChoice = Field(
        description="only-run: the source holds one run of it; submitted-version: the source holds several "
        "versions and the entry reads the one the source names as submitted (version, version_source); "
        "every-run: every run of the submission is referenced and combined as the level's policy says."
    )
    version: Name | None = Field(
        None, description="With submitted-version: the version's folder name; every log lies under it."
    )
    version_source: CitedSource | None = Field(
        None, description="With submitted-version: where the source names that version as the one submitted."
    )
    dated_by: CitedSource | None = Field(
        None,
        description="Where the run this entry verifies first appeared in public (e.g. the commit that added "
        "its log): the evidence for publication.date where the level dates entries by their runs.",
    )
    source_date: IsoDate | None = Field(
        None,
        description="The source's own date for the result where it differs from publication.date (shown in "
        "the notes, never used in the fit).",
    )


# --- time to the level (issue 22): wall-clock time and the accelerators it ran on ----------------------

TrainingPrecision = Literal["fp32", "tf32", "fp16", "bf16", "fp8"]


class Accelerators(Model):
    """What the timed run trained on: a key of the hardware table (tools/aieff/dataset/data/hardware.yaml),
    how many of them and at which precision, each read from a source."""

    type: Slug = Field(description="A key of the hardware table, e.g. nvidia-v100-sxm2 (E060 when it is not one).")
    count: PositiveInt = Field(description="How many of them the run used (GPUs, TPU chips, IPUs, CPU sockets).")
    precision: TrainingPrecision = Field(
        description="The precision the run's matrix multiplies ran at (fp16/bf16: mixed precision on tensor "
        "cores or matrix units): the hardware table's peak at it is the utilisation's denominator."
    )
    source: CitedSource = Field(description="Where the accelerator type and count are stated.")
    precision_source: CitedSource | None = Field(None, description="Where the precision is stated, when it is.")
    note: Text | None = Field(
        None,
        description="How the source's words were read (an instance type's GPUs, a TPU name's chips), and "
        "the precision's basis when no source states it.",
    )

    @model_validator(mode="after")
    def _precision_basis(self) -> Accelerators:
        if self.precision_source is None and self.note is None:
            raise PydanticCustomError("aieff_E013", "say where the precision comes from: precision_source or note")
        return self


class TimeToLevel(Model):
    """Wall-clock time to the first evaluation at the level, as facts read from the run's own records: the
    split of a time-to-level speedup into algorithm, hardware and utilisation is derived from it."""

    seconds: Positive = Field(
        description="Wall-clock seconds from the start of the timed region to the first evaluation at the "
        "level (the median over the counted runs where the entry reads several)."
    )
    runs_seconds: Annotated[list[Positive], Field(min_length=2, max_length=100)] | None = Field(
        None, description="Each counted run's seconds in log order, where the entry reads several runs."
    )
    scope: Text = Field(
        description="What the time includes and leaves out: evaluation, data loading, compilation, start-up."
    )
    source: CitedSource = Field(description="Where the time is read (the log line or the stated figure).")
    accelerators: Accelerators | None = Field(
        None, description="The accelerators of the timed run (absent when the source does not name them)."
    )


class Entry(Model):
    """One SOTA: a result that reached a level, with its training compute."""

    id: Slug
    benchmark: Slug
    model: Name = Field(description="The model's name as the paper writes it.")
    publication: Publication = Field(description="Where the result was first made public.")
    claims: list[ComputeClaim] = Field(
        [],
        description="Compute to reach the level as sources state it. May be empty only when "
        "`training` holds the facts to derive it (a source that gives only a ratio).",
    )
    training: Training | None = Field(
        None,
        description="The facts compute is derived from: epochs, samples or steps, forward cost, "
        "or a whole run's compute.",
    )
    artifacts: Artifacts | None = Field(
        None, description="What CI re-estimates the compute from: architecture, checkpoint, training log."
    )
    analysis: Source | None = Field(None, description="The analysis this entry's figures come from.")
    hardware: Name | None = Field(
        None, description="What the run trained on, as its submission states it (does not change the compute)."
    )
    same_recipe_as: Slug | None = Field(
        None,
        description="Entry id of the first public run of this very computation (same model, hyperparameters "
        "and training to the level), repeated on other hardware or only made faster (kernels, communication, "
        "compilers): shown beside it, not ranked and never on the frontier.",
    )
    notes: Text | None = Field(
        None, description="Anything a reader needs: corrections, caveats, how the sources were read."
    )
    tracker_row: TrackerRow | None = Field(
        None, description="The row of the original tracker's efficiency_sota.csv this entry continues."
    )
    withdrawn: Withdrawn | None = Field(
        None, description="Set instead of deleting an entry that should no longer count."
    )
    submission: Submission | None = Field(
        None,
        description="Which candidate of the level's source this is and how its run and date were chosen; "
        "required where the level states a policy.",
    )
    time_to_level: TimeToLevel | None = Field(
        None,
        description="Wall-clock time to the level and the accelerators it ran on, read from the run's records "
        "(aieff analyze derives achieved FLOP/s, utilisation and the speedup's split from them).",
    )
    # --- one run, several levels: an entry read from another entry's run (aieff.dataset.derived) ---
    derived_from: Slug | None = Field(
        None,
        description="Entry id of a run on another level whose pinned log also records this level's metric: "
        "this entry reads that run's artifacts (architecture, checkpoint, log) and hardware, never its own "
        "(E072), and gives only what is this level's (the training to the level, its claims, its submission); "
        "its per-sample facts must be the source's (E074). An upper bound on what a run tuned for this level "
        "would need. The verdict is bound to the source entry too (E070-E074).",
    )

    @model_validator(mode="after")
    def _has_compute(self) -> Entry:
        if not self.claims and self.training is None:
            raise PydanticCustomError("aieff_E011", "give at least one claim or the training facts")
        if self.tracker_row is not None and not any(TRACKER_CSV in c.source.url for c in self.claims):
            raise PydanticCustomError(
                "aieff_E013", "tracker_row needs the claim it continues: a claim whose source is " + TRACKER_CSV
            )
        return self


class Dataset(Model):
    """The training data of a level."""

    name: Name = Field(description="The training data, precisely enough to tell versions apart.")
    train_samples_per_epoch: PositiveInt | None = Field(
        None,
        description="Training samples in one epoch (e.g. 1,281,167 for ImageNet-1k); absent for step-based levels.",
    )
    version: Name | None = Field(None, description="A version or split identifier, where the data has several.")


class Metric(Model):
    """What is measured."""

    name: Name = Field(description="The metric as sources name it, e.g. top-5 accuracy.")
    unit: Literal["percent", "fraction", "BLEU", "loss", "elo", "win-rate"] = Field(
        description="The metric's unit; logs on another scale are converted (metric_scale)."
    )
    split: Name = Field(description="The evaluation split.")


class NotEntered(Model):
    """A candidate of the level's source that is not an entry, and why."""

    candidate: Name = Field(description="The source's own name for it, as in `candidates`.")
    reason: Text = Field(description="Why it is not an entry (e.g. no public log; its log ends above the level).")


class Policy(Model):
    """A level's editorial rules as data: which candidates exist, which division qualifies, which run of a
    multi-run submission is read, how runs combine and how entries are dated. aieff validate checks every
    entry against them (E040-E043) and aieff analyze names the rule each entry satisfies."""

    candidates_are: Text = Field(
        description="What the candidates are, in words (e.g. every row of the source's record table)."
    )
    candidates: list[Name] | None = Field(
        None,
        min_length=1,
        max_length=100_000,
        description="Every candidate of a closed source (a record table, a results round), by its own name: "
        "each is an entry (submission.candidate) or listed in not_entered with a reason. Completeness over "
        "editorial filters: rank and frontier decide what matters. Absent for an open level, where any result "
        "with a public source may be entered (each once).",
    )
    not_entered: list[NotEntered] = Field([], description="Candidates that are not entries, each with why.")
    division: Literal["closed", "open", "any"] = Field(
        "any", description="The division every entry's submission must have been made in."
    )
    run_choice: list[RunChoice] = Field(
        min_length=1, description="The run choices an entry may state (never 'the first file in name order')."
    )
    combine: Literal["median", "single"] = Field(
        description="How the runs of one submission combine: the median of their samples to the level, or one run."
    )
    dating: Literal["first-public-run", "source"] = Field(
        description="first-public-run: publication.date is the date the run the entry verifies first appeared, "
        "with submission.dated_by as evidence (a source's own date goes to submission.source_date); source: "
        "the source's date."
    )


# Readers of the batch per step in a level's logs (aieff.verify.batch.READERS): one per log family.
BatchReader = Literal["modded-nanogpt", "algoperf-submission"]


class Benchmark(Model):
    """A capability level that entries race to reach with less compute."""

    id: Slug
    title: Name = Field(description="The level's name as the README shows it.")
    task: Name = Field(description="The task, e.g. image classification.")
    dataset: Dataset = Field(description="The training data every entry must use.")
    metric: Metric = Field(description="What is measured, on which split.")
    direction: Literal["higher", "lower"] = Field(description="Whether a higher or a lower metric is better.")
    threshold: Annotated[float, Field(allow_inf_nan=False)] | None = Field(
        None, description="The level, in the metric's unit: the first evaluation at or beyond it counts."
    )
    criterion: Text | None = Field(None, description="A textual criterion where there is no threshold.")
    paper_period: Name | None = Field(
        None,
        description="The period over which the level's source reports its reduction, as the source words it, "
        "where it differs from the span of the entries' dates (shown beside a two-point level's factor).",
    )
    baseline: Slug
    tolerance_percent: Annotated[float, Field(gt=0, le=100)] = Field(
        10.0, description="How far a re-estimate may differ from the claim and still verify."
    )
    rules: Text = Field(
        description="What counts: training data, what is compared, "
        "how runs of one recipe on other hardware are treated."
    )
    source: CitedSource = Field(description="Where the level is defined.")
    policy: Policy | None = Field(
        None, description="The level's editorial rules as data, checked against every entry by aieff validate."
    )
    narrative: Text | None = Field(
        None,
        description="The README's account of what the level shows. Every figure is a placeholder the build "
        "fills from the analysis ({reduction}, {trend}, {compute:ENTRY}, {ratio:A:B} ...; see "
        "tools/aieff/dataset/placeholders.py): a typed number is refused (E044), so the prose cannot drift "
        "from the data.",
    )
    optimizers: dict[Slug, OptimizerDefinition] | None = Field(
        None,
        description="The optimizers the level's entries name in training.optimizer, by key: aieff counts each one's "
        "FLOP per step from the entry's export (aieff.verify.optimizer_cost); the rules say the term is added.",
    )
    batch_reader: BatchReader | None = Field(
        None,
        description="The aieff reader (tools/aieff/verify/batch/) that reads the batch per optimizer step from the "
        "bytes of this level's step-counting logs, against which each entry's samples_per_step (or schedule) is "
        "checked (A470). Without one, an entry whose log counts steps is not verified (A471): its batch would "
        "rest on the entry alone.",
    )
    batch_workload: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] | None = Field(
        None,
        description="For a batch_reader that reads each entry's batch_source (algoperf-submission): the workload "
        "name the source's get_batch_size is asked for (e.g. wmt).",
    )

    def agrees(self, value: float, reference: float) -> bool:
        """Whether value is within this level's tolerance of reference (relative)."""
        return abs(value - reference) / reference <= self.tolerance_percent / 100

    @model_validator(mode="after")
    def _one_criterion(self) -> Benchmark:
        if (self.threshold is None) == (self.criterion is None):
            raise PydanticCustomError("aieff_E013", "give exactly one of threshold, criterion")
        return self


# --- the dataset's release (CITATION.cff) ----------------------------------------------------------


def _dated_version(value: str, info: ValidationInfo) -> str:
    released = info.data.get("date_released")  # validated first: the model declares it first
    if not re.fullmatch(r"[0-9]{4}\.[0-9]{2}\.[0-9]{2}", value):
        raise PydanticCustomError(
            "aieff_E013", "not a dated version YYYY.MM.DD (e.g. 2026.11.22): {v}", {"v": repr(value[:40])}
        )
    if released is not None and value != (want := released.strftime("%Y.%m.%d")):
        raise PydanticCustomError(
            "aieff_E013", "{v} is not date-released written YYYY.MM.DD ({want})", {"v": value, "want": want}
        )
    return value


class Citation(BaseModel):
    """What aieff reads from CITATION.cff: the dataset's release. The rest is the Citation File Format's."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    date_released: IsoDate = Field(alias="date-released", description="The release date, YYYY-MM-DD.")
    version: Annotated[str, AfterValidator(_dated_version)] = Field(
        description="The release as a dated version, YYYY.MM.DD: date-released with dots."
    )
