"""The lab's CLI refuses to run without root; the collection's filters map onto our Python."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from cli.main import app
from govcloud.errors import GovcloudError

REPO = Path(__file__).resolve().parents[2]
FILTERS = (
    REPO / "playbooks/collections/ansible_collections/govcloud/network/plugins/filter/govcloud.py"
)


@pytest.fixture(scope="module")
def filters() -> ModuleType:
    spec = importlib.util.spec_from_file_location("govcloud_filters", FILTERS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("action", [["up"], ["down"], ["verify"], ["fault", "gaj"]])
def test_lab_commands_need_root(
    action: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("GOVCLOUD_LAB_DIR", str(tmp_path))
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "state.json").write_text('{"nodes": {}}')
    county = ["--county", str(REPO / "county")] if action == ["up"] else []
    result = CliRunner().invoke(app, ["lab", *action, *county])
    # main() prints the message of a GovcloudError and exits with its code.
    assert isinstance(result.exception, GovcloudError), result.output
    assert result.exception.exit_code == 2
    assert "needs root" in str(result.exception)


def test_status_of_a_lab_that_is_not_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOVCLOUD_LAB_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["lab", "status", "--name", "nolab"])
    assert isinstance(result.exception, GovcloudError)
    assert result.exception.exit_code == 2
    assert "lab 'nolab' is not up" in str(result.exception)


def test_pytest_failures_are_split_by_node(filters: ModuleType) -> None:
    run = {
        "rc": 1,
        "stdout": "\n".join(
            [
                "..F.",
                "FAILED test_nodes.py::test_router_addresses[ansible://gaj-rtr] - assert",
                "FAILED test_nodes.py::test_host_addresses[ansible://cgj-office-h1] - assert",
                "ERROR conftest.py - collection failed",
            ]
        ),
    }
    gaj = filters.govcloud_pytest_failures(run, ["gaj-rtr", "gaj-office-h1"])
    assert gaj == [
        "testinfra FAILED test_nodes.py::test_router_addresses[ansible://gaj-rtr] - assert",
        "testinfra ERROR conftest.py - collection failed",
    ]
    assert filters.govcloud_pytest_failures({"rc": 0, "stdout": ""}) == []
    assert filters.govcloud_pytest_failures({"skipped": True}) == []
    assert filters.govcloud_pytest_failures({"rc": 4, "stdout": "", "stderr": "no inventory"}) == [
        "testinfra exited 4: no inventory"
    ]


def test_mismatches_and_probe_summaries(filters: ModuleType) -> None:
    results = [
        {"item": "a-h1", "mismatches": ["a-h1 → cloud-gw ping IPv6 (unreachable, ...)"]},
        {"item": "b-h1", "mismatches": []},
        {"item": {"item": "c-h1"}, "failed": True, "msg": "ssh: connection refused"},
    ]
    assert filters.govcloud_mismatches(results) == [
        "a-h1 → cloud-gw ping IPv6 (unreachable, ...)",
        "c-h1: ssh: connection refused",
    ]
    probes = [
        {
            "item": "a-h1",
            "probes": [
                {
                    "name": "cloud-gw-v4",
                    "address": "198.19.253.10",
                    "transmitted": 50,
                    "received": 49,
                    "lost": 1,
                }
            ],
        }
    ]
    assert filters.govcloud_probe_summary(probes) == [
        "a-h1 → cloud-gw-v4 (198.19.253.10): 49/50 echo replies, lost 1"
    ]
    checks = [
        {"source": "a-h1", "target": "b-h1", "family": 4, "address": "198.18.4.10"},
        {"source": "b-h1", "target": "a-h1", "family": 4, "address": "198.18.5.10"},
    ]
    assert filters.govcloud_probe_targets(checks, "a-h1") == [
        {"name": "b-h1-v4", "address": "198.18.4.10"}
    ]
    assert filters.govcloud_previous_phase("dualstack") == "merged"
    assert filters.govcloud_phase_at_least("cutover", "merged")
