"""A Snapshot built by hand: what the live-state reader would return (and the catalogue's facts
over it), for tests."""

from __future__ import annotations

from typing import Any

from small_county import CODE, LEVEL

from audit.catalogue import Facts
from cloud.inventory import (
    REGIONAL_KINDS,
    Group,
    Network,
    Project,
    RoleAssignment,
    Server,
    Snapshot,
    Volume,
)
from govcloud.conventions import project_name, project_tags
from govcloud.model import County
from govcloud.registry.audit_log import ChainReport

PRIMARY, DR = "RegionOne", "RegionTwo"


def project(pid: str, name: str, tags: tuple[str, ...] = ()) -> Project:
    return Project(id=pid, name=name, domain_id="default", description="", enabled=True, tags=tags)


def group(gid: str, name: str, description: str = "") -> Group:
    return Group(id=gid, name=name, domain_id="default", description=description)


def group_role(pid: str, gid: str, role: str) -> RoleAssignment:
    return RoleAssignment(project_id=pid, role=role, user_id=None, group_id=gid)


def server(sid: str, pid: str, flavor: str | None, region: str = PRIMARY, **more: Any) -> Server:
    fields: dict[str, Any] = {
        "status": "ACTIVE",
        "image_id": None,
        "addresses": (),
        "security_groups": (),
        "metadata": {},
    }
    fields.update(more)
    return Server(id=sid, region=region, project_id=pid, name=sid, flavor=flavor, **fields)


def volume(vid: str, pid: str, size: int, region: str = PRIMARY) -> Volume:
    return Volume(
        id=vid,
        region=region,
        project_id=pid,
        name=vid,
        size_gb=size,
        status="available",
        volume_type=None,
        attached_to=(),
    )


def network(nid: str, pid: str, *, external: bool = False, region: str = PRIMARY) -> Network:
    return Network(
        id=nid,
        region=region,
        project_id=pid,
        name=nid,
        external=external,
        shared=False,
        provider_network_type=None,
        provider_physical_network=None,
        provider_segmentation_id=None,
        tags=(),
    )


def audit_facts(county: County, **fields: Any) -> Facts:
    """The catalogue's facts with nothing read but what `fields` give (an intact log of one)."""
    nothing: dict[str, Any] = {
        "snapshot": None,
        "drift": None,
        "chain": ChainReport(entries=1, head_seq=1),
        "log_first": None,
        "log_actions": frozenset(),
        "portal": None,
        "management_prefixes": (),
        "head": None,
        "head_max_age_days": 1,
    }
    return Facts(county=county, **(nothing | fields))


def snapshot(**records: Any) -> Snapshot:
    kinds = ("projects", "groups", "role_assignments", "limits", *REGIONAL_KINDS)
    empty: dict[str, Any] = dict.fromkeys(kinds, ())
    empty.update({k: tuple(v) for k, v in records.items()})
    return Snapshot(
        cloud="test", regions=(PRIMARY, DR), taken_at=1.0, seconds=0.1, api_calls=0, **empty
    )


SNAPSHOT = snapshot(
    projects=[
        # Department tenants as the stacks tag them (govcloud.conventions.project_tags).
        project(
            "p-alpha",
            project_name(CODE, "alpha"),
            tuple(project_tags(CODE, "alpha", "bureau", LEVEL)),
        ),
        project(
            "p-beta",
            project_name(CODE, "beta"),
            tuple(project_tags(CODE, "beta", "township", LEVEL)),
        ),
        project("p-other", "admin"),  # not a department
        # Another county's alpha sharing the cloud: not ours.
        project(
            "p-elsewhere",
            project_name("519902", "alpha"),
            tuple(project_tags("519902", "alpha", "bureau", LEVEL)),
        ),
    ],
    servers=[
        server("s1", "p-alpha", "m1.medium"),
        server("s2", "p-alpha", "m1.small"),
        server("s3", "p-alpha", "m1.large", region=DR),  # a DR replica: not counted
        server("s4", "p-alpha", "m1.tiny", status="DELETED"),  # on its way out: not counted
        server("s5", "p-beta", "custom.gpu"),  # a flavor the portal does not know
        server("s6", "p-other", "m1.xlarge"),  # not a department
        server("s7", "p-elsewhere", "m1.xlarge"),  # another county's
    ],
    volumes=[
        volume("v1", "p-alpha", 30),
        volume("v2", "p-alpha", 20),
        volume("v3", "p-alpha", 500, region=DR),
        volume("v4", "p-beta", 10),
    ],
    networks=[
        network("n1", "p-alpha"),
        network("n2", "p-alpha", external=True),
        network("n3", "p-beta"),
        network("n4", "p-beta", region=DR),
    ],
)
