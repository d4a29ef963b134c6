"""The audit report from the check and drift documents: sections and totals, the trend as a
chart with its table, the drift findings, and the same figures in the JSON."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

from audit import report

ITEMS = [
    {"id": "ssh-not-open", "clause": "8.1.4.4 c)", "test_item": "L3-CES1-19", "verdict": "不符合",
     "requirement": "管理端口不对任意地址开放", "method": "security group rules",
     "evidence": {"rule": "22/0.0.0.0/0"}},
    {"id": "chain-intact", "clause": "8.1.4.3 c)", "test_item": "L3-CES1-14", "verdict": "符合",
     "requirement": "审计记录不被篡改", "method": "SM3 chain", "evidence": {"entries": 12}},
    {"id": "tenant-isolation", "clause": "8.2.2.1 a)", "test_item": "L3-CES2-01", "verdict": "符合",
     "requirement": "租户隔离", "method": "projects", "evidence": "x" * 5000},
]  # fmt: skip
CHECK: dict[str, Any] = {
    "county": "519901", "cloud": "govcloud-local", "report_sm3": "a" * 64, "unchecked": [],
    "items": ITEMS, "totals": {"符合": 2, "部分符合": 0, "不符合": 1, "不适用": 0, "人工核查": 0},
    "clause_note": "confirm against the standard's text",
}  # fmt: skip
DRIFT: dict[str, Any] = {
    "report_sm3": "b" * 64, "clean": False, "unchecked": [{"part": "network", "reason": "no lab"}],
    "findings": [{"id": "d1", "severity": "high", "kind": "changed", "resource": "alpha/quota",
                  "attribute": "cores", "desired": 8, "live": 16}],
}  # fmt: skip


def _entry(seq: int, hour: int, passed: int, failed: int) -> Any:
    at = dt.datetime(2026, 12, 5, hour, tzinfo=dt.UTC)
    return SimpleNamespace(seq=seq, at=at, after={"totals": {"符合": passed, "不符合": failed}})


def test_the_report_groups_items_counts_verdicts_and_draws_the_trend() -> None:
    runs = report.trend([_entry(9, 10, 3, 1), _entry(4, 9, 1, 3)])
    assert [r["seq"] for r in runs] == [4, 9] and [r["met"] for r in runs] == [0.25, 0.75]
    files = report.render(CHECK, DRIFT, runs)
    html = files["report.html"]
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    # Sections in the standard's order, each with its own totals.
    assert html.index("安全计算环境") < html.index("云计算安全扩展要求")
    assert html.count('class="v-不符合">不符合') == 1
    # The trend: a chart whose text is text, and its table.
    assert "<svg" in html and "符合率 share of items met" in html
    assert "2026-12-05 09:00:00" in html and "2026-12-05 10:00:00" in html
    # Long evidence is cut in the HTML, whole in the JSON.
    assert "x" * 1300 not in html
    document = json.loads(files["report.json"])
    assert document["check"]["items"][2]["evidence"] == "x" * 5000
    assert document["drift"]["findings"][0]["live"] == 16
    assert [r["met"] for r in document["trend"]] == [0.25, 0.75]
    assert "alpha/quota" in html and "no lab" in html


def test_without_earlier_runs_there_is_no_trend_chart() -> None:
    html = report.render(CHECK, DRIFT, [])["report.html"]
    assert "<svg" not in html and "趋势" not in html
