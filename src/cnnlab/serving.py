"""An ASGI app (the lab, the leaderboard) served by uvicorn on a free loopback port in a
thread of this process: what the page tests and the latency benchmarks talk to, the real
server over real HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


@contextlib.contextmanager
def loopback(app):
    """Serve `app` on 127.0.0.1 at a free port for the duration; yields its URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
