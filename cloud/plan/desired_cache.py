"""The stacks' desired items, kept while nothing they are made of changes.

Running the two stack programs under mocks is most of a drift's time (about 26 s for the
sample county's 5,941 resources). What they produce depends only on the desired state each is
built from (the county, the stack's settings, the registry's grants and allocations), on the
code that turns that state into resources and items, and on the Pulumi SDKs. The digest of
all of these names a result: a drift whose digest is on file reuses its items, and any change
to any of them runs the programs again. `pulumi refresh` likewise compares the cloud with the
state the last run recorded rather than running the program again.

Entries are JSON (never pickle: nothing read back is executed), written whole, in a directory
only its owner reads (0700). An entry that cannot be read, or whose items would not come back
equal, is a miss.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

import desired
import govcloud
import modules
import network
import stacks
from cloud.plan import items as items_module
from cloud.plan.items import Item
from desired.state import DesiredState
from govcloud.errors import BadInputError
from govcloud.files import write_files

FORMAT: Final = 1  # bump when an entry's layout changes
KEEP: Final = 4  # entries kept: a few counties or checkouts side by side
SDKS: Final = ("pulumi", "pulumi-openstack")
_STATE: Final = TypeAdapter(DesiredState)


@dataclass(frozen=True)
class Entry:
    """One stack's desired items, as its program produced them."""

    items: list[Item]
    not_compared: dict[str, int]


def code_digest() -> str:
    """SHA-256 over the source that turns a desired state into items (the model, the planner,
    the desired state, the modules, the stacks and the item reduction) and the SDKs' versions."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for sdk in SDKS:
        digest.update(f"{sdk} {importlib.metadata.version(sdk)}\n".encode())
    packages = (govcloud, network, desired, modules, stacks, items_module)
    roots = [Path(str(p.__file__)).parent for p in packages]
    for root in roots:
        for source in sorted(root.rglob("*.py")):
            digest.update(f"{source.relative_to(root.parent)}\n".encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def inputs_digest(states: Mapping[str, DesiredState], code: str) -> str:
    """The digest that names one result: the code's and each stack's whole desired state."""
    digest = hashlib.sha256(code.encode())
    for stack in sorted(states):
        digest.update(f"\nstack {stack}\n".encode())
        digest.update(_STATE.dump_json(states[stack]))
    return digest.hexdigest()


def _encode(entries: Mapping[str, Entry]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "stacks": {
            stack: {
                "items": [[i.kind, list(i.key), dict(i.attrs), i.ref] for i in entry.items],
                "not_compared": entry.not_compared,
            }
            for stack, entry in entries.items()
        },
    }


def _decode(document: Any) -> dict[str, Entry]:
    """Entries from a stored document; ValueError (or a KeyError, TypeError) when it is not one."""
    if document.get("format") != FORMAT:
        raise ValueError("another format")
    return {
        stack: Entry(
            items=[Item(kind, tuple(key), attrs, ref) for kind, key, attrs, ref in entry["items"]],
            not_compared={str(k): int(v) for k, v in entry["not_compared"].items()},
        )
        for stack, entry in document["stacks"].items()
    }


def load(directory: Path, key: str) -> dict[str, Entry] | None:
    """The entries stored under `key`, or None: none stored, or not readable as entries."""
    path = directory / f"{key}.json"
    try:
        return _decode(json.loads(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(directory: Path, key: str, entries: Mapping[str, Entry]) -> bool:
    """Keep `entries` under `key` in a directory only its owner reads (the oldest beyond KEEP
    removed). False, nothing kept, when they would not come back equal (a value JSON does not
    keep, such as a tuple) or the directory cannot be written: the next run computes again."""
    text = json.dumps(_encode(entries), ensure_ascii=False)
    if _decode(json.loads(text)) != dict(entries):
        return False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        write_files(directory, {f"{key}.json": text})
        stored = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, BadInputError):
        return False
    return True
