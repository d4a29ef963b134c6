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
from govcloud.registry.tables import AuditEntry

TREND_RUNS: Final = 12  # earlier check runs shown in the trend
CHART_WIDTH: Final = 480
CHART_HEIGHT: Final = 120
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
    """An inline SVG line of the share of items met, run by run (text kept as text)."""
    if not runs:
        return ""
    step = CHART_WIDTH / max(len(runs) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{CHART_HEIGHT - r['met'] * CHART_HEIGHT:.1f}" for i, r in enumerate(runs)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH + 40}" '
        f'height="{CHART_HEIGHT + 30}" role="img" aria-label="符合率 share met">'
        f'<g transform="translate(30,10)">'
        f'<line x1="0" y1="{CHART_HEIGHT}" x2="{CHART_WIDTH}" y2="{CHART_HEIGHT}" stroke="#999"/>'
        f'<line x1="0" y1="0" x2="0" y2="{CHART_HEIGHT}" stroke="#999"/>'
        f'<text x="-28" y="8" font-size="10">100%</text>'
        f'<text x="-20" y="{CHART_HEIGHT}" font-size="10">0%</text>'
        f'<polyline fill="none" stroke="#2a6" stroke-width="2" points="{points}"/>'
        "</g></svg>"
    )


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
