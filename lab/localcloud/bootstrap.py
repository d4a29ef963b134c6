"""What Keystone must know before the other services start, and the platform content a fresh
OpenStack install has (flavors, one image). Idempotent: everything is found before it is made.

Tenants, networks and quotas are not created here: those are the stacks' job.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from typing import TYPE_CHECKING, Any

import openstack
from openstack.connection import Connection

from govcloud.conventions import DEFAULT_IMAGE, FLAVORS
from lab.localcloud import layout
from lab.localcloud.errors import LocalCloudError
from lab.localcloud.layout import GLANCE, HOST, KEYSTONE, REGIONS, Region

if TYPE_CHECKING:
    from lab.localcloud.manager import LocalCloud, Progress

# Nova with unified limits refuses anything without a registered default; these are the
# defaults of a fresh install (Nova's own [quota] defaults), per region.
NOVA_REGISTERED_LIMITS = {
    "servers": 10,
    "class:VCPU": 20,
    "class:MEMORY_MB": 51200,
    "class:DISK_GB": 1000,
    "server_metadata_items": 128,
    "server_injected_files": 5,
    "server_injected_file_content_bytes": 10240,
    "server_injected_file_path_bytes": 255,
    "server_key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
}
# The classic m1 flavors: (name, vCPU, RAM MiB, disk GiB).
IMAGE_BYTES = 1 << 20  # a 1 MiB raw image: the fake virt driver never boots it
AGENT_TIMEOUT_S = 180


def connect(
    cloud: LocalCloud, region: str = REGIONS[0].name, *, system: bool = False
) -> Connection:
    """An admin connection to the local cloud through its clouds.yaml."""
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.paths.clouds_yaml)])
    name = layout.SYSTEM_CLOUD_NAME if system else layout.CLOUD_NAME
    return openstack.connection.Connection(config=config.get_one(cloud=name, region_name=region))


def _catalog(region: Region) -> list[tuple[str, str, str, str]]:
    """(user, service name, type, URL) for one region."""
    return [
        ("placement", "placement", "placement", f"http://{HOST}:{region.placement_port}"),
        ("neutron", "neutron", "network", f"http://{HOST}:{region.neutron_port}"),
        ("nova", "nova", "compute", f"http://{HOST}:{region.nova_port}/v2.1"),
        ("cinder", "cinderv3", "volumev3", f"http://{HOST}:{region.cinder_port}/v3/$(project_id)s"),
        (
            "cinder",
            "cinder",
            "block-storage",
            f"http://{HOST}:{region.cinder_port}/v3/$(project_id)s",
        ),
        ("glance", "glance", "image", f"http://{HOST}:{GLANCE.port}"),
        ("", "keystone", "identity", f"http://{HOST}:{KEYSTONE.port}/v3/"),
    ]


def register(cloud: LocalCloud) -> dict[str, str]:
    """Regions, service users, services and endpoints; returns each region's Nova endpoint."""
    conn = connect(cloud)
    identity: Any = conn.identity  # the SDK types it as "v2 or v3"; Keystone here is v3
    password = cloud.secrets()["service"]
    for region in REGIONS:
        if not any(r.id == region.name for r in identity.regions()):
            identity.create_region(id=region.name, description=f"{region.site_role} site")
    service_project = identity.find_project("service") or identity.create_project(
        name="service", domain_id="default", description="OpenStack service users"
    )
    roles = {name: identity.find_role(name) for name in ("admin", "service", "reader")}
    nova_endpoints: dict[str, str] = {}
    for region in REGIONS:
        for user_name, name, kind, url in _catalog(region):
            if user_name:
                user = identity.find_user(user_name) or identity.create_user(
                    name=user_name, password=password, domain_id="default"
                )
                for role in ("admin", "service"):
                    identity.assign_project_role_to_user(service_project, user, roles[role])
            service = identity.find_service(name) or identity.create_service(name=name, type=kind)
            have = {
                (e.interface, e.region_id): e for e in identity.endpoints(service_id=service.id)
            }
            for interface in ("public", "internal", "admin"):
                endpoint = have.get((interface, region.name))
                if endpoint is None:
                    endpoint = identity.create_endpoint(
                        service_id=service.id, interface=interface, url=url, region_id=region.name
                    )
                if name == "nova" and interface == "public":
                    nova_endpoints[region.name] = endpoint.id
    # oslo.limit reads Keystone limits for Nova with a system-scoped reader token.
    identity.assign_system_role_to_user(identity.find_user("nova"), roles["reader"], "all")
    nova = identity.find_service("nova")
    for region in REGIONS:
        existing = {
            r.resource_name
            for r in identity.registered_limits(service_id=nova.id, region_id=region.name)
        }
        for resource, default in NOVA_REGISTERED_LIMITS.items():
            if resource not in existing:
                identity.create_registered_limit(
                    service_id=nova.id,
                    region_id=region.name,
                    resource_name=resource,
                    default_limit=default,
                )
    path = cloud.paths.data / "nova-endpoints.json"
    path.write_text(json.dumps(nova_endpoints))
    return nova_endpoints


def wait_for_agents(cloud: LocalCloud, progress: Progress) -> None:
    """Map each region's compute host into its cell and wait for compute and volume services."""
    for region in REGIONS:
        conn = connect(cloud, region.name)
        manage = [
            cloud.bin_path("nova-manage"),
            "--config-file",
            str(cloud.paths.etc / f"nova-{region.slug}" / "nova.conf"),
        ]
        deadline = time.monotonic() + AGENT_TIMEOUT_S
        while True:
            subprocess.run(  # noqa: S603  (our own command, no shell)
                [*manage, "cell_v2", "discover_hosts"],
                capture_output=True,
                check=False,
            )
            computes = [s for s in conn.compute.services() if s.binary == "nova-compute"]
            volumes = [s for s in conn.block_storage.services() if s.binary == "cinder-volume"]
            hypervisors = list(conn.compute.hypervisors())
            # cinder-volume reports its pool to the scheduler a while after it is "up"; until
            # then every volume create ends in error (No valid backend).
            pools = list(conn.block_storage.backend_pools())
            ready = (
                computes
                and all(s.state == "up" for s in computes)
                and volumes
                and all(s.state == "up" for s in volumes)
                and hypervisors
                and pools
            )
            if ready:
                break
            if time.monotonic() > deadline:
                raise LocalCloudError(
                    f"nova-compute-{region.slug}",
                    f"compute or volume service (or the volume scheduler's pool) not up after "
                    f"{AGENT_TIMEOUT_S} s",
                    cloud.paths.log(f"nova-compute-{region.slug}"),
                )
            time.sleep(1)
        progress(f"{region.name}: compute and volume services are up, volumes can be placed")


def platform_content(cloud: LocalCloud, progress: Progress) -> None:
    """Flavors in every region and one small image (Glance is shared by both regions)."""
    for region in REGIONS:
        conn = connect(cloud, region.name)
        existing = {f.name for f in conn.compute.flavors(is_public=None)}
        for flavor in FLAVORS.values():
            if flavor.name not in existing:
                conn.compute.create_flavor(
                    name=flavor.name,
                    vcpus=flavor.vcpu,
                    ram=flavor.ram_mib,
                    disk=flavor.disk_gb,
                    is_public=True,
                )
    conn = connect(cloud)
    if conn.image.find_image(DEFAULT_IMAGE) is None:
        data = bytes(IMAGE_BYTES)
        image: Any = conn.image.create_image(
            name=DEFAULT_IMAGE,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            data=data,
            validate_checksum=False,
            allow_duplicates=False,
        )
        progress(f"uploaded image {DEFAULT_IMAGE} ({hashlib.sha256(data).hexdigest()[:12]})")
        conn.image.wait_for_status(image, status="active", wait=120)
