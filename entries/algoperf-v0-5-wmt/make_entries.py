"""Write every AlgoPerf v0.5 external-tuning submission as an entry of the WMT level, or a not-entered candidate.

The source is a snapshot of mlcommons/submissions_algorithms (previous_leaderboards/algoperf_v05): per
submission, 5 studies of 5 tuning trials on the WMT workload (wmt_jax or wmt_pytorch), each trial with an
`eval_measurements.csv` (one row per evaluation: global_step, validation/bleu, ...). Each trial is read with
aieff's own csv reader against the level's target (the first evaluation at or above 30.8491 validation BLEU).

Which trial is a study's run is AlgoPerf's own choice, as its scoring code makes it
(scoring/performance_profile.py, get_best_trial_index): per study, the trial whose first evaluation at or
above the target (operator.ge) comes at the earliest evaluation index (a row of eval_measurements.csv; ties:
the first trial, here the lowest trial number), its `score` column at that row being the study's time. The
entry references those 5 logs and `aieff estimate` takes the median of their steps (a study whose trials all
miss the target would be its best-valued trial, counted as needing more than it trained). The batch size is
read from the submission's `get_batch_size('wmt')`, and the entry pins that submission.py as its
`batch_source`, which the level's `algoperf-submission` batch reader reads again in the sandbox; LAWA's
submissions run several optimizer steps per logged global_step (an inner loop of steps_per_call, computed
here as their code does from meta_data_0.json and tuning_search_space.json), a factor no batch reader reads,
so their entries pin no batch_source and stay claimed (A471). Every trial's steps to target are listed in
the entry's notes.

Usage (stdlib and aieff only; re-runnable, writes the same bytes for the same snapshot):

    .venv/bin/python entries/algoperf-v0-5-wmt/make_entries.py \
        --git-dir /work/.mirror/mlcommons+submissions_algorithms/repo
    .venv/bin/aieff cache --git-dir /work/.mirror/mlcommons+submissions_algorithms/repo add

It rewrites every `algoperf-*.yaml` entry of the level and the `policy:` block at the end of its
benchmark.yaml (the rest of benchmark.yaml is edited by hand).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.dataset.yamlload import load_file
from aieff.repo import NotReached
from aieff.verify import logs

HERE = Path(__file__).resolve().parent
LEVEL = HERE.name
REPO = "mlcommons/submissions_algorithms"
LOGS = "previous_leaderboards/algoperf_v05/logs/external_tuning"
CODE = "previous_leaderboards/algoperf_v05/submissions/external_tuning"
EXPORT = f"entries/{LEVEL}/exports/algoperf_wmt_transformer.pt2"
TARGET = 30.8491  # the level's threshold (AlgoPerf's WMT validation_target_value)
FORWARD_MULTIPLY_ADDS = 36_173_250_560  # aieff probe --export EXPORT --input tokens --sequence-length 512
RESULTS = "https://mlcommons.org/2024/08/mlc-algoperf-benchmark-competition"
RESULTS_DATE = "2024-08-01"
ANALYSIS = "https://openreview.net/forum?id=CtM5xjRSfm"
ANALYSIS_TITLE = (
    "Accelerating neural network training: An analysis of the AlgoPerf competition (Kasimbeg et al., ICLR 2025)"
)

# The external-tuning leaderboard (previous_leaderboards/algoperf_v05/README.md), in its order:
# folder: (name, authors, affiliation, framework)
LEADERBOARD = {
    "shampoo_submission": (
        "Distributed Shampoo",
        "Hao-Jun Shi, Tsung-Hsien Lee, Anna Cai, Shintaro Iwasaki, Wenyin Fu, Yuchen Hao, Mike Rabbat",
        "Meta Platforms",
        "PyTorch",
    ),
    "schedule_free_adamw": (
        "Schedule Free AdamW",
        "Alice Yang, Aaron Defazio, Konstantin Mishchenko",
        "Meta AI, Samsung AI",
        "PyTorch",
    ),
    "generalized_adam": (
        "Generalized Adam",
        "George Dahl, Sourabh Medapati, Zack Nado, Rohan Anil, Shankar Krishnan, Naman Agarwal, Priya Kasimbeg, "
        "Vlad Feinberg",
        "Google",
        "JAX",
    ),
    "cyclic_lr": (
        "Cyclic LR",
        "Niccolò Ajroldi, Antonio Orvieto, Jonas Geiping",
        "MPI-IS, ELLIS Institute Tübingen",
        "PyTorch",
    ),
    "nadamp": (
        "NadamP",
        "George Dahl, Sourabh Medapati, Zack Nado, Rohan Anil, Shankar Krishnan, Naman Agarwal, Priya Kasimbeg, "
        "Vlad Feinberg",
        "Google",
        "JAX",
    ),
    "baseline": ("Baseline", "MLCommons Algorithms Working Group", "MLCommons", "JAX"),
    "amos": ("Amos", "Ran Tian", "Google", "JAX"),
    "caspr_adaptive": (
        "CASPR Adaptive",
        "Sai Surya Duvvuri, Inderjit S. Dhillon, Cho-Jui Hsieh",
        "UT Austin, UCLA, Google",
        "JAX",
    ),
    "lawa_queue": (
        "LAWA Queue",
        "Niccolò Ajroldi, Antonio Orvieto, Jonas Geiping",
        "MPI-IS, ELLIS Institute Tübingen",
        "PyTorch",
    ),
    "lawa_ema": (
        "LAWA EMA",
        "Niccolò Ajroldi, Antonio Orvieto, Jonas Geiping",
        "MPI-IS, ELLIS Institute Tübingen",
        "PyTorch",
    ),
    "schedule_free_prodigy": (
        "Schedule Free Prodigy",
        "Alice Yang, Aaron Defazio, Konstantin Mishchenko",
        "Meta AI, Samsung AI",
        "PyTorch",
    ),
}
# A submission whose update_params runs several optimizer steps per call (LAWA: an inner loop of steps_per_call
# steps) logs calls as global_step; its samples per logged step are steps_per_call x the batch.
PER_CALL = (
    "its global_step counts calls of update_params, each running steps_per_call = ceil(eval_period_time_sec / "
    "(max_allowed_runtime_sec / step_hint) x lawa_inner_steps_frac) = ceil({period} / ({runtime} / {hint}) x {frac:g}) "
    "= {per_call} optimizer steps (submission.py line {line}; the workload's values from each trial's "
    "meta_data_0.json, lawa_inner_steps_frac from every point of its tuning_search_space.json), so a logged step "
    "is {per_call} x {batch} = {samples:,} packed examples"
)


@dataclass
class Trial:
    study: str
    trial: str
    path: str
    data: bytes
    steps: int | None = None
    best: float | None = None
    index: int | None = None  # the first row of eval_measurements.csv at or above the target (AlgoPerf's index)
    seconds: float | None = None  # the row's `score` (submission seconds), what AlgoPerf scores


@dataclass
class Sub:
    folder: str
    workload: str = ""
    batch: int = 0
    batch_line: int = 0
    per_call: int = 1  # optimizer steps per logged global_step
    per_call_note: str = ""
    code: bytes = b""  # submission.py at the commit: the entry's batch_source
    trials: list[Trial] = field(default_factory=list)

    @property
    def name(self) -> str:
        return LEADERBOARD[self.folder][0]

    def chosen(self) -> list[Trial]:
        """Per study, AlgoPerf's trial: the one reaching the target at the earliest evaluation index (ties: the
        first trial), else the best-valued trial."""
        out = []
        for study in sorted({t.study for t in self.trials}):
            ts = sorted((t for t in self.trials if t.study == study), key=lambda t: int(t.trial.split("_")[1]))
            hits = [t for t in ts if t.index is not None]
            out.append(min(hits, key=lambda t: t.index) if hits else max(ts, key=lambda t: t.best or 0.0))  # type: ignore[arg-type, return-value]
        return out

    def median_seconds(self) -> float:
        return statistics.median(t.seconds if t.seconds is not None else float("inf") for t in self.chosen())

    def median_steps(self) -> float:
        return statistics.median(t.steps if t.steps is not None else float("inf") for t in self.chosen())


def git(gd: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={gd}", *args], check=True, capture_output=True).stdout


def level() -> Benchmark:
    return Benchmark.model_validate(load_file(HERE / "benchmark.yaml", LEVEL).data)


def spec(sha: str = "0" * 64) -> TrainingLog:
    cols = {"metric": "validation/bleu", "step": "global_step"}
    return TrainingLog.model_validate(
        {"path": f"entries/{LEVEL}/x.csv", "sha256": sha, "format": "csv", "columns": cols}
    )


def read(gd: Path, commit: str, lvl: Benchmark) -> list[Sub]:
    names = git(gd, "ls-tree", "-r", "--name-only", commit, LOGS).decode().split("\n")
    subs: dict[str, Sub] = {}
    for path in names:
        m = re.fullmatch(rf"{LOGS}/([a-z_]+)/(study_\d)/(wmt_(?:jax|pytorch))/(trial_\d)/eval_measurements\.csv", path)
        if not m:
            continue
        folder, study, workload, trial = m.groups()
        sub = subs.setdefault(folder, Sub(folder, workload))
        t = Trial(study, trial, path, git(gd, "show", f"{commit}:{path}"))
        evals = logs.parse(t.data, spec(), lvl)
        t.best = max(e.value for e in evals)
        try:
            t.steps = logs.first_reaching(evals, lvl).eval.steps
        except NotReached:
            pass
        rows = list(csv.DictReader(io.StringIO(t.data.decode())))
        at = [i for i, r in enumerate(rows) if r["validation/bleu"] and float(r["validation/bleu"]) >= TARGET]
        if at:  # AlgoPerf's index: the row, counting every row (pandas keeps the rows without a BLEU as NaN)
            t.index, t.seconds = at[0], float(rows[at[0]]["score"])
            assert t.steps == int(float(rows[at[0]]["global_step"])), (path, t.steps)
        sub.trials.append(t)
    for sub in subs.values():
        sub.code = git(gd, "show", f"{commit}:{CODE}/{sub.folder}/submission.py")
        code = sub.code.decode().split("\n")
        at = next(i for i, line in enumerate(code) if re.search(r"workload_name == 'wmt'", line))
        sub.batch = int(re.search(r"return\s+([0-9_]+)", code[at + 1]).group(1).replace("_", ""))  # type: ignore[union-attr]
        sub.batch_line = at + 1
        if any("self.steps_per_call = " in line for line in code):
            steps_per_call(gd, commit, sub, code)
    return [subs[k] for k in LEADERBOARD if k in subs]


def steps_per_call(gd: Path, commit: str, sub: Sub, code: list[str]) -> None:
    """LAWA's optimizer steps per update_params call, as its code computes them from the workload's values."""
    keys = ("eval_period_time_sec", "max_allowed_runtime_sec", "step_hint")
    seen = set()
    for t in sub.trials:
        meta = json.loads(git(gd, "show", f"{commit}:{t.path.rsplit('/', 1)[0]}/meta_data_0.json"))
        seen.add(tuple(meta[f"workload.{k}"] for k in keys))
    space = json.loads(git(gd, "show", f"{commit}:{CODE}/{sub.folder}/tuning_search_space.json"))
    fracs = {point["lawa_inner_steps_frac"] for point in space}
    assert len(seen) == 1 and len(fracs) == 1, (sub.folder, seen, fracs)
    (period, runtime, hint), frac = seen.pop(), fracs.pop()
    sub.per_call = math.ceil(period / (runtime / hint) * frac)  # submission.py: class LAWA.__init__
    line = next(i for i, text in enumerate(code) if "self.steps_per_call = " in text) + 1
    sub.per_call_note = PER_CALL.format(
        period=period,
        runtime=runtime,
        hint=hint,
        frac=frac,
        per_call=sub.per_call,
        line=line,
        batch=sub.batch,
        samples=sub.per_call * sub.batch,
    )


def q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def trial_note(sub: Sub) -> str:
    parts = []
    chosen = {(t.study, t.trial) for t in sub.chosen()}
    for study in sorted({t.study for t in sub.trials}):
        ts = sorted((t for t in sub.trials if t.study == study), key=lambda t: t.trial)
        cells = [
            f"{t.trial} {f'{t.steps:,}' if t.steps is not None else f'never (best {t.best:.4g})'}"
            + (" (chosen)" if (t.study, t.trial) in chosen else "")
            for t in ts
        ]
        parts.append(f"{study}: " + ", ".join(cells))
    return "; ".join(parts)


def entry_yaml(sub: Sub, commit: str, export_sha: str) -> str:
    name, authors, affiliation, framework = LEADERBOARD[sub.folder]
    steps = sub.median_steps()
    assert steps == int(steps), "five studies: the median is one study's steps"
    slug = "algoperf-v0-5-wmt-" + sub.folder.replace("_submission", "").replace("_", "-")
    tree = f"https://github.com/{REPO}/tree/{commit}/{CODE}/{sub.folder}"
    per_call_loc = "; class LAWA: steps_per_call" if sub.per_call > 1 else ""
    unit = "global_step (update_params calls)" if sub.per_call > 1 else "steps"
    lines = [
        "# yaml-language-server: $schema=../../schema/entry.schema.json",
        f"# Generated by entries/{LEVEL}/make_entries.py from {REPO} at {commit}.",
        f"id: {slug}",
        f"benchmark: {LEVEL}",
        f"model: {q(f'{name} (AlgoPerf v0.5 WMT)')}",
        "publication:",
        f"  title: {q(f'{name}: AlgoPerf Training Algorithms competition v0.5, external tuning ruleset')}",
        "  authors:",
        *[f"    - {q(a.strip())}" for a in authors.split(",")],
        f"  url: {tree}",
        f"  date: {RESULTS_DATE}  # the competition's results announcement, {RESULTS}",
        'hardware: "8 NVIDIA V100 16 GB (AlgoPerf\'s fixed scoring system)"',
        "training:",
        *(
            [f"  steps_to_target: {int(steps)}", f"  samples_per_step: {sub.batch}"]
            if sub.per_call == 1
            else [
                f"  samples_to_target: {int(steps) * sub.per_call * sub.batch}",
                f"  samples_per_step: {sub.per_call * sub.batch}",
            ]
        ),
        "  forward_cost:",
        f"    value: {FORWARD_MULTIPLY_ADDS}",
        "    unit: multiply-adds",
        "    sequence_length: 512",
        "  source:",
        f"    title: {q(f'{name}: submission.py')}",
        f"    url: {tree}/submission.py",
        f"    locator: {q(f'get_batch_size: wmt returns {sub.batch} (line {sub.batch_line + 1})' + per_call_loc)}",
        "artifacts:",
        *(
            [
                "  batch_source:",
                f"    url: https://raw.githubusercontent.com/{REPO}/{commit}/{CODE}/{sub.folder}/submission.py",
                f"    sha256: {hashlib.sha256(sub.code).hexdigest()}",
                f"    size_bytes: {len(sub.code)}",
            ]
            if sub.per_call == 1
            else []
        ),
        "  architecture:",
        "    export:",
        f"      path: {EXPORT}",
        f"      sha256: {export_sha}",
        "    input: tokens",
        "  training_logs:",
    ]
    for t in sub.chosen():
        lines += [
            f"    - url: https://raw.githubusercontent.com/{REPO}/{commit}/{t.path}",
            f"      sha256: {hashlib.sha256(t.data).hexdigest()}",
            f"      size_bytes: {len(t.data)}",
            "      format: csv",
            "      columns: {metric: validation/bleu, step: global_step}",
        ]
    lines += [
        "analysis:",
        f"  title: {q(ANALYSIS_TITLE)}",
        f"  url: {ANALYSIS}",
        '  locator: "external tuning ruleset, WMT workload"',
        "submission:",
        f"  candidate: {q(name)}",
        f"  organisation: {q(affiliation)}",
        "  run_choice: every-run",
        "notes: "
        + q(
            f"{name} ({framework}; {sub.workload}), external tuning ruleset: 5 studies of 5 trials. "
            f"{unit.capitalize()} to {30.8491} validation BLEU per trial (first evaluation at or above it in "
            f"eval_measurements.csv): "
            f"{trial_note(sub)}. Each study's run is AlgoPerf's own choice: the trial that reaches the target at "
            "the earliest evaluation (row of eval_measurements.csv; ties: the first trial), as its "
            "scoring/performance_profile.py takes it; the median over the 5 studies counts. Batch "
            f"{sub.batch} packed examples (256 source + 256 target tokens) per step, from the submission's "
            "get_batch_size"
            + (
                " (the pinned batch_source, read again by the level's algoperf-submission batch reader)"
                if sub.per_call == 1
                else f"; {sub.per_call_note}. No batch reader reads that factor from the code, so the entry pins no "
                "batch_source and stays claimed (A471)"
            )
            + ". Compute = 3 x the WMT Transformer's forward cost x samples: the optimizer's own "
            "arithmetic (preconditioners, weight averaging) and the other tuning trials are not counted."
        ),
    ]
    return "\n".join(lines) + "\n"


def policy_yaml(subs: list[Sub], skipped: dict[str, str]) -> str:
    out = [
        "policy:",
        '  candidates_are: "Every submission of the AlgoPerf v0.5 external-tuning leaderboard '
        '(mlcommons/submissions_algorithms, previous_leaderboards/algoperf_v05/README.md)."',
        "  candidates:",
        *[f"    - {q(LEADERBOARD[k][0])}" for k in LEADERBOARD],
        "  not_entered:",
    ]
    for k in LEADERBOARD:
        if k in skipped:
            out += [f"    - candidate: {q(LEADERBOARD[k][0])}", f"      reason: {q(skipped[k])}"]
    out += ["  division: any", "  run_choice: [every-run]", "  combine: median", "  dating: source"]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--git-dir", type=Path, default=Path("/work/.mirror/mlcommons+submissions_algorithms/repo"))
    args = ap.parse_args()
    commit = git(args.git_dir, "rev-parse", "HEAD").decode().strip()
    lvl = level()
    export_sha = hashlib.sha256((HERE.parent.parent / EXPORT).read_bytes()).hexdigest()
    subs = read(args.git_dir, commit, lvl)
    for old in HERE.glob("algoperf-*.yaml"):
        old.unlink()
    skipped: dict[str, str] = {}
    for sub in subs:
        if sub.median_steps() == float("inf"):
            best = max(t.best or 0.0 for t in sub.trials)
            n = sum(t.steps is not None for t in sub.trials)
            skipped[sub.folder] = (
                f"{n} of its {len(sub.trials)} WMT trials reach 30.8491 validation BLEU (best {best:.4g}): "
                "the median over its studies does not."
            )
        else:
            slug = "algoperf-v0-5-wmt-" + sub.folder.replace("_submission", "").replace("_", "-")
            (HERE / f"{slug}.yaml").write_text(entry_yaml(sub, commit, export_sha))
            print(
                f"{slug}: median {sub.median_steps():,.0f} logged steps x {sub.per_call} x {sub.batch}; "
                f"optimizer steps {sub.median_steps() * sub.per_call:,.0f}; AlgoPerf time {sub.median_seconds():,.0f} s"
            )
    bench = HERE / "benchmark.yaml"
    head = bench.read_text().split("\npolicy:\n")[0].rstrip("\n") + "\n"
    bench.write_text(head + policy_yaml(subs, skipped))


if __name__ == "__main__":
    main()
