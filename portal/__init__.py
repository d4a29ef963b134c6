"""The resource-request portal (资源申请门户): departments apply, approvers decide, quotas hold.

Layers, each importable on its own:

- `portal.quota`, `portal.lifecycle`: pure rules (the ledger, the state machine, who may do
  what), no database; the request kinds and states are the registry's
  (`govcloud.registry.requests`), the flavors `govcloud.conventions`'.
- `portal.service`, `portal.accounts` (with `cloud.usage`): the rules applied to the registry,
  every change in one transaction with its audit-log entry; what departments were granted is
  the desired state's (`desired.grants`).
- `portal.app` and its routers (`portal.api`, `portal.web`): the JSON API and the pages;
  `portal.supervisor` runs them.
"""
