"""The catalogue's `restore-tested` item (8.1.4.9 a), L3-CES1-29): every system on the cloud
restored in a DR drill that met its targets within the county's drill period, read from the
registry's drill records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from snapshot_kit import audit_facts

from audit.catalogue import RULES, Facts, Verdict, check_restore_tested, evaluate
from govcloud.loader import load_county
from govcloud.model import County

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2027, 3, 31, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def county() -> County:
    return load_county(REPO / "county")


def on_cloud(county: County) -> list[str]:
    return sorted(
        f"{d.code}/{s.code}"
        for d in county.departments
        for s in d.systems
        if s.location.value == "cloud" and not s.classified
    )


def facts(county: County, drills: dict[str, dt.datetime] | None) -> Facts:
    return audit_facts(county, now=NOW, drills_met=drills)


def test_every_system_drilled_within_the_period_holds(county: County) -> None:
    recent = NOW - dt.timedelta(days=county.dr.drill_every_days - 1)
    verdict, evidence = check_restore_tested(facts(county, dict.fromkeys(on_cloud(county), recent)))
    assert verdict is Verdict.PASS
    assert evidence["failures"] == []
    assert evidence["drill_every_days"] == county.dr.drill_every_days


def test_an_overdue_or_never_drilled_system_is_named(county: County) -> None:
    systems = on_cloud(county)
    stale = NOW - dt.timedelta(days=county.dr.drill_every_days + 1)
    drills = dict.fromkeys(systems[2:], NOW) | {systems[0]: stale}
    verdict, evidence = check_restore_tested(facts(county, drills))
    assert verdict is Verdict.PARTIAL
    assert evidence["failures"] == [
        {"system": systems[0], "last_met_drill": stale.isoformat()},
        {"system": systems[1], "last_met_drill": None},
    ]


def test_no_drill_at_all_fails(county: County) -> None:
    verdict, evidence = check_restore_tested(facts(county, {}))
    assert verdict is Verdict.FAIL
    assert len(evidence["failures"]) == len(on_cloud(county))


def test_a_county_with_nothing_on_the_cloud_is_not_applicable(county: County) -> None:
    departments = [
        d.model_copy(update={"systems": [s for s in d.systems if s.location.value != "cloud"]})
        for d in county.departments
    ]
    empty = county.model_copy(update={"departments": departments})
    assert check_restore_tested(facts(empty, {}))[0] is Verdict.NOT_APPLICABLE


def test_unread_drills_are_unchecked_never_compliant(county: County) -> None:
    rule = next(r for r in RULES if r.id == "restore-tested")
    assert rule.check is check_restore_tested and rule.needs == "registry"
    verdict, evidence = evaluate(rule, facts(county, None))
    assert verdict is Verdict.MANUAL
    assert "DR drills were not read" in evidence["unchecked"]
