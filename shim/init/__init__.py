"""The parent side of the init helper: its protocol, the handshake, spawning, and the boot plan.

Nothing here is imported eagerly: each module is imported by the operation that needs it.
"""
