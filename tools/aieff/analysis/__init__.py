"""Derived numbers over a validated dataset: rows, frontiers, fits, headlines and plausibility warnings (torch-free)."""
