"""The parts of the OpenAPI document that say exactly what the server accepts: amounts (range
and decimals, as ``engine.amounts.parse_amount`` reads them), the ``/engine`` envelope (one
variant per command, parameters at top level or in ``tradeData``) and the Idempotency-Key.

The schema never admits what the server refuses. It is stricter in one place: a JSON number
with a fraction (``230.50``) is accepted by the server, exactly from its text, but JSON Schema
cannot describe "at most 4 decimals, no exponent" of a number without admitting floats such as
``1e-05``, so the document lists the integer and string forms and says so in the description.
"""

from __future__ import annotations

from typing import Any

from engine.amounts import MAX_WHOLE_UNITS
from engine.money import USD_DECIMALS
from gateway.orders import IDEMPOTENCY_KEY_RE

AMOUNT_MAX_TEXT = 40


def _decimal_pattern(decimals: int) -> str:
    """A regex (no look-arounds) of the decimal text ``parse_amount`` accepts at ``decimals``:
    plain digits, leading and trailing zeros allowed, greater than 0, at most 10^9."""
    frac = f"(\\.[0-9]{{1,{decimals}}}0*)?" if decimals else "(\\.0+)?"
    big = f"0*{MAX_WHOLE_UNITS}(\\.0+)?"
    whole = f"0*[1-9][0-9]{{0,{len(str(MAX_WHOLE_UNITS)) - 2}}}{frac}"
    parts = [whole, big]
    if decimals:
        parts.append(f"0+\\.[0-9]{{0,{decimals - 1}}}[1-9]0*")
    return "^(" + "|".join(parts) + ")$"


def amount_schema(decimals: int, what: str) -> dict[str, Any]:
    """An amount in human units: a JSON integer (whole units) or an exact decimal string."""
    return {
        "description": f"{what}, in human units: a JSON integer of whole units (1000 = 1000), "
        f"or the exact decimal as a string (\"230.5\") or as a JSON number with a fraction "
        f"(230.50, read from its text, never as a float); more than 0, at most "
        f"{MAX_WHOLE_UNITS:,}, at most {decimals} decimals, no sign or exponent",
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_WHOLE_UNITS},
            {
                "type": "string",
                "minLength": 1,
                "maxLength": AMOUNT_MAX_TEXT,
                "pattern": _decimal_pattern(decimals),
            },
        ],
    }


def patch_trade_amounts(create: dict[str, Any], price_decimals: int) -> None:
    """Give CreateTradeRequest's amount properties their exact schemas (in place)."""
    props = create["properties"]
    create["dependentRequired"] = {"maxSlippageBps": ["expectedPrice"]}
    props["margin"] = amount_schema(USD_DECIMALS, "Margin in USD")
    for name in ("stopLossPrice", "takeProfitPrice", "expectedPrice"):
        price = amount_schema(price_decimals, "A price of the asset")
        props[name] = {"anyOf": [*price.pop("anyOf"), {"type": "null"}], **price}


IDEMPOTENCY_SCHEMA = {"type": "string", "pattern": IDEMPOTENCY_KEY_RE.pattern}


def engine_request_schema(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``POST /engine``: for each command (name -> its parameters' object schema), the
    parameters at top level (``tradeData`` absent or null) or all inside ``tradeData``."""
    variants: list[dict[str, Any]] = []
    for command, schema in params.items():
        props = schema.get("properties", {})
        required = schema.get("required", [])
        # rules between fields (one needs another; two that exclude each other)
        depends: dict[str, Any] = {
            k: schema[k] for k in ("dependentRequired", "not") if k in schema
        }
        name = {"const": command}
        if not props:  # no parameters: tradeData, when sent, is {} or null
            variants.append(_object(
                {"command": name, "tradeData": {"anyOf": [_object({}, []), {"type": "null"}]}},
                ["command"],
            ))
            continue
        variants.append({
            **_object({"command": name, "tradeData": {"type": "null"}, **props},
                      ["command", *required]),
            **depends,
        })
        variants.append(_object(
            {"command": name, "tradeData": {**_object(props, required), **depends}},
            ["command", "tradeData"],
        ))
    return {
        "description": "An engine command in the reference envelope: the parameters at top level "
        "(as the reference documentation's examples) or in tradeData, not both",
        "anyOf": variants,
    }


def _object(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out
