"""Socket timeouts apply to TLS operations as per-operation deadlines."""

import errno
import socket
import threading
import time

import pytest


def assert_timed_out(exc):
    assert isinstance(exc, OSError)
    assert isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT


def silent_server(run_server_thread, stop):
    """Accepts TCP and never answers until `stop` is set."""
    def serve(conn):
        stop.wait(15)
    return run_server_thread(None, serve, wrap=False)


def test_handshake_with_a_silent_peer_times_out(run_server_thread, connect,
                                               client_context):
    stop = threading.Event()
    server = silent_server(run_server_thread, stop)
    raw = connect(server.addr, timeout=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(OSError) as info:
            client_context().wrap_socket(raw, server_hostname="localhost")
    finally:
        stop.set()
    elapsed = time.monotonic() - start
    assert_timed_out(info.value)
    assert 0.4 <= elapsed < 5.0
    raw.close()
    server.join()


def test_read_with_timeout_times_out_within_bounds(tls_pair):
    stop = threading.Event()
    tls, server = tls_pair(handler=lambda t: stop.wait(15))
    tls.settimeout(0.5)
    assert tls.gettimeout() == 0.5
    start = time.monotonic()
    try:
        with pytest.raises(OSError) as info:
            tls.read(10)
    finally:
        stop.set()
    elapsed = time.monotonic() - start
    assert_timed_out(info.value)
    assert 0.4 <= elapsed < 5.0


def test_timeout_is_a_deadline_for_the_whole_read(tls_pair):
    # The peer trickles one byte every 100 ms: each wait is short, but
    # read(1000) cannot complete within the 1 s timeout.  The call must end
    # at the deadline: by raising the timeout, or (so that nothing read is
    # lost) by returning the bytes that did arrive.
    stop = threading.Event()

    def trickle(tls):
        for _ in range(150):
            if stop.wait(0.1):
                return
            tls.write(b".")

    tls, server = tls_pair(handler=trickle)
    tls.settimeout(1.0)
    start = time.monotonic()
    try:
        try:
            got = tls.read(1000)
        except OSError as exc:
            assert_timed_out(exc)
        else:
            assert 0 < len(got) < 1000 and got == b"." * len(got)
    finally:
        stop.set()
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 4.0


def test_write_to_a_peer_that_does_not_read_times_out(run_server_thread, listen, connect,
                                                      server_context, client_context):
    stop = threading.Event()
    listener = listen()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    server = run_server_thread(server_context(), lambda t: stop.wait(15),
                               listener=listener)
    raw = connect(server.addr)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)
    tls = client_context().wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(0.5)
    start = time.monotonic()
    try:
        with pytest.raises(OSError) as info:
            tls.sendall(b"\0" * (16 * 1024 * 1024))
    finally:
        stop.set()
    elapsed = time.monotonic() - start
    assert_timed_out(info.value)
    assert elapsed < 5.0
    tls.close()


def test_settimeout_none_restores_blocking_reads(tls_pair):
    tls, server = tls_pair()
    tls.settimeout(0.5)
    tls.settimeout(None)
    assert tls.gettimeout() is None
    tls.write(b"abc")
    assert tls.read(3) == b"abc"
