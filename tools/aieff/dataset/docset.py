"""The dataset as loaded: each file's Doc (its text and, when it validated, its model) and the Dataset they form."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aieff.dataset.diagnostics import Diagnostic
from aieff.dataset.schema import Benchmark, Entry
from aieff.dataset.yamlload import Loaded


@dataclass
class Doc:
    """A loaded file and its model, when it validated."""

    loaded: Loaded
    model: Benchmark | Entry | None = None

    @property
    def path(self) -> str:
        return self.loaded.path


@dataclass
class Dataset:
    """Everything under entries/, validated."""

    root: Path
    benchmarks: dict[str, Doc] = field(default_factory=dict)
    entries: dict[str, Doc] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    n_files: int = 0

    def level(self, bench_id: str) -> Benchmark:
        model = self.benchmarks[bench_id].model
        assert isinstance(model, Benchmark)
        return model

    def all_entries(self) -> dict[str, Entry]:
        """Every valid entry by id (withdrawn ones included)."""
        return {entry_id: doc.model for entry_id, doc in self.entries.items() if isinstance(doc.model, Entry)}

    def entry_lookup(self) -> Mapping[str, Entry]:
        """The same, as a live read-only view: a lookup costs one dict access, not a copy of the dataset (for
        code that looks entries up once per entry: a copy each time grows with the square of the dataset)."""
        return _Entries(self.entries)

    def entries_of(self, bench_id: str, *, include_withdrawn: bool = False) -> list[Entry]:
        """Valid entries of a level, sorted by id."""
        out = []
        for doc in self.entries.values():
            e = doc.model
            if isinstance(e, Entry) and e.benchmark == bench_id and (include_withdrawn or not e.withdrawn):
                out.append(e)
        return sorted(out, key=lambda e: e.id)


class _Entries(Mapping[str, Entry]):
    """Valid entries by id, read through from the dataset's documents."""

    def __init__(self, docs: dict[str, Doc]) -> None:
        self._docs = docs

    def __getitem__(self, entry_id: str) -> Entry:
        doc = self._docs[entry_id]
        if not isinstance(doc.model, Entry):
            raise KeyError(entry_id)
        return doc.model

    def __iter__(self) -> Iterator[str]:
        return (k for k, doc in self._docs.items() if isinstance(doc.model, Entry))

    def __len__(self) -> int:
        return sum(1 for _ in self)
