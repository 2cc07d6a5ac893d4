"""Redis stream entry IDs (``"1700000000000-3"``): the one parser every part uses."""

from __future__ import annotations

EntryId = tuple[int, int]
_MAX_DIGITS = 20  # a 64-bit unsigned integer has at most 20 digits


class EntryIdError(ValueError):
    """Text that is not a complete stream entry ID (``<ms>-<seq>``, ASCII digits)."""


def parse_id(entry_id: str | bytes) -> EntryId:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; raise ``EntryIdError`` when malformed."""
    text = entry_id.decode(errors="replace") if isinstance(entry_id, bytes) else entry_id
    ms, sep, seq = text.partition("-")
    if not (
        sep
        and 0 < len(ms) <= _MAX_DIGITS
        and 0 < len(seq) <= _MAX_DIGITS
        and ms.isdigit()
        and seq.isdigit()
        and text.isascii()
    ):
        raise EntryIdError(f"not a stream entry ID: {text[:48]!r}")
    return int(ms), int(seq)


def format_id(entry_id: EntryId) -> str:
    """``(1700000000000, 3)`` -> ``"1700000000000-3"``."""
    return f"{entry_id[0]}-{entry_id[1]}"


def entry_ms(entry_id: str) -> int:
    """The millisecond part of an entry ID that Redis gave (well formed: not checked again)."""
    return int(entry_id.partition("-")[0])
