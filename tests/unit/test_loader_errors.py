"""Broken county data gives one exact FILE:LINE:COL line per problem, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from small_county import write_county

from govcloud.loader import CountyError, load_county


def problems_of(root: Path) -> list[str]:
    with pytest.raises(CountyError) as caught:
        load_county(root)
    prefix = f"{root}/"
    return [str(problem).removeprefix(prefix) for problem in caught.value.problems]


def test_the_small_county_is_valid(tmp_path: Path) -> None:
    county = load_county(write_county(tmp_path))
    assert [d.code for d in county.departments] == ["alpha", "beta"]


# Each case: file, (old, new) text change, and the exact problem line expected.
BROKEN = {
    "malformed yaml": (
        "departments/alpha.yaml",
        ("  - name: office\n", "  - name: [office\n"),
        "departments/alpha.yaml:13:11: malformed YAML: expected ',' or ']', but got ':'",
    ),
    "wrong type": (
        "departments/alpha.yaml",
        ("hosts: 50", "hosts: many"),
        "departments/alpha.yaml:14:12: legacy_networks.0.hosts: input should be a valid "
        "integer, unable to parse string as an integer (got 'many')",
    ),
    "unknown field": (
        "departments/alpha.yaml",
        ("    hosts: 50\n", "    hosts: 50\n    gateway: 192.168.1.1\n"),
        "departments/alpha.yaml:15:5: unknown field 'gateway'; check its spelling or remove it",
    ),
    "missing field": (
        "departments/beta.yaml",
        ("    tier: core\n", ""),
        "departments/beta.yaml:17:5: missing required field 'tier'",
    ),
    "host bits set": (
        "departments/alpha.yaml",
        ("192.168.1.0/24", "192.168.1.5/24"),
        "departments/alpha.yaml:13:13: legacy_networks.0.prefix: '192.168.1.5/24' has host "
        "bits set; did you mean 192.168.1.0/24?",
    ),
    "invalid prefix": (
        "departments/beta.yaml",
        ("192.168.1.0/24", "192.168.300.0/24"),
        "departments/beta.yaml:13:13: legacy_networks.0.prefix: '192.168.300.0/24' is not a "
        "valid IP prefix",
    ),
    "IPv6 prefix off nibble": (
        "county.yaml",
        ("2001:db8::/32", "2001:db8::/30"),
        "county.yaml:15:16: IPv6 prefix 2001:db8::/30 is not on a nibble boundary; use a "
        "length divisible by 4, e.g. /28",
    ),
    "plan level off nibble": (
        "county.yaml",
        ("department: 48", "department: 47"),
        "county.yaml:18:17: ipv6_plan.department /47 is not on a nibble boundary; use a length "
        "divisible by 4 so that each level is its own ip6.arpa zone",
    ),
    "overlapping pools": (
        "county.yaml",
        ("198.19.0.0/18", "198.18.128.0/17"),
        "county.yaml:14:7: pool 198.18.128.0/17 overlaps pool 198.18.0.0/16 (entry 1); "
        "extranet pools must be disjoint",
    ),
    "negative quota": (
        "departments/beta.yaml",
        ("vcpu: 4", "vcpu: -4"),
        "departments/beta.yaml:6:9: quota.vcpu: input should be greater than or equal to 0 "
        "(got -4)",
    ),
    "fewer networks in the quota than legacy networks": (
        "departments/beta.yaml",
        ("networks: 1", "networks: 0"),
        "departments/beta.yaml:10:13: beta has 1 legacy networks, each a network in its cloud "
        "tenant, but quota.networks is 0: raise it to 1 or more",
    ),
    "unknown dependency": (
        "departments/alpha.yaml",
        ("[beta/db]", "[beta/dbx]"),
        "departments/alpha.yaml:22:18: alpha/web depends on beta/dbx, which no department "
        "declares; check the department and system codes",
    ),
    "classified on cloud": (
        "departments/alpha.yaml",
        ("    location: cloud\n", "    location: cloud\n    classified: true\n"),
        "departments/alpha.yaml:21:15: classified (涉密) system alpha/web cannot have location "
        "'cloud'; classified systems stay on their own networks",
    ),
    "bad county code": (
        "county.yaml",
        ('code: "519901"', 'code: "51990"'),
        "county.yaml:2:7: code: string should match pattern '^\\d{6}$' (got '51990')",
    ),
    "bad tier": (
        "departments/beta.yaml",
        ("tier: core", "tier: critical"),
        "departments/beta.yaml:19:11: systems.0.tier: input should be 'core', 'important' or "
        "'general' (got 'critical')",
    ),
    "MLPS level out of range": (
        "departments/beta.yaml",
        ("    tier: core\n", "    tier: core\n    mlps_level: 6\n"),
        "departments/beta.yaml:20:17: systems.0.mlps_level: 6 is no MLPS protection level: "
        "levels run from 1 (第一级) to 5 (第五级)",
    ),
    "a tier without its MLPS level": (
        "county.yaml",
        ("    subnet: 64\n", "    subnet: 64\nmlps:\n  levels: {core: 3}\n"),
        "county.yaml:22:3: mlps: levels must give every tier a level; missing: important, "
        "general (leave levels out for the defaults: core 3, important 3, general 2)",
    ),
    "file name does not match code": (
        "departments/beta.yaml",
        ("code: beta", "code: gamma"),
        "departments/beta.yaml:2:7: department code 'gamma' does not match the file name "
        "'beta.yaml'; rename the file to gamma.yaml",
    ),
    "duplicate key": (
        "departments/beta.yaml",
        ("    hosts: 20\n", "    hosts: 20\n    hosts: 30\n"),
        'departments/beta.yaml:15:5: malformed YAML: found duplicate key "hosts" with value '
        '"30" (original value: "20")',
    ),
    "hosts do not fit": (
        "departments/alpha.yaml",
        ("hosts: 50", "hosts: 300"),
        "departments/alpha.yaml:14:12: 300 hosts do not fit in 192.168.1.0/24 (254 usable "
        "addresses); fix the host count or the prefix",
    ),
    "self dependency": (
        "departments/alpha.yaml",
        ("[beta/db]", "[alpha/web]"),
        "departments/alpha.yaml:22:18: alpha/web depends on itself",
    ),
    "IPv4 where IPv6 is needed": (
        "county.yaml",
        ("2001:db8::/32", "198.51.100.0/24"),
        "county.yaml:15:16: extranet.ipv6_prefix: '198.51.100.0/24' is an IPv4 prefix; IPv6 "
        "is needed here",
    ),
    "subnet not /64": (
        "county.yaml",
        ("subnet: 64", "subnet: 56"),
        "county.yaml:20:13: ipv6_plan.subnet must be /64 (SLAAC needs a /64, RFC 4291), not /56",
    ),
    "vlan out of range": (
        "departments/beta.yaml",
        ("    hosts: 20\n", "    vlan: 5000\n    hosts: 20\n"),
        "departments/beta.yaml:14:11: legacy_networks.0.vlan: input should be less than or "
        "equal to 4094 (got 5000)",
    ),
    "bad dependency reference": (
        "departments/alpha.yaml",
        ("[beta/db]", "[db]"),
        "departments/alpha.yaml:22:18: systems.0.depends_on.0: string should match pattern "
        "'^[a-z][a-z0-9-]{1,15}/[a-z][a-z0-9-]{0,31}$' (got 'db')",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_input_is_reported_with_file_line_and_column(tmp_path: Path, case: str) -> None:
    file, change, expected = BROKEN[case]
    root = write_county(tmp_path, {file: change})
    assert expected in problems_of(root)


def test_missing_county_file(tmp_path: Path) -> None:
    root = write_county(tmp_path)
    (root / "county.yaml").unlink()
    assert problems_of(root) == ["county.yaml:1:1: file not found"]


def test_missing_departments(tmp_path: Path) -> None:
    root = write_county(tmp_path)
    for file in (root / "departments").iterdir():
        file.unlink()
    assert problems_of(root) == [
        "departments:1:1: no department files (*.yaml) found; add one file per department"
    ]


def test_missing_directory(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nowhere") == [
        f"{tmp_path}/nowhere:1:1: county directory not found; pass --county DIR or set "
        "GOVCLOUD_COUNTY"
    ]


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    root = write_county(tmp_path)
    (root / "departments" / "beta.yaml").write_text("---\n- code: beta\n- name: 乙镇\n")
    assert problems_of(root) == [
        "departments/beta.yaml:1:1: document: expected a mapping of fields, got list"
    ]


def test_dependency_cycle_is_reported_where_it_closes(tmp_path: Path) -> None:
    root = write_county(
        tmp_path,
        {
            "departments/beta.yaml": (
                "    location: legacy\n",
                "    location: legacy\n    depends_on: [alpha/web]\n",
            )
        },
    )
    assert problems_of(root) == [
        "departments/beta.yaml:23:18: dependency cycle: alpha/web → beta/db → alpha/web"
    ]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    root = write_county(
        tmp_path,
        {
            "county.yaml": ("subnet: 64", "subnet: 60"),
            "departments/alpha.yaml": ("hosts: 50", "hosts: lots"),
            "departments/beta.yaml": ("tier: core", "tier: critical"),
        },
    )
    found = problems_of(root)
    assert [line.split(":")[0] for line in found] == [
        "county.yaml",
        "departments/alpha.yaml",
        "departments/beta.yaml",
    ]


def test_broken_department_does_not_cascade_into_unknown_dependencies(tmp_path: Path) -> None:
    # beta.yaml fails to parse: alpha's dependency on beta/db must not be reported as unknown.
    root = write_county(tmp_path, {"departments/beta.yaml": ("kind: township", "kind: [")})
    found = problems_of(root)
    assert len(found) == 1
    assert found[0].startswith("departments/beta.yaml:")
