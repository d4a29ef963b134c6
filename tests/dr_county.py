"""The DR lab's county: the small county with beta's three systems on the cloud, one per tier,
and beta's quota raised for their servers and the DR site's standbys. Shared by the DR lab
tests and the DR benchmark (bench/bench_dr_lab.py)."""

from __future__ import annotations

from pathlib import Path

from small_county import write_county

DEPARTMENT = "beta"
CORE = "beta/ledger"  # streaming-sync
IMPORTANT = "beta/notes"  # streaming-async
GENERAL = "beta/files"  # backup
BY_TIER = {"core": CORE, "important": IMPORTANT, "general": GENERAL}
# A host of alpha's LAN: beta stays out of the lab (its LAN is its cloud network's prefix), so
# alpha's hosts are the systems' clients.
CLIENT = "alpha-office-h1"
# beta's systems, all on the cloud, one per tier.
SYSTEMS = """\
  - code: ledger
    name: 财务账本
    tier: core
    data_gb: 1
    max_downtime_min: 30
    location: cloud
  - code: notes
    name: 办公记录
    tier: important
    data_gb: 1
    max_downtime_min: 60
    location: cloud
  - code: files
    name: 档案文件
    tier: general
    data_gb: 1
    max_downtime_min: 600
    location: cloud
"""
# beta's quota with room for three cloud servers and their DR standbys and volumes.
ROOMY_BETA = (
    ("vcpu: 4", "vcpu: 16"),
    ("ram_gb: 8", "ram_gb: 32"),
    ("storage_gb: 50", "storage_gb: 400"),
)


def write_dr_county(root: Path, code: str) -> Path:
    """Write the county with county code `code` (each user of the local cloud has its own)."""
    county = write_county(
        root,
        {
            "county.yaml": ('code: "519901"', f'code: "{code}"'),
            "departments/beta.yaml": ("    location: legacy\n", "    location: legacy\n" + SYSTEMS),
        },
    )
    beta = county / "departments" / "beta.yaml"
    text = beta.read_text()
    for old, new in ROOMY_BETA:
        text = text.replace(old, new, 1)
    beta.write_text(text)
    return Path(county)
