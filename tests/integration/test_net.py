"""`govcloud net` against real registries, FRR's own configuration check, and concurrency."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import threading
from pathlib import Path

import pytest
from clirunner import REPO, govcloud
from ruamel.yaml import YAML
from small_county import write_county
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desired import network_plan
from govcloud.loader import load_county
from govcloud.registry import audit_log, db
from govcloud.registry.tables import IpamAllocation


def rows(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(IpamAllocation)).scalar_one()


def audit_entries(engine: Engine) -> int:
    with Session(engine) as session:
        return audit_log.count(session)


@pytest.fixture
def env(registry_url: str, tmp_path: Path) -> dict[str, str]:
    write_county(tmp_path / "county")
    environment = {"GOVCLOUD_DATABASE_URL": registry_url, "GOVCLOUD_ACTOR": "net:li"}
    assert govcloud("db", "upgrade", cwd=tmp_path, env=environment).returncode == 0
    return environment


def plan_json(tmp_path: Path, env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = govcloud("net", "plan", "--json", *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_plan_is_persisted_once_and_then_stable(env: dict[str, str], tmp_path: Path) -> None:
    first = plan_json(tmp_path, env)
    assert {row["status"] for row in first} == {"added"}
    assert len(first) == 27  # alpha's web runs on the cloud: its DR network too
    nat = next(row for row in first if row["kind"] == "nat")
    assert (nat["department"], nat["prefix"], nat["inside"]) == (
        "beta",
        "198.18.3.0/24",
        "192.168.1.0/24",
    )
    county_wide = next(row for row in first if row["network"] == "infrastructure")
    assert county_wide["department"] is None
    again = plan_json(tmp_path, env)
    assert {row["status"] for row in again} == {"kept"}
    assert [r["prefix"] for r in again] == [r["prefix"] for r in first]

    engine = db.make_engine(env["GOVCLOUD_DATABASE_URL"])
    try:
        assert rows(engine) == 27
        with Session(engine) as session:
            entries = audit_log.latest(session, limit=10, action="ipam.allocate")
            assert audit_log.verify(session).ok
        assert sorted(e.object for e in entries) == [
            "county/519901",
            "department/alpha",
            "department/beta",
        ]
    finally:
        engine.dispose()


def test_dry_run_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    engine = db.make_engine(env["GOVCLOUD_DATABASE_URL"])
    try:
        before = audit_entries(engine)
        result = govcloud("net", "plan", "--dry-run", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "would add 27, kept 0" in result.stdout
        assert "dry run: nothing was written" in result.stdout
        assert rows(engine) == 0
        assert audit_entries(engine) == before
    finally:
        engine.dispose()


def test_new_department_gets_only_its_own_allocations(env: dict[str, str], tmp_path: Path) -> None:
    first = {
        (r["department"], r["network"], r["family"], r["kind"]): r["prefix"]
        for r in plan_json(tmp_path, env)
    }
    gamma = (tmp_path / "county" / "departments" / "alpha.yaml").read_text()
    gamma = gamma.replace("code: alpha", "code: gamma").replace("[beta/db]", "[]")
    (tmp_path / "county" / "departments" / "gamma.yaml").write_text(gamma)
    second = plan_json(tmp_path, env)
    added = [r for r in second if r["status"] == "added"]
    assert {r["department"] for r in added} == {"gamma"}
    kept = {
        (r["department"], r["network"], r["family"], r["kind"]): r["prefix"]
        for r in second
        if r["status"] == "kept"
    }
    assert kept == first


def test_prune_releases_orphans_through_the_audit_log(env: dict[str, str], tmp_path: Path) -> None:
    plan_json(tmp_path, env)
    beta = tmp_path / "county" / "departments" / "beta.yaml"
    text_before = beta.read_text()
    start = text_before.index("legacy_networks:")
    end = text_before.index("systems:")
    beta.write_text(text_before[:start] + "legacy_networks: []\n" + text_before[end:])
    orphaned = [r for r in plan_json(tmp_path, env) if r["status"] == "orphaned"]
    assert {(r["network"], r["kind"]) for r in orphaned} == {
        ("office", "nat"),
        ("office", "subnet"),
    }
    released = [r for r in plan_json(tmp_path, env, "--prune") if r["status"] == "released"]
    assert len(released) == 2
    assert [r for r in plan_json(tmp_path, env) if r["status"] == "orphaned"] == []
    log = json.loads(
        govcloud("audit", "log", "--json", "--action", "ipam.release", cwd=tmp_path, env=env).stdout
    )
    assert [(e["object"], len(e["before"])) for e in log] == [("department/beta", 2)]


def test_exhausted_pool_is_an_error_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    county_file = tmp_path / "county" / "county.yaml"
    county_file.write_text(
        county_file.read_text().replace(
            "    - 198.18.0.0/16\n    - 198.19.0.0/18\n", "    - 198.18.0.0/23\n"
        )
    )
    engine = db.make_engine(env["GOVCLOUD_DATABASE_URL"])
    try:
        before = audit_entries(engine)
        result = govcloud("net", "plan", cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert result.stderr.startswith("error: the IPv4 pools are too small")
        assert "add at least a /22 to extranet.ipv4_pools" in result.stderr
        assert rows(engine) == 0
        assert audit_entries(engine) == before
    finally:
        engine.dispose()


def test_commands_that_need_a_plan_say_so(env: dict[str, str], tmp_path: Path) -> None:
    result = govcloud("net", "usage", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "holds no network plan yet; run `govcloud net plan`" in result.stderr


def test_usage_json_and_chart(env: dict[str, str], tmp_path: Path) -> None:
    plan_json(tmp_path, env)
    chart = tmp_path / "usage.html"
    result = govcloud("net", "usage", "--json", "--chart", str(chart), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    levels = {(r["level"], r["name"]): r for r in json.loads(result.stdout)}
    pools = {r["prefix"]: r for r in json.loads(result.stdout) if r["level"] == "pool"}
    pool = pools["198.18.0.0/16"]
    # /23 + /24 + /24 + /25, and alpha's DR /25, carved from 198.18.0.0/16.
    assert (pool["prefix"], pool["used"], pool["total"]) == ("198.18.0.0/16", 1280, 65536)
    alpha = levels[("department", "alpha")]
    assert (alpha["unit"], alpha["used"], alpha["free"]) == ("/64s", 1, 65535)
    assert alpha["free_blocks"]["/52"] == 15
    departments = levels[("block", "departments")]
    assert departments["free_blocks"]["/48"] == 4095
    html = chart.read_text()
    assert "<svg" in html and "alpha" in html and "198.18.0.0/16" in html


def test_export_formats(env: dict[str, str], tmp_path: Path) -> None:
    planned = plan_json(tmp_path, env)
    as_csv = govcloud("net", "export", "--format", "csv", cwd=tmp_path, env=env).stdout
    parsed = list(csv.DictReader(io.StringIO(as_csv)))
    assert len(parsed) == len(planned)
    assert {r["prefix"] for r in parsed} == {r["prefix"] for r in planned}
    as_yaml = govcloud("net", "export", "--format", "yaml", cwd=tmp_path, env=env).stdout
    document = YAML(typ="safe", pure=True).load(as_yaml)
    assert len(document["allocations"]) == len(planned)
    netbox = govcloud("net", "export", "--format", "netbox", cwd=tmp_path, env=env).stdout
    netbox_rows = list(csv.DictReader(io.StringIO(netbox)))
    assert list(netbox_rows[0]) == [
        "prefix",
        "vrf",
        "tenant",
        "status",
        "role",
        "is_pool",
        "description",
    ]
    nat = next(r for r in netbox_rows if r["role"] == "nat")
    assert (nat["tenant"], nat["status"], nat["vrf"]) == ("乙镇", "reserved", "extranet")
    assert "1:1 NAT of legacy 192.168.1.0/24" in nat["description"]
    out_file = tmp_path / "exports" / "plan.csv"
    written = govcloud(
        "net", "export", "--format", "csv", "-o", str(out_file), cwd=tmp_path, env=env
    )
    assert written.returncode == 0 and out_file.read_text() == as_csv


def test_rendered_frr_configs_pass_frrs_own_check(tmp_path: Path) -> None:
    # The whole sample county: 61 routers, 11 NAT'd networks.
    env = {"GOVCLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}"}
    county = ["--county", str(REPO / "county")]
    assert govcloud("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert govcloud("net", "plan", *county, cwd=tmp_path, env=env).returncode == 0
    out = tmp_path / "frr"
    result = govcloud(
        "net", "render", "--vendor", "frr", "--out", str(out), *county, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    configs = sorted(out.glob("*.conf"))
    assert len(configs) == 61
    for config in configs:
        check = subprocess.run(
            ["vtysh", "-C", "-f", str(config)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, f"{config.name}: {check.stdout}{check.stderr}"
    nat_files = sorted(out.glob("*.nft"))
    sample = load_county(REPO / "county")
    kept_behind_nat = {
        f"{d.code}-rtr"
        for d in sample.departments
        if any(not n.renumber for n in d.legacy_networks)
    }
    assert len(kept_behind_nat) == 9
    assert {f.stem for f in nat_files} == kept_behind_nat
    for nat_file in nat_files:
        check = subprocess.run(
            ["nft", "-c", "-f", str(nat_file)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, f"{nat_file.name}: {check.stderr}"


def test_frr_check_rejects_a_broken_config(tmp_path: Path) -> None:
    # The check itself must be able to fail, or the test above proves nothing.
    broken = tmp_path / "broken.conf"
    broken.write_text("interface up0\n ip adress 198.18.0.1/31\n")
    check = subprocess.run(
        ["vtysh", "-C", "-f", str(broken)], capture_output=True, text=True, check=False
    )
    assert check.returncode != 0


def test_overlaps_json_for_the_sample_county(tmp_path: Path) -> None:
    result = govcloud("net", "overlaps", "--json", "--county", str(REPO / "county"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    assert isinstance(groups, list)
    office = next(g for g in groups if g["scope"] == "vrf" and "192.168.1.0/24" in g["prefixes"])
    assert {"gaj", "zfb", "cgz"} <= set(office["owners"]) or {"xwb", "zfb"} <= set(office["owners"])
    assert "duplicate" in office["relations"]
    across = [g for g in groups if g["scope"] == "across"]
    assert any(set(g["prefixes"]) == {"172.16.0.0/22", "172.16.1.0/24"} for g in across)
    strict = govcloud("net", "overlaps", "--strict", "--county", str(REPO / "county"), cwd=tmp_path)
    assert strict.returncode == 1


def test_overlaps_csv_with_errors_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "prefixes.csv"
    source.write_text("edu,,192.168.1.0/24\ntax,,192.168.1.5/24\n")
    result = govcloud("net", "overlaps", str(source), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"{source}:2:6: prefix: '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"
    )


# -- concurrency and database guarantees --------------------------------------------------------
def test_concurrent_planners_never_hand_out_a_prefix_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(postgres_url)
    db.upgrade(engine, actor="test")
    base = write_county(tmp_path / "county")
    counties = []
    for number in range(6):
        folder = tmp_path / f"county{number}"
        write_county(folder)
        extra = (base / "departments" / "alpha.yaml").read_text()
        code = f"extra{number}"
        extra = extra.replace("code: alpha", f"code: {code}").replace("[beta/db]", "[]")
        (folder / "departments" / f"{code}.yaml").write_text(extra)
        counties.append(load_county(folder))
    errors: list[BaseException] = []
    start = threading.Barrier(len(counties))

    def planner(county: object) -> None:
        try:
            start.wait()
            with Session(engine) as session, session.begin():
                network_plan.plan_and_apply(session, county, actor="test")  # type: ignore[arg-type]
        except BaseException as error:  # re-raised below, in the test thread
            errors.append(error)

    threads = [threading.Thread(target=planner, args=(c,)) for c in counties]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with Session(engine) as session:
            stored = network_plan.load(session)
            assert audit_log.verify(session).ok
        prefixes = [a.prefix for a in stored]
        assert len(prefixes) == len(set(prefixes))
        blocks = [a for a in stored if a.network == "department"]
        assert sorted(a.department for a in blocks) == sorted(
            ["alpha", "beta", *(f"extra{n}" for n in range(6))]
        )
    finally:
        engine.dispose()


def test_database_refuses_duplicate_prefixes(registry: Engine) -> None:
    row = {
        "department": "alpha",
        "network": "office",
        "family": 4,
        "kind": "extranet",
        "prefix": "198.18.4.0/25",
        "parent": "198.18.0.0/16",
    }
    with Session(registry) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO ipam_allocation (department, network, family, kind, prefix, parent, "
                "created_at) VALUES (:department, :network, :family, :kind, :prefix, :parent, "
                "CURRENT_TIMESTAMP)"
            ),
            row,
        )
    with pytest.raises(IntegrityError), Session(registry) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO ipam_allocation (department, network, family, kind, prefix, parent, "
                "created_at) VALUES ('beta', 'office', 4, 'extranet', :prefix, :parent, "
                "CURRENT_TIMESTAMP)"
            ),
            row,
        )


def test_postgres_refuses_overlapping_siblings(postgres_url: str) -> None:
    engine = db.make_engine(postgres_url)
    db.upgrade(engine, actor="test")
    insert = text(
        "INSERT INTO ipam_allocation (department, network, family, kind, prefix, parent, "
        "created_at) VALUES (:department, 'office', 4, 'extranet', :prefix, '198.18.0.0/16', "
        "CURRENT_TIMESTAMP)"
    )
    try:
        with Session(engine) as session, session.begin():
            session.execute(insert, {"department": "alpha", "prefix": "198.18.4.0/24"})
        with (
            pytest.raises(IntegrityError, match="ex_ipam_sibling_overlap"),
            Session(engine) as session,
            session.begin(),
        ):
            session.execute(insert, {"department": "beta", "prefix": "198.18.4.128/25"})
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "case",
    [
        ("county.yaml", "2001:db8::/32", "2001:db8::/30", "is not on a nibble boundary"),
        ("county.yaml", "department: 48", "department: 46", "is not on a nibble boundary"),
        ("county.yaml", "198.19.0.0/18", "198.18.128.0/17", "overlaps pool 198.18.0.0/16"),
        ("departments/alpha.yaml", "192.168.1.0/24", "192.168.1.9/24", "host bits set"),
    ],
)
def test_bad_county_data_stops_the_plan_before_anything_is_written(
    env: dict[str, str], tmp_path: Path, case: tuple[str, str, str, str]
) -> None:
    file, old, new, message = case
    path = tmp_path / "county" / file
    path.write_text(path.read_text().replace(old, new))
    engine = db.make_engine(env["GOVCLOUD_DATABASE_URL"])
    try:
        before = audit_entries(engine)
        result = govcloud("net", "plan", cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert message in result.stderr
        assert result.stderr.startswith(f"county/{file}:")
        assert rows(engine) == 0
        assert audit_entries(engine) == before
    finally:
        engine.dispose()
