"""``python -m engine``: run the engine daemon (``--help`` lists its settings)."""

from engine.daemon import early

early.install()

from engine.daemon.cli import main  # noqa: E402  (after the early signal handlers, on purpose)

raise SystemExit(main())
