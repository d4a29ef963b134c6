"""The desired cache: a drift reuses the stacks' items only while what they are made of is
unchanged, and never keeps what it could not give back equal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from small_county import write_county

from cloud.plan import desired_cache
from cloud.plan.items import Item
from cloud.plan.run import collect_items, collect_stacks, load_stacks
from govcloud.loader import load_county

REPO = Path(__file__).resolve().parents[2]
BOTH = ("primary", "dr")


def _ordered(items: list[Item]) -> list[Item]:
    """Items in a fixed order: the programs register resources concurrently."""
    return sorted(items, key=lambda i: (i.kind, i.key, i.ref))


def _collect(county_dir: Path, cache: Path | None) -> tuple[dict, str]:
    return collect_items(
        BOTH, stacks=load_stacks(REPO, "dr"), county=load_county(county_dir), cache_dir=cache
    )


@pytest.fixture(scope="module")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_county(tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="module")
def programs(county_dir: Path) -> dict:
    """What the programs produce, with no cache anywhere."""
    return collect_stacks(BOTH, stacks=load_stacks(REPO, "dr"), county=load_county(county_dir))


def test_a_second_drift_reuses_the_items_the_programs_produced(
    county_dir: Path, programs: dict, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first, key = _collect(county_dir, cache)
    second, again = _collect(county_dir, cache)
    assert key == again
    assert [s.reused for s in first.values()] == [False, False]
    assert [s.reused for s in second.values()] == [True, True]
    for stack in BOTH:
        assert _ordered(second[stack].items) == _ordered(programs[stack].items), stack
        assert second[stack].not_compared == programs[stack].not_compared, stack
        assert second[stack].state.site.region == programs[stack].state.site.region
    assert [p.name for p in cache.iterdir()] == [f"{key}.json"]
    assert cache.stat().st_mode & 0o777 == 0o700


def test_a_changed_county_runs_the_programs_again(county_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, key = _collect(county_dir, cache)
    changed = write_county(tmp_path / "changed", {"departments/alpha.yaml": ("vcpu: 8", "vcpu: 9")})
    sides, other = _collect(changed, cache)
    assert other != key
    assert not sides["primary"].reused
    limits = {
        i.label: i.attrs["resource_limit"] for i in sides["primary"].items if i.kind == "limit"
    }
    assert limits["519901-alpha/RegionOne/class:VCPU"] == 9, limits


def test_an_entry_that_cannot_be_read_is_a_miss_and_is_replaced(
    county_dir: Path, programs: dict, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _, key = _collect(county_dir, cache)
    entry = cache / f"{key}.json"
    document = json.loads(entry.read_text("utf-8"))
    document["stacks"]["primary"]["items"][0] = ["project"]  # a row cut short
    entry.write_text(json.dumps(document), "utf-8")
    sides, _ = _collect(county_dir, cache)
    assert not sides["primary"].reused
    assert _ordered(sides["primary"].items) == _ordered(programs["primary"].items)
    assert desired_cache.load(cache, key) is not None


def test_items_json_would_not_give_back_equal_are_not_kept(tmp_path: Path) -> None:
    entry = desired_cache.Entry([Item("router", ("r1", "p", "x"), {"routes": (("a", "b"),)})], {})
    assert not desired_cache.store(tmp_path / "cache", "k", {"primary": entry})
    assert not (tmp_path / "cache").exists()


def test_only_the_newest_entries_are_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry = desired_cache.Entry([Item("project", ("p",), {"tags": ["a"]}, "urn:p")], {"x": 1})
    for number in range(desired_cache.KEEP + 2):
        assert desired_cache.store(cache, f"k{number}", {"primary": entry})
        os.utime(cache / f"k{number}.json", (number, number))
    kept = sorted(p.stem for p in cache.iterdir())
    assert kept == [f"k{n}" for n in range(2, desired_cache.KEEP + 2)]
    assert desired_cache.load(cache, "k5") == {"primary": entry}


def test_a_fresh_run_runs_the_programs_and_keeps_their_result(
    county_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    stacks, county = load_stacks(REPO, "dr"), load_county(county_dir)
    fresh, key = collect_items(BOTH, stacks=stacks, county=county, cache_dir=cache, reuse=False)
    assert not any(s.reused for s in fresh.values())
    again, _ = collect_items(BOTH, stacks=stacks, county=county, cache_dir=cache, reuse=False)
    assert not any(s.reused for s in again.values())
    after, _ = collect_items(BOTH, stacks=stacks, county=county, cache_dir=cache)
    assert all(s.reused for s in after.values())
    assert desired_cache.load(cache, key) is not None
