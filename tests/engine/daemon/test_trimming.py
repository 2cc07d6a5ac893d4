"""What may be trimmed: below the oldest kept snapshot and below every consumer group's needs."""

from __future__ import annotations

from engine.daemon.trimming import lowest_needed


def test_without_groups_the_snapshot_position_bounds_the_trim() -> None:
    assert lowest_needed("10-3", []) == (10, 3)


def test_a_group_behind_the_snapshot_holds_the_trim_back() -> None:
    assert lowest_needed("10-3", [("7-0", None)]) == (7, 0)


def test_pending_entries_of_a_group_are_kept() -> None:
    assert lowest_needed("10-3", [("12-0", "8-1")]) == (8, 1)


def test_a_group_that_read_nothing_keeps_everything() -> None:
    assert lowest_needed("10-3", [("12-0", None), ("0-0", None)]) == (0, 0)


def test_groups_ahead_of_the_snapshot_do_not_allow_more() -> None:
    assert lowest_needed("10-3", [("20-0", None)]) == (10, 3)
