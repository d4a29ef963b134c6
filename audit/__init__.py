"""Audit (审计): drift of the cloud, the network and the hosts; the MLPS level-3 catalogue."""
