"""The drill's gate against the live cloud: a DR region that does not hold what the DR stack
declares refuses the drill (exit 2, the plan's counts, nothing written), before the lab is
touched. The county is a small one of its own, never deployed: its DR stack is all creates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirunner import run_cli
from small_county import write_county, write_project
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govcloud.registry import db
from govcloud.registry.tables import AuditEntry, DrDrill
from lab.localcloud.manager import LocalCloud

pytestmark = pytest.mark.cloud
CODE = "519977"  # a county of its own: other cloud tests use other codes


def test_a_drifted_dr_region_refuses_the_drill(local_cloud: LocalCloud, tmp_path: Path) -> None:
    county = write_county(
        tmp_path / "county", {"county.yaml": ('code: "519901"', f'code: "{CODE}"')}
    )
    write_project(tmp_path, CODE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
    env |= {
        "GOVCLOUD_STATE_DIR": str(tmp_path / "state"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
        "GOVCLOUD_ACTOR": "test:dr",
    }
    assert run_cli(("db", "upgrade"), env=env, cwd=tmp_path).returncode == 0
    url = f"sqlite:///{tmp_path / 'state' / 'registry.sqlite3'}"
    engine = db.make_engine(url)
    with Session(engine) as session:
        before = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    result = run_cli(
        ("dr", "drill", "--kind", "failover", "--system", "alpha/web", "--county", str(county),
         "--lab", "no-such-lab"),
        env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the DR region RegionTwo differs from the DR stack (" in result.stderr
    assert "to create" in result.stderr and "govcloud plan --stack dr" in result.stderr
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == before
        assert session.execute(select(func.count()).select_from(DrDrill)).scalar_one() == 0
    engine.dispose()
