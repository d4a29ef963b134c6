"""灾备 in the lab: a small county's systems on the cloud (the primary stack deployed to the local
cloud) are protected at the DR site (the DR stack) as their tiers ask, under a client that
numbers its writes: a test drill touches nothing; a core failover when the primary site is cut
off loses no acknowledged write and the failback returns with every one; an important
system's failover after its database died loses no more than its lag allowed; a general
(backup) system's failover, failback and restore test run through `govcloud dr drill`, the
drill engine measuring them: its failover restores the last backup and loses only the writes
made after it, the failback loses nothing, the restore test leaves production untouched.

The cloud servers and the DR standbys are the stacks' own, realised in the lab at their Neutron
ports' addresses. The tests run in order on one lab (root): each leaves the systems where the
next expects them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clirunner import run_cli
from dr_county import CLIENT, CORE, GENERAL, IMPORTANT, write_dr_county
from handdeploy import remove_county
from small_county import write_project
from workload_kit import Load, missing_writes

from dr import labsite
from lab.localcloud.layout import CLOUD_NAME, REGIONS
from lab.localcloud.manager import LocalCloud
from lab.netlab.manager import NetLab
from lab.workload.client import threads_for

pytestmark = pytest.mark.cloud
CODE = "519944"  # a county of its own: other cloud tests use other codes
LAB = "drl"
RATE = 100  # the client's writes per second
TIMEOUT_S = 1800


@dataclass
class Site:
    """The county, its registry, the local cloud it is deployed to and the lab it runs in."""

    county: Path
    project: Path
    env: dict[str, str]
    lab: NetLab
    secret: str
    runs: Path

    def govcloud(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = run_cli(args, env=self.env, timeout=TIMEOUT_S)
        assert result.returncode == code, result.stdout + result.stderr
        return result

    def dr(self, *args: str) -> dict[str, Any]:
        """`govcloud dr ...` on this county, project and lab: its JSON (exit 0 expected)."""
        where = ("--lab", LAB, "--county", str(self.county), "--project-dir", str(self.project))
        return dict(json.loads(self.govcloud("dr", *args, *where, "--json").stdout))

    def play(
        self, playbook: str, system: str, *options: str, **extra: Any
    ) -> tuple[dict[str, Any], int]:
        """Run a dr playbook for `system` as the drill engine would: its result file and the
        hosts' changes summed."""
        variables = dict(labsite.placement(self.lab, system).variables)
        stem = f"{playbook.removesuffix('.yml')}-{system.replace('/', '-')}-{time.monotonic_ns()}"
        result_file = self.runs / f"{stem}.json"
        variables |= {"dr_result_file": str(result_file), **extra}
        log = self.runs / f"{stem}.log"
        extra_file = log.with_suffix(".vars.json")
        extra_file.write_text(json.dumps(variables))
        extra_file.chmod(0o600)
        ran = self.lab.run(
            ["ansible-playbook", f"playbooks/{playbook}", "-e", f"@{extra_file}", *options],
            capture=True,
            env={labsite.SECRET_ENV: self.secret},
        )
        log.write_text(ran.stdout + ran.stderr)
        assert ran.returncode == 0, f"{playbook} {system}: see {log}\n{ran.stdout[-4000:]}"
        recap = ran.stdout.rpartition("PLAY RECAP")[2]
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", recap))
        found = json.loads(result_file.read_text()) if result_file.exists() else {}
        return found, changed

    def status(self, system: str) -> dict[str, Any]:
        return self.play("dr-status.yml", system)[0]

    def sql(self, node: str, query: str) -> str:
        result = self.govcloud(
            "lab", "exec", node, "--name", LAB, "--",
            "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", "records", "-c", query,
        )  # fmt: skip
        return result.stdout.strip()


@pytest.fixture(scope="module")
def site(local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.fail("the DR lab tests need root (network namespaces): run `make test` as root")
    root = tmp_path_factory.mktemp("dr")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
    env |= {
        "GOVCLOUD_STATE_DIR": str(root / "state"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
        "GOVCLOUD_LAB_DIR": str(root / "lab"),
        "GOVCLOUD_ACTOR": "test:dr",
    }
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(local_cloud.paths.clouds_yaml)
    lab = NetLab(root / "lab", LAB)
    runs = root / "runs"
    runs.mkdir()
    project_dir = write_project(root / "project", CODE)
    found = Site(
        write_dr_county(root / "county", CODE),
        project_dir,
        env,
        lab,
        secrets.token_urlsafe(24),
        runs,
    )
    # The drill engine hands on each system's password from its secrets (0600): the one this
    # module's setup gives the servers.
    engine_secrets = root / "state" / "dr" / "secrets"
    engine_secrets.mkdir(parents=True, mode=0o700)
    for system in (CORE, IMPORTANT, GENERAL):
        secret_file = engine_secrets / system.replace("/", "-")
        secret_file.write_text(found.secret)
        secret_file.chmod(0o600)
    county = ("--county", str(found.county))
    project = ("--project-dir", str(project_dir))
    try:
        found.govcloud("db", "upgrade")
        found.govcloud("net", "plan", *county)  # the DR networks recorded, as deployed
        found.govcloud("localcloud", "deploy", "--stack", "primary", *county, *project)
        found.govcloud("localcloud", "deploy", "--stack", "dr", *county, *project)
        found.govcloud(
            "lab", "up", "--departments", "alpha", "--workloads", f"{CORE},{IMPORTANT},{GENERAL}",
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


def steps(result: dict[str, Any]) -> list[str]:
    """The run's timeline, step names in order of time."""
    return [e["step"] for e in sorted(result["events"], key=lambda e: e["at"])]


def test_setup_protects_each_system_as_its_tier_asks(site: Site, tmp_path: Path) -> None:
    for system, mode in ((CORE, "streaming-sync"), (IMPORTANT, "streaming-async")):
        result, changed = site.play("dr-setup.yml", system)
        assert changed > 0 and result["validation"]["ok"], result
        status = site.status(system)
        assert (status["replication"], status["state"]) == (mode, "streaming"), status
        assert status["lag_bytes"] is not None and status["lag_s"] is not None
    info = site.lab.app(CORE)
    assert info["servers"]["dr"]["node"] == "beta-ledger-dr"
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    # The primary's database port admits the DR standby only: a department host is refused.
    refused = site.lab.exec(
        CLIENT,
        ["python3", "-c", "import socket,sys; socket.create_connection((sys.argv[1], 5432), 3)",
         info["servers"]["cloud"]["ipv4"]],
    )  # fmt: skip
    assert refused != 0
    # General: its backups land on the DR backup volume, read back before they count, with
    # every write acknowledged before the backup began.
    site.play("dr-setup.yml", GENERAL)
    assert site.status(GENERAL)["last_backup_at"] is None
    tally = Load(site.lab, GENERAL, CLIENT, 1, tmp_path / "load.json", rate=RATE).finish()
    backup, _ = site.play("dr-backup.yml", GENERAL)
    assert backup["validation"]["ok"], backup
    assert backup["validation"]["rows"] == tally["acknowledged"] > 0, (backup, tally)
    status = site.status(GENERAL)
    assert (status["replication"], status["state"]) == ("backup", "backed-up"), status
    assert status["last_backup_at"] == backup["validation"]["backup_at"]


def test_setup_run_again_or_in_check_mode_changes_nothing(site: Site) -> None:
    assert site.play("dr-setup.yml", CORE)[1] == 0
    assert site.play("dr-setup.yml", CORE, "--check")[1] == 0


def test_a_test_drill_leaves_replication_running_and_production_untouched(
    site: Site, tmp_path: Path
) -> None:
    load = Load(site.lab, CORE, CLIENT, 1, tmp_path / "load.json", rate=RATE)
    drill, _ = site.play("dr-test.yml", CORE)
    tally = load.finish()
    assert drill["validation"]["ok"] and drill["validation"]["replication_continued"], drill
    assert drill["validation"]["rows"] > 0
    assert steps(drill) == ["promoted", "validated"]
    assert tally["failed_attempts"] == 0 and tally["outages"] == [], tally
    info = site.lab.app(CORE)
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    assert missing_writes(site.sql, info["servers"]["cloud"]["node"], tally) == 0
    assert site.status(CORE)["state"] == "streaming"
    dr_node = info["servers"]["dr"]["node"]
    assert site.sql(dr_node, "SELECT pg_is_in_recovery()") == "t"  # the copy is gone, not it


def test_a_core_failover_from_a_cut_off_primary_site_loses_no_acknowledged_write(
    site: Site, tmp_path: Path
) -> None:
    load = Load(site.lab, CORE, CLIENT, 100_000, tmp_path / "load.json", rate=RATE)
    cut_at = time.time()
    site.lab.fault("primary", "cut-from-extranet")
    failover, _ = site.play("dr-failover.yml", CORE, dr_fault_at=cut_at)
    tally = load.finish()
    assert steps(failover) == [
        "fault", "detected", "promoted", "app_started", "name_moved", "validated",
    ], failover  # fmt: skip
    assert failover["validation"]["ok"], failover
    info = site.lab.app(CORE)
    dr_node = info["servers"]["dr"]["node"]
    assert info["resolves_to"] == [info["servers"]["dr"]["ipv4"]]  # it answers from the DR site
    assert failover["validation"]["server"] == dr_node
    assert missing_writes(site.sql, dr_node, tally) == 0  # synchronous: RPO 0
    assert tally["outages"], tally  # the client did see the primary go


def test_failback_returns_with_every_write(site: Site, tmp_path: Path) -> None:
    site.lab.fault("primary", "cut-from-extranet", clear=True)
    load = Load(site.lab, CORE, CLIENT, 200_000, tmp_path / "load.json", rate=RATE)
    back, _ = site.play("dr-failback.yml", CORE)
    tally = load.finish()
    assert back["validation"]["ok"], back
    assert steps(back)[0] == "resynced" and steps(back)[-1] == "returned", back
    info = site.lab.app(CORE)
    primary = info["servers"]["cloud"]["node"]
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    assert missing_writes(site.sql, primary, tally) == 0
    status = site.status(CORE)
    assert (status["replication"], status["state"], status["serving"]) == (
        "streaming-sync",
        "streaming",
        primary,
    )


def test_an_important_failover_loses_no_more_than_its_lag_allowed(
    site: Site, tmp_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while site.status(IMPORTANT)["state"] != "streaming":  # its copy reconnects by itself
        assert time.monotonic() < deadline, site.status(IMPORTANT)
        time.sleep(2)
    load = Load(site.lab, IMPORTANT, CLIENT, 1, tmp_path / "load.json", rate=RATE)
    killed_at = time.time()
    site.lab.fault(IMPORTANT, "kill-database")
    failover, _ = site.play("dr-failover.yml", IMPORTANT, dr_fault_at=killed_at)
    tally = load.finish()
    assert failover["validation"]["ok"], failover
    info = site.lab.app(IMPORTANT)
    assert info["resolves_to"] == [info["servers"]["dr"]["ipv4"]]
    lost = missing_writes(site.sql, info["servers"]["dr"]["node"], tally)
    # Asynchronous, RPO 5 s (the tier's policy): at most what the client wrote in that time.
    assert lost <= RATE * 5, (lost, tally)


def timeline(document: dict[str, Any], system: str) -> list[str]:
    """A drill's timeline for one system (and the drill's own steps), step names in order."""
    return [e["step"] for e in document["timeline"] if e["system"] in (system, None)]


def test_a_general_failover_restores_the_last_backup_and_loses_only_the_writes_after_it(
    site: Site, tmp_path: Path
) -> None:
    load = Load(site.lab, GENERAL, CLIENT, 300_000, tmp_path / "load.json", rate=RATE)
    drill = site.dr("drill", "--system", GENERAL, "--kind", "failover", "--fault", "database")
    tally = load.finish()
    assert drill["kind"] == "failover" and isinstance(drill["drill"], int)
    (system,) = drill["systems"]
    assert {"system", "rpo_s", "rto_s", "lost_writes", "level", "met"} <= set(system), system
    assert system["system"] == GENERAL and system["met"] and system["level"] == 4, system
    assert system["rto_s"] <= 600 and system["state"] == "dr_site", system
    # The probe's writes all came after the backup: those before the restore are lost, RPO
    # the time from its first write to the fault.
    steps_at = {e["step"]: e["at"] for e in drill["timeline"]}
    started = dt.datetime.fromtimestamp(system["probe"]["started_at"], dt.UTC)
    fault = dt.datetime.fromisoformat(steps_at["fault"])
    assert system["lost_writes"] > 0, system
    assert abs(system["rpo_s"] - (fault - started).total_seconds()) < 2.5, (system, steps_at)
    order = ["fault", "detected", "restored", "app_started", "name_moved", "validated"]
    assert [s for s in timeline(drill, GENERAL) if s in order] == order, drill["timeline"]
    assert {e["phase"] for e in drill["timeline"] if e["step"] == "restored"} == {"restore"}
    restore = system["validation"]["restore"]
    assert restore["found"] == restore["expected"] == str(restore["backup_rows"]), restore
    info = site.lab.app(GENERAL)
    dr_node = info["servers"]["dr"]["node"]
    assert info["resolves_to"] == [info["servers"]["dr"]["ipv4"]]
    # The backup's writes (the first test's, numbered from 1) are all there; of this client's,
    # every one before the restore is lost and none after it.
    assert site.sql(dr_node, "SELECT count(*) FROM records WHERE seq < 300000") == str(
        restore["backup_rows"]
    )
    first, last = int(tally["first_seq"]), int(tally["last_seq"])
    kept_from = int(
        site.sql(dr_node, f"SELECT min(seq) FROM records WHERE seq BETWEEN {first} AND {last}")  # noqa: S608
    )
    # A write in flight at the fault is retried onto the restore and kept, while one a
    # neighbouring thread had acknowledged just before is lost: at most one per thread.
    lost = missing_writes(site.sql, dr_node, tally)
    assert 0 < kept_from - first <= lost <= kept_from - first + threads_for(RATE), (lost, kept_from)
    # The evidence: the report's digests verify, and no longer once the report is changed.
    site.govcloud("dr", "report", str(drill["drill"]), "--verify")
    report = Path(drill["report"])
    original = report.read_bytes()
    report.write_bytes(original + b"<!-- edited -->")
    site.govcloud("dr", "report", str(drill["drill"]), "--verify", code=1)
    report.write_bytes(original)
    status = json.loads(
        site.govcloud(
            "dr", "status", "--county", str(site.county), "--project-dir", str(site.project),
            "--json",
        ).stdout
    )  # fmt: skip
    (row,) = [r for r in status["systems"] if r["system"] == GENERAL]
    assert row["last_drill"]["drill"] == drill["drill"], row
    assert (row["last_drill"]["kind"], row["last_drill"]["state"]) == ("failover", "dr_site")


def test_a_general_failback_restores_the_dr_server_onto_the_primary_losing_nothing(
    site: Site, tmp_path: Path
) -> None:
    load = Load(site.lab, GENERAL, CLIENT, 400_000, tmp_path / "load.json", rate=RATE)
    back = site.dr("failback", "--system", GENERAL)
    tally = load.finish()
    (system,) = back["systems"]
    assert system["met"] and system["lost_writes"] == 0 and system["state"] == "primary", system
    order = ["restored", "app_started", "name_moved", "validated", "returned"]
    assert [s for s in timeline(back, GENERAL) if s in order] == order, back["timeline"]
    info = site.lab.app(GENERAL)
    primary = info["servers"]["cloud"]["node"]
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    assert missing_writes(site.sql, primary, tally) == 0
    # Back under its backups: a fresh one of the primary, the DR server's cluster dropped.
    status = site.status(GENERAL)
    assert (status["serving"], status["state"]) == (primary, "backed-up"), status
    assert status["last_backup_at"] == system["validation"]["backup"]["at"]


def test_a_general_restore_test_leaves_production_untouched(site: Site, tmp_path: Path) -> None:
    load = Load(site.lab, GENERAL, CLIENT, 500_000, tmp_path / "load.json", rate=RATE)
    drill = site.dr("drill", "--system", GENERAL, "--kind", "test")
    tally = load.finish()
    (system,) = drill["systems"]
    assert system["met"] and system["lost_writes"] == 0 and system["state"] == "primary", system
    assert tally["failed_attempts"] == 0 and tally["outages"] == [], tally
    validation = system["validation"]
    assert validation["rows"] == validation["backup_rows"] > 0, validation
    assert system["rpo_s"] == validation["lag_s"] <= 3600  # the restored copy's age
    assert [s for s in timeline(drill, GENERAL) if s in ("restored", "validated")] == [
        "restored",
        "validated",
    ]
    info = site.lab.app(GENERAL)
    assert info["resolves_to"] == [info["servers"]["cloud"]["ipv4"]]
    assert missing_writes(site.sql, info["servers"]["cloud"]["node"], tally) == 0
