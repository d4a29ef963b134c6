"""The deploy check against what the stacks really build: the primary stack's desired state,
run under Pulumi mocks from a registry with approved requests of every kind, turned into the
snapshot a faithful deployment leaves. The check must find every grant there, and name what is
taken away or changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from portal_kit import Portal
from simulated_cloud import snapshot_from_items

from cloud.holdings import Missing, missing
from cloud.inventory import Snapshot
from cloud.plan.run import collect_desired, load_stacks
from desired.grants import DepartmentGrants, read_grants
from govcloud.registry.requests import RequestKind

REPO = Path(__file__).resolve().parents[2]
PRIMARY = "RegionOne"
BODIES: dict[RequestKind, dict[str, Any]] = {
    RequestKind.COMPUTE: {"flavor": "m1.small", "count": 2},
    RequestKind.STORAGE: {"storage_gb": 30, "volumes": 2},
    RequestKind.NETWORK: {"name": "video", "hosts": 20},
    RequestKind.FLOATING_IP: {"floating_ips": 1},
    RequestKind.QUOTA_CHANGE: {"vcpu": 2, "networks": 1},
}


@pytest.fixture
def deployed(sqlite_portal: Portal) -> tuple[Portal, dict[RequestKind, int], Snapshot]:
    p = sqlite_portal
    made = {}
    for kind, body in BODIES.items():
        rid = p.submit("req-a", kind=kind.value, **body).json()["id"]
        assert p.approve_twice(rid).json()["state"] == "ops_approved"
        made[kind] = rid
    side = collect_desired(
        "primary",
        stacks=load_stacks(REPO, "primary"),
        county=p.county,
        registry_url=p.context.engine.url.render_as_string(hide_password=False),
    )
    return p, made, snapshot_from_items(side.items)


def _grants(p: Portal) -> DepartmentGrants:
    with p.context.sessions() as session:
        return read_grants(p.county, session).departments["alpha"]


def _check(p: Portal, snapshot: Snapshot, rid: int, kind: RequestKind) -> list[Missing]:
    return missing(snapshot, p.county.code, PRIMARY, _grants(p), request_id=rid, kind=kind)


def test_what_the_stacks_build_holds_every_grant(
    deployed: tuple[Portal, dict[RequestKind, int], Snapshot],
) -> None:
    p, made, snapshot = deployed
    for kind, rid in made.items():
        assert _check(p, snapshot, rid, kind) == [], kind
    # The DR region holds none of them: the check looks in the region it is given.
    server = made[RequestKind.COMPUTE]
    assert (
        len(
            missing(
                snapshot,
                p.county.code,
                "RegionTwo",
                _grants(p),
                request_id=server,
                kind=RequestKind.COMPUTE,
            )
        )
        == 2
    )


def test_what_is_taken_away_or_changed_is_named(
    deployed: tuple[Portal, dict[RequestKind, int], Snapshot],
) -> None:
    p, made, snapshot = deployed
    server, storage, network = (
        made[RequestKind.COMPUTE],
        made[RequestKind.STORAGE],
        made[RequestKind.NETWORK],
    )
    first = f"alpha-req{server}-1"
    changed = snapshot.model_copy(
        update={
            "servers": tuple(
                s.model_copy(update={"flavor": "m1.large"}) if s.name == first else s
                for s in snapshot.servers
                if s.name != f"alpha-req{server}-2"
            ),
            "volumes": tuple(
                v.model_copy(update={"size_gb": 1}) if v.name == f"alpha-req{storage}-1" else v
                for v in snapshot.volumes
            ),
            "networks": tuple(
                n for n in snapshot.networks if n.name != f"alpha-req-{network}-video"
            ),
        }
    )
    assert _check(p, changed, server, RequestKind.COMPUTE) == [
        Missing("server", first, "m1.small", "m1.large"),
        Missing("server", f"alpha-req{server}-2", "m1.small"),
    ]
    assert _check(p, changed, storage, RequestKind.STORAGE) == [
        Missing("volume", f"alpha-req{storage}-1", "15 GB", "1 GB")
    ]
    (gone,) = _check(p, changed, network, RequestKind.NETWORK)
    assert (gone.kind, gone.name, gone.found) == ("network", f"alpha-req-{network}-video", None)
    # A server that failed to build holds nothing.
    failed = snapshot.model_copy(
        update={
            "servers": tuple(
                s.model_copy(update={"status": "ERROR"}) if s.name == first else s
                for s in snapshot.servers
            )
        }
    )
    assert _check(p, failed, server, RequestKind.COMPUTE) == [Missing("server", first, "m1.small")]


def test_a_project_is_found_by_its_tags_not_its_name(
    deployed: tuple[Portal, dict[RequestKind, int], Snapshot],
) -> None:
    p, made, snapshot = deployed
    untagged = snapshot.model_copy(
        update={"projects": tuple(pr.model_copy(update={"tags": ()}) for pr in snapshot.projects)}
    )
    for kind, rid in made.items():
        found = _check(p, untagged, rid, kind)
        assert (found[0].kind, found[0].name) == ("project", f"{p.county.code}-alpha"), kind
    # Without the project, every part of the grant is named as missing too.
    server = made[RequestKind.COMPUTE]
    assert [m.name for m in _check(p, untagged, server, RequestKind.COMPUTE)] == [
        f"{p.county.code}-alpha",
        f"alpha-req{server}-1",
        f"alpha-req{server}-2",
    ]
    other = p.county.code[:-1] + "0"
    assert (
        missing(
            snapshot,
            other,
            PRIMARY,
            _grants(p),
            request_id=made[RequestKind.COMPUTE],
            kind=RequestKind.COMPUTE,
        )[0].kind
        == "project"
    )


def test_a_quota_change_needs_the_quotas_the_stacks_derive(
    deployed: tuple[Portal, dict[RequestKind, int], Snapshot],
) -> None:
    p, made, snapshot = deployed
    rid = made[RequestKind.QUOTA_CHANGE]
    lowered = snapshot.model_copy(
        update={
            "quotas": tuple(
                q.model_copy(update={"values": {**q.values, "networks": 2}})
                if q.service == "network"
                else q
                for q in snapshot.quotas
            )
        }
    )
    assert _check(p, lowered, rid, RequestKind.QUOTA_CHANGE) == [
        Missing("quota", "network networks", "3", "2")
    ]
