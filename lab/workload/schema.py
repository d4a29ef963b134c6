"""The records a lab system holds, and the queries that compare a source with its copy.

`records` takes the clients' numbered writes; `bulk` is the system's other data, sized to
what the system holds (its `data_gb`, scaled for the lab). Both sides of a migration or a
replica are compared with the same two queries: row counts and an order-independent checksum.
"""

from __future__ import annotations

from typing import Final

DATABASE: Final = "records"
APP_ROLE: Final = "records_app"  # INSERT and SELECT on `records`, SELECT on `bulk`, nothing else
REPLICATION_ROLE: Final = "replicator"
BULK_ROW_BYTES: Final = 1000  # one `bulk` row's payload; a MB is about a thousand rows

CREATE: Final = f"""
CREATE TABLE IF NOT EXISTS records (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bulk (
    id bigint PRIMARY KEY,
    payload text NOT NULL
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN;
    END IF;
END $$;
GRANT SELECT, INSERT ON records TO {APP_ROLE};
GRANT SELECT ON bulk TO {APP_ROLE};
"""

# Rows of about BULK_ROW_BYTES each, numbered from 1; re-running adds only the missing ones.
SEED_BULK: Final = (
    "INSERT INTO bulk (id, payload) "
    "SELECT n, rpad(md5(n::text), %(row_bytes)s, md5((n * 7)::text)) "
    "FROM generate_series(1, %(rows)s) AS n ON CONFLICT (id) DO NOTHING"
)

# What verification compares, source against target, with a query each returning one row:
# the writes (count, highest, a checksum that does not depend on row order), cheap enough to
# run while writes are stopped; and the rest of the data, compared once the copy has taken over
# (the app never changes it, so the frozen source still holds the same).
RECORDS_STATS: Final = (
    "SELECT count(*), coalesce(max(seq), 0), "
    "coalesce(sum(hashtextextended(seq::text, 0)), 0)::text FROM records"
)
DATA_STATS: Final = (
    "SELECT count(*), coalesce(sum(hashtextextended(payload, id)), 0)::text FROM bulk"
)
RECORDS_FIELDS: Final = ("records", "max_seq", "records_checksum")
DATA_FIELDS: Final = ("bulk", "bulk_checksum")


def bulk_rows(data_mb: int) -> int:
    """How many `bulk` rows hold about this many megabytes."""
    return max(0, data_mb) * 1024 * 1024 // BULK_ROW_BYTES


def seed_parameters(data_mb: int) -> dict[str, int]:
    """The parameters of SEED_BULK for about this many megabytes."""
    return {"rows": bulk_rows(data_mb), "row_bytes": BULK_ROW_BYTES}
