"""Settings from env and flags, and the refusals that keep production safe."""

from __future__ import annotations

import pytest

from gateway.config import DEV_JWT_SECRET, ConfigError, load_config, parse_assets

PROD = {"JWT_SECRET": "x" * 40, "SMTP_URL": "smtp://mail.example:25"}


def test_dev_fills_the_dev_secret_and_derives_the_public_url():
    config = load_config([], {"GATEWAY_ENV": "dev", "GATEWAY_PORT": "9001"})
    assert config.dev and config.jwt_secret == DEV_JWT_SECRET
    assert config.public_url == "http://127.0.0.1:9001"
    assert not config.cookie_secure


def test_flags_override_the_environment():
    config = load_config(
        ["--port", "9100", "--cors-origins", "https://a.example/, https://b.example", "--dev"],
        {"GATEWAY_PORT": "9000", "RATE_IP_PER_MIN": "7"},
    )
    assert config.port == 9100 and config.rate_ip_per_min == 7
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert config.env == "dev"


def test_production_defaults_are_secure():
    config = load_config([], PROD)
    assert not config.dev and config.cookie_secure
    assert {a.symbol for a in config.assets} == {"BTC_USDC", "ETH_USDC", "SOL_USDC", "ADA_USDC"}
    assert config.asset("ADA_USDC").decimals == 4  # Backpack quotes ADA_USDC to 0.0001


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SMTP_URL": "smtp://m:25"},
        {**PROD, "JWT_SECRET": "secret"},
        {**PROD, "JWT_SECRET": DEV_JWT_SECRET},
        {**PROD, "JWT_SECRET": "too-short"},
        {"JWT_SECRET": "x" * 40},  # no SMTP outside dev
        {**PROD, "SMTP_URL": "http://mail"},
        {**PROD, "CORS_ORIGINS": "*"},
        {**PROD, "GATEWAY_PORT": "http"},
        {**PROD, "GATEWAY_PORT": "0"},
        {**PROD, "RATE_IP_PER_MIN": "-1"},
        {**PROD, "PUBLIC_URL": "javascript:alert(1)"},
        {**PROD, "SUPPORTED_ASSETS": "BTC:x"},
        {**PROD, "SUPPORTED_ASSETS": " , "},
        {**PROD, "SMTP_TIMEOUT_S": "soon"},
    ],
)
def test_refuses_unsafe_or_malformed_settings(env: dict[str, str]):
    with pytest.raises(ConfigError):
        load_config([], env)


def test_parse_assets():
    assert [(a.symbol, a.decimals) for a in parse_assets("BTC_USDC:8, ETH_USDC")] == [
        ("BTC_USDC", 8),
        ("ETH_USDC", 4),
    ]
    for bad in ("BTC/USD:4", "BTC:19", "BTC:-1", ":4"):
        with pytest.raises(ConfigError):
            parse_assets(bad)


def test_admin_emails_are_lower_case_without_repeats_and_checked():
    config = load_config([], {**PROD, "ADMIN_EMAILS": " Ops@X.io, boss@x.io,ops@x.io ,"})
    assert config.admin_emails == ("ops@x.io", "boss@x.io")
    assert config.is_admin("ops@x.io") and not config.is_admin("eve@x.io")
    assert load_config([], PROD).admin_emails == ()  # default: no operator at all
    with pytest.raises(ConfigError, match="ADMIN_EMAILS: 'not-an-address'"):
        load_config([], {**PROD, "ADMIN_EMAILS": "ops@x.io, not-an-address"})
