"""The county-cloud Pulumi program: stack settings, desired state, and the two stacks."""
