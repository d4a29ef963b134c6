"""The lab workload: a department system as a real service with real data.

Each system that migration or DR moves is, in the lab, a PostgreSQL cluster of its own holding
its records and a small HTTP application on the service port (`app`), reached by its service
name. `client` puts a numbered write load on it and counts what was acknowledged, so a
migration's or a drill's outage and lost writes are measured, not assumed.
"""
