"""A real OpenStack control plane on this machine: the embedded default cloud.

Keystone (one, with unified limits) serves two regions: RegionOne for the primary site and
RegionTwo for the DR site, each with its own Placement, Neutron (ML2, no agents), Nova (fake
virt driver) and Cinder (fake volume driver); Glance is shared. Everything listens on
127.0.0.1 and keeps its state under one directory.
"""
