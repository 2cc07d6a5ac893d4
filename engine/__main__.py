"""``python -m engine``: run the engine daemon (``--help`` lists its settings)."""

from engine.daemon.cli import main

raise SystemExit(main())
