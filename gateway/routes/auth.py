"""Sign-in by magic link, the session cookie, and sign-out.

The flow: ``POST /user/signup {email}`` mails a single-use link (15 min); following it
(``GET /user/signin/post?token=``) creates the engine account (idempotent), sets the
``authToken`` session cookie (HttpOnly JWT) and the readable ``csrfToken`` cookie, and redirects
to ``/``. The link is consumed only after the account exists, so an engine hiccup does not burn
it; GETDEL makes sure only one of two concurrent clicks signs in.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.messages import CREATE_ACCOUNT, SUCCESS
from gateway import ratelimit
from gateway.auth import (
    consume_magic_token,
    csrf_token,
    issue_jwt,
    issue_magic_token,
    normalize_email,
    peek_magic_token,
    revoke,
    user_key,
)
from gateway.engine_client import EngineTimeout, EngineUnavailable
from gateway.errors import ApiError, json_response
from gateway.mail import MailError, send_sign_in_link
from gateway.redis_pool import store_error
from gateway.schemas import SignupRequest, decode_body
from gateway.session import AUTH_COOKIE, CSRF_COOKIE, client_ip, guard

log = logging.getLogger("gateway.auth")
SENT = {"message": "If the address can receive mail, a sign-in link is on its way."}
SIGNIN_PATH = "/api/v1/user/signin/post"


async def signup(request: Request) -> Response:
    """Mail a sign-in link. Always 202 for a valid address: no account enumeration."""
    gw = request.app.state.gw
    cfg = gw.config
    await guard(request, auth=False)
    req = decode_body(await request.body(), SignupRequest)
    email = normalize_email(req.email)
    if email is None:
        raise ApiError(400, "validation_error", "not a valid email address", field="email")
    try:
        verdict = await ratelimit.check(
            gw.redis,
            [
                ratelimit.Limit("signup-ip", client_ip(request), cfg.rate_signup_ip_per_hour, 3600),
                ratelimit.Limit(
                    "signup-email", user_key(email), cfg.rate_signup_email_per_hour, 3600
                ),
            ],
        )
        if verdict.limited is not None:
            raise ApiError(
                429,
                "rate_limited",
                "too many sign-in mails; try again later",
                headers={"retry-after": str(verdict.retry_after)},
            )
        token = await issue_magic_token(gw.redis, email, cfg.magic_link_ttl_s)
    except RedisError as exc:
        raise store_error(exc, "token store") from None
    link = f"{cfg.public_url.rstrip('/')}{SIGNIN_PATH}?{urlencode({'token': token})}"
    if cfg.smtp_url:
        try:
            await send_sign_in_link(
                cfg.smtp_url, cfg.mail_from, email, link, cfg.magic_link_ttl_s, cfg.smtp_timeout_s
            )
        except MailError as exc:
            log.error("sign-in mail to %s failed: %s", email, exc)
            raise ApiError(503, "mail_unavailable", "could not send the sign-in mail") from None
    else:  # dev only: config refuses production without SMTP_URL
        log.warning("dev mode, no SMTP_URL: sign-in link for %s: %s", email, link)
    gw.metrics.counters["signin_mails_total"] += 1
    return json_response(SENT, 202)


async def signin(request: Request) -> Response:
    """Follow a sign-in link: create the account, set the session cookies, redirect to ``/``."""
    gw = request.app.state.gw
    cfg = gw.config
    await guard(request, auth=False)
    token = request.query_params.get("token", "")
    refused = ApiError(401, "invalid_link", "this sign-in link is invalid, used or expired")
    try:
        email = await peek_magic_token(gw.redis, token)
    except RedisError as exc:
        raise store_error(exc, "token store") from None
    if email is None:
        return _refuse_link(request, refused)
    # A fixed orderId per user makes account creation idempotent at the engine as well; "/" is
    # outside the Idempotency-Key alphabet, so no client request can ever reuse it.
    order_id = f"{user_key(email)}/create-account"
    try:
        response = await gw.engine.call(CREATE_ACCOUNT, email, {}, order_id)
    except (EngineTimeout, EngineUnavailable):
        raise ApiError(503, "engine_unavailable", "try the link again in a moment") from None
    if response.status != SUCCESS and "exist" not in response.message.lower():
        log.error("CREATE_ACCOUNT for %s refused: %s", email, response.message)
        raise ApiError(503, "engine_refused", "could not open the account")
    try:
        consumed = await consume_magic_token(gw.redis, token)
    except RedisError as exc:
        raise store_error(exc, "token store") from None
    if consumed != email:
        return _refuse_link(request, refused)
    jwt_token, session = issue_jwt(email, cfg.jwt_secret, cfg.jwt_ttl_s)
    redirect = RedirectResponse("/", status_code=303)
    redirect.set_cookie(
        AUTH_COOKIE, jwt_token, max_age=cfg.jwt_ttl_s, path="/",
        secure=cfg.cookie_secure, httponly=True, samesite="lax",
    )
    redirect.set_cookie(
        CSRF_COOKIE, csrf_token(session, cfg.jwt_secret), max_age=cfg.jwt_ttl_s, path="/",
        secure=cfg.cookie_secure, httponly=False, samesite="lax",
    )
    gw.metrics.counters["signins_total"] += 1
    return redirect


def _refuse_link(request: Request, refused: ApiError) -> Response:
    """A person who clicked a dead link lands on the page, which says why; API clients (no
    ``text/html`` in Accept) get the 401 JSON error."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/?signin=invalid", status_code=303)
    raise refused


async def logout(request: Request) -> Response:
    """Revoke the session token and clear both cookies."""
    gw = request.app.state.gw
    cfg = gw.config
    session = await guard(request, auth=True)
    assert session is not None
    try:
        await revoke(gw.redis, session)
    except RedisError as exc:
        raise store_error(exc, "session store") from None
    response = json_response({"message": "signed out"})
    for name, httponly in ((AUTH_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name, path="/", secure=cfg.cookie_secure, httponly=httponly, samesite="lax"
        )
    return response


async def me(request: Request) -> Response:
    """The signed-in user, the session's expiry and its CSRF token (for API clients and pages)."""
    cfg = request.app.state.gw.config
    session = await guard(request, auth=True)
    assert session is not None
    return json_response(
        {
            "email": session.email,
            "expiresAt": session.exp,
            "csrfToken": csrf_token(session, cfg.jwt_secret),
        }
    )


routes = [
    Route("/api/v1/user/signup", signup, methods=["POST"]),
    Route("/api/v1/auth", signup, methods=["POST"], name="auth"),
    Route(SIGNIN_PATH, signin, methods=["GET"]),
    Route("/api/v1/auth/verify", signin, methods=["GET"], name="verify"),
    Route("/api/v1/auth/logout", logout, methods=["DELETE"]),
    Route("/api/v1/auth/me", me, methods=["GET"]),
]
