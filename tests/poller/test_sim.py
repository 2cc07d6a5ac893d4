"""The simulator: seeded, integer-only, sane quotes; and the sample replay file it generated."""

from __future__ import annotations

from importlib import resources

from engine.messages import PriceItem
from poller.config import DEFAULT_ASSETS, parse_assets
from poller.sim import RandomWalk, sample_frames, simulate, start_mid
from poller.ticks import AssetSpec, by_symbol, parse_frame

ASSETS = parse_assets(DEFAULT_ASSETS)


def walk_prices(seed: int, rounds: int) -> list[PriceItem]:
    walk = RandomWalk(ASSETS, seed)
    return [item for _ in range(rounds) for item in walk.step()]


def test_same_seed_same_prices_and_another_seed_differs():
    assert walk_prices(3, 200) == walk_prices(3, 200)
    assert walk_prices(3, 200) != walk_prices(4, 200)


def test_quotes_are_positive_integers_with_a_spread_and_price_is_bid():
    items = walk_prices(11, 2000)
    assert len(items) == 2000 * len(ASSETS)
    for item in items:
        assert type(item.price) is int and type(item.bid) is int and type(item.ask) is int
        assert 0 < item.bid < item.ask
        assert item.price == item.bid
        assert item.decimal == 4
    assert {item.asset for item in items} == {"BTC_USDC", "ETH_USDC", "SOL_USDC", "ADA_USDC"}
    assert len({item.bid for item in items if item.asset == "BTC_USDC"}) > 100  # it moves


def test_walk_of_a_tiny_price_never_reaches_zero():
    walk = RandomWalk([AssetSpec("PEPE_USDC", "PEPE_USDC", 0)], seed=5)
    walk.mids[0] = 2
    for _ in range(5000):
        [item] = walk.step()
        assert item.bid is not None and item.ask is not None
        assert 1 <= item.bid < item.ask


def test_start_prices_follow_the_base_asset_and_decimals():
    assert start_mid(AssetSpec("BTC_USDC", "BTC_USDC", 4)) == 600_000_000
    assert start_mid(AssetSpec("SOL", "SOL_USDC", 2)) == 15_000
    assert start_mid(AssetSpec("XYZ_USDC", "XYZ_USDC", 3)) == 100_000


async def test_simulate_feeds_every_asset_each_round():
    fed: list[PriceItem] = []
    assert await simulate(RandomWalk(ASSETS, 1), fed.append, 0, rounds=5) == 5 * len(ASSETS)
    assert fed == walk_prices(1, 5)


async def test_simulate_at_a_rate_feeds_the_same_walk():
    fed: list[PriceItem] = []
    await simulate(RandomWalk(ASSETS, 1), fed.append, 500, rounds=3)
    assert fed == walk_prices(1, 3)


def test_shipped_sample_is_the_simulators_output():
    sample = resources.files("poller") / "data" / "sample_bookticker.jsonl"
    expected = b"".join(frame + b"\n" for frame in sample_frames(ASSETS, seed=7, rounds=100))
    assert sample.read_bytes() == expected


def test_sample_frames_parse_back_to_the_walk():
    table = by_symbol(ASSETS)
    ticks = [parse_frame(frame, table) for frame in sample_frames(ASSETS, seed=7, rounds=20)]
    assert [t.item for t in ticks if t is not None] == walk_prices(7, 20)
    times = [t.event_us for t in ticks if t is not None]
    assert times == sorted(times) and len(set(times)) == len(times)
