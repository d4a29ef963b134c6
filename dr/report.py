"""A drill's report: HTML (zh-CN first, English beside) and JSON, rendered from the registry.

The JSON is the drill's document (what `govcloud dr drill --json` prints, with the timeline,
the gate, the MLPS items and the probe data added); the HTML renders that document, never a
second computation. Rendering is deterministic (the chart's SVG ids are salted), so the report
of a drill can be rendered again and compared; the SM3 of each file goes into the drill's row
and the audit log (`dr.report`), and `verify` finds a file that changed since.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dr import levels, store
from govcloud import charts
from govcloud.errors import BadInputError
from govcloud.registry.audit_log import sm3_hex
from govcloud.registry.dr_state import ACTION_REPORT, DrillKind, Step, drill_object, results
from govcloud.registry.tables import AuditEntry, DrDrill, DrDrillSystem

FILES: Final = ("report.html", "report.json")
# The timeline's phases, as the issue and GB/T 20988-2025's test records name them.
PHASES: Final = {
    Step.FAULT.value: ("故障", "fault"),
    Step.DETECTED.value: ("发现", "detection"),
    Step.DECISION.value: ("决策", "decision"),
    Step.PROMOTED.value: ("恢复", "restore"),
    Step.RESTORED.value: ("恢复", "restore"),
    Step.NAME_MOVED.value: ("恢复", "restore"),
    Step.APP_STARTED.value: ("恢复", "restore"),
    Step.VALIDATED.value: ("验证", "validation"),
    Step.VALIDATION_FAILED.value: ("验证", "validation"),
    Step.RESYNCED.value: ("回切", "failback"),
    Step.RETURNED.value: ("回切", "failback"),
    Step.FALLBACK.value: ("回切", "failback"),
    Step.FAULT_CLEARED.value: ("故障", "fault"),
    Step.PROBE_STARTED.value: ("探测", "probe"),
    Step.PROBE_STOPPED.value: ("探测", "probe"),
}
# GB/T 22239-2019 8.1.4.9 (数据备份恢复) at level 3, with the GB/T 28448-2019 test units that
# check them; the same clauses the audit's catalogue evaluates (audit/catalogue.py, BACKUP).
MLPS_ITEMS: Final = (
    {
        "clause": "8.1.4.9 a)",
        "test_unit": "L3-CES1-29",
        "zh": "提供重要数据的本地数据备份与恢复功能：恢复测试记录",
        "en": "backup and recovery of important data: a recorded recovery test",
        "kinds": tuple(DrillKind),
    },
    {
        "clause": "8.1.4.9 b)",
        "test_unit": "L3-CES1-30",
        "zh": "提供异地实时备份功能，利用通信网络将重要数据实时备份至备份场地",
        "en": "off-site real-time backup of important data over the network",
        "kinds": (DrillKind.TEST, DrillKind.SWITCHOVER, DrillKind.FAILOVER),
    },
    {
        "clause": "8.1.4.9 c)",
        "test_unit": "L3-CES1-31",
        "zh": "提供重要数据处理系统的热冗余，保证系统的高可用性",
        "en": "hot redundancy of key data processing systems (high availability)",
        "kinds": (DrillKind.SWITCHOVER, DrillKind.FAILOVER, DrillKind.FAILBACK),
    },
)
HOT_REPLICATIONS: Final = frozenset({"streaming-sync", "streaming-async"})


def _iso(at: dt.datetime | None) -> str | None:
    if at is None:
        return None
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _level(number: int | None) -> dict[str, Any] | None:
    if number is None:
        return None
    level = levels.LEVELS[number - 1]
    return {"number": number, "zh": level.name_zh, "en": level.name_en, "label": level.label}


def system_document(row: DrDrillSystem) -> dict[str, Any]:
    """One system's result: the fields `dr drill --json` promises, then the rest."""
    detail = dict(row.detail or {})
    measured = detail.get("measurement") or {}
    return {
        "system": row.system,
        "rpo_s": row.rpo_s,
        "rto_s": row.rto_s,
        "lost_writes": row.lost_writes,
        "level": row.level_met,
        "met": bool(row.met),
        "tier": row.tier,
        "replication": row.replication,
        "standby": row.standby,
        "target": {"rpo_s": row.target_rpo_s, "rto_s": row.target_rto_s},
        "level_claimed": _level(row.level_claimed),
        "level_met": _level(row.level_met),
        "state": row.state,
        "why": measured.get("why", []),
        "outages": measured.get("outages", []),
        "window": detail.get("window"),
        "probe": detail.get("probe"),
        "validation": detail.get("validation"),
        "fallback": detail.get("fallback"),
        "status": detail.get("status"),
        "lost": detail.get("lost"),
        "notes": detail.get("notes", []),
    }


def _mlps(kind: DrillKind, systems: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The 8.1.4.9 items this drill is evidence for, and whether it passed them."""
    found = []
    for item in MLPS_ITEMS:
        if kind not in item["kinds"]:
            continue
        relevant = list(systems)
        if item["test_unit"] == "L3-CES1-30":
            relevant = [s for s in systems if s["replication"] != "none"]
        if item["test_unit"] == "L3-CES1-31":
            relevant = [s for s in systems if s["replication"] in HOT_REPLICATIONS]
        if not relevant:
            continue
        found.append(
            {
                "clause": item["clause"],
                "test_unit": item["test_unit"],
                "zh": item["zh"],
                "en": item["en"],
                "systems": [s["system"] for s in relevant],
                "met": all(s["met"] for s in relevant),
            }
        )
    return found


def document(session: Session, drill_id: int) -> dict[str, Any]:
    """The drill as its report's JSON holds it (`dr report DRILL --format json`)."""
    drill = session.get(DrDrill, drill_id)
    if drill is None:
        raise BadInputError(f"no drill {drill_id} in the registry (see `govcloud dr history`)")
    kind = DrillKind(drill.kind)
    systems = [system_document(row) for row in results(session, drill_id)]
    start = drill.started_at if drill.started_at.tzinfo else drill.started_at.replace(tzinfo=dt.UTC)
    timeline = []
    for event in store.events(session, drill_id):
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)
        zh, en = PHASES.get(event.step, ("步骤", "step"))
        timeline.append(
            {
                "at": _iso(at),
                "t_s": round((at - start).total_seconds(), 3),
                "system": event.system,
                "step": event.step,
                "phase": en,
                "phase_zh": zh,
                "detail": event.detail,
            }
        )
    return {
        "drill": drill.id,
        "kind": kind.value,
        "systems": systems,
        "report": drill.report_path,
        "scope": drill.scope,
        "actor": drill.actor,
        "started_at": _iso(drill.started_at),
        "finished_at": _iso(drill.finished_at),
        "outcome": drill.outcome,
        "gate": drill.gate,
        "timeline": timeline,
        "mlps": _mlps(kind, systems),
        "standard": levels.STANDARD,
    }


def chart(doc: Mapping[str, Any]) -> str:
    """The probes' writing time and outages, and the events, in seconds from the drill's start."""
    start = dt.datetime.fromisoformat(str(doc["started_at"]).replace("Z", "+00:00")).timestamp()
    rows = []
    for system in doc["systems"]:
        probe = system.get("probe") or {}
        if "started_at" not in probe:
            continue
        began = float(probe["started_at"]) - start
        rows.append(
            charts.ProbeRow(
                system["system"],
                (began, began + float(probe.get("seconds") or 0)),
                tuple(
                    (float(o["began_at"]) - start, float(o["seconds"]))
                    for o in system.get("outages", [])
                ),
            )
        )
    shown = {"fault", "detected", "promoted", "name_moved", "validated", "returned", "fallback"}
    events = [(float(e["t_s"]), e["step"]) for e in doc["timeline"] if e["step"] in shown]
    return charts.drill_svg(rows, events)


def render(doc: Mapping[str, Any]) -> dict[str, str]:
    """`report.html` and `report.json` of a drill's document."""
    env = Environment(
        loader=PackageLoader("dr", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = lambda v: "—" if v is None else f"{float(v):g} s"
    html = env.get_template("drill.html.j2").render(
        doc=doc, chart=chart(doc), levels=levels.LEVELS, standard=levels.STANDARD
    )
    text = json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    return {"report.html": html, "report.json": text}


def write(
    sessions: store.SessionFactory, drill_id: int, out_dir: Path, *, actor: str
) -> dict[str, str]:
    """Render the drill's report into `out_dir`, record each file's SM3 (audited); the digests."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with sessions() as session:
        doc = document(session, drill_id)
    doc["report"] = str(out_dir / FILES[0])
    files = render(doc)
    for name, text in files.items():
        temporary = out_dir / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(out_dir / name)
    digests = {name: sm3_hex(text) for name, text in files.items()}
    store.set_report(sessions, drill_id, path=out_dir / FILES[0], digests=digests, actor=actor)
    return digests


def recorded_digests(session: Session, drill_id: int) -> dict[str, str] | None:
    """The SM3 of each report file as the audit log recorded it last (None: never written)."""
    entry = session.execute(
        select(AuditEntry)
        .where(AuditEntry.action == ACTION_REPORT, AuditEntry.object == drill_object(drill_id))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if entry is None:
        return None
    return dict((entry.after or {}).get("files_sm3") or {})


def verify(session: Session, drill_id: int) -> dict[str, Any]:
    """Each report file's SM3 now against the audit log's record of it (and the drill's row):
    `ok` only when every file is there and unchanged."""
    drill = session.get(DrDrill, drill_id)
    if drill is None:
        raise BadInputError(f"no drill {drill_id} in the registry (see `govcloud dr history`)")
    recorded = recorded_digests(session, drill_id)
    if recorded is None or drill.report_path is None:
        raise BadInputError(f"drill {drill_id} has no report yet: `govcloud dr report {drill_id}`")
    directory = Path(drill.report_path).parent
    row = {"report.html": drill.report_sm3, "report.json": drill.report_json_sm3}
    files = []
    for name in FILES:
        path = directory / name
        now = sm3_hex(path.read_text(encoding="utf-8")) if path.is_file() else None
        why = _difference(now, recorded.get(name), row[name])
        files.append(
            {
                "file": str(path),
                "recorded_sm3": recorded.get(name),
                "sm3": now,
                "ok": why is None,
                "why": why,
            }
        )
    return {"drill": drill_id, "ok": all(f["ok"] for f in files), "files": files}


def _difference(now: str | None, logged: str | None, row: str | None) -> str | None:
    """Why a report file fails verification, or None when it passes."""
    if now is None:
        return "missing"
    if now != logged:
        return "changed since it was written (its SM3 differs from the audit log's)"
    if logged != row:
        return "the drill's row and the audit log disagree"
    return None
