"""Fixtures shared by tests/conformance and tests/interop.

The process under test imports OUR `ssl` (PYTHONPATH points at a build dir
holding the mpssl extension module).  CPython's own `ssl` is only ever used in
separate subprocesses (tests/peers, through the `peers` fixture).

Timeouts: pytest-timeout is not installed, so every socket made here gets
settimeout(TIMEOUT), every thread join is bounded, and an autouse watchdog
(faulthandler) dumps all stacks and exits the run if one test exceeds
HARD_LIMIT seconds, so a hang can never stall CI.
"""

import faulthandler
import os
import socket
import sys
import threading

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import peers as peers_module  # noqa: E402  (tests/peers/)
import pki as pki_module  # noqa: E402  (tests/pki.py)
import ssl  # noqa: E402  (OURS, from PYTHONPATH)
from tlsio import echo_until_eof  # noqa: E402  (tests/tlsio.py)

assert hasattr(ssl, "BACKEND"), (
    "`import ssl` gave CPython's stdlib module, not mpssl: run with "
    "PYTHONPATH=<mpssl build dir>")

TIMEOUT = 10.0            # every socket operation
JOIN_TIMEOUT = TIMEOUT + 5.0
HARD_LIMIT = float(os.environ.get("MPSSL_TEST_HARD_LIMIT", "90"))


# --------------------------------------------------------------------------
# Watchdog
# --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _hang_watchdog():
    faulthandler.dump_traceback_later(HARD_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------
# Parity records (read by scripts/parity.py from the JUnit XML)
# --------------------------------------------------------------------------

@pytest.fixture
def observe(record_property):
    """observe(value): what this backend did in this test case, as a short
    stable string (an error constant's name, "ok", ...).  Every test case
    of one test function becomes a row of one table in docs/parity.md, with
    a column per backend; a row whose cells differ is a difference."""
    def record(value):
        record_property("observed", str(value))
    return record


@pytest.fixture
def pair(record_property):
    """pair(client, server): the two implementations a cross-backend test
    case connected ("openssl", ..., or a tool: "s_server", "gnutls-cli",
    "stdlib"), for the client x server grid in docs/parity.md."""
    def record(client, server):
        record_property("pair", "%s/%s" % (client, server))
    return record


@pytest.fixture
def difference(record_property):
    """difference(text): this test asserts a documented backend difference
    (one sentence: which backend, what it does, why); listed in
    docs/parity.md."""
    def record(text):
        record_property("difference", text)
    return record


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The generated certificate set (tests/pki.py), one per session."""
    return pki_module.make_pki(str(tmp_path_factory.getbasetemp() / "pki"))


@pytest.fixture
def server_context(pki):
    """Factory: a server SSLContext loaded with a chain (default: EC server)."""
    def make(chain=None, key=None, cafile=None, verify_mode=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain or pki.server_ec_chain, key or pki.server_ec_key)
        if cafile:
            ctx.load_verify_locations(cafile=cafile)
        if verify_mode is not None:
            ctx.verify_mode = verify_mode
        return ctx
    return make


@pytest.fixture
def client_context(pki):
    """Factory: a client SSLContext trusting the test root (default CERT_REQUIRED)."""
    def make(cafile=None, verify_mode=None, chain=None, key=None, trust=True):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Tests that keep the default rely on it verifying the server.
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        if trust:
            ctx.load_verify_locations(cafile=cafile or pki.ca_cert)
        if chain:
            ctx.load_cert_chain(chain, key)
        if verify_mode is not None:
            ctx.verify_mode = verify_mode
        return ctx
    return make


# --------------------------------------------------------------------------
# Loopback sockets
# --------------------------------------------------------------------------

LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def ipv6():
    """Skips the test when this machine has no ::1 (an environment limit)."""
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback on this machine")
    return socket.AF_INET6


def close_all(socks):
    """Closes every socket (newest first: an SSLSocket before the socket it
    wraps, so its close_notify can still go out); never raises."""
    for s in reversed(socks):
        try:
            s.close()
        except Exception:
            pass


@pytest.fixture
def sockets():
    """A list; every socket appended is closed at teardown."""
    made = []
    yield made
    close_all(made)


@pytest.fixture
def listen(sockets):
    """Factory: a listening loopback socket (timeout TIMEOUT)."""
    def make(family=socket.AF_INET, backlog=4):
        s = socket.socket(family, socket.SOCK_STREAM)
        sockets.append(s)
        s.settimeout(TIMEOUT)
        s.bind((LOOPBACK[family], 0))
        s.listen(backlog)
        return s
    return make


@pytest.fixture
def connect(sockets):
    """Factory: a TCP connection to addr (timeout TIMEOUT), closed at teardown."""
    def make(addr, timeout=TIMEOUT):
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        sockets.append(s)
        s.settimeout(timeout)
        s.connect(addr[:2])
        return s
    return make


@pytest.fixture
def connect_tls(connect, sockets):
    """Factory: connect_tls(ctx, addr, server_hostname="localhost", **kw) ->
    OUR client SSLSocket (handshake done unless kw says otherwise), closed
    at teardown.  A failed wrap closes the TCP socket at once, so the peer
    sees the end promptly, and raises."""
    def make(ctx, addr, server_hostname="localhost", **kwargs):
        raw = connect(addr)
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname, **kwargs)
        except BaseException:
            raw.close()
            raise
        sockets.append(tls)
        return tls
    return make


@pytest.fixture
def accept_tls(sockets):
    """Factory: accept_tls(ctx, listener) -> OUR server SSLSocket for the
    next connection on `listener`, closed at teardown.  A failed handshake
    closes the accepted socket at once (the peer sees the end) and raises."""
    def make(ctx, listener):
        conn, _ = listener.accept()
        sockets.append(conn)
        conn.settimeout(TIMEOUT)
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except BaseException:
            conn.close()
            raise
        sockets.append(tls)
        return tls
    return make


# --------------------------------------------------------------------------
# Server thread
# --------------------------------------------------------------------------

class ServerThread:
    """Accepts ONE connection on `listener`, waits for `gate` (an Event) if
    given, wraps it with OUR ssl (unless wrap=False) and runs handler(sock).
    The handler's return value or exception is kept for join()/wait().  The
    accepted socket is closed when the handler returns (through the
    SSLSocket when there is one)."""

    def __init__(self, listener, ctx, handler, wrap=True, gate=None,
                 **wrap_kwargs):
        self.listener = listener
        self.gate = gate
        self.addr = listener.getsockname()[:2]
        self.port = self.addr[1]
        self.ctx = ctx
        self.handler = handler
        self.wrap = wrap
        self.wrap_kwargs = wrap_kwargs
        self.result = None
        self.error = None
        self.raw = None
        self.tls = None
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(TIMEOUT)
            self.raw = conn
            self.accepted.set()
            if self.gate is not None:
                # Held before the handshake: the client's first read then
                # finds nothing, deterministically.
                assert self.gate.wait(JOIN_TIMEOUT), "server gate never opened"
            if not self.wrap:
                self.result = self.handler(conn)
                return
            self.tls = self.ctx.wrap_socket(conn, server_side=True,
                                            **self.wrap_kwargs)
            self.result = self.handler(self.tls)
        except BaseException as exc:  # handed to the test thread by join()
            self.error = exc
        finally:
            self.accepted.set()
            if self.tls is not None:
                self.tls.close()
            if self.raw is not None:
                self.raw.close()

    def wait(self, timeout=JOIN_TIMEOUT):
        """Joins (bounded); returns the handler's exception or None."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server thread did not finish in time"
        return self.error

    def join(self, timeout=JOIN_TIMEOUT):
        """Joins (bounded); re-raises the handler's exception; returns its result."""
        if self.wait(timeout) is not None:
            raise self.error
        return self.result


@pytest.fixture
def run_server_thread(listen, sockets):
    """Factory: run_server_thread(ctx, handler, family=AF_INET, wrap=True,
    listener=None, gate=None, **wrap_kwargs) -> ServerThread listening on
    loopback (on `listener` when given, e.g. one with small buffers; holding
    its handshake until `gate` is set when given)."""
    started = []

    def start(ctx, handler, family=socket.AF_INET, wrap=True, listener=None,
              gate=None, **wrap_kwargs):
        server = ServerThread(listener or listen(family), ctx, handler, wrap=wrap,
                              gate=gate, **wrap_kwargs)
        started.append(server)
        return server

    yield start
    # Close the test's own sockets first, so a server still waiting on its
    # peer sees the end of the stream now instead of at its timeout.
    close_all(sockets)
    for server in started:
        server.thread.join(JOIN_TIMEOUT)


@pytest.fixture
def echo_handler():
    return echo_until_eof


@pytest.fixture
def tls_pair(run_server_thread, connect_tls, server_context, client_context):
    """Factory: a connected (client SSLSocket, ServerThread) over loopback.

    tls_pair(handler=echo, server_ctx=None, client_ctx=None,
             server_hostname="localhost", family=AF_INET, **client_wrap_kwargs)
    """
    def make(handler=echo_until_eof, server_ctx=None, client_ctx=None,
             server_hostname="localhost", family=socket.AF_INET, **kwargs):
        server = run_server_thread(server_ctx or server_context(), handler,
                                   family=family)
        tls = connect_tls(client_ctx or client_context(), server.addr,
                          server_hostname=server_hostname, **kwargs)
        return tls, server
    return make


# --------------------------------------------------------------------------
# Peer programs (separate processes: openssl, gnutls-cli, CPython's ssl)
# --------------------------------------------------------------------------

@pytest.fixture
def peers(tmp_path):
    """A tests/peers PeerGroup; every peer it started is killed at teardown
    (and described, which pytest shows only when the test failed)."""
    group = peers_module.PeerGroup(tmp_path)
    yield group
    group.stop_all()
    for peer in group.started:
        print(peer.describe())
