"""Network planning: overlaps, the IPv4 merge plan, the IPv6 plan, usage, rendered configs."""
