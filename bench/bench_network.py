"""Benchmarks for the network planner (issue: network planning).

1. Overlap detection over N random prefixes (mixed IPv4/IPv6, several VRFs), against the
   straightforward baseline measured in the same run: parse with Python's `ipaddress`, sort,
   and sweep. Both must find the same groups.
2. A province-scale IPv6 plan: 18 cities x 20 counties x 100 departments x 16 subnets, each
   county planned by `plan_network` inside its city block; then the time to add one department
   to an existing county plan, at two province sizes to show it does not grow with the plan.

Peak memory (RSS) is measured for each part in its own child process.

Run: make bench  (or .venv/bin/python bench/bench_network.py overlaps --count 1000000)
"""

from __future__ import annotations

import argparse
import ipaddress
import multiprocessing
import random
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

from govcloud.model import County
from network.overlaps import OverlapGroup, PrefixTable, Scope, find_overlaps
from network.plan import Allocation, plan_network
from network.prefixes import gc_paused, parse

VRFS = ("global", "police", "medical", "tax", "finance", "court", "education", "video")


# -- overlaps -------------------------------------------------------------------------------------
def random_prefixes(count: int, seed: int = 2026) -> list[tuple[str, str, str]]:
    """(owner, vrf, prefix) rows: IPv4 anywhere, IPv6 in fd00::/8, 5% reused prefixes.

    The addresses are data for the sweep only; nothing is ever sent to them.
    """
    rng = random.Random(seed)  # noqa: S311  (benchmark data, not secrets)
    rows: list[tuple[str, str, str]] = []
    for index in range(count):
        vrf = VRFS[rng.randrange(len(VRFS))]
        owner = f"dept{rng.randrange(5000)}"
        if rng.random() < 0.05 and rows:
            rows.append((owner, vrf, rows[rng.randrange(len(rows))][2]))  # a reused prefix
            continue
        if index % 2:
            length = rng.choice((16, 20, 22, 23, 24, 24, 24, 25, 26, 27, 28, 29, 30))
            value = rng.getrandbits(32)
            value = value >> (32 - length) << (32 - length)
            rows.append((owner, vrf, f"{ipaddress.IPv4Address(value)}/{length}"))
        else:
            length = rng.choice((44, 48, 48, 52, 56, 60, 64, 64, 64, 64, 127, 128))
            value = (0xFD << 120) | rng.getrandbits(120)
            value = value >> (128 - length) << (128 - length)
            rows.append((owner, vrf, f"{ipaddress.IPv6Address(value)}/{length}"))
    return rows


def ours(rows: list[tuple[str, str, str]]) -> list[OverlapGroup]:
    return find_overlaps(PrefixTable.from_texts(rows))


def comparable(groups: Iterable[tuple[str, Iterable[int]]]) -> set[tuple[str, frozenset[int]]]:
    return {(scope, frozenset(rows)) for scope, rows in groups}


def baseline(rows: list[tuple[str, str, str]]) -> list[tuple[str, list[int]]]:
    """Parse with ipaddress, sort by (family, network, length), sweep keeping the group's end.

    Like ours, it returns groups of row numbers: formatting is not part of detection.
    """
    parsed = [(o, v, ipaddress.ip_network(p), i) for i, (o, v, p) in enumerate(rows)]

    def sweep(key: Callable[[Any], Any], scope: str) -> list[tuple[str, list[int]]]:
        groups = []
        ordered = sorted(
            parsed, key=lambda r: (key(r), r[2].version, r[2].network_address, r[2].prefixlen)
        )
        current: list[Any] = []
        end = None
        for row in ordered:
            network = row[2]
            same_segment = (
                current
                and key(current[0]) == key(row)
                and (current[0][2].version == network.version)
            )
            if not same_segment or network.network_address > end:
                if len(current) > 1:
                    groups.append((scope, [r[3] for r in current]))
                current, end = [], None
            current.append(row)
            end = network.broadcast_address if end is None else max(end, network.broadcast_address)
        if len(current) > 1:
            groups.append((scope, [r[3] for r in current]))
        return groups

    within = sweep(lambda r: r[1], Scope.VRF.value)
    across = [
        g for g in sweep(lambda r: 0, Scope.ACROSS.value) if len({rows[i][1] for i in g[1]}) > 1
    ]
    return within + across


def overlaps_ours(count: int) -> dict[str, Any]:
    rows = random_prefixes(count)
    start = time.perf_counter()
    found = ours(rows)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "groups": comparable((g.scope.value, g.rows) for g in found)}


def overlaps_baseline(count: int) -> dict[str, Any]:
    rows = random_prefixes(count)
    start = time.perf_counter()
    groups = comparable(baseline(rows))
    return {"seconds": time.perf_counter() - start, "groups": groups}


def bench_overlaps(count: int) -> None:
    mine = in_child(overlaps_ours, count)
    theirs = in_child(overlaps_baseline, count)
    if mine["groups"] != theirs["groups"]:
        raise SystemExit(
            f"results differ: ours {len(mine['groups'])} groups, baseline {len(theirs['groups'])}"
        )
    print(
        f"| overlaps, {count:,} prefixes (IPv4+IPv6, {len(VRFS)} VRFs, "
        f"{len(mine['groups']):,} groups) | {mine['seconds']:.2f} s, peak RSS "
        f"{mine['peak_rss_mib']:.0f} MiB | ipaddress sort+sweep {theirs['seconds']:.2f} s, "
        f"peak RSS {theirs['peak_rss_mib']:.0f} MiB "
        f"| {theirs['seconds'] / mine['seconds']:.1f}x faster |"
    )


# -- province plan --------------------------------------------------------------------------------
def province_counties(cities: int, counties: int, departments: int, subnets: int) -> list[County]:
    """Counties of a province: fd00::/16 → city /24 → county /32 (ULA space, RFC 4193)."""
    province = parse("fd00::/16")
    result = []
    for city in range(cities):
        city_block = province.subnet(24, city)
        for number in range(counties):
            county_prefix = city_block.subnet(32, number)
            result.append(
                synthetic_county(
                    f"{city:02d}{number:02d}", str(county_prefix), departments, subnets
                )
            )
    return result


def synthetic_county(code: str, ipv6_prefix: str, departments: int, subnets: int) -> County:
    networks = [
        {"name": f"net{i}", "prefix": f"10.{i}.0.0/24", "hosts": 50} for i in range(subnets)
    ]
    quota = {"vcpu": 1, "ram_gb": 1, "storage_gb": 1, "floating_ips": 0, "networks": 1}
    return County.model_validate(
        {
            "code": f"51{code}",
            "name": f"县{code}",
            "sites": [{"name": "primary", "role": "primary", "region": "RegionOne"}],
            "extranet": {"ipv4_pools": ["198.18.0.0/15"], "ipv6_prefix": ipv6_prefix},
            "departments": [
                {
                    "code": f"d{n:03d}",
                    "name": f"部门{n}",
                    "kind": "department",
                    "quota": quota,
                    "legacy_networks": networks,
                }
                for n in range(departments)
            ],
        }
    )


def with_one_more(county: County, subnets: int) -> County:
    extra = synthetic_county("0000", county.extranet.ipv6_prefix, 1, subnets).departments[0]
    extra = extra.model_copy(update={"code": "new-dept"})
    return county.model_copy(update={"departments": [*county.departments, extra]})


def bench_province(cities: int, counties: int, departments: int, subnets: int) -> dict[str, float]:
    plan_counties = province_counties(cities, counties, departments, subnets)
    six = frozenset({6})
    start = time.perf_counter()
    # One bulk run: the collector is paused for all of it, as plan_network does for one county.
    with gc_paused():
        plans: list[tuple[Allocation, ...]] = [
            plan_network(c, families=six).allocations for c in plan_counties
        ]
    full_s = time.perf_counter() - start
    total = sum(len(p) for p in plans)
    subnet_count = sum(1 for p in plans for a in p if a.kind.value == "subnet")
    # Adding a department re-plans only its own county, against that county's allocations.
    target = len(plan_counties) // 2
    bigger = with_one_more(plan_counties[target], subnets)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        added = plan_network(bigger, plans[target], families=six).added
        timings.append(time.perf_counter() - start)
    if {a.department for a in added} != {"new-dept"}:
        raise SystemExit("adding a department touched other departments")
    return {
        "allocations": total,
        "subnets": subnet_count,
        "full_s": full_s,
        "add_one_ms": min(timings) * 1000,
    }


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one benchmark in a fresh process and add its peak RSS (MiB)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_measured, (function, *args))


def _measured(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    result = function(*args)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=["overlaps", "province", "all"], default="all")
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.part in ("overlaps", "all"):
        bench_overlaps(args.count)
    if args.part in ("province", "all"):
        for cities in (9, 18):
            r = in_child(bench_province, cities, 20, 100, 16)
            print(
                f"| IPv6 plan, {cities} cities x 20 counties x 100 depts x 16 subnets "
                f"| {r['full_s']:.2f} s ({r['allocations']:,} allocations, "
                f"{r['subnets']:,} /64s) | add one department {r['add_one_ms']:.1f} ms "
                f"| peak RSS {r['peak_rss_mib']:.0f} MiB |"
            )


if __name__ == "__main__":
    main()
