"""Write every MLPerf Training BERT submission as an entry or a not-entered candidate, from snapshots.

Curation as code, as entries/mlperf-resnet50-v1-5/make_entries.py does for ResNet-50 (whose snapshot
helpers, pins and round dates this script reuses):

- entries/mlperf-bert-v0-7/: every closed-division BERT submission of v0.7 (masked-LM accuracy 0.712);
- entries/mlperf-bert-closed/: every closed-division BERT submission of v1.0-v4.0 (0.720);
- entries/mlperf-bert-open/: every open-division BERT submission (v1.0-v3.1; 0.720), each with the export of
  what it trained (OPEN_MODEL, read from its code and README) or not entered with the reason.

A submission is `<Org>/results/<system>/bert/result_N.txt`, one file per run (10 runs). Each run is read
with aieff's own MLPerf parser and the median over the counted runs is the entry's samples to target,
exactly as `aieff estimate` computes it. BERT's logs do not agree on what `eval_accuracy`'s epoch_num
counts, so each submission's logs are classified here and the entry says how they are read
(`columns.samples`, aieff.verify.mlperf.SAMPLE_SOURCES):

- epoch_num grows and reaches 100,000 or more: it is the samples trained (`epoch_num`; MosaicML evaluates
  every 55 steps of 448, and its epoch_num grows by 24,640);
- epoch_num grows but stays below 100,000: it is optimizer steps, and x the log's own global_batch_size
  gives samples (`epoch_num x global_batch_size`; Google's v0.7 logs);
- epoch_num is the same at every evaluation (NVIDIA's code before v2.0 logs 1): the run stops at its
  last evaluation and the train_samples event after it gives the samples then (`train_samples`);
- samples_count in the evaluation's metadata: read as it is.

Runs trained phase 2 only, from the benchmark's phase-1 checkpoint; the level counts that compute.

Usage (stdlib and aieff only; re-runnable, writes the same bytes for the same snapshots):

    .venv/bin/python entries/mlperf-bert-closed/make_entries.py --mirror /work/.mirror --out /tmp/mlperf-bert-logs
    .venv/bin/aieff cache add --git-dir ...   (or: aieff cache add $(find /tmp/mlperf-bert-logs -type f))

It rewrites every `mlperf-*.yaml` entry of the three levels and the `policy:` block of each level's
benchmark.yaml (the rest of benchmark.yaml is edited by hand and kept).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import mlperf

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("resnet_entries", ROOT / "entries/mlperf-resnet50-v1-5/make_entries.py")
assert _spec is not None and _spec.loader is not None
R = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = R  # its dataclasses look their module up
_spec.loader.exec_module(R)

V07, CLOSED, OPEN = "mlperf-bert-v0-7", "mlperf-bert-closed", "mlperf-bert-open"
ROUNDS = ["0.7", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "4.0"]
EXPORT = "entries/mlperf-bert-closed/exports/bert_large_512.pt2"
FULL = "entries/mlperf-bert-closed/exports/bert_large_512_full_mlm.pt2"
# aieff probe --export FILE --input tokens --sequence-length 512 (multiply-adds per sequence)
FORWARD = {EXPORT: 170073136130, FULL: 184157735938}
_LARGE = (
    "BERT-large as the closed division fixes it (24 layers, hidden 1,024, 16 heads, 512 tokens), from the phase-1 "
    "checkpoint: "
)
# Open-division submissions: what each trained, read from its code, configs and README in the snapshot. A model
# aieff can count makes an entry (with the export that is its forward pass); otherwise the reason.
OPEN_MODEL: dict[str, tuple[str | None, str]] = {
    **{
        f"v{rnd} Graphcore ipu-{pod}-POPART-open": (
            EXPORT,
            _LARGE + "configs/mk2/*-open.json differ from the closed configs only in hyperparameters (LAMB beta1, "
            "weight decay, learning rate, loss scaling, no gradient clipping); masked-LM head on 76 positions "
            "(mask_tokens), vocabulary padded to 30,912 (+1.3% in the decoder, not counted). Graphcore packs up to 3 "
            "sequences into one 512-token row, so counting 512 tokens per sequence is an upper bound.",
        )
        for rnd, pods in (("1.0", ("pod16", "pod64")), ("1.1", ("pod16", "pod64", "pod128")))
        for pod in pods
    },
    **{
        f"v{rnd} Samsung samsung_supercomputer21_dgxa100_{n}_pytorch": (
            EXPORT,
            _LARGE + "NVIDIA's PyTorch implementation with Samsung's changes (exchange padding, per-device gradient "
            "clipping before all-reduce, PyTorch DDP; its README's table), run with --dense_seq_output (masked-LM "
            "head on the 76 masked positions) and --unpad (padding skipped: 512 tokens per sequence is an upper "
            "bound).",
        )
        for rnd, n in (("1.1", "n128"), ("2.0", "n128"), ("2.0", "n171"), ("2.1", "n128"), ("2.1", "n171"))
    },
    **{
        f"v{rnd} Intel 16-nodes-SPR-pytorch-open": (
            EXPORT,
            _LARGE + "Intel's CPU implementation (run_pretrain_mlperf.py) run by run_16node_open.sh with "
            "--dense_seq_output (masked-LM head on the 76 masked positions) and --unpad (an upper bound), global "
            "batch 3,072, learning rate 0.0024 (its logs). The logs name the closed division; its systems json "
            "and folder say open.",
        )
        for rnd in ("2.1", "3.0", "3.1")
    },
    # Not entered: the accuracy these logs report is not MLPerf's masked-LM accuracy, and it reads higher. Composer's
    # MaskedAccuracy (MaskedAccuracy(ignore_index=-100), composer/model.py:65) scores every label that is not -100;
    # streaming's EnWiki dataset (the streaming_enwiki data of both configs) builds labels with
    # labels[masked_lm_positions] = masked_lm_ids, ignoring masked_lm_weights, so the padding slots of the MLPerf data
    # (position 0, id 0, weight 0 in every sequence with fewer than 76 masked tokens) label position 0 ([CLS]) as token
    # 0. The methods model leaves that position's logits zero (bert_layers.py:467-506: only labels > 0 are decoded,
    # index_put_first_axis fills the rest with zeros), so argmax 0 scores it correct; the baseline is trained on it
    # (Hugging Face's loss ignores -100 only). Samples are read right (epoch_num is Composer's sample counter) and the
    # eval set is MLPerf's (10,000 sequences, 76 predictions, seed 12345), but each short sequence adds a free correct
    # prediction, and the runs stop at the first evaluation >= 0.720 of that metric (run_and_time.sh:134
    # exit_at_target), so no log shows the level's 0.720 reached.
    **{
        f"v2.1 MosaicML 8xA100_80GB-{cfg}": (
            None,
            "its eval_accuracy is not MLPerf's masked-LM accuracy and reads higher: Composer's MaskedAccuracy scores "
            "every label not -100, and streaming's EnWiki labels position 0 as token 0 in every sequence with fewer "
            "than 76 masked tokens (the MLPerf data's padding slots, weight 0, are not dropped), a prediction the "
            + how
            + " (composer/bert_layers.py, composer/model.py, 8xA100_80GB-"
            + cfg
            + "/config.yaml; streaming.text.EnWiki). Its runs stop at the first evaluation at or above 0.720 of that "
            "metric (run_and_time.sh: exit_at_target), so no log shows the level's 0.720 reached. Read as logged, "
            "its runs would reach it after about 0.6 million samples (epoch_num is Composer's sample count, 55 steps "
            "of 448 per evaluation), a quarter of the closed division's, from the MLPerf phase-1 checkpoint.",
        )
        for cfg, how in (
            ("baseline", "Hugging Face model is trained to make (its loss ignores only -100)"),
            ("methods", "unpadded model scores as correct without computing it (logits left at zero, argmax 0)"),
        )
    },
    "v1.1 Google tpu-v4-2048-JAX": (
        None,
        "a different model: a 66-layer encoder of width 12,288 (199,717,148,096 parameters; its README), started "
        "from another checkpoint with another stopping criterion: not this level's task",
    ),
    "v1.1 Google tpu-v4-4096-TF": (
        None,
        "a different model: 64 layers of width 16,384 (481,815,347,200 parameters; its README), started from "
        "another checkpoint with another stopping criterion: not this level's task",
    ),
}
RUN = re.compile(r"(?P<sub>[^/]+)/results/(?P<system>[^/]+)/bert/result_(?P<n>\d+)\.txt")
STEPS_BELOW = 100_000  # epoch_nums all under this count steps, not samples (no run reaches a level in 100,000 samples)


@dataclass
class Run:
    """One run's log and how it reads (samples, not epochs)."""

    path: str
    raw: bytes | None
    status: str = ""  # "reached", "aborted", "short", "unreadable", "missing"
    samples: int | None = None
    line: int = 0
    value: float = 0.0
    why: str = ""


def how_samples(raw: bytes) -> str | None:
    """How this log's evaluations say the samples trained (None: samples_count, read as it is)."""
    metas = []
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        if '"eval_accuracy"' in line:
            try:
                event = mlperf._event(line, n)
            except DataError:
                continue
            if event and event.get("key") == "eval_accuracy" and isinstance(event.get("metadata"), dict):
                metas.append(event["metadata"])
    if not metas or all("samples_count" in x for x in metas):
        return None
    nums = [x.get("epoch_num") for x in metas]
    if any(not isinstance(n, int | float) for n in nums):
        return "unknown"
    if len(set(nums)) == 1:
        return "train_samples"
    return "epoch_num x global_batch_size" if max(nums) < STEPS_BELOW else "epoch_num"


def spec_for(how: str | None) -> TrainingLog:
    columns = {"samples": how} if how else None
    return TrainingLog(
        url="https://example.org/x", sha256="0" * 64, format="mlperf-mllog", metric_scale="fraction", columns=columns
    )


def read_runs(runs: list[Run], how: str | None, lvl: Benchmark) -> None:
    R.read_logs(runs, spec_for(how), lvl, "samples")


def median_samples(runs: list[Run]) -> float | None:
    """The median over counted runs (a short run counts as more than any), or None when it does not reach."""
    return R.median_of(runs, "samples")


def discover(mirror: Path, rnd: str) -> list[tuple[object, list[Run]]]:
    names = R.git(mirror, rnd, "ls-tree", "-r", "--name-only", R.PINNED[rnd]).decode().splitlines()
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for name in names:
        if m := RUN.fullmatch(name):
            found.setdefault((m["sub"], m["system"]), []).append((int(m["n"]), name))
    subs = []
    for (folder, system), files in sorted(found.items()):
        sub = R.Sub(rnd, folder, folder, system, "")
        runs = [Run(path, R.show(mirror, rnd, path)) for _, path in sorted(files)]
        sub.runs = [R.Run(r.path, r.raw) for r in runs]  # what division_of reads
        R.division_of(mirror, sub)
        out = R.git(mirror, rnd, "log", "-1", "--format=%H %cI", R.PINNED[rnd], "--", *(r.path for r in runs))
        sha, when = out.decode().split()
        sub.commit = sha
        sub.commit_date = R.dt.datetime.fromisoformat(when).astimezone(R.dt.UTC).date().isoformat()
        subs.append((sub, runs))
    return subs


def skip_reason(runs: list[Run], hows: set[str | None], target: str) -> str:
    """Why a submission is not an entry, or "" when it is one."""
    missing = [r for r in runs if r.status == "missing"]
    if missing:
        return (
            f"no logs in the snapshot: {len(missing)} of {len(runs)} run logs are listed in its tree but their "
            "bytes are absent from the copy this level is built from (not yet extracted)"
        )
    if "unknown" in hows or len(hows) != 1:
        ways = ", ".join(sorted(str(h) for h in hows))
        return (
            f"its runs' logs say the samples trained at each evaluation in different ways ({ways}; see "
            "make_entries.py): no one reading of columns.samples fits every run"
        )
    bad = [r for r in runs if r.status == "unreadable"]
    if bad:
        name = bad[0].path.rsplit("/", 1)[-1]
        return f"{len(bad)} of {len(runs)} run logs cannot be read by aieff (e.g. {name}: {bad[0].why})"
    if len(runs) < 2:
        return "a single run log: MLPerf submissions are several runs, and the others are not public"
    if not any(r.status == "reached" for r in runs):
        return f"no run reaches {target}"
    if median_samples(runs) is None:
        return f"the median run does not reach {target}"
    return ""


def bert_id(sub) -> str:
    """The entry id: the ResNet-50 levels' slug of the submission, with -bert (one system submits to both)."""
    return sub.slug[:75].rstrip("-") + "-bert"


def entry_yaml(
    sub, runs: list[Run], how: str | None, level_id: str, target: str, export: str = EXPORT, model_note: str = ""
) -> str:
    samples = median_samples(runs)
    assert samples is not None
    whole = int(samples + 0.5)  # the median of an even number of runs can end in .5: half a sample, rounded up
    title = f"MLPerf Training v{sub.round} results: {sub.org} {sub.system}"
    per_run = ", ".join(f"{r.samples:,}" if r.status == "reached" else r.status for r in runs)
    aborted = sum(r.status == "aborted" for r in runs)
    short = sum(r.status == "short" for r in runs)
    counted = len(runs) - aborted - sum(r.status not in ("reached", "short", "aborted") for r in runs)
    how_text = mlperf.SAMPLE_SOURCES[how] if how else "eval_accuracy's samples_count is the samples trained"
    parts = [
        f"{sub.org}'s {sub.system} submission to MLPerf Training v{sub.round} ({sub.division} division; "
        f"{sub.division_note}).",
        f"{len(runs)} runs, samples (sequences of 512 tokens) trained from the phase-1 checkpoint to {target} per run "
        f"in file order: {per_run}"
        + (f" ({aborted} aborted: listed, not counted)" if aborted else "")
        + (f" ({short} never reached it: counted as needing more than they trained)" if short else "")
        + f"; the median over the {counted} counted runs, {samples:,g} samples"
        + (f" (rounded to {whole:,})" if whole != samples else "")
        + ", counts.",
        f"How the logs are read (columns.samples): {how_text}.",
        model_note
        or "Forward cost counted by aieff from the graph-only export of BERT-large (the model MLPerf's closed "
        "division fixes) at 512 tokens, masked-LM head on 76 positions.",
        f"Generated by entries/mlperf-bert-closed/make_entries.py (every {sub.division}-division submission with "
        "public logs is an entry; rank and frontier decide what matters).",
    ]
    q = R.q
    lines = [
        "# yaml-language-server: $schema=../../schema/entry.schema.json",
        f"id: {q(bert_id(sub))}",
        f"benchmark: {q(level_id)}",
        f"model: {q(f'BERT-large (v{sub.round}, {sub.org} {sub.system})')}",
        "publication:",
        f"  title: {q(title)}",
        "  authors:",
        f"    - {q(sub.org)}",
        f"  url: {q(R.tree_url(sub))}",
        f"  date: {sub.commit_date}",
        f"hardware: {q(sub.system)}",
        "training:",
        f"  samples_to_target: {whole}",
        "  forward_cost:",
        f"    value: {FORWARD[export]}",
        '    unit: "multiply-adds"',
        "    sequence_length: 512",
        "  source:",
        f"    title: {q(title)}",
        f"    url: {q(R.tree_url(sub))}",
        '    locator: "result_*.txt: eval_accuracy events (median over the runs)"',
        "artifacts:",
        "  architecture:",
        "    export:",
        f"      path: {q(export)}",
        f'      sha256: "{hashlib.sha256((ROOT / export).read_bytes()).hexdigest()}"',
        '    input: "tokens"',
        "  training_logs:",
    ]
    for run in runs:
        assert run.raw is not None
        lines += [
            f"    - url: {q(R.raw_url(sub, run.path))}",
            f'      sha256: "{hashlib.sha256(run.raw).hexdigest()}"',
            f"      size_bytes: {len(run.raw)}",
            '      format: "mlperf-mllog"',
            '      metric_scale: "fraction"',
        ]
        if how:
            lines.append(f"      columns: {{samples: {q(how)}}}")
    lines += [
        "analysis:",
        f"  title: {q(f'MLCommons: MLPerf Training v{sub.round} results')}",
        f"  url: {q(R.RESULTS_PAGE[sub.round])}",
        f"  locator: {q(f'results table, BERT column (round published {R.ROUND_DATE[sub.round]})')}",
        "submission:",
        f"  candidate: {q(sub.candidate)}",
        f"  division: {sub.division}",
        f"  organisation: {q(sub.org)}",
        "  run_choice: every-run",
        "  dated_by:",
        f"    title: {q(f'mlcommons/training_results_v{sub.round} commit {sub.commit[:7]}')}",
        f"    url: {q(f'https://github.com/mlcommons/training_results_v{sub.round}/commit/{sub.commit}')}",
        f"    locator: {q(f'the last commit that added or moved these run logs ({sub.commit_date}, UTC)')}",
    ]
    if R.ROUND_DATE[sub.round] != sub.commit_date:
        lines.append(f"  source_date: {R.ROUND_DATE[sub.round]}")
    lines.append(f"notes: {q(' '.join(parts))}")
    return "\n".join(lines) + "\n"


def write_level(
    level_id: str, subs: list, candidates_are: str, target: str, division: str = "closed"
) -> dict[str, str]:
    folder = ROOT / "entries" / level_id
    lvl = R.level(level_id)
    skipped: dict[str, str] = {}
    for old in folder.glob("mlperf-*.yaml"):
        old.unlink()
    for sub, runs in subs:
        for run in runs:
            if run.raw is None:
                run.status, run.why = "missing", "bytes absent from the snapshot"
        hows = {how_samples(r.raw) for r in runs if r.raw is not None}
        how = next(iter(hows)) if len(hows) == 1 else "unknown"
        if how != "unknown":
            read_runs(runs, how, lvl)
        reason = skip_reason(runs, hows, target)
        export, note = EXPORT, ""
        if level_id == OPEN:
            export, note = OPEN_MODEL.get(sub.candidate, (None, "not yet read: what it trained is unknown"))
            reason = reason if export else note  # another model: that is the reason, whatever its logs say
        if reason:
            skipped[sub.candidate] = reason
            print(sub.candidate, "NOT ENTERED:", reason)
            continue
        (folder / f"{bert_id(sub)}.yaml").write_text(
            entry_yaml(sub, runs, how, level_id, target, export or EXPORT, note)
        )
        print(sub.candidate, how, f"{median_samples(runs):,.0f}", statistics.median([len(r.raw or b"") for r in runs]))
    bench = folder / "benchmark.yaml"
    pseudo = [sub for sub, _ in subs]
    bench.write_text(R.with_policy(bench.read_text(), R.policy_yaml(candidates_are, division, pseudo, skipped)))
    return skipped


def main() -> None:
    """Read the snapshots, write the two closed levels' entries and policies, and copy the logs to --out."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--mirror", type=Path, required=True, help="folder holding mlcommons+training_results_v*/repo")
    ap.add_argument("--out", type=Path, required=True, help="where to copy every run log (for aieff cache add)")
    ap.add_argument("--rounds", nargs="*", default=ROUNDS, help="rounds to read (default: all)")
    args = ap.parse_args()
    by_round = {rnd: discover(args.mirror, rnd) for rnd in args.rounds}
    for rnd, subs in by_round.items():
        for _sub, runs in subs:
            for run in runs:
                if run.raw is not None:
                    dest = args.out / f"v{rnd}" / run.path
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(run.raw)
    every = [(s, r) for subs in by_round.values() for s, r in subs]
    unknown = [s.candidate for s, _ in every if s.division not in ("closed", "open")]
    if unknown:
        raise SystemExit(f"no division for: {unknown}")
    v07 = [(s, r) for s, r in every if s.round == "0.7" and s.division == "closed"]
    later = [(s, r) for s, r in every if s.round != "0.7" and s.division == "closed"]
    opened = [(s, r) for s, r in every if s.division == "open"]
    for level_id, subs, what, target, division in (
        (
            V07,
            v07,
            "Every closed-division BERT submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v0.7 snapshot.",
            "0.712",
            "closed",
        ),
        (
            CLOSED,
            later,
            "Every closed-division BERT submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v1.0 to v4.0 snapshots.",
            "0.720",
            "closed",
        ),
        (
            OPEN,
            opened,
            "Every open-division BERT submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v0.7 to v4.0 snapshots (v1.0 to v3.1 hold some).",
            "0.720",
            "open",
        ),
    ):
        if subs:
            skipped = write_level(level_id, subs, what, target, division)
            print(f"{level_id}: {len(subs)} candidates, {len(subs) - len(skipped)} entries, {len(skipped)} not entered")


if __name__ == "__main__":
    main()
