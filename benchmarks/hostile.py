"""Run the hostile corpus (tests/hostile_corpus.py) through the real CLI and count how each case ended.

Prints one line per case and a summary: coded (a coded error, a refusal or safe output), traceback,
hang, false pass, wrong (handled, but not with the expected error). The last four must be 0.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_corpus import CASES, run_case


def main() -> int:
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="aieff-hostile-") as tmp:
            outcome, detail = run_case(case, Path(tmp))
        counts[outcome] += 1
        print(f"{outcome:<10} {case.name:<36} {detail.splitlines()[0] if detail else ''}")
    print(
        f"\n{len(CASES)} cases in {time.perf_counter() - start:.1f} s: "
        + ", ".join(f"{counts[k]} {k}" for k in ("coded", "traceback", "hang", "false-pass", "wrong"))
    )
    return 0 if counts["coded"] == len(CASES) else 1


if __name__ == "__main__":
    raise SystemExit(main())
