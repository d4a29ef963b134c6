"""Every /api/v1 route: success, 401, 403, 404, 409 and 422 wherever the route can answer it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
import test_portal_migration
from fastapi.testclient import TestClient
from portal_kit import PASSWORD, SIMULATED_CLOUD, Portal
from simulated_cloud import SIMULATED_INVENTORY, holding_grants, simulated_capacity
from snapshot_kit import SNAPSHOT
from sqlalchemy import update
from test_portal_pages import csrf_of, sign_in

from desired.grants import read_grants
from govcloud.errors import UnreachableError
from govcloud.registry.tables import AuditEntry, PortalApiToken, PortalUser
from portal.context import LiveCloud
from portal.lifecycle import Role

STORAGE = {"kind": "storage", "storage_gb": 10}
ACTIONS = ["submit", "approve", "reject", "withdraw", "deploy", "accept", "decommission"]


def make(portal: Portal, state: str, department: str = "alpha") -> int:
    """A request of `department` in `state`, made the way people would make it."""
    suffix = "a" if department == "alpha" else "b"
    req, head = f"req-{suffix}", f"head-{suffix}"
    submit = state != "draft"
    created = portal.submit(req, department=department, submit=submit, **STORAGE)
    assert created.status_code == 201, created.text
    rid: int = created.json()["id"]
    steps = {
        "dept_approved": [(head, "approve")],
        "ops_approved": [(head, "approve"), ("ops", "approve")],
        "deployed": [(head, "approve"), ("ops", "approve"), ("ops", "deploy")],
        "in_use": [(head, "approve"), ("ops", "approve"), ("ops", "deploy"), (req, "accept")],
        "decommission_requested": [
            (head, "approve"),
            ("ops", "approve"),
            ("ops", "deploy"),
            (req, "accept"),
            (req, "decommission"),
        ],
        "rejected": [(head, "reject")],
        "withdrawn": [(req, "withdraw")],
    }
    for who, action in steps.get(state, []):
        done = portal.post(who, f"/requests/{rid}/{action}", {"reason": "test"})
        assert done.status_code == 200, done.text
    assert portal.get("admin", f"/requests/{rid}").json()["state"] == state
    return rid


def no_auth(portal: Portal, method: str, path: str, body: Any = None) -> Any:
    return portal.client.request(method, f"/api/v1{path}", json=body)


def bad_token(portal: Portal, method: str, path: str) -> Any:
    headers = {"Authorization": "Bearer gcp_not-a-token"}
    return portal.client.request(method, f"/api/v1{path}", headers=headers)


# -- requests ---------------------------------------------------------------------------------


def test_create_request(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    created = p.submit("req-a", **STORAGE)
    assert created.status_code == 201
    body = created.json()
    assert (body["state"], body["department"], body["amounts"]["storage_gb"]) == (
        "submitted",
        "alpha",
        10,
    )
    assert isinstance(body["id"], int) and body["requester"] == "req-a"
    assert no_auth(p, "POST", "/requests", {"department": "alpha", **STORAGE}).status_code == 401
    assert bad_token(p, "POST", "/requests").status_code == 401
    assert p.submit("req-a", department="beta", **STORAGE).status_code == 403
    assert p.submit("ops", department="alpha", **STORAGE).status_code == 403
    assert p.submit("auditor", department="alpha", **STORAGE).status_code == 403
    over = p.submit("req-a", kind="storage", storage_gb=91)
    assert over.status_code == 409
    assert over.json()["detail"]["shortfalls"] == [
        {"resource": "storage_gb", "requested": 91, "available": 90}
    ]
    for bad in (
        {"kind": "storage"},  # storage_gb missing
        {"kind": "storage", "storage_gb": 0},
        {"kind": "storage", "storage_gb": "lots"},
        {"kind": "storage", "storage_gb": 5, "flavor": "m1.small"},  # another kind's field
        {"kind": "gpu", "count": 1},
        {"kind": "compute", "flavor": "m1.huge"},
        {"kind": "compute", "flavor": "m1.tiny"},
        {"kind": "network", "name": "Bad Name"},
        {"kind": "quota_change"},  # nothing to change
        {"kind": "floating_ip", "floating_ips": 1, "department": "NOT A CODE"},
    ):
        answer = p.submit("req-a", **bad)
        assert answer.status_code == 422, (bad, answer.text)
    unknown = p.submit("admin", department="nosuch", **STORAGE)
    assert unknown.status_code == 422 and "no department" in unknown.json()["detail"][0]["msg"]
    assert (
        p.client.post("/api/v1/requests", content=b"{", headers=p.auth("req-a")).status_code == 422
    )


def test_every_kind_is_accepted_with_its_own_fields(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    for body, held in (
        ({"kind": "compute", "flavor": "m1.large", "count": 2}, {"vcpu": 8, "ram_gb": 16}),
        ({"kind": "storage", "storage_gb": 40, "volumes": 2}, {"storage_gb": 40}),
        ({"kind": "floating_ip", "floating_ips": 1}, {"floating_ips": 1}),
        ({"kind": "network", "name": "video", "hosts": 30}, {"networks": 1}),
        ({"kind": "quota_change", "vcpu": 4, "networks": -1}, {"vcpu": 4, "networks": -1}),
    ):
        created = p.submit("req-a", title="t", justification="j", **body)
        assert created.status_code == 201, created.text
        amounts = created.json()["amounts"]
        assert {k: v for k, v in amounts.items() if v} == held


def test_get_request(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = make(p, "submitted")
    for who in ("req-a", "head-a", "ops", "auditor", "admin"):
        answer = p.get(who, f"/requests/{rid}")
        assert answer.status_code == 200 and answer.json()["id"] == rid
    assert p.get("head-a", f"/requests/{rid}").json()["actions"] == [
        "approve",
        "reject",
        "withdraw",
    ]
    assert p.get("auditor", f"/requests/{rid}").json()["actions"] == []
    assert no_auth(p, "GET", f"/requests/{rid}").status_code == 401
    assert p.get("req-b", f"/requests/{rid}").status_code == 403
    assert p.get("head-b", f"/requests/{rid}").status_code == 403
    assert p.get("req-a", "/requests/999999").status_code == 404
    assert p.get("req-a", "/requests/abc").status_code == 422
    assert p.get("req-a", "/requests/0").status_code == 422


def test_history(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = make(p, "rejected")
    history = p.get("req-a", f"/requests/{rid}/history")
    assert history.status_code == 200
    assert [(e["action"], e["reason"]) for e in history.json()] == [
        ("submit", None),
        ("reject", "test"),
    ]
    assert no_auth(p, "GET", f"/requests/{rid}/history").status_code == 401
    assert p.get("req-b", f"/requests/{rid}/history").status_code == 403
    assert p.get("req-a", "/requests/424242/history").status_code == 404
    assert p.get("req-a", "/requests/x/history").status_code == 422


def test_list_requests(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    a1, a2, b1 = make(p, "submitted"), make(p, "draft"), make(p, "submitted", "beta")
    ids = lambda answer: [r["id"] for r in answer.json()]  # noqa: E731
    assert ids(p.get("req-a", "/requests")) == [a2, a1]
    assert ids(p.get("req-b", "/requests")) == [b1]
    assert ids(p.get("ops", "/requests")) == [b1, a2, a1]
    assert ids(p.get("ops", "/requests", department="beta")) == [b1]
    assert ids(p.get("auditor", "/requests", state="draft")) == [a2]
    assert ids(p.get("admin", "/requests", kind="compute")) == []
    assert ids(p.get("admin", "/requests", requester="req-b")) == [b1]
    assert ids(p.get("admin", "/requests", limit=1, offset=1)) == [a2]
    assert no_auth(p, "GET", "/requests").status_code == 401
    assert p.get("req-a", "/requests", department="beta").status_code == 403
    assert p.get("req-a", "/requests", state="lost").status_code == 422
    assert p.get("req-a", "/requests", limit=0).status_code == 422


@pytest.mark.parametrize("action", ACTIONS)
def test_actions(sqlite_portal: Portal, action: str) -> None:
    """Each action: 200 from its state, 401, 403 (role and department), 404, 409, 422."""
    p = sqlite_portal
    ready = {
        "submit": ("draft", "req-a", "submitted"),
        "approve": ("submitted", "head-a", "dept_approved"),
        "reject": ("submitted", "head-a", "rejected"),
        "withdraw": ("submitted", "req-a", "withdrawn"),
        "deploy": ("ops_approved", "ops", "deployed"),
        "accept": ("deployed", "req-a", "in_use"),
        "decommission": ("in_use", "req-a", "decommission_requested"),
    }
    state, who, target = ready[action]
    path = lambda rid: f"/requests/{rid}/{action}"  # noqa: E731

    rid = make(p, state)
    assert no_auth(p, "POST", path(rid), {"reason": "r"}).status_code == 401
    assert p.post("req-b", path(rid), {"reason": "r"}).status_code == 403  # other department
    assert p.post("auditor", path(rid), {"reason": "r"}).status_code == 403  # read-only
    wrong_role = "ops" if who != "ops" else "head-a"
    assert p.post(wrong_role, path(rid), {"reason": "r"}).status_code == 403
    assert p.post(who, "/requests/987654/" + action, {"reason": "r"}).status_code == 404
    assert p.post(who, f"/requests/zzz/{action}").status_code == 422
    assert p.post(who, path(rid), {"reason": 5, "extra": True}).status_code == 422
    if action in {"reject", "withdraw"}:
        missing = p.post(who, path(rid), {"reason": "  "})
        assert missing.status_code == 422 and "needs a reason" in missing.json()["detail"][0]["msg"]
    done = p.post(who, path(rid), {"reason": "because"})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == target
    final = make(p, "rejected")
    refused = p.post(who, path(final), {"reason": "because"})
    assert refused.status_code == 409 and "it is final" in refused.json()["detail"]


def test_submitting_a_draft_over_quota_is_409(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    # m1.xlarge is 8 vCPU, 16 GB: alpha's whole vCPU and RAM quota, so it fits exactly...
    draft = p.submit("req-a", kind="compute", flavor="m1.xlarge", submit=False).json()
    submitted = p.post("req-a", f"/requests/{draft['id']}/submit")
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    # ...and nothing more does.
    small = p.submit("req-a", kind="compute", flavor="m1.small", submit=False).json()
    refused = p.post("req-a", f"/requests/{small['id']}/submit")
    assert refused.status_code == 409
    assert {s["resource"] for s in refused.json()["detail"]["shortfalls"]} == {"vcpu", "ram_gb"}


def test_nobody_approves_their_own_request(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = p.submit("head-a", **STORAGE).json()["id"]
    own = p.post("head-a", f"/requests/{rid}/approve")
    assert own.status_code == 403 and "own request" in own.json()["detail"]
    # Admins neither request nor approve (separation of duties, issue 17).
    assert p.submit("admin", department="alpha", **STORAGE).status_code == 403
    rid = p.submit("req-a", **STORAGE).json()["id"]
    assert p.post("admin", f"/requests/{rid}/approve").status_code == 403
    assert p.post("head-a", f"/requests/{rid}/approve").status_code == 200


def as_token(p: Portal, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return p.client.request(method, f"/api/v1{path}", json=body, headers=headers)


def test_one_admin_cannot_defeat_four_eyes(sqlite_portal: Portal) -> None:
    """Issue 17, finding 2: an admin issued tokens for a requester, a head and ops, submitted
    as the requester and approved both levels himself."""
    p = sqlite_portal
    issued = {n: p.post("admin", f"/users/{n}/token").json()["token"] for n in ("req-a", "head-a")}
    issued["ops"] = p.post("admin", "/users/ops/token").json()["token"]
    created = as_token(p, issued["req-a"], "POST", "/requests", {"department": "alpha", **STORAGE})
    assert created.status_code == 201
    rid = created.json()["id"]
    refused = as_token(p, issued["head-a"], "POST", f"/requests/{rid}/approve")
    assert refused.status_code == 403 and "token they issued" in refused.json()["detail"]
    assert p.post("admin", f"/requests/{rid}/approve").status_code == 403
    # With tokens of their own (issued by themselves) the head and ops approve it.
    own = {
        who: as_token(p, issued[who], "POST", "/me/token").json()["token"]
        for who in ("head-a", "ops")
    }
    assert as_token(p, own["head-a"], "POST", f"/requests/{rid}/approve").status_code == 200
    assert as_token(p, own["ops"], "POST", f"/requests/{rid}/approve").status_code == 200
    audit = p.get("auditor", "/audit", action="request.approve").json()
    assert sorted(e["actor"] for e in audit) == ["portal:head-a", "portal:ops"]


def test_two_approval_levels_are_two_people(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    p.context.break_glass_role = Role.ADMIN
    try:
        rid = p.submit("req-a", **STORAGE).json()["id"]
        assert p.post("admin", f"/requests/{rid}/approve").status_code == 200  # break glass
        second = p.post("admin", f"/requests/{rid}/approve")
        assert second.status_code == 403 and "two different people" in second.json()["detail"]
        assert p.post("ops", f"/requests/{rid}/approve").status_code == 200
        entry = p.get("auditor", "/audit", object=f"request/{rid}", action="request.approve")
        marked = {e["actor"]: e["after"].get("break_glass", False) for e in entry.json()}
        assert marked == {"portal:admin": True, "portal:ops": False}
        assert p.submit("admin", department="alpha", **STORAGE).status_code == 403
    finally:
        p.context.break_glass_role = None


def test_decommissioning_a_quota_change_is_409(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = p.submit("req-a", kind="quota_change", vcpu=1).json()["id"]
    p.approve_twice(rid)
    p.post("ops", f"/requests/{rid}/deploy")
    p.post("req-a", f"/requests/{rid}/accept")
    refused = p.post("req-a", f"/requests/{rid}/decommission")
    assert refused.status_code == 409 and "quota change" in refused.json()["detail"]


def _frozen_cloud(p: Portal) -> LiveCloud:
    """The simulated cloud as it is now: what the registry grants at this moment, no more."""
    with p.context.sessions() as session:
        grants = read_grants(p.county, session)
    held = holding_grants(p.county, grants, p.context.primary_region, SIMULATED_CLOUD)
    return LiveCloud(
        SIMULATED_CLOUD,
        snapshot=lambda: held,
        capacity=lambda: simulated_capacity(p.context.regions),
        ttl=0,
    )


def _refusals(p: Portal, rid: int) -> list[AuditEntry]:
    with p.context.sessions() as session:
        return list(
            session.query(AuditEntry).filter(
                AuditEntry.object == f"request/{rid}", AuditEntry.action == "request.deploy_refused"
            )
        )


def test_deploy_needs_the_cloud_to_hold_the_request(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = p.submit("req-a", kind="compute", flavor="m1.small", count=2).json()["id"]
    p.post("head-a", f"/requests/{rid}/approve")
    granted = p.context.cloud
    p.context.cloud = _frozen_cloud(p)  # the cloud before the stacks deployed the request
    assert p.post("ops", f"/requests/{rid}/approve").json()["state"] == "ops_approved"
    before = p.get("ops", "/departments/alpha/quota").json()

    refused = p.post("ops", f"/requests/{rid}/deploy")
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail["request"] == rid and detail["cloud"] == SIMULATED_CLOUD
    assert detail["missing"] == [
        {"kind": "server", "name": f"alpha-req{rid}-{n}", "expected": "m1.small", "found": None}
        for n in (1, 2)
    ]
    assert f"alpha-req{rid}-1" in detail["message"]
    assert p.get("ops", f"/requests/{rid}").json()["state"] == "ops_approved"
    assert p.get("ops", "/departments/alpha/quota").json() == before
    # The refused attempt is in the audit log and the request's history, nothing else changed.
    assert len(_refusals(p, rid)) == 1
    history = p.get("ops", f"/requests/{rid}/history").json()
    assert [(e["action"], e["from_state"], e["to_state"]) for e in history][-1] == (
        "deploy_refused",
        "ops_approved",
        "ops_approved",
    )
    assert f"alpha-req{rid}-2" in history[-1]["reason"]

    # No cloud: refused, naming why, and nothing written at all.
    p.context.cloud = None
    none = p.post("ops", f"/requests/{rid}/deploy")
    assert none.status_code == 409 and "no cloud to check against" in none.json()["detail"]
    assert len(_refusals(p, rid)) == 1

    # A cloud that does not answer: 503, nothing written.
    def unreachable() -> Any:
        raise UnreachableError("cannot read cloud 'down': connection refused")

    p.context.cloud = LiveCloud("down", snapshot=unreachable, capacity=unreachable, ttl=0)
    down = p.post("ops", f"/requests/{rid}/deploy")
    assert down.status_code == 503 and "connection refused" in down.json()["detail"]
    assert len(_refusals(p, rid)) == 1

    # Once the cloud holds both servers, the request is deployed.
    p.context.cloud = granted
    done = p.post("ops", f"/requests/{rid}/deploy")
    assert done.status_code == 200 and done.json()["state"] == "deployed"


def test_deploy_checks_each_kind_of_grant(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    bodies = {
        "storage": {"kind": "storage", "storage_gb": 30, "volumes": 2},
        "network": {"kind": "network", "name": "video", "hosts": 20},
        "floating_ip": {"kind": "floating_ip", "floating_ips": 1},
        "quota_change": {"kind": "quota_change", "vcpu": 2},
    }
    made = {}
    for kind, body in bodies.items():
        made[kind] = p.submit("req-a", **body).json()["id"]
        p.post("head-a", f"/requests/{made[kind]}/approve")
    granted = p.context.cloud
    p.context.cloud = _frozen_cloud(p)
    for rid in made.values():
        assert p.post("ops", f"/requests/{rid}/approve").status_code == 200
    missing = {
        kind: [(m["kind"], m["name"], m["found"]) for m in answer.json()["detail"]["missing"]]
        for kind, rid in made.items()
        if (answer := p.post("ops", f"/requests/{rid}/deploy")).status_code == 409
    }
    storage, network = made["storage"], made["network"]
    assert missing == {
        "storage": [
            ("volume", f"alpha-req{storage}-1", None),
            ("volume", f"alpha-req{storage}-2", None),
        ],
        "network": [("network", f"alpha-req-{network}-video", None)],
        # 8 vCPU before the change, 10 after: Keystone's limits and the quotas derived from it.
        "quota_change": [
            ("limit", "compute servers", "8"),
            ("limit", "compute class:VCPU", "8"),
            ("quota", "network ports", "24"),
            ("quota", "volume volumes", "16"),
            ("quota", "volume snapshots", "16"),
            ("quota", "volume backups", "16"),
        ],
    }, missing
    # A floating IP creates nothing: alpha's quota of 1 already holds it, so it is deployed.
    assert p.get("ops", f"/requests/{made['floating_ip']}").json()["state"] == "deployed"
    p.context.cloud = granted
    for kind in ("storage", "network", "quota_change"):
        answer = p.post("ops", f"/requests/{made[kind]}/deploy")
        assert answer.json()["state"] == "deployed", (kind, answer.text)


# -- ops --------------------------------------------------------------------------------------


def test_ops_overview(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    used = make(p, "in_use")  # 10 GB of storage, deployed
    waiting = make(p, "submitted", department="beta")  # 10 GB pending at beta
    for who in ("req-a", "head-b"):
        assert p.get(who, "/ops/overview").status_code == 403
    assert no_auth(p, "GET", "/ops/overview").status_code == 401
    for who in ("ops", "auditor", "admin"):
        assert p.get(who, "/ops/overview").status_code == 200
    body = p.get("ops", "/ops/overview").json()
    assert body["county"] == p.county.code and body["cloud"] == SIMULATED_CLOUD
    assert body["cloud_error"] is None and body["flagged"] == []
    alpha, beta = body["departments"]
    storage = lambda d: next(r for r in d["resources"] if r["resource"] == "storage_gb")  # noqa: E731
    assert storage(alpha) == {
        "resource": "storage_gb",
        "quota": 100,
        "used": 10,
        "pending": 0,
        "available": 90,
        "observed": 10,
        "status": "ok",
    }
    assert (storage(beta)["used"], storage(beta)["pending"], storage(beta)["observed"]) == (
        0,
        10,
        0,
    )
    totals = {r["resource"]: r for r in body["totals"]}
    assert (totals["vcpu"]["quota"], totals["storage_gb"]["quota"]) == (12, 150)
    assert (totals["storage_gb"]["used"], totals["storage_gb"]["pending"]) == (10, 10)
    assert totals["storage_gb"]["observed"] == 10 and totals["floating_ips"]["observed"] is None
    # Capacity per region and class: (total - reserved) * ratio, against the limits handed out
    # (the simulated cloud sets the quotas at the primary site only).
    capacity = {(c["region"], c["resource_class"]): c for c in body["capacity"]}
    assert [c["region"] for c in body["capacity"]] == ["RegionOne"] * 3 + ["RegionTwo"] * 3
    vcpu = capacity[("RegionOne", "VCPU")]
    total, reserved, ratio, in_use = SIMULATED_INVENTORY["VCPU"]
    assert (vcpu["total"], vcpu["reserved"], vcpu["allocation_ratio"]) == (total, reserved, ratio)
    assert vcpu["allocatable"] == (total - reserved) * ratio and vcpu["used"] == in_use
    assert vcpu["quota"] == 12 and vcpu["site"] == "primary"
    assert capacity[("RegionOne", "MEMORY_MB")]["quota"] == 24 * 1024
    assert capacity[("RegionOne", "DISK_GB")]["quota"] == 150
    assert capacity[("RegionTwo", "VCPU")]["quota"] == 0
    assert capacity[("RegionTwo", "VCPU")]["site"] == "dr"
    # What waits for approval: beta's request, for its head, with its age.
    assert [(a["id"], a["approver"]) for a in body["awaiting"]] == [(waiting, "dept_approver")]
    assert body["awaiting"][0]["age_seconds"] >= 0 and used not in {waiting}

    # Without a cloud the registry's parts stand, the live parts are empty.
    p.context.cloud = None
    bare = p.get("auditor", "/ops/overview").json()
    assert (bare["cloud"], bare["capacity"], bare["observed_at"]) == (None, [], None)
    assert {r["status"] for r in bare["totals"]} == {"unknown"}


# -- departments ------------------------------------------------------------------------------


def test_departments(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    codes = lambda answer: [d["code"] for d in answer.json()]  # noqa: E731
    assert codes(p.get("req-a", "/departments")) == ["alpha"]
    assert codes(p.get("head-b", "/departments")) == ["beta"]
    assert codes(p.get("auditor", "/departments")) == ["alpha", "beta"]
    assert no_auth(p, "GET", "/departments").status_code == 401


def test_quota(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    make(p, "ops_approved")
    make(p, "submitted")
    quota = p.get("req-a", "/departments/alpha/quota")
    assert quota.status_code == 200
    body = quota.json()
    assert body["quota"] == {
        "vcpu": 8,
        "ram_gb": 16,
        "storage_gb": 100,
        "floating_ips": 1,
        "networks": 2,
    }
    assert (body["used"]["storage_gb"], body["pending"]["storage_gb"]) == (10, 10)
    assert body["available"]["storage_gb"] == 80
    storage = next(r for r in body["resources"] if r["resource"] == "storage_gb")
    assert storage == {
        "resource": "storage_gb",
        "quota": 100,
        "used": 10,
        "pending": 10,
        "available": 80,
        "observed": None,
    }
    assert no_auth(p, "GET", "/departments/alpha/quota").status_code == 401
    assert p.get("req-b", "/departments/alpha/quota").status_code == 403
    assert p.get("ops", "/departments/nosuch/quota").status_code == 404
    assert p.get("ops", f"/departments/{'x' * 40}/quota").status_code == 422


def test_usage_without_a_cloud_is_unknown(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    p.context.cloud = None
    usage = p.get("head-a", "/departments/alpha/usage")
    assert usage.status_code == 200
    assert usage.json()["observed_at"] is None and usage.json()["flagged"] is False
    assert usage.json()["cloud"] is None
    assert {r["status"] for r in usage.json()["resources"]} == {"unknown"}
    assert no_auth(p, "GET", "/departments/alpha/usage").status_code == 401
    assert p.get("head-b", "/departments/alpha/usage").status_code == 403
    assert p.get("ops", "/departments/nosuch/usage").status_code == 404


def test_grants(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    make(p, "in_use")
    make(p, "submitted")  # not granted
    grants = p.get("req-a", "/departments/alpha/grants")
    assert grants.status_code == 200
    assert grants.json()["granted"]["storage_gb"] == 10 and grants.json()["volumes"] == [10]
    assert no_auth(p, "GET", "/departments/alpha/grants").status_code == 401
    assert p.get("req-b", "/departments/alpha/grants").status_code == 403
    assert p.get("ops", "/departments/nosuch/grants").status_code == 404
    every = p.get("ops", "/grants")
    assert every.status_code == 200 and [g["department"] for g in every.json()] == ["alpha"]
    assert no_auth(p, "GET", "/grants").status_code == 401
    assert p.get("head-a", "/grants").status_code == 403


# -- accounts ---------------------------------------------------------------------------------


def test_me_and_my_token(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    me = p.get("head-b", "/me")
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("name", "role", "department", "has_token")} == {
        "name": "head-b",
        "role": "dept_approver",
        "department": "beta",
        "has_token": True,
    }
    assert no_auth(p, "GET", "/me").status_code == 401
    old = p.tokens["head-b"]
    issued = p.post("head-b", "/me/token")
    assert issued.status_code == 201 and issued.json()["token"].startswith("gcp_")
    p.tokens["head-b"] = issued.json()["token"]
    assert p.get("head-b", "/me").status_code == 200
    stale = {"Authorization": f"Bearer {old}"}
    assert p.client.get("/api/v1/me", headers=stale).status_code == 401
    assert no_auth(p, "POST", "/me/token").status_code == 401


def test_session_cookies_work_for_the_api_with_a_csrf_header(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    client = p.client
    page = client.get("/login")
    assert page.status_code == 200
    login_csrf = client.cookies.get("govcloud_login_csrf")
    signed = client.post(
        "/login",
        data={"name": "req-a", "password": PASSWORD, "csrf_token": login_csrf},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert client.get("/api/v1/me").json()["name"] == "req-a"
    without = client.post("/api/v1/me/token")
    assert without.status_code == 403 and "X-CSRF-Token" in without.json()["detail"]
    csrf = client.get("/account").text.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/api/v1/me/token", headers={"X-CSRF-Token": csrf}).status_code == 201


def test_users(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    listed = p.get("admin", "/users")
    assert listed.status_code == 200
    assert [u["name"] for u in listed.json()] == sorted(
        ["req-a", "head-a", "req-b", "head-b", "ops", "auditor", "admin", "security"]
    )
    assert all("password" not in str(u) for u in listed.json())
    assert no_auth(p, "GET", "/users").status_code == 401
    assert p.get("ops", "/users").status_code == 403

    new = {
        "name": "wang",
        "role": "requester",
        "department": "beta",
        "password": "Blue-river-2024-x",
    }
    created = p.post("admin", "/users", new)
    assert created.status_code == 201 and created.json()["department"] == "beta"
    assert p.post("admin", "/users", new).status_code == 409
    assert no_auth(p, "POST", "/users", new).status_code == 401
    assert p.post("head-a", "/users", {**new, "name": "li"}).status_code == 403
    for bad in (
        {**new, "name": "x y"},
        {**new, "password": "short"},
        {**new, "password": "aaaaaaaaaaaa"},  # issue 17, finding 6
        {**new, "password": "Wang-2024-SECRET"},  # the name in it
        {**new, "password": "Password1234!"},  # common
        {**new, "role": "boss"},
        {**new, "name": "li", "department": None},  # a requester needs a department
        {**new, "name": "li", "role": "auditor"},  # an auditor has none
        {**new, "name": "li", "department": "nosuch"},
    ):
        assert p.post("admin", "/users", bad).status_code == 422, bad

    token = p.post("admin", "/users/wang/token")
    assert token.status_code == 201
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert p.client.get("/api/v1/me", headers=headers).json()["name"] == "wang"
    assert p.post("admin", "/users/nobody/token").status_code == 404
    assert p.post("ops", "/users/wang/token").status_code == 403
    assert no_auth(p, "POST", "/users/wang/token").status_code == 401


# -- audit --------------------------------------------------------------------------------------


def test_audit_log(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = make(p, "dept_approved")
    entries = p.get("auditor", "/audit", object=f"request/{rid}")
    assert entries.status_code == 200
    assert [e["action"] for e in entries.json()] == ["request.approve", "request.submit"]
    assert p.get("auditor", "/audit", action="request.")
    assert {e["action"] for e in p.get("auditor", "/audit", action="portal.").json()} == {
        "portal.user.add",
        "portal.token.issue",
    }
    assert p.get("auditor", "/audit", actor="portal:head-a").json()[0]["action"] == (
        "request.approve"
    )
    assert no_auth(p, "GET", "/audit").status_code == 401
    assert p.get("ops", "/audit").status_code == 403
    assert p.get("req-a", "/audit").status_code == 403
    assert p.get("auditor", "/audit", limit=0).status_code == 422


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_csv_exports(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    a = make(p, "submitted")
    b = make(p, "rejected", "beta")
    p.submit("req-a", kind="storage", storage_gb=1, title="=HYPERLINK(evil)")
    exported = p.get("auditor", "/export/requests.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = read_csv(exported.text)
    assert [int(r["id"]) for r in rows] == [a + 2, b, a]
    assert rows[0]["title"] == "'=HYPERLINK(evil)"  # no formulas reach a spreadsheet
    assert [
        r["id"] for r in read_csv(p.get("auditor", "/export/requests.csv", state="rejected").text)
    ] == [str(b)]
    today = rows[0]["created_at"][:10]
    assert len(read_csv(p.get("auditor", "/export/requests.csv", since=today).text)) == 3
    assert len(read_csv(p.get("auditor", "/export/requests.csv", until="2000-01-01").text)) == 0
    audit = read_csv(p.get("auditor", "/export/audit.csv", action="request.").text)
    assert {r["action"] for r in audit} == {"request.submit", "request.reject"}
    for path in ("/export/requests.csv", "/export/audit.csv"):
        assert no_auth(p, "GET", path).status_code == 401
        assert p.get("ops", path).status_code == 403
    assert p.get("auditor", "/export/requests.csv", since="yesterday").status_code == 422


# -- meta ---------------------------------------------------------------------------------------


def test_health_and_flavors(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    assert p.client.get("/api/v1/health").json() == {"status": "ok"}
    flavors = p.get("req-a", "/flavors")
    assert flavors.status_code == 200
    assert [f["name"] for f in flavors.json()] == ["m1.small", "m1.medium", "m1.large", "m1.xlarge"]
    assert no_auth(p, "GET", "/flavors").status_code == 401


def delete(p: Portal, who: str, path: str) -> Any:
    return p.client.delete(f"/api/v1{path}", headers=p.auth(who))


def test_account_lifecycle(sqlite_portal: Portal) -> None:
    """Issue 17, finding 10: no way to deactivate an account or revoke a token."""
    p = sqlite_portal
    change = {"reason": "left the department"}
    assert p.post("head-a", "/users/req-a/deactivate", change).status_code == 403
    assert p.post("security", "/users/req-a/deactivate", change).status_code == 403
    assert p.post("admin", "/users/req-a/deactivate", {}).status_code == 422  # no reason
    assert p.post("admin", "/users/nobody/deactivate", change).status_code == 404
    assert p.post("admin", "/users/admin/deactivate", change).status_code == 409  # oneself
    done = p.post("admin", "/users/req-a/deactivate", change)
    assert done.status_code == 200 and done.json()["active"] is False
    assert done.json()["deactivated_at"] is not None
    assert p.get("req-a", "/me").status_code == 401  # the token went with it
    assert p.post("admin", "/users/req-a/deactivate", change).status_code == 409
    assert p.post("admin", "/users/req-a/token").status_code == 409  # reactivate first
    assert p.post("admin", "/users/req-a/reactivate", change).status_code == 200
    assert p.post("admin", "/users/req-a/reactivate", change).status_code == 409
    p.tokens["req-a"] = p.post("admin", "/users/req-a/token").json()["token"]
    assert p.get("req-a", "/me").json()["active"] is True
    # Revoking a token: an administrator's, or one's own.
    assert delete(p, "auditor", "/users/req-a/token").status_code == 403
    assert delete(p, "security", "/users/req-a/token").status_code == 204
    assert p.get("req-a", "/me").status_code == 401
    assert delete(p, "admin", "/users/nobody/token").status_code == 404
    assert delete(p, "head-a", "/me/token").status_code == 204
    assert p.get("head-a", "/me").status_code == 401
    assert no_auth(p, "DELETE", "/me/token").status_code == 401
    actions = [e["action"] for e in p.get("auditor", "/audit", action="portal.").json()]
    for action in ("portal.user.deactivate", "portal.user.reactivate", "portal.token.revoke"):
        assert action in actions


def test_tokens_expire(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    issued = p.post("req-a", "/me/token").json()
    assert issued["expires_at"] is not None
    with p.context.sessions() as session:
        session.execute(update(PortalApiToken).values(expires_at=dt.datetime(2000, 1, 1)))
        session.commit()
    answer = as_token(p, issued["token"], "GET", "/me")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_sessions(sqlite_portal: Portal) -> None:
    """Sessions are listed and ended by administrators; a new token from one ends them too."""
    p = sqlite_portal
    browsers = [sign_in(p, "req-a") for _ in range(2)]
    assert all(b.get("/api/v1/me").status_code == 200 for b in browsers)
    listed = p.get("admin", "/users/req-a/sessions").json()
    assert len(listed) == 2 and {s["user"] for s in listed} == {"req-a"}
    assert "handle" in listed[0] and "id" not in listed[0]
    assert len(p.get("security", "/sessions").json()) == 2
    for who in ("req-a", "auditor", "ops"):
        assert p.get(who, "/sessions").status_code == 403
        assert delete(p, who, "/users/req-a/sessions").status_code == 403
    assert no_auth(p, "GET", "/sessions").status_code == 401
    assert p.get("admin", "/users/nobody/sessions").status_code == 404
    handle = listed[0]["handle"]
    assert delete(p, "admin", "/users/req-a/sessions/000000000000").status_code == 404
    assert delete(p, "admin", "/users/req-a/sessions/xyz").status_code == 422
    one = delete(p, "security", f"/users/req-a/sessions/{handle}")
    assert one.status_code == 200 and one.json() == {"sessions_ended": 1}
    assert sorted(b.get("/api/v1/me").status_code for b in browsers) == [200, 401]
    rest = delete(p, "admin", "/users/req-a/sessions")
    assert rest.json() == {"sessions_ended": 1}
    assert [b.get("/api/v1/me").status_code for b in browsers] == [401, 401]
    # Issuing a new token for someone ends their sessions (finding 10).
    again = sign_in(p, "req-b")
    assert p.post("admin", "/users/req-b/token").status_code == 201
    assert again.get("/api/v1/me").status_code == 401
    ended = p.get("auditor", "/audit", action="portal.session.end").json()
    assert len(ended) == 2


def test_password_history_and_expiry(sqlite_portal: Portal) -> None:
    """MLPS level 3: no recent password comes back; a county may make passwords expire."""
    p = sqlite_portal
    change = {"current_password": PASSWORD, "new_password": "Second-pass-2026"}
    assert no_auth(p, "POST", "/me/password", change).status_code == 401
    wrong = p.post("req-a", "/me/password", {**change, "current_password": "nope"})
    assert wrong.status_code == 403
    weak = p.post("req-a", "/me/password", {**change, "new_password": "aaaaaaaaaaaa"})
    assert weak.status_code == 422
    assert p.post("req-a", "/me/password", change).status_code == 204
    back = {"current_password": "Second-pass-2026", "new_password": PASSWORD}
    refused = p.post("req-a", "/me/password", back)
    assert refused.status_code == 422 and "last 5" in str(refused.json())
    third = {"current_password": "Second-pass-2026", "new_password": "Third-pass-2026!"}
    assert p.post("req-a", "/me/password", third).status_code == 204
    # Expiry: the county sets 90 days; an older password signs in no more (403, said only to
    # whoever knows it), a wrong one is still just wrong.
    p.context.limits = dataclasses.replace(p.context.limits, password_max_age_days=90)
    with p.context.sessions() as session:
        session.execute(
            update(PortalUser)
            .where(PortalUser.name == "req-a")
            .values(password_changed_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
        session.commit()
    client = TestClient(p.client.app)
    token = csrf_of(client.get("/login").text)
    expired = client.post(
        "/login", data={"name": "req-a", "password": "Third-pass-2026!", "csrf_token": token}
    )
    assert expired.status_code == 403 and "密码已过期" in expired.text
    wrong_login = client.post(
        "/login", data={"name": "req-a", "password": "nope", "csrf_token": token}
    )
    assert wrong_login.status_code == 401
    assert sign_in(p, "req-b").get("/").status_code == 200  # set up today: not expired


def test_reset_second_factor_route(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    assert no_auth(p, "POST", "/users/ops/second-factor/reset").status_code == 401
    assert p.post("ops", "/users/ops/second-factor/reset").status_code == 403
    assert p.post("security", "/users/ops/second-factor/reset").status_code == 200


COVERED: dict[str, Callable[..., None]] = {
    "POST /api/v1/requests": test_create_request,
    "GET /api/v1/requests": test_list_requests,
    "GET /api/v1/requests/{request_id}": test_get_request,
    "GET /api/v1/requests/{request_id}/history": test_history,
    **{f"POST /api/v1/requests/{{request_id}}/{a}": test_actions for a in ACTIONS},
    "GET /api/v1/departments": test_departments,
    "GET /api/v1/departments/{code}/quota": test_quota,
    "GET /api/v1/departments/{code}/usage": test_usage_without_a_cloud_is_unknown,
    "GET /api/v1/departments/{code}/grants": test_grants,
    "GET /api/v1/grants": test_grants,
    "GET /api/v1/me": test_me_and_my_token,
    "POST /api/v1/me/token": test_me_and_my_token,
    "GET /api/v1/users": test_users,
    "POST /api/v1/users": test_users,
    "POST /api/v1/users/{name}/token": test_users,
    "DELETE /api/v1/users/{name}/token": test_account_lifecycle,
    "DELETE /api/v1/me/token": test_account_lifecycle,
    "POST /api/v1/me/password": test_password_history_and_expiry,
    "POST /api/v1/users/{name}/second-factor/reset": test_reset_second_factor_route,
    "POST /api/v1/users/{name}/deactivate": test_account_lifecycle,
    "POST /api/v1/users/{name}/reactivate": test_account_lifecycle,
    "GET /api/v1/sessions": test_sessions,
    "GET /api/v1/users/{name}/sessions": test_sessions,
    "DELETE /api/v1/users/{name}/sessions": test_sessions,
    "DELETE /api/v1/users/{name}/sessions/{handle}": test_sessions,
    "GET /api/v1/audit": test_audit_log,
    "GET /api/v1/export/requests.csv": test_csv_exports,
    "GET /api/v1/export/audit.csv": test_csv_exports,
    "GET /api/v1/ops/overview": test_ops_overview,
    "GET /api/v1/health": test_health_and_flavors,
    "GET /api/v1/flavors": test_health_and_flavors,
    "GET /api/v1/migration": (
        test_portal_migration.test_the_rate_moves_against_the_target_as_a_system_is_cut_over
    ),
}


def test_every_api_route_has_its_test(sqlite_portal: Portal) -> None:
    paths = sqlite_portal.client.get("/openapi.json").json()["paths"]
    routes = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert routes == set(COVERED)


def test_usage_compares_the_ledger_with_the_live_cloud(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    p.context.cloud = LiveCloud(
        "test", snapshot=lambda: SNAPSHOT, capacity=lambda: simulated_capacity([]), ttl=60
    )
    rid = p.submit("req-a", kind="storage", storage_gb=50).json()["id"]
    p.approve_twice(rid)
    usage = p.get("req-a", "/departments/alpha/usage").json()
    assert usage["observed_at"] == 1.0 and usage["flagged"] is True
    by_resource = {
        r["resource"]: (r["ledger"], r["observed"], r["status"]) for r in usage["resources"]
    }
    assert by_resource == {
        "vcpu": (0, 3, "over"),
        "ram_gb": (0, 6, "over"),
        "storage_gb": (50, 50, "ok"),
        "floating_ips": (0, None, "unknown"),
        "networks": (0, 1, "over"),
    }
