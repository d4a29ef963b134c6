"""Benchmark the live-state reader against reading the same resources one GET per resource.

Seeds the local cloud (RegionOne) through openstacksdk with N projects, each with 2 networks,
4 subnets (2 IPv4, 2 IPv6 SLAAC), 1 router with 4 interfaces, 3 security groups of 10 rules
and 5 servers; then reads the whole cloud with `cloud.inventory.read` and, in the same run,
fetches every seeded resource with its own GET. Both sides count their HTTP requests.

Run (root, local cloud up or startable): .venv/bin/python bench/bench_inventory.py
Seeded projects are tagged `govcloud-bench` and removed at the end unless --keep; an
interrupted run's complete projects are reused (incomplete ones are replaced), so seeding resumes.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import openstack
from openstack.connection import Connection

from cloud import inventory
from govcloud.conventions import DEFAULT_IMAGE, TAG_DEPARTMENT
from lab.localcloud.layout import CLOUD_NAME
from lab.localcloud.manager import LocalCloud

REGION = "RegionOne"
SEED_WORKERS = 4
TAG = "govcloud-bench"


def admin(region: str = REGION, *, project_id: str | None = None) -> Connection:
    if project_id is None:
        return openstack.connect(cloud=CLOUD_NAME, region_name=region, timing=True)
    base = openstack.connect(cloud=CLOUD_NAME, region_name=region)
    auth = base.config.get_auth_args()
    return openstack.connect(
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project_id=project_id,
        user_domain_name="Default",
        region_name=region,
        identity_api_version="3",
        timing=True,
    )


def seed_project(number: int, servers: int) -> dict[str, list[str]]:
    c = admin()
    identity: Any = c.identity
    project = identity.create_project(
        name=f"bench-{number:03d}",
        domain_id="default",
        tags=[TAG, f"{TAG_DEPARTMENT}bench{number}"],
    )
    identity.assign_project_role_to_user(
        project, identity.find_user("admin"), identity.find_role("member")
    )
    p = admin(project_id=project.id)
    network, compute = p.network, p.compute
    ids: dict[str, list[str]] = {
        "networks": [],
        "subnets": [],
        "routers": [],
        "security_groups": [],
        "servers": [],
    }
    router = network.create_router(name="edge")
    ids["routers"].append(router.id)
    for index in range(2):
        net = network.create_network(name=f"net{index}")
        ids["networks"].append(net.id)
        v4 = network.create_subnet(network_id=net.id, ip_version=4, cidr=f"198.18.{index}.0/24")
        v6 = network.create_subnet(
            network_id=net.id,
            ip_version=6,
            cidr=f"2001:db8:{number:x}:{index}::/64",
            ipv6_ra_mode="slaac",
            ipv6_address_mode="slaac",
        )
        ids["subnets"] += [v4.id, v6.id]
        network.add_interface_to_router(router, subnet_id=v4.id)
        network.add_interface_to_router(router, subnet_id=v6.id)
    for index in range(3):
        group = network.create_security_group(name=f"sg{index}")
        ids["security_groups"].append(group.id)
        for rule in range(10):
            network.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4" if rule % 2 == 0 else "IPv6",
                protocol="tcp",
                port_range_min=8000 + rule,
                port_range_max=8000 + rule,
                remote_ip_prefix="198.51.100.0/24" if rule % 2 == 0 else "2001:db8:ff::/64",
            )
    flavor = compute.find_flavor("m1.tiny")
    image = p.image.find_image(DEFAULT_IMAGE)
    builds = [
        compute.create_server(
            name=f"vm{index}",
            flavor_id=flavor.id,
            image_id=image.id,
            networks=[{"uuid": ids["networks"][0]}],
        )
        for index in range(servers)
    ]
    for server in builds:
        compute.wait_for_server(server, wait=600)
        ids["servers"].append(server.id)
    return ids


def ids_of(project: Any) -> dict[str, list[str]]:
    """IDs of everything in one bench project, found with (untimed) list calls."""
    c = admin()
    pid = project.id
    return {
        "networks": [n.id for n in c.network.networks(project_id=pid)],
        "subnets": [s.id for s in c.network.subnets(project_id=pid)],
        "routers": [r.id for r in c.network.routers(project_id=pid)],
        "security_groups": [
            g.id for g in c.network.security_groups(project_id=pid) if g.name != "default"
        ],
        "servers": [
            s.id
            for s in c.compute.servers(all_projects=True, project_id=pid)
            if s.status == "ACTIVE"
        ],
    }


def bench_projects() -> dict[str, Any]:
    identity: Any = admin().identity
    return {project.name: project for project in identity.projects(tags=TAG)}


def discover_seeded() -> list[dict[str, list[str]]]:
    """IDs of everything in the bench projects."""
    return [ids_of(project) for project in bench_projects().values()]


def ensure_project(number: int, servers: int, existing: dict[str, Any]) -> dict[str, list[str]]:
    """Seed one project, reusing a complete one from an interrupted run (seeding is resumable)."""
    project = existing.get(f"bench-{number:03d}")
    if project is not None:
        ids = ids_of(project)
        wanted = {"networks": 2, "subnets": 4, "routers": 1, "security_groups": 3}
        if len(ids["servers"]) == servers and all(len(ids[k]) == n for k, n in wanted.items()):
            return ids
        cleanup_project(project)
    return seed_project(number, servers)


def one_get_per_resource(seeded: list[dict[str, list[str]]]) -> tuple[float, int]:
    c = admin()
    start = time.monotonic()
    getters = {
        "networks": c.network.get_network,
        "subnets": c.network.get_subnet,
        "routers": c.network.get_router,
        "security_groups": c.network.get_security_group,
        "servers": c.compute.get_server,
    }
    for ids in seeded:
        for kind, getter in getters.items():
            for resource_id in ids[kind]:
                getter(resource_id)
    return time.monotonic() - start, len(c.session.get_timings())


def cleanup_project(project: Any) -> None:
    p = admin(project_id=project.id)
    servers = list(p.compute.servers())
    for server in servers:
        p.compute.delete_server(server)
    for server in servers:
        p.compute.wait_for_delete(server, wait=300)
    for router in p.network.routers(project_id=project.id):
        for port in p.network.ports(device_id=router.id):
            p.network.remove_interface_from_router(router, port_id=port.id)
        p.network.delete_router(router)
    for network in p.network.networks(project_id=project.id):
        for port in p.network.ports(network_id=network.id):
            p.network.delete_port(port)
        p.network.delete_network(network)
    for group in p.network.security_groups(project_id=project.id):
        if group.name != "default":
            p.network.delete_security_group(group)
    identity: Any = admin().identity
    identity.delete_project(project)


def cleanup() -> None:
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        list(pool.map(cleanup_project, bench_projects().values()))


def report(seeded: list[dict[str, list[str]]], seeding: float) -> None:
    """Read the cloud both ways and print the table for docs/benchmarks.md."""
    snapshot = inventory.read(CLOUD_NAME, regions=[REGION])
    snapshot = inventory.read(CLOUD_NAME, regions=[REGION])  # warm: discovery cached
    baseline_s, baseline_calls = one_get_per_resource(seeded)
    resources = sum(len(v) for ids in seeded for v in ids.values())
    counts = snapshot.counts()[REGION]
    print(f"seeded {len(seeded)} projects ({resources} resources) in {seeding:.0f} s")
    print("| what | time | API calls | resources read |")
    print("|---|---|---|---|")
    print(
        f"| inventory (list calls, every type, {len(snapshot.projects)} projects) "
        f"| {snapshot.seconds:.2f} s | {snapshot.api_calls} | "
        f"{sum(counts.values()) + len(snapshot.projects)} records |"
    )
    print(
        f"| one GET per seeded resource | {baseline_s:.2f} s | {baseline_calls} | "
        f"{resources} resources |"
    )
    print(
        f"| ratio | {baseline_s / snapshot.seconds:.1f}x faster | "
        f"{baseline_calls / snapshot.api_calls:.1f}x fewer calls | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the seeded projects")
    parser.add_argument(
        "--measure-existing",
        action="store_true",
        help="seed nothing: measure the bench projects already in the cloud",
    )
    args = parser.parse_args()
    root = Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", ".govcloud/localcloud"))
    cloud = LocalCloud(root)
    cloud.up()
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.paths.clouds_yaml)
    if args.measure_existing:
        report(discover_seeded(), seeding=0.0)
        return
    existing = bench_projects()
    wanted = {f"bench-{number:03d}" for number in range(args.projects)}
    for name in sorted(existing.keys() - wanted):
        cleanup_project(existing.pop(name))
    start = time.monotonic()
    # Several departments at once, as a deployment would seed them.
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        seed = partial(ensure_project, servers=args.servers, existing=existing)
        seeded = list(pool.map(seed, range(args.projects)))
    seeding = time.monotonic() - start
    try:
        report(seeded, seeding)
    finally:
        if not args.keep:
            cleanup()


if __name__ == "__main__":
    main()
