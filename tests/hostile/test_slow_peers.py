"""Slow and silent peers: a raw peer that trickles a hello one byte per
second, or says nothing at all, to OUR client and to OUR server.

Contract: a socket timeout is a deadline for the whole operation (the
handshake included), ending in a timeout OSError; a non-blocking handshake
returns None when it would block; waiting never spins the CPU (wrap_socket
on a non-blocking socket waits for readiness).  CPU use is this thread's
own (time.thread_time(): the peer threads do not count), so "no spinning"
is measured directly rather than guessed from wall-clock time.
"""

import errno
import select
import socket
import time

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

import rawpeer  # noqa: I100  (tests/hostile/rawpeer.py)
from rawpeer import HANDSHAKE

ROLES = ("client", "server")  # the side under test
DRIP_TIMEOUT = 2.0
WAIT = 1.5            # how long the silent cases wait
MAX_CPU = 0.2         # seconds of CPU our thread may use meanwhile
# What the dripping peer sends, byte by byte: a hello that never completes.
DRIP = rawpeer.client_hello([rawpeer.GOOD_SUITE])


def assert_timed_out(exc):
    assert isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT, (
        "%s: %r" % (ssl.BACKEND, exc))


def dripping(role):
    """One byte per second of a hello (after reading ours when the peer is
    the server), until released."""
    def script(sock, peer):
        if role == "client":
            assert rawpeer.read_record(sock)[0] == HANDSHAKE
        for byte in DRIP[:20]:
            sock.sendall(bytes([byte]))
            if peer.stop.wait(1.0):
                break
        return rawpeer.read_until_eof(sock)
    return script


def silent(seconds=None):
    """Reads whatever comes and answers nothing; after `seconds` (if
    given) it closes, so a wait without a timeout still ends."""
    def script(sock, peer):
        if seconds is None:
            peer.stop.wait(rawpeer.TIMEOUT)
            return None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                if not sock.recv(65536):
                    break
            except socket.timeout:
                break
        return None
    return script


@pytest.fixture
def unwrapped(raw_server, raw_client, listen, connect, sockets):
    """unwrapped(role, script) -> (our TCP socket for `role`, a function
    wrapping it with OUR ssl, kwargs passed on)."""
    def make(role, script, client_context, server_context):
        if role == "client":
            _, addr = raw_server(script)
            raw = connect(addr)
            ctx = client_context()
            return raw, lambda **kw: ctx.wrap_socket(
                raw, server_hostname="localhost", **kw)
        listener = listen()
        raw_client(listener.getsockname()[:2], script)
        raw, _ = listener.accept()
        sockets.append(raw)
        ctx = server_context()
        return raw, lambda **kw: ctx.wrap_socket(raw, server_side=True, **kw)
    return make


@pytest.fixture
def side(unwrapped, client_context, server_context):
    return lambda role, script: unwrapped(role, script, client_context,
                                          server_context)


def measured(call):
    """(outcome, wall seconds, thread CPU seconds) of call(); the outcome
    is its result or the OSError it raised."""
    wall, cpu = time.monotonic(), time.thread_time()
    try:
        outcome = call()
    except OSError as exc:
        outcome = exc
    return outcome, time.monotonic() - wall, time.thread_time() - cpu


@pytest.mark.parametrize("role", ROLES)
def test_a_peer_dripping_one_byte_per_second_times_out(side, role):
    raw, wrap = side(role, dripping(role))
    raw.settimeout(DRIP_TIMEOUT)
    outcome, wall, cpu = measured(wrap)
    assert isinstance(outcome, OSError), outcome
    assert_timed_out(outcome)
    # The timeout bounds the whole handshake, not each one-byte read.
    assert DRIP_TIMEOUT - 0.1 <= wall < DRIP_TIMEOUT + 1.0, wall
    assert cpu < MAX_CPU, cpu


@pytest.mark.parametrize("role", ROLES)
def test_a_blocking_handshake_with_a_silent_peer_waits_without_spinning(
        side, role):
    raw, wrap = side(role, silent())
    raw.settimeout(WAIT)
    outcome, wall, cpu = measured(wrap)
    assert isinstance(outcome, OSError), outcome
    assert_timed_out(outcome)
    assert WAIT - 0.1 <= wall < WAIT + 1.0, wall
    assert cpu < MAX_CPU, "%s: %.3f s of CPU while waiting %.1f s" % (
        ssl.BACKEND, cpu, wall)


@pytest.mark.parametrize("role", ROLES)
def test_wrap_on_a_non_blocking_socket_waits_without_spinning(side, role):
    # do_handshake_on_connect=True on a non-blocking socket waits for
    # readiness (contract); the peer stays silent for WAIT seconds and then
    # closes, so the wait ends with the end-of-stream error.
    raw, wrap = side(role, silent(WAIT))
    raw.setblocking(False)
    outcome, wall, cpu = measured(wrap)
    assert isinstance(outcome, OSError), outcome
    assert outcome.errno == ssl.ERR_HANDSHAKE_EOF, "%s: %r" % (ssl.BACKEND,
                                                               outcome)
    assert WAIT - 0.2 <= wall < WAIT + 2.0, wall
    assert cpu < MAX_CPU, "%s: %.3f s of CPU while waiting %.1f s" % (
        ssl.BACKEND, cpu, wall)


@pytest.mark.parametrize("role", ROLES)
def test_a_non_blocking_handshake_with_a_silent_peer_returns_none(side, role):
    # The test drives the wait itself with select(), as an event loop
    # would: do_handshake() must return None at once each time, and the
    # socket must not look ready while nothing arrives (spurious readiness
    # would make the event loop spin).
    raw, wrap = side(role, silent())
    raw.setblocking(False)
    tls = wrap(do_handshake_on_connect=False)
    outcome, _, cpu_first = measured(tls.do_handshake)
    assert outcome is None, outcome
    wakeups = 0
    wall, cpu = time.monotonic(), time.thread_time()
    deadline = wall + 1.0
    while time.monotonic() < deadline:
        readable, _, _ = select.select([tls], [], [],
                                       max(deadline - time.monotonic(), 0))
        if readable:
            wakeups += 1
            assert tls.do_handshake() is None
            assert wakeups < 5, "readable %d times with nothing sent" % wakeups
    cpu = time.thread_time() - cpu
    assert wakeups == 0, wakeups
    assert time.monotonic() - wall >= 0.9
    assert cpu + cpu_first < MAX_CPU, cpu + cpu_first
