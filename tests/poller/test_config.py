"""Configuration: defaults, flag over environment, asset maps, and clear errors for bad values."""

from __future__ import annotations

import pytest

from poller.config import parse_assets, parse_config
from poller.ticks import AssetSpec


def test_defaults_are_backpack_and_the_reference_assets_at_four_decimals():
    config = parse_config([], {})
    assert config.source == "backpack"
    assert config.stream == "engine_input"
    assert config.ws_url == "wss://ws.backpack.exchange"
    assert [(s.asset, s.symbol, s.decimals) for s in config.assets] == [
        ("BTC_USDC", "BTC_USDC", 4),
        ("ETH_USDC", "ETH_USDC", 4),
        ("SOL_USDC", "SOL_USDC", 4),
        ("ADA_USDC", "ADA_USDC", 4),
    ]
    assert config.replay_file is None
    assert config.batch_ms == 5


def test_environment_sets_values_and_flags_win():
    env = {
        "POLLER_SOURCE": "sim",
        "REDIS_URL": "redis://10.0.0.1:6380/2",
        "ENGINE_INPUT_STREAM": "prices",
        "SIM_SEED": "42",
        "SIM_RATE_HZ": "250",
        "REPLAY_SPEED": "3",
        "METRICS_PORT": "0",
    }
    config = parse_config(["--seed", "7", "--source", "replay"], env)
    assert config.source == "replay"
    assert config.sim_seed == 7
    assert config.redis_url == "redis://10.0.0.1:6380/2"
    assert config.stream == "prices"
    assert config.sim_rate_hz == 250
    assert config.replay_speed == 3
    assert config.metrics_port == 0


def test_empty_environment_variable_means_default():
    assert parse_config([], {"POLLER_SOURCE": ""}).source == "backpack"


def test_asset_map_with_symbols_and_decimals():
    assert parse_assets("BTC=BTC_USDC:2, SOL_USDC ,ETH:8") == (
        AssetSpec("BTC", "BTC_USDC", 2),
        AssetSpec("SOL_USDC", "SOL_USDC", 4),
        AssetSpec("ETH", "ETH", 8),
    )


@pytest.mark.parametrize(
    "text",
    ["", ",", "BTC:", "BTC:x", "BTC:-1", "BTC:19", "BTC:٣", "=X", "B C", "BTC=", "A,A", "A=X,B=X"],
)
def test_bad_asset_map_is_refused(text: str):
    with pytest.raises(ValueError):
        parse_assets(text)


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--source", "kraken"], {}, "--source='kraken'"),
        ([], {"POLLER_SOURCE": "kraken"}, "POLLER_SOURCE='kraken'"),
        (["--speed", "-1"], {}, "--speed"),
        (["--speed", "nan"], {}, "--speed"),
        (["--rate", "inf"], {}, "--rate"),
        (["--rate", "fast"], {}, "--rate"),
        (["--seed", "1.5"], {}, "--seed"),
        (["--metrics-port", "70000"], {}, "--metrics-port"),
        ([], {"METRICS_PORT": "http"}, "METRICS_PORT"),
        (["--batch-ms", "-5"], {}, "--batch-ms"),
        (["--silence-s", "0"], {}, "--silence-s"),
        (["--redis-url", "http://localhost"], {}, "--redis-url"),
        ([], {"REDIS_URL": "redis://host:port/0"}, "REDIS_URL"),
        (["--url", "https://ws.backpack.exchange"], {}, "--url"),
        ([], {"POLLER_ASSETS": "BTC:x"}, "POLLER_ASSETS"),
        (["--stream", " "], {}, "--stream"),
        (["--log-level", "loud"], {}, "--log-level"),
        (["--backoff-min-s", "5", "--backoff-max-s", "1"], {}, "--backoff-min-s"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
        (["--speed"], {}, "expected one argument"),
    ],
)
def test_bad_flag_or_variable_exits_2_naming_it(argv, env, named, capsys):
    with pytest.raises(SystemExit) as info:
        parse_config(argv, env)
    assert info.value.code == 2
    assert named in capsys.readouterr().err
