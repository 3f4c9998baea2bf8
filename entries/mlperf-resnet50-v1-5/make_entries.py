"""Write every MLPerf Training ResNet-50 submission as an entry or a not-entered candidate, from snapshots.

Curation as code (issue 19): the three MLPerf ResNet-50 levels are generated, not hand-picked.

- entries/mlperf-resnet50-v1-5/: every closed-division submission of v0.6-v4.0 (target 75.9% top-1);
- entries/mlperf-resnet50-open/: every open-division submission of the same rounds (same target);
- entries/mlperf-resnet50-v0-5/: every closed-division submission of v0.5 (target 74.9%).

A submission is `<Org>/results/<system>/resnet/result_N.txt` (v0.5: `v0.5.0/<org>/<folder>/results/...`),
one file per run. Its division comes from `<Org>/systems/<system>.json` (v0.5 and some v0.6 entries:
`results/<system>/entry.json`), else from the logs' `submission_division`. Each run is read with aieff's
own MLPerf parser (aborted runs are listed and not counted; a run that never reaches the target counts
as needing more than it trained) and the median over the counted runs is the entry's epochs to target,
exactly as `aieff estimate` computes it. A submission becomes an entry when the median run reaches the
target; otherwise it is listed in the level's `policy.not_entered` with the reason.

Every run's bytes are copied to OUT/<round>/<path> so that `aieff cache add` can take them; the
entries pin `raw.githubusercontent.com` URLs at the snapshot commit each level already used. An entry
is dated by the commit that added its run logs (UTC date; `submission.dated_by`), with MLCommons' own
publication date of the round as `submission.source_date` where the two differ.

Usage (stdlib and aieff only; re-runnable, writes the same bytes for the same snapshots):

    .venv/bin/python entries/mlperf-resnet50-v1-5/make_entries.py \
        --mirror /work/.mirror --out /tmp/mlperf-logs
    .venv/bin/aieff cache add $(find /tmp/mlperf-logs -type f)

It rewrites every `mlperf-*.yaml` entry of the three levels and the `policy:` block of each level's
benchmark.yaml (the rest of benchmark.yaml is edited by hand and kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.dataset.yamlload import load_file
from aieff.repo import DataError, NotReached, RunAborted
from aieff.verify import logs

ROOT = Path(__file__).resolve().parents[2]
CLOSED, OPEN, V05 = "mlperf-resnet50-v1-5", "mlperf-resnet50-open", "mlperf-resnet50-v0-5"
ROUNDS = ["0.5", "0.6", "0.7", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "4.0"]
# The snapshot commit each level's raw URLs pin (the newest commit of each mirror).
PINNED = {
    "0.5": "c71f2e7c4b11ec7ab89eb4d8ceaadaae8529fff7",
    "0.6": "f312518c2d6107eec983750eed23950f1f0c8a0e",
    "0.7": "0a8a85a209c8e45b661596c382cc20f4e32fd2fe",
    "1.0": "50619b5df63f1d646715a82c1fb8c35f271e25fa",
    "1.1": "ebe92f81f7a69255a3b0a907595d8be623d75ec6",
    "2.0": "8437fbb78349aa3c3054aeccb1d47d2a315a80e7",
    "2.1": "158189d4cbfbee366c10da1f0f086c85d8f15b5f",
    "3.0": "63e326c400f5d8bb8c6070a9ab08332d4931152e",
    "3.1": "d06288b2bd675a9d88e0e6181f5bb5626b71ec19",
    "4.0": "6fe954378efe4a1a1bd665550b18ff8f26018def",
}
# MLCommons' publication date of each round (its results pages).
ROUND_DATE = {
    "0.5": "2018-12-12",
    "0.6": "2019-07-10",
    "0.7": "2020-07-29",
    "1.0": "2021-06-30",
    "1.1": "2021-12-01",
    "2.0": "2022-06-29",
    "2.1": "2022-11-09",
    "3.0": "2023-06-27",
    "3.1": "2023-11-08",
    "4.0": "2024-06-12",
}
RESULTS_PAGE = {
    "0.5": "https://mlcommons.org/en/training-normal-05/",
    "0.6": "https://mlcommons.org/en/training-normal-06/",
    "0.7": "https://mlcommons.org/en/training-normal-07/",
    "1.0": "https://mlcommons.org/en/training-normal-10/",
    "1.1": "https://mlcommons.org/en/training-normal-11/",
    "2.0": "https://mlcommons.org/en/training-normal-20/",
    "2.1": "https://mlcommons.org/en/training-normal-21/",
    "3.0": "https://mlcommons.org/en/training-normal-30/",
    "3.1": "https://mlcommons.org/en/training-normal-31/",
    "4.0": "https://mlcommons.org/en/training-normal-40/",
}
RESNET50_V15_224 = 4.089185e09  # torchvision resnet50 at 224 px, multiply-adds (aieff counts it)
# `submission_division` in v0.6 `:::MLL` lines and in `:::MLLOG` JSON.
LOG_DIVISION = (rb'submission_division: \{"value": "(\w+)"', rb'"key": "submission_division", "value": "(\w+)"')
RUN = re.compile(r"(?P<sub>.+)/results/(?P<system>[^/]+)/resnet/result_(?P<n>\d+)\.txt")

# v0.5 logs whose epoch labels count from 0 (label N = N+1 epochs done), from their code and log order.
ZERO_BASED_V05 = {
    "nvidia": "NVIDIA's MXNet logs `train_epoch: 0` first and `eval_accuracy` {epoch: N} after `train_epoch: N`",
    "google-tpu": "Google's TPU resnet_main.py logs `'epoch': current_step // steps_per_epoch - 1`",
    "intel": (
        "Intel's logs label the first evaluation -1 and the next 0, ...; aieff reads label -1 as 0 epochs and "
        "label N as N+1. The timestamps show a whole epoch of training (about as long as every later one) "
        "before the evaluation labelled -1, so the true count is probably one epoch more than aieff reads "
        "(+1.6% at 64 epochs); aieff's epochs_start_at cannot express labels that count from -1"
    ),
}
V05_ORG = {"google": "Google", "intel": "Intel", "nvidia": "NVIDIA"}

# Open-division submissions: what each trained, read from its code and README in the snapshot. A model
# aieff can count (torchvision resnet50 = ResNet-50 v1.5 at 224 px) makes an entry; otherwise the reason.
_V15 = "ResNet-50 v1.5 at 224 px, as far as its public code and README say: "
_BLURPOOL = (
    "changed the model and the resolution: Composer's BlurPool (blur filters before strided convolutions, not "
    "in torchvision resnet50) and progressive resizing (training crops grow to 176 px; evaluation at 224), per "
    "its config.yaml; aieff cannot count BlurPool, so its forward cost cannot be verified"
)
OPEN_MODEL: dict[str, tuple[bool, str]] = {
    "v0.6 Fujitsu abci_2048xV100_mxnet": (
        True,
        _V15 + "its logs run MXNet's `--network resnet-v1b-fl --num-layers 50` (v1b: stride in the 3x3 "
        "convolution) on 2,048 V100s, global batch 86,016 with LARS (base learning rate 13). Moved here from the "
        "closed-division level, where it was listed by mistake (its systems json says open).",
    ),
    "v0.7 Fujitsu gx_V100x8_fjmxnet": (
        True,
        _V15 + "its logs run MXNet's network='resnet-v1b-normconv-fl', num_layers=50, image_shape 224x224, "
        "optimizer sgdwfastlars, on 8 V100s.",
    ),
    "v0.7 SIAT modelarts_1024_tensorflow_open": (
        True,
        _V15 + "tensorflow_open_src/main.py sets 'resnet_version': 'v1.5' and data_generator.py trains at 224 px.",
    ),
    "v0.7 SIAT modelarts_512_tensorflow_open": (
        True,
        _V15 + "tensorflow_open_src/main.py sets 'resnet_version': 'v1.5' and data_generator.py trains at 224 px. "
        "Its logs name both divisions; the folder (…_open) puts it in the open division.",
    ),
    "v0.7 SIAT modelarts_128_mindspore_open": (
        True,
        _V15 + "MindSpore resnet50 with the second-order optimizer THOR (mindspore_open_src/train.py, image_size "
        "224); THOR's preconditioner arithmetic is not in the forward graph and is not counted.",
    ),
    "v0.7 SIAT modelarts_256_mindspore_open": (
        True,
        _V15 + "MindSpore resnet50 with the second-order optimizer THOR (mindspore_open_src/train.py, image_size "
        "224); THOR's preconditioner arithmetic is not in the forward graph and is not counted.",
    ),
    "v1.0 Google tpu-v4-256-JAX-Distributed-Shampoo": (
        True,
        _V15 + "the README names the MLPerf ResNet-50 benchmark model and the Distributed Shampoo optimizer "
        "(global batch 32,768); its code ran on Google's internal infrastructure and is not public. Shampoo's "
        "preconditioner arithmetic is not in the forward graph and is not counted.",
    ),
    "v2.0 MosaicML 8xA100_80GB-baseline": (
        True,
        _V15 + "Composer's resnet50 (torchvision's) trained at 224 px crops with label smoothing and channels-last "
        "(8xA100_80GB-baseline/config.yaml).",
    ),
    "v2.0 MosaicML 8xA100_80GB-methods": (False, _BLURPOOL),
    "v3.1 Ailiverse 8xA100_40GB_open": (False, _BLURPOOL + " (the same recipe as MosaicML's v2.0 methods)"),
}
# Notes on how particular submissions' logs were read.
EXTRA_NOTE = {
    "v0.5 Google cloud_v100x8/8xV100": (
        "Epoch labels are read from 1 (inferred): tf_cnn_benchmarks labels an evaluation with the epochs done, "
        "and its last train_epoch line reads '61, but this epoch only has 0.04% of the examples'."
    ),
}


# The hand-picked entries these levels held before issue 19 (publication.date, epochs_to_target), so that an
# entry whose values changed says so in its notes.
PREVIOUS = {
    "mlperf-v0-5-google-8xv100": ("2018-12-12", 61),
    "mlperf-v0-5-nvidia-dgx1-ngc18-11-mxnet": ("2018-12-12", 62),
    "mlperf-v0-6-fujitsu-abci-2048xv100-mxnet": ("2019-07-10", 90),
    "mlperf-v0-6-google-tpu-v3-32": ("2019-07-10", 60),
    "mlperf-v0-6-nvidia-dgx1-ngc19-05-mxnet": ("2019-07-10", 60),
    "mlperf-v0-7-dellemc-dss8440": ("2020-07-29", 35),
    "mlperf-v0-7-fujitsu-gx-v100x8-ngc20-06-mxnet": ("2020-07-29", 35),
    "mlperf-v0-7-inspur-nf5488-mxnet": ("2020-07-29", 35),
    "mlperf-v1-0-dell-2xdss8440x8a100-pcie-40gb": ("2021-06-30", 35),
    "mlperf-v1-0-fujitsu-gx-a100x4-mxnet-ngc-21-05": ("2021-06-30", 35),
    "mlperf-v1-0-gigabyte-g492-zd2-a100-20210517-mxnet": ("2021-06-30", 35),
    "mlperf-v1-1-azure-nd96amsr-a100-v4-n8-ngc21-09-mxnet": ("2021-12-01", 35),
    "mlperf-v1-1-baidu-1-node-8-a100-ngc21-05-mxnet": ("2021-12-01", 35),
    "mlperf-v1-1-dell-2xr750xax4a100-pcie-80gb": ("2021-12-01", 35),
    "mlperf-v2-0-asustek-esc8000a-e11-8xa100-pcie-80gb-nvbridge": ("2022-06-29", 35),
    "mlperf-v2-0-azure-nd96amsr-a100-v4-n1-mxnet": ("2022-06-29", 35),
    "mlperf-v2-0-dell-2xxe8545x4a100-sxm-40gb": ("2022-06-29", 35),
    "mlperf-v2-1-asustek-esc8000a-e11-8xa100-pcie-80gb-nvbridge": ("2022-11-09", 35),
    "mlperf-v2-1-azure-nc96ads-a100-v4-mxnet": ("2022-11-09", 35),
    "mlperf-v2-1-dell-2xxe8545x4a100-sxm-40gb": ("2022-11-09", 35),
    "mlperf-v3-0-asustek-esc4000-e11-4xa100-pcie-80gb": ("2023-06-27", 35),
    "mlperf-v3-0-azure-nd-h100-v5-mxnet": ("2023-06-27", 35),
    "mlperf-v3-0-dell-2xr750xax4a100-pcie-80gb": ("2023-06-27", 35),
    "mlperf-v3-1-asustek-esc-n8-e11": ("2023-11-08", 35),
    "mlperf-v3-1-azure-nd-h100-v5-mxnet": ("2023-11-08", 35),
    "mlperf-v3-1-ctuning-a10x2-mxnet-22-08": ("2023-11-08", 35),
    "mlperf-v4-0-asustek-esc8000a-e12-8xh100-pcie-80gb": ("2024-06-12", 35),
    "mlperf-v4-0-dell-r760xax4l40s": ("2024-06-12", 35),
    "mlperf-v4-0-fujitsu-gx2560m7-h100-sxm-80gbx4": ("2024-06-12", 35),
}


@dataclass
class Run:
    """One run's log and how it reads."""

    path: str
    raw: bytes | None
    status: str = ""  # "reached", "aborted", "short", "unreadable", "missing"
    epochs: float | None = None
    line: int = 0
    value: float = 0.0
    why: str = ""


@dataclass
class Sub:
    """One submission of one round."""

    round: str
    org: str
    folder: str  # path before /results/
    system: str
    division: str
    runs: list[Run] = field(default_factory=list)
    division_note: str = ""
    zero_based: str = ""
    commit: str = ""
    commit_date: str = ""

    @property
    def candidate(self) -> str:
        if self.round == "0.5":
            inner = self.folder.split("/", 2)[2] if self.folder.count("/") >= 2 else self.folder
            return f"v0.5 {self.org} {inner}/{self.system}"
        return f"v{self.round} {self.org} {self.system}"

    @property
    def display(self) -> str:
        """The system as titles show it (v0.5 TPU submissions all name their system 'tpu')."""
        if self.round == "0.5" and self.system == "tpu":
            return self.folder.rsplit("/", 1)[-1].removeprefix("resnet-")
        return self.system

    @property
    def slug(self) -> str:
        name = self.system
        if self.round == "0.5" and self.system == "tpu":
            name = self.folder.rsplit("/", 1)[-1].removeprefix("resnet-")
        text = f"mlperf-v{self.round}-{self.org}-{name}".lower()
        return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].rstrip("-")


def git(mirror: Path, rnd: str, *args: str) -> bytes:
    repo = mirror / f"mlcommons+training_results_v{rnd}" / "repo"
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, check=True).stdout


def show(mirror: Path, rnd: str, path: str) -> bytes | None:
    try:
        return git(mirror, rnd, "show", f"{PINNED[rnd]}:{path}")
    except subprocess.CalledProcessError:
        return None  # listed in the snapshot's tree, bytes absent


def division_of(mirror: Path, sub: Sub) -> None:
    org_root = sub.folder if sub.round != "0.5" else sub.folder
    for cand in (f"{org_root}/systems/{sub.system}.json", f"{org_root}/results/{sub.system}/entry.json"):
        raw = show(mirror, sub.round, cand)
        if raw is None:
            continue
        try:
            value = json.loads(raw).get("division")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, str) and value.strip():
            sub.division = {"close": "closed"}.get(value.strip().lower(), value.strip().lower())
            sub.division_note = f"`division` in {cand.rsplit('/', 1)[-1]}"
            break
    in_logs = set()
    for run in sub.runs:
        if run.raw:
            head = run.raw[:300_000]
            for pattern in LOG_DIVISION:
                in_logs |= {m.decode().lower() for m in re.findall(pattern, head)}
    if not sub.division and len(in_logs) == 1:
        sub.division = in_logs.pop()
        sub.division_note = "`submission_division` in the logs"
    elif not sub.division and in_logs:
        sub.division = "open" if sub.system.endswith("_open") else "closed"
        sub.division_note = (
            f"the logs say {' and '.join(sorted(in_logs))}; the system folder's name ({sub.system}) decides"
        )
    elif in_logs and in_logs != {sub.division}:
        sub.division_note += f" (the logs say {', '.join(sorted(in_logs))})"


def level(level_id: str) -> Benchmark:
    data = load_file(ROOT / "entries" / level_id / "benchmark.yaml", level_id).data
    data.pop("policy", None)  # rewritten below
    return Benchmark.model_validate(data)


def spec_for(sub: Sub) -> TrainingLog:
    return TrainingLog(
        url="https://example.org/x",
        sha256="0" * 64,
        format="mlperf-mllog",
        metric_scale="fraction",
        epochs_start_at=0 if sub.zero_based else None,
    )


def read_runs(sub: Sub, lvl: Benchmark) -> None:
    read_logs(sub.runs, spec_for(sub), lvl, "epochs")


def read_logs(runs: list[Any], spec: TrainingLog, lvl: Benchmark, field: str) -> None:
    """Read each run's log to its first evaluation at the level; the evaluation's `field` (epochs or samples) is
    the run's reading. A run's `status` says how it read (shared with the BERT levels' script)."""
    for run in runs:
        if run.raw is None:
            run.status, run.why = "missing", "bytes absent from the snapshot"
            continue
        try:
            reached = logs.first_reaching(logs.parse(run.raw, spec, lvl), lvl)
        except RunAborted:
            run.status = "aborted"
            continue
        except NotReached:
            run.status = "short"
            continue
        except DataError as exc:
            run.status, run.why = "unreadable", str(exc)[:160]
            continue
        run.status = "reached"
        setattr(run, field, getattr(reached.eval, field))
        run.line, run.value = reached.eval.line, reached.eval.value


def median_epochs(sub: Sub) -> float | None:
    return median_of(sub.runs, "epochs")


def median_of(runs: list[Any], field: str) -> float | None:
    """The median of the runs' `field` over counted runs (a short run counts as more than any), or None when
    the median run does not reach the level."""
    reached = sorted(getattr(r, field) for r in runs if r.status == "reached" and getattr(r, field) is not None)
    counted = len(reached) + sum(r.status == "short" for r in runs)
    if not counted:
        return None
    lo, hi = (counted - 1) // 2, counted // 2
    if hi >= len(reached):
        return None
    return (reached[lo] + reached[hi]) / 2


def skip_reason(sub: Sub, target: str) -> str:
    """Why a submission is not an entry, or "" when it is one."""
    missing = [r for r in sub.runs if r.status == "missing"]
    if missing:
        return (
            f"no logs in the snapshot: {len(missing)} of {len(sub.runs)} run logs are listed in its tree but their "
            "bytes are absent from the copy this level is built from (not yet extracted)"
        )
    bad = [r for r in sub.runs if r.status == "unreadable"]
    if bad:
        name = bad[0].path.rsplit("/", 1)[-1]
        return f"{len(bad)} of {len(sub.runs)} run logs cannot be read by aieff (e.g. {name}: {bad[0].why})"
    if len(sub.runs) < 2:
        return "a single run log: MLPerf submissions are several runs, and the others are not public"
    if not any(r.status == "reached" for r in sub.runs):
        return f"no run reaches {target}"
    if median_epochs(sub) is None:
        return f"the median run does not reach {target}"
    return ""


def discover(mirror: Path, rnd: str) -> list[Sub]:
    names = git(mirror, rnd, "ls-tree", "-r", "--name-only", PINNED[rnd]).decode().splitlines()
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for name in names:
        m = RUN.fullmatch(name)
        if m and (rnd != "0.5" or name.startswith("v0.5.0/")):
            found.setdefault((m["sub"], m["system"]), []).append((int(m["n"]), name))
    subs = []
    for (folder, system), files in sorted(found.items()):
        org = V05_ORG[folder.split("/")[1]] if rnd == "0.5" else folder
        sub = Sub(rnd, org, folder, system, "")
        sub.runs = [Run(path, show(mirror, rnd, path)) for _, path in sorted(files)]
        division_of(mirror, sub)
        if rnd == "0.5" and org in ("NVIDIA", "Intel"):
            sub.zero_based = ZERO_BASED_V05[org.lower()]
        elif rnd == "0.5" and org == "Google" and system == "tpu":
            sub.zero_based = ZERO_BASED_V05["google-tpu"]
        out = git(mirror, rnd, "log", "-1", "--format=%H %cI", PINNED[rnd], "--", *(r.path for r in sub.runs))
        sha, when = out.decode().split()
        sub.commit = sha
        sub.commit_date = dt.datetime.fromisoformat(when).astimezone(dt.UTC).date().isoformat()
        subs.append(sub)
    return subs


def q(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def raw_url(sub: Sub, path: str) -> str:
    quoted = urllib.parse.quote(path, safe="/+")
    return f"https://raw.githubusercontent.com/mlcommons/training_results_v{sub.round}/{PINNED[sub.round]}/{quoted}"


def tree_url(sub: Sub) -> str:
    folder = sub.runs[0].path.rsplit("/", 1)[0]
    quoted = urllib.parse.quote(folder, safe="/+")
    return f"https://github.com/mlcommons/training_results_v{sub.round}/tree/{PINNED[sub.round]}/{quoted}"


def fmt_epochs(x: float) -> str:
    return f"{x:g}"


def entry_yaml(sub: Sub, level_id: str, target: str, extra_note: str) -> str:
    epochs = median_epochs(sub)
    assert epochs is not None
    title = f"MLPerf Training v{sub.round} results: {sub.org} {sub.display}"
    counted = [r for r in sub.runs if r.status in ("reached", "short")]
    per_run = ", ".join(
        fmt_epochs(r.epochs) if r.status == "reached" and r.epochs is not None else r.status for r in sub.runs
    )
    aborted = sum(r.status == "aborted" for r in sub.runs)
    short = sum(r.status == "short" for r in sub.runs)
    parts = [
        f"{sub.org}'s {sub.display} submission to MLPerf Training v{sub.round} ({sub.division} division; "
        f"{sub.division_note}).",
        f"{len(sub.runs)} runs, epochs to {target} per run in file order: {per_run}"
        + (f" ({aborted} aborted: listed, not counted)" if aborted else "")
        + (f" ({short} never reached it: counted as needing more than they trained)" if short else "")
        + f"; the median over the {len(counted)} counted runs, {fmt_epochs(epochs)} epochs, counts.",
    ]
    if sub.zero_based:
        parts.append(f"Epoch labels are read from 0 (epochs_start_at: 0): {sub.zero_based}.")
    elif sub.round != "0.5":
        parts.append(
            "Epochs are the epoch_num of the first eval_accuracy at or above the target (the last epoch of the "
            "block just trained, counted from 1); evaluations come every few epochs, so the level may have "
            "been reached up to one block earlier."
        )
    if extra_note:
        parts.append(extra_note)
    if sub.slug in PREVIOUS:
        date, was = PREVIOUS[sub.slug]
        changed = []
        if was != epochs:
            changed.append(f"epochs_to_target {fmt_epochs(was)} -> {fmt_epochs(epochs)}")
        if date != sub.commit_date:
            changed.append(
                f"publication.date {date} (the round's publication) -> {sub.commit_date} (the commit that added "
                "its logs; the round's date is now submission.source_date)"
            )
        if changed:
            parts.append("Changed in the MLPerf levels' rebuild (issue 19): " + "; ".join(changed) + ".")
    fixed = "the model MLPerf's closed division fixes" if sub.division == "closed" else "what this submission trained"
    parts.append(
        f"Forward cost counted by aieff with torchvision resnet50 (ResNet-50 v1.5, stride in the 3x3 convolution, "
        f"{fixed}) at 224 px."
    )
    parts.append(
        f"Generated by entries/mlperf-resnet50-v1-5/make_entries.py (every {sub.division}-division submission "
        "with public logs is an entry; rank and frontier decide what matters)."
    )
    lines = [
        "# yaml-language-server: $schema=../../schema/entry.schema.json",
        f"id: {q(sub.slug)}",
        f"benchmark: {q(level_id)}",
        f"model: {q(f'ResNet-50 v1.5 (v{sub.round}, {sub.org} {sub.display})')}",
        "publication:",
        f"  title: {q(title)}",
        "  authors:",
        f"    - {q(sub.org)}",
        f"  url: {q(tree_url(sub))}",
        f"  date: {sub.commit_date}",
        f"hardware: {q(sub.display)}",
        "training:",
        f"  epochs_to_target: {fmt_epochs(epochs)}",
        "  forward_cost:",
        f"    value: {RESNET50_V15_224:.6e}".replace("e+09", "e09"),
        '    unit: "multiply-adds"',
        "    resolution: 224",
        "  source:",
        f"    title: {q(title)}",
        f"    url: {q(tree_url(sub))}",
        '    locator: "result_*.txt: eval_accuracy events (median over the runs)"',
        "artifacts:",
        "  architecture:",
        '    torchvision: "resnet50"',
        "  training_logs:",
    ]
    for run in sub.runs:
        assert run.raw is not None
        lines += [
            f"    - url: {q(raw_url(sub, run.path))}",
            f'      sha256: "{hashlib.sha256(run.raw).hexdigest()}"',
            f"      size_bytes: {len(run.raw)}",
            '      format: "mlperf-mllog"',
            '      metric_scale: "fraction"',
        ]
        if sub.zero_based:
            lines.append("      epochs_start_at: 0")
    lines += [
        "analysis:",
        f"  title: {q(f'MLCommons: MLPerf Training v{sub.round} results')}",
        f"  url: {q(RESULTS_PAGE[sub.round])}",
        f"  locator: {q(f'results table, ResNet-50 column (round published {ROUND_DATE[sub.round]})')}",
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
    if ROUND_DATE[sub.round] != sub.commit_date:
        lines.append(f"  source_date: {ROUND_DATE[sub.round]}")
    lines.append(f"notes: {q(' '.join(parts))}")
    return "\n".join(lines) + "\n"


def policy_yaml(candidates_are: str, division: str, subs: list[Sub], skipped: dict[str, str]) -> str:
    lines = ["policy:", f"  candidates_are: {q(candidates_are)}", "  candidates:"]
    lines += [f"    - {q(s.candidate)}" for s in subs]
    lines.append("  not_entered:" if skipped else "  not_entered: []")
    for s in subs:
        if s.candidate in skipped:
            lines += [f"    - candidate: {q(s.candidate)}", f"      reason: {q(skipped[s.candidate])}"]
    lines += [
        f"  division: {division}",
        "  run_choice: [every-run]",
        "  combine: median",
        "  dating: first-public-run",
    ]
    return "\n".join(lines) + "\n"


def write_level(level_id: str, subs: list[Sub], division: str, candidates_are: str, target: str) -> dict[str, str]:
    folder = ROOT / "entries" / level_id
    folder.mkdir(exist_ok=True)
    lvl = level(level_id)
    skipped: dict[str, str] = {}
    for old in folder.glob("mlperf-*.yaml"):
        old.unlink()
    for sub in subs:
        read_runs(sub, lvl)
        reason = skip_reason(sub, target)
        extra = EXTRA_NOTE.get(sub.candidate, "")
        if level_id == OPEN:
            countable, why = OPEN_MODEL.get(sub.candidate, (False, "not yet read: what it trained is unknown"))
            if not countable:
                reason = reason or why
            extra = why if countable else extra
        if reason:
            skipped[sub.candidate] = reason
            continue
        (folder / f"{sub.slug}.yaml").write_text(entry_yaml(sub, level_id, target, extra))
    bench = folder / "benchmark.yaml"
    bench.write_text(with_policy(bench.read_text(), policy_yaml(candidates_are, division, subs, skipped)))
    return skipped


def with_policy(text: str, block: str) -> str:
    """A level file with its `policy:` block replaced by `block`; what comes before and after it (hand-written,
    such as a `narrative:` added later) is kept as it is."""
    head, found, rest = text.partition("\npolicy:\n")
    lines = rest.split("\n") if found else []
    end = next((i for i, line in enumerate(lines) if line and not line.startswith((" ", "#"))), len(lines))
    tail = "\n".join(lines[end:])
    return head.rstrip("\n") + "\n" + block + (tail if tail.strip() else "")


def export(subs: list[Sub], out: Path) -> None:
    for sub in subs:
        for run in sub.runs:
            if run.raw is not None:
                dest = out / f"v{sub.round}" / run.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(run.raw)


def main() -> None:
    """Read the snapshots, write the three levels' entries and policies, and copy the logs to --out."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--mirror", type=Path, required=True, help="folder holding mlcommons+training_results_v*/repo")
    ap.add_argument("--out", type=Path, required=True, help="where to copy every run log (for aieff cache add)")
    args = ap.parse_args()
    by_round = {rnd: discover(args.mirror, rnd) for rnd in ROUNDS}
    every = [s for subs in by_round.values() for s in subs]
    export(every, args.out)
    v05 = [s for s in by_round["0.5"] if s.division == "closed"]
    later = [s for rnd in ROUNDS[1:] for s in by_round[rnd]]
    closed = [s for s in later if s.division == "closed"]
    opened = [s for s in later if s.division == "open"]
    unknown = [s.candidate for s in every if s.division not in ("closed", "open")]
    if unknown:
        raise SystemExit(f"no division for: {unknown}")
    for level_id, subs, division, what, target in (
        (
            V05,
            v05,
            "closed",
            "Every closed-division ResNet-50 submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v0.5 snapshot.",
            "74.9%",
        ),
        (
            CLOSED,
            closed,
            "closed",
            "Every closed-division ResNet-50 submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v0.6 to v4.0 snapshots.",
            "75.9%",
        ),
        (
            OPEN,
            opened,
            "open",
            "Every open-division ResNet-50 submission (a system folder with result_N.txt run logs) of the "
            "mlcommons/training_results_v0.6 to v4.0 snapshots (v4.0 has none).",
            "75.9%",
        ),
    ):
        skipped = write_level(level_id, subs, division, what, target)
        print(f"{level_id}: {len(subs)} candidates, {len(subs) - len(skipped)} entries, {len(skipped)} not entered")


if __name__ == "__main__":
    main()
