"""The portal's own settings (GOVCLOUD_PORTAL_*), next to govcloud's (county, registry)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from portal.accounts import DEFAULT_TOKEN_DAYS, Limits
from portal.directory import Directory, parse_groups
from portal.errors import InvalidError
from portal.hardening import DEFAULT_MAX_BODY_BYTES
from portal.lifecycle import Role
from portal.oidc import Provider, parse_values


class PortalSettings(BaseSettings):
    """Settings read from GOVCLOUD_PORTAL_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="GOVCLOUD_PORTAL_", extra="ignore")

    session_hours: float = Field(default=8, gt=0, description="a session's absolute lifetime")
    idle_minutes: float = Field(default=30, gt=0, description="sessions end after this idle")
    max_failures_per_account: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)
    failure_window_minutes: float = Field(default=15, gt=0)
    delay_base_seconds: float = Field(default=30, gt=0, description="the first sign-in wait")
    password_max_age_days: float = Field(
        default=0, ge=0, description="local passwords expire after this many days (0: never)"
    )
    secure_cookies: bool = Field(
        default=False, description="mark cookies Secure (set when served over HTTPS)"
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1024, description="larger request bodies get 413"
    )
    break_glass_role: Role | None = Field(
        default=None,
        description="a role that may also approve and reject (every use audited); none: none",
    )
    token_days: float = Field(
        default=DEFAULT_TOKEN_DAYS, ge=0, description="API tokens expire after (0: never)"
    )
    signing_key_file: Path | None = Field(
        default=None, description="the signing key (default: portal-signing.key in the state dir)"
    )
    ldap_url: str | None = Field(
        default=None, description="ldaps://host or ldap://host (StartTLS); unset: no directory"
    )
    ldap_ca_file: Path | None = Field(default=None, description="CA of the directory's cert")
    ldap_bind_dn: str = Field(default="", description="the portal's service account")
    ldap_bind_password_file: Path | None = Field(default=None, description="its password")
    ldap_user_base: str = Field(default="", description="where people are")
    ldap_user_attribute: str = Field(default="uid", description="uid, or sAMAccountName (AD)")
    ldap_group_base: str = Field(default="", description="where groups are")
    ldap_groups: dict[str, str] = Field(
        default_factory=dict, description='{"group DN": "role[:department]"}, first match wins'
    )
    oidc_issuer: str | None = Field(
        default=None, description="the identity provider's issuer URL; unset: no OIDC"
    )
    oidc_client_id: str = Field(default="", description="the portal's client id there")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="the client secret (or ..._FILE); never on a command line"
    )
    oidc_client_secret_file: Path | None = Field(default=None, description="a file holding it")
    oidc_ca_file: Path | None = Field(default=None, description="CA of the provider's cert")
    oidc_redirect_url: str | None = Field(
        default=None, description="https://portal/login/oidc/callback (default: as requested)"
    )
    oidc_scope: str = Field(default="openid profile", description="scopes asked for")
    oidc_name_claim: str = Field(default="preferred_username", description="the account name")
    oidc_groups_claim: str = Field(default="groups", description="the claim listing groups")
    oidc_groups: dict[str, str] = Field(
        default_factory=dict, description='{"group": "role[:department]"}, first match wins'
    )
    oidc_mfa_amr: list[str] = Field(
        default_factory=list, description="amr values taken as a privileged role's 2nd factor"
    )
    oidc_mfa_acr: list[str] = Field(
        default_factory=list, description="acr values taken as a privileged role's 2nd factor"
    )
    pool_size: int = Field(default=10, ge=1, description="database connections per worker")
    cloud: str | None = Field(
        default=None,
        description="clouds.yaml entry to read live usage from (unset: no live usage)",
    )
    cloud_ttl_seconds: float = Field(default=60, gt=0, description="how long a reading is used")

    def directory(self) -> Directory | None:
        """The county's directory, when one is set (GOVCLOUD_PORTAL_LDAP_URL)."""
        if not self.ldap_url:
            return None
        if self.ldap_ca_file is None or self.ldap_bind_password_file is None:
            raise InvalidError(
                "GOVCLOUD_PORTAL_LDAP_URL needs GOVCLOUD_PORTAL_LDAP_CA_FILE (the directory's "
                "CA) and GOVCLOUD_PORTAL_LDAP_BIND_PASSWORD_FILE (the service account's password)"
            )
        return Directory(
            url=self.ldap_url,
            ca_file=self.ldap_ca_file,
            bind_dn=self.ldap_bind_dn,
            bind_password_file=self.ldap_bind_password_file,
            user_base=self.ldap_user_base,
            group_base=self.ldap_group_base,
            groups=tuple(parse_groups(self.ldap_groups)),
            user_attribute=self.ldap_user_attribute,
        )

    def oidc(self) -> Provider | None:
        """The county's identity provider, when one is set (GOVCLOUD_PORTAL_OIDC_ISSUER)."""
        if not self.oidc_issuer:
            return None
        if not self.oidc_client_id:
            raise InvalidError("GOVCLOUD_PORTAL_OIDC_ISSUER needs GOVCLOUD_PORTAL_OIDC_CLIENT_ID")
        if self.oidc_client_secret_file is not None:
            try:
                secret = self.oidc_client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise InvalidError(
                    f"GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET_FILE: {error.strerror}"
                ) from None
        elif self.oidc_client_secret is not None:
            secret = self.oidc_client_secret.get_secret_value()
        else:
            secret = ""
        if not secret:
            raise InvalidError(
                "GOVCLOUD_PORTAL_OIDC_ISSUER needs the client secret: "
                "GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET_FILE (a file, 0600) or ..._CLIENT_SECRET"
            )
        return Provider(
            issuer=self.oidc_issuer,
            client_id=self.oidc_client_id,
            client_secret=secret,
            groups=tuple(parse_groups(self.oidc_groups, "GOVCLOUD_PORTAL_OIDC_GROUPS")),
            groups_claim=self.oidc_groups_claim,
            name_claim=self.oidc_name_claim,
            scope=self.oidc_scope,
            mfa_amr=parse_values(self.oidc_mfa_amr),
            mfa_acr=parse_values(self.oidc_mfa_acr),
            ca_file=self.oidc_ca_file,
            redirect_url=self.oidc_redirect_url,
        )

    def limits(self) -> Limits:
        """Session lifetimes and sign-in limits."""
        return Limits(
            session_hours=self.session_hours,
            idle_minutes=self.idle_minutes,
            max_failures_per_account=self.max_failures_per_account,
            max_failures_per_address=self.max_failures_per_address,
            failure_window_minutes=self.failure_window_minutes,
            delay_base_seconds=self.delay_base_seconds,
            password_max_age_days=self.password_max_age_days,
        )
