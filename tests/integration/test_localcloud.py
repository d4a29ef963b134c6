"""The local cloud and the live-state reader, against real OpenStack services.

Every test creates what it needs in its own project, named after the test, and deletes it.
Point the same tests at any OpenStack with OS_CLOUD (and OS_CLIENT_CONFIG_FILE).
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack import exceptions
from openstack.connection import Connection

from cloud import controls, inventory
from govcloud.conventions import DEFAULT_IMAGE
from lab.localcloud.errors import LocalCloudError
from lab.localcloud.layout import (
    COMPLEXITY_DESCRIPTION,
    COMPLEXITY_REGEX,
    REGIONS,
    Service,
    ServiceKind,
    generate_password,
)
from lab.localcloud.manager import LocalCloud

pytestmark = pytest.mark.cloud
PRIMARY, DR = (region.name for region in REGIONS)


def conn(cloud_name: str, region: str) -> Connection:
    return openstack.connect(cloud=cloud_name, region_name=region)


@dataclass
class Tenant:
    """A test project and a member of it, to act as the department would."""

    cloud_name: str
    project: Any
    user: str
    password: str

    def connect(self, region: str) -> Connection:
        """A connection as the project's member."""
        auth_url = conn(self.cloud_name, region).config.get_auth_args()["auth_url"]
        return openstack.connect(
            auth_url=auth_url,
            username=self.user,
            password=self.password,
            project_id=self.project.id,
            user_domain_name="Default",
            region_name=region,
            identity_api_version="3",
        )


@pytest.fixture
def tenant(cloud_name: str, request: pytest.FixtureRequest) -> Iterator[Tenant]:
    """A fresh project with a member for one test; everything in it is deleted afterwards."""
    identity: Any = conn(cloud_name, PRIMARY).identity
    name = f"t-{request.node.name[:40]}-{secrets.token_hex(3)}"
    project = identity.create_project(name=name, domain_id="default", tags=["govcloud-test"])
    password = generate_password()  # Keystone's password_regex refuses some random ones
    user = identity.create_user(name=name, password=password, domain_id="default")
    identity.assign_project_role_to_user(project, user, identity.find_role("member"))
    try:
        yield Tenant(cloud_name, project, name, password)
    finally:
        for region in (PRIMARY, DR):
            _purge(conn(cloud_name, region), project.id)
        identity.delete_user(user)
        identity.delete_project(project)


def _purge(c: Connection, project_id: str) -> None:
    for server in c.compute.servers(all_projects=True, project_id=project_id):
        c.compute.delete_server(server)
        c.compute.wait_for_delete(server, wait=120)
    for volume in c.block_storage.volumes(all_projects=True, project_id=project_id):
        c.block_storage.delete_volume(volume)
        c.block_storage.wait_for_delete(volume, wait=120)
    for router in c.network.routers(project_id=project_id):
        c.network.update_router(router, external_gateway_info={})
        for port in c.network.ports(device_id=router.id, device_owner="network:router_interface"):
            c.network.remove_interface_from_router(router, port_id=port.id)
        c.network.delete_router(router)
    for network in c.network.networks(project_id=project_id):
        for port in c.network.ports(network_id=network.id):
            c.network.delete_port(port)
        c.network.delete_network(network)
    for pool in c.network.subnet_pools(project_id=project_id):
        c.network.delete_subnet_pool(pool)
    for scope in c.network.address_scopes(project_id=project_id):
        c.network.delete_address_scope(scope)
    for group in c.network.security_groups(project_id=project_id):
        if group.name != "default":
            c.network.delete_security_group(group)


# -- the local cloud itself (always the local cloud, whatever OS_CLOUD says) ---------------
def test_every_service_is_up_in_both_regions(local_cloud: LocalCloud) -> None:
    rows = local_cloud.status()
    assert [r.name for r in rows if not r.healthy] == []
    assert {r.region for r in rows if r.region} == {PRIMARY, DR}
    mode = stat.S_IMODE(local_cloud.paths.clouds_yaml.stat().st_mode)
    assert mode == 0o600, "clouds.yaml holds the admin password"


def test_catalog_has_compute_network_and_volume_endpoints_per_region(cloud_name: str) -> None:
    identity: Any = conn(cloud_name, PRIMARY).identity
    services = {s.id: s.type for s in identity.services()}
    endpoints = {
        (services[e.service_id], e.region_id, e.url) for e in identity.endpoints(interface="public")
    }
    for kind in ("compute", "network", "volumev3", "placement"):
        urls = {url for service, region, url in endpoints if service == kind}
        per_region = {region for service, region, _ in endpoints if service == kind}
        assert per_region >= {PRIMARY, DR}, kind
        assert len(urls) >= 2, f"{kind}: each region needs its own endpoint"


def test_platform_content_exists_and_tenants_do_not(local_cloud: LocalCloud) -> None:
    for region in (PRIMARY, DR):
        c = openstack.connect(cloud="govcloud-local", region_name=region)
        assert {"m1.tiny", "m1.small"} <= {f.name for f in c.compute.flavors()}
        departments = [
            p
            for p in c.identity.projects()
            if p.name not in ("admin", "service") and "govcloud-test" not in (p.tags or [])
        ]
        assert departments == [], "tenants are the stacks' job, not the local cloud's"
    assert c.image.find_image(DEFAULT_IMAGE) is not None


def test_keystone_refuses_weak_passwords_and_says_its_rule(local_cloud: LocalCloud) -> None:
    """[security_compliance] as a county sets it: a weak password is refused with the rule's
    description, and the API answers the rule (not lockout: Keystone refuses to say)."""
    c = openstack.connect(cloud="govcloud-local", region_name=PRIMARY)
    name = f"weak-{secrets.token_hex(3)}"
    with pytest.raises(exceptions.HttpException) as refused:
        c.identity.create_user(name=name, password="password1", domain_id="default")  # noqa: S106
    assert refused.value.status_code == 400
    assert "口令至少8位" in f"{refused.value} {refused.value.details}"
    assert c.identity.find_user(name) is None
    read = controls.read(
        "govcloud-local", [PRIMARY], config_file=str(local_cloud.paths.clouds_yaml)
    )
    assert read.password_rule is not None
    assert (read.password_rule.regex, read.password_rule.description) == (
        COMPLEXITY_REGEX,
        COMPLEXITY_DESCRIPTION,
    )
    lockout = c.identity.get("/domains/default/config/security_compliance/lockout_duration")
    assert lockout.status_code == 403, lockout.text  # InvalidDomainConfig: not readable


def test_second_up_is_idempotent_and_starts_nothing(local_cloud: LocalCloud) -> None:
    before = {r.name: r.pid for r in local_cloud.status()}
    local_cloud.up()
    assert {r.name: r.pid for r in local_cloud.status()} == before


def test_failures_name_the_service_and_show_its_log(local_cloud: LocalCloud) -> None:
    broken = Service("nova-api-r9", ServiceKind.API, None, 1, "nowhere")
    program = "print('cannot listen: port 1 is taken'); raise SystemExit(3)"
    local_cloud._spawn(broken.name, [sys.executable, "-c", program])
    try:
        with pytest.raises(LocalCloudError) as caught:
            local_cloud.wait_api(broken, timeout=20)
    finally:
        local_cloud.paths.pid(broken.name).unlink(missing_ok=True)
        local_cloud.paths.log(broken.name).unlink(missing_ok=True)
    message = str(caught.value)
    assert message.startswith("local cloud: nova-api-r9: the process exited while starting")
    assert "cannot listen: port 1 is taken" in message


def test_neutron_has_its_policy_before_the_first_request(local_cloud: LocalCloud) -> None:
    """neutron.policy.init() publishes its enforcer before loading the rules, so a request
    arriving meanwhile was refused (403 on delete_quota right after a start): the WSGI module
    the cloud runs loads them when gunicorn imports it."""
    slug = REGIONS[0].slug
    module = local_cloud.paths.wsgi / f"neutron_{slug}_app.py"
    check = (
        f"import runpy; runpy.run_path({str(module)!r}); import neutron.policy as policy; "
        "print('delete_quota' in policy._ENFORCER.rules)"
    )
    result = subprocess.run(
        [local_cloud.bin_path("python"), "-c", check],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_env_points_clients_at_the_cloud(local_cloud: LocalCloud, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "GOVCLOUD_"))}
    env["GOVCLOUD_LOCALCLOUD_DIR"] = str(local_cloud.paths.root)
    exports = subprocess.run(
        [sys.executable, "-m", "cli", "localcloud", "env"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout
    probe = (
        f"{exports}\n{sys.executable} -c 'import openstack; "
        'print(openstack.connect().identity.get_region("RegionTwo").id)\''
    )
    result = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert result.stdout.strip() == DR, result.stderr


# -- real resources in both regions --------------------------------------------------------------
@pytest.mark.parametrize("region", [PRIMARY, DR])
def test_dual_stack_network_router_and_security_group(tenant: Tenant, region: str) -> None:
    project, c = tenant.project, conn(tenant.cloud_name, region)
    scope6 = c.network.create_address_scope(name="extranet-v6", ip_version=6, project_id=project.id)
    pool6 = c.network.create_subnet_pool(
        name="extranet-v6",
        prefixes=["2001:db8:1000::/36"],
        default_prefix_length=64,
        minimum_prefix_length=48,
        address_scope_id=scope6.id,
        project_id=project.id,
    )
    pool4 = c.network.create_subnet_pool(
        name="extranet-v4",
        prefixes=["198.18.0.0/16"],
        default_prefix_length=24,
        project_id=project.id,
    )
    external = c.network.create_network(
        name="extranet",
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network="extranet",
        project_id=project.id,
    )
    c.network.create_subnet(
        network_id=external.id,
        ip_version=4,
        cidr="198.19.0.0/24",
        enable_dhcp=False,
        project_id=project.id,
    )
    lan = c.network.create_network(name="office", project_id=project.id)
    v4 = c.network.create_subnet(
        network_id=lan.id,
        ip_version=4,
        subnet_pool_id=pool4.id,
        prefix_length=24,
        project_id=project.id,
    )
    v6 = c.network.create_subnet(
        network_id=lan.id,
        ip_version=6,
        subnet_pool_id=pool6.id,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
        project_id=project.id,
    )
    router = c.network.create_router(
        name="edge", project_id=project.id, external_gateway_info={"network_id": external.id}
    )
    c.network.add_interface_to_router(router, subnet_id=v4.id)
    c.network.add_interface_to_router(router, subnet_id=v6.id)
    group = c.network.create_security_group(name="baseline", project_id=project.id)
    for ethertype, prefix in (("IPv4", "198.51.100.0/24"), ("IPv6", "2001:db8:ff::/64")):
        c.network.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            ethertype=ethertype,
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix=prefix,
            project_id=project.id,
        )

    assert v4.cidr.startswith("198.18.") and v4.cidr.endswith("/24")
    assert v6.cidr.startswith("2001:db8:1") and v6.cidr.endswith("/64")
    snapshot = inventory.read(tenant.cloud_name, regions=[region])
    mine = [r for r in snapshot.routers if r.project_id == project.id]
    assert [(r.name, r.external_network_id) for r in mine] == [("edge", external.id)]
    assert {i.subnet_id for i in mine[0].interfaces} == {v4.id, v6.id}
    subnet6 = next(s for s in snapshot.subnets if s.id == v6.id)
    assert (subnet6.ipv6_ra_mode, subnet6.ipv6_address_mode) == ("slaac", "slaac")
    assert subnet6.subnet_pool_id == pool6.id
    rules = next(g for g in snapshot.security_groups if g.id == group.id).rules
    ssh = sorted((r.ethertype, r.remote_ip_prefix) for r in rules if r.port_range_min == 22)
    assert ssh == [("IPv4", "198.51.100.0/24"), ("IPv6", "2001:db8:ff::/64")]
    pools = {p.name: p for p in snapshot.subnet_pools if p.project_id == project.id}
    assert pools["extranet-v6"].address_scope_id == scope6.id
    ext = next(n for n in snapshot.networks if n.id == external.id)
    assert (ext.external, ext.provider_network_type) == (True, "flat")
    other = DR if region == PRIMARY else PRIMARY
    elsewhere = inventory.read(tenant.cloud_name, regions=[other])
    assert all(n.project_id != project.id for n in elsewhere.networks), "regions must not mix"


@pytest.mark.parametrize("region", [PRIMARY, DR])
def test_server_goes_active_and_volume_attaches(tenant: Tenant, region: str) -> None:
    c = tenant.connect(region)
    net = c.network.create_network(name="app")
    c.network.create_subnet(network_id=net.id, ip_version=4, cidr="198.18.20.0/24")
    c.network.create_subnet(
        network_id=net.id,
        ip_version=6,
        cidr="2001:db8:20::/64",
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )
    flavor = c.compute.find_flavor("m1.tiny")
    image = c.image.find_image(DEFAULT_IMAGE)
    server = c.compute.create_server(
        name="app-1", flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}]
    )
    server = c.compute.wait_for_server(server, wait=180)
    volume = c.block_storage.create_volume(size=1, name="data")
    volume = c.block_storage.wait_for_status(volume, "available", wait=120)
    c.compute.create_volume_attachment(server, volume_id=volume.id)
    c.block_storage.wait_for_status(volume, "in-use", wait=120)

    snapshot = inventory.read(tenant.cloud_name, regions=[region])
    found = next(s for s in snapshot.servers if s.id == server.id)
    assert (found.status, found.flavor, found.project_id) == (
        "ACTIVE",
        "m1.tiny",
        tenant.project.id,
    )
    assert any(a.startswith("198.18.20.") for a in found.addresses)
    assert any(a.startswith("2001:db8:20:") for a in found.addresses)
    stored = next(v for v in snapshot.volumes if v.id == volume.id)
    assert (stored.size_gb, stored.attached_to) == (1, (server.id,))
    c.compute.delete_volume_attachment(server, volume.id)
    c.block_storage.wait_for_status(volume, "available", wait=120)


def test_keystone_limits_are_enforced_by_nova(tenant: Tenant) -> None:
    identity: Any = conn(tenant.cloud_name, PRIMARY).identity
    nova = identity.find_service("nova")
    identity.create_limit(
        service_id=nova.id,
        project_id=tenant.project.id,
        region_id=PRIMARY,
        resource_name="servers",
        resource_limit=1,
    )
    c = tenant.connect(PRIMARY)
    net = c.network.create_network(name="app")
    c.network.create_subnet(network_id=net.id, ip_version=4, cidr="198.18.30.0/24")
    flavor = c.compute.find_flavor("m1.tiny")
    image = c.image.find_image(DEFAULT_IMAGE)
    first = c.compute.wait_for_server(
        c.compute.create_server(
            name="one", flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}]
        ),
        wait=180,
    )
    assert first.status == "ACTIVE"
    with pytest.raises(exceptions.HttpException) as refused:
        c.compute.create_server(
            name="two", flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
    assert refused.value.status_code == 403
    snapshot = inventory.read(tenant.cloud_name, regions=[PRIMARY])
    limits = [
        (x.service, x.resource_name, x.resource_limit)
        for x in snapshot.limits
        if x.project_id == tenant.project.id
    ]
    assert limits == [("compute", "servers", 1)]


def _network_quota(snapshot: inventory.Snapshot, project_id: str) -> dict[str, int]:
    return next(
        q.values for q in snapshot.quotas if q.project_id == project_id and q.service == "network"
    )


def test_neutron_quotas_are_enforced(tenant: Tenant) -> None:
    admin = conn(tenant.cloud_name, DR)
    # A project with no quota of its own is missing from Neutron's listing: it reads as the
    # defaults.
    defaults = admin.network.get_quota_default(tenant.project.id)
    before = _network_quota(inventory.read(tenant.cloud_name, regions=[DR]), tenant.project.id)
    assert before == {f: int(getattr(defaults, f)) for f in inventory.NETWORK_QUOTA_FIELDS}
    admin.network.update_quota(tenant.project.id, networks=1, subnets=5)
    c = tenant.connect(DR)
    c.network.create_network(name="first")
    with pytest.raises(exceptions.HttpException) as refused:
        c.network.create_network(name="second")
    assert refused.value.status_code == 409
    quota = _network_quota(inventory.read(tenant.cloud_name, regions=[DR]), tenant.project.id)
    assert (quota["networks"], quota["subnets"]) == (1, 5)
    assert quota["ports"] == before["ports"]  # the fields left alone keep their defaults


def test_reader_makes_list_calls_not_one_per_resource(tenant: Tenant) -> None:
    c = conn(tenant.cloud_name, PRIMARY)
    project_id = tenant.project.id
    c.network.create_network(name="n0", project_id=project_id)
    few = inventory.read(tenant.cloud_name)
    for number in range(1, 8):
        c.network.create_network(name=f"n{number}", project_id=project_id)
        c.network.create_security_group(name=f"g{number}", project_id=project_id)
    many = inventory.read(tenant.cloud_name)
    assert len(many.networks) == len(few.networks) + 7
    assert len(many.security_groups) == len(few.security_groups) + 7
    assert many.api_calls == few.api_calls, "adding resources must not add API calls"


# Reads the admin's stored hash from a throw-away Keystone database and checks the password
# given on standard input against it with Keystone's own hasher (bcrypt), in the cloud's venv.
VERIFY_ADMIN_SCRIPT = """
import sqlite3, sys, bcrypt
row = sqlite3.connect(sys.argv[1]).execute(
    "SELECT p.password_hash FROM password p JOIN local_user u ON p.local_user_id = u.id "
    "WHERE u.name = 'admin'").fetchone()
print(bcrypt.checkpw(sys.stdin.read().encode(), row[0].encode()))
"""


def test_keystone_bootstraps_with_a_password_that_looks_like_an_option(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    """A generated password begins with "-" about once in 64 starts; `keystone-manage
    bootstrap --bootstrap-password -…` took it for an option and the cloud never came up."""
    root = tmp_path / "cloud"
    root.mkdir()
    (root / "venv").symlink_to(local_cloud.paths.venv)  # the real Keystone, a scratch state
    scratch = LocalCloud(root)
    config = tmp_path / "keystone.conf"
    config.write_text(
        f"[database]\nconnection = sqlite:///{tmp_path}/keystone.db\n"
        f"[fernet_tokens]\nkey_repository = {tmp_path}/fernet-keys\n"
        f"[fernet_receipts]\nkey_repository = {tmp_path}/fernet-receipts\n"
    )
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    manage = [scratch.bin_path("keystone-manage"), "--config-file", str(config)]
    for step in (["db_sync"], ["fernet_setup", "--keystone-user", user, "--keystone-group", group]):
        subprocess.run([*manage, *step], check=True, capture_output=True, timeout=300)
    password = "-" + secrets.token_urlsafe(24)

    scratch.bootstrap_keystone(config, password)

    def admin_password_is(candidate: str) -> bool:
        checked = subprocess.run(
            [scratch.bin_path("python"), "-c", VERIFY_ADMIN_SCRIPT, str(tmp_path / "keystone.db")],
            input=candidate,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return checked.stdout.strip() == "True"

    assert admin_password_is(password)
    assert not admin_password_is(password[1:])
    # Nowhere the password could be read by others: the setup log records the command line.
    log = (scratch.paths.logs / "keystone-setup.log").read_text()
    assert "keystone-manage" in log and password not in log
