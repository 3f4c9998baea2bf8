"""Counting and checkpoint-verification cost, side by side in one run.

1. Forward cost of the largest torchvision model (by multiply-adds) at its native resolution:
   built and counted on the meta device vs built with real tensors and counted on a real input.
2. Verifying a >= 1 GiB checkpoint (safetensors layout; torch zip through aieff's restricted reader
   and weights_only on the meta device; both scanned for constant weights in 1 MiB chunks) vs a
   plain torch.load. Each measurement runs in a fresh process; peak memory is VmHWM (reset after
   imports, so it is what the step itself adds on top of the interpreter and torch).
3. A GPT-2-small-shaped model (12 layers, 768 wide, 12 heads, 50,257 tokens, 1,024 positions, causal
   attention) as a graph-only .pt2 (weights on the meta device) and a 2,000-step llm.c-style log:
   parse the log to the first evaluation at 3.28, load the archive through aieff's gate and count
   one sequence on the meta device.
4. `aieff estimate --all` on the real dataset with its artifacts cached: cold (an empty memo of counts
   and readings) then warm (nothing changed), one entry at a time and --jobs <CPUs>, and the same for
   the entries issue 21 timed (those of commit 50ea6a7 still present); then as 4 shards (the slowest
   shard is what a runner of the nightly's matrix waits for). Wall, CPU and peak memory of the whole process.
Targets: counting under 5 s; peak memory while verifying under 10% of the checkpoint's size; case 3
under 5 s after imports; a warm estimate --all at most 10% of a cold one.
Usage: python benchmarks/estimate.py [--only 1|2|3|4]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELUDE = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.filterwarnings("ignore")
    sys.path.insert(0, %r)
    import torch, torchvision
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    base = status("VmRSS:")
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    t = time.perf_counter()
""") % str(ROOT / "tools")
EPILOGUE = textwrap.dedent("""
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_mib": status("VmHWM:"), "added_mib": status("VmHWM:") - base,
                      "result": result}))
""")

COUNT = {
    "meta": """
from aieff.verify.flops import build_torchvision, count_forward, example_input
model = build_torchvision(NAME, KW)
result = count_forward(model, example_input("image", resolution=RES)).multiply_adds
""",
    "real tensors": """
from aieff.verify.flops import count_forward, example_input
from torchvision import models
model = models.get_model(NAME, weights=None, **KW).eval()
result = count_forward(model, example_input("image", resolution=RES, device="cpu")).multiply_adds
""",
}
VERIFY = {
    "safetensors layout + scan (aieff)": "from pathlib import Path\n"
    "from aieff.verify.checkpoint import read_checkpoint\n"
    "result = len(read_checkpoint(Path(PATH))[1])",
    "torch zip, restricted reader (aieff)": "from pathlib import Path\n"
    "from aieff.verify.checkpoint import read_checkpoint\n"
    "result = len(read_checkpoint(Path(PATH))[1])",
    "plain torch.load (torch zip)": "sd = torch.load(PATH, weights_only=True)\n"
    "result = sum(v.numel() for v in sd.values())",
}


GPT = """
import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int = 50257, positions: int = 1024, d: int = 768, layers: int = 12) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.blocks = nn.Sequential(*[Block(d, 12) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.head(self.ln(self.blocks(self.wte(ids) + self.wpe(pos))))


with torch.device("meta"):
    model = GPT().eval()
program = torch.export.export(model, (torch.zeros(1, 1024, dtype=torch.long, device="meta"),))
torch.export.save(program, PATH)
"""
STEPS = """
from pathlib import Path
from aieff.verify import logs
from aieff.verify.flops import count_forward, example_input, load_export
from aieff.dataset.schema import Benchmark, TrainingLog
level = Benchmark.model_validate({"id": "gpt2", "title": "t", "task": "t", "dataset": {"name": "d"},
    "metric": {"name": "val loss", "unit": "loss", "split": "val"}, "direction": "lower", "threshold": 3.28,
    "baseline": "b", "rules": "r", "source": {"title": "s", "url": "https://example.org/s", "locator": "p. 1"}})
spec = TrainingLog.model_validate({"path": "entries/gpt2/x.log", "sha256": "a" * 64, "format": "step-log",
    "pattern": "^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)$"})
t0 = time.perf_counter()
reached = logs.first_reaching(logs.parse(Path(LOG).read_bytes(), spec, level), level)
t1 = time.perf_counter()
model = load_export(Path(PATH))
t2 = time.perf_counter()
count = count_forward(model, example_input("tokens", sequence_length=1024), grad=False)
t3 = time.perf_counter()
result = {"step": reached.eval.steps, "log_s": t1 - t0, "load_s": t2 - t1, "count_s": t3 - t2,
          "gmacs": count.multiply_adds / 1e9, "notes": count.notes}
"""


def measure(body: str, **names: object) -> dict:
    code = PRELUDE + "".join(f"{k} = {v!r}\n" for k, v in names.items()) + textwrap.dedent(body) + EPILOGUE
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def largest_model() -> tuple[str, int, dict]:
    from torchvision import models

    best = max(models.list_models(module=models), key=lambda n: models.get_model_weights(n).DEFAULT.meta["_ops"])
    w = models.get_model_weights(best).DEFAULT
    crop = w.transforms().crop_size[0]
    return best, crop, ({"image_size": crop} if best.startswith("vit_") else {})


def timed(args: list[str], env: dict[str, str]) -> dict:
    """Wall, CPU (user + sys) and peak RSS of one whole command, from the kernel's accounting."""
    import os
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = proc.stdout.strip().splitlines()[-2:] if proc.stdout.strip() else [proc.stderr[-300:]]
    return {"wall": wall, "cpu": cpu, "peak_mib": after.ru_maxrss / 1024, "code": proc.returncode, "tail": last}


ISSUE_BASELINE = "50ea6a7"  # the commit whose 143 entries issue 21 timed at 68 s cold on this machine


def original_entries() -> list[str]:
    """The entry files of ISSUE_BASELINE that are still entries today (same path), for a like-for-like time."""
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ISSUE_BASELINE, "entries/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [p for p in listed if p.endswith(".yaml") and not p.endswith("benchmark.yaml") and (ROOT / p).is_file()]


def dataset() -> None:
    import os

    cpus = len(os.sched_getaffinity(0))
    aieff = [sys.executable, "-m", "aieff", "estimate"]
    print("4. aieff estimate on the real dataset (artifacts cached; peak: largest child so far)")
    original = original_entries()
    runs = [("--all", ["--all"]), (f"the {len(original)} entries of {ISSUE_BASELINE} still here", original)]
    for what, which in runs:
        print(f"   {what}:")
        for jobs in sorted({1, cpus}):
            with tempfile.TemporaryDirectory() as memo:
                env = {"AIEFF_MEMO_DIR": memo}
                cold = timed([*aieff, *which, "--jobs", str(jobs)], env)
                warm = timed([*aieff, *which, "--jobs", str(jobs)], env)
            for how, r in (("cold memo", cold), ("warm memo", warm)):
                print(
                    f"   --jobs {jobs} {how:>10}: {r['wall']:7.1f} s wall, {r['cpu']:7.1f} s CPU, "
                    f"peak {r['peak_mib']:6.0f} MiB, exit {r['code']}: {r['tail'][0]}"
                )
            print(f"   --jobs {jobs} warm / cold wall: {warm['wall'] / cold['wall']:.1%} (target at most 10%)")
    with tempfile.TemporaryDirectory() as memo:
        env = {"AIEFF_MEMO_DIR": memo}
        for how in ("cold", "warm"):
            shards = [timed([*aieff, "--all", "--shard", f"{k}/4"], env) for k in range(1, 5)]
            walls = ", ".join(f"{r['wall']:.1f}" for r in shards)
            print(f"   4 shards, {how}: {walls} s wall (slowest {max(r['wall'] for r in shards):.1f} s)")


def main() -> int:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if only == "4":
        dataset()
        return 0
    import torch
    from safetensors.torch import save_file

    name, res, kw = largest_model()
    print(f"1. forward cost of {name} at {res}px (largest torchvision model by multiply-adds)")
    for how, body in COUNT.items():
        r = measure(body, NAME=name, RES=res, KW=kw)
        print(
            f"   {how:>14}: {r['seconds']:7.2f} s, peak +{r['added_mib']:8.0f} MiB "
            f"(RSS peak {r['peak_mib']:.0f} MiB), {r['result'] / 1e9:.2f} G multiply-adds"
        )
    with tempfile.TemporaryDirectory(dir=ROOT / ".venv") as tmp:
        state = {f"layer{i}.weight": torch.randn(1024, 1024) for i in range(260)}  # 260 x 4 MiB = 1.02 GiB
        st, pt = Path(tmp) / "big.safetensors", Path(tmp) / "big.pt"
        save_file(state, str(st))
        torch.save(state, pt)
        del state
        size_mib = st.stat().st_size / 2**20
        print(
            f"2. verifying a {size_mib:.0f} MiB checkpoint (260 tensors); target: peak added < {size_mib / 10:.0f} MiB"
        )
        for how, body in VERIFY.items():
            path = str(st if how.startswith("safetensors") else pt)
            r = measure(body, PATH=path)
            print(
                f"   {how:>36}: {r['seconds']:6.2f} s, peak +{r['added_mib']:7.0f} MiB "
                f"({r['added_mib'] / size_mib:.1%} of the file; RSS peak {r['peak_mib']:.0f} MiB)"
            )
    with tempfile.TemporaryDirectory() as tmp:
        pt2, log = Path(tmp) / "gpt2.pt2", Path(tmp) / "main.log"
        subprocess.run([sys.executable, "-c", GPT.replace("PATH", repr(str(pt2)))], check=True, capture_output=True)
        lines = []
        for step in range(2000):  # llm.c prints a train line every step, a val line every 250
            lines.append(f"s:{step} trl:{4 - step / 1000:.4f} lr:0.0006 norm:0.3000 tokens:524288\n")
            if step % 250 == 0 or step == 1999:
                lines.append(f"s:{step} tel:{10.9 - 7.7 * min(step, 1500) / 1500:.4f}\n")
        log.write_text("".join(lines))
        r = measure(STEPS, PATH=str(pt2), LOG=str(log))
        res = r["result"]
        print(
            f"3. GPT-2-small graph-only export ({pt2.stat().st_size / 1024:.0f} KiB) and a 2,000-step log "
            f"({log.stat().st_size / 1024:.0f} KiB):"
        )
        print(
            f"   {r['seconds']:.2f} s after imports (log {res['log_s']:.3f} s, gate + load {res['load_s']:.2f} s, "
            f"count {res['count_s']:.2f} s on meta), peak +{r['added_mib']:.0f} MiB "
            f"(RSS peak {r['peak_mib']:.0f} MiB); {res['gmacs']:.1f} G multiply-adds per 1,024-token sequence; "
            f"first at the level: step {res['step']}"
        )
    if only is None:
        dataset()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
