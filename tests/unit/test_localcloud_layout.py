"""The local cloud's layout: every process has its own port and name, regions never share."""

from __future__ import annotations

from collections import Counter

from lab.localcloud.layout import REGIONS, SERVICES, Kind


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
        if service.kind is Kind.API:
            assert service.url == f"http://127.0.0.1:{service.port}"
        else:
            assert service.url is None
            assert service.config.endswith(".conf")
