"""Errors raised by the local servers."""

from __future__ import annotations


class ServerError(RuntimeError):
    """A local server could not be found, started or stopped."""


class BinaryNotFound(ServerError):
    """No usable server executable on PATH, in the usual places or in a fallback package."""


class ServerStartError(ServerError):
    """The server process exited or never became ready; `log_tail` holds its last output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(
            f"{message}\n--- server log (tail) ---\n{log_tail}" if log_tail else message
        )
        self.log_tail = log_tail
