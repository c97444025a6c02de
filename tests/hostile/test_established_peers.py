"""Hostile peers after the handshake: the peer completes a real handshake
(with OUR ssl, in a thread: the only TLS implementation in this process),
sends one record of data, and once the side under test has read it, acts
on the raw socket underneath its TLS layer: a FIN without close_notify, a
record cut short then a FIN, a record cut short then a RST.

Contract (SSLSocket, Errors): a transport end of stream after the
handshake reads as b'' (with or without close_notify), and stays so; a
transport failure raises OSError with the transport's errno (ECONNRESET).

Not covered here, and why: floods of empty or oversized ENCRYPTED records
need a peer that can encrypt records at will, i.e. a TLS implementation we
control byte by byte; there is none in this process (`ssl` is ours) and the
openssl tools cannot be told to send them.  Renegotiation requests are
tests/interop/test_post_handshake.py's; garbage after the handshake too.
"""

import errno
import socket
import threading

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

import rawpeer  # noqa: I100  (tests/hostile/rawpeer.py)
from rawpeer import APPLICATION_DATA, record

GREETING = b"hello from the peer"
# An application-data record announcing 64 bytes, of which 10 come.
TRUNCATED = record(APPLICATION_DATA, bytes(10), length=64)
ROLES = ("client", "server")  # the side under test


def hostile_script(role, ctx, was_read, action):
    """The peer: a real handshake with OUR ssl on `sock` (the role opposite
    to the side under test), GREETING as one record, then, once the side
    under test has read it (`was_read`), action(sock) on the raw socket."""
    def script(sock, peer):
        if role == "client":
            tls = ctx.wrap_socket(sock, server_side=True)
        else:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
        tls.sendall(GREETING)
        assert was_read.wait(rawpeer.TIMEOUT), "the side under test read nothing"
        action(sock)
        peer.stop.wait(rawpeer.TIMEOUT)   # hold the socket until the test ends
        # tls is dropped without close(): no close_notify may follow.
    return script


def fin(sock):
    sock.shutdown(socket.SHUT_WR)


def truncated_then_fin(sock):
    sock.sendall(TRUNCATED)
    sock.shutdown(socket.SHUT_WR)


def truncated_then_rst(sock):
    sock.sendall(TRUNCATED)
    rawpeer.reset(sock)


@pytest.fixture
def established(raw_server, raw_client, listen, connect, client_context,
                server_context, sockets):
    """established(role, action) -> (our SSLSocket in `role`, event to set
    once GREETING was read, peer)."""
    def make(role, action):
        was_read = threading.Event()
        if role == "client":
            peer, addr = raw_server(hostile_script(role, server_context(),
                                                   was_read, action))
            tls = client_context().wrap_socket(connect(addr),
                                               server_hostname="localhost")
        else:
            listener = listen()
            peer = raw_client(listener.getsockname()[:2],
                              hostile_script(role, client_context(),
                                             was_read, action))
            conn, _ = listener.accept()
            sockets.append(conn)
            conn.settimeout(rawpeer.TIMEOUT)
            tls = server_context().wrap_socket(conn, server_side=True)
        sockets.append(tls)
        return tls, was_read, peer
    return make


def read_greeting(tls, was_read):
    got = tls.recv(len(GREETING))
    was_read.set()
    assert got == GREETING


@pytest.mark.parametrize("role", ROLES)
def test_fin_without_close_notify_reads_as_end_of_stream(established, role):
    tls, was_read, peer = established(role, fin)
    read_greeting(tls, was_read)
    assert tls.recv(10) == b""
    assert tls.read(10) == b""      # and it stays the end
    assert tls.pending() == 0


@pytest.mark.parametrize("role", ROLES)
def test_record_cut_short_by_fin_reads_as_end_of_stream(established, role):
    # The contract: a transport end of stream after the handshake, without
    # close_notify, reads as b''; a FIN inside a record is that too (as
    # with CPython's default suppress_ragged_eofs).  All four backends do so.
    tls, was_read, peer = established(role, truncated_then_fin)
    read_greeting(tls, was_read)
    assert tls.recv(10) == b""
    assert tls.recv(10) == b""


@pytest.mark.parametrize("role", ROLES)
def test_record_cut_short_by_rst_raises_connection_reset(established, role):
    tls, was_read, peer = established(role, truncated_then_rst)
    read_greeting(tls, was_read)
    with pytest.raises(OSError) as first:
        tls.recv(10)
    assert first.value.errno == errno.ECONNRESET, "%s: %r" % (ssl.BACKEND,
                                                              first.value)
    with pytest.raises(OSError) as again:   # sticky
        tls.recv(10)
    assert again.value.errno == errno.ECONNRESET, again.value
