"""A corpus of hostile entries and artifacts, each run through the real CLI in a fresh toy repository.

Shared by tests/test_hostile.py (each case must end in its coded error or safe output) and by
benchmarks/hostile.py (which counts coded errors, tracebacks, hangs and false passes).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "fixtures" / "valid" / "basic"
LEVEL = "entries/toy-level"
README = (
    "# toy\n\n<!-- citation start -->\n<!-- citation end -->\n\n"
    "<!-- leaderboards start -->\n<!-- leaderboards end -->\n\nafter the tables\n"
)
CITATION = 'cff-version: 1.2.0\ntitle: "toy"\nversion: "2026.11.22"\ndate-released: 2026-11-22\n'


@dataclass
class Result:
    """What one CLI run did."""

    code: int
    out: str
    repo: Path
    seconds: float


@dataclass
class Case:
    """One attack: prepare the repository (returns the CLI arguments), then judge the run."""

    name: str
    setup: Callable[[Path], list[str]]
    expect: Callable[[Result], str | None]
    env: dict[str, str] = field(default_factory=dict)
    needs_torch: bool = False
    timeout: float = 180.0


# --- helpers ---------------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_file(repo: Path) -> Path:
    return repo / LEVEL / "better.yaml"


def edit(repo: Path, old: str, new: str) -> None:
    f = entry_file(repo)
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new))


def add_artifacts(repo: Path, block: str) -> None:
    f = entry_file(repo)
    f.write_text(f.read_text() + "artifacts:\n" + block)


def log_entry(repo: Path, log: bytes, fmt: str = "dawnbench-tsv", extra: str = "") -> list[str]:
    """The toy entry with an in-repo training log (and a torchvision architecture)."""
    (repo / LEVEL / "better.log").write_bytes(log)
    add_artifacts(
        repo,
        "  architecture:\n    torchvision: resnet18\n"
        f"  training_log:\n    path: {LEVEL}/better.log\n    sha256: {sha(log)}\n    format: {fmt}\n{extra}",
    )
    return ["estimate", f"{LEVEL}/better.yaml"]


_TINY: list[bytes] = []


def tiny_export(path: Path) -> None:
    """A real torch.export archive of a 4 -> 3 linear layer (exported once per process)."""
    if not _TINY:
        import torch

        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
        torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(path))
        _TINY.append(path.read_bytes())
    path.write_bytes(_TINY[0])


def rewrite_zip(src: Path, dst: Path, change: Callable[[str, bytes], bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename, zin.read(info)))


def export_entry(repo: Path, data: bytes) -> list[str]:
    (repo / LEVEL / "m.pt2").write_bytes(data)
    add_artifacts(
        repo,
        f"  architecture:\n    export:\n      path: {LEVEL}/m.pt2\n      sha256: {sha(data)}\n"
        "    input: vector\n    input_features: 4\n",
    )
    return ["estimate", f"{LEVEL}/better.yaml"]


def tampered_export(repo: Path, tamper: Callable[[Path], bytes]) -> list[str]:
    """A real archive of the tiny model, changed by `tamper` (which reads it and returns new bytes)."""
    src = repo.parent / "clean.pt2"
    tiny_export(src)
    data = tamper(src)
    src.unlink()
    return export_entry(repo, data)


def with_model_json(change: Callable[[dict], None]) -> Callable[[Path], bytes]:
    """A tamper function that edits the archive's model JSON."""

    def tamper(src: Path) -> bytes:
        out = src.with_name("tampered.pt2")

        def edit(name: str, data: bytes) -> bytes:
            if not name.endswith("models/model.json"):
                return data
            doc = json.loads(data)
            change(doc)
            return json.dumps(doc).encode()

        rewrite_zip(src, out, edit)
        data = out.read_bytes()
        out.unlink()
        return data

    return tamper


def checkpoint_entry(repo: Path, blob: bytes) -> list[str]:
    (repo / LEVEL / "c.safetensors").write_bytes(blob)
    add_artifacts(
        repo,
        f"  architecture:\n    torchvision: resnet18\n  checkpoint:\n    path: {LEVEL}/c.safetensors\n"
        f"    sha256: {sha(blob)}\n",
    )
    return ["estimate", f"{LEVEL}/better.yaml"]


def safetensors(header: str) -> bytes:
    raw = header.encode()
    return len(raw).to_bytes(8, "little") + raw + b"\0" * 16


# --- judges ----------------------------------------------------------------------------------------


def failed_with(*needles: str, code: int = 1) -> Callable[[Result], str | None]:
    """The run exits with `code` and prints every needle."""

    def judge(r: Result) -> str | None:
        if r.code != code:
            return f"exit {r.code}, wanted {code}"
        missing = [n for n in needles if n not in r.out]
        return f"missing {missing}" if missing else None

    return judge


def claimed_with(*needles: str) -> Callable[[Result], str | None]:
    """The run exits 0 with a claimed verdict and prints every needle."""

    def judge(r: Result) -> str | None:
        if r.code != 0 or ": claimed" not in r.out:
            return f"exit {r.code}, wanted a claimed verdict"
        missing = [n for n in needles if n not in r.out]
        return f"missing {missing}" if missing else None

    return judge


def coded(code: str, where: str | None = None) -> Callable[[Result], str | None]:
    """`aieff validate` reports this error code (at path:line:col when given)."""

    def judge(r: Result) -> str | None:
        if r.code != 1:
            return f"exit {r.code}"
        if where and not re.search(re.escape(where) + rf"[0-9:]*: {code} ", r.out):
            return f"no {code} at {where}"
        return None if re.search(rf": {code} ", r.out) else f"no {code}"

    return judge


def readme_is_inert(*forbidden: str) -> Callable[[Result], str | None]:
    """Build succeeded, the markers are intact, no forbidden text reached the README, and a rebuild works."""

    def judge(r: Result) -> str | None:
        if r.code != 0:
            return f"build exit {r.code}"
        text = (r.repo / "README.md").read_text()
        if text.count("<!-- leaderboards end -->") != 1 or not text.endswith("after the tables\n"):
            return "markers or the text after them changed"
        bad = [f for f in forbidden if f in text]
        if bad:
            return f"README holds {bad}"
        rows = [line for line in text.splitlines() if line.startswith("|")]
        if any(len(re.findall(r"(?<!\\)\|", line)) != 10 for line in rows):
            return "a table row has extra cells"
        entry_file(r.repo).unlink()  # the entry is gone: every later build must still work
        base = r.repo / LEVEL / "base.yaml"
        again = cli(["build"], r.repo, {})
        return None if again.code == 0 and base.is_file() else f"rebuild exit {again.code}"

    return judge


# --- the corpus ------------------------------------------------------------------------------------

MARKER_ENV = "AIEFF_TEST_MARKER"


def marker_payload() -> str:
    """A Python expression that, if anything ever ran it, would create the run's marker file."""
    return f"__import__('os').system('touch {os.environ[MARKER_ENV]}')"


def _pt2_payload(repo: Path) -> list[str]:
    payload = f"zz={marker_payload()}"

    def rename_input(doc: dict) -> None:
        def walk(node: object) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "as_tensor" and value.get("name") == "input":
                        value["name"] = payload
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(doc)
        values = doc["graph_module"]["graph"]["tensor_values"]
        values[payload] = values.pop("input")

    return tampered_export(repo, with_model_json(rename_input))


def _pt2_expect(r: Result) -> str | None:
    if Path(os.environ[MARKER_ENV]).exists():
        return "the payload ran: marker file exists"
    return failed_with("is not a plain identifier")(r)


def _pt2_sympy(repo: Path) -> list[str]:
    def evil_size(doc: dict) -> None:
        size = doc["graph_module"]["graph"]["tensor_values"]["input"]["sizes"][0]
        size.clear()
        size["as_expr"] = {"expr_str": "__import__('os').getcwd()", "hint": {"as_int": 1}}

    return tampered_export(repo, with_model_json(evil_size))


def _flip_payload_byte(src: Path) -> bytes:
    """One payload byte changed: the stored CRC no longer matches."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("weights/weight_0"))
    head = info.header_offset
    name_len = int.from_bytes(data[head + 26 : head + 28], "little")
    extra_len = int.from_bytes(data[head + 28 : head + 30], "little")
    data[head + 30 + name_len + extra_len] ^= 0xFF
    return bytes(data)


def _declare_2_5_gb(src: Path) -> bytes:
    """Every central-directory record declares a 2.5 GB member."""
    data = bytearray(src.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        data[at + 24 : at + 28] = (2_500_000_000).to_bytes(4, "little")
        at += 4
    return bytes(data)


def _pt2_bomb(repo: Path) -> list[str]:
    """300 MiB of zeros deflated into about 300 KiB."""
    bomb = repo.parent / "bomb.pt2"
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(3):
            with zf.open(f"m/data/weights/weight_{i}", "w") as fh:
                for _ in range(100):
                    fh.write(chunk)
    return export_entry(repo, bomb.read_bytes())


def _deep_yaml(repo: Path) -> list[str]:
    head = "# yaml-language-server: $schema=../../schema/entry.schema.json\n"
    (repo / LEVEL / "deep.yaml").write_text(head + "id: " + "[" * 28000 + "]" * 28000 + "\n")
    return ["validate"]


def _symlinked_level(repo: Path) -> list[str]:
    outside = repo.parent / "outside-level"
    shutil.copytree(repo / LEVEL, outside)
    (repo / "entries/linked").symlink_to(outside, target_is_directory=True)
    return ["validate"]


def _dup_id_earlier_level(repo: Path) -> list[str]:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    other = repo / "entries/a-level"  # sorts before toy-level
    other.mkdir()
    bench = (repo / LEVEL / "benchmark.yaml").read_text().replace("id: toy-level", "id: a-level")
    (other / "benchmark.yaml").write_text(bench.replace("baseline: base", "baseline: better"))
    text = entry_file(repo).read_text().replace("benchmark: toy-level", "benchmark: a-level")
    (other / "better.yaml").write_text(text.replace("1807.00002", "1807.00003"))
    return ["check", "--changed-since", "main"]


def _newline_filename(repo: Path) -> list[str]:
    (repo / LEVEL / "x\n::add-mask::secret.yaml").write_text("id: [\n")
    return ["validate"]


def _newline_filename_expect(r: Result) -> str | None:
    if any(line.startswith(("::add-mask::", "::set-output", "::stop-commands")) for line in r.out.splitlines()):
        return "a workflow command was injected"
    return None if r.code == 1 and "::error file=" in r.out else f"exit {r.code}"


def _record_invalid(repo: Path, doc: object) -> list[str]:
    (repo / "exports").mkdir(exist_ok=True)
    (repo / "exports/verification.json").write_text(json.dumps(doc))
    return ["build"]


def _all_with_one_bad(repo: Path) -> list[str]:
    log_entry(repo, b"epoch\ttop1Accuracy\n1\t1.2.3\n", extra="    columns: {metric: top1Accuracy}\n")
    return ["estimate", "--all", "--record", "rec.json"]


def _all_with_one_bad_expect(r: Result) -> str | None:
    problem = failed_with("unreadable value")(r) if "1.2.3" not in r.out else failed_with("1.2.3")(r)
    record = json.loads((r.repo / "rec.json").read_text())["entries"]
    if set(record) != {"base", "better"}:
        return f"record holds {sorted(record)}"
    return problem


def _subset_record(repo: Path) -> list[str]:
    (repo / "rec.json").write_text(
        json.dumps({"entries": {"base": {"level": "toy-level", "status": "claimed", "messages": ["kept"]}}})
    )
    return ["estimate", f"{LEVEL}/better.yaml", "--record", "rec.json"]


def _subset_record_expect(r: Result) -> str | None:
    record = json.loads((r.repo / "rec.json").read_text())["entries"]
    if record.get("base", {}).get("messages") != ["kept"] or "better" not in record:
        return f"record is {record}"
    return None if r.code == 0 else f"exit {r.code}"


def _huge_line(repo: Path) -> list[str]:
    return log_entry(
        repo, b"epoch\ttop1Accuracy\n1\t" + b"9" * 900_000 + b"x\n", extra="    columns: {metric: top1Accuracy}\n"
    )


def _short_output(r: Result) -> str | None:
    if len(r.out) > 5000:
        return f"{len(r.out)} characters of output"
    return failed_with("dawnbench-tsv line 2")(r)


def _cases() -> list[Case]:
    tsv = "    columns: {metric: top1Accuracy}\n"
    mllog = b':::MLLOG {"key": "eval_accuracy", "value": %s, "metadata": {"epoch_num": %s}}\n'
    return [
        Case("pt2-codegen-payload", _pt2_payload, _pt2_expect, needs_torch=True),
        Case("pt2-sympy-eval", _pt2_sympy, failed_with("not an allowed sympy function"), needs_torch=True),
        Case(
            "pt2-bad-crc",
            lambda r: tampered_export(r, _flip_payload_byte),
            failed_with("damaged member"),
            needs_torch=True,
        ),
        Case("pt2-zip-bomb", _pt2_bomb, failed_with("unpacks to over 100x its size"), needs_torch=True),
        Case(
            "pt2-declared-2.5-gb",
            lambda r: tampered_export(r, _declare_2_5_gb),
            failed_with("unpacks to more than"),
            needs_torch=True,
        ),
        Case(
            "readme-pipe-and-newline",
            lambda r: (edit(r, 'model: "Better net"', 'model: "x | y\\n### z <script>alert(1)</script>"'), ["build"])[
                1
            ],
            readme_is_inert("<script>", "\n### z"),
        ),
        Case(
            "readme-image-and-comment",
            lambda r: (
                edit(r, 'model: "Better net"', 'model: "x)![x](https://e.vil/p.png) <!-- leaderboards end -->"'),
                ["build"],
            )[1],
            readme_is_inert("![x]", "<!-- leaderboards end --> |"),
        ),
        Case(
            "readme-javascript-url",
            lambda r: (
                edit(r, "url: https://arxiv.org/abs/1807.00002\n  date", "url: javascript:alert(1)\n  date"),
                ["validate"],
            )[1],
            coded("E028"),
        ),
        Case(
            "chart-mathtext",
            lambda r: (edit(r, 'model: "Better net"', 'model: "$\\\\foo$ \\\\frac"'), ["build"])[1],
            readme_is_inert(),
        ),
        Case(
            "record-injected-status",
            lambda r: _record_invalid(r, {"entries": {"better": {"level": "toy-level", "status": "<script>"}}}),
            failed_with("invalid verification record"),
        ),
        Case(
            "record-missing-key",
            lambda r: _record_invalid(r, {"entries": {"better": {"messages": []}}}),
            failed_with("invalid verification record"),
        ),
        Case("yaml-28000-deep", _deep_yaml, coded("E013", f"{LEVEL}/deep.yaml:2:")),
        Case(
            "yaml-nul-byte",
            lambda r: (
                entry_file(r).write_bytes(entry_file(r).read_bytes().replace(b"Better net", b"Bet\0ter")),
                ["validate"],
            )[1],
            coded("E003", f"{LEVEL}/better.yaml:4:12"),
        ),
        Case(
            "log-infinity",
            lambda r: log_entry(r, b"epoch\ttop1Accuracy\n1\tInfinity\n", extra=tsv),
            failed_with("not finite"),
        ),
        Case(
            "log-1e309",
            lambda r: log_entry(r, b"epoch\ttop1Accuracy\n1\t1e309\n", extra=tsv),
            failed_with("not finite"),
        ),
        Case(
            "log-999-percent",
            lambda r: log_entry(r, b"epoch\ttop1Accuracy\n1\t999\n", extra=tsv),
            failed_with("outside [0, 100]"),
        ),
        Case(
            "log-epoch-nan",
            lambda r: log_entry(r, b"epoch\ttop1Accuracy\nnan\t95\n", extra=tsv),
            failed_with("not finite"),
        ),
        Case(
            "log-huge-samples",
            lambda r: log_entry(
                r, b"epoch,samples,acc\n1,1e30,95\n", "csv", "    columns: {metric: acc, samples: samples}\n"
            ),
            failed_with("not a whole count"),
        ),
        Case(
            "log-acc-1.2.3",
            lambda r: log_entry(
                r,
                b"Epoch: [0][1/2]\n * Acc@1 1.2.3 Acc@5 99.0\n",
                "pytorch-imagenet-stdout",
                tsv.replace("top1Accuracy", "Acc@1"),
            ),
            failed_with("'1.2.3' is not a number"),
        ),
        Case(
            "mllog-wrong-types",
            lambda r: log_entry(r, mllog % (b'"high"', b"[1]"), "mlperf-mllog", "    metric_scale: percent\n"),
            failed_with("is not a number"),
        ),
        Case(
            "mllog-list-epoch",
            lambda r: log_entry(r, mllog % (b"95", b'{"a": 1}'), "mlperf-mllog"),
            failed_with("epoch_num"),
        ),
        Case(
            "csv-field-over-131kb",
            lambda r: log_entry(
                r, b'epoch,acc\n1,95\n2,"' + b"x" * 200_000 + b'"\n', "csv", "    columns: {metric: acc}\n"
            ),
            failed_with("field larger than field limit"),
        ),
        Case("log-single-900kb-line", _huge_line, _short_output),
        Case(
            "claim-1e308-pfs-days",
            lambda r: (
                edit(r, "value: 3e+10\n    unit: multiply-adds", "value: 1.0e308\n    unit: petaflop/s-days"),
                ["validate"],
            )[1],
            coded("E013", f"{LEVEL}/better.yaml:12:"),
        ),
        Case(
            "safetensors-offsets-ab",
            lambda r: checkpoint_entry(r, safetensors('{"a": {"dtype": "F32", "shape": [2], "data_offsets": "ab"}}')),
            failed_with("malformed shape or data_offsets"),
            needs_torch=True,
        ),
        Case(
            "safetensors-shape-1e400",
            lambda r: checkpoint_entry(
                r, safetensors('{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 8]}}')
            ),
            failed_with("malformed shape or data_offsets"),
            needs_torch=True,
        ),
        Case(
            "torchvision-num-classes-minus-1",
            lambda r: (
                add_artifacts(r, "  architecture:\n    torchvision: resnet18\n    kwargs: {num_classes: -1}\n"),
                ["validate"],
            )[1],
            coded("E013"),
        ),
        Case(
            "torchvision-weights-download",
            lambda r: (
                add_artifacts(
                    r, "  architecture:\n    torchvision: resnet18\n    kwargs: {weights_backbone: IMAGENET1K_V1}\n"
                ),
                ["validate"],
            )[1],
            coded("E010"),
        ),
        Case(
            "resolution-10-to-the-12",
            lambda r: (edit(r, "resolution: 32", "resolution: 1000000000000"), ["validate"])[1],
            coded("E013"),
        ),
        Case("estimate-all-one-bad-artifact", _all_with_one_bad, _all_with_one_bad_expect),
        Case("record-subset-keeps-others", _subset_record, _subset_record_expect),
        Case(
            "artifact-dot-git-config",
            lambda r: (
                add_artifacts(r, f"  training_log:\n    path: .git/config\n    sha256: {'0' * 64}\n    format: csv\n"),
                ["validate"],
            )[1],
            coded("E029"),
        ),
        Case(
            "artifact-outside-entries",
            lambda r: (
                add_artifacts(
                    r, f"  training_log:\n    path: exports/big.bin\n    sha256: {'0' * 64}\n    format: csv\n"
                ),
                ["validate"],
            )[1],
            coded("E029"),
        ),
        Case(
            "sha256-mismatch-hides-real-hash",
            lambda r: (
                log_entry(r, b"epoch\ttop1Accuracy\n1\t95\n", extra=tsv),
                entry_file(r).write_text(
                    entry_file(r).read_text().replace(sha(b"epoch\ttop1Accuracy\n1\t95\n"), "ab" * 32)
                ),
                ["estimate", f"{LEVEL}/better.yaml"],
            )[2],
            lambda r: (
                "real hash printed"
                if sha(b"epoch\ttop1Accuracy\n1\t95\n") in r.out
                else failed_with("sha256 mismatch")(r)
            ),
        ),
        Case("symlinked-level-dir", _symlinked_level, coded("E029", "entries/linked:1:1")),
        Case("dup-id-in-earlier-level", _dup_id_earlier_level, coded("E022", "entries/a-level/better.yaml:2:5")),
        Case("filename-workflow-command", _newline_filename, _newline_filename_expect, env={"GITHUB_ACTIONS": "true"}),
        Case(
            "download-one-byte-every-0.2-s",
            _drip_setup,
            failed_with("unreachable (no complete answer within 3 s"),
            env={"AIEFF_FETCH_DEADLINE": "3", "AIEFF_FETCH_ALLOW_LOOPBACK": "1", "AIEFF_CA_FROM_FILE": "ca.txt"},
            timeout=60,
        ),
    ]


def cli(args: list[str], repo: Path, env: dict[str, str], timeout: float = 180.0) -> Result:
    """Run the real CLI; TimeoutExpired propagates (a hang)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "aieff", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        errors="replace",
        env={**os.environ, "AIEFF_TODAY": "2026-11-22", **env},
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout + proc.stderr, repo, time.perf_counter() - start)


def prepare(folder: Path) -> Path:
    """A fresh toy repository with a README that has leaderboard markers."""
    repo = folder / "repo"
    shutil.copytree(TOY, repo)
    (repo / "README.md").write_text(README)
    (repo / "CITATION.cff").write_text(CITATION)
    return repo


def run_case(case: Case, folder: Path) -> tuple[str, str]:
    """(outcome, detail): outcome is coded, traceback, hang, false-pass or wrong."""
    repo = prepare(folder)
    marker = folder / "payload-ran"
    os.environ[MARKER_ENV] = str(marker)
    args = case.setup(repo)
    env = {**case.env, "AIEFF_CACHE": str(folder / "cache")}
    if ca_file := env.pop("AIEFF_CA_FROM_FILE", None):
        env["AIEFF_CA_BUNDLE"] = (repo / ca_file).read_text()
    try:
        r = cli(args, repo, env, case.timeout)
    except subprocess.TimeoutExpired:
        return "hang", f"no answer in {case.timeout:g} s"
    if "Traceback (most recent call last)" in r.out or r.code < 0 or r.code >= 128:
        return "traceback", f"exit {r.code}: {r.out[-300:]}"
    if re.search(r": verified\b", r.out) or marker.exists():
        return "false-pass", r.out[-300:]
    problem = case.expect(r)
    return ("coded", f"{r.seconds:.1f} s") if problem is None else ("wrong", f"{problem}: {r.out[-400:]}")


_DRIP: dict[str, str] = {}


def https_server(respond: Callable[[http.server.BaseHTTPRequestHandler], None], prefix: str) -> tuple[str, str]:
    """(url, CA bundle) of an HTTPS server on 127.0.0.1, with a throwaway certificate, whose every GET is
    answered by respond(handler); it serves until the process ends."""
    from conftest import self_signed_cert

    cert, key = self_signed_cert(Path(tempfile.mkdtemp(prefix=prefix)))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            respond(self)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"https://127.0.0.1:{httpd.server_address[1]}/log.tsv", str(cert)


def drip_url(folder: Path) -> tuple[str, str]:
    """(url, CA bundle) of an HTTPS server on 127.0.0.1 that sends one byte every 0.2 s (started once)."""
    if not _DRIP:
        from conftest import drip

        _DRIP["url"], _DRIP["ca"] = https_server(drip, "aieff-drip-")
    return _DRIP["url"], _DRIP["ca"]


def _drip(repo: Path) -> list[str]:
    url, ca = drip_url(repo)
    (repo / "ca.txt").write_text(ca)
    add_artifacts(
        repo,
        f"  architecture:\n    torchvision: resnet18\n  training_log:\n    url: {url}\n    sha256: {'ab' * 32}\n"
        "    format: dawnbench-tsv\n",
    )
    return ["check", "--changed-since", "HEAD"]


def _drip_setup(repo: Path) -> list[str]:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    return _drip(repo)


def _more_cases() -> list[Case]:
    """Cases kept in tests/hostile_cases_*.py (one file a topic), each exporting cases()."""
    import importlib

    out: list[Case] = []
    for name in sorted(p.stem for p in Path(__file__).parent.glob("hostile_cases_*.py")):
        out += importlib.import_module(name).cases()
    return out


CASES = _cases() + _more_cases()
