"""The local mailbox of `make up`, run as `make up` runs it: `python -m devstack.mailbox`."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from devstack.mailbox import latest_link, links, saved_mails
from devstack.ports import free_port
from devstack.process import ChildProcess

LINK = "http://127.0.0.1:8000/api/v1/user/signin/post?token=abc_DEF-123"


class Mailbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.log = folder.parent / "mailbox.log"
        with self.log.open("ab") as log:
            self.proc = ChildProcess(
                [sys.executable, "-m", "devstack.mailbox", "--port", str(self.port),
                 "--dir", str(folder)],
                log=log,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._answers():
            assert self.proc.alive(), self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(100).startswith(b"220")
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=10)

    def send(self, msg: EmailMessage) -> None:
        with self.smtp() as client:
            client.send_message(msg)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path / "mail")
    yield box
    box.proc.stop(10)


def _mail(to: str, body: str, subject: str = "Your sign-in link") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "CFD Exchange <no-reply@localhost>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def test_a_sign_in_mail_is_saved_and_its_link_printed(mailbox: Mailbox) -> None:
    mailbox.send(_mail("alice@example.com", f"Sign in:\n{LINK}\nIt expires in 15 minutes."))
    assert latest_link(mailbox.folder, "alice@example.com", contains="signin") == LINK
    assert len(saved_mails(mailbox.folder)) == 1
    out = mailbox.output()
    assert f"SIGN-IN LINK: {LINK}" in out
    assert "alice@example.com" in out


def test_link_for_prints_the_newest_sign_in_link_or_exits_1(mailbox: Mailbox) -> None:
    def link_for(to: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "devstack.mailbox", "--dir", str(mailbox.folder),
             "--link-for", to],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert link_for("alice@example.com").returncode == 1
    mailbox.send(_mail("alice@example.com", f"Home: http://127.0.0.1:8000/\nSign in: {LINK}"))
    found = link_for("alice@example.com")
    assert (found.returncode, found.stdout) == (0, LINK + "\n")
    assert link_for("bob@example.com").returncode == 1


def test_latest_link_is_the_newest_mail_to_that_address_only(mailbox: Mailbox) -> None:
    mailbox.send(_mail("alice@example.com", LINK + "1"))
    mailbox.send(_mail("bob@example.com", LINK + "2"))
    mailbox.send(_mail("alice@example.com", LINK + "3"))
    assert latest_link(mailbox.folder, "alice@example.com") == LINK + "3"
    assert latest_link(mailbox.folder, "bob@example.com") == LINK + "2"
    assert latest_link(mailbox.folder, "carol@example.com") is None
    # `since` skips mails that were already there, so an old link is never taken for a new one.
    assert latest_link(mailbox.folder, "bob@example.com", since=2) is None


def test_html_mail_links_are_found_without_quotes_or_tags(mailbox: Mailbox) -> None:
    msg = _mail("alice@example.com", "plain part without link")
    msg.add_alternative(f'<p><a href="{LINK}">Sign in</a></p>', subtype="html")
    mailbox.send(msg)
    assert latest_link(mailbox.folder, "alice@example.com") == LINK


def test_mail_without_links_is_kept_and_reported(mailbox: Mailbox) -> None:
    mailbox.send(_mail("alice@example.com", "hello, no link here"))
    assert len(saved_mails(mailbox.folder)) == 1
    assert latest_link(mailbox.folder, "alice@example.com") is None
    assert "(no links)" in mailbox.output()


def test_malformed_mail_bytes_are_kept_and_the_mailbox_goes_on(mailbox: Mailbox) -> None:
    raw = (
        b"To: alice@example.com\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\xfe\r\n"
    )
    with mailbox.smtp() as client:
        client.sendmail("x@localhost", ["alice@example.com"], raw)
    mailbox.send(_mail("alice@example.com", LINK))
    assert len(saved_mails(mailbox.folder)) == 2
    assert latest_link(mailbox.folder, "alice@example.com") == LINK
    assert mailbox.proc.alive()


def test_garbage_commands_get_errors_not_a_crash(mailbox: Mailbox) -> None:
    with socket.create_connection(("127.0.0.1", mailbox.port), timeout=5) as sock:
        sock.recv(200)
        sock.sendall(b"\x00\xff NOT SMTP AT ALL\r\n")
        assert sock.recv(200)[:1] == b"5"
        sock.sendall(b"DATA\r\n")  # DATA before HELO/MAIL/RCPT
        assert sock.recv(200)[:1] == b"5"
    mailbox.send(_mail("alice@example.com", LINK))
    assert latest_link(mailbox.folder, "alice@example.com") == LINK


def test_an_oversized_mail_is_refused_and_nothing_is_saved(mailbox: Mailbox) -> None:
    with mailbox.smtp() as client, pytest.raises(smtplib.SMTPException):
        client.sendmail("x@localhost", ["alice@example.com"], b"x" * (2 * 1024 * 1024))
    assert saved_mails(mailbox.folder) == []
    mailbox.send(_mail("alice@example.com", LINK))
    assert latest_link(mailbox.folder, "alice@example.com") == LINK


def test_sigterm_stops_it_cleanly(mailbox: Mailbox) -> None:
    mailbox.proc.stop(10)
    assert mailbox.proc.returncode() == 0
    assert "stopped after 0 mail(s)" in mailbox.output()


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "70000"], ["--port", "x"]])
def test_bad_flags_are_refused(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.mailbox", *args, "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_a_taken_port_is_reported_with_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devstack.mailbox", "--port", str(port), "--dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_links_strips_trailing_punctuation() -> None:
    msg = _mail("a@example.com", f"Go to {LINK}. Or ({LINK}), thanks")
    assert links(msg) == [LINK]
