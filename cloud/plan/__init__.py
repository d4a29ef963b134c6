"""`govcloud plan`: desired resources (the stack program under mocks) against the live cloud.

`items` defines the common form both sides are reduced to (kind, key, attributes);
`stack_items` reduces a mock run, `live_items` reduces an inventory snapshot, `diff` compares
them attribute by attribute, `run` puts them together for one stack. Nothing here changes the
cloud.
"""
