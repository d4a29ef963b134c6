"""The MLPS level-3 catalogue's data: one rule per id, clauses and test units well formed,
at least 40 automated items, every manual item saying what to collect, the pre-deploy policies
it names existing in the policy pack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from small_county import CODE, LEVEL, write_county
from snapshot_kit import audit_facts, project, snapshot

from audit.catalogue import (
    RULES,
    Facts,
    Verdict,
    check_level_not_above_platform,
    check_projects_tagged_level,
)
from cloud.inventory import Project
from govcloud.conventions import PLATFORM_MLPS_LEVEL, mlps_tag, project_name, project_tags
from govcloud.loader import load_county
from policy.rules import POLICIES

CLAUSE = re.compile(r"^8\.[12]\.\d\.\d+ [a-g]\)$")
TEST_ITEM = re.compile(r"^L3-(CNS|ABS|CES|SMC)[12]-\d{2}$")


def test_rule_ids_are_unique_and_items_well_formed() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert CLAUSE.match(rule.clause), rule
        assert TEST_ITEM.match(rule.test_item), rule
        # The cloud extension (8.2) is tested under the *2 units, the general part under *1.
        extension = "2" if rule.clause.startswith("8.2") else "1"
        assert rule.test_item.split("-")[1].endswith(extension), rule
        assert rule.requirement and rule.method and rule.section, rule


def test_at_least_40_automated_and_manual_items_say_what_to_collect() -> None:
    assert sum(rule.check is not None for rule in RULES) >= 40
    for rule in RULES:
        if rule.check is None:
            assert rule.collect, rule.id


def test_pre_deploy_policies_named_exist_in_the_pack() -> None:
    names = {policy.name for policy in POLICIES}
    named = {rule.policy for rule in RULES if rule.policy}
    assert named and named <= names


# -- the cloud extension's level items (8.2.2.1 a)), over a snapshot ---------------------------
def _facts(tmp_path: Path, projects: list[Project]) -> Facts:
    return audit_facts(load_county(write_county(tmp_path)), snapshot=snapshot(projects=projects))


def _alpha(*extra: str) -> Project:
    tags = [t for t in project_tags(CODE, "alpha", "department", LEVEL) if t != mlps_tag(LEVEL)]
    return project("p-alpha", project_name(CODE, "alpha"), (*tags, *extra))


def test_projects_tagged_with_their_departments_level_pass(tmp_path: Path) -> None:
    verdict, _ = check_projects_tagged_level(_facts(tmp_path, [_alpha(mlps_tag(LEVEL))]))
    assert verdict is Verdict.PASS


@pytest.mark.parametrize(
    "tags", [(), (mlps_tag(2),), ("mlps:three",), (mlps_tag(LEVEL), mlps_tag(2))]
)
def test_a_missing_wrong_or_doubled_level_tag_fails(tmp_path: Path, tags: tuple[str, ...]) -> None:
    verdict, evidence = check_projects_tagged_level(_facts(tmp_path, [_alpha(*tags)]))
    assert verdict is Verdict.FAIL
    assert evidence["failures"] == [
        {"project": f"{CODE}-alpha", "tags": list(tags), "expected": mlps_tag(LEVEL)}
    ]


def test_a_level_above_the_platforms_fails(tmp_path: Path) -> None:
    above = mlps_tag(PLATFORM_MLPS_LEVEL + 1)
    verdict, evidence = check_level_not_above_platform(_facts(tmp_path, [_alpha(above)]))
    assert verdict is Verdict.FAIL
    assert evidence["failures"] == [{"project": f"{CODE}-alpha", "tag": above}]
    assert evidence["platform_level"] == PLATFORM_MLPS_LEVEL
