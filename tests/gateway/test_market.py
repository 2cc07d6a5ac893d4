"""The market data shapes (gateway/market.py): exact decimal text, Backpack's names."""

from __future__ import annotations

from gateway.market import candle_json, ticker_json, utc_text
from worker.market_data import StoredCandle, Ticker


def test_a_falling_ticker_truncates_its_percent_toward_zero():
    t = Ticker("SOL_USDC", 4, last=1_499_999, last_ms=0, first=1_500_000, high=1_500_000,
               low=1_499_999, ticks=2)
    out = ticker_json(t)
    assert out["priceChange"] == "-0.0001"
    assert out["priceChangePercent"] == "0.00"  # -0.0000066 %: truncated to zero, no "-0.00"
    t = Ticker("BTC_USDC", 4, last=500_000, last_ms=0, first=1_000_000, high=1_000_000,
               low=500_000, ticks=9)
    assert ticker_json(t)["priceChangePercent"] == "-50.00"
    assert ticker_json(t)["lastPrice"] == "50"


def test_a_candle_in_backpacks_shape_with_exact_prices():
    c = StoredCandle(start_ms=1_700_000_040_000, end_ms=1_700_000_100_000, open=12_345_678,
                     high=12_345_679, low=12_300_000, close=12_345_600, ticks=7, decimals=4,
                     closed=True)
    out = candle_json(c)
    assert out["start"] == "2023-11-14 22:14:00" and out["end"] == "2023-11-14 22:15:00"
    assert (out["open"], out["high"], out["low"], out["close"]) == (
        "1234.5678", "1234.5679", "1230", "1234.56")
    assert out["ticks"] == 7 and out["closed"] is True
    assert utc_text(0) == "1970-01-01 00:00:00"
