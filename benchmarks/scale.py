"""The whole CLI at scale: a synthetic dataset of N entries over L levels, each entry verifiable offline
(a pinned local DAWNBench log, a torchvision architecture from a pool of a few hundred distinct counts),
and every command a night runs: validate, analyze, estimate (cold and warm memo; one entry at a time, one
per CPU (--jobs 0), and 4 shards),
record merge, build (drawn, then with nothing changed). Each command is timed as a whole process
(wall, CPU of the process and its children, peak RSS of the largest process).

Usage: python benchmarks/scale.py [--sizes 1000,10000] [--levels 50] [--estimate-up-to 1000]
Estimating is the slow part (a cold run counts every distinct architecture and parses every log in the
sandbox), so by default it runs at the sizes up to --estimate-up-to only; the rest is measured at all.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A pool of distinct forward costs: torchvision models at several resolutions (a few hundred counts).
MODELS = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "vgg11"]
RESOLUTIONS = [32 + 8 * i for i in range(40)]  # 32..344 px
COLD = "cold:"  # a step named so runs after the memo is emptied


def _level(repo: Path, level: str, baseline: str) -> None:
    folder = repo / "entries" / level
    folder.mkdir(parents=True)
    (folder / "benchmark.yaml").write_text(
        f"""# yaml-language-server: $schema=../../schema/benchmark.schema.json
id: {level}
title: "Synthetic level {level}"
task: "image classification"
dataset:
  name: "synthetic"
  train_samples_per_epoch: 1000
metric:
  name: "accuracy"
  unit: percent
  split: "test"
direction: higher
threshold: 90
baseline: {baseline}
rules: "Synthetic data for benchmarks/scale.py."
source:
  title: "benchmarks/scale.py"
  url: https://example.org/scale
  locator: "synthetic"
"""
    )


def _entry(repo: Path, level: str, i: int, forward: dict[tuple[str, int], int]) -> None:
    folder = repo / "entries" / level
    entry_id = f"e{i:05d}"
    model = MODELS[i % len(MODELS)]
    res = RESOLUTIONS[(i // len(MODELS)) % len(RESOLUTIONS)]
    epochs = 2 + i % 17
    log = "epoch\thours\ttop1Accuracy\n" + "".join(
        f"{e}\t{e * 0.01 + i * 1e-6:.6f}\t{50 + 40 * e / epochs if e < epochs else 91:.2f}\n"
        for e in range(1, epochs + 1)
    )
    (folder / f"{entry_id}.tsv").write_text(log)
    sha = hashlib.sha256(log.encode()).hexdigest()
    year, month = 2015 + i % 10, 1 + i % 12
    (folder / f"{entry_id}.yaml").write_text(
        f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: {entry_id}
benchmark: {level}
model: "{model} at {res} px, run {i}"
publication:
  title: "Synthetic run {i}"
  authors: ["A. Author"]
  url: https://example.org/run/{i}
  date: {year}-{month:02d}-01
training:
  epochs_to_target: {epochs}
  forward_cost:
    value: {forward[(model, res)]}
    unit: multiply-adds
    resolution: {res}
artifacts:
  architecture:
    torchvision: {model}
  training_log:
    path: entries/{level}/{entry_id}.tsv
    sha256: {sha}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""
    )


COUNT = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    from aieff.verify.flops import build_torchvision, count_forward, example_input
except ImportError:  # the flat layout
    from aieff.flops import build_torchvision, count_forward, example_input
out = []
for model in json.loads(sys.argv[2]):
    net = build_torchvision(model, {})
    for res in json.loads(sys.argv[3]):
        out.append([model, res, int(count_forward(net, example_input("image", resolution=res)).multiply_adds)])
print(json.dumps(out))
"""


def forward_costs() -> dict[tuple[str, int], int]:
    """Every pool model's multiply-adds at every resolution, counted as aieff counts them (meta device), in
    a child process: this one stays small, so the children's peak memory below is theirs alone."""
    import json

    proc = subprocess.run(
        [sys.executable, "-c", COUNT, str(ROOT / "tools"), json.dumps(MODELS), json.dumps(RESOLUTIONS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {(m, r): n for m, r, n in json.loads(proc.stdout)}


def make_repo(repo: Path, entries: int, levels: int, forward: dict[tuple[str, int], int]) -> None:
    shutil.copytree(ROOT / "schema", repo / "schema")
    shutil.copyfile(ROOT / "README.md", repo / "README.md")
    shutil.copyfile(ROOT / "CITATION.cff", repo / "CITATION.cff")
    per_level = entries // levels
    for lv in range(levels):
        level = f"level-{lv:02d}"
        _level(repo, level, f"e{lv * per_level:05d}")
        for i in range(lv * per_level, (lv + 1) * per_level):
            _entry(repo, level, i, forward)


def timed(repo: Path, *args: str, env: dict[str, str]) -> dict[str, float]:
    """One CLI command as a whole process: wall, CPU and peak RSS of it and its children (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "aieff", *args], cwd=repo, env={**os.environ, **env}, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"aieff {' '.join(args)} exited {proc.returncode}: {stderr[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak": usage.ru_maxrss / 1024,
        "last": (stdout.strip().splitlines() or [""])[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--estimate-up-to", type=int, default=1000)
    args = parser.parse_args()
    t = time.perf_counter()
    forward = forward_costs()
    print(f"{len(forward)} distinct forward costs counted in {time.perf_counter() - t:.1f} s")
    print(f"{'entries':>8} {'command':<34} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}  last line")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "repo"
            repo.mkdir()
            make_repo(repo, n, args.levels, forward)
            env = {"AIEFF_CACHE": str(Path(tmp) / "cache"), "AIEFF_TODAY": "2026-11-26"}
            steps: list[tuple[str, list[str]]] = [("validate", ["validate"]), ("analyze", ["analyze"])]
            if n <= args.estimate_up_to:
                steps += [
                    ("estimate --all (cold memo)", ["estimate", "--all", "--record", "exports/verification.json"]),
                    (COLD + "estimate --all --jobs 0 (cold memo)", ["estimate", "--all", "--jobs", "0"]),
                    ("estimate --all (warm memo)", ["estimate", "--all", "--record", "exports/verification.json"]),
                ]
                steps += [
                    (
                        f"estimate shard {k}/4 (warm)",
                        ["estimate", "--all", "--shard", f"{k}/4", "--record", f"p{k}.json"],
                    )
                    for k in range(1, 5)
                ]
                steps += [
                    (
                        "record merge (4 parts)",
                        [
                            "record",
                            "merge",
                            "p1.json",
                            "p2.json",
                            "p3.json",
                            "p4.json",
                            "--out",
                            "exports/verification.json",
                        ],
                    )
                ]
            steps += [("build (charts drawn)", ["build"]), ("build (nothing changed)", ["build"])]
            (repo / "exports").mkdir(exist_ok=True)
            for name, cmd in steps:
                if name.startswith(COLD):  # this one starts from an empty memo again
                    shutil.rmtree(Path(tmp) / "cache" / "memo", ignore_errors=True)
                    name = name.removeprefix(COLD)
                r = timed(repo, *cmd, env=env)
                print(
                    f"{n:>8} {name:<34} {r['wall']:8.1f} {r['cpu']:8.1f} {r['peak']:9.0f}  {r['last'][:70]}", flush=True
                )
            if n <= args.estimate_up_to:  # a cold run with 4 shards: each shard's own cold memo
                for k in range(1, 5):  # as on a runner of its own: nothing memoised by the shards before it
                    shutil.rmtree(Path(tmp) / "cache" / "memo", ignore_errors=True)
                    r = timed(repo, "estimate", "--all", "--shard", f"{k}/4", env=env)
                    print(
                        f"{n:>8} {f'estimate shard {k}/4 (cold)':<34} {r['wall']:8.1f} {r['cpu']:8.1f} {r['peak']:9.0f}"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
