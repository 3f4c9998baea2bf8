"""The dataset as loaded: each file's Doc (its text and, when it validated, its model) and the Dataset they form."""

from __future__ import annotations

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

    def entries_of(self, bench_id: str, *, include_withdrawn: bool = False) -> list[Entry]:
        """Valid entries of a level, sorted by id."""
        out = []
        for doc in self.entries.values():
            e = doc.model
            if isinstance(e, Entry) and e.benchmark == bench_id and (include_withdrawn or not e.withdrawn):
                out.append(e)
        return sorted(out, key=lambda e: e.id)
