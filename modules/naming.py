"""Physical and logical names of what the components create, in one place.

Physical names carry the department code, so a department's resources are found by name in
any listing, and `govcloud plan` matches live resources to desired ones by (kind, region,
project, name). Projects carry the county code as well: several counties can share a cloud.
"""

from __future__ import annotations

import re

from modules.constants import TAG_COUNTY, TAG_DEPARTMENT, TAG_KIND, TAG_MANAGED

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str) -> str:
    """A name-safe form of a prefix or label: 198.18.0.0/24 → 198-18-0-0-24."""
    return _UNSAFE.sub("-", text).strip("-").lower()


def project_name(county_code: str, department: str) -> str:
    """The Keystone project of a department: `<county>-<department>`."""
    return f"{county_code}-{department}"


def project_tags(county_code: str, department: str, kind: str) -> list[str]:
    """Tags that mark a project as this county's department tenant."""
    return [
        TAG_MANAGED,
        f"{TAG_COUNTY}{county_code}",
        f"{TAG_DEPARTMENT}{department}",
        f"{TAG_KIND}{kind}",
    ]


def county_tags(county_code: str) -> list[str]:
    """Tags for county-wide resources (extranet fabric)."""
    return [TAG_MANAGED, f"{TAG_COUNTY}{county_code}"]


def security_group_name(department: str, role: str) -> str:
    """`<department>-baseline` or `<department>-database`."""
    return f"{department}-{role}"
