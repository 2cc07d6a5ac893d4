"""Replay: the shipped sample, bad lines counted and skipped, and the pace of the recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.messages import PriceItem
from poller.config import DEFAULT_ASSETS, parse_assets
from poller.metrics import Metrics
from poller.replay import due_s, open_frames, replay
from poller.ticks import REJECT_JSON, REJECT_PRICE, REJECT_SCHEMA, REJECT_SYMBOL, format_frame

ASSETS = parse_assets(DEFAULT_ASSETS)
SOL = ASSETS[2]


def metrics() -> Metrics:
    return Metrics([spec.asset for spec in ASSETS])


async def test_shipped_sample_replays_every_frame():
    fed: list[PriceItem] = []
    m = metrics()
    with open_frames(None) as frames:
        assert await replay(frames, ASSETS, fed.append, m, speed=0) == 100 * len(ASSETS)
    assert len(fed) == 100 * len(ASSETS)
    assert {item.asset for item in fed} == {"BTC_USDC", "ETH_USDC", "SOL_USDC", "ADA_USDC"}
    assert all(0 < item.bid < item.ask for item in fed if item.bid and item.ask)
    assert sum(m.rejected.values()) == 0


async def test_bad_lines_are_counted_and_skipped(tmp_path: Path):
    good = [format_frame(SOL, 1000 + i, 1010 + i, event_us=i, update_id=i) for i in range(3)]
    lines = [
        good[0],
        b"",
        b"   ",
        b"{broken",
        b"[]",
        good[1],
        good[1].replace(b"SOL_USDC", b"DOGE_USDC"),
        good[1].replace(b'"0.1001"', b'"0.10015"'),
        b'{"id":1,"result":null}',
        b"x" * 70_000,
        good[2],
    ]
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    fed: list[PriceItem] = []
    m = metrics()
    with open_frames(str(path)) as frames:
        assert await replay(frames, ASSETS, fed.append, m, speed=0) == 3
    assert [item.bid for item in fed] == [1000, 1001, 1002]
    assert m.rejected[REJECT_JSON] == 2
    assert m.rejected[REJECT_SCHEMA] == 1
    assert m.rejected[REJECT_SYMBOL] == 1
    assert m.rejected[REJECT_PRICE] == 1


async def test_file_that_is_not_text_at_all_feeds_nothing(tmp_path: Path):
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 4)
    m = metrics()
    with open_frames(str(path)) as frames:
        assert await replay(frames, ASSETS, lambda item: None, m, speed=0) == 0
    assert sum(m.rejected.values()) >= 1


def test_missing_file_raises_os_error(tmp_path: Path):
    with pytest.raises(OSError), open_frames(str(tmp_path / "absent.jsonl")):
        pass


@pytest.mark.parametrize(
    ("event_us", "speed", "due"),
    [
        (1_000_000, 1, 0.0),
        (3_500_000, 1, 2.5),
        (3_500_000, 10, 0.25),
        (3_500_000, 0.5, 5.0),
        (3_500_000, 0, 0.0),  # no waiting
        (400_000, 1, 0.0),  # earlier than the first frame: at once
    ],
)
def test_frames_are_due_at_their_recorded_offset_over_speed(event_us, speed, due):
    assert due_s(event_us, 1_000_000, speed) == pytest.approx(due)


async def test_replay_at_a_pace_still_feeds_everything_in_order():
    frames = [
        format_frame(SOL, 1000 + i, 1010 + i, event_us=i * 1000, update_id=i) for i in range(5)
    ]
    fed: list[PriceItem] = []
    assert await replay(iter(frames), ASSETS, fed.append, metrics(), speed=1) == 5
    assert [item.bid for item in fed] == [1000, 1001, 1002, 1003, 1004]
