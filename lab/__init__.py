"""Local environments: the local OpenStack cloud and the network-namespace lab."""
