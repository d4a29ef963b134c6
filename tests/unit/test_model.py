"""Field-level rules of the county model and the whole-county checks, on exact values."""

from __future__ import annotations

import netaddr
import pytest
from pydantic import TypeAdapter, ValidationError

from govcloud.checks import check_county, strongly_connected, usable_hosts
from govcloud.model import AnyPrefix, County, Department, LegacyNetwork, MlpsSettings, System

QUOTA = {"vcpu": 1, "ram_gb": 1, "storage_gb": 1, "floating_ips": 0, "networks": 1}


def network(prefix: str, hosts: int = 1) -> LegacyNetwork:
    return LegacyNetwork(name="lan", prefix=prefix, hosts=hosts)


def system(code: str, *deps: str, location: str = "legacy", classified: bool = False) -> System:
    return System.model_validate(
        {
            "code": code,
            "name": code,
            "tier": "general",
            "data_gb": 1,
            "max_downtime_min": 60,
            "location": location,
            "depends_on": list(deps),
            "classified": classified,
        }
    )


def county(*departments: Department, pools: tuple[str, ...] = ("198.18.0.0/16",)) -> County:
    return County.model_validate(
        {
            "code": "519901",
            "name": "测试县",
            "sites": [{"name": "p", "role": "primary", "region": "RegionOne"}],
            "extranet": {"ipv4_pools": list(pools), "ipv6_prefix": "2001:db8::/32"},
            "departments": [d.model_dump() for d in departments],
        }
    )


def department(code: str, *systems: System) -> Department:
    return Department.model_validate(
        {
            "code": code,
            "name": code,
            "kind": "department",
            "quota": QUOTA,
            "systems": [s.model_dump() for s in systems],
        }
    )


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2001:DB8:0:0::/48", "2001:db8::/48"),
        (" 198.18.0.0/15 ", "198.18.0.0/15"),
        ("2001:0db8:0000::/32", "2001:db8::/32"),
    ],
)
def test_prefixes_are_stored_in_canonical_form(given: str, canonical: str) -> None:
    assert TypeAdapter(AnyPrefix).validate_python(given) == canonical


def test_leading_zeros_are_refused_not_read_as_octal() -> None:
    with pytest.raises(ValidationError, match="not a valid IP prefix"):
        network("192.168.010.0/24")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("192.168.1.1/24", "did you mean 192.168.1.0/24?"),
        ("10.0.0.0", "is not a prefix: write it in CIDR form"),
        ("2001:db8::/64", "is an IPv6 prefix; IPv4 is needed here"),
        ("10.0.0.0/33", "is not a valid IP prefix"),
    ],
)
def test_bad_prefixes_say_what_to_do(given: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("?", r"\?")):
        network(given)


@pytest.mark.parametrize(
    ("prefix", "hosts"),
    [
        ("198.18.0.0/24", 254),
        ("198.18.0.0/30", 2),
        ("198.18.0.0/31", 2),
        ("198.18.0.0/32", 1),
    ],
)
def test_usable_hosts_follow_rfc_3021(prefix: str, hosts: int) -> None:
    assert usable_hosts(netaddr.IPNetwork(prefix)) == hosts


def test_model_is_frozen() -> None:
    lan = network("198.18.0.0/24")
    with pytest.raises(ValidationError):
        lan.hosts = 5  # type: ignore[misc]


def test_renumber_defaults_to_true() -> None:
    assert network("198.18.0.0/24").renumber is True


def test_every_cycle_is_reported_once() -> None:
    found = check_county(
        county(
            department("aa", system("x", "bb/y"), system("z", "aa/x")),
            department("bb", system("y", "aa/x"), system("w", "cc/v")),
            department("cc", system("v", "bb/w")),
        )
    )
    assert sorted(f.message for f in found) == [
        "dependency cycle: aa/x → bb/y → aa/x",
        "dependency cycle: bb/w → cc/v → bb/w",
    ]


def test_a_dependency_chain_is_not_a_cycle() -> None:
    assert (
        check_county(
            county(
                department("aa", system("x", "bb/y")),
                department("bb", system("y", "cc/z")),
                department("cc", system("z")),
            )
        )
        == []
    )


def test_strongly_connected_components() -> None:
    graph = {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": ["e"], "e": ["d"], "f": []}
    components = sorted(sorted(c) for c in strongly_connected(graph))
    assert components == [["a", "b", "c"], ["d", "e"], ["f"]]


def test_deep_dependency_chain_does_not_overflow() -> None:
    graph = {f"n{i}": [f"n{i + 1}"] for i in range(20000)}
    graph["n20000"] = ["n0"]
    assert len(strongly_connected(graph)) == 1


def test_pool_containment_is_an_overlap() -> None:
    found = check_county(county(pools=("198.18.0.0/15", "198.19.0.0/16")))
    assert [(f.path, f.message) for f in found] == [
        (
            ("extranet", "ipv4_pools", 1),
            "pool 198.19.0.0/16 overlaps pool 198.18.0.0/15 (entry 1); extranet pools must be "
            "disjoint",
        )
    ]


def test_adjacent_pools_do_not_overlap() -> None:
    assert check_county(county(pools=("198.18.0.0/16", "198.19.0.0/16"))) == []


def test_classified_system_may_stay_legacy() -> None:
    assert check_county(county(department("aa", system("x", classified=True)))) == []


def test_classified_system_on_cloud_is_refused() -> None:
    found = check_county(county(department("aa", system("x", location="cloud", classified=True))))
    assert [f.path for f in found] == [("departments", 0, "systems", 0, "location")]


def test_exactly_one_primary_site() -> None:
    data = county().model_dump()
    data["sites"].append({"name": "q", "role": "primary", "region": "RegionTwo"})
    found = check_county(County.model_validate(data))
    assert [f.message for f in found] == [
        "the county needs exactly one site with role 'primary', found 2"
    ]


# -- MLPS protection levels ------------------------------------------------------------------
def _levelled(code: str, level: int | None = None, *, classified: bool = False) -> System:
    return system(code, classified=classified).model_copy(update={"mlps_level": level})


def test_a_system_without_a_level_takes_its_tiers() -> None:
    model = county(department("aa", _levelled("x")))
    assert model.system_level(model.departments[0].systems[0]) == 2  # general: level 2


def test_a_department_takes_its_highest_system_level() -> None:
    model = county(department("aa", _levelled("x"), _levelled("y", 3), _levelled("z", 1)))
    assert model.department_level(model.departments[0]) == 3


def test_a_department_without_systems_takes_the_county_default() -> None:
    model = county(department("aa")).model_copy(update={"mlps": MlpsSettings(default_level=1)})
    assert model.department_level(model.departments[0]) == 1


def test_a_classified_system_does_not_raise_its_departments_level() -> None:
    model = county(department("aa", _levelled("x"), _levelled("s", 5, classified=True)))
    assert model.department_level(model.departments[0]) == 2
