"""The MLPS level-3 catalogue's data: one rule per id, clauses and test units well formed,
at least 40 automated items, every manual item saying what to collect, the pre-deploy policies
it names existing in the policy pack."""

from __future__ import annotations

import re

from audit.catalogue import RULES
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
