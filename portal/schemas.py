"""What the JSON API takes and returns (and what the pages' forms are turned into).

A new request is one JSON object with `department`, `kind` and the kind's own fields; `kind`
picks the model (a discriminated union), so a field of another kind, a missing field or a value
out of range is a 422 naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from govcloud import constants
from govcloud.conventions import REQUESTABLE_FLAVORS
from govcloud.quota import QUOTA_RESOURCES, Amounts
from govcloud.registry.requests import RequestKind, RequestState
from portal.lifecycle import Action, Role
from portal.passwords import ACCOUNT_NAME_PATTERN, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# Upper bounds that catch typos (a county department never asks for more in one request).
MAX_SERVERS = 100
MAX_STORAGE_GB = 1_000_000
MAX_FLOATING_IPS = 256
MAX_HOSTS = 16_000
MAX_QUOTA_DELTA = 1_000_000
NETWORK_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


def _requestable(name: str) -> str:
    if name not in REQUESTABLE_FLAVORS:
        raise ValueError(f"unknown flavor; the flavors are {', '.join(REQUESTABLE_FLAVORS)}")
    return name


# The flavor table lives in govcloud.conventions; the schema lists it as an enum.
FlavorName = Annotated[
    str,
    Field(json_schema_extra={"enum": list(REQUESTABLE_FLAVORS)}),
    AfterValidator(_requestable),
]

DepartmentCode = Annotated[str, Field(pattern=constants.DEPARTMENT_CODE_PATTERN)]
Title = Annotated[str, Field(max_length=200)]
Justification = Annotated[str, Field(max_length=4000)]


class Input(BaseModel):
    """Base of API input: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _NewRequest(Input):
    department: DepartmentCode = Field(description="the department's code, e.g. jyj")
    title: Title = Field(default="", description="a short name for the request")
    justification: Justification = Field(default="", description="why it is needed (申请理由)")
    submit: bool = Field(
        default=True, description="submit at once (checked against the quota); false: a draft"
    )

    def amounts(self) -> Amounts:
        """What the request holds against the quota once submitted."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The kind's own fields, as stored with the request."""
        return self.model_dump(
            exclude={"department", "title", "justification", "submit", "kind"}, mode="json"
        )


class ComputeRequest(_NewRequest):
    """Servers of one flavor."""

    kind: Literal[RequestKind.COMPUTE]
    flavor: FlavorName
    count: Annotated[int, Field(ge=1, le=MAX_SERVERS)] = 1

    def amounts(self) -> Amounts:
        flavor = REQUESTABLE_FLAVORS[self.flavor]
        return Amounts(vcpu=flavor.vcpu * self.count, ram_gb=flavor.ram_gb * self.count)


class StorageRequest(_NewRequest):
    """Block storage: `volumes` volumes sharing `storage_gb` GB between them."""

    kind: Literal[RequestKind.STORAGE]
    storage_gb: Annotated[int, Field(ge=1, le=MAX_STORAGE_GB)]
    volumes: Annotated[int, Field(ge=1, le=MAX_SERVERS)] = 1

    def amounts(self) -> Amounts:
        return Amounts(storage_gb=self.storage_gb)


class FloatingIpRequest(_NewRequest):
    """Floating IPs (addresses reachable from the extranet)."""

    kind: Literal[RequestKind.FLOATING_IP]
    floating_ips: Annotated[int, Field(ge=1, le=MAX_FLOATING_IPS)] = 1

    def amounts(self) -> Amounts:
        return Amounts(floating_ips=self.floating_ips)


class NetworkRequest(_NewRequest):
    """A new network: a /64 IPv6 subnet and an IPv4 prefix sized for `hosts`, from the plan."""

    kind: Literal[RequestKind.NETWORK]
    name: Annotated[str, Field(pattern=NETWORK_NAME_PATTERN)]
    hosts: Annotated[int, Field(ge=1, le=MAX_HOSTS)] = 250

    def amounts(self) -> Amounts:
        return Amounts(networks=1)


class QuotaChangeRequest(_NewRequest):
    """A change of the department's quota: signed deltas per resource, at least one not zero."""

    kind: Literal[RequestKind.QUOTA_CHANGE]
    vcpu: Annotated[int, Field(ge=-MAX_QUOTA_DELTA, le=MAX_QUOTA_DELTA)] = 0
    ram_gb: Annotated[int, Field(ge=-MAX_QUOTA_DELTA, le=MAX_QUOTA_DELTA)] = 0
    storage_gb: Annotated[int, Field(ge=-MAX_QUOTA_DELTA, le=MAX_QUOTA_DELTA)] = 0
    floating_ips: Annotated[int, Field(ge=-MAX_QUOTA_DELTA, le=MAX_QUOTA_DELTA)] = 0
    networks: Annotated[int, Field(ge=-MAX_QUOTA_DELTA, le=MAX_QUOTA_DELTA)] = 0

    @model_validator(mode="after")
    def _not_empty(self) -> QuotaChangeRequest:
        if self.delta().is_zero():
            raise ValueError("a quota change needs at least one resource that is not 0")
        return self

    def delta(self) -> Amounts:
        """The change of the quota."""
        return Amounts.of({name: getattr(self, name) for name in QUOTA_RESOURCES})

    def amounts(self) -> Amounts:
        return self.delta()


NewRequest = Annotated[
    ComputeRequest | StorageRequest | FloatingIpRequest | NetworkRequest | QuotaChangeRequest,
    Field(discriminator="kind"),
]


class Reason(Input):
    """The body of an action; reject and withdraw need a reason."""

    reason: Annotated[str, Field(max_length=2000)] = ""


class AccountChange(Input):
    """The body of deactivate and reactivate: why (it goes into the audit log)."""

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class PasswordChange(Input):
    """A new password for the caller, with the current one."""

    current_password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]
    new_password: Annotated[
        str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    ]


class NewUser(Input):
    """An account to create (admins only)."""

    name: Annotated[str, Field(pattern=ACCOUNT_NAME_PATTERN)]
    display_name: Annotated[str, Field(max_length=128)] = ""
    role: Role
    department: DepartmentCode | None = None
    password: Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


# -- output ------------------------------------------------------------------------------------


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is written in UTC.
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class Output(BaseModel):
    """Base of API output."""

    model_config = ConfigDict(from_attributes=True)


class ResourceAmounts(Output):
    """An amount per resource."""

    vcpu: int
    ram_gb: int
    storage_gb: int
    floating_ips: int
    networks: int


class RequestOut(Output):
    """A request as the API shows it."""

    id: int
    department: str
    kind: RequestKind
    state: RequestState
    title: str
    justification: str
    spec: dict[str, Any]
    amounts: ResourceAmounts = Field(
        description="what the request holds against the quota (a quota change: the delta)"
    )
    requester: str
    reason: str | None
    allocation: dict[str, Any] | None = Field(
        description="for a network: the prefixes the network planner allocated"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    actions: list[Action] = Field(description="what the caller may do to it now")


class EventOut(Output):
    """One transition of a request, from its audit-log entry (`audit_seq`)."""

    at: UtcDatetime
    actor: str
    action: str
    from_state: RequestState | None
    to_state: RequestState
    reason: str | None
    audit_seq: int


class ResourceQuota(Output):
    """One resource of a department's quota."""

    resource: str
    quota: int
    used: int
    pending: int
    available: int
    observed: float | None = None


class QuotaOut(Output):
    """A department's quota and where it stands: `quota`, `used`, `pending` per resource."""

    department: str
    name: str
    quota: ResourceAmounts
    used: ResourceAmounts
    pending: ResourceAmounts
    available: ResourceAmounts
    resources: list[ResourceQuota]


class DepartmentOut(Output):
    """A department or township the caller can see."""

    code: str
    name: str
    kind: str


class UserOut(Output):
    """An account (never its password hash or token)."""

    id: int
    name: str
    display_name: str
    role: Role
    department: str | None
    active: bool
    has_token: bool
    source: str = Field(description="local (a password here) or ldap (the directory's)")
    second_factor: bool = Field(description="a TOTP authenticator is set up")
    deactivated_at: UtcDatetime | None = None


class TokenOut(Output):
    """A freshly issued API token: shown once, stored only as its hash."""

    name: str
    token: str
    expires_at: UtcDatetime | None = Field(default=None, description="null: never")


class SessionOut(Output):
    """A signed-in browser (its handle names it; the cookie is never shown)."""

    handle: str
    user: str
    address: str
    created_at: UtcDatetime
    last_seen_at: UtcDatetime
    expires_at: UtcDatetime


class Ended(Output):
    """How many sessions an action ended."""

    sessions_ended: int


class Difference(Output):
    """One resource where the ledger and the live cloud disagree."""

    resource: str
    ledger: float
    observed: float | None = Field(description="None when the cloud cannot tell")
    status: Literal["ok", "over", "under", "unknown"]


class UsageOut(Output):
    """A department's granted usage from the ledger next to what the live cloud shows."""

    department: str
    observed_at: float | None
    resources: list[Difference]
    flagged: bool
    cloud: str | None = Field(default=None, description="the cloud read (None: no cloud)")
    cloud_error: str | None = Field(default=None, description="why it could not be read")


class NetworkGrantOut(Output):
    """A granted network and its planned prefixes."""

    request_id: int
    name: str
    network: str
    ipv6: str | None
    ipv4: str | None


class GrantsOut(Output):
    """What a department has been granted: what the stacks add to the desired state."""

    department: str
    quota: ResourceAmounts
    quota_extra: ResourceAmounts
    granted: ResourceAmounts
    servers: dict[str, int]
    volumes: list[int]
    floating_ips: int
    networks: list[NetworkGrantOut]


class AuditOut(Output):
    """One audit-log entry."""

    seq: int
    at: UtcDatetime
    actor: str
    action: str
    object: str
    before: Any
    after: Any
    hash: str


class ProblemOut(Output):
    """An error: what went wrong, for people and scripts."""

    detail: Any


class ResourceOverview(ResourceQuota):
    """One resource of a department (or the county): the ledger (`used` is what it approved)
    and the live cloud (`observed`: None when the cloud cannot tell)."""

    status: Literal["ok", "over", "under", "unknown"]


class DepartmentOverview(Output):
    """One department's quota, approved, pending and live usage, and whether they differ."""

    department: str
    name: str
    kind: str
    resources: list[ResourceOverview]
    flagged: bool


class CapacityOut(Output):
    """One Placement resource class in one region, against the quotas handed out there."""

    region: str
    site: str | None = Field(description="the county's site in this region (primary, dr)")
    resource_class: str
    providers: int
    total: int
    reserved: int
    allocation_ratio: float
    allocatable: float = Field(description="(total - reserved) * allocation_ratio")
    used: int = Field(description="allocated by Placement, to every project of the cloud")
    quota: int | None = Field(
        description="the Keystone limits of the county's tenants in this region (None: unread)"
    )


class AwaitingOut(Output):
    """A request waiting for an approval, and for how long."""

    id: int
    department: str
    kind: RequestKind
    title: str
    state: RequestState
    requester: str
    approver: Role = Field(description="whose approval it waits for")
    since: UtcDatetime = Field(description="when it entered its state")
    age_seconds: int


class OverviewOut(Output):
    """The county at a glance for cloud ops and auditors."""

    county: str
    cloud: str | None = Field(description="the cloud the portal reads (None: no cloud)")
    cloud_error: str | None = Field(description="why the cloud could not be read, if so")
    observed_at: float | None = Field(description="when the live usage was read (Unix time)")
    capacity_at: float | None = Field(description="when Placement was read (Unix time)")
    departments: list[DepartmentOverview]
    totals: list[ResourceOverview]
    flagged: list[str] = Field(description="the departments whose live usage differs")
    capacity: list[CapacityOut]
    awaiting: list[AwaitingOut]


# -- migration onto the cloud (迁移上云) ----------------------------------------------------------
class RatePointOut(Output):
    """The on-cloud rate at one moment."""

    at: dt.datetime
    on_cloud: int
    eligible: int = Field(description="systems that may move (classified ones never do)")
    rate: float | None


class DepartmentRateOut(Output):
    """A department's on-cloud rate now, and its curve."""

    department: str
    name: str
    on_cloud: int
    eligible: int
    rate: float | None
    meets_target: bool | None
    history: list[RatePointOut]


class WaveOut(Output):
    """A planned wave and its progress."""

    wave: int
    systems: int
    on_cloud: int
    planned: tuple[dt.date, dt.date] | None = Field(description="its transfer window")
    began: dt.datetime | None = Field(description="when the first run on its systems began")
    ended: dt.datetime | None = Field(description="when the last run on its systems ended")


class MigrationSystemOut(Output):
    """A system's migration: its wave and where it is in the lifecycle."""

    system: str = Field(description="dept/system")
    department: str
    wave: int | None
    state: str
    mode: str | None
    downtime_s: float | None
    updated_at: dt.datetime


class MigrationOut(Output):
    """Migration onto the cloud: the on-cloud rate (上云率) against the year's target, over
    time, per department; the waves; the systems and their states."""

    county: str
    rate: float | None
    on_cloud: int
    eligible: int
    target: float = Field(description="the target in force this year, a fraction")
    target_year: int
    targets: dict[int, int] = Field(description="every year's target, in percent")
    meets_target: bool | None
    history: list[RatePointOut]
    departments: list[DepartmentRateOut]
    waves: list[WaveOut]
    systems: list[MigrationSystemOut]
