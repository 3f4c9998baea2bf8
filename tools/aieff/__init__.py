"""aieff: the curated, CI-checked tracker of algorithmic-efficiency SOTAs."""

__version__ = "0.1.0"
