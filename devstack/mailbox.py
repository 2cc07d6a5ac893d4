"""A local SMTP mailbox for `make up`: keeps every mail it receives and prints its links.

The gateway signs users in with magic links sent by mail. On a developer's machine there is no
mail server, so `make up` runs this one (`python -m devstack.mailbox`): a real SMTP server
(aiosmtpd) on 127.0.0.1 that accepts any mail, saves it as an .eml file in a folder, and
prints the recipient and every link in it, so a newcomer can click the sign-in link in the
terminal. It relays nothing anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.message
import email.policy
import itertools
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.smtp import SMTP, Envelope, Session

# Magic-link mails are a few KB; anything much larger is not ours to keep.
MAX_MAIL_BYTES = 1024 * 1024
LINK = re.compile(r"https?://[^\s\"'<>]+")
SUFFIX = ".eml"


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _text_parts(msg: email.message.EmailMessage) -> list[str]:
    texts: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            texts.append(str(part.get_content()))
        except (LookupError, ValueError, AttributeError):
            # Unknown charset or broken transfer encoding: read the raw payload.
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode("utf-8", errors="replace"))
    return texts


def links(msg: email.message.EmailMessage) -> list[str]:
    """Every distinct http(s) link in the mail's text parts, in order of appearance."""
    found: dict[str, None] = {}
    for text in _text_parts(msg):
        for match in LINK.finditer(text):
            found.setdefault(match.group(0).rstrip(".,;)"), None)
    return list(found)


def saved_mails(folder: str | os.PathLike[str]) -> list[Path]:
    """The .eml files in `folder`, oldest first."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.suffix == SUFFIX)


def latest_link(
    folder: str | os.PathLike[str], to: str, contains: str = "", since: int = 0
) -> str | None:
    """The first link containing `contains` in the newest saved mail to `to` whose index in
    `saved_mails(folder)` is at least `since`; None when there is none yet."""
    for path in reversed(saved_mails(folder)[since:]):
        msg = _parse(path.read_bytes())
        if to.lower() not in str(msg.get("To", "")).lower():
            continue
        for link in links(msg):
            if contains in link:
                return link
    return None


class MailboxHandler:
    """aiosmtpd handler: save each mail to `folder` and print who it is for and its links."""

    def __init__(self, folder: str | os.PathLike[str], out: TextIO | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.out = out if out is not None else sys.stdout
        self._counter = itertools.count(1)
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        path = self._save(raw)
        self.received += 1
        try:
            msg = _parse(raw)
            subject = str(msg.get("Subject", ""))
            found = links(msg)
        except Exception as exc:  # a mail we cannot read is still kept and reported
            subject, found = f"(unreadable mail: {type(exc).__name__})", []
        self._report(envelope.rcpt_tos, subject, found, path)
        return "250 Message accepted for delivery"

    def _save(self, raw: bytes) -> Path:
        # Written under a temporary name and renamed, so a reader never sees half a mail.
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):06d}"
        final = self.folder / f"{name}{SUFFIX}"
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(raw)
        partial.rename(final)
        return final

    def _report(self, rcpts: Sequence[str], subject: str, found: list[str], path: Path) -> None:
        bar = "=" * 72
        lines = [bar, f"MAIL to {', '.join(rcpts) or '(nobody)'}: {subject}"]
        sign_in = [link for link in found if "signin" in link]
        for link in sign_in or found:
            lines.append(f"  {'SIGN-IN LINK' if link in sign_in else 'link'}: {link}")
        if not found:
            lines.append("  (no links)")
        lines += [f"  saved as {path}", bar]
        print("\n".join(lines), file=self.out, flush=True)


def make_smtp(handler: MailboxHandler) -> SMTP:
    """One SMTP protocol instance for a new connection."""
    return SMTP(
        handler,
        data_size_limit=MAX_MAIL_BYTES,
        hostname="mailbox.localhost",
        ident="devstack mailbox",
        timeout=60,
    )


async def serve(host: str, port: int, folder: str | os.PathLike[str]) -> int:
    """Serve until SIGTERM or SIGINT; return the exit status."""
    handler = MailboxHandler(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: make_smtp(handler), host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"mailbox: SMTP on {host}:{port}; mails kept in {Path(folder).absolute()}; "
        "sign-in links are printed here",
        flush=True,
    )
    await stop.wait()
    server.close()
    await server.wait_closed()
    print(f"mailbox: stopped after {handler.received} mail(s)", flush=True)
    return 0


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.mailbox",
        description="A local SMTP server that keeps every mail and prints its links.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=2525, help="port to listen on")
    parser.add_argument("--dir", default=".stack/mail", help="folder the mails are saved in")
    parser.add_argument(
        "--link-for",
        metavar="EMAIL",
        help="do not serve: print the sign-in link of the newest mail to EMAIL kept in --dir "
        "and exit (1 when there is none)",
    )
    args: Any = parser.parse_args(argv)
    if args.link_for:
        link = latest_link(args.dir, args.link_for, contains="signin")
        if link is None:
            print(f"mailbox: no sign-in link for {args.link_for} in {args.dir}", file=sys.stderr)
            return 1
        print(link)
        return 0
    try:
        return asyncio.run(serve(args.host, args.port, args.dir))
    except OSError as exc:
        print(f"mailbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
