"""Stack settings: the `county-cloud:*` keys of `Pulumi.<stack>.yaml`, checked.

The Pulumi entry point reads them through `pulumi.Config`; `govcloud plan` reads the same file
directly (no CLI there), so both go through `settings_from_mapping`, which reports every
problem with the file, line and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import netaddr

from govcloud.conventions import PULUMI_PROJECT, STACK_SITE, STACKS
from govcloud.loader import InputProblemsError, Problem, SourceMap, load_county, read_yaml
from govcloud.model import County, SiteRole
from govcloud.settings import DEFAULT_COUNTY_DIR, Settings

DEFAULT_PHYSICAL_NETWORK: Final = "extranet"
DEFAULT_PRIMARY_STACK: Final = f"organization/{PULUMI_PROJECT}/primary"


@dataclass(frozen=True)
class StackSettings:
    """What one stack needs besides the county: management prefixes, uplink, references."""

    stack: str
    site_role: SiteRole
    county_dir: Path
    ops_management_prefixes: tuple[str, ...]
    extranet_uplink: tuple[str, ...]
    extranet_physical_network: str
    primary_stack: str


def stack_file(project_dir: Path, stack: str) -> Path:
    """Where a stack's settings live."""
    return project_dir / f"Pulumi.{stack}.yaml"


def _prefixes(value: Any) -> tuple[tuple[str, ...], list[tuple[int | None, str]]]:
    """Checked CIDR prefixes, and problems as (list index or None, message)."""
    if not isinstance(value, list) or not value:
        return (), [(None, "give a list of CIDR prefixes, one IPv4 and one IPv6 at least")]
    result: list[str] = []
    problems: list[tuple[int | None, str]] = []
    families: set[int] = set()
    for index, item in enumerate(value):
        try:
            network = netaddr.IPNetwork(str(item))
        except (netaddr.AddrFormatError, ValueError):
            problems.append((index, f"{item!r} is not a CIDR prefix"))
            continue
        if network.ip != network.network:
            problems.append((index, f"{item!r} has host bits set; did you mean {network.cidr}?"))
            continue
        families.add(network.version)
        result.append(str(network.cidr))
    if not problems and families != {4, 6}:
        problems.append(
            (None, "give IPv4 and IPv6 prefixes (every IPv4 rule needs its IPv6 counterpart)")
        )
    return tuple(result), problems


def settings_from_mapping(
    stack: str,
    config: Mapping[str, Any],
    *,
    project_dir: Path,
    source: SourceMap | None = None,
) -> StackSettings:
    """Check a stack's config (keys without the `county-cloud:` prefix); raise on problems."""
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def fail(key: str, message: str, index: int | None = None) -> None:
        path: tuple[str | int, ...] = ("config", f"{PULUMI_PROJECT}:{key}") if key else ()
        problems.append(((*path, index) if index is not None else path, message))

    if stack not in STACKS:
        fail("", f"unknown stack {stack!r}; the stacks are {', '.join(STACKS)}")
    for key in ("opsManagementPrefixes", "extranetUplink"):
        if key not in config:
            fail(key, f"{PULUMI_PROJECT}:{key} is missing: give one IPv4 and one IPv6 prefix")
    found: dict[str, tuple[str, ...]] = {}
    for key in ("opsManagementPrefixes", "extranetUplink"):
        if key in config:
            found[key], failures = _prefixes(config[key])
            for index, message in failures:
                fail(key, f"{PULUMI_PROJECT}:{key}: {message}", index)
    physical = str(config.get("extranetPhysicalNetwork", DEFAULT_PHYSICAL_NETWORK))
    if problems:
        if source is None:
            raise ValueError("; ".join(message for _, message in problems))
        raise InputProblemsError([source.problem(path, message) for path, message in problems])
    county = Path(str(config.get("county", DEFAULT_COUNTY_DIR)))
    return StackSettings(
        stack=stack,
        site_role=STACK_SITE[stack],
        county_dir=county if county.is_absolute() else project_dir / county,
        ops_management_prefixes=found["opsManagementPrefixes"],
        extranet_uplink=found["extranetUplink"],
        extranet_physical_network=physical,
        primary_stack=str(config.get("primaryStack", DEFAULT_PRIMARY_STACK)),
    )


def load_settings(project_dir: Path, stack: str) -> StackSettings:
    """Read and check `Pulumi.<stack>.yaml`; problems name the file, line and key (exit 2)."""
    path = stack_file(project_dir, stack)
    display = path.name
    if stack not in STACKS:
        raise InputProblemsError(
            [Problem(display, 1, 1, f"unknown stack {stack!r}; the stacks are {', '.join(STACKS)}")]
        )
    document, source = read_yaml(path, display)
    raw = (document or {}).get("config", {}) if isinstance(document, dict) else {}
    if not isinstance(raw, dict):
        raise InputProblemsError([source.problem(("config",), "config must be a mapping")])
    prefix = f"{PULUMI_PROJECT}:"
    config = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    return settings_from_mapping(stack, config, project_dir=project_dir, source=source)


def stack_county(option: Path | None, settings: Settings, stack: StackSettings) -> County:
    """--county, else $GOVCLOUD_COUNTY, else the stack's own `county` setting."""
    return load_county(option or settings.county or stack.county_dir)
