"""The audit report: the catalogue and drift as HTML (zh-CN first, English beside) and JSON.

Rendered from the same documents `govcloud audit check --json` and `audit drift --json` print,
never a second computation; the trend comes from earlier `audit.check` runs in the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from audit.catalogue import Verdict
from govcloud import charts
from govcloud.registry.tables import AuditEntry

TREND_RUNS: Final = 12  # earlier check runs shown in the trend
CHART_TITLE: Final = "符合率 share of items met"
EVIDENCE_CHARS: Final = 1200  # each item's evidence in the HTML; the JSON has all of it
# Sections by clause prefix, zh-CN and English.
SECTIONS: Final = (
    ("8.1.2", "安全通信网络", "communication network"),
    ("8.1.3", "安全区域边界", "area boundary"),
    ("8.1.4", "安全计算环境", "computing environment"),
    ("8.1.5", "安全管理中心", "security management centre"),
    ("8.2", "云计算安全扩展要求", "cloud computing extension"),
)


def trend(entries: Iterable[AuditEntry]) -> list[dict[str, Any]]:
    """Earlier check runs, oldest first: when, the totals, and the share of items met."""
    runs = []
    for entry in entries:
        totals = dict((entry.after or {}).get("totals") or {})
        decided = sum(totals.get(v.value, 0) for v in (Verdict.PASS, Verdict.PARTIAL, Verdict.FAIL))
        runs.append(
            {
                "seq": entry.seq,
                "at": str(entry.at)[:19],
                "totals": totals,
                "met": round(totals.get(Verdict.PASS.value, 0) / decided, 4) if decided else 0.0,
            }
        )
    return sorted(runs, key=lambda r: r["seq"])


def chart(runs: list[dict[str, Any]]) -> str:
    """The share of items met, run by run, as an SVG (matplotlib's, text kept as text)."""
    if not runs:
        return ""
    return charts.runs_svg([r["at"] for r in runs], [r["met"] for r in runs], CHART_TITLE)


def sections(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items grouped by section, with the totals of each."""
    grouped = []
    for prefix, zh, en in SECTIONS:
        mine = [i for i in items if str(i["clause"]).startswith(prefix + ".")]
        totals = {v.value: sum(i["verdict"] == v.value for i in mine) for v in Verdict}
        grouped.append({"zh": zh, "en": en, "items": mine, "totals": totals})
    return [g for g in grouped if g["items"]]


def _evidence(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def render(
    check: Mapping[str, Any], drift: Mapping[str, Any], runs: list[dict[str, Any]]
) -> dict[str, str]:
    """`report.html` and `report.json` from the check and drift documents."""
    env = Environment(
        loader=PackageLoader("audit", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["evidence"] = _evidence
    html = env.get_template("report.html.j2").render(
        check=check,
        drift=drift,
        sections=sections(check["items"]),
        verdicts=[v.value for v in Verdict],
        runs=runs,
        chart=chart(runs),
    )
    document = {"check": check, "drift": drift, "trend": runs}
    return {
        "report.html": html,
        "report.json": json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n",
    }
