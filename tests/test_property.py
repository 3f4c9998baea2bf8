"""Arbitrary text and arbitrary YAML structures end in a valid entry or coded errors, never a crash."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from aieff.dataset.diagnostics import CODES
from aieff.dataset.validate import _load_one
from aieff.dataset.yamlload import load_text

HEADER = "# yaml-language-server: $schema=../../schema/entry.schema.json\n"
FIELDS = [
    "id",
    "benchmark",
    "model",
    "publication",
    "claims",
    "training",
    "value",
    "unit",
    "date",
    "title",
    "url",
    "authors",
    "epochs_to_target",
    "forward_cost",
    "withdrawn",
    "x",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.dates(min_value=dt.date(1, 1, 1)),
    st.sampled_from(["https://arxiv.org/abs/1905.11946", "FLOP", "1e15"]),
)
structures = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6),
    max_leaves=30,
)


def _check(raw: bytes, tmp_path) -> None:
    path = tmp_path / "entries" / "lvl" / "e.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    doc = _load_one((path, "entries/lvl/e.yaml", False))
    if doc.model is None:
        assert doc.loaded.errors, "neither a model nor an error"
    for err in doc.loaded.errors:
        assert err.code in CODES
        assert err.line >= 1 and err.col >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_crash(tmp_path, raw: bytes) -> None:
    _check(raw, tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(structures)
def test_arbitrary_yaml_structures_never_crash(tmp_path, data) -> None:
    import io

    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump({"root": data} if not isinstance(data, dict) else data, buf)
    _check((HEADER + buf.getvalue()).encode(), tmp_path)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t %@`,?")), max_size=120))
def test_yaml_punctuation_soup_never_crashes(text: str) -> None:
    doc = load_text(text.encode(), "x.yaml", require_schema_line=False)
    assert (doc.data is None) == bool(doc.errors), (doc.data, doc.errors)
    assert doc.data is None or isinstance(doc.data, dict)
    for err in doc.errors:
        assert err.code in CODES


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    doc = load_text(("\n".join(lines) + "\n").encode(), "bomb.yaml", require_schema_line=False)
    assert [e.code for e in doc.errors] == ["E007"]
    assert doc.errors[0].line == 2
