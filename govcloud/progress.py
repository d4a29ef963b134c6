"""Migration progress (迁移进度): the on-cloud rate now, over time and against the yearly targets,
and each wave's progress, from the county model and the registry. `govcloud migrate progress`
prints and exports it; the portal's migration page shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from govcloud import charts
from govcloud.model import County
from govcloud.registry import cloud_rate, migration_state
from govcloud.status import CountyStatus, county_status


@dataclass(frozen=True)
class Progress:
    """Where the county's migration stands and how it got there."""

    status: CountyStatus
    at: dt.datetime
    # The county's curve under cloud_rate.COUNTY_TOTAL, then each department's.
    history: dict[str, list[cloud_rate.Point]]
    waves: list[charts.WaveBar]

    @property
    def county_history(self) -> list[cloud_rate.Point]:
        """The county's own curve."""
        return self.history.get(cloud_rate.COUNTY_TOTAL, [])


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive timestamps; the registry writes UTC.
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def progress(session: Session, county: County, now: dt.datetime | None = None) -> Progress:
    """The county's progress as the registry records it."""
    at = now or dt.datetime.now(dt.UTC)
    status = county_status(county, migration_state.on_cloud(session), year=at.year)
    history = {
        code: [
            cloud_rate.Point(_aware(p.at), p.on_cloud, p.eligible)
            for p in cloud_rate.history(session, code)
        ]
        for code in (cloud_rate.COUNTY_TOTAL, *cloud_rate.departments(session))
    }
    waves = [
        charts.WaveBar(
            wave=w.wave,
            planned=county.migration.wave_days(w.wave),
            actual=(_aware(w.began), _aware(w.ended)) if w.began and w.ended else None,
            systems=w.systems,
            on_cloud=w.on_cloud,
        )
        for w in migration_state.waves(session)
    ]
    return Progress(status=status, at=at, history=history, waves=waves)


def take_baseline(session: Session, county: County, at: dt.datetime | None = None) -> int:
    """Start the 上云率 curve, or start it again after the county changed: each department's
    figures as the registry's states make them now, in the caller's transaction; how many
    samples were added."""
    report = county_status(county, migration_state.on_cloud(session))
    return cloud_rate.record_baseline(
        session,
        ((row.code, row.on_cloud, row.eligible) for row in report.departments),
        at or dt.datetime.now(dt.UTC),
    )


def _points(points: list[cloud_rate.Point]) -> list[dict[str, Any]]:
    return [
        {"at": p.at, "on_cloud": p.on_cloud, "eligible": p.eligible, "rate": p.rate} for p in points
    ]


def as_json(found: Progress) -> dict[str, Any]:
    """Plain values for `--json`."""
    total = found.status.total
    return {
        "county": found.status.code,
        "at": found.at,
        "rate": total.cloud_rate,
        "on_cloud": total.on_cloud,
        "eligible": total.eligible,
        "target": found.status.target,
        "target_year": found.status.target_year,
        "targets": found.status.targets,
        "meets_target": total.meets_target,
        "history": _points(found.county_history),
        "departments": {
            code: _points(points)
            for code, points in found.history.items()
            if code != cloud_rate.COUNTY_TOTAL
        },
        "waves": [
            {
                "wave": w.wave,
                "systems": w.systems,
                "on_cloud": w.on_cloud,
                "planned": list(w.planned) if w.planned else None,
                "began": w.actual[0] if w.actual else None,
                "ended": w.actual[1] if w.actual else None,
            }
            for w in found.waves
        ],
    }


def rate_svg(found: Progress, departments: tuple[str, ...] = ()) -> str:
    """The county's curve (and these departments') against the targets, as SVG."""
    names = {d.code: d.name for d in found.status.departments}
    series = [
        charts.RateSeries(
            f"{found.status.name} county" if code == cloud_rate.COUNTY_TOTAL else names[code],
            tuple((p.at, p.rate) for p in found.history.get(code, []) if p.rate is not None),
        )
        for code in (cloud_rate.COUNTY_TOTAL, *departments)
        if code == cloud_rate.COUNTY_TOTAL or code in names
    ]
    return charts.cloud_rate_svg(series, found.status.targets, found.at)


def waves_svg(found: Progress) -> str:
    """The waves as a Gantt chart, as SVG."""
    return charts.waves_svg(found.waves)
