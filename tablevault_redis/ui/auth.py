"""Who may use the dashboard: the access token, its cookie, and the CSRF rules.

- Every route except ``/static/*`` needs the token, sent as ``Authorization: Bearer
  <token>`` or as the cookie that opening the printed link (``/?token=<token>``)
  sets. Missing or wrong: 401, and nothing is read or changed.
- The cookie is ``HttpOnly`` and ``SameSite=Strict``: another site's page cannot
  make the browser send it. A state-changing request (anything but GET/HEAD) that
  relies on the cookie must also carry the ``X-TableVault-UI`` header, which a
  cross-site form cannot send and a cross-site script cannot add without a CORS
  preflight this server never answers; and its ``Origin``, when sent, must be this
  server. Otherwise: 403, nothing changed.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

CSRF_HEADER = "X-TableVault-UI"
_OPEN_PREFIXES = ("/static/",)
_SAFE_METHODS = ("GET", "HEAD")


def new_token() -> str:
    """A random access token (256 bits, URL-safe)."""
    return secrets.token_hex(24)


def cookie_name(port: int) -> str:
    """One cookie per port: browsers share cookies across the ports of a host."""
    return f"tablevault_ui_{port}" if port else "tablevault_ui"


def _refuse(request: Request, status: int, message: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if request.url.path.startswith("/api/"):
        body = json.dumps({"error": message, "status": status})
        return Response(body, status, headers, media_type="application/json")
    return PlainTextResponse(f"{status}: {message}\n", status, headers)


class TokenGuard:
    """ASGI middleware applying the rules of this module to every HTTP request."""

    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(port)

    def _valid(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(
            str(candidate).encode("utf-8", "replace"), self.token.encode()
        )

    def credentials(self, request: Request) -> tuple[str | None, bool]:
        """(how the request authenticated: "bearer", "cookie" or None, whether any
        credential was offered at all)."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _sep, value = header.partition(" ")
            ok = scheme.lower() == "bearer" and self._valid(value.strip())
            return ("bearer" if ok else None), True
        cookie = request.cookies.get(self.cookie)
        if cookie is not None:
            return ("cookie" if self._valid(cookie) else None), True
        return None, False

    def _login(self, request: Request) -> Response:
        """``GET <page>?token=...``: set the cookie and drop the token from the URL."""
        if not self._valid(request.query_params.get("token")):
            return _refuse(request, 401, "wrong token: open the link the server printed")
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
        return response

    def _cross_site(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin:
            return False
        return urlsplit(origin).netloc != request.headers.get("host", "")

    def check(self, request: Request) -> Response | None:
        """None to let the request through, else the refusal to send."""
        if request.url.path.startswith(_OPEN_PREFIXES):
            return None
        if request.method in _SAFE_METHODS and "token" in request.query_params:
            return self._login(request)
        via, offered = self.credentials(request)
        if via is None:
            why = "wrong token" if offered else "the access token is required"
            return _refuse(request, 401, f"{why} (Authorization: Bearer <token>)")
        if request.method not in _SAFE_METHODS:
            if self._cross_site(request):
                return _refuse(request, 403, "cross-site request refused")
            if via == "cookie" and request.headers.get(CSRF_HEADER) is None:
                return _refuse(request, 403, f"a cookie-authenticated {request.method} "
                               f"needs the {CSRF_HEADER} header")  # fmt: skip
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.check(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def bearer(token: str) -> dict[str, Any]:
    """Headers for a client of the API."""
    return {"Authorization": f"Bearer {token}"}
