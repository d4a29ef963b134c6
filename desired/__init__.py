"""The desired state: county + registry → what to deploy.

`grants` (what each department has been granted: migrated systems and approved portal
requests, in one vocabulary), `network_plan` (the network plan as stored in the registry),
`stack_settings` (each stack's `Pulumi.<stack>.yaml`) and `state` (all of it for one stack,
read once). Pure reads of the county and the registry; nothing here talks to a cloud.
"""
