"""What the build writes: README tables and narratives, charts, exports and the docs generated from the code."""
