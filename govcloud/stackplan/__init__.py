"""`govcloud plan`: desired resources (the stack program under mocks) against the live cloud.

`items` defines the common form both sides are reduced to (kind, key, attributes);
`desired` reduces a mock run, `live` reduces an inventory snapshot, `diff` compares them
attribute by attribute. Nothing here changes the cloud.
"""
