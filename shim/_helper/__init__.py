"""Holds the compiled init helper `shim-init` (built by setup.py from csrc/)."""
