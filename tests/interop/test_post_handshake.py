"""What happens after the handshake, against real peers on loopback:
renegotiation requests, TLS 1.3 post-handshake messages (KeyUpdate,
NewSessionTicket), polling after close, sticky fatal errors, and the
transport ending under us (contract: SSLSocket, Errors).

The openssl tools run "interactive" here (tests/peers: no -quiet, -msg,
line-buffered): a command letter alone on their stdin makes them
renegotiate or update keys, and their -msg trace on stdout shows every
protocol message they sent (">>>") and received ("<<<"), which is how these
tests see what OUR side put on the wire.  Application data then travels as
single lines of random hex ("data <hex>\\n", never starting with a command
letter, small enough to be one stdin read and one TLS record): we wait for
the exact line in the tool's output, and read exactly the line the tool
sent, so a post-handshake message surfacing as data would show up as
different bytes.

Observed with OpenSSL 3.0 peers: our side refuses a renegotiation with a
no_renegotiation warning alert, and OpenSSL always answers that refusal
with a fatal handshake_failure alert (hard-wired in its record layer), so
after a refused renegotiation the connection is over: the tests pin the
refusal, the peer's alert as our error, and that the error is sticky.
"""

import errno
import os
import select
import signal
import threading
import time

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from matrix import VERSIONS, needs_tls13, server_files  # noqa: I100
from peers import exchange_with_tool, sha256_hex
from tlsio import recv_exactly

SERVER_ACK = "SSL_do_handshake -> 1"   # s_server has acted on r/R/k/K
CLIENT_ACK = {"R": "RENEGOTIATING", "k": "KEYUPDATE", "K": "KEYUPDATE"}
KEY_UPDATE_SENT = ">>> TLS 1.3, Handshake [length 0005], KeyUpdate"
KEY_UPDATE_RECEIVED = "<<< TLS 1.3, Handshake [length 0005], KeyUpdate"
REFUSAL_RECEIVED = "<<< TLS 1.2, Alert [length 0002], warning no_renegotiation"
FAILURE_SENT = ">>> TLS 1.2, Alert [length 0002], fatal handshake_failure"
TLS12_SUITES = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]


# ----------------------------------------------------------------------
# Talking to an interactive tool
# ----------------------------------------------------------------------

def data_line(nbytes=700):
    """One line of application data, unique and checkable: 'd' is no
    command letter, and ~1.4 KiB stays below PIPE_BUF and one record."""
    return b"data " + os.urandom(nbytes).hex().encode() + b"\n"


def we_send_line(tls, peer):
    line = data_line()
    tls.sendall(line)
    peer.wait_output(line.decode())


def peer_sends_line(tls, peer):
    line = data_line()
    peer.feed(line)
    got = recv_exactly(tls, len(line))
    assert got == line, "read %d bytes, not the %d-byte line the peer sent" % (
        len(got), len(line))
    assert tls.pending() == 0


def round_trip(tls, peer):
    we_send_line(tls, peer)
    peer_sends_line(tls, peer)


def raw_round_trip(tls, peer, sent):
    """The same with a tool whose stdout is only application data (raw
    mode: counted and hashed); `sent` lists every line we sent it so far."""
    line = data_line()
    tls.sendall(line)
    sent.append(line)
    total = b"".join(sent)
    assert peer.wait_stdout(len(total)) == (len(total), sha256_hex(total)), (
        peer.describe())
    peer_sends_line(tls, peer)


def command(peer, letter, ack, already=0):
    """Types a command letter into the tool and waits until it acted (its
    `ack` line appeared once more than the `already` times before)."""
    peer.feed(letter.encode() + b"\n")
    peer.wait_output(ack, count=already + 1)


def assert_sticky(tls, first):
    """Every later I/O raises the very error `first` did; nothing buffered."""
    assert tls.pending() == 0
    for call in (lambda: tls.recv(10), lambda: tls.read(10),
                 lambda: tls.readinto(bytearray(10)), lambda: tls.write(b"x"),
                 lambda: tls.send(b"x"), lambda: tls.sendall(b"x"),
                 lambda: tls.recv(10)):
        with pytest.raises(OSError) as again:
            call()
        assert (again.value.errno, again.value.strerror) == (
            first.errno, first.strerror)
    assert tls.pending() == 0


def wait_stopped(pid, timeout=5.0):
    """Waits (bounded) until the kernel reports process `pid` stopped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/stat" % pid) as f:
            # "pid (comm) STATE ...": the state follows the last ')'.
            if f.read().rpartition(")")[2].split()[0] in ("T", "t"):
                return
        time.sleep(0.001)
    raise AssertionError("process %d did not stop" % pid)


def tls12_only(ctx):
    """A list without TLS 1.3 suites disables TLS 1.3 (contract)."""
    ctx.set_ciphers([s for s in TLS12_SUITES if s in ctx.get_ciphers()])
    return ctx


# ----------------------------------------------------------------------
# 1. Renegotiation requests are refused
# ----------------------------------------------------------------------

@pytest.mark.parametrize("letter", ["r", "R"])
def test_our_client_refuses_renegotiation_requested_by_openssl_server(
        pki, peers, connect_tls, client_context, letter):
    # r / R: s_server sends a HelloRequest (R also asks for a client cert).
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls="1.2",
                                  interactive=True)
    s = connect_tls(client_context(), server.addr)
    assert s.version() == "TLSv1.2"
    round_trip(s, server)

    command(server, letter, SERVER_ACK)
    server.wait_output(">>> TLS 1.2, Handshake [length 0004], HelloRequest")
    with pytest.raises(OSError) as first:
        s.recv(100)     # meets the HelloRequest, refuses, gets the answer
    # The refusal is a no_renegotiation warning, never a ClientHello ...
    server.wait_output(REFUSAL_RECEIVED)
    assert server.output_count("], ClientHello\n") == 1, server.describe()
    # ... which OpenSSL answers with a fatal alert: our error names it.
    server.wait_output(FAILURE_SENT)
    assert first.value.errno == ssl.ERR_PEER_ALERT, first.value
    assert "handshake_failure" in first.value.strerror
    assert_sticky(s, first.value)


def test_our_server_refuses_renegotiation_started_by_openssl_client(
        pki, peers, listen, accept_tls, server_context):
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert, tls="1.2",
                                  interactive=True)
    s = accept_tls(server_context(), listener)
    assert s.version() == "TLSv1.2"
    round_trip(s, client)

    command(client, "R", CLIENT_ACK["R"])
    with pytest.raises(OSError) as first:
        s.recv(100)     # meets the new ClientHello, refuses, gets the answer
    client.wait_output(REFUSAL_RECEIVED)
    assert client.output_count("], ServerHello\n") == 1, client.describe()
    client.wait_output(FAILURE_SENT)
    assert first.value.errno == ssl.ERR_PEER_ALERT, first.value
    assert "handshake_failure" in first.value.strerror
    assert_sticky(s, first.value)
    assert client.wait_exit() != 0      # s_client gave up on the connection


# ----------------------------------------------------------------------
# 2. TLS 1.3 post-handshake messages are absorbed
# ----------------------------------------------------------------------

@needs_tls13
def test_our_client_absorbs_session_tickets_from_openssl_server(
        pki, peers, connect_tls, client_context):
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls="1.3",
                                  extra=["-num_tickets", "5"],
                                  interactive=True)
    s = connect_tls(client_context(), server.addr)
    assert s.version() == "TLSv1.3"
    server.wait_output("NewSessionTicket", count=5)
    peer_sends_line(s, server)      # the tickets came first, on the wire
    we_send_line(s, server)
    round_trip(s, server)
    assert server.output_count("NewSessionTicket") == 5


@needs_tls13
@pytest.mark.parametrize("letter", ["k", "K"],
                         ids=["update_not_requested", "update_requested"])
def test_our_client_absorbs_key_updates_from_openssl_server(
        pki, peers, connect_tls, client_context, letter):
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls="1.3",
                                  interactive=True)
    s = connect_tls(client_context(), server.addr)
    assert s.version() == "TLSv1.3"
    round_trip(s, server)

    for n in (1, 2):                # twice: keys move on each time
        command(server, letter, SERVER_ACK, already=n - 1)
        server.wait_output(KEY_UPDATE_SENT, count=n)
        peer_sends_line(s, server)  # under the server's new keys
        we_send_line(s, server)
        # update_requested: ours must precede our next data (RFC 8446
        # 4.6.3), so it is in the trace now; not requested: none at all.
        answered = n if letter == "K" else 0
        assert server.output_count(KEY_UPDATE_RECEIVED) == answered, (
            server.describe())
    round_trip(s, server)
    assert s.cipher()[1] == "TLSv1.3"


@needs_tls13
@pytest.mark.parametrize("letter", ["k", "K"],
                         ids=["update_not_requested", "update_requested"])
def test_our_server_absorbs_key_updates_from_openssl_client(
        pki, peers, listen, accept_tls, server_context, letter):
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert, tls="1.3",
                                  interactive=True)
    s = accept_tls(server_context(), listener)
    assert s.version() == "TLSv1.3"
    round_trip(s, client)

    for n in (1, 2):
        # s_client sends the KeyUpdate with its next data.
        command(client, letter, CLIENT_ACK[letter], already=n - 1)
        peer_sends_line(s, client)
        client.wait_output(KEY_UPDATE_SENT, count=n)
        we_send_line(s, client)
        answered = n if letter == "K" else 0
        assert client.output_count(KEY_UPDATE_RECEIVED) == answered, (
            client.describe())
    round_trip(s, client)
    # stdin EOF: s_client sends close_notify, we read the end of stream.
    client.close_stdin()
    assert s.recv(10) == b""
    s.close()
    assert client.wait_exit() == 0, client.describe()


@needs_tls13
@pytest.mark.parametrize("inline", ["^rekey1^", "^rekey^"],
                         ids=["update_not_requested", "update_requested"])
def test_our_server_absorbs_key_updates_from_gnutls_client(
        pki, peers, listen, accept_tls, server_context, inline):
    # A second implementation's KeyUpdate.  gnutls-cli --inline-commands:
    # ^rekey1^ updates its own keys, ^rekey^ also asks us to update ours;
    # it logs "Rekey was completed" to its log file, which it flushes only
    # at exit: counted then.
    listener = listen()
    client = peers.gnutls_client(listener.getsockname()[1], cafile=pki.ca_cert,
                                 tls="1.3", extra=["--inline-commands"])
    s = accept_tls(server_context(), listener)
    assert s.version() == "TLSv1.3"
    sent = []
    raw_round_trip(s, client, sent)
    for _ in range(2):
        client.feed(inline.encode() + b"\n")
        raw_round_trip(s, client, sent)
    client.close_stdin()                # gnutls-cli sends close_notify
    assert s.recv(10) == b""
    s.close()
    assert client.wait_exit() == 0, client.describe()
    assert client.log_text().count("Rekey was completed") == 2, (
        client.describe())


# ----------------------------------------------------------------------
# 3. Polling after close; fatal errors are sticky
# ----------------------------------------------------------------------

def test_polling_a_closed_socket_fails_at_once_instead_of_blocking(
        pki, peers, connect_tls, client_context):
    # CPython port: after close() fileno() is -1, so select()/poll() refuse
    # the object with ValueError (as for a closed socket.socket) at once.
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert)
    s = connect_tls(client_context(), server.addr)
    exchange_with_tool(s, server, 100)
    s.close()
    assert s.fileno() == -1
    assert s.pending() == 0
    started = time.monotonic()
    with pytest.raises(ValueError):
        select.select([s], [], [], 5)
    with pytest.raises(ValueError):
        select.select([], [s], [s], 5)
    with pytest.raises(ValueError):
        select.poll().register(s, select.POLLIN | select.POLLOUT)
    assert time.monotonic() - started < 1.0
    assert server.wait_exit() == 0      # it got our close_notify


GARBAGE = {
    # Not TLS at all: an HTTP answer where a record header belongs.
    "not_tls": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    # A well-formed application-data record that fails authentication.
    "bad_record": b"\x17\x03\x03\x00\x20" + bytes(range(32)),
}


@pytest.mark.parametrize("tls", VERSIONS)
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_garbage_after_the_handshake_is_a_sticky_protocol_error(
        run_server_thread, connect, server_context, client_context, tls,
        garbage):
    done = threading.Event()

    def serve(conn):
        ctx = server_context()
        if tls == "1.2":
            tls12_only(ctx)
        server_tls = ctx.wrap_socket(conn, server_side=True)
        server_tls.sendall(b"ok")
        conn.sendall(GARBAGE[garbage])  # under the TLS layer's feet
        assert done.wait(10)            # keep the transport open meanwhile
        conn.close()

    server = run_server_thread(None, serve, wrap=False)
    s = client_context().wrap_socket(connect(server.addr),
                                     server_hostname="localhost")
    try:
        assert s.version() == {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[tls]
        assert s.recv(10) == b"ok"
        with pytest.raises(OSError) as first:
            s.recv(10)
        assert first.value.errno == ssl.ERR_PROTOCOL, first.value
        assert first.value.strerror
        assert_sticky(s, first.value)
        # Polling a failed session reports it invalid at once, never waits
        # on the (still open, silent) transport.
        assert s.fileno() == -1
        started = time.monotonic()
        with pytest.raises(ValueError):
            select.select([s], [], [], 5)
        assert time.monotonic() - started < 1.0
    finally:
        done.set()
    s.close()
    server.join()


# ----------------------------------------------------------------------
# 4. The transport ends under us (openssl s_server killed)
# ----------------------------------------------------------------------

@pytest.mark.parametrize("tls", VERSIONS)
def test_peer_killed_after_reading_everything_reads_as_end_of_stream(
        pki, peers, connect_tls, client_context, tls):
    # SIGKILL with nothing unread in its socket: the kernel sends a FIN, a
    # transport EOF without close_notify, which reads as b'' (contract).
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls=tls)
    s = connect_tls(client_context(), server.addr)
    exchange_with_tool(s, server, 1000)
    server.stop()
    assert s.recv(10) == b""
    assert s.read(10) == b""
    assert s.pending() == 0


@pytest.mark.parametrize("tls", VERSIONS)
def test_peer_killed_with_unread_data_raises_connection_reset(
        pki, peers, connect_tls, client_context, tls):
    # SIGKILL while our data sits unread in its socket: the kernel answers
    # with a RST, a transport failure: OSError(ECONNRESET), and it sticks.
    leaf, key, _ = server_files(pki, "ec")
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls=tls)
    s = connect_tls(client_context(), server.addr)
    exchange_with_tool(s, server, 1000)
    os.kill(server.pid, signal.SIGSTOP)     # it reads nothing more
    wait_stopped(server.pid)
    s.sendall(b"x" * 1000)
    server.stop()                           # SIGKILL works on a stopped one
    with pytest.raises(OSError) as first:
        s.recv(10)
    assert first.value.errno == errno.ECONNRESET, first.value
    assert isinstance(first.value, ConnectionResetError)
    assert_sticky(s, first.value)

