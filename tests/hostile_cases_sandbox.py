"""Hostile cases for the sandbox: a run that cannot confine its jobs as required refuses them."""

from __future__ import annotations

from pathlib import Path

from hostile_corpus import LEVEL, Case, Result, add_artifacts, failed_with


def _torchvision_entry(repo: Path) -> list[str]:
    add_artifacts(repo, "  architecture:\n    torchvision: resnet18\n")
    return ["estimate", f"{LEVEL}/better.yaml"]


def _confined_as_required(r: Result) -> str | None:
    """Every protection required, the count made, and how the sandbox held said once."""
    if "A301" in r.out or "A302" in r.out:
        return "refused: a protection is missing here"
    if "forward cost @32px" not in r.out:
        return "no count"
    lines = [ln for ln in r.out.splitlines() if ln.startswith("sandbox: ")]
    if len(lines) != 1 or "landlock" not in lines[0] or "seccomp" not in lines[0]:
        return f"protection not said once: {lines}"
    return None


def cases() -> list[Case]:
    return [
        Case(
            "sandbox-require-unknown",
            _torchvision_entry,
            failed_with("A302 sandbox-require-unknown: AIEFF_SANDBOX_REQUIRE names everything"),
            env={"AIEFF_SANDBOX_REQUIRE": "filesystem,everything"},
        ),
        Case(
            "sandbox-require-every-protection",
            _torchvision_entry,
            _confined_as_required,
            env={"AIEFF_SANDBOX_REQUIRE": "filesystem,network,syscalls,descriptors,disk,limits"},
            needs_torch=True,
        ),
    ]
