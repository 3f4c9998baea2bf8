"""Allow `python -m aieff`."""

from aieff.cli import main

raise SystemExit(main())
