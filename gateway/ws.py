"""``/api/v1/ws``: public price ticks for everyone, and the signed-in user's own engine events.

Messages out (JSON): ``{"type":"hello","user":email|null}``; ``{"type":"prices","id",
"prices":[...]}``; ``{"type":"event","id":<engine_events entry id>,"event":{...}}``;
``{"type":"resync"}`` when events may be missing (trimmed, or too many to replay): refetch
state over REST. Resume: connect with ``?lastEventId=<id>`` to first receive every own event
after that id, then the live ones, none twice. Messages in: ``{"type":"ping"}`` -> pong.
Close codes: 4400 bad lastEventId, 4401 session invalid/expired/revoked, 4403 cross-origin,
4408 lagging (resume by id), 4429 too many connections (per IP rate, or sockets per user).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from engine.stream_ids import EntryIdError, parse_id
from gateway import ratelimit
from gateway.auth import Session, revoked_key
from gateway.errors import ApiError
from gateway.feed import Subscriber
from gateway.session import authenticate, client_ip, origin_allowed, presented_token

log = logging.getLogger("gateway.ws")
REVOCATION_CHECK_S = 5.0
_json = msgspec.json.Encoder()


async def _session(ws: WebSocket) -> Session | None:
    """The signed-in user, None for an anonymous socket; raise ApiError for a bad token."""
    gw = ws.app.state.gw
    token, _via_cookie = presented_token(ws)
    if token is None:
        return None
    session, _ = authenticate(ws, gw.config.jwt_secret)
    if await gw.redis.exists(revoked_key(session.jti)):
        raise ApiError(401, "unauthorized", "session signed out")
    return session


async def refuse(ws: WebSocket, code: int) -> None:
    """Accept, then close with ``code``: a close before accepting is an HTTP 403 at the
    handshake, and a client could not tell why; docs/gateway.md promises these codes."""
    await ws.accept()
    await ws.close(code=code)


async def endpoint(ws: WebSocket) -> None:
    gw = ws.app.state.gw
    cfg = gw.config
    # Browsers send cookies with cross-site WebSocket handshakes: check the origin first.
    if not origin_allowed(ws, cfg.public_url, cfg.cors_origins):
        await refuse(ws, 4403)
        return
    last_event_id = ws.query_params.get("lastEventId")
    if last_event_id is not None:
        try:
            parse_id(last_event_id)
        except EntryIdError:
            await refuse(ws, 4400)
            return
    try:
        session = await _session(ws)
        limits = [ratelimit.Limit("ip", client_ip(ws), cfg.rate_ip_per_min, 60)]
        limited = (await ratelimit.check(gw.redis, limits)).limited
    except ApiError:
        await refuse(ws, 4401)
        return
    except RedisError:  # 1013 "try again later": Redis unreachable or every connection busy
        await refuse(ws, 1013)
        return
    if limited is not None or (
        session is not None and gw.feed.sockets_of(session.email) >= cfg.ws_max_per_user
    ):
        await refuse(ws, 4429)
        return
    await ws.accept()
    sub = gw.feed.subscribe(session.email if session else None)
    gw.metrics.counters["ws_connections_total"] += 1
    try:
        await ws.send_text(_json.encode({"type": "hello", "user": sub.email}).decode())
        sent_upto = (0, 0)
        if session is not None and last_event_id is not None:
            backlog, gap = await gw.feed.backlog(session.email, last_event_id, cfg.ws_max_backlog)
            if gap:
                await ws.send_text('{"type":"resync"}')
            for entry_id, payload in backlog:
                await ws.send_text(payload.decode())
                sent_upto = parse_id(entry_id)
        pump = asyncio.create_task(_pump(ws, sub, sent_upto, session, gw.redis))
        listen = asyncio.create_task(_listen(ws))
        done, pending = await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            task.result()
    except Exception:  # a client gone mid-send, Redis away: the socket just ends
        log.debug("websocket ended", exc_info=True)
    finally:
        gw.feed.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await ws.close()


async def _pump(
    ws: WebSocket,
    sub: Subscriber,
    sent_upto: tuple[int, int],
    session: Session | None,
    redis: Redis,
) -> None:
    """Forward queued ticks and events; skip events already sent from the backlog. A signed-in
    socket ends when its session expires or is signed out (checked every few seconds)."""
    next_check = time.monotonic() + REVOCATION_CHECK_S
    while True:
        try:
            kind, entry_id, payload = await asyncio.wait_for(sub.queue.get(), timeout=1.0)
        except TimeoutError:
            kind = ""
        if session is not None:
            expired = time.time() >= session.exp
            if not expired and time.monotonic() >= next_check:
                next_check = time.monotonic() + REVOCATION_CHECK_S
                expired = bool(await redis.exists(revoked_key(session.jti)))
            if expired:
                await ws.close(code=4401)
                return
        if sub.lagging:
            await ws.close(code=4408)
            return
        if not kind:
            continue
        if kind == "event" and parse_id(entry_id) <= sent_upto:
            continue
        await ws.send_text(payload.decode())


async def _listen(ws: WebSocket) -> None:
    """Read client messages (ping) until the client goes away; bounded size by uvicorn."""
    while True:
        message = await ws.receive_text()
        if '"ping"' in message:
            await ws.send_text('{"type":"pong"}')


routes = [WebSocketRoute("/api/v1/ws", endpoint)]
