"""Rendered router configurations: the vendor-neutral model, and golden files per dialect.

Regenerate the golden files after an intended change with GOVCLOUD_UPDATE_GOLDEN=1, then review
the diff like any other change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from small_county import write_county

from govcloud.loader import load_county
from network.plan import plan_network
from network.render import render, routers

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "render"


@pytest.fixture
def small(tmp_path: Path) -> tuple[object, object]:
    county = load_county(write_county(tmp_path))
    return county, plan_network(county)


def test_router_model(small: tuple[object, object]) -> None:
    county, plan = small
    core, alpha, beta = routers(county, plan, "frr")  # type: ignore[arg-type]
    assert (core.hostname, core.router_id) == ("core-rtr", "198.18.2.1")
    assert [(i.name, str(i.ipv4), str(i.ipv6)) for i in core.interfaces] == [
        ("dl0", "198.18.0.0/31", "2001:db8:1::/127"),
        ("dl1", "198.18.0.2/31", "2001:db8:1:1::/127"),
    ]
    assert [(i.name, str(i.ipv4), str(i.ipv6), i.ospf) for i in alpha.interfaces] == [
        ("up0", "198.18.0.1/31", "2001:db8:1::1/127", True),
        ("lan0", "198.18.4.1/25", "2001:db8:1000::1/64", True),
    ]
    # beta keeps 192.168.1.0/24 on its LAN, out of OSPF, behind a 1:1 NAT to 198.18.3.0/24.
    assert [(i.name, str(i.ipv4), i.ospf) for i in beta.interfaces] == [
        ("up0", "198.18.0.3/31", True),
        ("lan0", "192.168.1.1/24", False),
    ]
    assert [(m.inside.prefix, m.outside.prefix, m.interface) for m in beta.nat] == [
        ("192.168.1.0/24", "198.18.3.0/24", "up0")
    ]
    assert [r.prefix for r in beta.discard_routes] == ["198.18.3.0/24"]


@pytest.mark.parametrize("vendor", ["frr", "huawei", "h3c"])
def test_rendered_configs_match_golden_files(small: tuple[object, object], vendor: str) -> None:
    county, plan = small
    files = render(county, plan, vendor)  # type: ignore[arg-type]
    folder = GOLDEN / vendor
    if os.environ.get("GOVCLOUD_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}
    assert files == expected
