"""Counting and checkpoint-verification cost, side by side in one run.

1. Forward cost of the largest torchvision model (by multiply-adds) at its native resolution:
   built and counted on the meta device vs built with real tensors and counted on a real input.
2. Verifying a >= 1 GiB checkpoint (safetensors header; torch zip with weights_only+mmap) vs a
   plain torch.load. Each measurement runs in a fresh process; peak memory is VmHWM (reset after
   imports, so it is what the step itself adds on top of the interpreter and torch).
Targets: counting under 5 s; peak memory while verifying under 10% of the checkpoint's size.
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
from aieff.flops import build_torchvision, count_forward, example_input
model = build_torchvision(NAME, KW)
result = count_forward(model, example_input("image", resolution=RES)).multiply_adds
""",
    "real tensors": """
from aieff.flops import count_forward, example_input
from torchvision import models
model = models.get_model(NAME, weights=None, **KW).eval()
result = count_forward(model, example_input("image", resolution=RES, device="cpu")).multiply_adds
""",
}
VERIFY = {
    "safetensors header (aieff)": "from pathlib import Path\nfrom aieff.checkpoint import read_checkpoint\n"
    "result = len(read_checkpoint(Path(PATH))[1])",
    "torch zip, weights_only+mmap (aieff)": "from pathlib import Path\nfrom aieff.checkpoint import read_checkpoint\n"
    "result = len(read_checkpoint(Path(PATH))[1])",
    "plain torch.load (torch zip)": "sd = torch.load(PATH, weights_only=True)\n"
    "result = sum(v.numel() for v in sd.values())",
}


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


def main() -> int:
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
