"""A seeded random-walk price simulator, for demos, tests and benchmarks.

Each asset's mid price walks in integer steps of up to about 2 basis points, with a spread of
about 1 basis point around it; the same seed gives the same prices. ``python -m poller.sim``
writes the walk as Backpack stream frames (how the shipped sample replay file was made).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from engine.messages import PriceItem
from poller.ticks import AssetSpec, format_frame

# Starting mid prices in whole quote units, by base asset; others start at 100.
START_UNITS = {"BTC": 60_000, "ETH": 3_000, "SOL": 150, "ADA": 1}
STEP_DIVISOR = 5_000  # a step moves the mid by up to mid / 5000 (2 bp)
HALF_SPREAD_DIVISOR = 20_000  # bid and ask sit mid / 20000 (0.5 bp) either side


def start_mid(spec: AssetSpec) -> int:
    """The simulator's opening mid price of an asset, scaled by its decimals."""
    base = spec.asset.split("_", 1)[0].upper()
    scale: int = 10**spec.decimals
    return START_UNITS.get(base, 100) * scale


class RandomWalk:
    """Integer random walk of every asset's mid, with bid and ask around it."""

    def __init__(self, assets: Sequence[AssetSpec], seed: int) -> None:
        self.assets = tuple(assets)
        self.rng = random.Random(seed)
        self.mids = [start_mid(spec) for spec in self.assets]

    def quotes(self) -> list[tuple[AssetSpec, int, int]]:
        """Move every asset once; each asset with its new (bid, ask)."""
        quotes = []
        for i, spec in enumerate(self.assets):
            step = max(1, self.mids[i] // STEP_DIVISOR)
            mid = max(2, self.mids[i] + self.rng.randint(-step, step))  # keeps bid >= 1
            self.mids[i] = mid
            half = max(1, mid // HALF_SPREAD_DIVISOR)
            quotes.append((spec, max(1, mid - half), mid + half))
        return quotes

    def step(self) -> list[PriceItem]:
        """Move every asset once; the price items as the poller publishes them (price = bid)."""
        return [
            PriceItem(asset=spec.asset, price=bid, decimal=spec.decimals, bid=bid, ask=ask)
            for spec, bid, ask in self.quotes()
        ]


async def simulate(
    walk: RandomWalk,
    sink: Callable[[PriceItem], None],
    rate_hz: float,
    *,
    rounds: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Feed ``rounds`` rounds (forever if None) at ``rate_hz`` (0 = flat out); return ticks fed."""
    started = clock()
    done = fed = 0
    while rounds is None or done < rounds:
        for item in walk.step():
            sink(item)
            fed += 1
        done += 1
        wait = started + done / rate_hz - clock() if rate_hz else 0.0
        await asyncio.sleep(max(0.0, wait))  # also lets the publisher run when flat out
    return fed


def sample_frames(assets: Sequence[AssetSpec], seed: int, rounds: int) -> Iterator[bytes]:
    """``rounds`` rounds of the walk as timestamped stream frames, one per asset per round."""
    walk = RandomWalk(assets, seed)
    rng = random.Random(seed + 1)
    event_us = 1_694_687_692_980_000
    update_id = 111_063_070
    for _ in range(rounds):
        for spec, bid, ask in walk.quotes():
            event_us += rng.randint(20_000, 400_000)
            update_id += rng.randint(1, 50)
            yield format_frame(
                spec,
                bid,
                ask,
                event_us=event_us,
                update_id=update_id,
                bid_qty=_qty(rng),
                ask_qty=_qty(rng),
            )


def _qty(rng: random.Random) -> str:
    thousandths = rng.randint(1, 50_000)
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"


def main(argv: Sequence[str] | None = None) -> None:
    """Write sample frames to stdout: ``python -m poller.sim --rounds 100 --seed 7``."""
    from poller.config import DEFAULT_ASSETS, parse_assets

    parser = argparse.ArgumentParser(prog="python -m poller.sim", description=main.__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--assets", type=parse_assets, default=parse_assets(DEFAULT_ASSETS))
    args = parser.parse_args(argv)
    for frame in sample_frames(args.assets, args.seed, args.rounds):
        sys.stdout.buffer.write(frame + b"\n")


if __name__ == "__main__":
    main()
