"""The portal's migration view, without a browser: `GET /api/v1/migration` and the page, for the
county roles and for a department's users, before and after a system is cut over."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal_kit import Portal
from test_portal_pages import sign_in

from govcloud import progress
from govcloud.registry.migration_state import MigrationState
from govcloud.registry.tables import MigrationSystem
from migration import journal

MOVING = "beta/db"  # the small county's one legacy system (alpha/web is on the cloud already)


def plan(portal: Portal) -> None:
    """beta/db planned in wave 1, and the baseline of the curve, as `migrate plan --save`."""
    with portal.context.sessions() as session, session.begin():
        session.add(
            MigrationSystem(
                system=MOVING,
                department="beta",
                wave=1,
                why="test",
                state=MigrationState.PLANNED.value,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
        session.flush()
        progress.take_baseline(session, portal.county)


def cut_over(portal: Portal) -> None:
    """beta/db through its cutover, as a run's journal records it."""
    sessions = portal.context.sessions
    hold, _ = journal.acquire(sessions, MOVING, "beta", "test:migrate")
    entry, _ = journal.begin_step(sessions, hold, "run", "cutover", MigrationState.CUT_OVER)
    journal.end_step(
        sessions,
        hold,
        entry,
        ok=True,
        state=MigrationState.CUT_OVER,
        result={"downtime_s": 2.5, "rows_source": 10, "rows_target": 10},
        mode="warm",
    )
    journal.release(sessions, hold)


def view(portal: Portal, who: str) -> dict[str, Any]:
    answer = portal.get(who, "/migration")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_rate_moves_against_the_target_as_a_system_is_cut_over(portal: Portal) -> None:
    plan(portal)
    before = view(portal, "ops")
    assert (before["on_cloud"], before["eligible"], before["rate"]) == (1, 2, 0.5)
    assert (before["target"], before["target_year"]) == (0.95, 2025)
    assert before["targets"] == {"2021": 70, "2022": 80, "2025": 95}
    assert before["meets_target"] is False
    assert [w["wave"] for w in before["waves"]] == [1]
    assert before["waves"][0]["began"] is None
    [system] = before["systems"]
    assert (system["system"], system["state"], system["mode"]) == (MOVING, "planned", None)

    cut_over(portal)
    after = view(portal, "auditor")
    assert (after["on_cloud"], after["rate"], after["meets_target"]) == (2, 1.0, True)
    assert [p["on_cloud"] for p in after["history"]] == [1, 2]
    beta = next(d for d in after["departments"] if d["department"] == "beta")
    assert [p["rate"] for p in beta["history"]] == [0.0, 1.0]
    [wave] = after["waves"]
    assert (wave["systems"], wave["on_cloud"]) == (1, 1) and wave["began"] is not None
    [system] = after["systems"]
    assert (system["state"], system["mode"], system["downtime_s"]) == ("cut_over", "warm", 2.5)


def test_a_department_sees_its_own_systems_and_the_security_admin_nothing(
    portal: Portal,
) -> None:
    plan(portal)
    mine = view(portal, "req-b")
    assert [d["department"] for d in mine["departments"]] == ["beta"]
    assert [s["system"] for s in mine["systems"]] == [MOVING]
    assert mine["waves"] == []
    assert view(portal, "head-a")["systems"] == []  # alpha has nothing migrating
    assert portal.get("security", "/migration").status_code == 403


def test_the_page_in_chinese_and_english(sqlite_portal: Portal) -> None:
    plan(sqlite_portal)
    cut_over(sqlite_portal)
    client = sign_in(sqlite_portal, "ops")
    page = client.get("/migration")
    assert page.status_code == 200
    text = page.text
    assert "迁移上云进度" in text and "100.0%" in text and "已达标" in text
    assert "<svg" in text and "上云率 on-cloud rate" in text and "第1波 wave 1" in text
    assert 'data-testid="state-beta/db">已切换<' in text and "热迁移" in text
    assert 'href="/migration"' in text  # in the navigation
    client.cookies.set("govcloud_lang", "en")
    english = client.get("/migration").text
    assert "Migration onto the cloud" in english and "cut over" in english
    assert "2025: 95%" in english
    # The department's users see theirs; the security administrator is refused.
    assert "beta/db" not in sign_in(sqlite_portal, "req-a").get("/migration").text
    assert sign_in(sqlite_portal, "security").get("/migration").status_code == 403
