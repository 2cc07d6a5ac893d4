"""The operator routes' part of the OpenAPI document: paths, and exact amount schemas.

Kept beside ``gateway.openapi`` (which calls it) so that the trader's document reads on its own;
the bodies come from the Structs ``gateway.routes.admin`` decodes with (``gateway.admin``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.money import USD_DECIMALS
from gateway import admin
from gateway.openapi_bodies import amount_schema

STRUCTS = (
    admin.MarketStateRequest,
    admin.LimitsRequest,
    admin.AdjustmentRequest,
    admin.ForceCloseRequest,
)
REF = "#/components/schemas/{name}"
FORBIDDEN = (
    "Not an operator (the session's email is not in ADMIN_EMAILS), CSRF token missing/wrong, "
    "or cross-origin request"
)
TRADE_ID_PATTERN = "^[^\\u0000-\\u001f\\u007f/]{1,128}$"


def signed_usd_schema() -> dict[str, Any]:
    """A signed USD amount: a non-zero JSON integer, or exact decimal text with an optional
    leading ``-`` (the magnitude as ``engine.amounts.parse_amount`` reads it)."""
    base = amount_schema(USD_DECIMALS, "USD")
    positive, text = base["anyOf"]
    return {
        "description": "Signed change of the free balance in USD (human units): a credit is "
        "positive, a debit negative (\"-12.5\"); the magnitude as for margins (more than 0, "
        "at most 4 decimals, at most 10^9)",
        "anyOf": [
            positive,
            {**positive, "minimum": -positive["maximum"], "maximum": -1},
            {**text, "maxLength": text["maxLength"] + 1, "pattern": "^-?" + text["pattern"][1:]},
        ],
    }


def patch_components(components: dict[str, Any], asset_schema: dict[str, Any]) -> None:
    """Give the operator bodies their exact amount and asset schemas (in place)."""
    limits = components["LimitsRequest"]["properties"]
    limits["asset"] = dict(asset_schema)
    for name in admin.USD_LIMITS:
        usd = amount_schema(USD_DECIMALS, "A USD limit (null removes it)")
        limits[name] = {"anyOf": [*usd.pop("anyOf"), {"type": "null"}], **usd}
    components["AdjustmentRequest"]["properties"]["amount"] = signed_usd_schema()


def paths(
    engine_op: Callable[..., dict[str, Any]], asset_schema: dict[str, Any]
) -> dict[str, Any]:
    """``/api/v1/admin/...``: each operation as ``engine_op`` writes an engine-backed one,
    with the operator's 403."""

    def op(
        summary: str, *, body: type | None = None, params: list[Any] | None = None
    ) -> dict[str, Any]:
        built = engine_op(f"Operator: {summary}", body=body, params=params)
        built["responses"]["403"]["description"] = FORBIDDEN
        return built

    asset = {"name": "asset", "in": "path", "required": True, "schema": dict(asset_schema)}
    trade = {
        "name": "tradeId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": TRADE_ID_PATTERN},
    }
    force_close = op(
        "close any open trade at the current price (FORCE_CLOSE)",
        body=admin.ForceCloseRequest,
        params=[trade],
    )
    force_close["responses"]["404"] = {
        "description": "No such route (a tradeId the path cannot carry)",
        "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorBody")}}},
    }
    return {
        "/api/v1/admin/markets/{asset}/state": {
            "post": op(
                "set an asset's market state: OPEN, CLOSE_ONLY, HALTED (SET_MARKET_STATE)",
                body=admin.MarketStateRequest,
                params=[asset],
            )
        },
        "/api/v1/admin/limits": {
            "post": op(
                "set risk limits of one asset or all; absent keeps, null removes (SET_LIMITS)",
                body=admin.LimitsRequest,
            )
        },
        "/api/v1/admin/balance-adjustments": {
            "post": op(
                "credit or debit an account with a reason, idempotent by transactionId "
                "(ADJUST_BALANCE)",
                body=admin.AdjustmentRequest,
            )
        },
        "/api/v1/admin/trades/{tradeId}/force-close": {"post": force_close},
        "/api/v1/admin/report": {
            "get": op("totals, open interest, states, limits, state hash (GET_REPORT)")
        },
    }
