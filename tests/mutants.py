"""`make mutate`: apply each documented mutant to the code, run the tests that should catch it, restore.

A mutant is a small, realistic breakage of a behaviour users rely on (a comparison loosened, a guard
removed, a factor dropped). A mutant is killed when its tests fail; one that survives names a behaviour
no test checks. Each mutant replaces one exact text that must occur once in its file, so a refactor that
moves the code makes the harness fail loudly instead of testing nothing. The file is restored after
every run, also on Ctrl-C.

Usage: python tests/mutants.py [--list] [ID ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "tools/aieff/"


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


MUTANTS = [
    # --- the level rule ---
    Mutant(
        "level-rule-strict-higher",
        PKG + "verify/logs/__init__.py",
        "(ev.value >= level.threshold) if higher",
        "(ev.value > level.threshold) if higher",
        ("tests/test_catch.py",),
        "an evaluation exactly at the threshold reaches the level (higher is better)",
    ),
    Mutant(
        "level-rule-strict-lower",
        PKG + "verify/logs/__init__.py",
        "else (ev.value <= level.threshold)",
        "else (ev.value < level.threshold)",
        ("tests/test_catch.py",),
        "an evaluation exactly at the threshold reaches the level (lower is better)",
    ),
    # --- counting and units ---
    Mutant(
        "forward-and-backward-2x",
        PKG + "units.py",
        "FORWARD_AND_BACKWARD = 3",
        "FORWARD_AND_BACKWARD = 2",
        ("tests/test_analysis.py", "tests/test_estimate.py"),
        "training compute is 3 x the forward pass",
    ),
    Mutant(
        "median-of-runs-lower",
        PKG + "verify/estimate.py",
        "samples = (ordered[lo].samples + ordered[hi].samples) / 2",
        "samples = ordered[lo].samples",
        ("tests/test_estimate.py",),
        "an even number of runs takes the mean of the middle two",
    ),
    Mutant(
        "never-reached-run-dropped",
        PKG + "verify/estimate.py",
        "            short += 1\n",
        "",
        ("tests/test_estimate.py",),
        "a run that never reaches the level still counts in the median",
    ),
    # --- verdicts ---
    Mutant(
        "verdict-binding-ignored",
        PKG + "verify/record.py",
        "        if v.judged != now:",
        "        if v.judged is None:",
        ("tests/test_verdicts.py",),
        "a verdict whose entry, level or code changed is void",
    ),
    Mutant(
        "verdict-compute-unchecked",
        PKG + "verify/record.py",
        "        if v.status == Status.VERIFIED and not _agrees_with_entry(v, entry, level, entries):",
        "        if False:",
        ("tests/test_verdicts.py",),
        "a recorded compute that disagrees with the entry is not published",
    ),
    Mutant(
        "refusal-code-dropped",
        PKG + "refusals.py",
        '"code": exc.code, "detail": exc.detail[:500]',
        '"detail": exc.detail[:500]',
        ("tests/test_verdict_types.py",),
        "a refusal raised in the sandbox reaches the record with its code, not as words",
    ),
    Mutant(
        "label-from-messages",
        PKG + "verify/record.py",
        "    for r in v.reasons:",
        "    for r in [Reason(code='forward-cost-differs', detail=m) for m in v.messages]:",
        ("tests/test_verdict_types.py",),
        "the README label reads the recorded reasons, never a message",
    ),
    Mutant(
        "unreachable-keeps-any-verdict",
        PKG + "verify/record.py",
        "            and previous.judged == verdict.judged\n",
        "",
        ("tests/test_verdicts.py",),
        "an offline run keeps only a verdict on the same inputs",
    ),
    Mutant(
        "claim-only-judged",
        PKG + "verify/estimate.py",
        "    stated = stated_compute(entry, level, ds.all_entries())",
        "    stated = stated_compute(entry, level, ds.all_entries())[-1:]",
        ("tests/test_estimate_e2e.py",),
        "a re-estimate must agree with the training facts as well as the claim",
    ),
    Mutant(
        "record-edit-allowed",
        PKG + "cli.py",
        "    if RECORD_PATH in changed_files(root, args.changed_since, (RECORD_PATH,)):",
        "    if False:",
        ("tests/test_verdicts.py",),
        "a pull request that edits the verification record fails the check",
    ),
    # --- escaping ---
    Mutant(
        "csv-formula-guard-removed",
        PKG + "escape.py",
        '    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\\t", "\\r"):',
        "    if False:",
        ("tests/test_catch.py",),
        "a CSV cell a spreadsheet would run is neutralised",
    ),
    # --- analysis ---
    Mutant(
        "se-delta-method",
        PKG + "analysis/analyze.py",
        "    se = se_b / (b * b)",
        "    se = se_b / abs(b)",
        ("tests/test_sensitivity.py",),
        "the halving time's standard error uses the delta method (se_b / b^2)",
    ),
    Mutant(
        "t-quantile-df",
        PKG + "analysis/analyze.py",
        "    t = t_quantile(0.975, n - 2)",
        "    t = t_quantile(0.975, n - 1)",
        ("tests/test_sensitivity.py",),
        "the 95% interval uses Student's t with n - 2 degrees of freedom",
    ),
    Mutant(
        "relative-to-fraction",
        PKG + "analysis/analyze.py",
        "ref_total = base.flop / _fraction(ref)",
        "ref_total = base.flop",
        ("tests/test_catch.py",),
        "a relative total is rescaled by the referenced run's fraction",
    ),
    Mutant(
        "theil-sen-interval",
        PKG + "analysis/analyze.py",
        "    lo_i = max(round((m - _Z975 * sigma) / 2) - 1, 0)",
        "    lo_i = max(round((m - _Z975 * sigma) / 2), 0)",
        ("tests/test_sensitivity.py",),
        "Theil-Sen's interval indices are Sen's (1968)",
    ),
    Mutant(
        "split-unit-tokens",
        PKG + "analysis/analyze.py",
        "    tokens = base.sequence_length is not None and best.sequence_length is not None",
        "    tokens = False",
        ("tests/test_sensitivity.py",),
        "sequence levels split the reduction per token, not per sequence",
    ),
    # --- rules ---
    Mutant(
        "rule-division-unchecked",
        PKG + "dataset/rules.py",
        '    if policy.division != "any" and sub.division != policy.division:',
        "    if False:",
        ("tests/test_fixtures.py",),
        "an entry of the wrong division is refused",
    ),
    Mutant(
        "rule-version-path-unchecked",
        PKG + "dataset/rules.py",
        "        if not logs or outside:",
        "        if not logs:",
        ("tests/test_fixtures.py",),
        "a submitted-version entry reads only that version's runs",
    ),
    Mutant(
        "narrative-numbers-allowed",
        PKG + "dataset/placeholders.py",
        "        for offset, number in typed_numbers(text):",
        "        for offset, number in []:",
        ("tests/test_fixtures.py", "tests/test_narrative.py"),
        "a typed number in a narrative is refused",
    ),
    # --- the .pt2 gate, counting, the sandbox, fetching ---
    Mutant(
        "gate-operator-check-removed",
        PKG + "verify/pt2.py",
        '    if not (isinstance(target, str) and target in allowed()["operators"]):',
        "    if False:",
        ("tests/test_pt2_gate.py",),
        "a .pt2 may call only the listed pure operators",
    ),
    Mutant(
        "batch-mixing-unchecked",
        PKG + "verify/worker.py",
        "    if abs(two - 2 * one) > 1e-9 * max(1.0, two):",
        "    if False:",
        ("tests/test_hostile.py", "-k", "audit"),
        "an export whose cost depends on the batch is refused",
    ),
    Mutant(
        "broadcast-products-free",
        PKG + "verify/export_graph.py",
        "    products = list(dict.fromkeys([*summed_products(gm.graph), *broadcast_products(gm.graph)]))",
        "    products = summed_products(gm.graph)",
        ("tests/test_export_graph.py",),
        "a broadcasting product is priced whatever hides its sum",
    ),
    Mutant(
        "sandbox-stays-in-network-namespace",
        PKG + "verify/confine.py",
        "    return any(libc.unshare(flags) == 0 for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET))",
        "    return False",
        ("tests/test_sandbox.py",),
        "a job leaves the network namespace where the kernel allows it",
    ),
    Mutant(
        "fetch-timeout-not-capped",
        PKG + "verify/fetch.py",
        "    return min(READ_TIMEOUT, left)",
        "    return READ_TIMEOUT",
        ("tests/test_fetch.py",),
        "each socket operation waits at most the time left before the deadline",
    ),
    Mutant(
        "samples-per-epoch-unchecked",
        PKG + "verify/estimate.py",
        "        if standard is None or not level.agrees(own, standard):",
        "        if False:",
        ("tests/test_hostile.py", "-k", "audit"),
        "an entry's own samples_per_epoch may not scale an epoch-counting log beyond tolerance",
    ),
    Mutant(
        "row-scales-not-totalled",
        PKG + "verify/export_graph.py",
        "                            if limit is not None and scaled[key] > limit:",
        "                            if False:",
        ("tests/test_hostile.py", "-k", "audit"),
        "a weight's free products against one input add up (a matrix applied row by row)",
    ),
    # --- exports ---
    Mutant(
        "readme-reduction-format",
        PKG + "publish/tables.py",
        "{r.reduction_factor:.1f}x | {'★' if r.frontier else ''}",
        "{r.reduction_factor:.2f}x | {'★' if r.frontier else ''}",
        ("tests/test_build.py",),
        "the README's reduction column has one decimal",
    ),
    Mutant(
        "legacy-factor-uncorrected",
        PKG + "publish/export.py",
        '            ours["Reduction Factor"] = f"{r.reduction_factor:.3g}"',
        "            pass",
        ("tests/test_build.py",),
        "the legacy CSV corrects a hand-typed reduction factor",
    ),
]


def _run(m: Mutant, timeout: float) -> tuple[str, float]:
    path = ROOT / m.file
    original = path.read_bytes()
    text = original.decode()
    if text.count(m.old) != 1:
        return f"stale (the text occurs {text.count(m.old)} times in {m.file})", 0.0
    start = time.perf_counter()
    try:
        path.write_text(text.replace(m.old, m.new, 1))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider", *m.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        outcome = "killed" if proc.returncode != 0 else "SURVIVED"
    except subprocess.TimeoutExpired:
        outcome = "killed (timeout)"
    finally:
        path.write_bytes(original)
    return outcome, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and what each breaks")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.ids or m.id in args.ids]
    if args.list:
        for m in chosen:
            print(f"{m.id:<32} {m.file:<34} {m.why}")
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # restore the file on SIGTERM too
    counts = {"killed": 0, "SURVIVED": 0, "stale": 0}
    for m in chosen:
        outcome, seconds = _run(m, args.timeout)
        counts[outcome.split()[0]] += 1
        print(f"{outcome:<18} {m.id:<32} {seconds:6.1f} s  {m.why}", flush=True)
    total = len(chosen)
    print(
        f"\n{total} mutants: {counts['killed']} killed, {counts['SURVIVED']} survived, {counts['stale']} stale; "
        f"score {counts['killed'] / total:.0%}"
    )
    return 0 if counts["killed"] == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
