"""迁移上云 in the lab: a small county's systems move to their cloud servers on the local cloud,
warm and cold, under a client that numbers its writes; rollbacks, a failed verification, a
killed run and the source's retirement. The cloud servers are the stacks' own (deployed to the
local cloud), realised in the lab at their Neutron ports' addresses.

The tests run in order on one lab (root): each leaves the system where the next expects it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import workload_kit
from clirunner import run_cli
from handdeploy import remove_county
from small_county import write_county, write_project
from sqlalchemy.orm import Session

from govcloud.registry import db
from govcloud.registry.migration_state import MigrationMode, MigrationState
from govcloud.registry.tables import MigrationStep, MigrationSystem
from lab.localcloud.layout import CLOUD_NAME, REGIONS
from lab.localcloud.manager import LocalCloud
from lab.netlab.manager import NetLab
from lab.workload import servers
from migration import labsite
from migration.runner import Runner, secret_for

pytestmark = pytest.mark.cloud
REPO = Path(__file__).resolve().parents[2]
CODE = "519988"  # a county of its own: other cloud tests use other codes
LAB = "mig"
WARM = "alpha/oa"
SLOTS = "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"
COLD = "alpha/docs"
TIMEOUT_S = 1800
# A server that serves: a primary taking writes.
SERVING = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
# Two legacy systems of alpha's, on its renumbered office LAN: one moves warm, one cold.
SYSTEMS = """\
  - code: oa
    name: 办公系统
    tier: general
    data_gb: 1
    max_downtime_min: 60
    location: legacy
  - code: docs
    name: 档案系统
    tier: general
    data_gb: 1
    max_downtime_min: 120
    location: legacy
"""


@dataclass
class Site:
    """The county, its registry, the local cloud it is deployed to and the lab it runs in."""

    county: Path
    project: Path
    env: dict[str, str]
    lab: NetLab

    def govcloud(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_cli(args, env=self.env, timeout=TIMEOUT_S)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def migrate(self, *args: str, code: int = 0) -> dict[str, Any]:
        result = self.govcloud("migrate", *args, "--lab", LAB, "--json", check=False)
        assert result.returncode == code, result.stdout + result.stderr
        return dict(json.loads(result.stdout))

    def inside(self, node: str, *command: str) -> str:
        """A command's output inside a lab node."""
        result = self.govcloud("lab", "exec", node, "--name", LAB, "--", *command)
        return result.stdout

    def sql(self, node: str, query: str) -> str:
        return self.inside(
            node,
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-At",
            "-d",
            "records",
            "-c",
            query,
        ).strip()

    def sessions(self) -> Session:
        engine = db.make_engine(f"sqlite:///{self.env['GOVCLOUD_STATE_DIR']}/registry.sqlite3")
        return Session(engine)


def _county(root: Path) -> Path:
    county = write_county(
        root,
        {
            "county.yaml": ('code: "519901"', f'code: "{CODE}"'),
            "departments/alpha.yaml": (
                "    depends_on: [beta/db]\n",
                "    depends_on: [beta/db]\n" + SYSTEMS,
            ),
        },
    )
    # beta's core database moves too in the plan: its m1.large needs room Nova can place.
    beta = county / "departments" / "beta.yaml"
    beta.write_text(beta.read_text().replace("storage_gb: 50", "storage_gb: 300"))
    return Path(county)


@pytest.fixture(scope="module")
def site(local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.fail(
            "the migration lab tests need root (network namespaces): run `make test` as root"
        )
    root = tmp_path_factory.mktemp("migrate")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
    env |= {
        "GOVCLOUD_STATE_DIR": str(root / "state"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
        "GOVCLOUD_LAB_DIR": str(root / "lab"),
        "GOVCLOUD_ACTOR": "test:migrate",
    }
    lab = NetLab(root / "lab", LAB)
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(local_cloud.paths.clouds_yaml)
    found = Site(_county(root / "county"), write_project(root / "project", CODE), env, lab)
    county = ("--county", str(found.county))
    try:
        found.govcloud("db", "upgrade")
        found.govcloud("migrate", "plan", *county, "--save")
        found.govcloud(
            "localcloud",
            "deploy",
            "--stack",
            "primary",
            *county,
            "--project-dir",
            str(found.project),
        )
        found.govcloud(
            "lab", "up", "--departments", "alpha", "--workloads", f"{WARM},{COLD}",
            "--workload-mb", "8", "--name", LAB, "--registry", *county,
        )  # fmt: skip
        found.govcloud(
            "lab", "run", "--name", LAB, "--", "ansible-playbook", "playbooks/network-merge.yml"
        )
        yield found
    finally:
        if lab.ours():
            lab.down()
        remove_county(CLOUD_NAME, [r.name for r in REGIONS], CODE)


def Load(site: Site, system: str, start: int, out: Path) -> workload_kit.Load:  # noqa: N802
    """The numbering client on alpha's office host, against `system`'s name."""
    host = next(n for n in site.lab.state()["nodes"] if n.startswith("alpha-office-h"))
    return workload_kit.Load(site.lab, system, host, start, out)


def missing_writes(site: Site, node: str, tally: dict[str, Any]) -> int:
    """Acknowledged writes the server lacks (every issued number was acknowledged)."""
    return workload_kit.missing_writes(site.sql, node, tally)


def alpha_on_cloud(site: Site) -> int:
    """alpha's systems on the cloud as `govcloud status` counts them (the registry's states)."""
    status = json.loads(site.govcloud("status", "--county", str(site.county), "--json").stdout)
    return int(next(d for d in status["departments"] if d["code"] == "alpha")["on_cloud"])


def assert_back_at_the_source(site: Site, system: str, tally: dict[str, Any]) -> None:
    """The name leads to the source again, which takes writes and holds every one acknowledged."""
    info = site.lab.app(system)
    source = info["servers"]["source"]["node"]
    assert info["resolves_to"] == [info["servers"]["source"]["ipv4"]]
    assert missing_writes(site, source, tally) == 0
    serving = site.sql(
        source, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
    )
    assert serving == "f|off"


def test_a_warm_move_under_load_loses_no_write(site: Site, tmp_path: Path) -> None:
    before = alpha_on_cloud(site)
    load = Load(site, WARM, 1, tmp_path / "load.json")
    moved = site.migrate("run", WARM)
    tally = load.finish()
    assert alpha_on_cloud(site) == before + 1  # 上云率 moves with what happened
    assert (moved["state"], moved["mode"], moved["rolled_back"]) == ("validated", "warm", False)
    assert moved["rows_source"] == moved["rows_target"] > 0
    assert moved["downtime_s"] is not None and moved["downtime_s"] > 0
    assert [s["step"] for s in moved["steps"]] == ["replicate", "test", "cutover"]
    info = site.lab.app(WARM)
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    assert missing_writes(site, info["servers"]["cloud"]["node"], tally) == 0
    assert tally["failed_attempts"] > 0  # the client did see the cutover
    # ...and only the cutover: its writes flowed from the start (the merge moved the name
    # with the renumbered source), so every gap came once the move was under way. A cutover
    # quicker than the client's outage floor (0.5 s without an acknowledgement) shows as
    # failed attempts and no gap at all.
    assert all(o["began_s"] > 0 for o in tally["outages"]), tally
    # The source kept every write up to the cutover and takes no more.
    assert site.sql(info["servers"]["source"]["node"], "SHOW default_transaction_read_only") == "on"
    # It holds its WAL from just before the cutover, for a rollback's pg_rewind.
    assert site.sql(info["servers"]["source"]["node"], SLOTS) == "govcloud_rollback"


def test_a_rollback_after_the_cutover_brings_back_every_write(site: Site, tmp_path: Path) -> None:
    load = Load(site, WARM, 100_000, tmp_path / "load.json")
    on_cloud = alpha_on_cloud(site)
    back = site.migrate("rollback", WARM)
    tally = load.finish()
    assert (back["state"], back["rolled_back"]) == ("planned", True)
    assert_back_at_the_source(site, WARM, tally)
    assert alpha_on_cloud(site) == on_cloud - 1
    assert site.sql(site.lab.app(WARM)["servers"]["source"]["node"], SLOTS) == ""


def test_a_rollback_without_the_sources_wal_copies_the_cloud_server_afresh(
    site: Site, tmp_path: Path
) -> None:
    moved = site.migrate("run", WARM)
    assert moved["state"] == "validated", moved
    source = site.lab.app(WARM)["servers"]["source"]["node"]
    # Someone dropped the slot and the source recycled the WAL pg_rewind would read: more
    # segments than its wal_keep_size (256 MB) keeps, each ended by a checkpoint.
    site.sql(source, "SELECT pg_drop_replication_slot('govcloud_rollback')")
    site.sql(source, "SELECT pg_switch_wal(); CHECKPOINT; " * 20)
    load = Load(site, WARM, 300_000, tmp_path / "load.json")
    back = site.migrate("rollback", WARM)
    tally = load.finish()
    assert (back["state"], back["rolled_back"]) == ("planned", True), back
    log = Path(back["log"]).read_text()
    assert "TASK [migrate : Copy the cloud server afresh onto the source and follow it]" in log
    assert_back_at_the_source(site, WARM, tally)


def test_a_cutover_that_fails_verification_rolls_back(site: Site, tmp_path: Path) -> None:
    # Verification from a node that cannot resolve the system's name: it fails after the copy
    # was promoted and named, so the rollback must bring the copy's writes back.
    engine = db.make_engine(f"sqlite:///{site.env['GOVCLOUD_STATE_DIR']}/registry.sqlite3")
    placement = labsite.placement(site.lab, WARM)
    broken = replace(
        placement,
        variables={
            **placement.variables,
            "migrate_verify_from": "core-rtr",
        },
    )
    runner = Runner(
        sessions=db.session_factory(engine),
        placement=broken,
        execute=labsite.executor(site.lab),
        root=Path(site.env["GOVCLOUD_STATE_DIR"]) / "migration",
        actor="test:migrate",
    )
    load = Load(site, WARM, 200_000, tmp_path / "load.json")
    outcome = runner.run(MigrationMode.WARM)
    tally = load.finish()
    assert not outcome.ok and outcome.rolled_back, outcome.as_dict()
    assert outcome.state == MigrationState.PLANNED.value
    assert [s["step"] for s in outcome.steps] == ["replicate", "test", "cutover", "rollback"]
    assert_back_at_the_source(site, WARM, tally)


def test_a_killed_run_resumes_from_its_journal(site: Site) -> None:
    with site.sessions() as session:
        before = session.query(MigrationStep).filter_by(system=WARM).count()
    run = subprocess.Popen(
        [sys.executable, "-m", "cli", "migrate", "run", WARM, "--lab", LAB],
        cwd=REPO, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    # The base backup records its PID beside the cloud server's data directory while it runs.
    cloud = site.lab.app(WARM)["servers"]["cloud"]["node"]
    copying = (
        site.lab.node_dir(cloud)
        / "pg"
        / servers.postgres_version()
        / f"{servers.CLUSTER}.copying.pid"
    )
    deadline = time.monotonic() + 120
    while not copying.exists() or not copying.read_text().strip():
        assert time.monotonic() < deadline, "the run never started its base backup"
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # our own run, and its ansible-playbook
    run.wait(timeout=30)
    # The copy goes on without the run (Ansible's SSH master outlives it): the resumed run
    # must stop it before it empties the directory the copy is still filling. A small copy
    # may end before the next run gets there; held (SIGSTOP, our own copy), this one cannot.
    orphan = int(copying.read_text())
    os.kill(orphan, signal.SIGSTOP)
    assert Path(f"/proc/{orphan}/comm").read_text().strip() == "pg_basebackup"
    with site.sessions() as session:
        row = session.get(MigrationSystem, WARM)
        assert row is not None and row.state == MigrationState.REPLICATING.value
        assert row.run_id is not None  # the dead run still holds it
    resumed = site.migrate("run", WARM)
    assert resumed["state"] == "validated"
    assert not Path(f"/proc/{orphan}").exists() or "Z" in Path(f"/proc/{orphan}/stat").read_text()
    log = Path(resumed["log"]).read_text()
    stopped = log.partition("TASK [migrate : Stop a copy that a killed run left writing")[2]
    assert stopped.splitlines()[1].startswith("changed:"), stopped[:400]
    assert [s["step"] for s in resumed["steps"]] == ["replicate", "test", "cutover"]
    with site.sessions() as session:
        journal = session.query(MigrationStep).filter_by(system=WARM).order_by(MigrationStep.id)
        statuses = [(e.step, e.status) for e in journal][before:]
    assert statuses[0] == ("replicate", "started")  # the killed step, never finished
    assert statuses[1:] == [("replicate", "done"), ("test", "done"), ("cutover", "done")]


def test_finalize_retires_the_source(site: Site) -> None:
    done = site.migrate("finalize", WARM)
    assert done["state"] == "finalized"
    info = site.lab.app(WARM)
    source = info["servers"]["source"]["node"]
    clusters = site.inside(source, "pg_lsclusters", "-h")
    assert "down" in clusters and "online" not in clusters
    assert site.inside(source, "cat", f"/etc/govcloud/retired/{WARM.replace('/', '-')}")
    pinholes = site.inside(
        "alpha-rtr", "nft", "list", "chain", "inet", "govcloud_filter", "pinholes"
    )
    assert "migration" not in pinholes
    # The cloud server goes on serving by the name; going back is refused.
    assert site.sql(info["servers"]["cloud"]["node"], "SELECT pg_is_in_recovery()") == "f"
    refused = site.govcloud("migrate", "rollback", WARM, "--lab", LAB, check=False)
    assert refused.returncode == 2 and "retired" in refused.stderr


def test_a_cold_move_and_its_rollback_lose_no_write(site: Site, tmp_path: Path) -> None:
    load = Load(site, COLD, 1, tmp_path / "load.json")
    moved = site.migrate("run", COLD, "--cold")
    tally = load.finish()
    assert (moved["state"], moved["mode"]) == ("validated", "cold")
    assert [s["step"] for s in moved["steps"]] == ["cold-cutover"]
    assert moved["rows_source"] == moved["rows_target"] > 0
    info = site.lab.app(COLD)
    assert missing_writes(site, info["servers"]["cloud"]["node"], tally) == 0
    load = Load(site, COLD, 100_000, tmp_path / "again.json")
    back = site.migrate("rollback", COLD)
    tally = load.finish()
    assert back["state"] == "planned"
    assert_back_at_the_source(site, COLD, tally)


def play(site: Site, playbook: str, system: str, *options: str) -> int:
    """Run one migrate playbook for `system` as the runner would; the hosts' changes summed."""
    variables = {**labsite.placement(site.lab, system).variables, "migrate_mode": "warm"}
    secret = secret_for(Path(site.env["GOVCLOUD_STATE_DIR"]) / "migration", system)
    extra = Path(site.env["GOVCLOUD_STATE_DIR"]) / "play.vars.json"
    extra.write_text(json.dumps(variables))
    extra.chmod(0o600)
    result = site.lab.run(
        ["ansible-playbook", f"playbooks/{playbook}", "-e", f"@{extra}", *options],
        capture=True,
        env={labsite.SECRET_ENV: secret},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    recap = result.stdout.rpartition("PLAY RECAP")[2]
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap))


def test_the_playbooks_change_nothing_run_again_or_in_check_mode(site: Site) -> None:
    # Check mode on a system not yet copied: it runs through and copies nothing.
    play(site, "migrate-replicate.yml", COLD, "--check")
    cloud = site.lab.app(COLD)["servers"]["cloud"]["node"]
    signal_file = (
        f"/var/lib/postgresql/{servers.postgres_version()}/{servers.CLUSTER}/standby.signal"
    )
    assert (
        site.inside(cloud, "sh", "-c", f"test -e {signal_file} && echo copied || echo none").strip()
        == "none"
    )
    copied = site.migrate("run", COLD, "--until", "replicated")
    assert copied["state"] == "ready_for_test"
    assert play(site, "migrate-replicate.yml", COLD) == 0
    assert play(site, "migrate-replicate.yml", COLD, "--check") == 0
    assert site.migrate("rollback", COLD)["state"] == "planned"


def test_the_journal_and_the_audit_log_tell_the_story(site: Site) -> None:
    status = json.loads(site.govcloud("migrate", "status", "--json").stdout)
    states = {s["system"]: s["state"] for s in status["systems"]}
    assert states[WARM] == "finalized" and states[COLD] == "planned"
    log = json.loads(
        site.govcloud("audit", "log", "--action", "migration.step_done", "--json").stdout
    )
    assert any(e["object"] == f"migration/{WARM}" for e in log)
    assert site.govcloud("audit", "verify-log").returncode == 0
    # The curve kept every move onto the cloud and off it: the warm move and its rollback, the
    # second move and its rollback by a fresh copy, the failed cutover (on at its start, off
    # with its rollback), the resumed run, the cold move
    # and its rollback; finalize leaves the system where it was, on the cloud.
    found = json.loads(
        site.govcloud("migrate", "progress", "--county", str(site.county), "--json").stdout
    )
    base = found["history"][0]["on_cloud"]
    steps = [0, 1, 0, 1, 0, 1, 0, 1, 2, 1]
    assert [p["on_cloud"] - base for p in found["history"]] == steps
    alpha = found["departments"]["alpha"]
    assert [p["on_cloud"] - alpha[0]["on_cloud"] for p in alpha] == steps
    assert found["on_cloud"] == base + 1
