"""Ledger drift: what the portal's approved requests hold (the ledger's `used` amounts) against
what each department's project holds in the live cloud, per resource, in the primary region.

The figures are the ones the portal shows each department (`cloud.usage`): servers by flavor,
volumes by size, networks by number, projects found by the stacks' tags. A resource where the
cloud holds more than the ledger granted was built outside the portal, or a decommission was
not carried out; less, granted but not built, or removed without a decommission. A figure the
cloud cannot tell (floating IPs, a flavor nobody knows) is listed as unchecked, never as clean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final

from audit.findings import DriftReport, Finding, FindingKind, Severity, finding_id
from cloud import usage
from cloud.inventory import Snapshot
from govcloud.conventions import project_name
from govcloud.quota import ZERO, Amounts

ID_PREFIX: Final = "ledger"
PART: Final = "ledger"
# Quotas are access control over resources (our mapping, as for cloud drift's quotas).
CONTROL: Final = "8.1.4.2"
# Where each live figure comes from: the evidence names the API call.
SOURCE: Final = {
    "vcpu": "GET compute/v2.1/servers/detail?all_tenants=1 (by flavor)",
    "ram_gb": "GET compute/v2.1/servers/detail?all_tenants=1 (by flavor)",
    "storage_gb": "GET volumev3/volumes/detail?all_tenants=1",
    "networks": "GET network/v2.0/networks",
    "floating_ips": "",
}
UNKNOWN_REASON: Final = {
    "floating_ips": "the live-state reader does not read floating IPs",
    "vcpu": "a server of a flavor the county does not define: its size is unknown",
    "ram_gb": "a server of a flavor the county does not define: its size is unknown",
}


def ledger_drift(
    used: Mapping[str, Amounts],
    snapshot: Snapshot,
    *,
    county_code: str,
    departments: Sequence[str],
    region: str,
) -> DriftReport:
    """One finding per department and resource where the ledger and the live cloud differ."""
    seen = usage.observed_usage(snapshot, county_code, departments, [region])
    read_at = dt.datetime.fromtimestamp(snapshot.taken_at, dt.UTC).isoformat()
    report = DriftReport()
    agreeing = 0
    for code in departments:
        resource = f"ledger {region}/{project_name(county_code, code)}"
        differences = usage.compare(used.get(code, ZERO), seen.get(code))
        agreeing += not usage.flagged(differences)
        for difference in differences:
            if difference.status == "unknown":
                report.unchecked.append(
                    {
                        "part": PART,
                        "resource": resource,
                        "attribute": difference.resource,
                        "reason": UNKNOWN_REASON.get(difference.resource, "not read"),
                    }
                )
            elif difference.status != "ok":
                over = difference.status == "over"
                report.findings.append(
                    Finding(
                        id=finding_id(ID_PREFIX, code, difference.resource),
                        # More than was approved is capacity nobody approved.
                        severity=Severity.HIGH if over else Severity.MEDIUM,
                        kind=FindingKind.CHANGED,
                        resource=resource,
                        attribute=difference.resource,
                        desired=difference.ledger,
                        live=difference.observed,
                        evidence={
                            "source": SOURCE[difference.resource],
                            "ledger": f"portal_ledger.used_{difference.resource}",
                            "cloud": snapshot.cloud,
                            "region": region,
                            "read_at": read_at,
                            "department": code,
                            "status": difference.status,
                        },
                        control=CONTROL,
                    )
                )
    report.coverage = {
        PART: {
            "managed": agreeing,
            "all": len(departments),
            "ratio": agreeing / len(departments) if departments else 1.0,
        }
    }
    return report
