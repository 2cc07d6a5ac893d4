"""A local WebSocket server speaking Backpack's public stream protocol, for the feed's tests.

Clients send ``{"method": "SUBSCRIBE", "params": ["bookTicker.SOL_USDC", ...]}`` (and
UNSUBSCRIBE); the server then sends each connection the frames of the streams it subscribed to.
Requests must be JSON text frames; anything else gets an error object, as the exchange answers
a bad request. Tests push frames,
send raw bytes, ping clients and drop connections.
"""

from __future__ import annotations

import json
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve


class BackpackServer:
    """Serve on 127.0.0.1, a free port; use as ``async with BackpackServer() as server``."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.connections: list[ServerConnection] = []
        self.subscriptions: list[set[str]] = []  # per connection, in connection order
        self.requests: list[object] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> BackpackServer:
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        subscribed: set[str] = set()
        self.connections.append(ws)
        self.subscriptions.append(subscribed)
        async for message in ws:
            try:
                if not isinstance(message, str):
                    raise TypeError("binary frame")
                request = json.loads(message)
                self.requests.append(request)
                method, params = request["method"], request["params"]
                if method == "SUBSCRIBE":
                    subscribed.update(params)
                elif method == "UNSUBSCRIBE":
                    subscribed.difference_update(params)
                else:
                    raise ValueError(method)
            except (ValueError, KeyError, TypeError):
                await ws.send(json.dumps({"id": None, "error": {"code": 4000, "message": "bad"}}))

    def subscribed(self, count: int = 1) -> bool:
        """True once ``count`` connections have each subscribed to something."""
        return len(self.subscriptions) >= count and all(self.subscriptions[:count])

    async def publish(self, frame: bytes) -> int:
        """Send a stream frame to the connections subscribed to its stream; how many got it."""
        stream = json.loads(frame)["stream"]
        sent = 0
        for ws, subscribed in zip(self.connections, self.subscriptions, strict=True):
            if stream in subscribed and ws.state.name == "OPEN":
                await ws.send(frame.decode())
                sent += 1
        return sent

    async def send_raw(self, raw: str | bytes) -> None:
        """Send anything (text or binary frame) to the newest connection."""
        await self.connections[-1].send(raw)

    def drop(self) -> None:
        """Cut the newest connection without a closing handshake, as a network failure would."""
        self.connections[-1].transport.abort()
