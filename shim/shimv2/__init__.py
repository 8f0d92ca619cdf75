"""containerd runtime v2 shim: bootstrap (start/delete), ttrpc, the services registry, events.

Nothing is imported here: `containerd-shim-pyshim-v1 start` must load only what it needs.
"""
