"""Trailing stops, indexed so that a tick costs O(log n) whatever the number of stops.

A LONG's trailing stop is (highest bid since it was set) - distance and never moves down; a
SHORT's is (lowest ask since it was set) + distance and never moves up. Both sides are kept in
*watched units* w: the bid as it is for LONGs, the ask negated for SHORTs, so that for both a stop
is ``mark - distance`` with ``mark`` the highest w since it was set, and it fires when
``w <= mark - distance``.

Stops whose marks are equal form a **group** (their marks move together from then on: a new high
lifts them all). Per side:

- ``marks``: the groups' marks, sorted (distinct: one group per mark);
- each group's members, sorted by (distance, seq): only the tightest can fire first;
- ``levels``: one key per group, its tightest member's level ``mark - distance`` (as
  ``level * 2**40 + seq``, like ``engine.triggers``).

A tick with watched price w:

1. **new high**: the groups with mark < w (a prefix of ``marks``) and the one at w, if any, merge
   into one group with mark w. Not a tick that does not raise any mark: then this is one
   comparison with ``marks[0]``.
2. **fire**: pop from the top of ``levels`` while level >= w; the group's next member is then
   indexed in its place.

**Cost.** A tick that fires nothing and raises no mark costs O(1) probes of two sorted lists
(``marks[0]``, ``levels[-1]``). A tick that raises marks pops k group marks and level keys
(O(k log n)) and moves the members of every merged group but the largest into the largest.
Groups are only created by adding a stop, so the k merged groups are paid for by the adds that
created them: amortised O(log n) per add. A member only ever moves into a group at least as large
as its own, so each move at least doubles the size of the group it is in; a removal shrinks a group
of size s by one, which lets its s members grow back by log2(s/(s-1)) x s <= 3 doublings in all.
So the number of moves is O(log n) per add or removal, each an O(log n) sorted insert: the merge
work is amortised O(log^2 n) per stop added or removed, and nothing per tick. ``bench/
engine_core.py`` measures a non-firing tick at 10^3 ... 10^6 stops.

The facts (each trade's group, each group's mark) live in ``EngineState.trails`` and
``EngineState.trail_marks`` (in real prices), so a snapshot holds them and the indexes here are
rebuilt from them on load; which group survives a merge depends only on those facts (the largest,
then the smallest group ID), so a restored engine continues identically.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from engine.state import EngineState, Trade
from engine.triggers import LEVEL_SHIFT, SEQ_LIMIT

MASK = (1 << LEVEL_SHIFT) - 1

Fired = tuple[int, int, str]  # a fired trailing stop: (level in real price units, seq, trade_id)


class TrailingSide:
    """The trailing stops of one asset and one direction, in watched units."""

    __slots__ = ("by_mark", "levels", "marks", "members", "sign", "state", "trade_ids")

    def __init__(self, state: EngineState, is_long: bool, trade_ids: dict[int, str]) -> None:
        self.state = state
        self.sign = 1 if is_long else -1  # real price = sign * watched
        self.marks: SortedList = SortedList()  # the groups' marks (watched units), distinct
        self.by_mark: dict[int, int] = {}  # mark -> group id
        self.members: dict[int, SortedList] = {}  # group id -> keys distance << 40 | seq
        self.levels: SortedList = SortedList()  # per group: (mark - d_min) << 40 | seq_min
        self.trade_ids = trade_ids  # seq -> trade_id, shared by both sides of the asset

    def __len__(self) -> int:
        return sum(len(keys) for keys in self.members.values())

    # --- changes -------------------------------------------------------------------------------

    def add(self, trade: Trade, watched: int) -> None:
        """Set ``trade``'s trailing stop with mark ``watched`` (the current watched price, which
        no group's mark is below: every tick merges the groups below its price)."""
        if not 0 <= trade.seq < SEQ_LIMIT:
            raise ValueError(f"trade seq {trade.seq} out of the index's range")
        gid = self.by_mark.get(watched)
        if gid is None:
            state = self.state
            state.trail_group_seq += 1
            gid = state.trail_group_seq
            state.trail_marks[gid] = self.sign * watched
            self._insert_group(gid, watched, SortedList())
        self._join(gid, watched, trade)

    def remove(self, trade: Trade) -> None:
        """Remove ``trade``'s trailing stop (closed, fired elsewhere, or amended)."""
        gid = self.state.trails.pop(trade.trade_id)
        self.trade_ids.pop(trade.seq, None)
        mark = self.sign * self.state.trail_marks[gid]
        keys = self.members[gid]
        key = (trade.trailing_distance << LEVEL_SHIFT) | trade.seq
        tightest = keys[0] == key
        if tightest:
            self.levels.remove(_level_key(mark, key))
        keys.remove(key)
        if not keys:
            self._drop_group(gid, mark)
        elif tightest:
            self.levels.add(_level_key(mark, keys[0]))

    def tick(self, watched: int) -> list[Fired]:
        """Raise the marks below ``watched`` to it, then pop the stops it fires."""
        marks = self.marks
        if marks and marks[0] < watched:
            self._merge(watched)
        levels = self.levels
        floor = watched << LEVEL_SHIFT  # level >= watched  <=>  key >= watched * 2**40
        if not levels or levels[-1] < floor:  # most ticks
            return []
        fired: list[Fired] = []
        state = self.state
        while levels and levels[-1] >= floor:
            key = levels.pop()
            seq = key & MASK
            trade_id = self.trade_ids.pop(seq)
            gid = state.trails.pop(trade_id)
            keys = self.members[gid]
            keys.pop(0)  # the tightest member: the one this level key stood for
            mark = self.sign * state.trail_marks[gid]
            if keys:
                levels.add(_level_key(mark, keys[0]))
            else:
                self._drop_group(gid, mark)
            fired.append((self.sign * (key >> LEVEL_SHIFT), seq, trade_id))
        return fired

    def level(self, trade: Trade) -> int:
        """The trade's trailing stop now, in real price units."""
        mark = self.state.trail_marks[self.state.trails[trade.trade_id]]
        return mark - trade.trailing_distance if self.sign > 0 else mark + trade.trailing_distance

    def contains(self, trade: Trade) -> bool:
        """True when ``trade``'s stop is indexed in the group the state says (invariant checks)."""
        gid = self.state.trails.get(trade.trade_id)
        keys = self.members.get(gid) if gid is not None else None
        return (
            keys is not None
            and self.trade_ids.get(trade.seq) == trade.trade_id
            and ((trade.trailing_distance << LEVEL_SHIFT) | trade.seq) in keys
        )

    def check(self) -> None:
        """Assert the index's own invariants (tests): distinct marks, one level key per group."""
        marks = self.state.trail_marks
        assert len(self.marks) == len(self.by_mark) == len(self.members)
        expected = []
        for mark in self.marks:
            gid = self.by_mark[mark]
            assert self.sign * marks[gid] == mark
            keys = self.members[gid]
            assert keys
            expected.append(_level_key(mark, keys[0]))
        assert sorted(expected) == list(self.levels)

    # --- internals -----------------------------------------------------------------------------

    def _join(self, gid: int, mark: int, trade: Trade) -> None:
        key = (trade.trailing_distance << LEVEL_SHIFT) | trade.seq
        keys = self.members[gid]
        if keys and key < keys[0]:
            self.levels.remove(_level_key(mark, keys[0]))
        keys.add(key)
        if keys[0] == key:
            self.levels.add(_level_key(mark, key))
        self.state.trails[trade.trade_id] = gid
        self.trade_ids[trade.seq] = trade.trade_id

    def _insert_group(self, gid: int, mark: int, keys: SortedList) -> None:
        self.marks.add(mark)
        self.by_mark[mark] = gid
        self.members[gid] = keys
        if keys:
            self.levels.add(_level_key(mark, keys[0]))

    def _drop_group(self, gid: int, mark: int) -> None:
        self.marks.remove(mark)
        del self.by_mark[mark]
        del self.members[gid]
        del self.state.trail_marks[gid]

    def _merge(self, watched: int) -> None:
        """Merge every group with mark <= ``watched`` into the largest of them, at ``watched``."""
        marks, levels, members = self.marks, self.levels, self.members
        merged: list[tuple[int, int]] = []  # (gid, old mark)
        while marks and marks[0] <= watched:
            mark = marks.pop(0)
            gid = self.by_mark.pop(mark)
            levels.remove(_level_key(mark, members[gid][0]))
            merged.append((gid, mark))
        survivor = max(merged, key=lambda g: (len(members[g[0]]), -g[0]))[0]
        keys = members[survivor]
        trails, trade_marks = self.state.trails, self.state.trail_marks
        for gid, _mark in merged:
            if gid == survivor:
                continue
            moved = members.pop(gid)
            for key in moved:
                trails[self.trade_ids[key & MASK]] = survivor
            keys.update(moved)
            del trade_marks[gid]
        trade_marks[survivor] = self.sign * watched
        self._insert_group(survivor, watched, keys)

    def load(self, trades: Iterable[Trade]) -> None:
        """Rebuild from the state's facts (``trails``, ``trail_marks``) for these trades."""
        state = self.state
        grouped: dict[int, list[int]] = {}
        for trade in trades:
            gid = state.trails[trade.trade_id]
            grouped.setdefault(gid, []).append((trade.trailing_distance << LEVEL_SHIFT) | trade.seq)
            self.trade_ids[trade.seq] = trade.trade_id
        for gid in sorted(grouped):
            self._insert_group(gid, self.sign * state.trail_marks[gid], SortedList(grouped[gid]))


def _level_key(mark: int, member: int) -> int:
    """The level key of a group whose tightest member key is ``member``."""
    return ((mark - (member >> LEVEL_SHIFT)) << LEVEL_SHIFT) + (member & MASK)


class TrailingBook:
    """One asset's trailing stops: LONGs watch the bid, SHORTs the ask."""

    __slots__ = ("long", "short", "trade_ids")

    def __init__(self, state: EngineState) -> None:
        self.trade_ids: dict[int, str] = {}
        self.long = TrailingSide(state, True, self.trade_ids)
        self.short = TrailingSide(state, False, self.trade_ids)

    def __len__(self) -> int:
        return len(self.trade_ids)

    def side(self, trade: Trade) -> TrailingSide:
        return self.long if trade.is_long else self.short

    def add(self, trade: Trade, bid: int, ask: int) -> None:
        """Set ``trade``'s trailing stop at the current price (its mark starts there)."""
        if trade.is_long:
            self.long.add(trade, bid)
        else:
            self.short.add(trade, -ask)

    def remove(self, trade: Trade) -> None:
        self.side(trade).remove(trade)

    def tick(self, bid: int, ask: int) -> list[Fired]:
        """Move the marks and return the stops this price fires (LONGs first, then SHORTs)."""
        fired = self.long.tick(bid)
        short = self.short.tick(-ask)
        return fired + short if short else fired

    def load(self, trades: Iterable[Trade]) -> None:
        longs: list[Trade] = []
        shorts: list[Trade] = []
        for trade in trades:
            (longs if trade.is_long else shorts).append(trade)
        self.long.load(longs)
        self.short.load(shorts)
