"""Sign-in with the county's identity provider (统一身份认证, OpenID Connect).

Authlib (its requests client and its ID-token claims) with joserfc (its JOSE library, by the
same maintainer) is the relying party; nothing of the protocol is written here by hand:

- the authorization code flow with PKCE (S256), `state` and `nonce`, all three random per
  sign-in and kept in a cookie signed with the portal's key, bound to the browser that began
  it (HttpOnly, SameSite=Lax, ten minutes; `__Host-` over TLS) and used once;
- the provider's endpoints from its discovery document (`.well-known/openid-configuration`),
  whose `issuer` must be the configured one exactly;
- the ID token checked in full: its signature against the provider's JWKS (RS256 or the
  algorithms the provider announces, never `none` or a shared secret), `iss`, `aud` (this
  client), `azp`, `exp`, `iat` and `nonce`, and `at_hash` when present;
- HTTPS to the provider, its certificate checked (against `ca_file` when the county runs its
  own CA); plain HTTP only on loopback, for the tests.

Groups (the `groups` claim by default) map to a portal role and department as for LDAP
(`GOVCLOUD_PORTAL_OIDC_GROUPS`, the same format, first match wins). An account (source `oidc`)
is made at the first sign-in and follows the provider at every sign-in; one whose groups no
longer map is refused and deactivated there and then. The provider cannot be asked who it has
removed: removal takes effect at the next sign-in, or when the portal's sessions end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jws import JWSRegistry
from sqlalchemy.orm import Session

from govcloud.model import County
from portal import accounts, directory
from portal.directory import Mapping, Person
from portal.errors import InvalidError, UnreachableDirectoryError
from portal.lifecycle import PRIVILEGED_ROLES

OIDC_SOURCE = "oidc"
SIGN_IN_ACTOR = "oidc:sign-in"
TIMEOUT_SECONDS = 10
FLOW_SECONDS = 600  # a sign-in begun more than ten minutes ago is begun again
METADATA_SECONDS = 3600  # discovery and keys are read again after an hour (or an unknown kid)
# An ID token signed by an unknown key has the keys read again, at most once a minute: forged
# tokens must not make the portal hammer the provider.
REREAD_SECONDS = 60
LEEWAY_SECONDS = 60  # clock skew allowed on exp and iat
# Asymmetric signatures only: a shared-secret (HS*) ID token is one the client could forge.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class SignInRefusedError(Exception):
    """The provider's answer does not sign anyone in (the reason is for the server log only)."""


def check_transport(url: str, setting: str) -> None:
    """HTTPS, or HTTP on loopback only (InvalidError otherwise)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise InvalidError(f"{setting}: {url[:200]!r} must be an https:// URL (http only on loopback)")


@dataclass(frozen=True)
class Flow:
    """One sign-in under way: what the callback must find again."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    began: float

    def seal(self, key: bytes) -> str:
        """The flow as a cookie value, signed with the portal's key."""
        body = json.dumps(
            [self.state, self.nonce, self.verifier, self.next_path, self.began],
            separators=(",", ":"),
        ).encode()
        text = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{text}.{_mac(key, text)}"

    @classmethod
    def unseal(cls, key: bytes, cookie: str | None) -> Flow | None:
        """The flow a cookie carries, when the portal signed it and it is recent; else None."""
        if not cookie:
            return None
        text, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac.encode(), _mac(key, text).encode()):
            return None
        try:
            state, nonce, verifier, next_path, began = json.loads(
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            )
        except ValueError:
            return None
        if not 0 <= time.time() - float(began) <= FLOW_SECONDS:
            return None
        return cls(str(state), str(nonce), str(verifier), str(next_path), float(began))


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, f"oidc-flow:{text}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Claims:
    """What a checked ID token says of someone."""

    subject: str
    name: str
    display_name: str
    groups: tuple[str, ...]
    amr: tuple[str, ...]
    acr: str


@dataclass
class Provider:
    """The county's OpenID provider, and this portal as its client."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    groups: tuple[Mapping, ...]
    groups_claim: str = "groups"
    name_claim: str = "preferred_username"
    display_claim: str = "name"
    scope: str = "openid profile"
    # Authentication methods (`amr`) or context classes (`acr`) that the county accepts as
    # the second factor of a privileged role; none by default: the portal's TOTP then.
    mfa_amr: frozenset[str] = frozenset()
    mfa_acr: frozenset[str] = frozenset()
    ca_file: Path | None = None
    redirect_url: str | None = None
    _metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    _keys: dict[str, Any] = field(default_factory=dict, repr=False)
    _read_at: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        check_transport(self.issuer, "GOVCLOUD_PORTAL_OIDC_ISSUER")
        if self.redirect_url:
            check_transport(self.redirect_url, "GOVCLOUD_PORTAL_OIDC_REDIRECT_URL")

    def _client(self, redirect_uri: str = "") -> OAuth2Session:
        client = OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=self.scope,
            redirect_uri=redirect_uri or None,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106  (a method's name)
        )
        client.verify = str(self.ca_file) if self.ca_file else True
        client.trust_env = False  # no proxy or netrc from the environment
        return client

    def _get(self, url: str) -> dict[str, Any]:
        check_transport(url, "the provider's discovery document")
        with self._client() as client:
            answer = client.get(
                url, timeout=TIMEOUT_SECONDS, allow_redirects=False, withhold_token=True
            )
        if answer.status_code != 200:
            raise UnreachableDirectoryError(f"{url}: HTTP {answer.status_code}")
        found = answer.json()
        if not isinstance(found, dict):
            raise UnreachableDirectoryError(f"{url}: not a JSON object")
        return found

    def metadata(self, *, fresh: bool = False) -> dict[str, Any]:
        """The discovery document (cached for an hour), its issuer checked."""
        with self._lock:
            if fresh or not self._metadata or time.monotonic() - self._read_at > METADATA_SECONDS:
                try:
                    found = self._get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                    if found.get("issuer") != self.issuer:
                        raise UnreachableDirectoryError(
                            f"the provider at {self.issuer} names another issuer"
                        )
                    keys = self._get(str(found["jwks_uri"]))
                except (OSError, ValueError, KeyError) as error:
                    raise UnreachableDirectoryError(
                        f"the identity provider {self.issuer}: {type(error).__name__}"
                    ) from None
                self._metadata, self._keys = found, keys
                self._read_at = time.monotonic()
            return self._metadata

    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, Flow]:
        """Where to send the browser, and the flow its cookie keeps."""
        endpoint = str(self.metadata()["authorization_endpoint"])
        check_transport(endpoint, "the provider's authorization endpoint")
        flow = Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),
            next_path=next_path,
            began=time.time(),
        )
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=flow.state, code_verifier=flow.verifier, nonce=flow.nonce
            )
        return str(url), flow

    def finish(self, redirect_uri: str, flow: Flow, *, code: str, state: str) -> Claims:
        """Trade the code for tokens and check the ID token (SignInRefusedError when anything
        is wrong, UnreachableDirectoryError when the provider does not answer)."""
        if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise SignInRefusedError("the state is not the one this browser was given")
        if not code:
            raise SignInRefusedError("no code")
        metadata = self.metadata()
        endpoint = str(metadata["token_endpoint"])
        check_transport(endpoint, "the provider's token endpoint")
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=flow.verifier,
                    timeout=TIMEOUT_SECONDS,
                )
        except OSError as error:
            raise UnreachableDirectoryError(
                f"the identity provider {self.issuer}: {type(error).__name__}"
            ) from None
        except Exception as error:  # authlib's OAuth2Error: the provider refused the code
            raise SignInRefusedError(f"the token request: {type(error).__name__}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefusedError("no ID token in the provider's answer")
        return self._check(id_token, flow.nonce, str(token.get("access_token") or ""))

    def _check(self, id_token: str, nonce: str, access_token: str) -> Claims:
        metadata = self.metadata()
        allowed = [
            a
            for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if a in ALGORITHMS
        ]
        if not allowed:  # an empty list would mean joserfc's defaults: never that
            raise SignInRefusedError("the provider announces no asymmetric signing algorithm")
        try:
            try:
                decoded = self._decode(id_token, allowed)
            except JoseError:
                if time.monotonic() - self._read_at < REREAD_SECONDS:
                    raise
                self.metadata(fresh=True)  # the keys rotated since the last read: once more
                decoded = self._decode(id_token, allowed)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.client_id},
                    "nonce": {"essential": True},
                },
                {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
            )
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, ValueError, TypeError) as error:
            raise SignInRefusedError(f"the ID token: {error}") from None
        name = claims.get(self.name_claim)
        if not isinstance(name, str) or not name:
            raise SignInRefusedError(f"the ID token has no {self.name_claim!r} claim")
        groups = claims.get(self.groups_claim) or []
        amr = claims.get("amr") or []
        return Claims(
            subject=str(claims["sub"]),
            name=name,
            display_name=str(claims.get(self.display_claim) or name),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
            amr=tuple(str(a) for a in amr) if isinstance(amr, list) else (),
            acr=str(claims.get("acr") or ""),
        )

    def _decode(self, id_token: str, allowed: list[str]) -> jwt.Token:
        keys = KeySet.import_key_set(cast("KeySetSerialization", self._keys))
        return jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=allowed))

    def person(self, claims: Claims) -> Person | None:
        """The portal role the claims' groups map to (first match wins), or None."""
        held = {g.lower() for g in claims.groups}
        mapping = next((m for m in self.groups if m.group_dn in held), None)
        if mapping is None:
            return None
        return Person(
            claims.subject, claims.name, claims.display_name, mapping.role, mapping.department
        )

    def asserted_factor(self, claims: Claims) -> str | None:
        """How the provider says it checked a second factor, when the county accepts it."""
        amr = sorted(self.mfa_amr.intersection(claims.amr))
        if amr:
            return "amr:" + ",".join(amr)
        if claims.acr and claims.acr in self.mfa_acr:
            return f"acr:{claims.acr}"
        return None


def parse_values(text: Iterable[str]) -> frozenset[str]:
    """A set of `amr` or `acr` values, blanks dropped."""
    return frozenset(v.strip() for v in text if v.strip())


def sign_in(
    session: Session,
    county: County,
    provider: Provider,
    claims: Claims,
    *,
    address: str,
    limits: accounts.Limits,
) -> accounts.SignedIn | None:
    """The account of someone the provider signed in, made or updated; a session for it.

    None (the failure audited) when their groups map to no role: an account they had is
    deactivated then, as the directory sync does for LDAP."""
    person = provider.person(claims)
    if person is None:
        user = directory.existing(session, claims.name)
        if user is not None and user.source == OIDC_SOURCE and user.active:
            accounts.deactivate(
                session, by=SIGN_IN_ACTOR, user=user, reason="the provider maps it to no role"
            )
        accounts.record_failure(
            session, name=claims.name, address=address, action="portal.login.failed"
        )
        return None
    user = directory.provision(session, county, person, source=OIDC_SOURCE, actor=SIGN_IN_ACTOR)
    if not user.active:  # deactivated here: the provider does not reactivate it
        accounts.record_failure(
            session, name=claims.name, address=address, action="portal.login.failed"
        )
        return None
    factor = provider.asserted_factor(claims) if person.role in PRIVILEGED_ROLES else None
    return accounts.open_session(session, user, address=address, limits=limits, factor=factor)
