"""A stand-in for localcloud/runtime/worker_main.py that breaks the protocol on purpose (for the invoker's tests).

Started exactly as the invoker starts a real worker (--request-fd R --response-fd W); it reports a
successful init, then answers each request the way MISANSWER (an environment variable) says:
    wrong_request  the answer names another request id (as if meant for another invoke)
    wrong_pid      the answer names the request but another process id (as if from another worker)
    init_again     a second init line before each answer, as a worker_main.py edited while the invoker
                   ran once did: the invoker then read each line as the answer to its request
    correct        the answer a real worker gives
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    arguments = parser.parse_args()
    mode = os.environ["MISANSWER"]

    def respond(document: dict[str, object]) -> None:
        os.write(arguments.response_fd, (json.dumps(document) + "\n").encode())

    respond({"init": "done"})
    with os.fdopen(arguments.request_fd, "rb") as requests:
        for line in requests:
            request = json.loads(line)
            request_id, pid = request["request_id"], os.getpid()
            if mode == "wrong_request":
                request_id = "another-request"
            elif mode == "wrong_pid":
                pid += 1
            elif mode == "init_again":
                respond({"init": "done"})
            # A batch response naming every record as succeeded: what would delete a whole batch.
            respond({"request_id": request_id, "pid": pid, "payload": {"batchItemFailures": []}})


if __name__ == "__main__":
    main()
