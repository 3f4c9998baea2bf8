"""Read each entry's time to the level and its accelerators from the run's own records, and write them as the
entry's `time_to_level` block, so the numbers are read, never typed.

Time: the pinned logs (from the artifact cache, by sha256) at the first evaluation at the level that the
log's parser finds, the way aieff estimate finds it (DAWNBench TSV hours, MLPerf timestamps, the speedrun's
train_time); MLPerf's runs combine as the median over the counted runs, as their compute does.
Accelerators: the source's own statement, read from a snapshot of its repository (a bare git directory
under MIRRORS, as the `fetch` tool leaves them): DAWNBench's submission JSON, MLPerf's system description,
the speedrun's nvidia-smi table in the log or its README. A statement this module cannot map to a key of
the hardware table leaves the accelerators out (the time stays): it never guesses a type.

    python -m aieff.verify.timefacts --mirrors /work/.mirror [--check] [LEVEL ...]

--check writes nothing and exits 1 when an entry's block differs from what its records say.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aieff.dataset.docset import Dataset
from aieff.dataset.schema import Benchmark, Entry, TrainingLog
from aieff.dataset.validate import validate
from aieff.repo import DataError, NotReached, RunAborted
from aieff.verify import logs
from aieff.verify.fetch import cache_dir
from aieff.verify.logs.times import Clock, seconds_at

RAW = re.compile(r"^https://raw\.githubusercontent\.com/([^/]+)/([^/]+)/([0-9a-f]{40})/(.+)$")
LEVELS = (
    "dawnbench-imagenet-93",
    "cifar10-94",
    "mlperf-resnet50-v0-5",
    "mlperf-resnet50-v1-5",
    "mlperf-resnet50-open",
    "gpt2-fineweb-3-28",
)

SCOPE_DAWNBENCH = (
    "The hours column of the submission's TSV at the row of the first evaluation at the level: wall-clock time "
    "since training started as the submitter's script timed it (DAWNBench's time to accuracy), with the "
    "evaluations and data loading during training included; set-up before training is not counted."
)
SCOPE_MLPERF = (
    "MLPerf's timed region: from run_start to the eval_accuracy event of the first evaluation at the level, "
    "training, evaluations and data loading included; initialisation before run_start is excluded, as MLPerf's "
    "rules leave it out."
)
SCOPE_SPEEDRUN = (
    "The speedrun's train_time at the first evaluation at the level: training steps only; the timer pauses "
    "during evaluations and starts after compilation and warm-up."
)
SCOPE_SPEEDRUN_10 = " This record's script also leaves its first 10 steps untimed (it resets the timer at step 10)."


@dataclass
class Found:
    """The facts read for one entry: a time_to_level block as plain data, or why there is none."""

    block: dict[str, Any] | None
    why: str = ""


def git_show(mirrors: Path, owner: str, repo: str, commit: str, path: str, *, raw: bool = False) -> Any:
    """A file at a commit of a repository snapshot; DataError when the snapshot lacks it."""
    git_dir = mirrors / f"{owner}+{repo}" / "repo"
    if (git_dir / ".git").is_dir():
        git_dir = git_dir / ".git"
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=False
    )
    if proc.returncode:
        raise DataError(f"{owner}/{repo}@{commit[:7]}:{path} is not in the snapshot")
    if raw:
        return proc.stdout
    return proc.stdout.decode("utf-8", errors="replace").removeprefix("\ufeff")


def blob(owner: str, repo: str, commit: str, path: str) -> str:
    """The GitHub page of a file at a commit."""
    return f"https://github.com/{owner}/{repo}/blob/{commit}/{quote(path)}"


def log_text(spec: TrainingLog, root: Path, mirrors: Path | None = None) -> str:
    """A log's text: the repository file (a path), else the cached bytes of its sha256, else the pinned file
    from a repository snapshot under mirrors; the bytes must have the entry's sha256."""
    path = root / spec.path if spec.path else cache_dir() / str(spec.sha256)
    if path.is_file():
        data = path.read_bytes()
    elif mirrors is not None and spec.url:
        owner, repo, commit, file = _pin(spec)
        data = git_show(mirrors, owner, repo, commit, file, raw=True)
    else:
        raise DataError(f"{spec.url or spec.path}: not in the artifact cache (aieff cache)")
    if spec.sha256 and hashlib.sha256(data).hexdigest() != spec.sha256:
        raise DataError(f"{spec.url or spec.path}: bytes differ from the entry's sha256")
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def run_clock(text: str, spec: TrainingLog, level: Benchmark) -> tuple[Clock, int]:
    """The clock at the first evaluation at the level of one log, and that evaluation's line."""
    reached = logs.first_reaching(logs.parse(text, spec, level), level)
    return seconds_at(text, spec.format, reached.eval.line), reached.eval.line


def median_seconds(times: list[float]) -> float:
    """The median as the runs' compute takes it: runs that never reach the level count as infinitely slow."""
    ordered = sorted(times)
    lo, hi = (len(ordered) - 1) // 2, len(ordered) // 2
    if math.isinf(ordered[hi]):
        raise DataError("the median run never reaches the level")
    return (ordered[lo] + ordered[hi]) / 2


def time_block(entry: Entry, level: Benchmark, root: Path, mirrors: Path | None = None) -> tuple[dict[str, Any], str]:
    """seconds, runs_seconds, source of the entry's time; and the text of its first (or only) log."""
    specs = entry.artifacts.logs() if entry.artifacts else []
    if not specs:
        raise DataError("no training log")
    if len(specs) == 1:
        text = log_text(specs[0], root, mirrors)
        clock, line = run_clock(text, specs[0], level)
        owner, repo, commit, path = _pin(specs[0])
        source = {"title": f"{entry.model}: training log", "url": blob(owner, repo, commit, path)}
        source["locator"] = f"log line {line}: {clock.how} = {clock.seconds:.3f} s (the first evaluation at the level)"
        return {"seconds": round(clock.seconds, 3), "source": source}, text
    times: list[float] = []
    aborted: list[str] = []
    never: list[str] = []
    first = ""
    for i, spec in enumerate(specs):
        text = log_text(spec, root, mirrors)
        first = first or text
        try:
            clock, _line = run_clock(text, spec, level)
        except RunAborted:
            aborted.append(str(i))
            continue
        except NotReached:
            times.append(math.inf)
            never.append(str(i))
            continue
        times.append(clock.seconds)
    seconds = median_seconds(times)
    src = entry.training.source if entry.training else None
    source = {
        "title": src.title if src else f"{entry.model}: training logs",
        "url": src.url if src else str(specs[0].url),
        "locator": f"each run's log: {CLOCK_READ.get(specs[0].format, 'the clock')} at its first evaluation at "
        f"the level (runs_seconds); the median over the {len(times)} counted runs of {len(specs)}"
        + (f"; aborted, not counted: run {', '.join(aborted)}" if aborted else "")
        + (f"; never at the level: run {', '.join(never)}" if never else ""),
    }
    runs = [round(t, 3) for t in times if math.isfinite(t)]
    block: dict[str, Any] = {"seconds": round(seconds, 3)}
    if len(runs) >= 2:
        block["runs_seconds"] = runs
    block["source"] = source
    return block, first


CLOCK_READ = {
    "mlperf-mllog": "the eval_accuracy event's time - the first run_start's",
    "step-log": "train_time",
    "dawnbench-tsv": "the hours column",
}


def _pin(spec: TrainingLog) -> tuple[str, str, str, str]:
    m = RAW.match(str(spec.url or ""))
    if m is None:
        raise DataError(f"{spec.url}: not a raw GitHub URL pinned to a commit")
    owner, repo, commit, path = m.groups()
    return owner, repo, commit, unquote(path)


# --- accelerators ---------------------------------------------------------------------------------------

# DAWNBench's `hardware` field is free text: each wording the submissions use, read as (type, count, how).
# An instance type stands for the GPUs its provider documents for it.
P3 = "AWS p3.16xlarge: 8 V100 SXM2 GPUs"
DAWN_HARDWARE: dict[str, tuple[str, int, str]] = {
    "8 * V100 (AWS p3.16xlarge)": ("nvidia-v100-sxm2", 8, P3),
    "p3.16xlarge": ("nvidia-v100-sxm2", 8, P3),
    "8*V100 (single p3.16xlarge)": ("nvidia-v100-sxm2", 8, P3),
    "16 p3.16xlarge (AWS)": ("nvidia-v100-sxm2", 128, "16 x " + P3),
    "32 * V100 (4 machines - AWS p3.16xlarge)": ("nvidia-v100-sxm2", 32, "4 x " + P3),
    "64 * V100 (8 machines - AWS p3.16xlarge)": ("nvidia-v100-sxm2", 64, "8 x " + P3),
    "V100 (AWS p3.2xlarge)": ("nvidia-v100-sxm2", 1, "AWS p3.2xlarge: 1 V100 SXM2 GPU"),
    "p3.2xlarge": ("nvidia-v100-sxm2", 1, "AWS p3.2xlarge: 1 V100 SXM2 GPU"),
    "Azure ND40s_v2": ("nvidia-v100-sxm2", 8, "Azure ND40s_v2 (NDv2): 8 V100 SXM2 32 GB GPUs with NVLink"),
    "16 ecs.gn6e-c12g1.24xlarge (AlibabaCloud)": (
        "nvidia-v100-sxm2",
        128,
        "the JSON's misc says 16x8 V100-32G; Alibaba's gn6e family: V100 SXM2 32 GB with NVLink",
    ),
    "1 ecs.gn6e-c12g1.24xlarge (AlibabaCloud)": (
        "nvidia-v100-sxm2",
        8,
        "ecs.gn6e-c12g1.24xlarge: 8 V100 SXM2 32 GB GPUs with NVLink (Alibaba's gn6e family)",
    ),
    "16 nodes with InfiniBand (8*V100 with NVLink for each node)": (
        "nvidia-v100-sxm2",
        128,
        "16 nodes x 8 NVLink V100",
    ),
    "16 * 8 * Tesla-V100(ModelArts Service)": ("nvidia-v100", 128, "16 x 8 V100, form factor not stated"),
    "4 M60 / 488 GB / 64 CPU (Amazon EC2 [g3.16xlarge])": ("nvidia-m60", 4, "4 M60 GPUs (AWS g3.16xlarge)"),
    "g3.4xlarge": ("nvidia-m60", 1, "AWS g3.4xlarge: 1 M60 GPU"),
    "8 K80 / 488 GB / 32 CPU (Amazon EC2 [p2.8xlarge])": ("nvidia-k80", 8, "8 K80 GPUs (AWS p2.8xlarge: 4 boards)"),
    "1 K80 / 61 GB / 4 CPU (Amazon EC2 [p2.xlarge])": ("nvidia-k80", 1, "1 K80 GPU (AWS p2.xlarge: half a board)"),
    "1 K80 / 30 GB / 8 CPU (Google Cloud)": ("nvidia-k80", 1, "1 K80 GPU (Google Cloud counts GPUs, half a board)"),
    "Lambda GPU Cloud - 4x GTX 1080 Ti": ("nvidia-gtx-1080-ti", 4, "4 GTX 1080 Ti"),
    "1 GPU (Nvidia GeForce GTX 1080 Ti)": ("nvidia-gtx-1080-ti", 1, "1 GTX 1080 Ti"),
    "8 P100 / 512 GB / 40 CPU (NVIDIA DGX-1)": ("nvidia-p100-sxm2", 8, "NVIDIA DGX-1: 8 P100 SXM2"),
    "1 P100 / 512 GB / 56 CPU (DAWN Internal Cluster)": ("nvidia-p100", 1, "1 P100, form factor not stated"),
    "1/4 of a TPUv2 Pod": ("google-tpu-v2", 64, "a TPU v2 Pod is 256 chips: a quarter is 64"),
    "1/16 of a TPUv2 Pod": ("google-tpu-v2", 16, "a TPU v2 Pod is 256 chips: a sixteenth is 16"),
    "Half of a TPUv2 Pod": ("google-tpu-v2", 128, "a TPU v2 Pod is 256 chips: half is 128"),
    "128 nodes with Xeon Platinum 8124M / 144 GB / 36 Cores (Amazon EC2 [c5.18xlarge])": (
        "intel-xeon-platinum-8124m",
        256,
        "128 c5.18xlarge nodes of 36 cores = 2 sockets of 18 cores each",
    ),
    "64 nodes with Xeon Platinum 8124M / 144 GB / 36 Cores (Amazon EC2 [c5.18xlarge])": (
        "intel-xeon-platinum-8124m",
        128,
        "64 c5.18xlarge nodes of 36 cores = 2 sockets of 18 cores each",
    ),
    "IBM AC922 + Nvidia Tesla V100 (Nimbix np9g1)": ("nvidia-v100-sxm2", 1, "IBM AC922: V100 SXM2 with NVLink"),
    "IBM AC922 + 4 * Nvidia Tesla V100 (NCSA HAL)": ("nvidia-v100-sxm2", 4, "IBM AC922: V100 SXM2 with NVLink"),
    "Tesla V100 * 8 GPU / 32 GB / 40 CPU": ("nvidia-v100", 8, "8 V100, form factor not stated"),
    "Baidu Cloud Tesla 8*V100-16GB/448 GB/96 CPU": ("nvidia-v100", 8, "8 V100 16 GB, form factor not stated"),
    "Baidu Cloud Tesla V100*1-16GB/56 GB/12 CPU": ("nvidia-v100", 1, "1 V100 16 GB, form factor not stated"),
    "Paperspace Volta (V100)": ("nvidia-v100", 1, "1 V100, form factor not stated"),
    "Tesla V100 * 1 GPU / 488 GB / 56 CPU (Kakao Brain BrainCloud)": ("nvidia-v100", 1, "1 V100, form not stated"),
    "Tesla V100 * 4 GPU / 488 GB / 56 CPU (Kakao Brain BrainCloud)": ("nvidia-v100", 4, "4 V100, form not stated"),
}
# A Cloud TPU before October 2018 was a v2 device (v3 was announced in May 2018 and came to Cloud in beta later):
# these frameworks' entries name no generation otherwise.
CLOUD_TPU_V2 = ("TensorFlow v1.7rc1", "TensorFlow v1.8rc1", "TensorFlow 1.8.0-rc0")


def dawnbench_accelerators(entry: Entry, mirrors: Path) -> dict[str, Any] | None:
    """The accelerators the submission JSON beside the entry's TSV states."""
    spec = entry.artifacts.logs()[0] if entry.artifacts else None
    if spec is None or spec.format != "dawnbench-tsv":
        return None
    owner, repo, commit, path = _pin(spec)
    json_path = path.removesuffix(".tsv") + ".json"
    doc = json.loads(git_show(mirrors, owner, repo, commit, json_path))
    hardware, framework = str(doc.get("hardware", "")), str(doc.get("framework", ""))
    if hardware == "GCP n1-standard-2, Cloud TPU" and framework in CLOUD_TPU_V2:
        kind, count, how = "google-tpu-v2", 4, f"one Cloud TPU of early 2018 ({framework}): a v2-8 device, 4 chips"
    elif hardware in DAWN_HARDWARE:
        kind, count, how = DAWN_HARDWARE[hardware]
    else:
        return None
    misc = doc.get("misc") if isinstance(doc.get("misc"), dict) else {}
    precision, basis = _dawn_precision(kind, misc, framework)
    out: dict[str, Any] = {
        "type": kind,
        "count": count,
        "precision": precision,
        "source": {
            "title": f"DAWNBench submission {json_path.rsplit('/', 1)[-1]}",
            "url": blob(owner, repo, commit, json_path),
            "locator": f"hardware: {json.dumps(hardware)}"
            + (f"; framework: {json.dumps(framework)}" if framework else ""),
        },
    }
    if basis == "stated":
        out["precision_source"] = dict(out["source"], locator="misc: mixed_precision: true")
        out["note"] = how
    else:
        out["note"] = f"{how}. Precision: {basis}"
    return out


def _dawn_precision(kind: str, misc: dict[str, Any], framework: str) -> tuple[str, str]:
    if misc.get("mixed_precision") is True and "v100" in kind:
        return "fp16", "stated"
    if kind.startswith("google-tpu"):
        return "bf16", "inferred: TPU matrix units multiply in bfloat16 (the table's only TPU peak)"
    if "v100" in kind:
        return "fp16", (
            "inferred, not stated: V100 entries trained in mixed precision on tensor cores (FP16), as the fast "
            "DAWNBench codes did; were one FP32, its utilisation against the FP16 peak reads 8x low"
        )
    return "fp32", "inferred: FP32, the framework default; the entry states no reduced precision"


def mlperf_accelerators(entry: Entry, mirrors: Path) -> dict[str, Any] | None:
    """The accelerators the submission's system description states (v0.5: entry.json beside the results)."""
    spec = entry.artifacts.logs()[0] if entry.artifacts else None
    if spec is None or spec.format != "mlperf-mllog":
        return None
    owner, repo, commit, path = _pin(spec)
    parts = path.split("/")
    i = parts.index("results")
    if repo.endswith("v0.5"):
        sys_path = "/".join(parts[: i + 2]) + "/entry.json"
    else:
        sys_path = "/".join(parts[:i]) + "/systems/" + parts[i + 1] + ".json"
    doc = system_description(git_show(mirrors, owner, repo, commit, sys_path))
    name, count, how = _system_accelerators(doc)
    if name is None or count is None:
        return None
    kind = mlperf_kind(name, doc)
    if kind is None:
        return None
    if kind.startswith("google-tpu") and (m := re.fullmatch(r"tpuv[234]-([0-9]+)", name)):
        count, how = int(m.group(1)) // 2, f"{name}: a TPU name counts TensorCores, two per chip"
    precision, basis = _mlperf_precision(kind)
    return {
        "type": kind,
        "count": count,
        "precision": precision,
        "source": {
            "title": f"MLPerf system description {sys_path.rsplit('/', 1)[-1]}",
            "url": blob(owner, repo, commit, sys_path),
            "locator": how,
        },
        "note": f"Precision: {basis}",
    }


def system_description(text: str) -> dict[str, Any]:
    """A system description as a mapping: JSON, or v0.6 NVIDIA's `key: {"value": ...}` lines."""
    try:
        doc = json.loads(text)
        return doc if isinstance(doc, dict) else {}
    except json.JSONDecodeError:
        pass
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(": ")
        if sep and key.isidentifier():
            try:
                out[key] = json.loads(rest).get("value")
            except (json.JSONDecodeError, AttributeError):
                continue
    if isinstance(out.get("entry"), str):
        entry = ast.literal_eval(out["entry"])
        nodes = ast.literal_eval(entry["nodes"]) if isinstance(entry.get("nodes"), str) else entry.get("nodes")
        out["nodes"] = [nodes] if isinstance(nodes, dict) else nodes
    return out


def _int(raw: Any) -> int | None:
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    return value if value > 0 else None


def _system_accelerators(doc: dict[str, Any]) -> tuple[str | None, int | None, str]:
    """(accelerator name, count, what the count was read from) of a system description."""
    if isinstance(doc.get("nodes"), list) and doc["nodes"]:
        nodes = [n for n in doc["nodes"] if isinstance(n, dict)]
        name = str(nodes[0].get("accelerator", ""))
        if name.upper() in ("NA", "N/A", "", "NONE"):
            cpu = str(nodes[0].get("cpu", ""))
            m = re.search(r"Platinum (8180)", cpu)
            cores = sum((_int(n.get("num_nodes")) or 0) * (_int(n.get("num_cores")) or 0) for n in nodes)
            if m is None or not cores:
                return None, None, ""
            return cpu, cores // 28, f"nodes: num_nodes x num_cores = {cores} cores of {cpu} (28 per socket)"
        total = sum((_int(n.get("num_nodes")) or 0) * (_int(n.get("num_accelerators")) or 0) for n in nodes)
        how = "; ".join(
            f"{n.get('num_nodes')} node(s) x {n.get('num_accelerators')} {n.get('accelerator')}" for n in nodes
        )
        return name, total or None, f"nodes: {how}"
    name = str(doc.get("accelerator_model_name", ""))
    node_key = "number_of_nodes" if "number_of_nodes" in doc else "number of nodes"  # DellEMC v0.7 spells it so
    count, per = _int(doc.get(node_key)), _int(doc.get("accelerators_per_node"))
    if not count or not per:
        return None, None, ""
    how = f"{node_key} {count} x accelerators_per_node {per} of accelerator_model_name {json.dumps(name)}"
    return name, count * per, how


MLPERF_NAMES = (
    (r"V100-SXM2", "nvidia-v100-sxm2"),
    (r"^Tesla V100-SXM3-32GB$", "nvidia-v100-sxm3"),
    (r"V100S-PCIe", "nvidia-v100s-pcie"),
    (r"^(NVIDIA |Nvidia )?(Tesla )?V100$", "nvidia-v100"),
    (r"A100", "nvidia-a100"),
    (r"H100-SXM", "nvidia-h100-sxm"),
    (r"H100-PCIe", "nvidia-h100-pcie"),
    (r"H200-SXM", "nvidia-h200-sxm"),
    (r"(?i)^tpu-?v2|^tpuv2", "google-tpu-v2"),
    (r"(?i)^tpu[- ]?v3|^tpuv3", "google-tpu-v3"),
    (r"(?i)^tpu[- ]?v4", "google-tpu-v4"),
    (r"^NVIDIA A30\b", "nvidia-a30"),
    (r"^NVIDIA L4$", "nvidia-l4"),
    (r"^NVIDIA L40$", "nvidia-l40"),
    (r"^NVIDIA L40S$", "nvidia-l40s"),
    (r"^Ascend ?910$", "huawei-ascend-910"),
    (r"Graphcore IPU GC200", "graphcore-gc200"),
    (r"Graphcore Bow IPU", "graphcore-bow"),
    (r"Platinum 8180", "intel-xeon-platinum-8180"),
)


def mlperf_kind(name: str, doc: dict[str, Any]) -> str | None:
    """The hardware table's key for a system description's accelerator name; None when it has none."""
    if name.strip().upper() == "TPU":  # some name only the family: the system name says the generation
        name = str(doc.get("system_name", ""))
    for pattern, kind in MLPERF_NAMES:
        if re.search(pattern, name.strip()):
            return kind
    return None


def _mlperf_precision(kind: str) -> tuple[str, str]:
    if kind.startswith("google-tpu"):
        return "bf16", "inferred: TPU matrix units multiply in bfloat16 (the table's only TPU peak)"
    if kind.startswith("huawei"):
        return "fp16", "inferred: Ascend submissions train in FP16 mixed precision (the table's only Ascend peak)"
    if kind.startswith("graphcore"):
        return "fp16", "inferred: IPU submissions train in FP16 (the table's only IPU peak)"
    if kind.startswith("intel-xeon"):
        return "fp32", "inferred: FP32 (Intel Caffe on Skylake-SP, which has no bf16 units)"
    return "fp16", (
        "inferred, not stated by the system description: closed-division GPU ResNet-50 submissions train in "
        "mixed precision on tensor cores (FP16; BF16 has the same peak)"
    )


SMI = re.compile(r"^\|\s+([0-9]+)\s+NVIDIA (H100 80GB HBM3)\b", re.M)
README_HW = "8 NVIDIA H100 GPUs"


def speedrun_accelerators(entry: Entry, text: str, mirrors: Path) -> dict[str, Any] | None:
    """8 H100 SXM: the log's nvidia-smi table where it prints one, else the speedrun's README."""
    spec = entry.artifacts.logs()[0] if entry.artifacts else None
    if spec is None or spec.format != "step-log":
        return None
    owner, repo, commit, path = _pin(spec)
    gpus = {int(m.group(1)) for m in SMI.finditer(text)}
    precision_note = (
        "Precision: inferred: bf16, the speedrun's matrix-multiply precision (bfloat16 autocast and weights); "
        "some later records run a few layers in FP8, still measured against the bf16 peak"
    )
    if gpus:
        line = text[: SMI.search(text).start()].count("\n") + 1  # type: ignore[union-attr]
        return {
            "type": "nvidia-h100-sxm",
            "count": len(gpus),
            "precision": "bf16",
            "source": {
                "title": f"{entry.model}: training log",
                "url": blob(owner, repo, commit, path),
                "locator": f"nvidia-smi table from line {line}: {len(gpus)} GPUs 'NVIDIA H100 80GB HBM3'",
            },
            "note": f"H100 80GB HBM3 is the SXM5 H100 (the PCIe card has HBM2e). {precision_note}",
        }
    if path.endswith("2024-10-13_llmc/main.log"):
        readme = path.rsplit("/", 1)[0] + "/README.md"
        said = git_show(mirrors, owner, repo, commit, readme)
        if "8x H100 HBM3" not in said:
            return None
        where, locator = readme, "'It was run on a node with 8x H100 HBM3'"
    else:
        said = git_show(mirrors, owner, repo, commit, "README.md")
        if README_HW not in said:
            return None
        where, locator = "README.md", f"'Official records are timed on {README_HW}'"
    return {
        "type": "nvidia-h100-sxm",
        "count": 8,
        "precision": "bf16",
        "source": {"title": f"{owner}/{repo} {where}", "url": blob(owner, repo, commit, where), "locator": locator},
        "note": "The H100 with HBM3 is the SXM5 card; the records' logs that print nvidia-smi show "
        f"'NVIDIA H100 80GB HBM3'. {precision_note}",
    }


def llmc_time(entry: Entry, mirrors: Path) -> dict[str, Any] | None:
    """llm.c's log has no clock: steps to the level x the mean step time its record's README states."""
    spec = entry.artifacts.logs()[0] if entry.artifacts else None
    if spec is None or not str(spec.url).endswith("2024-10-13_llmc/main.log") or not entry.training:
        return None
    owner, repo, commit, path = _pin(spec)
    readme = path.rsplit("/", 1)[0] + "/README.md"
    m = re.search(r"mean per-step time was ([0-9]+)ms", git_show(mirrors, owner, repo, commit, readme))
    steps = entry.training.steps_to_target
    if m is None or steps is None:
        return None
    seconds = steps * int(m.group(1)) / 1000
    return {
        "seconds": round(seconds, 3),
        "scope": "Steps to the level x the mean step time the record's README states: training steps only "
        "(evaluation and start-up excluded); an average, not a clock reading at the evaluation.",
        "source": {
            "title": f"{owner}/{repo} {readme}",
            "url": blob(owner, repo, commit, readme),
            "locator": f"'The mean per-step time was {m.group(1)}ms' x {steps} steps (training.steps_to_target) "
            f"= {seconds:.3f} s",
        },
    }


def read(entry: Entry, level: Benchmark, root: Path, mirrors: Path) -> Found:
    """The time_to_level block the entry's records give, or why they give none."""
    spec = entry.artifacts.logs()[0] if entry.artifacts and entry.artifacts.logs() else None
    if spec is None:
        return Found(None, "no training log")
    if spec.format == "step-log" and "tel:" in (spec.pattern or ""):
        block = llmc_time(entry, mirrors)
        if block is None:
            return Found(None, "the log records no clock and no source states its step time")
        acc = speedrun_accelerators(entry, "", mirrors)
        return Found({**block, **({"accelerators": acc} if acc else {})})
    try:
        timing, text = time_block(entry, level, root, mirrors)
    except (DataError, NotReached, RunAborted) as exc:
        return Found(None, str(exc)[:200])
    if spec.format == "dawnbench-tsv":
        scope, acc = SCOPE_DAWNBENCH, dawnbench_accelerators(entry, mirrors)
    elif spec.format == "mlperf-mllog":
        scope, acc = SCOPE_MLPERF, mlperf_accelerators(entry, mirrors)
    elif spec.format == "step-log":
        untimed = "if step == 10" in text
        scope = SCOPE_SPEEDRUN + (SCOPE_SPEEDRUN_10 if untimed else "")
        acc = speedrun_accelerators(entry, text, mirrors)
    else:
        return Found(None, f"format {spec.format} records no time")
    block = {"seconds": timing["seconds"]}
    if "runs_seconds" in timing:
        block["runs_seconds"] = timing["runs_seconds"]
    block |= {"scope": scope, "source": timing["source"]}
    if acc:
        block["accelerators"] = acc
    return Found(block)


# --- writing the block ------------------------------------------------------------------------------------

KEY_ORDER = ("seconds", "runs_seconds", "scope", "source", "accelerators")


def render(block: dict[str, Any]) -> str:
    """The block as YAML in the entries' style (double-quoted strings, fixed key order)."""
    lines = ["time_to_level:"]
    _emit(block, 1, lines)
    return "\n".join(lines) + "\n"


def _emit(value: dict[str, Any], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    for key, v in value.items():
        if isinstance(v, dict):
            lines.append(f"{pad}{key}:")
            _emit(v, depth + 1, lines)
        elif isinstance(v, list):
            lines.append(f"{pad}{key}: [{', '.join(_scalar(x) for x in v)}]")
        else:
            lines.append(f"{pad}{key}: {_scalar(v)}")


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(float(v)) if "." in repr(float(v)) or "e" in repr(float(v)) else f"{v:.1f}"
    return json.dumps(str(v), ensure_ascii=False)


def replace_block(text: str, block: str | None) -> str:
    """The entry's text with its time_to_level block (the last top-level key) replaced, added or removed."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.startswith("time_to_level:")), None)
    if start is not None:
        end = next((j for j in range(start + 1, len(lines)) if lines[j][:1] not in (" ", "\n", "")), len(lines))
        lines = lines[:start] + lines[end:]
    body = "".join(lines)
    if block is None:
        return body
    if body and not body.endswith("\n"):
        body += "\n"
    return body + block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aieff.verify.timefacts", description=__doc__.split("\n\n")[0])
    parser.add_argument("levels", nargs="*", default=list(LEVELS), help="levels to read (default: the timed ones)")
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of repository snapshots (owner+repo/repo)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block differs")
    args = parser.parse_args(argv)
    ds: Dataset = validate(args.root)
    entries = ds.all_entries()
    stale = 0
    for level_id in args.levels:
        level = ds.level(level_id)
        for entry in sorted(ds.entries_of(level_id), key=lambda e: e.id):
            found = read(entry, level, args.root, args.mirrors)
            path = args.root / "entries" / level_id / f"{entry.id}.yaml"
            text = path.read_text(encoding="utf-8")
            new = replace_block(text, render(found.block) if found.block else None)
            acc = (found.block or {}).get("accelerators")
            what = (
                f"{found.block['seconds']:.1f} s"
                + (f", {acc['count']} x {acc['type']} {acc['precision']}" if acc else "")
                if found.block
                else f"none ({found.why})"
            )
            print(f"{entry.id}: {what}")
            if new != text:
                stale += 1
                if not args.check:
                    path.write_text(new, encoding="utf-8")
    del entries
    if args.check and stale:
        print(f"{stale} entries' time_to_level differ from their records", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
