"""Engine snapshots: the on-disk format, the directory store, and a CLI to verify and inspect.

``python -m snapshots verify PATH...`` and ``python -m snapshots inspect PATH``.
"""

from snapshots.format import (
    VERSION,
    CorruptSnapshot,
    Header,
    SnapshotError,
    UnknownVersion,
    decode,
    encode,
)
from snapshots.store import LockedError, SnapshotStore, read_verified

__all__ = [
    "VERSION",
    "CorruptSnapshot",
    "Header",
    "LockedError",
    "SnapshotError",
    "SnapshotStore",
    "UnknownVersion",
    "decode",
    "encode",
    "read_verified",
]
