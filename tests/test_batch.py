"""The batch per optimizer step is read from the log's own training script, never taken from the entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import batch_logs
from aieff.dataset.schema import Benchmark, Entry, TrainingLog
from aieff.refusals import Refused
from aieff.verify import batch
from aieff.verify.batch import BatchUnverified, arith
from aieff.verify.batch.modded_nanogpt import read

ROOT = Path(__file__).resolve().parents[1]
LEVEL = Benchmark.model_validate(
    {
        "id": "lm",
        "title": "LM",
        "task": "language modelling",
        "dataset": {"name": "toy"},
        "metric": {"name": "loss", "unit": "loss", "split": "val"},
        "direction": "lower",
        "threshold": 3.28,
        "baseline": "a",
        "rules": "toy",
        "source": {"title": "t", "url": "https://example.org/t", "locator": "l"},
        "batch_reader": "modded-nanogpt",
    }
)


def entry(length: int | None = 2048, **training: object) -> Entry:
    fc = {"value": 1e9, "unit": "multiply-adds"} | ({"sequence_length": length} if length else {})
    return Entry.model_validate(
        {
            "id": "e",
            "benchmark": "lm",
            "model": "m",
            "publication": {"title": "t", "authors": ["a"], "url": "https://example.org/p", "date": "2025-01-01"},
            "training": {"steps_to_target": 100, "forward_cost": fc, **training},
        }
    )


def reading(raw: bytes) -> batch.Reading | BatchUnverified:
    """Through the JSON the sandbox answers with, as estimate gets it."""
    return batch.from_json(json.loads(json.dumps(batch.read(raw.decode(), "modded-nanogpt"))))


# --- each convention, read -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unit", "phases"),
    [
        (batch_logs.sequences(), "sequences", ((0, 512),)),
        (batch_logs.tokens(), "tokens", ((0, 524_288),)),
        (batch_logs.train_batch_size(), "tokens", ((0, 393_216),)),
        (batch_logs.per_device(), "tokens", ((0, 8 * 48 * 1024),)),
        (batch_logs.per_device("grad_accum_steps = 8 // world_size\n"), "tokens", ((0, 8 * 48 * 1024),)),
        (batch_logs.bs_schedule(), "tokens", ((0, 131_072), (707, 262_144), (1414, 393_216))),
        (batch_logs.bs_schedule(2070), "tokens", ((0, 131_072), (690, 262_144), (1380, 393_216))),
        (batch_logs.stages(), "tokens", ((0, 131_072), (460, 262_144), (920, 393_216))),
    ],
    ids=[
        "sequences",
        "tokens",
        "train_batch_size",
        "per-device-assert",
        "per-device-accum",
        "get_bs",
        "get_bs-exact-third",
        "stages",
    ],
)
def test_each_convention_gives_the_batch_per_step(raw: bytes, unit: str, phases: tuple) -> None:
    r = reading(raw)
    assert isinstance(r, batch.Reading), r
    assert (r.unit, r.phases) == (unit, phases)
    assert r.sequence_length == (1024 if unit == "sequences" else None)


def test_the_notes_say_which_log_line_gave_the_batch() -> None:
    r = read(batch_logs.sequences().decode())
    line = (
        batch_logs.sequences()
        .decode()
        .splitlines()
        .index("    batch_size : int = 8*64 # batch size, in sequences, across all devices")
        + 1
    )
    assert f"log line {line}: batch_size = 8 * 64 = 512 sequences per step (all devices)" in r.notes


def test_comments_strings_and_functions_are_not_the_batch() -> None:
    """A comment, a string or an assignment inside a function says nothing about the run: only the script's
    settings count (an entry cannot aim the reader at them: the level names the reader, not a pattern)."""
    raw = (
        batch_logs.sequences()
        .decode()
        .replace(
            "args = Hyperparameters()",
            "# batch_size : int = 5\nNOTE = 'batch_size : int = 5'\n"
            "def f():\n    batch_size = 5\nargs = Hyperparameters()",
        )
    )
    assert read(raw).phases == ((0, 512),)


def test_a_setting_assigned_twice_is_not_read() -> None:
    raw = (
        batch_logs.sequences().decode().replace("args = Hyperparameters()", "batch_size = 5\nargs = Hyperparameters()")
    )
    r = reading(raw.encode())
    assert isinstance(r, BatchUnverified) and r.refusal.code == "A471" and "assigns batch_size 2 times" in str(r)


def test_a_log_without_its_script_is_not_read() -> None:
    r = reading(b"s:0 tel:10.9\ns:100 tel:3.2\n")  # llm.c's main.log: no script, no batch
    assert isinstance(r, BatchUnverified) and r.refusal.code == "A471"


def test_a_per_device_batch_without_fixed_devices_is_not_read() -> None:
    """`seq_len` is per device; when the world size comes from the environment the log does not say the batch."""
    r = reading(batch_logs.per_device(fixed=""))
    assert isinstance(r, BatchUnverified) and "does not fix the devices" in str(r)


def test_an_unknown_transition_logic_is_not_read() -> None:
    raw = batch_logs.bs_schedule().decode().replace("int(len(args.train_bs_schedule) * x)", "int(2 * x)")
    r = reading(raw.encode())
    assert isinstance(r, BatchUnverified) and "get_bs function aieff knows" in str(r)


# --- expressions are evaluated, never run ---------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('touch /tmp/aieff-batch-payload')",
        "8**10**10",  # a huge exponent: ** is refused before anything is computed
        "8 * 64 * 1024 * 1024 * 1024 * 1024 * 1024 * 1024",  # beyond 1e18
        "len('x' * 10**9)",
        "args.device_batch_size * 8",
        "True * 512",
        "512.0",
    ],
)
def test_a_batch_that_is_not_integer_arithmetic_is_refused_not_evaluated(expr: str, tmp_path: Path) -> None:
    r = reading(batch_logs.sequences(batch=expr))
    assert isinstance(r, BatchUnverified) and r.refusal.code == "A472", r
    assert not Path("/tmp/aieff-batch-payload").exists()


def test_the_evaluator_takes_only_bounded_literal_arithmetic() -> None:
    import ast

    def ev(s: str) -> int:
        return arith.integer(ast.parse(s, mode="eval").body)

    assert ev("8*64") == 512 and ev("(8 + 8) * 2048 // 2") == 16384 and ev("-(-3)") == 3
    for bad in ("2**3", "x", "f(1)", "1/2", "[1][0]", "1 if 1 else 2", "10**18 * 10"):
        with pytest.raises(arith.ExpressionRefused):
            ev(bad)
    assert arith.number(ast.parse("1/3", mode="eval").body) == 1 / 3
    with pytest.raises(arith.ExpressionRefused):
        ev("+".join(["1"] * 100))  # over the node bound


# --- the entry against the log ---------------------------------------------------------------------


def test_an_entry_stating_5_where_the_script_says_512_is_refused() -> None:
    with pytest.raises(Refused) as exc:
        batch.check(entry(length=1024, samples_per_step=5), LEVEL, reading(batch_logs.sequences()), "log")
    assert exc.value.code == "A470" and "states 5 samples per step" in str(exc.value) and "gives 512" in str(exc.value)


def test_the_per_device_batch_stated_as_the_global_one_is_refused() -> None:
    """device_batch_size is 64; the run trained on 8 x 64 = 512 sequences a step."""
    with pytest.raises(Refused, match="A470.*states 64 .*gives 512"):
        batch.check(entry(length=1024, samples_per_step=64), LEVEL, reading(batch_logs.sequences()), "log")
    # and for a per-device token count: 48 x 1024 tokens per device is 24 sequences of 2,048, x 8 devices
    with pytest.raises(Refused, match="A470.*states 24 .*gives 192"):
        batch.check(entry(samples_per_step=24), LEVEL, reading(batch_logs.per_device()), "log")
    assert batch.check(entry(samples_per_step=192), LEVEL, reading(batch_logs.per_device()), "log")


def test_the_script_sequence_length_must_be_the_entrys() -> None:
    with pytest.raises(Refused, match="sequences of 1,024 tokens; the entry's forward_cost.sequence_length is 2,048"):
        batch.check(entry(length=2048, samples_per_step=512), LEVEL, reading(batch_logs.sequences()), "log")


def test_tokens_must_be_whole_sequences_of_the_entrys_length() -> None:
    with pytest.raises(Refused, match="not a whole number of the entry's 1,000-token sequences"):
        batch.check(entry(length=1000, samples_per_step=524), LEVEL, reading(batch_logs.tokens()), "log")
    assert batch.check(entry(length=65536, samples_per_step=8), LEVEL, reading(batch_logs.tokens()), "log")


def sched(*phases: tuple[int, int]) -> dict:
    return {"samples_per_step_schedule": [{"from_step": s, "samples": n} for s, n in phases]}


def test_a_schedule_agrees_within_one_step_and_not_beyond() -> None:
    r = reading(batch_logs.stages())
    assert batch.check(entry(**sched((0, 64), (460, 128), (920, 192))), LEVEL, r, "log")
    assert batch.check(entry(**sched((0, 64), (461, 128), (919, 192))), LEVEL, r, "log")
    for bad in [((0, 64), (462, 128), (920, 192)), ((0, 64), (460, 128)), ((0, 64), (460, 128), (920, 190))]:
        with pytest.raises(Refused, match="A470"):
            batch.check(entry(**sched(*bad)), LEVEL, r, "log")
    with pytest.raises(Refused, match="A470"):  # one batch for the whole run where the script changes it
        batch.check(entry(samples_per_step=192), LEVEL, r, "log")


def test_a_level_without_a_reader_leaves_a_step_log_unverified() -> None:
    with pytest.raises(BatchUnverified, match="A471 .*names no batch_reader"):
        batch.check(entry(samples_per_step=8), LEVEL.model_copy(update={"batch_reader": None}), None, "log")


def test_the_sandbox_answer_is_checked_on_arrival() -> None:
    good = batch.read(batch_logs.stages().decode(), "modded-nanogpt")
    for bad in (
        {**good, "unit": "bytes"},
        {**good, "phases": [[5, 64]]},
        {**good, "phases": [[0, 64], [0, 128]]},
        {**good, "phases": [[0, -1]]},
        {**good, "phases": [[0, True]]},
        {**good, "sequence_length": 7},
        {"unread": ["A101", "x"]},
        [],
    ):
        with pytest.raises((TypeError, ValueError)):
            batch.from_json(bad)


def test_the_gpt2_level_names_its_reader() -> None:
    import yaml

    level = Benchmark.model_validate(yaml.safe_load((ROOT / "entries/gpt2-fineweb-3-28/benchmark.yaml").read_text()))
    assert level.batch_reader == "modded-nanogpt"


def test_the_sandboxed_log_job_returns_the_batch(tmp_path: Path) -> None:
    """The reading runs in the sandbox's log child, beside the parse, and arrives checked."""
    from aieff.verify import logread

    path = tmp_path / "run.txt"
    path.write_bytes(batch_logs.stages())
    spec = TrainingLog(
        path="entries/lm/run.txt",
        sha256="0" * 64,
        format="step-log",
        pattern=r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)",
    )
    evals = logread.parse(path, spec, LEVEL)
    assert isinstance(evals.batch, batch.Reading) and evals.batch.phases[1] == (460, 262_144)


def test_a_line_python_311_cannot_parse_is_left_out_only_when_it_sets_no_batch() -> None:
    """Later scripts hold 3.12 f-strings (quotes nested in a field): such a line inside a function is left out
    and named in the notes; one that could set the batch never is."""
    bad_print = '\ndef log(m):\n    print0(f"{m.get("filename", "?")}" +)\n'
    raw = batch_logs.sequences().decode().replace("args = Hyperparameters()", bad_print + "args = Hyperparameters()")
    r = read(raw)
    assert r.phases == ((0, 512),)
    assert any("not Python 3.11 (e.g. a 3.12 f-string), left out" in n for n in r.notes)
    raw = batch_logs.sequences().decode().replace("    device_batch_size : int = 64", "    device_batch_size = (64 +")
    assert isinstance(reading(raw.encode()), BatchUnverified)


def test_an_evaluation_must_read_the_same_under_the_readers_own_line_grammar() -> None:
    """The entry's pattern picks which number is the step; the reader's grammar says which one it is."""
    text = batch_logs.sequences(steps=1000).decode().replace("step_avg:100.00ms", "step_avg:10.00ms")
    line = next(n for n, x in enumerate(text.splitlines(), 1) if x.startswith("step:1000/"))
    same = lambda v: v  # noqa: E731
    assert batch.confirm(text, [(line, 1000, 3.27)], "modded-nanogpt", same) is None
    assert "reads step 10, value 3.27; the line says step 1,000" in batch.confirm(
        text, [(line, 10, 3.27)], "modded-nanogpt", same
    )
    assert "value 4.1" in batch.confirm(text, [(line, 1000, 4.1)], "modded-nanogpt", same)
    assert "not an evaluation line" in batch.confirm(text, [(1, 0, 3.27)], "modded-nanogpt", same)
