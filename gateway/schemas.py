"""Request and response bodies as msgspec Structs: decoded and validated once, at the edge.

Every validation failure becomes ``InvalidField(field, message)``, which the app answers with a
400 naming the field. Bodies are decoded with ``float_hook=str``: a JSON number with a fraction
or an exponent reaches the Structs as its source text, never as a float, so an amount is an
integer (whole units) or text, and ``gateway.amounts`` reads it exactly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, extra_json_schema={"format": "email"})
]
# Whole units as a JSON integer, or the text of a decimal (a string, or a JSON number's source
# text). Ranges and decimals are checked by ``engine.amounts.parse_amount`` (gateway.amounts);
# the OpenAPI document states them exactly (gateway.openapi_amounts).
Amount = int | str
TradeId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class InvalidField(ValueError):
    """A request body (or parameter) that failed validation; ``field`` is its JSON path or name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- requests -----------------------------------------------------------------------------------


class SignupRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class CreateTradeRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """CREATE_TRADE. Amounts in human units (margin 1000 = 1000 USD); leverage in tenths."""

    asset: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    direction: Literal["LONG", "SHORT"]
    margin: Amount
    leverage: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 10
    stopLossPrice: Amount | None = None
    takeProfitPrice: Amount | None = None
    expectedPrice: Amount | None = None
    maxSlippageBps: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    trailingDistance: Amount | None = None


class CloseTradeRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """CLOSE_TRADE of one of the caller's own open trades; with ``margin``, that part of it."""

    tradeId: TradeId
    margin: Amount | None = None


class ClosedTradesQuery(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None


class Empty(msgspec.Struct, forbid_unknown_fields=True):
    """A command without parameters."""


# Pending orders and position management (issue 17, docs/protocol.md).
EXPIRES_AT_MAX = 10**15  # the engine's bound (engine.orders.MAX_EXPIRES_AT)
EXPIRES_IN_MAX_MS = 366 * 86_400_000


class CreateOrderRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """CREATE_ORDER: a LIMIT or STOP entry waiting for ``price``. ``expiresAt`` is stream time
    (ms of the engine's input entries, i.e. the Redis server clock); ``expiresInMs`` instead
    lets the gateway compute it from the Redis server's TIME."""

    asset: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    direction: Literal["LONG", "SHORT"]
    type: Literal["LIMIT", "STOP"]
    price: Amount
    margin: Amount
    leverage: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 10
    stopLossPrice: Amount | None = None
    takeProfitPrice: Amount | None = None
    trailingDistance: Amount | None = None
    expiresAt: Annotated[int, msgspec.Meta(ge=1, le=EXPIRES_AT_MAX)] | None = None
    expiresInMs: Annotated[int, msgspec.Meta(ge=1000, le=EXPIRES_IN_MAX_MS)] | None = None


class PlaceOrderRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``POST /trade/order`` (the reference's "Place market order"): ``type`` MARKET (the
    default) opens at once as ``/trade/create`` does; LIMIT or STOP places a pending order."""

    asset: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    direction: Literal["LONG", "SHORT"]
    margin: Amount
    type: Literal["MARKET", "LIMIT", "STOP"] = "MARKET"
    price: Amount | None = None
    leverage: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 10
    stopLossPrice: Amount | None = None
    takeProfitPrice: Amount | None = None
    trailingDistance: Amount | None = None
    expectedPrice: Amount | None = None
    maxSlippageBps: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    expiresAt: Annotated[int, msgspec.Meta(ge=1, le=EXPIRES_AT_MAX)] | None = None
    expiresInMs: Annotated[int, msgspec.Meta(ge=1000, le=EXPIRES_IN_MAX_MS)] | None = None


class CancelOrderRequest(msgspec.Struct, forbid_unknown_fields=True):
    """CANCEL_ORDER of one of the caller's pending orders."""

    orderId: TradeId


class ModifyTradeRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """MODIFY_TRADE: a key absent leaves that exit as it is, ``null`` removes it."""

    tradeId: TradeId
    stopLossPrice: Amount | msgspec.UnsetType | None = msgspec.UNSET
    takeProfitPrice: Amount | msgspec.UnsetType | None = msgspec.UNSET
    trailingDistance: Amount | msgspec.UnsetType | None = msgspec.UNSET


class ModifyTradeBody(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``PATCH /trades/{tradeId}``: MODIFY_TRADE's keys without the tradeId (in the path)."""

    stopLossPrice: Amount | msgspec.UnsetType | None = msgspec.UNSET
    takeProfitPrice: Amount | msgspec.UnsetType | None = msgspec.UNSET
    trailingDistance: Amount | msgspec.UnsetType | None = msgspec.UNSET


class EngineRequest(msgspec.Struct, forbid_unknown_fields=False):
    """The reference envelope ``{command, tradeData?: {...}}``; parameters may be top-level."""

    command: Literal[
        "CREATE_ACCOUNT",
        "GET_BALANCE",
        "GET_USD_BALANCE",
        "CREATE_TRADE",
        "CLOSE_TRADE",
        "GET_OPEN_TRADES",
        "GET_CLOSED_TRADES",
        "CREATE_ORDER",
        "CANCEL_ORDER",
        "GET_OPEN_ORDERS",
        "MODIFY_TRADE",
    ]
    tradeData: dict[str, Any] | None = None


COMMAND_PARAMS: dict[str, type[msgspec.Struct]] = {
    "CREATE_ACCOUNT": Empty,
    "GET_BALANCE": Empty,
    "GET_USD_BALANCE": Empty,
    "CREATE_TRADE": CreateTradeRequest,
    "CLOSE_TRADE": CloseTradeRequest,
    "GET_OPEN_TRADES": Empty,
    "GET_CLOSED_TRADES": ClosedTradesQuery,
    "CREATE_ORDER": CreateOrderRequest,
    "CANCEL_ORDER": CancelOrderRequest,
    "GET_OPEN_ORDERS": Empty,
    "MODIFY_TRADE": ModifyTradeRequest,
}

# --- responses (for the OpenAPI document; handlers build plain dicts for speed) ------------------


class EngineResult(msgspec.Struct):
    status: Literal["success", "error"]
    data: Any
    message: str


class EngineEnvelope(msgspec.Struct):
    """What every engine-backed route answers: the reference protocol's envelope."""

    success: bool
    orderId: str
    engineResponse: EngineResult
    latency: float


class ErrorBody(msgspec.Struct, omit_defaults=True):
    error: str
    message: str
    field: str | None = None
    orderId: str | None = None


class MessageBody(msgspec.Struct):
    message: str


class SessionBody(msgspec.Struct):
    email: str
    expiresAt: int
    csrfToken: str


ScaledPrice = Annotated[str, msgspec.Meta(pattern="^[0-9]{1,40}$")]


class PriceBody(msgspec.Struct):
    """The documented ``{asset, price, decimal}``: price is the scaled integer as a string
    (``"236140000"`` at ``decimal`` 6 is 236.14); bid, ask, timestamp and id are additive."""

    asset: str
    price: ScaledPrice
    decimal: int
    bid: ScaledPrice
    ask: ScaledPrice
    timestamp: int
    id: str


class AssetBody(msgspec.Struct):
    symbol: str
    decimals: int


class AssetsBody(msgspec.Struct):
    """The asset table with each asset's price decimals (``GET /api/v1/assets``)."""

    assets: list[AssetBody]


SupportedAssets = list[str]  # the documented plain array of symbols


class OrderPending(msgspec.Struct):
    orderId: str
    status: Literal["pending"]


class HealthBody(msgspec.Struct, omit_defaults=True):
    status: str
    redis: bool | None = None
    engine: bool | None = None


# --- decoding -----------------------------------------------------------------------------------

_PATH = re.compile(r" - at `\$(?:\.)?(?P<path>[^`]*)`$")


_NAMED = re.compile(r"(?:missing required|unknown) field `(?P<name>[^`]*)`")


def _field_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(field path, message) from msgspec's text, e.g. "... - at `$.margin`" -> "margin"."""
    text = str(exc)
    match = _PATH.search(text)
    path, message = (match.group("path"), text[: match.start()]) if match else ("", text)
    named = _NAMED.search(message)
    if named is not None:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return path or "body", message


class NumberText(str):
    """The source text of a JSON number with a fraction or an exponent (``"230.50"``)."""


# JSON numbers with a fraction or an exponent decode to their source text: never a float.
_exact_json = msgspec.json.Decoder(float_hook=NumberText)
_INTEGRAL = re.compile(r"-?[0-9]{1,18}\.0+")
_WALK_DEPTH = 3  # the body, tradeData and one more level is all a request has


def _integral_numbers(value: Any, depth: int = 0) -> Any:
    """JSON numbers such as ``70.0`` as the integers they are (JSON Schema calls them integers,
    so ``"limit": 70.0`` is a valid integer); every other number stays its text."""
    if type(value) is NumberText:
        return int(value.partition(".")[0]) if _INTEGRAL.fullmatch(value) else str(value)
    if depth < _WALK_DEPTH and isinstance(value, dict):
        return {k: _integral_numbers(v, depth + 1) for k, v in value.items()}
    return value


def decode_body(body: bytes, kind: type[Any]) -> Any:
    """Decode JSON ``body`` into ``kind``; raise ``InvalidField`` with the failing field."""
    try:
        data = _exact_json.decode(body or b"null")
    except msgspec.DecodeError as exc:
        raise InvalidField("body", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise InvalidField("body", "JSON nested too deeply") from None
    return convert(_integral_numbers(data), kind)


def convert(data: Any, kind: type[Any]) -> Any:
    """Validate already-decoded ``data`` as ``kind``; raise ``InvalidField``."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidField(*_field_of(exc)) from None
    except RecursionError:
        raise InvalidField("body", "JSON nested too deeply") from None


def trade_data(params: msgspec.Struct) -> dict[str, Any]:
    """The tradeData object for the engine: the struct's fields, without unset optionals."""
    return {k: v for k, v in msgspec.structs.asdict(params).items() if v is not None}
