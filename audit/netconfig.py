"""Router configurations read as meaning, not as text: FRR, BIRD and nftables normalised.

A router's running configuration never reads like the file that produced it: FRR prints its
own header, sorts interfaces, writes `area 0.0.0.0` for `area 0` and compresses IPv6
addresses its own way; BIRD's file may be re-indented; nftables prints rules in its own
syntax. Comparing text would report all of that as drift. So each side is parsed into
*statements*: a statement is the path of block headers above it and its own normalised words
(`("interface up0", "ip address 198.18.148.1/31")`). Two configurations mean the same when
they hold the same statements; what is left over on either side is drift.

Normalisation rules (each one tested on outputs read from the lab, tests/fixtures/network_drift/):

- FRR: comments (`!`), `exit`, `end`, the `Building configuration...` and `frr version`
  header lines are dropped; blocks are indentation; an OSPF area given as a number is its
  dotted form; IPv4 and IPv6 addresses and prefixes are written canonically; empty blocks
  say nothing; `passive-interface IF` under `router ospf` is `ip ospf passive` under
  `interface IF` (where FRR 8 shows it).
- BIRD: comments (`#`, `/* */`) are dropped and whitespace is free; a block is
  `header { ... }`; a filter is a program, so its body is one statement (order matters);
  addresses are canonical.
- nftables: both sides are nft's own JSON (`nft -j list ruleset`; the desired file is loaded
  by the router's nft in a throwaway network namespace), without handles; a rule is its chain
  and its expression list; the order of rules in a chain matters and is compared.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

Statement = tuple[str, ...]  # block headers, then the statement's own words

# FRR lines that are part of every running configuration and carry no setting.
FRR_NOISE: Final = re.compile(
    r"^(?:Building configuration\.\.\.|Current configuration:|frr version .*|end|exit|"
    r"exit-address-family|exit-vrf|!.*)$"
)
FRR_BLOCK_ENDS: Final = frozenset({"exit", "exit-address-family", "exit-vrf"})
OSPF_AREA_WORDS: Final = frozenset({"area"})
BIRD_TOKEN: Final = re.compile(r'"[^"]*"|[{};,\[\]]|[^\s{};,\[\]"]+')
BIRD_COMMENT: Final = re.compile(r"/\*.*?\*/|#[^\n]*", re.DOTALL)
# `birdc show protocols` states: "down" is a protocol switched off (or failed for good);
# "start" is one trying to connect (a BGP peer not there yet), which is health, not drift.
BIRD_DOWN: Final = "down"


def canonical_word(word: str) -> str:
    """An address or prefix in its canonical spelling; any other word as it is."""
    if not any(c in word for c in ".:") or not any(c.isdigit() for c in word):
        return word
    try:
        if "/" in word:
            interface = ipaddress.ip_interface(word)
            return f"{interface.ip}/{interface.network.prefixlen}"
        return str(ipaddress.ip_address(word))
    except ValueError:
        return word


def _area(word: str) -> str:
    """OSPF areas: `0` and `0.0.0.0` are one area (FRR prints the dotted form)."""
    if word.isdigit():
        return str(ipaddress.IPv4Address(int(word)))
    return word


def _frr_words(line: str) -> str:
    words = [canonical_word(w) for w in line.split()]
    for index in range(1, len(words)):
        if words[index - 1] in OSPF_AREA_WORDS:
            words[index] = _area(words[index])
    return " ".join(words)


def frr_statements(text: str) -> list[Statement]:
    """The statements of an FRR configuration (a file, or `show running-config`)."""
    statements: list[Statement] = []
    stack: list[tuple[int, str]] = []  # (indent, header) of the open blocks
    lines = [line.rstrip() for line in text.splitlines()]
    for number, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped in FRR_BLOCK_ENDS:
            if stack:
                stack.pop()
            continue
        if FRR_NOISE.match(stripped):
            if stripped.startswith("!") and not raw.startswith(" "):
                stack.clear()  # a top-level `!` ends every block
            continue
        indent = len(raw) - len(raw.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        words = _frr_words(stripped)
        following = next((n for n in lines[number + 1 :] if n.strip()), "")
        following_indent = len(following) - len(following.lstrip())
        # A header opens a block when what follows is indented under it, or is the end of a
        # block at its own indent (an empty block, which says nothing).
        empty = following.strip() in FRR_BLOCK_ENDS and following_indent == indent
        if empty or (following_indent > indent and not FRR_NOISE.match(following.strip())):
            stack.append((indent, words))
            continue
        statements.append(_frr_equivalent((*(h for _, h in stack), words)))
    return statements


def _frr_equivalent(statement: Statement) -> Statement:
    """One spelling for settings FRR moves: `passive-interface IF` under `router ospf` is
    shown by FRR 8 as `ip ospf passive` under `interface IF`."""
    if len(statement) == 2 and statement[0] == "router ospf":
        command, _, interface = statement[1].partition(" ")
        if command == "passive-interface" and interface and interface != "default":
            return (f"interface {interface}", "ip ospf passive")
    return statement


def _bird_tokens(text: str) -> list[str]:
    return [canonical_word(t) for t in BIRD_TOKEN.findall(BIRD_COMMENT.sub(" ", text))]


def bird_statements(text: str) -> list[Statement]:
    """The statements of a BIRD 2 configuration; a filter's body is one statement."""
    tokens = _bird_tokens(text)
    statements: list[Statement] = []
    stack: list[str] = []
    words: list[str] = []
    index = 0
    while index < len(tokens):
        piece = tokens[index]
        index += 1
        if piece == "{":
            header = " ".join(words)
            words = []
            if header.startswith(("filter ", "function ")) and not stack:
                depth, body = 1, []
                while index < len(tokens) and depth:
                    depth += {"{": 1, "}": -1}.get(tokens[index], 0)
                    if depth:
                        body.append(tokens[index])
                    index += 1
                statements.append((header, " ".join(body)))
                continue
            stack.append(header)
        elif piece == "}":
            if words:
                statements.append((*stack, " ".join(words)))
                words = []
            if stack:
                stack.pop()
        elif piece == ";":
            if words:
                statements.append((*stack, " ".join(words)))
            words = []
        else:
            words.append(piece)
    return statements


@dataclass(frozen=True)
class BirdProtocol:
    """One protocol BIRD runs: its name, class and state (`birdc show protocols`)."""

    name: str
    proto: str
    state: str
    info: str


def bird_protocol_headers(text: str) -> list[str]:
    """The top-level `protocol ...` block headers of a BIRD configuration, in order."""
    headers: list[str] = []
    depth, words = 0, list[str]()
    for piece in _bird_tokens(text):
        if piece == "{":
            if depth == 0 and words[:1] == ["protocol"]:
                headers.append(" ".join(words))
            depth += 1
            words = []
        elif piece == "}":
            depth = max(depth - 1, 0)
            words = []
        elif piece == ";":
            words = []
        else:
            words.append(piece)
    return headers


def bird_declared_protocols(text: str) -> dict[str, str]:
    """Name → class of every protocol a configuration declares, named as BIRD names them."""
    declared: dict[str, str] = {}
    counters: Counter[str] = Counter()
    for header in bird_protocol_headers(text):
        words = header.split()
        proto = words[1].lower()
        if len(words) > 2 and words[2] != "from":
            declared[words[2]] = proto
        else:
            counters[proto] += 1
            # BIRD names a protocol without a name after its class and a counter (device1).
            declared[f"{proto}{counters[proto]}"] = proto
    return declared


def bird_protocols(text: str) -> dict[str, BirdProtocol]:
    """`birdc show protocols` read into name → protocol (the header lines are skipped)."""
    found: dict[str, BirdProtocol] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] in ("BIRD", "Name") or line.startswith(" "):
            continue
        name, proto, _table, state = parts[:4]
        info = " ".join(parts[6:]) if len(parts) > 6 else ""
        found[name] = BirdProtocol(name, proto.lower(), state, info)
    return found


# --- nftables --------------------------------------------------------------------------------

NFT_DROPPED_KEYS: Final = frozenset({"handle"})


@dataclass(frozen=True)
class NftRuleset:
    """A ruleset from `nft -j list ruleset`: objects by key, and each chain's rules in order."""

    objects: dict[tuple[str, ...], dict[str, Any]]
    rules: dict[tuple[str, str, str], list[str]]  # (family, table, chain) → canonical exprs

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> NftRuleset:
        """Read nft's JSON; handles and nft's metainfo are dropped."""
        objects: dict[tuple[str, ...], dict[str, Any]] = {}
        rules: dict[tuple[str, str, str], list[str]] = {}
        for entry in document.get("nftables", []):
            for kind, body in entry.items():
                if kind == "metainfo":
                    continue
                clean = {k: v for k, v in body.items() if k not in NFT_DROPPED_KEYS}
                if kind == "rule":
                    chain = (clean["family"], clean["table"], clean["chain"])
                    rules.setdefault(chain, []).append(
                        json.dumps(clean.get("expr", []), sort_keys=True)
                    )
                    continue
                if kind == "table":
                    key: tuple[str, ...] = ("table", clean["family"], clean["name"])
                else:
                    key = (kind, clean.get("family", ""), clean.get("table", ""), clean["name"])
                objects[key] = clean
        for key in objects:
            if key[0] == "chain":
                rules.setdefault((key[1], key[2], key[3]), [])
        return cls(objects, rules)


def object_label(key: tuple[str, ...]) -> str:
    """`table inet govcloud_filter`, `chain inet govcloud_filter forward`."""
    return " ".join(key)


def operand(value: Any) -> str:  # noqa: PLR0911  (one return per expression kind)
    """One side of an nft match in nft's words (`ip daddr`, `198.18.1.0/25`, `{ a, b }`)."""
    if isinstance(value, dict):
        if "payload" in value:
            payload = value["payload"]
            return f"{payload.get('protocol', '')} {payload.get('field', '')}".strip()
        if "meta" in value:
            return f"meta {value['meta'].get('key', '')}"
        if "prefix" in value:
            prefix = value["prefix"]
            return canonical_word(f"{prefix['addr']}/{prefix['len']}")
        if "set" in value:
            return "{ " + ", ".join(operand(v) for v in value["set"]) + " }"
        if "ct" in value:
            return f"ct {value['ct'].get('key', '')}"
    if isinstance(value, list):
        return "{ " + ", ".join(operand(v) for v in value) + " }"
    return str(value)


def rule_text(expr_json: str) -> str:
    """A rule's expression list in nft's own words where they are common, JSON otherwise."""
    words: list[str] = []
    for step in json.loads(expr_json):
        (kind, body), *_ = step.items()
        if kind == "match":
            op = "" if body.get("op") in ("==", "in") else f"{body.get('op')} "
            words.append(f"{operand(body['left'])} {op}{operand(body['right'])}")
        elif kind in ("accept", "drop", "return", "continue"):
            words.append(kind)
        elif kind in ("jump", "goto"):
            words.append(f"{kind} {body['target']}")
        elif kind == "reject":
            detail = " ".join(str(v) for v in (body or {}).values())
            words.append(f"reject with {detail}".strip() if detail else "reject")
        elif kind == "counter":
            words.append("counter")
        else:
            words.append(json.dumps(step, sort_keys=True))
    return " ".join(words)


@dataclass(frozen=True)
class Difference:
    """One statement (or rule, or object) that differs: where, what was wanted, what is."""

    kind: str  # "changed", "missing" or "unmanaged" (audit.findings.FindingKind values)
    attribute: str
    desired: Any
    live: Any
    section: tuple[str, ...]


def _key_of(statement: Statement) -> tuple[tuple[str, ...], str]:
    """(section, setting): the words but the last name the setting (`ip ospf hello-interval`)."""
    *section, words = statement
    head = words.rsplit(" ", 1)[0] if " " in words else words
    return tuple(section), head


def compare_statements(
    desired: Sequence[Statement], live: Sequence[Statement], label: str
) -> list[Difference]:
    """What is in one configuration and not the other. A setting present once on each side
    with another value is one `changed` difference; the rest are `missing` or `unmanaged`."""
    wanted, found = Counter(desired), Counter(live)
    missing = list((wanted - found).elements())
    extra = list((found - wanted).elements())
    by_key_missing: dict[tuple[tuple[str, ...], str], list[Statement]] = {}
    by_key_extra: dict[tuple[tuple[str, ...], str], list[Statement]] = {}
    for statement in missing:
        by_key_missing.setdefault(_key_of(statement), []).append(statement)
    for statement in extra:
        by_key_extra.setdefault(_key_of(statement), []).append(statement)
    differences: list[Difference] = []
    for key, statements in by_key_missing.items():
        others = by_key_extra.get(key, [])
        section, head = key
        if len(statements) == 1 and len(others) == 1:
            differences.append(
                Difference(
                    "changed",
                    _attribute(label, section, head),
                    statements[0][-1],
                    others[0][-1],
                    section,
                )
            )
            del by_key_extra[key]
            continue
        differences += [
            Difference("missing", _attribute(label, section, s[-1]), s[-1], None, section)
            for s in statements
        ]
    for (section, _), statements in by_key_extra.items():
        differences += [
            Difference("unmanaged", _attribute(label, section, s[-1]), None, s[-1], section)
            for s in statements
        ]
    return sorted(differences, key=lambda d: d.attribute)


def _attribute(label: str, section: Sequence[str], words: str) -> str:
    return " › ".join([label, *section, words])


def compare_nft(desired: NftRuleset, live: NftRuleset) -> list[Difference]:
    """Tables, chains (hook, priority, policy), sets and each chain's rules in order."""
    differences: list[Difference] = []
    for key in sorted(desired.objects.keys() | live.objects.keys()):
        want, have = desired.objects.get(key), live.objects.get(key)
        label = _attribute("nftables", (), object_label(key))
        section = (object_label(key),)
        if want == have:
            continue
        if have is None:
            differences.append(Difference("missing", label, want, None, section))
        elif want is None:
            differences.append(Difference("unmanaged", label, None, have, section))
        else:
            for field in sorted(want.keys() | have.keys()):
                if want.get(field) != have.get(field):
                    differences.append(
                        Difference(
                            "changed",
                            f"{label} › {field}",
                            want.get(field),
                            have.get(field),
                            section,
                        )
                    )
    for chain in sorted(desired.rules.keys() | live.rules.keys()):
        want_rules, have_rules = desired.rules.get(chain, []), live.rules.get(chain, [])
        if want_rules == have_rules:
            continue
        section = (f"chain {' '.join(chain)}",)
        label = _attribute("nftables", (), section[0])
        wanted, found = Counter(want_rules), Counter(have_rules)
        missing = list((wanted - found).elements())
        extra = list((found - wanted).elements())
        differences += [
            Difference("missing", f"{label} › {rule_text(r)}", rule_text(r), None, section)
            for r in missing
        ]
        differences += [
            Difference("unmanaged", f"{label} › {rule_text(r)}", None, rule_text(r), section)
            for r in extra
        ]
        if not missing and not extra:  # the same rules in another order: first match differs
            differences.append(
                Difference(
                    "changed",
                    f"{label} › order",
                    [rule_text(r) for r in want_rules],
                    [rule_text(r) for r in have_rules],
                    section,
                )
            )
    return differences


def section_text(statements: Iterable[Statement], section: Sequence[str]) -> list[str]:
    """The statements of one block, as lines (the evidence a finding shows)."""
    depth = len(section)
    return [" › ".join(s) for s in statements if tuple(s[:depth]) == tuple(section)]
