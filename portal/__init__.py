"""The resource-request portal (资源申请门户): departments apply, approvers decide, quotas hold.

Layers, each importable on its own:

- `portal.quota`, `portal.lifecycle`, `portal.flavors`: pure rules (arithmetic, the state
  machine, who may do what), no database.
- `portal.service`, `portal.accounts`, `portal.grants`, `portal.observed`: the rules applied to
  the registry, every change in one transaction with its audit-log entry.
- `portal.app` and its routers (`portal.api`, `portal.web`): the JSON API and the pages.
"""
