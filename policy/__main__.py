"""Policy pack entry point (`pulumi preview --policy-pack policy/`)."""

from pulumi_policy import PolicyPack

from policy.rules import POLICIES

PolicyPack(name="county-cloud-mlps-l3", policies=POLICIES)
