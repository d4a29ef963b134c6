"""The local cloud's layout: every process and database has its own name; regions never share."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from govcloud.errors import BadInputError
from lab.localcloud.layout import REGIONS, SERVICES, ServiceKind, databases
from lab.localcloud.manager import LocalCloud


def test_ports_and_names_are_unique() -> None:
    ports = [s.port for s in SERVICES if s.port]
    assert [p for p, n in Counter(ports).items() if n > 1] == []
    assert len({s.name for s in SERVICES}) == len(SERVICES)


def test_each_region_has_its_own_compute_network_volume_and_placement() -> None:
    assert [r.name for r in REGIONS] == ["RegionOne", "RegionTwo"]
    assert [r.site_role for r in REGIONS] == ["primary", "dr"]
    for region in REGIONS:
        names = {s.name.rsplit("-", 1)[0] for s in SERVICES if s.region is region}
        assert names == {
            "placement",
            "neutron",
            "nova-api",
            "cinder-api",
            "nova-conductor",
            "nova-scheduler",
            "nova-compute",
            "cinder-scheduler",
            "cinder-volume",
        }


def test_apis_have_urls_and_daemons_have_configs() -> None:
    for service in SERVICES:
        if service.kind is ServiceKind.API:
            assert service.url == f"http://127.0.0.1:{service.port}"
        else:
            assert service.url is None
            assert service.config.endswith(".conf")


def test_every_service_database_is_named_once_per_region() -> None:
    names = databases()
    assert len(set(names)) == len(names) == 2 + 6 * len(REGIONS)
    for region in REGIONS:
        for service in ("placement", "neutron", "nova_api", "nova_cell0", "nova_cell1", "cinder"):
            assert f"{service}_{region.slug}" in names
    assert all(name.isidentifier() and name.islower() for name in names)


def test_older_secrets_gain_the_database_passwords_and_stay_private(tmp_path: Path) -> None:
    cloud = LocalCloud(tmp_path)
    cloud.paths.secrets.write_text(json.dumps({"admin": "a", "service": "s", "rabbit": "r"}))
    values = cloud.secrets()
    assert values["admin"] == "a"
    assert values["database"] != values["database_admin"]
    assert json.loads(cloud.paths.secrets.read_text()) == values
    assert stat.S_IMODE(cloud.paths.secrets.stat().st_mode) == 0o600


def test_service_urls_use_the_socket_and_the_service_role(tmp_path: Path) -> None:
    cloud = LocalCloud(tmp_path)
    url = make_url(cloud.databases.url("nova_api_r1"))
    assert (url.drivername, url.username, url.database) == (
        "postgresql+psycopg2",
        "openstack",
        "nova_api_r1",
    )
    assert url.host is None
    assert url.query["host"] == str(cloud.paths.postgres)


def test_a_sqlite_era_state_directory_is_refused_with_the_fix(tmp_path: Path) -> None:
    cloud = LocalCloud(tmp_path)
    cloud.paths.data.mkdir(parents=True)
    (cloud.paths.data / "keystone.db").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"down --purge"):
        cloud.start_databases()
    assert not cloud.paths.postgres.exists()
