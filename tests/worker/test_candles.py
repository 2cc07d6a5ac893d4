"""The candle aggregation (worker/candles.py): the builder's fold equals the definition."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from engine.messages import PriceItem
from engine.wire import encode_price_batch
from worker.candles import INTERVALS, Aggregator, Candle, brute_force, candle_start

ASSETS = {"BTC_USDC": 4, "SOL_USDC": 2}
DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY  # midnight UTC


def entry(items: list[tuple[str, int]], decimal: int | None = None) -> dict[str, str]:
    return encode_price_batch(
        [PriceItem(a, p, ASSETS[a] if decimal is None else decimal, p, p + 1) for a, p in items],
        "test",
        0,
    )


def fold(batches: list[list[tuple[str, list[tuple[str, int]]]]]) -> dict[tuple[str, str, int],
                                                                       Candle]:
    """Fold batches of entries as the store does: each batch alone, merged into the table."""
    table: dict[tuple[str, str, int], Candle] = {}
    last: dict[str, tuple[int, int]] = {}
    for batch in batches:
        agg = Aggregator(ASSETS, 5_000, last=dict(last))
        for entry_id, items in batch:
            agg.add_entry(entry_id, entry(items))
        last = agg.last
        for key, candle in agg.candles.items():
            if key in table:
                table[key].merge_later(candle)
            else:
                table[key] = candle
    return table


# A tick: milliseconds since the previous one (0 = same millisecond, big = across days), asset,
# move in 1/10000 of the price (inside the engine's 50 % band, so all are accepted).
steps = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 3), st.integers(0, 120_000), st.integers(0, 6 * 3_600_000)),
        st.sampled_from(sorted(ASSETS)),
        st.integers(-300, 300),
    ),
    min_size=1,
    max_size=120,
)


@given(steps, st.data())
def test_builder_candles_equal_brute_force_for_every_interval(steps, data):
    price = {"BTC_USDC": 600_000_000, "SOL_USDC": 15_000}
    ms, seq = T0 + data.draw(st.integers(0, DAY)), 0
    entries: list[tuple[str, list[tuple[str, int]]]] = []
    ticks: list[tuple[str, int, int]] = []
    for gap, asset, move in steps:
        price[asset] = max(1, price[asset] + price[asset] * move // 10_000)
        # Several prices in one entry (same millisecond) when gap is 0: one entry may hold ticks
        # of both sides of nothing, and one batch holds entries across candle boundaries.
        if gap == 0 and entries:
            entries[-1][1].append((asset, price[asset]))
        else:
            ms, seq = ms + gap, (seq + 1 if gap == 0 else 0)
            entries.append((f"{ms}-{seq}", [(asset, price[asset])]))
        ticks.append((asset, ms, price[asset]))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(entries) - 1)), max_size=5)))
    bounds = [0, *cuts, len(entries)]
    batches = [entries[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    assert fold(batches) == brute_force(ticks)
    assert fold([entries]) == brute_force(ticks)


def test_one_batch_across_a_boundary_splits_into_two_candles_of_each_short_interval():
    first, second = T0 + 59_999, T0 + 60_000
    agg = Aggregator(ASSETS, 5_000)
    agg.add_entry(f"{first}-0", entry([("BTC_USDC", 100_0000), ("BTC_USDC", 101_0000)]))
    agg.add_entry(f"{second}-0", entry([("BTC_USDC", 99_0000)]))
    assert agg.candles[("BTC_USDC", "1m", T0)] == Candle(100_0000, 101_0000, 100_0000, 101_0000, 2)
    assert agg.candles[("BTC_USDC", "1m", T0 + 60_000)] == Candle(99_0000, 99_0000, 99_0000,
                                                                  99_0000, 1)
    assert agg.candles[("BTC_USDC", "5m", T0)] == Candle(100_0000, 101_0000, 99_0000, 99_0000, 3)
    assert len(agg.candles) == 2 + len(INTERVALS) - 1


def test_refused_ticks_are_the_engines_refusals():
    agg = Aggregator(ASSETS, 5_000)
    agg.add_entry(f"{T0}-0", entry([("BTC_USDC", 100_0000)]))
    agg.add_entry(f"{T0}-1", encode_price_batch([PriceItem("DOGE_USDC", 5, 4)], "t", 0))
    agg.add_entry(f"{T0}-2", entry([("BTC_USDC", 200_0000)]))  # +100 %: outside the band
    agg.add_entry(f"{T0}-3", encode_price_batch([PriceItem("BTC_USDC", 9, 4, 9, 8)], "t", 0))
    agg.add_entry(f"{T0}-4", encode_price_batch([PriceItem("BTC_USDC", 1_000_001, 5)], "t", 0))
    agg.add_entry(f"{T0}-5", {"data": "not base64!"})
    assert (agg.accepted, agg.refused, agg.malformed) == (1, 4, 1)
    # Exact rescaling is accepted: 8 decimals down to the asset's 4.
    agg.add_entry(f"{T0}-6", encode_price_batch([PriceItem("BTC_USDC", 100_5000_0000, 8,
                                                           100_5000_0000, 100_6000_0000)],
                                                 "t", 0))
    assert agg.candles[("BTC_USDC", "1d", T0)] == Candle(100_0000, 100_5000, 100_0000, 100_5000, 2)


def test_candle_starts_are_utc_multiples():
    ms = T0 + 5 * 3_600_000 + 17 * 60_000 + 123
    assert candle_start(ms, "1m") == T0 + 5 * 3_600_000 + 17 * 60_000
    assert candle_start(ms, "15m") == T0 + 5 * 3_600_000 + 15 * 60_000
    assert candle_start(ms, "4h") == T0 + 4 * 3_600_000
    assert candle_start(ms, "1d") == T0
