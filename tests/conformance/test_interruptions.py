"""Operations cut short by a timeout, a signal handler or the application
closing the socket underneath: nothing is lost, nothing is duplicated, and
no byte of ours ever reaches another connection."""

import errno
import signal
import socket
import threading

import pytest


class Interrupt(Exception):
    """Raised by the test's SIGALRM handler."""


@pytest.fixture
def alarm():
    """alarm(seconds): a SIGALRM whose handler raises Interrupt."""
    previous = signal.signal(signal.SIGALRM, _raise_interrupt)
    yield lambda seconds: signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _raise_interrupt(signum, frame):
    raise Interrupt()


def test_sendall_past_its_deadline_raises_timeout_and_later_writes_arrive_intact(
        tls_pair):
    release = threading.Event()

    def hold_then_read_all(tls):
        assert release.wait(15)
        received = bytearray()
        while chunk := tls.recv(65536):
            received += chunk
        return bytes(received)

    tls, server = tls_pair(handler=hold_then_read_all)
    payload = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the buffers
    tls.settimeout(0.5)
    with pytest.raises(TimeoutError):
        tls.sendall(payload)
    release.set()
    tls.settimeout(10)
    tls.write(b"MARKER")
    tls.close()
    received = server.join()
    # Whatever part of the payload went out, it went out once and in order,
    # and the marker was not swallowed by the timed-out record.
    assert received.endswith(b"MARKER")
    sent = received[:-len(b"MARKER")]
    assert payload.startswith(sent)


@pytest.mark.parametrize("read", ["read", "readinto", "readline"])
def test_read_interrupted_by_a_signal_handler_loses_no_bytes(tls_pair, alarm,
                                                             read):
    go_on = threading.Event()

    def two_halves(tls):
        tls.sendall(b"A" * 500)
        assert go_on.wait(15)
        tls.sendall(b"B" * 499 + b"\n")

    tls, server = tls_pair(handler=two_halves)
    alarm(0.3)
    with pytest.raises(Interrupt):
        if read == "read":
            tls.read(1000)
        elif read == "readinto":
            tls.readinto(bytearray(1000))
        else:
            tls.readline()
    go_on.set()
    assert tls.pending() >= 500  # the first half is kept, not dropped
    whole = tls.read(1000)
    assert whole == b"A" * 500 + b"B" * 499 + b"\n"
    server.join()


def test_io_after_the_raw_socket_was_closed_never_reaches_a_reused_descriptor(
        run_server_thread, connect, listen, client_context):
    accepted = threading.Event()

    def serve(conn):
        accepted.set()
        read_until_gone(conn)

    server = run_server_thread(None, serve, wrap=False)
    victim_listener = listen()  # before the close: it must not take the number
    raw = connect(server.addr)
    # The server's accept() must have taken its descriptor before ours is
    # freed, or it could take the number meant for the victim.
    assert accepted.wait(10)
    tls = client_context(verify_mode=0).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False)
    number = raw.fileno()
    raw.close()  # the application closes the socket under the TLS layer

    # POSIX hands out the lowest free descriptor: the next socket gets it.
    victim = socket.create_connection(victim_listener.getsockname(), timeout=5)
    victim_peer, _ = victim_listener.accept()
    try:
        assert victim.fileno() == number
        with pytest.raises(OSError) as info:
            tls.write(b"must not go anywhere")
        assert info.value.errno == errno.EBADF
        tls.close()  # no close_notify into the other connection either
        victim_peer.settimeout(0.3)
        with pytest.raises(socket.timeout):
            victim_peer.recv(100)
        assert victim.fileno() == number  # and it was not closed
    finally:
        victim.close()
        victim_peer.close()


def read_until_gone(conn):
    """Server side of the reuse test: reads until the client is gone."""
    conn.settimeout(10)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
