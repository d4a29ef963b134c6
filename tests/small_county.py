"""A small, valid county for tests that break it on purpose."""

from __future__ import annotations

from pathlib import Path

from govcloud.conventions import PLATFORM_MLPS_LEVEL

CODE = "519901"
# Both departments' MLPS level: alpha's important system and beta's core one are level 3
# (their tiers' default, county.yaml `mlps.levels`).
LEVEL = 3
COUNTY = f"""\
---
code: "{CODE}"
name: 测试县
sites:
  - name: primary
    role: primary
    region: RegionOne
  - name: dr
    role: dr
    region: RegionTwo
extranet:
  ipv4_pools:
    - 198.18.0.0/16
    - 198.19.0.0/18
  ipv6_prefix: 2001:db8::/32
  ipv6_plan:
    block: 36
    department: 48
    township: 48
    subnet: 64
"""

ALPHA = """\
---
code: alpha
name: 甲局
kind: department
quota:
  vcpu: 8
  ram_gb: 16
  storage_gb: 100
  floating_ips: 1
  networks: 2
legacy_networks:
  - name: office
    prefix: 192.168.1.0/24
    hosts: 50
systems:
  - code: web
    name: 门户网站
    tier: important
    data_gb: 10
    max_downtime_min: 60
    location: cloud
    depends_on: [beta/db]
"""

BETA = """\
---
code: beta
name: 乙镇
kind: township
quota:
  vcpu: 4
  ram_gb: 8
  storage_gb: 50
  floating_ips: 0
  networks: 1
legacy_networks:
  - name: office
    prefix: 192.168.1.0/24
    hosts: 20
    renumber: false
systems:
  - code: db
    name: 数据库
    tier: core
    data_gb: 100
    max_downtime_min: 30
    location: legacy
"""

FILES = {"county.yaml": COUNTY, "departments/alpha.yaml": ALPHA, "departments/beta.yaml": BETA}
# A `write_county` change that breaks one mandatory policy, for the tests of the policy gate:
# beta's core database graded above the platform (policy no-system-above-platform-level).
ABOVE_PLATFORM_LEVEL = PLATFORM_MLPS_LEVEL + 1
GRADED_ABOVE_PLATFORM = {
    "departments/beta.yaml": (
        "    tier: core\n",
        f"    tier: core\n    mlps_level: {ABOVE_PLATFORM_LEVEL}\n",
    )
}


def write_county(root: Path, changes: dict[str, tuple[str, str]] | None = None) -> Path:
    """Write the small county, applying `changes` {file: (old text, new text)} first."""
    for name, original in FILES.items():
        text = original
        if changes and name in changes:
            old, new = changes[name]
            assert old in text, f"test bug: {old!r} not in {name}"
            text = text.replace(old, new, 1)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PHYSICAL_SETTING = "county-cloud:extranetPhysicalNetwork: extranet"


def write_project(root: Path, code: str) -> Path:
    """The stacks' Pulumi project files in `root`, the county's external network on a physical
    network of its own (`extranet-<code>`): Neutron holds one flat network per physical
    network, and the sample county (deployed by `make demo`) may hold `extranet`."""
    repo = Path(__file__).resolve().parents[1]
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.dr.yaml"):
        text = (repo / name).read_text()
        assert name == "Pulumi.yaml" or PHYSICAL_SETTING in text, name
        (root / name).write_text(text.replace(PHYSICAL_SETTING, f"{PHYSICAL_SETTING}-{code}"))
    return root
