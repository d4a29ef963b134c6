"""The grants interface the stacks read (model-backed until the portal's grants land)."""

from __future__ import annotations

from pathlib import Path

from small_county import write_county

from govcloud.grants import ServerGrant, grants_from_model, read_grants
from govcloud.loader import load_county
from govcloud.model import Tier


def test_only_non_classified_systems_on_the_cloud_are_granted(tmp_path: Path) -> None:
    county = load_county(
        write_county(
            tmp_path,
            {"departments/beta.yaml": ("    location: legacy\n", "    location: cloud\n")},
        )
    )
    assert grants_from_model(county) == (
        ServerGrant("alpha", "web", Tier.IMPORTANT, "m1.medium", "govcloud-tiny", 10, "office"),
        ServerGrant("beta", "db", Tier.CORE, "m1.large", "govcloud-tiny", 100, "office"),
    )


def test_classified_systems_are_never_granted(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    classified = {(d.code, s.code) for d in county.departments for s in d.systems if s.classified}
    assert classified, "the sample county has classified systems"
    assert not classified & {(g.department, g.system) for g in read_grants(county)}


def test_a_system_without_data_still_gets_a_minimal_volume(tmp_path: Path) -> None:
    county = load_county(
        write_county(tmp_path, {"departments/alpha.yaml": ("data_gb: 10", "data_gb: 0")})
    )
    (grant,) = grants_from_model(county)
    assert grant.volume_gb == 1


def test_grants_are_sorted_and_one_per_system(sample_county_dir: Path) -> None:
    grants = read_grants(load_county(sample_county_dir))
    keys = [(g.department, g.system) for g in grants]
    assert keys == sorted(set(keys))
