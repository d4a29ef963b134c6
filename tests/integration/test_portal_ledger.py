"""The portal's ledger on SQLite and PostgreSQL: the lifecycle's effect on quotas, the audit
trail of every transition, network allocation by the planner, and concurrent submissions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from portal_kit import Portal
from sqlalchemy import select

from desired import grants, network_plan
from govcloud.quota import Amounts
from govcloud.registry import audit_log
from govcloud.registry.tables import AuditEntry, IpamAllocation, PortalLedger
from network.plan import PlanError
from portal import service
from portal.errors import QuotaExceededError
from portal.schemas import StorageRequest


def standing(portal: Portal, department: str = "alpha") -> dict[str, dict[str, int]]:
    body = portal.get("ops", f"/departments/{department}/quota").json()
    return {part: body[part] for part in ("quota", "used", "pending")}


def check_books(portal: Portal, department: str = "alpha") -> None:
    """The ledger row agrees with the requests, and the audit chain holds."""
    with portal.context.sessions() as session:
        row = session.get(PortalLedger, department)
        again = service.recompute(session, department)
        if row is not None:
            for part in ("extra", "used", "pending"):
                stored = Amounts.of({n: getattr(row, f"{part}_{n}") for n in Amounts().as_dict()})
                assert stored == getattr(again, part), part
        report = audit_log.verify(session)
        assert report.ok, report.message


def test_the_lifecycle_moves_the_ledger_and_audits_every_step(portal: Portal) -> None:
    created = portal.submit("req-a", kind="compute", flavor="m1.medium", count=2)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert standing(portal)["pending"]["vcpu"] == 4
    assert standing(portal)["pending"]["ram_gb"] == 8

    assert portal.post("head-a", f"/requests/{rid}/approve").json()["state"] == "dept_approved"
    assert standing(portal)["pending"]["vcpu"] == 4
    assert portal.post("ops", f"/requests/{rid}/approve").json()["state"] == "ops_approved"
    assert (standing(portal)["used"]["vcpu"], standing(portal)["pending"]["vcpu"]) == (4, 0)
    assert portal.post("ops", f"/requests/{rid}/deploy").json()["state"] == "deployed"
    assert portal.post("req-a", f"/requests/{rid}/accept").json()["state"] == "in_use"
    asked = portal.post("req-a", f"/requests/{rid}/decommission", {"reason": "system retired"})
    assert asked.json()["state"] == "decommission_requested"
    assert standing(portal)["used"]["vcpu"] == 4
    assert portal.post("ops", f"/requests/{rid}/approve").json()["state"] == "decommissioned"
    assert standing(portal)["used"]["vcpu"] == 0
    check_books(portal)

    history = portal.get("req-a", f"/requests/{rid}/history").json()
    assert [(e["action"], e["to_state"]) for e in history] == [
        ("submit", "submitted"),
        ("approve", "dept_approved"),
        ("approve", "ops_approved"),
        ("deploy", "deployed"),
        ("accept", "in_use"),
        ("decommission", "decommission_requested"),
        ("approve", "decommissioned"),
    ]
    with portal.context.sessions() as session:
        for event in history:
            entry = session.get(AuditEntry, event["audit_seq"])
            assert entry is not None
            assert (entry.action, entry.object) == (f"request.{event['action']}", f"request/{rid}")
            assert entry.after["state"] == event["to_state"]
            assert entry.actor == f"portal:{event['actor']}"


@pytest.mark.parametrize(
    ("who", "action", "state"),
    [("head-a", "reject", "rejected"), ("req-a", "withdraw", "withdrawn")],
)
def test_rejecting_or_withdrawing_releases_the_reservation(
    portal: Portal, who: str, action: str, state: str
) -> None:
    rid = portal.submit("req-a", kind="storage", storage_gb=60).json()["id"]
    assert standing(portal)["pending"]["storage_gb"] == 60
    refused = portal.post(who, f"/requests/{rid}/{action}", {"reason": "not this year"})
    assert refused.json()["state"] == state and refused.json()["reason"] == "not this year"
    assert standing(portal)["pending"]["storage_gb"] == 0
    # The 60 GB are free again: a request for the whole quota (100 GB) now fits.
    assert portal.submit("req-a", kind="storage", storage_gb=100).status_code == 201
    check_books(portal)


def test_drafts_reserve_nothing_until_submitted(portal: Portal) -> None:
    draft = portal.submit("req-a", kind="storage", storage_gb=80, submit=False).json()
    assert draft["state"] == "draft" and standing(portal)["pending"]["storage_gb"] == 0
    assert portal.submit("req-a", kind="storage", storage_gb=30).status_code == 201
    refused = portal.post("req-a", f"/requests/{draft['id']}/submit")
    assert refused.status_code == 409
    assert refused.json()["detail"]["shortfalls"] == [
        {"resource": "storage_gb", "requested": 80, "available": 70}
    ]
    assert portal.get("req-a", f"/requests/{draft['id']}").json()["state"] == "draft"
    check_books(portal)


def test_quota_changes_apply_at_ops_approval_and_never_cut_below_usage(portal: Portal) -> None:
    assert portal.submit("req-a", kind="floating_ip", floating_ips=2).status_code == 409
    raise_ = portal.submit("req-a", kind="quota_change", floating_ips=3, vcpu=-2).json()
    assert standing(portal)["quota"]["floating_ips"] == 1  # not before ops approve
    assert portal.approve_twice(raise_["id"]).json()["state"] == "ops_approved"
    assert standing(portal)["quota"]["floating_ips"] == 4
    assert standing(portal)["quota"]["vcpu"] == 6
    assert portal.submit("req-a", kind="floating_ip", floating_ips=2).status_code == 201

    cut = portal.submit("req-a", kind="quota_change", floating_ips=-3)
    assert cut.status_code == 409  # 2 pending + 0 used, quota 4: at most -2
    assert cut.json()["detail"]["shortfalls"][0]["resource"] == "floating_ips"
    with portal.context.sessions() as session:
        found = grants.read_grants(portal.county, session).departments
        assert found["alpha"].quota_extra == Amounts(vcpu=-2, floating_ips=3)
        assert found["alpha"].quota.floating_ips == 4
    check_books(portal)


def test_a_quota_cut_is_checked_again_at_ops_approval(portal: Portal) -> None:
    cut = portal.submit("req-a", kind="quota_change", storage_gb=-50).json()
    assert portal.post("head-a", f"/requests/{cut['id']}/approve").status_code == 200
    assert portal.submit("req-a", kind="storage", storage_gb=80).status_code == 201
    refused = portal.post("ops", f"/requests/{cut['id']}/approve")
    assert refused.status_code == 409
    assert portal.get("ops", f"/requests/{cut['id']}").json()["state"] == "dept_approved"
    check_books(portal)


def test_network_requests_are_allocated_by_the_planner_at_ops_approval(portal: Portal) -> None:
    rid = portal.submit("req-a", kind="network", name="video", hosts=100).json()["id"]
    assert portal.get("req-a", f"/requests/{rid}").json()["allocation"] is None
    approved = portal.approve_twice(rid).json()
    allocation = approved["allocation"]
    assert allocation["network"] == f"req-{rid}-video"
    assert allocation["ipv6"].endswith("::/64") and allocation["ipv6"].startswith("2001:db8:1")
    assert allocation["ipv4"].endswith("/24")  # 100 hosts with 50% headroom need a /24
    assert allocation["ipv4_gateway"] == allocation["ipv4"].replace(".0/24", ".1")

    with portal.context.sessions() as session:
        prefixes = {
            (a.family, a.kind): a.prefix
            for a in session.execute(
                select(IpamAllocation).where(IpamAllocation.network == f"req-{rid}-video")
            ).scalars()
        }
        assert prefixes == {(6, "subnet"): allocation["ipv6"], (4, "extranet"): allocation["ipv4"]}
        department_block = session.execute(
            select(IpamAllocation.prefix).where(
                IpamAllocation.department == "alpha", IpamAllocation.kind == "block"
            )
        ).scalar_one()
        assert allocation["ipv6"].startswith(department_block.split("::")[0])
        # Planning again keeps the network while it is granted...
        plan = network_plan.plan_and_apply(session, portal.county, actor="test", dry_run=True)
        assert not plan.added and not plan.orphaned
        assert (
            grants.read_grants(portal.county, session).departments["alpha"].networks[0].ipv4
            == allocation["ipv4"]
        )
        session.rollback()

    portal.post("ops", f"/requests/{rid}/deploy")
    portal.post("req-a", f"/requests/{rid}/decommission")
    portal.post("ops", f"/requests/{rid}/approve")
    with portal.context.sessions() as session:
        # ...and releases it with --prune once it is decommissioned.
        plan = network_plan.plan_and_apply(session, portal.county, actor="test", prune=True)
        assert {a.network for a in plan.orphaned} == {f"req-{rid}-video"}
        session.commit()
    check_books(portal)


def test_a_network_that_does_not_fit_is_refused_at_ops_approval(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = portal.submit("req-a", kind="network", name="big", hosts=100).json()["id"]
    assert portal.post("head-a", f"/requests/{rid}/approve").status_code == 200

    def exhausted(*_: Any, **__: Any) -> Any:
        raise PlanError(["198.18.0.0/16 has no free /24 left for alpha req-1-big"])

    monkeypatch.setattr(network_plan, "plan_network", exhausted)
    refused = portal.post("ops", f"/requests/{rid}/approve")
    assert refused.status_code == 409 and "no room" in refused.json()["detail"]
    assert portal.get("ops", f"/requests/{rid}").json()["state"] == "dept_approved"
    check_books(portal)


def test_concurrent_submissions_never_overbook(portal: Portal) -> None:
    """40 threads ask for 7 GB each of alpha's 100 GB: 14 fit, every other one gets a 409."""
    actor = portal.actors["req-a"]
    barrier = threading.Barrier(40)

    def submit(_: int) -> bool:
        barrier.wait()
        with portal.context.sessions() as session:
            try:
                service.create(
                    session,
                    portal.county,
                    actor,
                    StorageRequest(department="alpha", kind="storage", storage_gb=7),
                )
            except QuotaExceededError:
                session.rollback()
                return False
            session.commit()
            return True

    with ThreadPoolExecutor(max_workers=40) as pool:
        accepted = sum(pool.map(submit, range(40)))
    assert accepted == 100 // 7
    assert standing(portal)["pending"]["storage_gb"] == 7 * accepted
    check_books(portal)
