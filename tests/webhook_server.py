"""The real webhook receiver on a loopback port, for tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from aftercare.receiver import Receiver, build_app
from tests.ses_server import free_loopback_port


@contextlib.contextmanager
def running_receiver(receiver: Receiver, port: int | None = None) -> Iterator[str]:
    """Serve ``receiver`` with uvicorn in a thread; yield its base URL; shut it down.

    ``port``: a given one (the public URL emails link to), else any free one."""
    port = port or free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(receiver),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"webhook receiver did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
