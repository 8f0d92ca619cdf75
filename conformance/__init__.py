"""The OCI runtime-tools validation suite as a regression check for shim.

`conformance/run.sh` runs `../shared/tools/oci-validation.sh` against shim; this
package reads what it wrote (summary.txt, tap/*.tap) and compares it with
`expected.txt` (the points shim passes, and the failures still to fix) and
`reasons.txt` (failures on purpose, or that every runtime has on this host).
`python -m conformance --help` lists the commands.
"""
