"""Compare desired and live items attribute by attribute: create, update, delete, unchanged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cloud.plan.items import ALWAYS_PRESENT, KEY_FIELDS, KINDS, Item


class Action(StrEnum):
    """What a deployment would do to a resource."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    """One difference: a resource to create or delete, or one attribute to update."""

    action: Action
    kind: str
    key: tuple[str, ...]
    attribute: str | None = None
    live: Any = None
    desired: Any = None
    ref: str = ""

    @property
    def label(self) -> str:
        """The resource's readable name."""
        return "/".join(part for part in self.key if part)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "action": self.action.value,
            "kind": self.kind,
            "key": dict(zip(KEY_FIELDS[self.kind], self.key, strict=True)),
            "name": self.label,
            "attribute": self.attribute,
            "live": self.live,
            "desired": self.desired,
            "ref": self.ref,
        }


@dataclass
class PlanReport:
    """Every change, and per kind how many resources fall under each action."""

    changes: list[Change] = field(default_factory=list)
    counts: dict[str, dict[Action, int]] = field(default_factory=dict)
    not_compared: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """No resource to create, update or delete."""
        return not self.changes

    def count(self, kind: str, action: Action) -> None:
        per_kind = self.counts.setdefault(kind, dict.fromkeys(Action, 0))
        per_kind[action] += 1

    def totals(self) -> dict[Action, int]:
        """Resources per action over every kind."""
        return {a: sum(c[a] for c in self.counts.values()) for a in Action}


def _same(live: Any, desired: Any) -> bool:
    if isinstance(desired, list) and isinstance(live, list | tuple):
        return sorted(map(str, live)) == sorted(map(str, desired))
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return {str(k): str(v) for k, v in live.items()} == {
            str(k): str(v) for k, v in desired.items()
        }
    return bool(live == desired)


def _index(items: Iterable[Item], duplicates: list[str]) -> dict[tuple[str, tuple[str, ...]], Item]:
    index: dict[tuple[str, tuple[str, ...]], Item] = {}
    for item in items:
        ident = (item.kind, item.key)
        if ident in index:
            duplicates.append(f"{item.kind} {item.label}")
            continue
        index[ident] = item
    return index


def diff(
    desired: Iterable[Item], live: Iterable[Item], not_compared: Mapping[str, int] | None = None
) -> PlanReport:
    """Match items by kind and key and compare the attributes the desired side sets."""
    report = PlanReport(not_compared=dict(not_compared or {}))
    want = _index(desired, report.duplicates)
    have = _index(live, report.duplicates)
    order = {kind: n for n, kind in enumerate(KINDS)}
    for ident in sorted(set(want) | set(have), key=lambda i: (order.get(i[0], 99), i[1])):
        kind, key = ident
        wanted, found = want.get(ident), have.get(ident)
        if wanted is None and found is not None:
            if kind in ALWAYS_PRESENT:
                continue  # a project's quota exists whether we manage it or not
            report.changes.append(Change(Action.DELETE, kind, key, ref=found.ref))
            report.count(kind, Action.DELETE)
        elif wanted is not None and found is None:
            report.changes.append(Change(Action.CREATE, kind, key, ref=wanted.ref))
            report.count(kind, Action.CREATE)
        elif wanted is not None and found is not None:
            updates = [
                Change(Action.UPDATE, kind, key, name, found.attrs.get(name), value, wanted.ref)
                for name, value in sorted(wanted.attrs.items())
                if name in found.attrs and not _same(found.attrs[name], value)
            ]
            report.changes += updates
            report.count(kind, Action.UPDATE if updates else Action.UNCHANGED)
    return report
