"""Non-blocking sockets: None on would-block, partial progress, no loss or
duplication under tiny socket buffers, handshake driving, buffered plaintext."""

import errno
import hashlib
import os
import random
import select
import socket
import ssl
import threading
import time

import pytest
from tlsio import nb_read_exactly, read_until_eof, retry_while_none  # noqa: I100

MIN_BUF = 1024           # the kernel rounds this up to its minimum
DEADLINE = 30.0


def shrink_buffers(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MIN_BUF)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MIN_BUF)


def wait_readable(tls, timeout=5.0):
    if tls.pending():
        return
    select.select([tls], [], [], timeout)


@pytest.fixture
def tiny_buffer_client(run_server_thread, listen, connect, server_context,
                       client_context):
    """Factory: tiny_buffer_client(handler) -> (client SSLSocket, set
    non-blocking after its handshake; ServerThread running handler), over
    loopback TCP with minimal buffers on both ends."""
    def make(handler):
        listener = listen()
        shrink_buffers(listener)      # inherited by the accepted socket
        server = run_server_thread(server_context(), handler, listener=listener)
        raw = connect(server.addr)
        shrink_buffers(raw)
        tls = client_context().wrap_socket(raw, server_hostname="localhost")
        tls.setblocking(False)
        return tls, server
    return make


def hold_then_drain(event):
    def handler(tls):
        assert event.wait(15)
        return read_until_eof(tls)
    return handler


# --------------------------------------------------------------------------
# None on would-block
# --------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda t: t.read(10), lambda t: t.recv(10), lambda t: t.read(),
    lambda t: t.readinto(bytearray(10)), lambda t: t.recv_into(bytearray(10)),
], ids=["read_n", "recv", "read_all", "readinto", "recv_into"])
def test_read_with_nothing_available_returns_none(tls_pair, call):
    event = threading.Event()
    tls, server = tls_pair(handler=hold_then_drain(event))
    try:
        tls.setblocking(False)
        assert call(tls) is None
        assert call(tls) is None
    finally:
        event.set()
    tls.setblocking(True)
    tls.close()
    server.join()


def test_read_returns_what_is_available_when_less_than_asked(tls_pair):
    event = threading.Event()

    def handler(tls):
        tls.write(b"x" * 100)
        assert event.wait(10)

    tls, server = tls_pair(handler=handler)
    tls.setblocking(False)
    try:
        got = b""
        end = time.monotonic() + 10
        while len(got) < 100 and time.monotonic() < end:
            wait_readable(tls)
            data = tls.read(1000)
            if data is not None:
                assert data
                got += data
        assert got == b"x" * 100
        assert tls.read(1000) is None
    finally:
        event.set()
    server.join()


def test_write_when_buffers_are_full_returns_none_or_a_partial_count(
        tiny_buffer_client):
    event = threading.Event()
    tls, server = tiny_buffer_client(hold_then_drain(event))
    data = os.urandom(4 * 1024 * 1024)
    written = []      # counts returned, in order: never duplicated, never lost
    saw_would_block = False
    try:
        pos = 0
        end = time.monotonic() + DEADLINE
        while pos < len(data):
            assert time.monotonic() < end
            n = tls.write(data[pos:pos + 256 * 1024])
            if n is None:
                saw_would_block = True
                if not event.is_set():
                    event.set()        # now let the server drain
                select.select([], [tls], [], 0.5)
                continue       # retry with the same data, as required
            assert 0 < n <= 256 * 1024
            written.append(n)
            pos += n
        assert saw_would_block
    finally:
        event.set()
        tls.setblocking(True)
        tls.close()
    received = server.join()
    assert sum(written) == len(data)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()


def test_first_write_into_full_buffers_is_none_or_less_than_all(
        tiny_buffer_client):
    event = threading.Event()
    tls, server = tiny_buffer_client(hold_then_drain(event))
    data = os.urandom(4 * 1024 * 1024)
    try:
        n = tls.write(data)
        assert n is None or 0 < n < len(data)
        sent = n or 0
        end = time.monotonic() + DEADLINE
        event.set()
        while sent < len(data):
            assert time.monotonic() < end
            n = tls.write(data[sent:])
            if n is None:
                select.select([], [tls], [], 0.5)
                continue
            sent += n
    finally:
        event.set()
        tls.setblocking(True)
        tls.close()
    assert server.join() == data


def test_nonblocking_sendall_that_would_block_raises_eagain(tiny_buffer_client):
    event = threading.Event()
    tls, server = tiny_buffer_client(hold_then_drain(event))
    try:
        with pytest.raises(OSError) as info:
            tls.sendall(b"\0" * (8 * 1024 * 1024))
        assert info.value.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
    finally:
        event.set()
        tls.close()
    server.wait()


# --------------------------------------------------------------------------
# 1 MiB both ways with tiny buffers
# --------------------------------------------------------------------------

def echo(tls):
    total = 0
    while True:
        data = tls.recv(random.randint(1, 8192))
        if not data:
            return total
        total += len(data)
        tls.sendall(data)


def pump_both_ways_then_close(tls, data, seed):
    """Makes `tls` non-blocking, pumps `data` through an echo with
    pump_both_ways, and closes tls whatever happens (blocking again, so its
    close_notify goes out).  Returns what was read back."""
    tls.setblocking(False)
    try:
        return pump_both_ways(tls, data, seed)
    finally:
        tls.setblocking(True)
        tls.close()


def pump_both_ways(tls, data, seed):
    """Writes `data` and reads its echo on a non-blocking SSLSocket with
    random write and read sizes; after None, write() is retried with the same
    data.  Returns what was read back."""
    rng = random.Random(seed)
    received = bytearray()
    pos = 0
    size = None       # after None, write() must be retried with the same data
    end = time.monotonic() + DEADLINE
    while len(received) < len(data):
        assert time.monotonic() < end, "stalled: sent %d, received %d" % (
            pos, len(received))
        progressed = False
        if pos < len(data):
            size = size or rng.randint(1, 40000)
            chunk = data[pos:pos + size]
            n = tls.write(chunk)
            if n is not None:
                assert 0 < n <= len(chunk)
                pos += n
                size = None
                progressed = True
        chunk = tls.recv(rng.randint(1, 3000))
        if chunk is not None:
            assert chunk != b"", "unexpected end of stream"
            received += chunk
            progressed = True
        if not progressed:
            select.select([tls], [tls] if pos < len(data) else [], [], 0.2)
    assert pos == len(data)
    return received


def test_one_mib_both_ways_through_minimal_unix_buffers_loses_and_duplicates_nothing(
        server_context, client_context):
    # A stream socketpair with the smallest buffers the kernel allows: full
    # flow control on every few hundred bytes, without TCP's persist timer
    # (which turns a closed loopback window into 200 ms stalls).
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for s in (ours, theirs):
        shrink_buffers(s)
        s.settimeout(10)
    result = {}

    def serve():
        try:
            tls = server_context().wrap_socket(theirs, server_side=True)
            result["echoed"] = echo(tls)
            tls.close()
        except Exception as e:  # reported by the assertion below
            result["error"] = e

    server = threading.Thread(target=serve)
    server.start()
    tls = client_context().wrap_socket(ours, server_hostname="localhost")
    data = random.Random(1234).randbytes(1024 * 1024)
    try:
        received = pump_both_ways_then_close(tls, data, seed=1)
    finally:
        server.join(DEADLINE)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    assert result == {"echoed": len(data)}


def test_both_ways_through_minimal_tcp_buffers_loses_and_duplicates_nothing(
        tiny_buffer_client):
    # Real TCP on loopback with minimal buffers; smaller than the socketpair
    # case because each closed window costs a 200 ms persist probe.
    tls, server = tiny_buffer_client(echo)
    data = random.Random(99).randbytes(96 * 1024)
    received = pump_both_ways_then_close(tls, data, seed=2)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    assert server.join() == len(data)


# --------------------------------------------------------------------------
# Driving the handshake
# --------------------------------------------------------------------------

@pytest.fixture
def nonblocking_client(connect, client_context):
    """Factory: nonblocking_client(server, **wrap_kwargs) -> our client
    SSLSocket for "localhost" over a non-blocking TCP socket to server."""
    def make(server, **wrap_kwargs):
        raw = connect(server.addr)
        raw.setblocking(False)
        return client_context().wrap_socket(raw, server_hostname="localhost",
                                            **wrap_kwargs)
    return make


def test_do_handshake_returns_none_while_it_would_block_then_true(
        run_server_thread, server_context, nonblocking_client):
    gate = threading.Event()
    server = run_server_thread(server_context(), read_until_eof, gate=gate)
    tls = nonblocking_client(server, do_handshake_on_connect=False)
    try:
        assert tls.do_handshake() is None
        assert tls.cipher() is None
        gate.set()
        result, _ = retry_while_none(tls.do_handshake, tls)
        assert result is True
        assert tls.cipher() is not None
        n, _ = retry_while_none(lambda: tls.write(b"after"), tls,
                                read=False, write=True)
        assert n == 5
    finally:
        gate.set()
        tls.setblocking(True)
        tls.close()
    assert server.join() == b"after"


def test_first_write_drives_a_deferred_handshake_on_a_nonblocking_socket(
        run_server_thread, nonblocking_client, server_context, echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    tls = nonblocking_client(server, do_handshake_on_connect=False)
    try:
        n, _ = retry_while_none(lambda: tls.write(b"hello"), tls,
                                read=True, write=True)
        assert n == 5
        assert tls.cipher() is not None
        assert nb_read_exactly(tls, 5) == b"hello"
    finally:
        tls.setblocking(True)
        tls.close()
    assert server.join() == b"hello"


def test_first_read_drives_a_deferred_handshake_on_a_nonblocking_socket(
        run_server_thread, nonblocking_client, server_context):
    def greet(tls):
        tls.write(b"greetings")
        return read_until_eof(tls)

    server = run_server_thread(server_context(), greet)
    tls = nonblocking_client(server, do_handshake_on_connect=False)
    try:
        assert nb_read_exactly(tls, 9) == b"greetings"
        assert tls.cipher() is not None
    finally:
        tls.setblocking(True)
        tls.close()
    server.join()


def test_first_read_drives_a_deferred_handshake_on_a_blocking_socket(
        run_server_thread, connect, server_context, client_context):
    def greet(tls):
        tls.write(b"hi")
        return read_until_eof(tls)

    server = run_server_thread(server_context(), greet)
    tls = client_context().wrap_socket(connect(server.addr), server_hostname="localhost",
                                       do_handshake_on_connect=False)
    assert tls.cipher() is None
    assert tls.read(2) == b"hi"
    assert tls.cipher() is not None
    tls.close()
    server.join()


def test_handshake_on_connect_completes_on_a_nonblocking_socket_without_spinning(
        run_server_thread, server_context, nonblocking_client):
    gate = threading.Event()
    server = run_server_thread(server_context(), read_until_eof, gate=gate)
    timer = threading.Timer(1.0, gate.set)
    timer.start()
    cpu_before, wall_before = time.process_time(), time.monotonic()
    try:
        tls = nonblocking_client(server)
    finally:
        timer.join(5)
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    try:
        assert tls.cipher() is not None
        assert wall >= 0.9
        assert cpu < 0.5, "the handshake wait used %.2fs of CPU in %.2fs" % (cpu, wall)
    finally:
        tls.setblocking(True)
        tls.close()
    server.join()


# --------------------------------------------------------------------------
# Buffered plaintext
# --------------------------------------------------------------------------

def test_pending_reports_buffered_plaintext_readable_without_the_socket(tls_pair):
    event = threading.Event()
    record = bytes(range(256)) * 8          # 2 KiB, one write: one record

    def handler(tls):
        tls.write(record)
        assert event.wait(10)

    tls, server = tls_pair(handler=handler)
    try:
        assert tls.read(1) == record[:1]
        buffered = tls.pending()
        assert isinstance(buffered, int)
        assert 0 < buffered <= len(record) - 1
        tls.setblocking(False)
        got = tls.read(buffered)
        assert got == record[1:1 + buffered]
        rest = nb_read_exactly(tls, len(record) - 1 - buffered) if \
            1 + buffered < len(record) else b""
        assert record[:1] + got + rest == record
        assert tls.pending() == 0
        assert tls.read(10) is None
    finally:
        event.set()
        tls.setblocking(True)
    server.join()


def test_fileno_is_the_underlying_socket_descriptor(run_server_thread, connect,
                                                    server_context, client_context,
                                                    echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    raw = connect(server.addr)
    fd = raw.fileno()
    tls = client_context().wrap_socket(raw, server_hostname="localhost")
    assert tls.fileno() == fd
    tls.close()
    server.join()
