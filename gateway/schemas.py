"""Request and response bodies as msgspec Structs: decoded and validated once, at the edge.

Every validation failure becomes ``InvalidField(field, message)``, which the app answers with a
400 naming the field. Amounts stay exactly what the client sent (an integer in scaled units or
an exact decimal string) and are checked here with ``engine.money.parse_decimal`` so that the
engine never sees one it would have to reject for its shape.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from engine.money import USD_DECIMALS, AmountError, parse_decimal

_MAX_AMOUNT = 10**18  # msgspec bounds must fit int64

Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, extra_json_schema={"format": "email"})
]
# Integers in scaled units, or exact decimal strings; the USD one allows at most 4 decimals.
Amount = Annotated[int, msgspec.Meta(gt=0, lt=_MAX_AMOUNT)] | Annotated[
    str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9]{1,20}(\.[0-9]{1,18})?$")
]
UsdAmount = Annotated[int, msgspec.Meta(gt=0, lt=_MAX_AMOUNT)] | Annotated[
    str, msgspec.Meta(min_length=1, max_length=24, pattern=r"^[0-9]{1,18}(\.[0-9]{1,4})?$")
]
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
    """CREATE_TRADE. margin: USD with 4 decimals (10000 = 1 USD) or "100.5"; leverage in tenths."""

    asset: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    direction: Literal["LONG", "SHORT"]
    margin: UsdAmount
    leverage: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 10
    stopLossPrice: Amount | None = None
    takeProfitPrice: Amount | None = None
    expectedPrice: Amount | None = None
    maxSlippageBps: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None


class CloseTradeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """CLOSE_TRADE of one of the caller's own open trades."""

    tradeId: TradeId


class ClosedTradesQuery(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None


class Empty(msgspec.Struct, forbid_unknown_fields=True):
    """A command without parameters."""


class EngineRequest(msgspec.Struct, forbid_unknown_fields=False):
    """The seed's envelope ``{command, tradeData?: {...}}``; parameters may also be top-level."""

    command: Literal[
        "CREATE_ACCOUNT",
        "GET_BALANCE",
        "GET_USD_BALANCE",
        "CREATE_TRADE",
        "CLOSE_TRADE",
        "GET_OPEN_TRADES",
        "GET_CLOSED_TRADES",
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
}

# --- responses (for the OpenAPI document; handlers build plain dicts for speed) ------------------


class EngineResult(msgspec.Struct):
    status: Literal["success", "error"]
    data: Any
    message: str


class EngineEnvelope(msgspec.Struct):
    """What every engine-backed route answers: the seed's envelope."""

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


class PriceBody(msgspec.Struct):
    asset: str
    price: int
    bid: int
    ask: int
    decimal: int
    timestamp: int
    id: str


class AssetBody(msgspec.Struct):
    symbol: str
    decimals: int


class AssetsBody(msgspec.Struct):
    assets: list[AssetBody]


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


def decode_body(body: bytes, kind: type[Any]) -> Any:
    """Decode JSON ``body`` into ``kind``; raise ``InvalidField`` with the failing field."""
    try:
        return msgspec.json.decode(body or b"null", type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidField(*_field_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidField("body", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise InvalidField("body", "JSON nested too deeply") from None


def convert(data: Any, kind: type[Any]) -> Any:
    """Validate already-decoded ``data`` as ``kind``; raise ``InvalidField``."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidField(*_field_of(exc)) from None
    except RecursionError:
        raise InvalidField("body", "JSON nested too deeply") from None


def check_amount(field: str, value: int | str | None, decimals: int) -> None:
    """Refuse a decimal string the engine could not represent exactly at ``decimals``."""
    if isinstance(value, str):
        if value != value.strip():
            raise InvalidField(field, "must not contain whitespace")
        try:
            scaled = parse_decimal(value, decimals)
        except AmountError as exc:
            raise InvalidField(field, str(exc)) from None
        if scaled <= 0:
            raise InvalidField(field, "must be greater than 0")


def check_trade(req: CreateTradeRequest, price_decimals: int | None) -> None:
    """Cross-field checks of CREATE_TRADE that the types cannot express."""
    if price_decimals is None:
        raise InvalidField("asset", f"unsupported asset {req.asset!r}")
    check_amount("margin", req.margin, USD_DECIMALS)
    for name in ("stopLossPrice", "takeProfitPrice", "expectedPrice"):
        check_amount(name, getattr(req, name), price_decimals)
    if req.maxSlippageBps is not None and req.expectedPrice is None:
        raise InvalidField("maxSlippageBps", "needs expectedPrice")


def trade_data(params: msgspec.Struct) -> dict[str, Any]:
    """The tradeData object for the engine: the struct's fields, without unset optionals."""
    return {k: v for k, v in msgspec.structs.asdict(params).items() if v is not None}
