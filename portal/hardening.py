"""What every response and every request body goes through before a route sees it.

- Security headers on every response (CSP, frame-ancestors, nosniff, Referrer-Policy), and
  `Cache-Control: no-store` on everything but the static files: pages and API answers carry
  account data and tokens that no shared cache or browser history should keep.
- A request body is refused (413) above `max_body_bytes`, whoever sends it and before any
  parsing, so a 10 MB title never reaches a validator, let alone comes back in an error.
- A JSON body is checked before FastAPI parses it: Python's json module accepts `NaN`,
  `Infinity` and numbers that overflow to infinity (`1e309`), and strings with lone
  surrogates (`"\\ud800"`), none of which is JSON (RFC 8259 §6, §8.2) or can be stored or
  answered; they are a 422 here, naming the problem.
- Cross-site writes: a state-changing request that a browser marks as coming from another
  origin (`Origin`, else `Sec-Fetch-Site`) is refused (403) unless it authenticates with a
  bearer token, which a browser never sends on its own. This backs the CSRF tokens up.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Far above any form or API body the portal takes (a justification is at most 4,000
# characters), far below what would cost memory.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC_PREFIX = "/static/"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # Quota bars set their width inline and the capacity chart is inline SVG with a
        # <style>: styles cannot run code, scripts stay limited to the portal's own file.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Referrer-Policy same-origin, not no-referrer: under no-referrer browsers send `Origin: null`
# with their own form posts, and the cross-site check below would refuse them.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
NO_STORE: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


class BadJsonError(ValueError):
    """A JSON body that Python would parse but that is not JSON (non-finite, lone surrogate)."""


def _refuse_constant(name: str) -> Any:
    raise BadJsonError(f"{name} is not a JSON number: send a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if value in {float("inf"), float("-inf")}:
        raise BadJsonError(f"{text[:32]} is too large for a number: send a finite number")
    return value


def _check_strings(value: Any) -> None:
    strings: Iterable[Any]
    if isinstance(value, str):
        strings = (value,)
    elif isinstance(value, dict):
        strings = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        strings = value
    else:
        return
    for item in strings:
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadJsonError(
                    "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): send valid Unicode"
                ) from None
        else:
            _check_strings(item)


def check_json(body: bytes) -> None:
    """Raise BadJsonError for a body Python parses but JSON does not allow; leave malformed
    JSON to FastAPI, which answers it with its own 422."""
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except BadJsonError:
        raise
    except ValueError:
        return
    _check_strings(parsed)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def cross_site(scope: Scope) -> bool:
    """True when a browser says this request comes from another site or origin."""
    origin = _header(scope, b"origin")
    if origin is not None:
        host = _header(scope, b"host")
        return origin == "null" or host is None or urlsplit(origin).netloc != host
    fetch_site = _header(scope, b"sec-fetch-site")
    return fetch_site is not None and fetch_site not in {"same-origin", "none"}


def _bearer(scope: Scope) -> bool:
    authorization = _header(scope, b"authorization") or ""
    return authorization.lower().startswith("bearer ")


async def _answer(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _invalid(message: str) -> list[dict[str, Any]]:
    # The shape of FastAPI's validation errors, so that clients read both the same way.
    return [{"loc": ["body"], "msg": message, "type": "value_error"}]


class HardeningMiddleware:
    """Security headers, the body limit, JSON that is JSON, and no cross-site writes."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, tls: bool = False
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        method = scope["method"]
        if method not in SAFE_METHODS and not _bearer(scope) and cross_site(scope):
            await _answer(send, 403, "a request from another site may not change anything here")
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        if method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send)
            return
        if "json" in (_header(scope, b"content-type") or "").lower():
            try:
                check_json(body)
            except BadJsonError as error:
                await _answer(send, 422, _invalid(str(error)))
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, send: Send) -> None:
        await _answer(
            send, 413, f"the request body is larger than {self.max_body_bytes} bytes: send less"
        )

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        extra = list(SECURITY_HEADERS)
        if not scope["path"].startswith(STATIC_PREFIX):
            extra.extend(NO_STORE)
        if self.tls:
            extra.append(HSTS)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {bytes(key).lower() for key, _ in message.get("headers", ())}
                message["headers"] = [
                    *message.get("headers", ()),
                    *(pair for pair in extra if pair[0] not in present),
                ]
            await send(message)

        return sending


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying
