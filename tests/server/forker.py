"""A launcher that forks ``rampgate serve`` children on demand, for the crash test.

Starting a fresh interpreter that imports the server costs seconds on a loaded 2-core machine,
and the crash test restarts the server 50 times. The launcher imports everything once, then for
each ``start`` line on its stdin forks a child that builds the app (its own engine, its own
connections: nothing is shared across the fork) and serves; it prints the child's pid and reaps
it when the test has killed it with SIGKILL. The child is a real process running the same app
as ``rampgate serve``; only the interpreter start-up is skipped.

Run as ``python -m tests.server.forker PORT`` with ``RAMPGATE_*`` settings in the environment.
"""

from __future__ import annotations

import os
import sys

import uvicorn

from rampgate.server.app import create_app
from rampgate.server.settings import ServerSettings


def _child(port: int) -> None:
    os.dup2(2, 1)  # the child's output goes to the log: stdout is the launcher's answers
    settings = ServerSettings.from_env(port=port)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    os._exit(0)


def main() -> None:
    port = int(sys.argv[1])
    for line in sys.stdin:
        if line.strip() != "start":
            continue
        pid = os.fork()
        if pid == 0:
            _child(port)
        print(pid, flush=True)
        os.waitpid(pid, 0)  # returns once the test has killed the child
        print("reaped", flush=True)


if __name__ == "__main__":
    main()
