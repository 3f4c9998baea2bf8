"""Hostile training logs: sizes declared inside a log, patterns that cost seconds per megabyte, parses past
their time bound. Each ends in its A4xx refusal, from the sandbox the parse runs in."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # hostile_corpus imports this module; tests import this module's builders first
    from hostile_corpus import Case

# 53 characters; RE2 compiles it to ~4800 instructions, and its DFA gives up on a line of a's: about
# 57 s per MB of log, searched in the process that held the repository before.
SLOW_PATTERN = r"(?P<step>(?:a{1,30}){1,30})(?P<value>(?:a?){1,999})bc"
# Under the program-size bound (~470 instructions), but its DFA thrashes on random a/b text: about
# 4 s per MB, which only the sandbox's time bound stops.
THRASH_PATTERN = r"(?P<step>(?:a[ab]{1,15}){1,15})(?P<value>b)c"
TB = "    tag: val/acc\n    step_means: epochs\n"


def records(*payloads: bytes) -> bytes:
    """TFRecord framing around each payload, written by tensorboard's own record writer."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    out = io.BytesIO()
    writer = RecordWriter(out)
    for payload in payloads:
        writer.write(payload)
    return out.getvalue()


def tensor_event(
    step: int, dims: list[int], *, floats: Sequence[float] = (), content: bytes = b"", tag: str = "a"
) -> bytes:
    """A serialized Event whose summary holds one float32 tensor, shaped and filled as given."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=shape, float_val=list(floats), tensor_content=content
    )
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor)])
    return event_pb2.Event(step=step, summary=summary).SerializeToString()


def huge_tensor_file() -> bytes:
    """44 bytes: one event whose float32 tensor declares 200 million elements and carries one value,
    which tensorboard's make_ndarray repeats 200 million times (an 831 MB peak in the parsing process)."""
    return records(tensor_event(1, [200_000_000], floats=[1.0]))


def declared_length_file(length: int = 1 << 62) -> bytes:
    """A record header declaring `length` payload bytes (with a valid checksum), then 20 bytes."""
    import struct

    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    header = struct.pack("<Q", length)
    return header + struct.pack("<I", masked_crc32c(header)) + b"x" * 20


def thrash_text(size: int, seed: int = 1) -> bytes:
    """Lines of random a/b characters: every line is a fresh DFA state explosion for THRASH_PATTERN."""
    rng = random.Random(seed)
    line = 100_000
    return b"".join(bytes(rng.choice(b"ab") for _ in range(line)) + b"\n" for _ in range(size // (line + 1)))


def _step_log(repo: Path, text: bytes, pattern: str) -> list[str]:
    from hostile_corpus import log_entry

    return log_entry(repo, text, "step-log", f"    pattern: '{pattern}'\n")


def cases() -> list[Case]:
    """The training-log attacks."""
    from hostile_corpus import Case, failed_with, log_entry

    tag = TB.replace("val/acc", "a")
    return [
        Case(
            "tb-44-byte-event-declares-200m-elements",
            lambda r: log_entry(r, huge_tensor_file(), "tensorboard", tag),
            failed_with("A402", "[200000000]"),
        ),
        Case(
            "tb-tensor-content-16-bytes-for-a-scalar",
            lambda r: log_entry(r, records(tensor_event(1, [], content=b"\0" * 16)), "tensorboard", tag),
            failed_with("A402", "16 bytes of content"),
        ),
        Case(
            "tb-record-declares-2-to-the-62-bytes",
            lambda r: log_entry(r, declared_length_file(), "tensorboard", TB),
            failed_with("A401", "declares 4611686018427387904 bytes"),
        ),
        Case(
            "tb-shape-wraps-to-one-in-int64",
            lambda r: log_entry(r, records(tensor_event(1, [2**63 - 1, 2**63 - 1], floats=[1.0])), "tensorboard", tag),
            failed_with("A402", "over 1e18 elements"),
        ),
        Case(
            "step-log-53-char-pattern",
            lambda r: _step_log(r, b"a" * 100_000 + b"\n", SLOW_PATTERN),
            failed_with("E013", "RE2 instructions (bound 500)", code=2),  # refused by validate, before any fetch
        ),
        Case(
            "step-log-dfa-thrash-past-time-bound",
            lambda r: _step_log(r, thrash_text(1_000_000), THRASH_PATTERN),
            failed_with("A404", "better.log"),
            env={"AIEFF_SANDBOX_SECONDS": "1"},
            timeout=120,
        ),
    ]
