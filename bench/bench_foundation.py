"""Benchmarks for the foundation: loading a county, and the audit log's append and verify.

Each figure comes with a baseline measured in the same run, so the ratio holds on any machine:
- loading (positions + validation + whole-county checks) against a bare YAML parse of the same
  files with ruamel's safe loader;
- audit append and verify against hashing the same entries with SM3 and nothing else.

Run: make bench  (or .venv/bin/python bench/bench_foundation.py --departments 60 600)
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML
from sqlalchemy.orm import Session

from govcloud.loader import load_county
from govcloud.registry import audit_log, db

COUNTY_YAML = """\
---
code: "519901"
name: 基准县
sites:
  - {name: primary, role: primary, region: RegionOne}
  - {name: dr, role: dr, region: RegionTwo}
extranet:
  ipv4_pools: [198.18.0.0/15]
  ipv6_prefix: 2001:db8::/32
"""


def synthetic_county(root: Path, departments: int, systems: int = 5) -> Path:
    """Write a county of `departments` departments with `systems` chained systems each."""
    (root / "departments").mkdir(parents=True)
    (root / "county.yaml").write_text(COUNTY_YAML, encoding="utf-8")
    for number in range(departments):
        code = f"d{number:04d}"
        lines = [
            "---",
            f"code: {code}",
            f"name: 部门{number}",
            "kind: department",
            "quota: {vcpu: 16, ram_gb: 32, storage_gb: 1000, floating_ips: 1, networks: 2}",
            "legacy_networks:",
            "  - {name: office, prefix: 192.168.1.0/24, hosts: 100}",
            f"  - {{name: business, prefix: 10.{number % 256}.0.0/22, hosts: 500, vlan: 20}}",
            "systems:",
        ]
        for index in range(systems):
            # Each system depends on the previous one and on department 0's first system.
            deps = [f"{code}/s{index - 1}"] if index else []
            if number and not index:
                deps.append("d0000/s0")
            lines += [
                f"  - code: s{index}",
                f"    name: 系统{index}",
                "    tier: important",
                "    data_gb: 100",
                "    max_downtime_min: 60",
                "    location: legacy",
                f"    depends_on: [{', '.join(deps)}]",
            ]
        (root / "departments" / f"{code}.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    return root


def timed(action: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def bench_loader(departments: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = synthetic_county(Path(scratch) / "county", departments)
        files = sorted(root.rglob("*.yaml"))

        def parse_only() -> None:
            yaml = YAML(typ="safe", pure=True)
            for file in files:
                yaml.load(file.read_text(encoding="utf-8"))

        baseline = timed(parse_only)
        full = timed(lambda: load_county(root))
    print(
        f"| load county, {departments} departments ({departments * 5} systems) "
        f"| {full * 1000:.0f} ms | bare YAML parse {baseline * 1000:.0f} ms "
        f"| {full / baseline:.2f}x |"
    )


def bench_audit(entries: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.make_engine(f"sqlite:///{scratch}/registry.sqlite3")
        db.upgrade(engine, actor="bench")

        def append() -> None:
            with Session(engine) as session, session.begin():
                for number in range(entries):
                    audit_log.record(
                        session,
                        actor="bench",
                        action="bench.change",
                        object=f"thing/{number}",
                        before={"n": number},
                        after={"n": number + 1},
                    )

        start = time.perf_counter()
        append()
        appended = time.perf_counter() - start

        def verify() -> None:
            with Session(engine) as session:
                report = audit_log.verify(session)
            if not report.ok:
                raise SystemExit(f"benchmark chain broken: {report.message}")

        verified = timed(verify)
        now = dt.datetime.now(dt.UTC)

        def hash_only() -> None:
            previous = "0" * 64
            for number in range(entries):
                previous = audit_log.entry_hash(
                    prev_hash=previous,
                    at=now,
                    actor="bench",
                    action="bench.change",
                    object=f"thing/{number}",
                    before={"n": number},
                    after={"n": number + 1},
                )

        baseline = timed(hash_only)
        engine.dispose()
    print(
        f"| audit append, {entries} entries, one transaction (SQLite) | {appended:.2f} s "
        f"({entries / appended:,.0f}/s) | SM3 chain alone {baseline:.2f} s "
        f"| {appended / baseline:.1f}x |"
    )
    print(
        f"| audit verify-log, {entries + 1} entries (SQLite) | {verified:.2f} s "
        f"({entries / verified:,.0f}/s) | SM3 chain alone {baseline:.2f} s "
        f"| {verified / baseline:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, nargs="+", default=[60, 600])
    parser.add_argument("--audit-entries", type=int, default=20000)
    args = parser.parse_args()
    print("| what | time | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for departments in args.departments:
        bench_loader(departments)
    bench_audit(args.audit_entries)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole run: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
