"""The nightly publish job's copy step (.github/scripts/take_generated.py) against hostile artifact trees.

The rebuild job handles contributors' artifacts, so what it uploads is untrusted; the publish job, which
can push, copies from it only the files the build generates. Each hostile tree below is refused as a
whole: exit 1, nothing written anywhere, the offending entry named in an escaped form.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from aieff.dataset.validate import validate
from aieff.publish.build import expected_files
from aieff.verify.record import RECORD_PATH
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("take_generated", ROOT / ".github/scripts/take_generated.py")
take = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(take)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def _content(rel: str) -> bytes:
    if rel.endswith(".png"):
        return PNG
    if rel.endswith(".parquet"):
        return b"PAR1 rows PAR1"
    if rel.endswith(".json"):
        return b'{"generated": true}\n'
    return f"generated {rel}\n".encode()


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(artifact, checkout): a complete, well-formed artifact and a checkout holding older files and a .git."""
    artifact, checkout = tmp_path / "artifact", tmp_path / "checkout"
    for rel in [*take.FIXED, "charts/overview.png", "charts/overview.svg", "charts/alexnet-imagenet.png"]:
        (artifact / rel).parent.mkdir(parents=True, exist_ok=True)
        (artifact / rel).write_bytes(_content(rel))
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git/config").write_text("[core]\n\tbare = false\n")
    (checkout / "README.md").write_text("old\n")
    (checkout / "docs").mkdir()
    (checkout / "docs/graph-only-exports.md").write_text("hand-written\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret").write_text("runner secret\n")
    return artifact, checkout


def _snapshot(top: Path) -> dict[str, object]:
    """Every entry under top by relative path: bytes for files, the target for links, the kind otherwise."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = path.relative_to(top).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = path.read_bytes()
            else:
                out[rel] = stat.S_IFMT(st.st_mode)
    return out


def _take(artifact: Path, checkout: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = take.main([str(artifact), str(checkout)])
    return code, capsys.readouterr().out


def test_a_well_formed_artifact_replaces_only_the_generated_files(tree, capsys) -> None:
    artifact, checkout = tree
    before = _snapshot(checkout)
    code, out = _take(artifact, checkout, capsys)
    assert code == 0, out
    after = _snapshot(checkout)
    taken = _snapshot(artifact)
    changed = {rel for rel in after if after[rel] != before.get(rel)}
    assert {rel for rel in changed if not rel.endswith(("charts", "docs", "exports", "schema"))} == {
        rel for rel, data in taken.items() if isinstance(data, bytes)
    }
    assert after[".git/config"] == before[".git/config"]
    assert after["docs/graph-only-exports.md"] == b"hand-written\n"
    assert not [rel for rel in after if ".take-generated" in rel]


def _replace(path: Path, make: Callable[[Path], None]) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    make(path)


def _git_config(a: Path) -> str:
    (a / ".git").mkdir()
    (a / ".git/config").write_text('[core]\n\tfsmonitor = "touch ../../pwned"\n[credential]\n\thelper = "!cat"\n')
    return "'.git': unexpected directory"


def _git_under_charts(a: Path) -> str:
    (a / "charts/.git").mkdir()
    (a / "charts/.git/config").write_text("[core]\n")
    return "'charts/.git': unexpected directory"


def _symlinked_readme(a: Path) -> str:
    _replace(a / "README.md", lambda p: p.symlink_to("../outside/secret"))
    return "'README.md': a symlink"


def _symlinked_dir(a: Path) -> str:
    _replace(a / "exports", lambda p: p.symlink_to("../outside", target_is_directory=True))
    return "'exports': a symlink"


def _dotdot_escape(a: Path) -> str:
    (a / "charts/escape.png").symlink_to("../../../../../../../../etc/passwd")
    return "'charts/escape.png': a symlink"


def _fifo(a: Path) -> str:
    _replace(a / "charts/overview.png", lambda p: os.mkfifo(p))
    return "'charts/overview.png': a FIFO"


def _socket(a: Path) -> str:
    def bind(p: Path) -> None:
        cwd = os.getcwd()
        os.chdir(p.parent)  # a relative name: tmp paths can exceed a socket address's 108 bytes
        try:
            socket.socket(socket.AF_UNIX).bind(p.name)
        finally:
            os.chdir(cwd)

    _replace(a / "exports/aieff.csv", bind)
    return "'exports/aieff.csv': a socket"


def _device(a: Path) -> str:
    try:
        os.mknod(a / "exports/levels.csv.dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null
    except (PermissionError, AttributeError):
        pytest.skip("cannot make a device node here")
    return "'exports/levels.csv.dev': a character device"


def _unexpected_files(a: Path) -> str:
    (a / "exports/run.sh").write_text("#!/bin/sh\n")
    (a / "docs/graph-only-exports.md").write_text("rewritten\n")
    return "'docs/graph-only-exports.md': not a file the rebuild generates"


def _workflow(a: Path) -> str:
    (a / ".github/workflows").mkdir(parents=True)
    (a / ".github/workflows/pwn.yml").write_text("on: push\n")
    return "'.github': unexpected directory"


def _huge(a: Path) -> str:
    with open(a / "exports/aieff.csv", "r+b") as fh:
        fh.truncate(take.MAX_FILE + 1)  # sparse: costs no disk
    return f"'exports/aieff.csv': {take.MAX_FILE + 1} bytes is over"


def _non_utf8_name(a: Path) -> str:
    with open(os.path.join(os.fsencode(a), b"charts", b"\xff.png"), "wb") as fh:
        fh.write(PNG)
    return "'charts/\\udcff.png': name is not UTF-8"


def _hard_link(a: Path) -> str:
    _replace(a / "README.md", lambda p: os.link(a.parent / "outside/secret", p))
    return "'README.md': has 2 hard links"


def _command_in_name(a: Path) -> str:
    (a / "charts/x\n::error::pwned.png").write_bytes(PNG)
    return "'charts/x\\n::error::pwned.png': not a file the rebuild generates"


def _wrong_content(a: Path) -> str:
    (a / "charts/overview.png").write_bytes(b"<html><script>alert(1)</script>")
    (a / "exports/aieff.json").write_text("{not json")
    return "'charts/overview.png': not a PNG"


def _missing(a: Path) -> str:
    (a / "README.md").unlink()
    return "'README.md': missing from the artifact"


def _too_many(a: Path) -> str:
    for i in range(take.MAX_ENTRIES):
        (a / f"charts/level-{i}.svg").write_bytes(b"<svg/>")
    return f"more than {take.MAX_ENTRIES} entries"


HOSTILE = {
    f.__name__.strip("_"): f
    for f in [
        _git_config,
        _git_under_charts,
        _symlinked_readme,
        _symlinked_dir,
        _dotdot_escape,
        _fifo,
        _socket,
        _device,
        _unexpected_files,
        _workflow,
        _huge,
        _non_utf8_name,
        _hard_link,
        _command_in_name,
        _wrong_content,
        _missing,
        _too_many,
    ]
}


@pytest.mark.parametrize("attack", HOSTILE)
def test_a_hostile_artifact_is_refused_whole(tree, capsys, monkeypatch, attack: str) -> None:
    artifact, checkout = tree
    expected = HOSTILE[attack](artifact)
    top = artifact.parent
    before = {rel: v for rel, v in _snapshot(top).items() if not rel.startswith("artifact")}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out = _take(artifact, checkout, capsys)
    assert code == 1, out
    assert {rel: v for rel, v in _snapshot(top).items() if not rel.startswith("artifact")} == before
    assert f"::error::refused artifact: {expected}" in out, out
    lines = out.splitlines()
    assert all(line.startswith("::error::refused artifact: ") for line in lines[:-1]), out  # no injected command
    assert lines[-1].startswith("::error::the artifact was refused"), out


def test_an_artifact_inside_the_checkout_is_refused(tree, capsys) -> None:
    artifact, checkout = tree
    inner = checkout / "generated"
    artifact.rename(inner)
    before = _snapshot(checkout)
    code, out = _take(inner, checkout, capsys)
    assert code == 2 and "overlap" in out
    assert _snapshot(checkout) == before


def test_links_in_the_checkout_are_replaced_never_written_through(tree, capsys) -> None:
    artifact, checkout = tree
    outside = artifact.parent / "outside"
    (checkout / "README.md").unlink()
    (checkout / "README.md").symlink_to(outside / "secret")
    code, out = _take(artifact, checkout, capsys)
    assert code == 0, out
    assert not (checkout / "README.md").is_symlink() and (outside / "secret").read_text() == "runner secret\n"
    (checkout / "charts").rename(checkout / "charts.real")
    (checkout / "charts").symlink_to(outside, target_is_directory=True)
    code, out = _take(artifact, checkout, capsys)
    assert code == 1 and "writing into the checkout failed" in out
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_the_allow_list_is_what_the_build_generates() -> None:
    """A generated file the list lacks would refuse every nightly; a name it has beyond them widens it."""
    files = {p.relative_to(ROOT).as_posix(): data for p, data in expected_files(ROOT, validate(ROOT)).items()}
    assert all(take.allowed(rel) for rel in files), sorted(r for r in files if not take.allowed(r))
    assert take.FIXED == {rel for rel in files if not rel.startswith("charts/")} | {RECORD_PATH}
    for rel, data in files.items():
        assert take.content_problem(rel, data.encode() if isinstance(data, str) else data) is None, rel


def test_the_rebuild_uploads_only_what_publish_takes() -> None:
    """Hand-written docs next to generated ones must not be uploaded, or every nightly would be refused."""
    jobs = YAML(typ="safe").load((ROOT / ".github/workflows/nightly.yml").read_text())["jobs"]
    (upload,) = [s for s in jobs["rebuild"]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    patterns = upload["with"]["path"].split()
    uploaded = set()
    for pattern in patterns:
        paths = sorted((ROOT / pattern).rglob("*")) if pattern.endswith("/") else [ROOT / pattern]
        uploaded |= {p.relative_to(ROOT).as_posix() for p in paths if p.is_file()}
    assert all(take.allowed(rel) for rel in uploaded), sorted(r for r in uploaded if not take.allowed(r))
    assert take.FIXED <= uploaded
