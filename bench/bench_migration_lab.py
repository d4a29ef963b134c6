"""Benchmarks for migration onto the cloud in the lab (issue 14). Needs root and the local cloud.

1. **Downtime, warm against cold**, for the same system (`--mb`, 1 GB by default, of records
   and bulk data) under a steady load of `--rate` writes/s from a department host: the client
   numbers its writes and reports the longest time without an acknowledgement (the outage) and
   what was never acknowledged; every acknowledged number must then be on the cloud server.
   The warm move (replicate, test, cutover) and, after a rollback, the cold move (stop, dump,
   restore) in the same run: the ratio is warm's outage over cold's. Goals: warm at most 5 s
   and at most 10 % of cold; 0 acknowledged writes lost.
2. **One wave of `--wave-systems` systems** (10 by default, `--wave-mb` each), start to
   finalize: `govcloud migrate run --wave 1` then `migrate finalize --wave 1`, the total and
   where it goes (each step's time summed over the systems), beside what it took to get there
   (deploying the stack, building the lab, merging the department's network).

Each part uses a small county of its own on the local cloud (its own code and physical
network), removed at the end with its lab.

Run: sudo .venv/bin/python bench/bench_migration_lab.py [--part downtime|wave|both]
     [--mb 1024] [--rate 200] [--wave-systems 10] [--wave-mb 64]
Results go to docs/benchmarks.md with the command and the machine's load at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The small county and the hand deployer's removal are test support the benchmarks share.
sys.path.insert(0, str(REPO / "tests"))

DOWNTIME_CODE = "519987"
WAVE_CODE = "519986"
OFFICE_HOST_PREFIX = "alpha-office-h"
CLIENT_SECONDS = 3600  # the client stops on its stop file long before this
# alpha's quota with room for the servers of the systems it moves (m1.small each).
ROOMY_ALPHA = (
    "  vcpu: 8\n  ram_gb: 16\n  storage_gb: 100\n",
    "  vcpu: 64\n  ram_gb: 128\n  storage_gb: 2000\n",
)


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


class Site:
    """A county on the local cloud and its lab, driven through the CLI as an operator would."""

    def __init__(self, root: Path, code: str, systems: list[str], lab: str) -> None:
        from small_county import write_county, write_project  # noqa: PLC0415

        self.root, self.code, self.lab_name = root, code, lab
        listed = "".join(
            f"  - code: {name}\n    name: 业务系统{name}\n    tier: general\n    data_gb: 2\n"
            "    max_downtime_min: 120\n    location: legacy\n"
            for name in systems
        )
        self.county = Path(
            write_county(
                root / "county",
                {
                    "county.yaml": ('code: "519901"', f'code: "{code}"'),
                    "departments/alpha.yaml": (
                        "    depends_on: [beta/db]\n",
                        "    depends_on: [beta/db]\n" + listed,
                    ),
                },
            )
        )
        alpha = self.county / "departments" / "alpha.yaml"
        alpha.write_text(alpha.read_text().replace(*ROOMY_ALPHA))
        beta = self.county / "departments" / "beta.yaml"
        beta.write_text(beta.read_text().replace("storage_gb: 50", "storage_gb: 300"))
        self.project = write_project(root / "project", code)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
        self.env |= {
            "GOVCLOUD_STATE_DIR": str(root / "state"),
            "GOVCLOUD_LOCALCLOUD_DIR": os.environ.get(
                "GOVCLOUD_LOCALCLOUD_DIR", str(REPO / ".govcloud" / "localcloud")
            ),
            "GOVCLOUD_LAB_DIR": str(root / "lab"),
            "GOVCLOUD_ACTOR": "bench:migrate",
        }

    def govcloud(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603  (our own command)
            [sys.executable, "-m", "cli", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode not in ok:
            raise SystemExit(
                f"govcloud {' '.join(args)}: exit {result.returncode}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def timed(self, *args: str) -> float:
        started = time.perf_counter()
        self.govcloud(*args)
        return time.perf_counter() - started

    def migrate(self, *args: str) -> dict[str, Any]:
        result = self.govcloud("migrate", *args, "--lab", self.lab_name, "--json", ok=(0, 1))
        return dict(json.loads(result.stdout))

    def prepare(self, workloads: list[str], mb: int) -> dict[str, float]:
        """Plan, deploy, build the lab with the workloads, merge the department: their times."""
        county = ("--county", str(self.county))
        times = {}
        self.govcloud("db", "upgrade")
        times["plan --save"] = self.timed("migrate", "plan", *county, "--save")
        times["deploy primary"] = self.timed(
            "localcloud",
            "deploy",
            "--stack",
            "primary",
            *county,
            "--project-dir",
            str(self.project),
        )
        times["lab up"] = self.timed(
            "lab", "up", "--departments", "alpha", "--workloads", ",".join(workloads),
            "--workload-mb", str(mb), "--name", self.lab_name, "--registry", *county,
        )  # fmt: skip
        times["network merge"] = self.timed(
            "lab",
            "run",
            "--name",
            self.lab_name,
            "--",
            "ansible-playbook",
            "playbooks/network-merge.yml",
        )
        return times

    def lab(self) -> Any:
        from lab.netlab.manager import NetLab  # noqa: PLC0415

        return NetLab(self.root / "lab", self.lab_name)

    def tear_down(self) -> None:
        from handdeploy import remove_county  # noqa: PLC0415

        from lab.localcloud.layout import CLOUD_NAME, REGIONS  # noqa: PLC0415

        lab = self.lab()
        if lab.ours():
            lab.down()
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(
            Path(self.env["GOVCLOUD_LOCALCLOUD_DIR"]) / "clouds.yaml"
        )
        remove_county(CLOUD_NAME, [r.name for r in REGIONS], self.code)


class Load:
    """The numbering client on a department host."""

    def __init__(self, site: Site, system: str, rate: int, start: int, out: Path) -> None:
        lab = site.lab()
        name = lab.app(system)["name"]
        host = next(n for n in lab.state()["nodes"] if n.startswith(OFFICE_HOST_PREFIX))
        self.out, self.stop = out, out.with_suffix(".stop")
        self.process = subprocess.Popen(  # noqa: S603  (our own command)
            [sys.executable, "-m", "cli", "lab", "exec", host, "--name", site.lab_name, "--",
             "python", "-m", "lab.workload.client", f"http://{name}:443", "--rate", str(rate),
             "--seconds", str(CLIENT_SECONDS), "--start", str(start), "--stop-file", str(self.stop),
             "--out", str(out)],
            cwd=REPO, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(5)  # writes flowing at the rate before the move begins

    def finish(self) -> dict[str, Any]:
        time.sleep(5)  # writes flowing after the move
        self.stop.touch()
        _, stderr = self.process.communicate(timeout=300)
        if self.process.returncode != 0:
            raise SystemExit(f"the client failed: {stderr}")
        return dict(json.loads(self.out.read_text()))


def missing(site: Site, node: str, tally: dict[str, Any]) -> int:
    """Acknowledged writes the server lacks (numbers never acknowledged may or may not be in)."""
    unacknowledged = ",".join(str(int(n)) for n in tally["unacknowledged"]) or "NULL"
    first, last = int(tally["first_seq"]), int(tally["last_seq"])
    query = (
        f"SELECT count(*) FROM generate_series({first}, {last}) s "  # noqa: S608  (integers)
        f"WHERE s NOT IN (SELECT seq FROM records) AND s NOT IN ({unacknowledged})"
    )
    result = site.govcloud(
        "lab", "exec", node, "--name", site.lab_name, "--",
        "runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-d", "records", "-c", query,
    )  # fmt: skip
    return int(result.stdout.strip())


def downtime(root: Path, mb: int, rate: int) -> dict[str, Any]:
    system = "alpha/big"
    site = Site(root / "downtime", DOWNTIME_CODE, ["big"], "migb")
    try:
        prepared = site.prepare([system], mb)
        cloud = site.lab().app(system)["servers"]["cloud"]["node"]
        rows: dict[str, Any] = {"prepare_s": prepared}
        for mode, args, start in (("warm", (), 1), ("cold", ("--cold",), 10_000_000)):
            print(f"· {mode} move under {rate} writes/s (load {load_average()})", file=sys.stderr)
            load = Load(site, system, rate, start, root / f"{mode}.json")
            moved = site.migrate("run", system, *args)
            tally = load.finish()
            if moved.get("error"):
                raise SystemExit(f"{mode}: {moved['error']}")
            rows[mode] = {
                "outage_s": tally["outage_s"],
                "outages": tally["outages"],
                "runner_downtime_s": moved["downtime_s"],
                "acknowledged": tally["acknowledged"],
                "lost": missing(site, cloud, tally),
                "unacknowledged": len(tally["unacknowledged"]),
                "steps": moved["steps"],
                "rows": [moved["rows_source"], moved["rows_target"]],
            }
            print(json.dumps({mode: rows[mode]}, ensure_ascii=False), file=sys.stderr)
            back = site.migrate("rollback", system)
            if back.get("error"):
                raise SystemExit(f"rollback after {mode}: {back['error']}")
            rows[mode]["rollback_s"] = round(sum(s["seconds"] for s in back["steps"]), 1)
        rows["ratio"] = rows["warm"]["outage_s"] / rows["cold"]["outage_s"]
        return rows
    finally:
        site.tear_down()


def wave(root: Path, count: int, mb: int) -> dict[str, Any]:
    names = [f"s{n:02d}" for n in range(1, count + 1)]
    systems = [f"alpha/{name}" for name in names]
    site = Site(root / "wave", WAVE_CODE, names, "migw")
    try:
        site.govcloud("db", "upgrade")
        planned = json.loads(
            site.govcloud("migrate", "plan", "--county", str(site.county), "--json").stdout
        )
        first = next(w for w in planned["waves"] if w["wave"] == 1)
        if sorted(first["systems"]) != systems:
            raise SystemExit(f"wave 1 holds {first['systems']}, not the {count} systems")
        prepared = site.prepare(systems, mb)
        county = ("--county", str(site.county))
        print(f"· wave 1: {count} systems (load {load_average()})", file=sys.stderr)
        started = time.perf_counter()
        moved = site.migrate("run", "--wave", "1", *county)
        moved_s = time.perf_counter() - started
        finalized = site.migrate("finalize", "--wave", "1", *county)
        total = time.perf_counter() - started
        if not (moved["ok"] and finalized["ok"]):
            raise SystemExit(f"the wave failed: {moved} {finalized}")
        per_step: dict[str, float] = defaultdict(float)
        for outcome in moved["systems"] + finalized["systems"]:
            for step in outcome["steps"]:
                per_step[step["step"]] += step["seconds"]
        downtimes = [o["downtime_s"] for o in moved["systems"]]
        return {
            "prepare_s": prepared,
            "run_s": moved_s,
            "total_s": total,
            "per_step_s": dict(per_step),
            "downtime_s": {"min": min(downtimes), "max": max(downtimes)},
            "systems": count,
        }
    finally:
        site.tear_down()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("downtime", "wave", "both"), default="both")
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--wave-systems", type=int, default=10)
    parser.add_argument("--wave-mb", type=int, default=64)
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root: sudo .venv/bin/python bench/bench_migration_lab.py")
    from lab.localcloud.manager import LocalCloud  # noqa: PLC0415

    cloud = LocalCloud(
        Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", REPO / ".govcloud" / "localcloud"))
    )
    was_running = all(row.healthy for row in cloud.status())
    cloud.up()
    results: dict[str, Any] = {"load_before": load_average()}
    # The work directory (logs of every playbook run) is removed only when the run succeeds.
    root = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    try:
        if options.part in ("downtime", "both"):
            results["downtime"] = downtime(root, options.mb, options.rate)
            # Kept on standard error too: a failure in the next part loses nothing.
            print(json.dumps(results["downtime"], ensure_ascii=False), file=sys.stderr)
        if options.part in ("wave", "both"):
            results["wave"] = wave(root, options.wave_systems, options.wave_mb)
    except BaseException:
        print(f"the run failed: its logs are kept in {root}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(root)
    finally:
        if not was_running:
            cloud.down()
    results["load_after"] = load_average()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
