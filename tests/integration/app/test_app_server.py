"""The app as `hitcraft dev` and `make demo` run it: uvicorn in a thread of the command's process."""

from __future__ import annotations

import signal
import threading
import time

import pytest


def test_ctrl_c_while_the_app_starts_closes_its_connections(filled):
    """Ctrl-C (or SIGTERM) can arrive while the app is still starting; its pool of warehouse connections must be
    closed then too, or the embedded database, which stops only when no client is connected, stays running."""
    from hitcraft_assets.cli.runtime import free_port
    from hitcraft_assets.cli.serve import app_server
    from hitcraft_assets.store import warehouse

    main, pools = threading.get_ident(), []

    def interrupt_once_the_pool_is_open():
        deadline = time.monotonic() + 600  # only against a hang
        while not warehouse._pools and time.monotonic() < deadline:
            time.sleep(0.002)
        pools.extend(pool for pool, _ in warehouse._pools.values())
        signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a test runner's worker may ignore it
    entered = False
    try:
        threading.Thread(target=interrupt_once_the_pool_is_open, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            with app_server("127.0.0.1", free_port(), url=filled.url, secret_key="test-secret-" + "x" * 40):
                entered = True
                time.sleep(600)
    finally:
        signal.signal(signal.SIGINT, previous)
    # the interrupt came while the app was starting (it opens its pool first, then takes far longer to answer)
    assert not entered
    assert pools and all(pool.closed for pool in pools) and not warehouse._pools
