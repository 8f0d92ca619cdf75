"""shim: an OCI runtime with runc's command line, and a containerd shim."""

__version__ = "0.1.0"
OCI_VERSION = "1.0.2-dev"  # what runc 1.1 reports in state, list and hooks
