"""Disaster recovery (灾备): tier to replication policy, drills, measurements, evidence."""
