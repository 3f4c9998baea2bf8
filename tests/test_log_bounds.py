"""Sizes a log declares are checked before anything is allocated, patterns are bounded, and every parse runs in
the sandbox under its time and memory limits, never in the process that holds the repository."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from pydantic import ValidationError

from aieff.dataset.pattern import MAX_PROGRAM, compile_pattern
from aieff.dataset.schema import TrainingLog
from aieff.refusals import Refused
from aieff.repo import DataError, RunAborted
from aieff.verify import logread, logs
from aieff.verify.logs import step_log
from conftest import run
from hostile_cases_logs import (
    SLOW_PATTERN,
    THRASH_PATTERN,
    declared_length_file,
    huge_tensor_file,
    records,
    tensor_event,
    thrash_text,
)
from hostile_corpus import log_entry
from test_logs import DAWN, LEVEL, LOSS_LEVEL, spec

TB = spec("tensorboard", tag="a", step_means="epochs")


# --- TensorBoard: record lengths (A401) and tensor shapes (A402) ---------------------------------------


def test_event_files_from_tensorboards_writer_are_read_record_by_record() -> None:
    from aieff.verify.logs.tensorboard import records as read_records

    events = [
        tensor_event(1, [], floats=[60.0]),
        tensor_event(2, [1], floats=[80.0]),
        tensor_event(3, [1, 1], floats=[95.0]),
    ]
    raw = records(*events)
    assert [payload for _, payload in read_records(raw)] == events
    evals = logs.parse(raw, TB, LEVEL)
    assert [(e.line, e.epochs, e.value) for e in evals] == [(1, 1, 60.0), (2, 2, 80.0), (3, 3, 95.0)]


def test_a_record_declaring_more_bytes_than_the_file_holds_is_refused_before_reading() -> None:
    with pytest.raises(Refused, match=r"A401 .*record 1 declares 4611686018427387904 bytes; the file holds 16"):
        logs.parse(declared_length_file(), TB, LEVEL)
    whole = records(tensor_event(1, [], floats=[95.0]), tensor_event(2, [], floats=[96.0]))
    with pytest.raises(Refused, match=r"A401 .*record 2 declares \d+ bytes; the file holds \d+"):
        logs.parse(whole[:-3], TB, LEVEL)  # a truncated last record is refused, not silently dropped
    with pytest.raises(DataError, match="record 1: damaged length"):
        logs.parse(b"\xff" + whole[1:], TB, LEVEL)
    with pytest.raises(DataError, match="record 1: damaged payload"):
        logs.parse(whole[:14] + b"\xff" + whole[15:], TB, LEVEL)
    with pytest.raises(DataError, match="3 byte"):
        logs.parse(whole + b"abc", TB, LEVEL)


@pytest.mark.parametrize(
    ("dims", "declared"),
    [
        ([200_000_000], r"\[200000000\] \(200000000 elements\)"),
        ([2**63 - 1, 2**63 - 1], r"over 1e18 elements"),  # the product wraps to 1 in int64
        ([2, -1], r"\[2, -1\]"),
        ([0], r"\(0 elements\)"),
    ],
)
def test_a_tensor_declaring_other_than_one_element_is_refused_before_it_is_built(
    dims: list[int], declared: str
) -> None:
    raw = records(tensor_event(1, dims, floats=[95.0]))
    with pytest.raises(Refused, match=rf"A402 .*record 1: tag 'a' declares a tensor of shape .*{declared}"):
        logs.parse(raw, TB, LEVEL)


def test_tensor_content_of_another_size_than_one_element_is_refused() -> None:
    with pytest.raises(Refused, match="A402 .*declares 16 bytes of content for one 4-byte element"):
        logs.parse(records(tensor_event(1, [], content=b"\0" * 16)), TB, LEVEL)
    well_formed = records(tensor_event(1, [1], content=struct.pack("<f", 95.0)))
    assert logs.parse(well_formed, TB, LEVEL)[0].value == 95.0


# --- text logs: values they declare are bounded ---------------------------------------------------------


def test_mllog_declared_counts_are_bounded() -> None:
    def mllog(key: str, value: object, **meta: object) -> str:
        import json

        return ":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta}) + "\n"

    s = spec("mlperf-mllog", metric_scale="fraction")
    with pytest.raises(DataError, match="not a whole count"):
        logs.parse(mllog("eval_accuracy", 0.95, samples_count=10**30), s, LEVEL)
    huge_block = mllog("block_start", None, first_epoch_num=1, epoch_count=1e300) + mllog("eval_accuracy", 0.95)
    with pytest.raises(DataError, match="is not a number of epochs"):
        logs.parse(huge_block, s, LEVEL)


def test_a_log_yielding_more_evaluations_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_EVALS", 2)
    with pytest.raises(Refused, match=r"A405 .*yields 3 evaluations \(bound 2\)"):
        logs.parse(DAWN, spec("dawnbench-tsv"), LEVEL)


# --- step-log patterns (A403) and lines ----------------------------------------------------------------


def test_the_53_character_pattern_is_refused_before_any_search() -> None:
    assert len(SLOW_PATTERN) == 53
    with pytest.raises(ValidationError, match=r"compiles to \d{4} RE2 instructions \(bound 500\)"):
        spec("step-log", pattern=SLOW_PATTERN)  # aieff validate refuses it first (E013)
    # A spec that never went through validation (the sandbox's own copy) is refused by the reader too.
    s = TrainingLog.model_construct(path="entries/lvl/x.log", sha256="a" * 64, format="step-log", pattern=SLOW_PATTERN)
    with pytest.raises(Refused, match=r"A403 .*compiles to \d{4} RE2 instructions \(bound 500\)"):
        logs.parse("a" * 20_000 + "\n", s, LOSS_LEVEL)  # unbounded, this line alone took over a second


def test_patterns_in_use_are_far_under_the_bound_and_rejects_by_re2_are_coded() -> None:
    for pattern in (
        r"^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)$",
        r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)",
    ):
        assert compile_pattern(pattern).programsize < MAX_PROGRAM // 5
    with pytest.raises(Refused, match="A403 .*RE2 refuses it: .*pattern too large"):
        compile_pattern(r"(?P<step>\pL{1000})(?P<value>\pL{1000})")


def test_a_line_over_the_bound_is_skipped_and_said() -> None:
    s = spec("step-log", pattern=r"^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)")
    text = "s:1 tel:" + "9" * step_log.MAX_LINE + "\ns:2 tel:3.5\n"
    evals = logs.parse(text, s, LOSS_LEVEL)
    assert [e.steps for e in evals] == [2] and "1 line(s) over 131072 characters skipped" in evals.conventions


# --- the sandbox: the parse happens elsewhere, within bounds ---------------------------------------------


def test_a_parse_answers_the_same_from_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "log.tsv"
    path.write_text(DAWN)
    here, there = logs.parse(DAWN, spec("dawnbench-tsv"), LEVEL), logread.parse(path, spec("dawnbench-tsv"), LEVEL)
    assert there == here and there.conventions == here.conventions
    mllog = tmp_path / "aborted.txt"
    mllog.write_text(':::MLLOG {"key": "run_stop", "value": null, "metadata": {"status": "aborted"}}\n')
    with pytest.raises(RunAborted, match="run aborted"):
        logread.parse(mllog, spec("mlperf-mllog"), LEVEL)


def test_a_44_byte_event_declaring_a_huge_tensor_never_grows_the_main_process(toy: Path) -> None:
    """Estimating in a fresh process: the refusal is coded and that process's peak memory stays flat."""
    assert len(huge_tensor_file()) < 50
    log_entry(toy, huge_tensor_file(), "tensorboard", "    tag: a\n    step_means: epochs\n")
    code = (
        "import re; from aieff.cli import main; main(['estimate', 'entries/toy-level/better.yaml']); "
        "print('peak', int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1]) // 1024)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=toy, capture_output=True, text=True, check=False)
    assert "A402 log-tensor-not-scalar: entries/toy-level/better.log" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    peak_mb = int(proc.stdout.rsplit("peak", 1)[1])  # VmHWM: ru_maxrss would carry the forking process's peak
    assert peak_mb < 300, f"the main process peaked at {peak_mb} MB"  # parsed in-process: 831 MB


def test_the_main_process_never_runs_a_parser(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def parse_here(*args: object) -> None:
        raise AssertionError("a training log was parsed in the main process")

    monkeypatch.setattr(logs, "parse", parse_here)
    log_entry(toy, declared_length_file(), "tensorboard", "    tag: a\n")
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 1 and "A401 log-record-length" in proc.stdout, proc.stdout + proc.stderr


def test_a_parse_past_its_time_bound_is_stopped(toy: Path) -> None:
    log_entry(toy, thrash_text(1_000_000), "step-log", f"    pattern: '{THRASH_PATTERN}'\n")
    assert compile_pattern(THRASH_PATTERN).programsize <= MAX_PROGRAM  # not refused upfront
    start = time.monotonic()
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy, env={"AIEFF_SANDBOX_SECONDS": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "A404 log-parse-stopped: entries/toy-level/better.log (step-log): " in proc.stdout, proc.stdout
    assert "stopped after 1 s" in proc.stdout or "CPU-time limit" in proc.stdout, proc.stdout
    assert time.monotonic() - start < 30  # the deadline is the behaviour: unbounded, the search takes ~4 s/MB


def test_a_parse_over_its_memory_bound_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"epoch": 1, "test_acc5": 95, "pad": "' + b"x" * (64 << 20) + b'"}\n')
    monkeypatch.setenv("AIEFF_SANDBOX_MEMORY_MB", "96")
    with pytest.raises(Refused, match=r"A404 .*\(jsonl\): ran out of memory within the sandbox's limit"):
        logread.parse(path, spec("jsonl"), LEVEL)


def test_a_parse_never_makes_the_helper_import_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aieff.verify.sandbox import Sandbox

    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # an environment no other test uses: a helper of its own
    monkeypatch.setenv("AIEFF_MEMO", "off")  # the reading must come from the helper, not a memo of it
    path = tmp_path / "log.tsv"
    path.write_text(DAWN)
    box = Sandbox()
    try:
        assert logread.parse(path, spec("dawnbench-tsv"), LEVEL)
        assert box.log_helper_pid is not None and box.helper_pid is None  # a helper of the log kind served it
        assert "libtorch" not in Path(f"/proc/{box.log_helper_pid}/maps").read_text()
        resnet = {"arch": {"torchvision": "resnet18", "kwargs": {}}, "input": "image", "phases": [{"resolution": 32}]}
        assert box.run(resnet)["ok"]  # a count: the other helper imports torch
        assert "libtorch" in Path(f"/proc/{box.helper_pid}/maps").read_text()
        assert logread.parse(path, spec("dawnbench-tsv"), LEVEL)  # and a later parse still forks from a light one
        assert "libtorch" not in Path(f"/proc/{box.log_helper_pid}/maps").read_text()
    finally:
        box.stop()
    assert box.helper_pid is None and box.log_helper_pid is None


def test_a_log_helper_runs_log_jobs_only() -> None:
    """What a log helper forks never carries torch: sent anything else, it refuses rather than import it."""
    from aieff.verify import sandbox

    helper = subprocess.Popen(
        [sys.executable, "-I", "-m", "aieff.verify.sandbox", "--torch-free"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdin is not None and helper.stdout is not None
        count = {"arch": {"torchvision": "resnet18"}, "input": "image", "phases": [{"resolution": 32}]}
        for job in (count, {"probe": True}):
            helper.stdin.write(json.dumps({"job": job, "limits": asdict(sandbox.Limits()), "require": []}) + "\n")
            helper.stdin.flush()
            answer = json.loads(helper.stdout.readline())
            assert answer == {"ok": False, "error": "a log helper runs log jobs only"}, answer
        assert "libtorch" not in Path(f"/proc/{helper.pid}/maps").read_text()
    finally:
        helper.kill()
        helper.wait()


def _pinned(path: Path, fmt: str) -> TrainingLog:
    """A spec pinning this file's bytes (a log's reading is keyed by its sha256)."""
    import hashlib

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return TrainingLog.model_validate({"path": f"entries/lvl/{path.name}", "sha256": sha, "format": fmt})


def test_an_entrys_logs_are_read_in_one_job_and_each_reads_as_it_would_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aieff.verify.sandbox import Sandbox

    monkeypatch.setenv("AIEFF_MEMO", "off")
    texts = [DAWN, DAWN.replace("79.2", "78.0"), DAWN.replace("\t85\n", "\t78\n"), "epoch\thours\n"]
    items = []
    for i, text in enumerate(texts):  # the last reaches nothing readable: its refusal is left to a job of its own
        (path := tmp_path / f"run{i}.tsv").write_text(text)
        items.append((path, _pinned(path, "dawnbench-tsv")))
    jobs: list[dict[str, object]] = []
    real = Sandbox.run
    monkeypatch.setattr(Sandbox, "run", lambda box, job: jobs.append(job) or real(box, job))
    answers = logread.preread([s for _, s in items], LEVEL, lambda i, _: items[i][0])
    assert [sorted(job) for job in jobs] == [["files", "parse_logs"]] and len(answers) == 3  # one job, 3 clean
    for path, s in items:
        together = _reading(lambda p=path, s=s: logread.parse(p, s, LEVEL, answers))
        alone = _reading(lambda p=path, s=s: logread.parse(p, s, LEVEL))
        assert together == alone
    assert len(jobs) == 2 + len(items)  # each reading alone was a job of its own; with the answers, the refused one
    assert _reading(lambda: logread.parse(*items[1], LEVEL, answers))[0] == [(2, 70.0), (3, 78.0), (4, 85.0)]
    assert "DataError" in str(_reading(lambda: logread.parse(*items[3], LEVEL, answers)))


def _reading(read: object) -> object:
    try:
        evals = read()  # type: ignore[operator]
    except DataError as exc:
        return type(exc).__name__, str(exc)
    return [(e.line, e.value) for e in evals], evals.conventions, evals.clock


def test_a_log_that_fails_in_the_shared_job_is_read_alone_and_fails_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIEFF_MEMO", "off")
    monkeypatch.setenv("AIEFF_SANDBOX_MEMORY_MB", "96")
    good = tmp_path / "good.jsonl"
    good.write_text('{"epoch": 1, "test_acc5": 95}\n')
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"epoch": 1, "test_acc5": 95, "pad": "' + b"x" * (64 << 20) + b'"}\n')
    items = [(good, _pinned(good, "jsonl")), (big, _pinned(big, "jsonl"))]
    answers = logread.preread([s for _, s in items], LEVEL, lambda i, _: items[i][0])
    assert len(answers) == 1  # the good log's answer; the other is left to its own job
    assert [e.value for e in logread.parse(*items[0], LEVEL, answers)] == [95.0]
    with pytest.raises(Refused, match=r"A404 .*big.jsonl \(jsonl\): ran out of memory within the sandbox's limit"):
        logread.parse(*items[1], LEVEL, answers)


def test_logs_the_memo_holds_are_not_even_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm run reads its answers from the memo: it neither fetches (hashes) those logs again for the shared
    job nor sends one."""
    monkeypatch.setenv("AIEFF_MEMO_DIR", str(tmp_path / "memo"))
    items = []
    for i, text in enumerate([DAWN, DAWN.replace("79.2", "78.0")]):
        (path := tmp_path / f"run{i}.tsv").write_text(text)
        items.append((path, _pinned(path, "dawnbench-tsv")))
    located: list[int] = []

    def locate(i: int, _: TrainingLog) -> Path:
        located.append(i)
        return items[i][0]

    cold = logread.preread([s for _, s in items], LEVEL, locate)
    assert located == [0, 1] and len(cold) == 2
    warm = logread.preread([s for _, s in items], LEVEL, locate)
    assert located == [0, 1] and warm.keys() == cold.keys()
    assert [e.value for e in logread.parse(*items[1], LEVEL, warm)] == [70.0, 78.0, 85.0]


def test_the_shared_job_reads_each_log_as_its_own_job_does_whatever_the_nesting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's JSON decoder counts nesting against the recursion limit, so a JSON line nested near it parsed or
    not depending on how deep the parser ran (an audit found lines nested 981-983 deep refused in the shared job,
    3 frames deeper, and read alone). Now nesting is bounded (jsontext.MAX_DEPTH) before decoding, and the shared
    child runs each parse at its own job's depth: a log answers cleanly there exactly when it does alone."""
    from aieff.verify.logs.jsontext import MAX_DEPTH

    monkeypatch.setenv("AIEFF_MEMO", "off")
    good = tmp_path / "good.jsonl"
    good.write_text('{"epoch": 1, "test_acc5": 95}\n')
    items, depths = [(good, _pinned(good, "jsonl"))], [0]
    for depth in [*range(MAX_DEPTH - 3, MAX_DEPTH + 4), *range(975, 990)]:
        (deep := tmp_path / f"deep{depth}.jsonl").write_text(
            "[" * depth + "]" * depth + '\n{"epoch": 1, "test_acc5": 95}\n'
        )
        items.append((deep, _pinned(deep, "jsonl")))
        depths.append(depth)
    answers = logread.preread([s for _, s in items], LEVEL, lambda i, _: items[i][0])
    for (path, s), depth in zip(items, depths, strict=True):
        alone = _reading(lambda p=path, s=s: logread.parse(p, s, LEVEL))
        assert (alone[0] != "DataError") == (depth <= MAX_DEPTH), (path.name, alone)
        assert (logread._key(s, LEVEL) in answers) == (depth <= MAX_DEPTH), path.name
        assert _reading(lambda p=path, s=s: logread.parse(p, s, LEVEL, answers)) == alone, path.name


def test_json_nesting_is_measured_outside_strings() -> None:
    from aieff.verify.logs.jsontext import MAX_DEPTH, depth, loads

    assert depth('{"a": [1, {"b": "[[[{{{"}], "c": "\\"[["}') == 3
    assert depth("[]" * 500) == 1 and loads("[]") == []
    assert loads('{"k": "' + "[" * 500 + '"}') == {"k": "[" * 500}  # brackets in a string nest nothing
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match="nested deeper than"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_a_job_past_its_cpu_time_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU-time limit ends a job with SIGXCPU (SIGKILL only a second later), so the job's error names the limit;
    with the hard limit equal to the soft one the kernel sent SIGKILL alone and the error said only "killed"."""
    from aieff.verify.logs.sandboxed import job
    from aieff.verify.sandbox import Limits, Sandbox

    monkeypatch.setenv("MKL_NUM_THREADS", "5")  # an environment no other test uses: a helper of its own
    path = tmp_path / "log.txt"
    path.write_bytes(thrash_text(4_000_000))
    s = TrainingLog.model_validate(
        {"path": "entries/lvl/log.txt", "sha256": "0" * 64, "format": "step-log", "pattern": THRASH_PATTERN}
    )
    box = Sandbox(Limits(wall_seconds=60, cpu_seconds=1))
    try:
        result = box.run(job(path, s, LOSS_LEVEL))
    finally:
        box.stop()
    assert not result["ok"] and result["error"].endswith("(signal 24 CPU-time limit)"), result
