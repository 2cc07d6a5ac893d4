"""Candles from the price stream: which ticks count, and how they aggregate (pure, no I/O).

A candle is of the **bid**, exact in the asset's decimals: the item's ``bid`` when the entry has
one, else its ``price`` (the poller writes ``price`` = the best bid, and ``GET /api/v1/price``
shows it). The bid is what a LONG closes at and what its exits watch; a mid would fall on half a
unit of the asset's decimals and could not be stored exactly. A tick's time is its stream entry
ID's millisecond, the engine's own clock, so a replay of the stream gives the same candles.

Only ticks the engine applies count: the same checks as ``engine.core`` (known asset, decimals
rescaled exactly, bid > 0, ask >= bid, in range, inside the price band of the last accepted
bid/ask), so the chart never shows a price the engine refused.

Intervals start on multiples of their length since the Unix epoch (UTC): a 4h candle starts at
00:00, 04:00, ... and a 1d candle at midnight UTC. A period without ticks has no candle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.amounts import max_units
from engine.money import BPS, AmountError, rescale
from engine.wire import WireError, decode_price_batch

INTERVALS: Final[dict[str, int]] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
_INTERVAL_LIST: Final = tuple(INTERVALS.items())

EntryId = tuple[int, int]
CandleKey = tuple[str, str, int]  # asset, interval, start ms


def parse_entry_id(text: str) -> EntryId:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; raise ``ValueError`` otherwise."""
    ms, dash, seq = text.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a stream entry ID: {text!r}")
    return int(ms), int(seq)


def candle_start(ms: int, interval: str) -> int:
    """Start (ms) of the ``interval`` candle holding the millisecond ``ms``."""
    length = INTERVALS[interval]
    return ms - ms % length


@dataclass(slots=True)
class Candle:
    """OHLC of the bid over one interval, in the asset's decimals, with its tick count."""

    open: int
    high: int
    low: int
    close: int
    ticks: int

    def add(self, price: int) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.ticks += 1

    def merge_later(self, later: Candle) -> None:
        """Fold in the candle of the same key built from ticks that all came after this one's."""
        self.high = max(self.high, later.high)
        self.low = min(self.low, later.low)
        self.close = later.close
        self.ticks += later.ticks


@dataclass(slots=True)
class Aggregator:
    """Folds price entries, in stream order, into candles of every interval.

    ``last`` is the last accepted (bid, ask) per asset, the price band's reference; it carries
    over between batches (the store keeps it with the candles).
    """

    assets: Mapping[str, int]  # asset -> price decimals
    band_bps: int
    last: dict[str, tuple[int, int]] = field(default_factory=dict)
    candles: dict[CandleKey, Candle] = field(default_factory=dict)
    accepted: int = 0
    refused: int = 0
    malformed: int = 0

    def add_entry(self, entry_id: str, fields: Mapping[Any, Any]) -> None:
        """Fold in one ``engine_input`` entry; a malformed one is counted and skipped."""
        ms = parse_entry_id(entry_id)[0]
        try:
            batch = decode_price_batch(fields)
        except WireError:
            self.malformed += 1
            return
        for item in batch.items:
            bid = self._accept(item.asset, item.price, item.decimal, item.bid, item.ask)
            if bid is not None:
                self.add_tick(item.asset, ms, bid)

    def add_tick(self, asset: str, ms: int, bid: int) -> None:
        """Fold one accepted price into the candle of each interval that holds ``ms``."""
        self.accepted += 1
        candles = self.candles
        for interval, length in _INTERVAL_LIST:
            key = (asset, interval, ms - ms % length)
            candle = candles.get(key)
            if candle is None:
                candles[key] = Candle(bid, bid, bid, bid, 1)
            else:
                candle.add(bid)

    def _accept(
        self, asset: str, price: int, decimal: int, bid: int | None, ask: int | None
    ) -> int | None:
        """The bid in the asset's decimals if the engine would apply this item, else None."""
        decimals = self.assets.get(asset)
        if decimals is None:
            self.refused += 1
            return None
        b = price if bid is None else bid
        a = price if ask is None else ask
        try:
            if decimal != decimals:
                if not 0 <= decimal <= 18:
                    raise AmountError("decimal out of range")
                b = rescale(b, decimal, decimals)
                a = rescale(a, decimal, decimals)
        except AmountError:
            self.refused += 1
            return None
        if b <= 0 or a < b or a > max_units(decimals):
            self.refused += 1
            return None
        previous = self.last.get(asset)
        band = self.band_bps
        if band and previous is not None and (
            abs(b - previous[0]) * BPS > band * previous[0]
            or abs(a - previous[1]) * BPS > band * previous[1]
        ):
            self.refused += 1
            return None
        self.last[asset] = (b, a)
        return b


def brute_force(ticks: Iterable[tuple[str, int, int]]) -> dict[CandleKey, Candle]:
    """Candles of ``(asset, ms, bid)`` ticks in order, by the definition: for tests."""
    groups: dict[CandleKey, list[int]] = {}
    for asset, ms, bid in ticks:
        for interval in INTERVALS:
            groups.setdefault((asset, interval, candle_start(ms, interval)), []).append(bid)
    return {
        key: Candle(prices[0], max(prices), min(prices), prices[-1], len(prices))
        for key, prices in groups.items()
    }
