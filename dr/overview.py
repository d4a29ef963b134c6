"""What `govcloud dr status` and `dr history` show: per system its protection and last drill,
and the drills, from the county, the DR stack's outputs and the registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from dr.gate import ReplicationStatus
from dr.targets import all_targets, uncovered
from govcloud.model import County, Replication
from govcloud.registry.db import as_utc
from govcloud.registry.dr_state import drills_with_results, last_drills
from govcloud.registry.tables import DrDrill, DrDrillSystem

NOT_READ = "not read"  # the replication's state when no site was asked (no --lab)


def _last(found: tuple[DrDrill, DrDrillSystem] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    drill, result = found
    return {
        "drill": drill.id,
        "kind": drill.kind,
        "at": as_utc(drill.finished_at or drill.started_at),
        "rpo_s": result.rpo_s,
        "rto_s": result.rto_s,
        "lost_writes": result.lost_writes,
        "met": bool(result.met),
        "state": result.state,
    }


def status(
    session: Session,
    county: County,
    replicas: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, ReplicationStatus] | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """`dr status --json`: every replicated system, and every protected one the DR stack has
    no replica of (replication `none`), with its last drill and whether one is overdue."""
    last = last_drills(session)
    last_met = last_drills(session, met_only=True)
    every = dt.timedelta(days=county.dr.drill_every_days)
    rows = []
    for target in all_targets(county, replicas):
        seen = None if live is None else live.get(target.system)
        passed = last_met.get(target.system)
        rows.append(
            {
                "system": target.system,
                "tier": target.tier.value,
                "policy": target.policy_dict,
                "replication": seen.replication if seen else target.policy.replication.value,
                "lag_s": seen.lag_s if seen else None,
                "last_drill": _last(last.get(target.system)),
                "state": seen.state if seen else NOT_READ,
                "lag_bytes": seen.lag_bytes if seen else None,
                "last_backup_at": seen.last_backup_at if seen else None,
                "last_met_drill": _last(passed),
                "overdue": passed is None or now - as_utc(passed[0].started_at) > every,
            }
        )
    for system in uncovered(county, replicas):
        department, _, code = system.partition("/")
        tier = next(
            s.tier
            for d in county.departments
            if d.code == department
            for s in d.systems
            if s.code == code
        )
        rows.append(
            {
                "system": system,
                "tier": tier.value,
                "policy": county.dr.policies[tier].model_dump(mode="json"),
                "replication": Replication.NONE.value,
                "lag_s": None,
                "last_drill": _last(last.get(system)),
                "state": "no replica in the DR stack",
                "lag_bytes": None,
                "last_backup_at": None,
                "last_met_drill": None,
                "overdue": False,
            }
        )
    return {
        "systems": sorted(rows, key=lambda r: r["system"]),
        "drill_every_days": county.dr.drill_every_days,
        "live": live is not None,
    }


def history(session: Session, limit: int) -> list[dict[str, Any]]:
    """`dr history --json`: the drills, newest first, with their systems' verdicts."""
    return [
        {
            "drill": drill.id,
            "kind": drill.kind,
            "scope": drill.scope,
            "actor": drill.actor,
            "started_at": as_utc(drill.started_at),
            "finished_at": None if drill.finished_at is None else as_utc(drill.finished_at),
            "outcome": drill.outcome,
            "systems": [
                {"system": r.system, "met": bool(r.met), "rpo_s": r.rpo_s, "rto_s": r.rto_s}
                for r in systems
            ],
            "report": drill.report_path,
            "report_sm3": drill.report_sm3,
        }
        for drill, systems in drills_with_results(session, limit=limit)
    ]
