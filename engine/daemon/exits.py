"""The engine daemon's exit statuses (``python -m engine``), defined once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Why the daemon stopped; an operator's scripts (and devstack) read these numbers."""

    OK = 0  # SIGTERM/SIGINT and a final snapshot
    UNPUBLISHED = 1  # the final snapshot could not be written: outputs left unpublished
    REFUSED = 2  # refused to start: bad settings, snapshot directory in use, restart w/o --recover
    DETERMINISM = 3  # a replayed output differs from the one published before the restart
    CORE_FAILURE = 4  # the core raised (it promises never to): stopped before anything else
