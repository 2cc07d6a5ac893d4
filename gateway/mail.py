"""Sign-in mail: builds the message and sends it over SMTP (aiosmtplib).

``SMTP_URL`` is ``smtp://[user:pass@]host[:port]`` (STARTTLS when the server offers it) or
``smtps://...`` (implicit TLS). With no SMTP_URL, dev mode logs the link instead; the link is
never returned in an HTTP response.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("gateway.mail")


class MailError(Exception):
    """The sign-in mail could not be handed to the SMTP server."""


def build_message(to: str, sender: str, link: str, ttl_s: int) -> EmailMessage:
    """The sign-in mail for ``to`` carrying ``link``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Your sign-in link"
    minutes = max(1, ttl_s // 60)
    msg.set_content(
        f"Sign in to the CFD exchange with this link:\n\n{link}\n\n"
        f"It works once and expires in {minutes} minutes. "
        "If you did not ask for it, ignore this mail.\n"
    )
    return msg


async def send_sign_in_link(
    smtp_url: str, sender: str, to: str, link: str, ttl_s: int, timeout_s: float
) -> None:
    """Send the sign-in link; raise ``MailError`` when the server refuses or is unreachable."""
    parts = urlsplit(smtp_url)
    implicit_tls = parts.scheme == "smtps"
    port = parts.port or (465 if implicit_tls else 25)
    message = build_message(to, sender, link, ttl_s)
    try:
        await aiosmtplib.send(
            message,
            hostname=parts.hostname or "localhost",
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=None if not implicit_tls else False,
            timeout=timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailError(f"SMTP delivery failed: {exc}") from None
