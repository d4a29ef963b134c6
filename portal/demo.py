"""Demo accounts and sample requests for `make demo` (`govcloud portal demo`).

The accounts get fresh random passwords on every run (printed once); the sample requests are
made only the first time, through the same service calls the pages use, so they are in the
audit log like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govcloud.model import County, DepartmentKind
from govcloud.registry.tables import PortalRequest, PortalUser
from portal import accounts, passwords, service
from portal.errors import PortalError
from portal.lifecycle import Action, Actor, Role
from portal.schemas import (
    ComputeRequest,
    FloatingIpRequest,
    NetworkRequest,
    NewRequest,
    QuotaChangeRequest,
    StorageRequest,
)

PREFERRED_DEPARTMENT = "jyj"  # 县教育局 in the sample county
OPS_ACCOUNT = "wang.ops"  # the demo's cloud ops approver


@dataclass(frozen=True)
class DemoAccount:
    """A demo account and its password (shown once)."""

    name: str
    display_name: str
    role: Role
    department: str | None
    password: str


@dataclass(frozen=True)
class DemoRequest:
    """A sample request and the state it was left in."""

    id: int
    title: str
    state: str


def _department(county: County) -> str:
    codes = [d.code for d in county.departments]
    if PREFERRED_DEPARTMENT in codes:
        return PREFERRED_DEPARTMENT
    departments = [d for d in county.departments if d.kind is DepartmentKind.DEPARTMENT]
    return (departments or county.departments)[0].code


def _cast(department: str) -> list[tuple[str, str, Role, str | None]]:
    return [
        (f"zhang.{department}", "张科员", Role.REQUESTER, department),
        (f"li.{department}", "李科长", Role.DEPT_APPROVER, department),
        (OPS_ACCOUNT, "王工（云平台运维）", Role.OPS_APPROVER, None),
        ("zhao.audit", "赵审计", Role.AUDITOR, None),
        ("admin", "系统管理员", Role.ADMIN, None),
        ("sun.security", "孙安全（安全管理员）", Role.SECURITY_ADMIN, None),
    ]


def ensure_accounts(session: Session, county: County, *, by: str) -> list[DemoAccount]:
    """Create the demo accounts, or give the existing ones new passwords."""
    department = _department(county)
    made = []
    for name, display, role, home in _cast(department):
        password = passwords.generate(name)
        user = session.execute(
            select(PortalUser).where(PortalUser.name == name)
        ).scalar_one_or_none()
        if user is None:
            accounts.create_user(
                session,
                county,
                by=by,
                name=name,
                role=role,
                department=home,
                password=password,
                display_name=display,
            )
        else:
            accounts.set_password(session, by=by, user=user, password=password)
        made.append(DemoAccount(name, display, role, home, password))
    return made


def _actor(session: Session, name: str) -> Actor:
    return accounts.actor_of(accounts.find_user(session, name))


def sample_requests(session: Session, county: County) -> list[DemoRequest]:
    """A few requests in different states (only when the demo requester has none yet)."""
    department = _department(county)
    staff = _actor(session, f"zhang.{department}")
    head = _actor(session, f"li.{department}")
    ops = _actor(session, OPS_ACCOUNT)
    existing = session.execute(
        select(func.count())
        .select_from(PortalRequest)
        .where(PortalRequest.requester_id == staff.user_id)
    ).scalar_one()
    if existing:
        return []

    def step(request_id: int, who: Actor, action: Action, reason: str = "") -> None:
        service.transition(session, county, who, request_id, action=action, reason=reason)

    plans: list[tuple[NewRequest, list[tuple[Any, ...]]]] = [
        (
            ComputeRequest(
                department=department,
                kind="compute",
                flavor="m1.medium",
                count=2,
                title="招生报名系统应用服务器",
                justification="义务教育招生报名高峰期扩容",
            ),
            # Approved, not deployed: it is marked deployed once the cloud is seen to hold
            # it, after the stacks are deployed (docs/portal.md, "Requests and their lifecycle").
            [(head, Action.APPROVE), (ops, Action.APPROVE)],
        ),
        (
            NetworkRequest(
                department=department,
                kind="network",
                name="exam-video",
                hosts=200,
                title="考场视频监控网络",
                justification="标准化考场视频巡查，需独立网段",
            ),
            [(head, Action.APPROVE), (ops, Action.APPROVE)],
        ),
        (
            QuotaChangeRequest(
                department=department,
                kind="quota_change",
                vcpu=16,
                ram_gb=32,
                title="教育资源平台配额扩容",
                justification="教育资源公共服务平台迁移上云",
            ),
            [(head, Action.APPROVE)],
        ),
        (
            StorageRequest(
                department=department,
                kind="storage",
                storage_gb=500,
                volumes=2,
                title="学籍档案扫描件存储",
                justification="纸质学籍档案数字化",
            ),
            [],
        ),
        (
            FloatingIpRequest(
                department=department,
                kind="floating_ip",
                floating_ips=1,
                title="对外发布测试地址",
                justification="临时测试",
            ),
            [(head, Action.REJECT, "测试系统不对外发布，请走政务外网内部访问")],
        ),
        (
            StorageRequest(
                department=department,
                kind="storage",
                storage_gb=100,
                title="备份空间（草稿）",
                submit=False,
            ),
            [],
        ),
    ]
    made = []
    for new, steps in plans:
        row = service.create(session, county, staff, new)
        for who, action, *reason in steps:
            try:
                with session.begin_nested():
                    step(row.id, who, action, *reason)
            except PortalError:
                break  # e.g. no room in the network plan: leave the request where it is
        made.append(DemoRequest(row.id, row.title, row.state))
    return made
