"""Entry point of the local cloud's moto server: `moto_server` with localcloud.motoserver.patches applied.

    python -m localcloud.motoserver --host 127.0.0.1 --port 4566

Started by localcloud.aws.endpoint as a subprocess, so that the `up` process, the functions' worker
processes and later CLI calls all talk to one server, and its state lives in that process.
The server also exits when the process that started it is gone, so a killed `up` or test run leaves
no server behind on its port.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Sequence

from localcloud.motoserver.http_server import HTTP_SERVERS, serve
from localcloud.motoserver.patches import patch_moto


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit when the parent process is gone (re-parented: our parent pid changes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud.motoserver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-requests", action="store_true", help="log every HTTP request (werkzeug)")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the one that started us) ends")
    parser.add_argument("--http-server", choices=HTTP_SERVERS, default="cheroot",
                        help="cheroot (keep-alive, thread pool) or moto_server's own werkzeug server")
    parser.add_argument("--moto-as-shipped", action="store_true",
                        help="leave out the speed-ups of localcloud.motoserver.performance (for benchmarks)")
    arguments = parser.parse_args(argv)
    if arguments.parent_pid:
        exit_with_parent(arguments.parent_pid)
    # Step Functions' Lambda task calls this very server at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(arguments.port)
    if not arguments.log_requests:
        # One log line per request costs time on a busy pipeline and says little.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patch_moto(speed_ups=not arguments.moto_as_shipped)
    serve(arguments.host, arguments.port, arguments.http_server)


if __name__ == "__main__":
    main()
