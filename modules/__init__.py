"""Pulumi components for the county cloud: extranet fabric, tenants, networks, security, DR.

Each component follows the same shape (docs/stacks.md): an `XxxArgs` dataclass of flat typed
inputs and a `ComponentResource` with the type token `county:<area>:<Name>`, every child
parented to it and named after it, and `register_outputs` as its last step.
"""
