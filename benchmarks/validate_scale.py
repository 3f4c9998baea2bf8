"""Time `aieff validate` on 10,000 synthetic valid entries and its start-up on one entry.

Prints entries per second, peak memory (max RSS of the validating process) and whether torch was
imported. Targets on a 2-core machine: 10,000 entries in under 10 s; one entry in under 0.5 s.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "valid" / "basic" / "entries" / "toy-level"
N_LEVELS, PER_LEVEL = 10, 1000


def make_repo(dest: Path, levels: int, per_level: int) -> int:
    """Write levels x per_level valid entries modelled on the toy fixture; return the entry count."""
    bench = (TOY / "benchmark.yaml").read_text()
    entry = (TOY / "better.yaml").read_text()
    n = 0
    for lv in range(levels):
        folder = dest / "entries" / f"level-{lv}"
        folder.mkdir(parents=True)
        (folder / "benchmark.yaml").write_text(
            bench.replace("id: toy-level", f"id: level-{lv}").replace("baseline: base", f"baseline: l{lv}-e0")
        )
        for i in range(per_level):
            text = (
                entry.replace("id: better", f"id: l{lv}-e{i}")
                .replace("benchmark: toy-level", f"benchmark: level-{lv}")
                .replace("1807.00002", f"1807.{lv:02d}{i:03d}")
                .replace("Better net", f"Net {lv}-{i}")
                .replace("epochs_to_target: 10", f"epochs_to_target: {1 + i % 50}")
            )
            (folder / f"l{lv}-e{i}.yaml").write_text(text)
            n += 1
    return n


def timed(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def cpu_timed(args: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds and CPU seconds (user + system, children included) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, proc = timed(args, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, proc


def _failed(proc: subprocess.CompletedProcess[str]) -> bool:
    """Print what a failed run said; True when it failed."""
    if proc.returncode != 0:
        print(proc.stdout[:2000], proc.stderr[:2000])
    return proc.returncode != 0


def main() -> int:
    aieff = [sys.executable, "-m", "aieff"]
    with tempfile.TemporaryDirectory() as tmp:
        big, one = Path(tmp) / "big", Path(tmp) / "one"
        n = make_repo(big, N_LEVELS, PER_LEVEL)
        shutil.copytree(TOY.parent.parent, one)
        seconds, cpu, proc = cpu_timed([*aieff, "validate"], big)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if _failed(proc):
            return 1
        print(
            f"validate {n} entries: {seconds:.2f} s, {n / seconds:,.0f} entries/s, "
            f"peak RSS {peak_mib:.0f} MiB (target < 10 s)"
        )
        # The peer: check-jsonschema with the project's own JSON Schema on the same files (schema only;
        # aieff also checks cross-entry rules, positions and plausibility).
        files = sorted(str(p) for p in (big / "entries").glob("*/*.yaml") if p.name != "benchmark.yaml")
        checker = [str(Path(sys.executable).with_name("check-jsonschema")), "--schemafile"]
        peer_s, peer_cpu, peer = cpu_timed([*checker, str(ROOT / "schema/entry.schema.json"), *files], big)
        if _failed(peer):
            return 1
        print(
            f"per entry, wall / CPU: aieff {seconds / n * 1e3:.3f} / {cpu / n * 1e3:.3f} ms; "
            f"check-jsonschema {peer_s / len(files) * 1e3:.3f} / {peer_cpu / len(files) * 1e3:.3f} ms "
            f"({len(files)} entry files, the same JSON Schema aieff generates)"
        )
        startup = []
        for _ in range(5):
            s, proc = timed([*aieff, "validate", "entries/toy-level/better.yaml"], one)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            startup.append(s)
        code = "import sys, aieff.cli; aieff.cli.main(['validate']); print('torch' in sys.modules)"
        torch = subprocess.run([sys.executable, "-c", code], cwd=one, capture_output=True, text=True, check=True)
        print(
            f"validate one entry (start-up included): best {min(startup):.3f} s, "
            f"median {sorted(startup)[2]:.3f} s (target < 0.5 s); torch imported: {torch.stdout.strip()}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
