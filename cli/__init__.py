"""The `govcloud` command: one module per command group, the shared kit and the demo. No
domain logic lives here: each command parses its options, calls the layer that owns the work
and prints the result."""
