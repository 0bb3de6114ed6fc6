"""The command line starts without the server stack: ``rampgate --help`` took 7 s on a busy
machine when it imported the demo (FastAPI, SQLAlchemy, scipy) at start-up."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_no_server_stack_until_a_command_needs_it() -> None:
    code = (
        "import sys, rampgate.cli; "
        "print(sorted(m for m in ('scipy', 'fastapi', 'sqlalchemy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
