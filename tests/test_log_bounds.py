"""Sizes a log declares are checked before anything is allocated, patterns are bounded, and every parse runs in
the sandbox under its time and memory limits, never in the process that holds the repository."""

from __future__ import annotations

import struct

import pytest

from aieff import logs
from aieff.logs import step_log
from aieff.refusals import Refused
from aieff.repo import DataError
from hostile_cases_logs import (
    SLOW_PATTERN,
    declared_length_file,
    records,
    tensor_event,
)
from test_logs import DAWN, LEVEL, LOSS_LEVEL, spec

TB = spec("tensorboard", tag="a", step_means="epochs")


# --- TensorBoard: record lengths (A401) and tensor shapes (A402) ---------------------------------------


def test_event_files_from_tensorboards_writer_are_read_record_by_record() -> None:
    from aieff.logs.tensorboard import records as read_records

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
    s = spec("step-log", pattern=SLOW_PATTERN)  # valid RE2, names step and value: validation accepts it
    with pytest.raises(Refused, match=r"A403 .*compiles to \d{4} RE2 instructions \(bound 500\)"):
        logs.parse("a" * 20_000 + "\n", s, LOSS_LEVEL)  # unbounded, this line alone took over a second


def test_patterns_in_use_are_far_under_the_bound_and_rejects_by_re2_are_coded() -> None:
    for pattern in (
        r"^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)$",
        r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)",
    ):
        assert step_log.compile_pattern(pattern).programsize < step_log.MAX_PROGRAM // 5
    with pytest.raises(Refused, match="A403 .*RE2 refuses it: .*pattern too large"):
        step_log.compile_pattern(r"(?P<step>\pL{1000})(?P<value>\pL{1000})")


def test_a_line_over_the_bound_is_skipped_and_said() -> None:
    s = spec("step-log", pattern=r"^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)")
    text = "s:1 tel:" + "9" * step_log.MAX_LINE + "\ns:2 tel:3.5\n"
    evals = logs.parse(text, s, LOSS_LEVEL)
    assert [e.steps for e in evals] == [2] and "1 line(s) over 131072 characters skipped" in evals.conventions
