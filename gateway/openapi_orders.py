"""The OpenAPI part of pending orders and position management (issue 17): the bodies' exact
amount schemas, the routes, and the engine's refusal codes of each command (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.money import USD_DECIMALS
from gateway import schemas
from gateway.openapi_bodies import amount_schema

STRUCTS = (
    schemas.CreateOrderRequest,
    schemas.PlaceOrderRequest,
    schemas.CancelOrderRequest,
    schemas.ModifyTradeRequest,
    schemas.ModifyTradeBody,
)

_OPEN_CODES = (
    "UNKNOWN_ASSET, INVALID_DIRECTION, INVALID_AMOUNT, INVALID_MARGIN, INSUFFICIENT_BALANCE, "
    "INVALID_LEVERAGE, NO_PRICE, STALE_PRICE, MARKET_CLOSE_ONLY, MARKET_HALTED, LIMIT_*"
)
CODES = {
    "CREATE_ORDER": f"{_OPEN_CODES}, INVALID_ORDER_TYPE, INVALID_ORDER_PRICE (it would fill "
    "now: use a market order), INVALID_STOP_LOSS, INVALID_TAKE_PROFIT, INVALID_EXPIRY, "
    "DUPLICATE_ORDER_ID",
    "CANCEL_ORDER": "ORDER_NOT_FOUND (not yours, filled, cancelled or expired)",
    "MODIFY_TRADE": "TRADE_NOT_FOUND, INVALID_AMOUNT, INVALID_STOP_LOSS, INVALID_TAKE_PROFIT, "
    "NO_PRICE, STALE_PRICE, NOTHING_TO_MODIFY, MARKET_HALTED",
    "CLOSE_TRADE": "TRADE_NOT_FOUND, INVALID_MARGIN (more than the trade's margin), "
    "INVALID_AMOUNT, NO_PRICE, STALE_PRICE, MARKET_HALTED",
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    return {**out, "anyOf": [*out.pop("anyOf"), {"type": "null"}]}


def _price(decimals: int, what: str = "A price of the asset") -> dict[str, Any]:
    return _nullable(amount_schema(decimals, what))


def patch_components(
    components: dict[str, Any], asset_schema: dict[str, Any], price_decimals: int
) -> None:
    """Exact amount schemas (range and decimals, as the server reads them) in place."""
    usd = amount_schema(USD_DECIMALS, "Margin in USD")
    trailing = "Trailing stop distance, in price units"
    for name in ("CreateOrderRequest", "PlaceOrderRequest"):
        props = components[name]["properties"]
        props["asset"] = dict(asset_schema)
        props["margin"] = usd
        for key in ("stopLossPrice", "takeProfitPrice"):
            props[key] = _price(price_decimals)
        props["trailingDistance"] = _price(price_decimals, trailing)
        components[name]["not"] = {"required": ["expiresAt", "expiresInMs"]}
    components["CreateOrderRequest"]["properties"]["price"] = amount_schema(
        price_decimals, "The order's price: a LIMIT fills at it or better, a STOP at or past it"
    )
    place = components["PlaceOrderRequest"]
    place["properties"]["price"] = _price(price_decimals, "LIMIT/STOP only: the order's price")
    place["properties"]["expectedPrice"] = _price(price_decimals, "MARKET only")
    # MARKET: no price and no expiry; LIMIT/STOP: a price, no slippage guard.
    place["allOf"] = [
        {
            "if": {"properties": {"type": {"enum": ["LIMIT", "STOP"]}}, "required": ["type"]},
            "then": {
                "required": ["price"],
                "properties": {
                    "price": amount_schema(price_decimals, "The order's price"),
                    "expectedPrice": {"type": "null"},
                    "maxSlippageBps": {"type": "null"},
                },
            },
            "else": {
                "properties": {
                    "price": {"type": "null"},
                    "expiresAt": {"type": "null"},
                    "expiresInMs": {"type": "null"},
                },
                "dependentRequired": {"maxSlippageBps": ["expectedPrice"]},
            },
        }
    ]
    for name in ("ModifyTradeRequest", "ModifyTradeBody"):
        props = components[name]["properties"]
        for key in ("stopLossPrice", "takeProfitPrice"):
            props[key] = _price(price_decimals, "A price; null removes this exit")
        props["trailingDistance"] = _price(price_decimals, f"{trailing}; null removes it")
    close = components["CloseTradeRequest"]["properties"]
    close["margin"] = _nullable(
        amount_schema(USD_DECIMALS, "A partial close: the margin to close (absent: all)")
    )
    create = components["CreateTradeRequest"]["properties"]
    create["trailingDistance"] = _price(price_decimals, trailing)


def paths(
    engine_op: Callable[..., dict[str, Any]],
    csrf: dict[str, Any],
    idempotency: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The routes of gateway.routes.orders (merged per path into the document)."""

    def op(summary: str, command: str, **kwargs: Any) -> dict[str, Any]:
        out = engine_op(summary, **kwargs)
        out["responses"]["422"]["description"] = (
            f"The engine refused; data.code is one of: {CODES[command]}"
        )
        return out

    def path_param(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        }

    cancel = op("Cancel one of your pending orders (CANCEL_ORDER), by its orderId or the "
                "Idempotency-Key it was placed with", "CANCEL_ORDER",
                params=[path_param("orderId"), idempotency, csrf])
    modify = op("Amend a trade's stop-loss, take-profit or trailing stop (MODIFY_TRADE): a key "
                "absent keeps that exit, null removes it", "MODIFY_TRADE",
                body=schemas.ModifyTradeBody, params=[path_param("tradeId")])
    return {
        "/api/v1/orders": {
            "post": op("Place a LIMIT or STOP order (CREATE_ORDER); its margin is reserved. "
                       "expiresAt is stream time (ms, the Redis server clock); or give "
                       "expiresInMs", "CREATE_ORDER", body=schemas.CreateOrderRequest)
        },
        "/api/v1/orders/open": {
            "get": engine_op("Your pending orders, oldest first (GET_OPEN_ORDERS)")
        },
        "/api/v1/orders/{orderId}": {"delete": cancel},
        "/api/v1/trades/{tradeId}": {"patch": modify},
        "/api/v1/trade/order": {
            "post": op("Place an order (the reference's \"Place market order\"): type MARKET "
                       "(default) opens now as /trade/create; LIMIT or STOP waits as "
                       "POST /orders", "CREATE_ORDER", body=schemas.PlaceOrderRequest)
        },
    }
