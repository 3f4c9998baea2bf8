"""The JSON Schemas and docs are generated from the pydantic models and must not drift."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from aieff.dataset.schemagen import generated
from aieff.dataset.validate import validate
from aieff.dataset.yamlload import load_file
from conftest import ROOT, TOY, run


def test_generated_schema_files_are_committed_and_current() -> None:
    for path, content in generated(ROOT).items():
        assert path.read_text(encoding="utf-8") == content, f"{path} is stale: run `aieff schema`"


def test_schema_check_names_a_stale_file(tmp_path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(TOY, repo)
    proc = run("schema", "--check", cwd=repo)
    assert proc.returncode == 1 and "stale: schema/entry.schema.json" in proc.stderr
    assert run("schema", cwd=repo).returncode == 0
    assert run("schema", "--check", cwd=repo).returncode == 0


def test_every_real_entry_validates_against_the_json_schema() -> None:
    """The JSON Schema editors use agrees with pydantic on the real data."""
    validators = {}
    for name in ("entry", "benchmark"):
        schema = json.loads((ROOT / "schema" / f"{name}.schema.json").read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # once per schema, not once per document as jsonschema.validate does
        validators[name] = cls(schema)
    ds = validate(ROOT)
    docs = list(ds.entries.values()) + list(ds.benchmarks.values())
    assert len(docs) >= 150
    for doc in docs:
        data = json.loads(json.dumps(load_file(ROOT / doc.path, doc.path).data, default=str))
        validators["benchmark" if doc.path.endswith("benchmark.yaml") else "entry"].validate(data)


def test_each_entry_points_editors_at_the_schema() -> None:
    for path in (ROOT / "entries").glob("*/*.yaml"):
        kind = "benchmark" if path.name == "benchmark.yaml" else "entry"
        first = path.read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../../schema/{kind}.schema.json"
        assert (path.parent / "../../schema" / f"{kind}.schema.json").resolve().is_file()


def test_workflows_pass_the_github_workflow_schema() -> None:
    files = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert files
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_field_is_described_in_the_field_reference() -> None:
    """docs/fields.md is generated from the models: no row may have an empty meaning."""
    rows = [line for line in (ROOT / "docs/fields.md").read_text().splitlines() if line.startswith("| `")]
    assert len(rows) > 80
    empty = [row.split("|")[1].strip() for row in rows if not row.rstrip("|").split("|")[-1].strip()]
    assert not empty, empty
