"""Side-by-side benchmarks of `shim` against runc and crun.

`python -m bench [--quick] [RUNTIME ...]`; see README, "Benchmarks".
"""
