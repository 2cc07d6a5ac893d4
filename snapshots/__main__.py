"""``python -m snapshots``: verify and inspect engine snapshot files."""

from snapshots.cli import main

raise SystemExit(main())
