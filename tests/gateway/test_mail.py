"""Sign-in mail over real SMTP (aiosmtpd on a free port)."""

from __future__ import annotations

import pytest

from devstack.ports import free_port
from gateway.mail import MailError, build_message, send_sign_in_link
from tests.gateway.stack import SmtpSink

pytest_plugins = ["tests.gateway.fixtures"]

LINK = "http://127.0.0.1:8000/api/v1/user/signin/post?token=abcdefghijklmnopqrstuvwxyz"


async def test_link_is_delivered(smtp: SmtpSink):
    await send_sign_in_link(smtp.url, "Exchange <no-reply@example.com>", "a@example.com", LINK,
                            900, 5.0)  # fmt: skip
    mail = smtp.wait_for("a@example.com")
    assert mail["From"] == "Exchange <no-reply@example.com>"
    body = mail.get_content()
    assert LINK in body and "15 minutes" in body


async def test_unreachable_server_raises_mail_error():
    with pytest.raises(MailError):
        await send_sign_in_link(f"smtp://127.0.0.1:{free_port()}", "x@example.com",
                                "a@example.com", LINK, 900, 2.0)  # fmt: skip


def test_message_has_no_header_injection_surface():
    msg = build_message("a@example.com", "x@example.com", LINK, 60)
    assert msg["Subject"] == "Your sign-in link"
    assert "1 minutes" in msg.get_content()
