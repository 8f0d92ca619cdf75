"""Make installed scripts start the interpreter lean: `python -m shim.launcher SCRIPT...`.

pip writes `#!<python>` at the top of `bin/shim`. That start runs `site`, which lists
site-packages and processes every `.pth` file (setuptools' `distutils-precedence.pth`
imports `_distutils_hack`): about 3.5 ms of every one-shot command here, a third of a
bare interpreter's start (bench/). This rewrites the first line to `#!<python> -IS`
and puts the path entries `site` would add (site-packages and the `.pth` path lines,
not their import lines) right after the script's `import sys`:

* `-I`: no PYTHON* variables (a runtime run as root takes no PYTHONPATH), no user
  site, no script directory on sys.path;
* `-S`: no `site`.

The entries are those the interpreter itself reports with `-I`, and they are checked:
the lean interpreter must import shim, its compiled bindings and every dependency
from them alone, or the script is left as it was (exit 1). Run it again after
reinstalling the package (setup.sh does).
"""

from __future__ import annotations

import os
import subprocess
import sys

FLAGS = "-IS"
MARK = "  # set by shim.launcher: what `site` would add"
# What the runtime imports from outside the standard library, and its compiled parts.
NEEDED = ("shim.cli.dispatch", "shim.sys._native", "msgspec", "anyio", "trio", "_cffi_backend")


def _sys_path(python: str, flag: str) -> list[str]:
    out = subprocess.run(
        [python, flag, "-c", "import sys\nfor p in sys.path: print(p)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.splitlines()


def site_entries(python: str) -> list[str]:
    """The sys.path entries `site` adds for `python` (run isolated, so neither
    PYTHONPATH nor the user site counts)."""
    lean = set(_sys_path(python, FLAGS))
    return [p for p in _sys_path(python, "-I") if p not in lean]


def check(python: str, entries: list[str]) -> str:
    """'' if a lean `python` finds everything NEEDED on `entries`, else what failed."""
    code = f"import sys\nsys.path += {entries!r}\nimport {', '.join(NEEDED)}"
    res = subprocess.run(
        [python, FLAGS, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    return "" if res.returncode == 0 else (res.stderr.strip().splitlines() or ["failed"])[-1]


def lean_text(text: str, python: str, entries: list[str]) -> str:
    """The script `text` with the lean first line and `entries` after `import sys`
    (a line an earlier run put there is replaced). ValueError if it has no `import sys`."""
    lines = [line for line in text.splitlines(keepends=True) if not line.endswith(MARK + "\n")]
    if "import sys\n" not in lines:
        raise ValueError("no `import sys` line to put the path entries after")
    at = lines.index("import sys\n") + 1
    lines.insert(at, f"sys.path += {entries!r}{MARK}\n")
    lines[0] = f"#!{python} {FLAGS}\n"
    return "".join(lines)


def interpreter(first_line: str) -> str:
    """The interpreter a `#!` line names, without its flags."""
    words = first_line[2:].split()
    if not first_line.startswith("#!") or not words:
        raise ValueError(f"not a #! line: {first_line!r}")
    return words[0]


def make_lean(script: str) -> str:
    """Rewrite `script` in place (atomically, mode kept); '' on success, else why not."""
    with open(script) as f:
        text = f.read()
    python = interpreter(text.split("\n", 1)[0])
    if not os.path.basename(python).startswith("python"):  # pip's /bin/sh trampoline
        return f"{script}: left as it was: started by {python}, not by python"
    entries = site_entries(python)
    problem = check(python, entries)
    if problem:
        return f"{script}: left as it was: a lean start cannot import: {problem}"
    tmp = f"{script}.lean-tmp"
    with open(tmp, "w") as f:
        f.write(lean_text(text, python, entries))
    os.chmod(tmp, os.stat(script).st_mode & 0o7777)
    os.replace(tmp, script)
    return ""


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m shim.launcher SCRIPT...\n")
        return 2
    status = 0
    for script in argv:
        problem = make_lean(script)
        if problem:
            sys.stderr.write(problem + "\n")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
