"""Migration onto the cloud (迁移上云): inventory, dependency graph, waves, runbooks, lifecycle."""
