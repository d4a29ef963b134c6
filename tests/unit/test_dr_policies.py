"""The DR policy per tier (county data with defaults) and the GB/T 20988 levels it meets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dr import levels
from govcloud.loader import load_county
from govcloud.model import DrPolicy, DrSettings, Replication, Standby, Tier


def test_the_defaults_give_each_tier_its_policy_and_level(sample_county_dir: Path) -> None:
    policies = load_county(sample_county_dir).dr.policies
    core, important, general = (policies[t] for t in (Tier.CORE, Tier.IMPORTANT, Tier.GENERAL))
    assert (core.replication, core.standby, core.rpo_s, core.rto_s) == (
        Replication.STREAMING_SYNC, Standby.HOT, 0, 30,
    )  # fmt: skip
    assert (important.replication, important.rpo_s, important.rto_s) == (
        Replication.STREAMING_ASYNC, 5, 120,
    )  # fmt: skip
    assert (general.replication, general.standby, general.backup_every_min) == (
        Replication.BACKUP, Standby.COLD, 60,
    )  # fmt: skip
    assert general.rpo_s == 3600 and general.rto_s == 600
    assert [levels.claimed(p).number for p in (core, important, general)] == [6, 5, 4]


def _policy(replication: str, standby: str, rpo_s: float, **more: object) -> dict[str, object]:
    return {"replication": replication, "standby": standby, "rpo_s": rpo_s, "rto_s": 60, **more}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (_policy("streaming-sync", "hot", 1), "rpo_s must be 0"),
        (_policy("streaming-async", "cold", 5), "standby must be hot"),
        (_policy("streaming-async", "hot", 0), "rpo_s > 0"),
        (_policy("backup", "cold", 3600), "needs backup_every_min"),
        (_policy("backup", "cold", 60, backup_every_min=60), "at least that"),
        (_policy("streaming-sync", "hot", 0, backup_every_min=60), "backup only"),
        (_policy("none", "cold", 60), "must replicate"),
    ],
)
def test_an_inconsistent_policy_is_refused_with_the_reason(
    policy: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DrPolicy.model_validate(policy)


def test_every_tier_needs_a_policy() -> None:
    policies = {
        "core": _policy("streaming-sync", "hot", 0),
        "important": _policy("streaming-async", "hot", 5),
    }
    with pytest.raises(ValidationError, match="missing: general"):
        DrSettings.model_validate({"policies": policies})


def test_a_drill_meets_the_level_its_measurements_reach() -> None:
    core, important, general = (DrSettings().policies[t] for t in Tier)
    assert levels.met(core, rpo_s=0, rto_s=12).number == 6  # type: ignore[union-attr]
    # One acknowledged write lost: no longer zero data loss.
    assert levels.met(core, rpo_s=0.2, rto_s=12).number == 5  # type: ignore[union-attr]
    assert levels.met(important, rpo_s=0, rto_s=12).number == 5  # type: ignore[union-attr]
    assert levels.met(general, rpo_s=3000, rto_s=400).number == 4  # type: ignore[union-attr]
    assert levels.met(general, rpo_s=3 * levels.DAY, rto_s=400).number == 2  # type: ignore[union-attr]
    assert levels.met(general, rpo_s=8 * levels.DAY, rto_s=400) is None
    assert [lvl.number for lvl in levels.LEVELS] == [1, 2, 3, 4, 5, 6]
    assert levels.LEVELS[5].label.startswith("第6级 数据零丢失和远程集群支持")
