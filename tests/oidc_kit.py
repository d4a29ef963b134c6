"""A real OpenID provider for the tests, built from Authlib's server components, on loopback.

It serves discovery (`/.well-known/openid-configuration`), its keys (`/jwks`), an authorization
endpoint that signs in whoever `provider.user` names without asking (with that person's
groups, `amr` and `acr`), and a token endpoint (client_secret_basic, PKCE S256 required) that
answers with RS256-signed ID tokens. It runs in a thread of the test process (an HTTP server
on a free port) and is shut down when the test ends.

To test the relying party's checks the provider can misbehave on purpose (`provider.tamper`):
another issuer or audience, an expired token, another nonce, or a signature by a key that is
not in its JWKS.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "govcloud-portal"
SCOPES = ("openid", "profile", "groups")


@dataclass
class Person:
    """Someone the provider knows."""

    name: str
    groups: list[str]
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str = ""

    @property
    def subject(self) -> str:
        return f"sub-{self.name}"


@dataclass
class Client:
    """The portal as the provider registered it (Authlib's ClientMixin)."""

    client_id: str
    client_secret: str = field(repr=False)  # Authlib's server logs the client at DEBUG

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.endswith("/login/oidc/callback")

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    """An authorization code and what it was given for (Authlib's AuthorizationCodeMixin)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.person.acr or None

    def get_amr(self) -> list[str] | None:
        return self.person.amr or None


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self._data = data
        self.payload = BasicOAuth2Payload(data)

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class Provider:
    """The provider's state: its keys, client, people, codes, and what it misbehaves in."""

    def __init__(self, issuer: str, client_secret: str) -> None:
        self.issuer = issuer
        self.client = Client(CLIENT_ID, client_secret)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.people: dict[str, Person] = {}
        self.user: str | None = None  # whom the authorization endpoint signs in
        self.codes: dict[str, Code] = {}
        self.tamper: dict[str, Any] = {}
        self.token_requests: list[dict[str, str]] = []
        self.server = self._server()

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "preferred_username", "name", "groups", "amr", "acr"],
        }

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                pass

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

            def create_oauth2_request(self, request: Any) -> Any:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Any:
                return status, body, headers

        class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

            def save_authorization_code(self, code: str, request: Any) -> None:
                payload = request.payload
                provider.codes[code] = Code(
                    code,
                    payload.client_id,
                    payload.redirect_uri,
                    request.scope,
                    request.user,
                    payload.data.get("nonce"),
                    payload.data.get("code_challenge"),
                    payload.data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class IdTokens(OpenIDCode):  # type: ignore[misc]
            def resolve_client_private_key(self, client: Client) -> Any:
                return provider.other_key if provider.tamper.get("key") else provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": "k1"}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                lifetime = -600 if provider.tamper.get("expired") else 300
                return {
                    "iss": provider.tamper.get("iss", provider.issuer),
                    "aud": [provider.tamper.get("aud", client.client_id)],
                    "iat": now - 700 if lifetime < 0 else now,
                    "exp": now + lifetime,
                }

            def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
                claims = super().get_authorization_code_claims(authorization_code)
                if "nonce" in provider.tamper:
                    claims["nonce"] = provider.tamper["nonce"]
                return dict(claims)

            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                return UserInfo(
                    sub=user.subject,
                    preferred_username=user.name,
                    name=f"{user.name} (IdP)",
                    groups=list(user.groups),
                )

        server = Server(scopes_supported=list(SCOPES))
        server.register_token_generator(
            "default", BearerTokenGenerator(lambda *_, **__: secrets.token_urlsafe(32))
        )
        server.register_grant(Grant, [CodeChallenge(required=True), IdTokens(require_nonce=True)])
        return server

    def authorize(self, uri: str, headers: Any, query: dict[str, str]) -> tuple[int, Any, Any]:
        request = _Request("GET", uri, headers, query)
        person = self.people.get(self.user or "")
        if person is None:
            return 403, {"error": "nobody is signed in at the provider"}, []
        grant = self.server.get_authorization_grant(request)
        return self.server.create_authorization_response(  # type: ignore[no-any-return]
            request, grant_user=person, grant=grant
        )

    def token(self, uri: str, headers: Any, form: dict[str, str]) -> tuple[int, Any, Any]:
        self.token_requests.append(dict(form))
        request = _Request("POST", uri, headers, form)
        return self.server.create_token_response(request)  # type: ignore[no-any-return]


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any, headers: Any) -> None:
            self.send_response(status)
            sent = {k.lower() for k, _ in headers}
            for key, value in headers:
                self.send_header(key, value)
            data = (json.dumps(body) if isinstance(body, dict) else str(body or "")).encode()
            if "content-type" not in sent:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            if parts.path == "/.well-known/openid-configuration":
                self._answer(200, provider.discovery(), [])
            elif parts.path == "/jwks":
                self._answer(200, provider.jwks(), [])
            elif parts.path == "/authorize":
                self._answer(*provider.authorize(provider.issuer + self.path, self.headers, query))
            else:
                self._answer(404, {"error": "not found"}, [])

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if urlsplit(self.path).path == "/token":
                self._answer(*provider.token(provider.issuer + self.path, self.headers, form))
            else:
                self._answer(404, {"error": "not found"}, [])

    return Handler


@pytest.fixture
def oidc_provider() -> Iterator[Provider]:
    """A provider on 127.0.0.1 knowing zhang (alpha-staff), li (alpha-heads), wang
    (cloud-ops) and chen (canteen: no mapped group)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    provider = Provider(f"http://127.0.0.1:{httpd.server_address[1]}", secrets.token_urlsafe(24))
    httpd.RequestHandlerClass = _handler(provider)  # the port is known now: the issuer too
    provider.people = {
        "zhang": Person("zhang", ["alpha-staff"]),
        "li": Person("li", ["alpha-heads"]),
        "wang": Person("wang", ["cloud-ops"]),
        "chen": Person("chen", ["canteen"]),
    }
    thread = threading.Thread(target=httpd.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
