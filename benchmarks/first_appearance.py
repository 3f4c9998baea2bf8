"""Date modded-nanogpt entries by the first public appearance of their runs' logs, from a git snapshot.

The rule (issue 19, the two modded-nanogpt levels' `rules`): a pinned log first appeared in the
earliest commit, on any ref of the snapshot (branches, tags, refs/pull/*/head), whose tree holds the
log's exact blob; the date is that commit's committer date in UTC. A commit is pushed after it is made,
so this is a lower bound on publication; the first commit on master holding the blob is an upper bound
(the merge) and is kept in the dated_by locator. An entry that pins several runs is dated when the last
of them had appeared: the median it reports needs every run, so the evidence was complete only then.

    python benchmarks/first_appearance.py --git-dir /work/.mirror/KellerJordan+modded-nanogpt/repo \
        entries/gpt2-fineweb-3-28 entries/gpt2-medium-fineweb-2-92 [--write]

prints one line per entry (old date, derived date, evidence) and with --write updates publication.date,
submission.dated_by, a source_date equal to the new date (removed) and the notes' dating sentence.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

RAW = re.compile(r"https://raw\.githubusercontent\.com/(?P<repo>[^/]+/[^/]+)/(?P<commit>[0-9a-f]{40})/(?P<path>.+)")
MASTER = "refs/heads/master"
LOCATOR_MAX = 300  # the schema's limit on a cited source's locator


@dataclass(frozen=True)
class Appearance:
    """A commit whose tree holds a blob, with the path it has there and its committer time."""

    commit: str
    path: str
    time: int

    @property
    def day(self) -> date:
        """The committer date in UTC."""
        return datetime.fromtimestamp(self.time, UTC).date()

    @property
    def stamp(self) -> str:
        """The committer time in UTC, ISO 8601 to the minute."""
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%MZ")


def git(git_dir: Path, *args: str, check: bool = True) -> str:
    """Run git on the snapshot and return its stdout."""
    env = {**os.environ, "GIT_DIR": str(git_dir)}
    done = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def additions(git_dir: Path) -> dict[str, list[Appearance]]:
    """Every commit on any ref that adds or changes a path to each blob (merges against each parent).

    Raw diffs read trees only, so blobs a snapshot leaves out do not stop the walk."""
    out = git(git_dir, "log", "--all", "-m", "--no-renames", "--raw", "--no-abbrev", "--format=C %H %ct")
    found: dict[str, list[Appearance]] = {}
    commit, when = "", 0
    for line in out.splitlines():
        if line.startswith("C "):
            _, commit, ct = line.split()
            when = int(ct)
        elif line.startswith(":"):
            meta, path = line.split("\t", 1)
            fields = meta.split()
            if fields[4][0] in "AM":
                found.setdefault(fields[3], []).append(Appearance(commit, path, when))
    return found


def refs_holding(git_dir: Path, commit: str) -> list[str]:
    """The refs whose history holds the commit: master first, then branches, tags and PR heads."""
    names = git(git_dir, "for-each-ref", "--contains", commit, "--format=%(refname)").split()

    def order(name: str) -> tuple[int, int, str]:
        pull = re.fullmatch(r"refs/pull/(\d+)/head", name)
        if name == MASTER:
            return (0, 0, name)
        if pull:
            return (2, int(pull[1]), name)
        return (1 if name.startswith(("refs/heads/", "refs/tags/")) else 3, 0, name)

    return sorted((n for n in names if not n.endswith("/merge")), key=order)


def in_tree(git_dir: Path, commit: str, path: str, blob: str) -> bool:
    """Whether the commit's tree has the blob at the path."""
    listed = git(git_dir, "ls-tree", commit, "--", path, check=False).split()
    return len(listed) >= 3 and listed[2] == blob


def first_appearance(git_dir: Path, blob: str, found: dict[str, list[Appearance]]) -> tuple[Appearance, str]:
    """The earliest commit on any ref holding the blob, and the ref to cite it by."""
    held = sorted(
        (a for a in found.get(blob, []) if in_tree(git_dir, a.commit, a.path, blob)), key=lambda a: (a.time, a.commit)
    )
    if not held:
        raise LookupError(f"no commit on any ref of the snapshot holds blob {blob}")
    first = held[0]
    refs = refs_holding(git_dir, first.commit)
    return first, (refs[0] if refs else "no ref")


def first_on(git_dir: Path, ref: str, blob: str, found: dict[str, list[Appearance]]) -> Appearance | None:
    """The earliest commit in the ref's history that holds the blob."""
    for a in sorted(found.get(blob, []), key=lambda a: (a.time, a.commit)):
        reach = subprocess.run(
            ["git", "merge-base", "--is-ancestor", a.commit, ref],
            env={**os.environ, "GIT_DIR": str(git_dir)},
            capture_output=True,
            check=False,
        )
        if reach.returncode == 0 and in_tree(git_dir, a.commit, a.path, blob):
            return a
    return None


@dataclass(frozen=True)
class Dating:
    """An entry's derived date: the last of its pinned logs' first appearances."""

    entry: str
    old: date
    first: Appearance
    ref: str
    master: Appearance | None
    runs: int

    @property
    def new(self) -> date:
        """The date the rule gives."""
        return self.first.day


def blob_of(git_dir: Path, url: str, sha256: str | None) -> str:
    """The git blob a pinned raw URL names, checked against the entry's sha256 where the snapshot has the bytes."""
    m = RAW.fullmatch(url)
    if not m:
        raise ValueError(f"not a raw URL pinned to a commit: {url}")
    blob = git(git_dir, "rev-parse", f"{m['commit']}:{m['path']}").strip()
    data = subprocess.run(
        ["git", "cat-file", "blob", blob], env={**os.environ, "GIT_DIR": str(git_dir)}, capture_output=True, check=False
    )
    if sha256 and data.returncode == 0 and hashlib.sha256(data.stdout).hexdigest() != sha256:
        raise ValueError(f"{url}: the snapshot's bytes do not match sha256 {sha256}")
    return blob


def date_entry(git_dir: Path, doc: dict, found: dict[str, list[Appearance]]) -> Dating:
    """Derive the date of one entry from its pinned logs."""
    arts = doc.get("artifacts") or {}
    logs = arts.get("training_logs") or ([arts["training_log"]] if arts.get("training_log") else [])
    if not logs:
        raise LookupError(f"{doc['id']}: no pinned log")
    firsts = []
    for log in logs:
        blob = blob_of(git_dir, log["url"], log.get("sha256"))
        first, ref = first_appearance(git_dir, blob, found)
        firsts.append((first.time, first.commit, first, ref, blob))
    _, _, first, ref, blob = max(firsts, key=lambda f: (f[0], f[1]))
    master = None if ref == MASTER else first_on(git_dir, MASTER, blob, found)
    old = doc["publication"]["date"]
    return Dating(doc["id"], old if isinstance(old, date) else date.fromisoformat(old), first, ref, master, len(logs))


def dated_by(d: Dating, repo: str) -> dict[str, str]:
    """The submission.dated_by citation for a dating."""
    short = d.first.commit[:8]
    where = "master" if d.ref == MASTER else d.ref
    runs = "this log's bytes" if d.runs == 1 else f"the bytes of the last of the {d.runs} runs to appear"
    merged = "" if d.master is None else f"; on master from commit {d.master.commit[:8]} ({d.master.stamp})"
    for path in (d.first.path, d.first.path.rsplit("/", 1)[-1]):
        locator = f"earliest commit on any ref holding {runs} ({where}, committed {d.first.stamp}), as {path}{merged}"
        if len(locator) <= LOCATOR_MAX:
            break
    title = f"modded-nanogpt commit {short}" + ("" if d.ref == MASTER else f" ({d.ref})")
    return {"title": title, "url": f"https://github.com/{repo}/commit/{d.first.commit}", "locator": locator}


DATED = re.compile(
    r"Dated \d{4}-\d{2}-\d{2}, when its run's log first appeared in the repository"
    r"(?: \(the README's record date (?:is \d{4}-\d{2}-\d{2}|too)\))?"
)


def rewrite(text: str, d: Dating, cite: dict[str, str]) -> str:
    """The entry's YAML text with publication.date, submission.dated_by, source_date and the notes' dating updated.

    The README's record date is submission.source_date where the entry has one, else the old date
    (the levels keep source_date exactly where the two differ)."""
    readme = yaml.safe_load(text).get("submission", {}).get("source_date") or d.old
    readme = readme if isinstance(readme, date) else date.fromisoformat(readme)
    text = re.sub(r"(?m)^(publication:\n(?:  .*\n)*?  date: )\S+$", rf"\g<1>{d.new.isoformat()}", text, count=1)
    block = "".join(f'    {k}: "{v}"\n' for k, v in cite.items())
    source = "" if readme == d.new else f"  source_date: {readme.isoformat()}\n"
    text = re.sub(r"(?m)^  source_date: .*\n", "", text)
    text, n = re.subn(r"(?m)^  dated_by:\n(?:    .*\n)+", "  dated_by:\n" + block + source, text, count=1)
    if n != 1:
        raise ValueError(f"{d.entry}: no submission.dated_by block")
    if d.new != d.old:
        also = "too" if readme == d.new else f"is {readme.isoformat()}"
        sentence = (
            f"Dated {d.new.isoformat()}, when its run's log first appeared in the repository"
            f" (the README's record date {also})"
        )
        text = DATED.sub(sentence, text, count=1)
        change = (
            f" Changed for issue 19 (dates follow the evidence): publication.date {d.old.isoformat()} -> "
            f"{d.new.isoformat()}, the UTC date of the earliest commit on any ref holding the log (commit "
            f"{d.first.commit[:8]} on {d.ref.removeprefix('refs/heads/')})"
            + (f"; it reached master in {d.master.commit[:8]} on {d.master.day.isoformat()}." if d.master else ".")
        )
        text = re.sub(r'(?m)^(notes: ".*)"$', lambda m: m[1] + change + '"', text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    """Print (and with --write apply) the derived date of every entry in the given level folders."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--git-dir", type=Path, required=True, help="the speedrun repository's snapshot (a bare git dir)")
    ap.add_argument("--repo", default="KellerJordan/modded-nanogpt", help="owner/name for commit URLs")
    ap.add_argument("--write", action="store_true", help="update the entries' YAML")
    ap.add_argument("levels", nargs="+", type=Path, help="entries/<level> folders")
    args = ap.parse_args(argv)
    found = additions(args.git_dir)
    changed = 0
    for folder in args.levels:
        for path in sorted(folder.glob("*.yaml")):
            if path.name == "benchmark.yaml":
                continue
            text = path.read_text()
            doc = yaml.safe_load(text)
            d = date_entry(args.git_dir, doc, found)
            cite = dated_by(d, args.repo)
            mark = "  " if d.new == d.old else "->"
            master = f" master {d.master.commit[:8]} {d.master.day}" if d.master else ""
            print(f"{d.entry:<52} {d.old} {mark} {d.new}  {d.first.commit[:8]} {d.ref}{master}")
            changed += d.new != d.old
            if args.write:
                new = rewrite(text, d, cite)
                if new != text:
                    path.write_text(new)
    print(f"{changed} entries change date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
