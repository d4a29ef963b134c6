"""The lab workload's application and load client, against a real PostgreSQL.

The lab runs them inside namespaces (tests/integration/test_lab_workload.py); here they run on
loopback, which is enough to pin their contract: what is acknowledged is committed, what the
database refuses is not acknowledged, and the client measures an outage it really saw.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ports import free_port
from sqlalchemy.engine import make_url

from lab.workload import client, schema

SERVICE = "zhifa.cgj.svc.test"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def database(postgres_url: str) -> str:
    dsn = _libpq(postgres_url)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(schema.CREATE)
        connection.execute(schema.SEED_BULK, schema.seed_parameters(1))
    return dsn


@pytest.fixture
def app(database: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    config = tmp_path / "app.json"
    config.write_text(
        json.dumps({"ports": [port], "systems": {"cgj/zhifa": {"name": SERVICE, "dsn": database}}})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "lab.workload.app", str(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    try:
        yield {"port": port, "dsn": database}
    finally:
        process.terminate()
        process.wait(timeout=10)


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    payload = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    connection.request(method, path, payload, {"Host": f"{SERVICE}:443"})
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def set_read_only(dsn: str, read_only: bool) -> None:
    """What cutover does to the source: refuse writes, and end the sessions that could write."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        name = connection.info.dbname
        connection.execute("SET default_transaction_read_only = off")
        value = "on" if read_only else "off"
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def test_a_write_is_acknowledged_once_committed_and_counted(app: dict[str, Any]) -> None:
    port = app["port"]
    assert call(port, "POST", "/records", {"seq": 7}) == (201, {"seq": 7, "system": "cgj/zhifa"})
    assert call(port, "POST", "/records", {"seq": 7})[0] == 200  # a retry is not a second row
    assert call(port, "POST", "/records", {"seq": 9})[0] == 201
    assert call(port, "GET", "/records/stats") == (200, {"count": 2, "max_seq": 9})
    assert call(port, "GET", "/records/stats?from=8&to=100") == (200, {"count": 1, "max_seq": 9})
    assert call(port, "GET", "/health")[1] == {
        "system": "cgj/zhifa",
        "role": "primary",
        "read_only": False,
    }
    with psycopg.connect(app["dsn"]) as connection:
        assert connection.execute("SELECT seq FROM records ORDER BY seq").fetchall() == [(7,), (9,)]


@pytest.mark.parametrize(
    "body",
    [b"", b"{", {"seq": -1}, {"seq": "1"}, {"seq": 1.5}, {"seq": True}, {"n": 1}, {"seq": 2**63}],
)
def test_bad_writes_are_refused_and_nothing_is_stored(app: dict[str, Any], body: Any) -> None:
    status, answer = call(app["port"], "POST", "/records", body)
    assert status == 400, answer
    assert call(app["port"], "GET", "/records/stats")[1]["count"] == 0


def test_bad_ranges_and_routes_are_refused(app: dict[str, Any]) -> None:
    assert call(app["port"], "GET", "/records/stats?from=x")[0] == 400
    assert call(app["port"], "GET", "/records/stats?to=-3")[0] == 400
    assert call(app["port"], "GET", "/nothing")[0] == 404
    assert call(app["port"], "POST", "/records", b"x" * 5000)[0] == 413


def test_a_read_only_database_gets_no_acknowledged_write(app: dict[str, Any]) -> None:
    set_read_only(app["dsn"], True)
    status, answer = call(app["port"], "POST", "/records", {"seq": 1})
    assert status == 503, answer
    assert "read-only" in answer["error"]
    set_read_only(app["dsn"], False)
    assert call(app["port"], "POST", "/records", {"seq": 1})[0] == 201


def test_the_client_measures_the_outage_it_saw_and_loses_nothing(app: dict[str, Any]) -> None:
    port = app["port"]

    def outage() -> None:
        time.sleep(1.0)
        set_read_only(app["dsn"], True)
        time.sleep(1.5)
        set_read_only(app["dsn"], False)

    interruption = threading.Thread(target=outage)
    interruption.start()
    result = client.run(f"http://127.0.0.1:{port}", rate=100, seconds=4, threads=4)
    interruption.join()
    assert result["issued"] > 150  # threads retrying through the outage issue nothing new
    assert result["acknowledged"] == result["issued"]
    assert result["unacknowledged"] == []
    assert result["failed_attempts"] > 0
    assert 1.3 <= result["outage_s"] <= 3.0, result
    assert 0.8 <= result["outage_began_s"] <= 1.6, result
    with psycopg.connect(app["dsn"]) as connection:
        missing = connection.execute(
            "SELECT count(*) FROM generate_series(%s::bigint, %s::bigint) AS s "
            "WHERE s NOT IN (SELECT seq FROM records)",
            (result["first_seq"], result["last_seq"]),
        ).fetchone()
    assert missing == (0,)
