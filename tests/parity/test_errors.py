"""Error parity: the same failure gives the same OSError code on every
backend (contract.md, Errors).

One table, CASES: each row names a failure, how a REAL peer over loopback
provokes it (CPython's own ssl in a separate interpreter, `openssl
s_server`/`s_client`, or a raw socket where no TLS library would misbehave
that way), the side of the connection that is ours, and the one code the
contract gives that failure: a module constant (`ssl.ERR_*`) for a TLS
failure, the transport's errno for a transport failure.  Every row runs
identically on every backend, with one expectation for all of them; the
only exceptions are differences the README documents, which the row names
(`documented`) and the case records through `difference`.
A row runs at TLS 1.2 and at TLS 1.3 (the peer pinned to that version)
unless the failure has no version of its own; the TLS 1.3 runs skip through
`ssl.HAS_TLSv1_3`.

Each case records what this backend raised (`observe`: the constant's name,
an errno name, or "ok" when nothing failed) BEFORE asserting, so
docs/parity.md shows every backend's answer even when one is wrong.

Peers that end or corrupt a real handshake do it through Relay (below): a
TCP relay between our side and a real peer that forwards the peer's bytes
record by record until its action says otherwise (cut the stream with a FIN
or a reset, hold it, or flip one bit of an encrypted record).
"""

import errno
import socket
import struct
import threading

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from tlsio import recv_exactly  # noqa: I100  (tests/tlsio.py)

TIMEOUT = 10.0            # every socket here, as in tests/conftest.py
SILENT_TIMEOUT = 1.0      # our socket timeout against a peer that stops
LIBRARY_CONSTANT_MARKERS = ("X509_V_ERR", "MBEDTLS_ERR", "GNUTLS_E_", "BR_ERR",
                            "SSL_R_", "SSL_ERROR_", "ERR_")

# Record content types (RFC 5246 6.2.1, RFC 8446 5.1).
CHANGE_CIPHER_SPEC, APPLICATION_DATA = 20, 23
BIG_RECORD = 8192         # no handshake record of these peers is this long
BIG_DATA = 16384          # what a peer sends when a data record is tampered

SUITE_OURS_12 = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"   # every backend
SUITE_PEER_12 = "ECDHE-ECDSA-AES256-GCM-SHA384"             # OpenSSL name
SUITE_OURS_13 = "TLS_AES_128_GCM_SHA256"
SUITE_PEER_13 = "TLS_AES_256_GCM_SHA384"

HTTP_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
               b"Connection: close\r\n\r\n")
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

ERR_NAMES = {getattr(ssl, name): name for name in dir(ssl)
             if name.startswith("ERR_")}


def code_name(outcome):
    """What our side did, as docs/parity.md shows it: "ok" (no failure),
    the module constant's name, an errno name, or an exception type."""
    if outcome is None:
        return "ok"
    if isinstance(outcome, OSError) and outcome.errno in ERR_NAMES:
        return ERR_NAMES[outcome.errno]
    if isinstance(outcome, OSError) and outcome.errno in errno.errorcode:
        return errno.errorcode[outcome.errno]
    return type(outcome).__name__


def expected_code(name):
    """The errno an expected name stands for (ssl.ERR_* or errno.E*)."""
    return getattr(ssl, name) if name.startswith("ERR_") else getattr(errno, name)


def assert_plain_message(exc):
    """As tests/conformance/test_verify.py: plain English, no library
    constant names (nor our own: the code carries that)."""
    assert isinstance(exc.strerror, str) and exc.strerror, repr(exc)
    for marker in LIBRARY_CONSTANT_MARKERS:
        assert marker not in exc.strerror, exc.strerror


# --------------------------------------------------------------------------
# Relay: a real peer's stream, cut, held or tampered with
# --------------------------------------------------------------------------

def read_record(sock):
    """The next whole record (header included) or what there is of it at
    the end of the stream (b"" when nothing)."""
    header = recv_exactly(sock, 5)
    if len(header) < 5:
        return header
    return header + recv_exactly(sock, struct.unpack(">H", header[3:5])[0])


class Cut:
    """Forwards `records` whole records of the peer's, then `extra` bytes
    of the next, then ends the connection to our side: "fin" (shutdown,
    the relay still reads what we send) or "rst" (a reset); the real peer's
    connection is closed."""

    def __init__(self, records, extra=0, how="fin"):
        self.records, self.extra, self.how = records, extra, how

    def for_version(self, tls):
        return self


class Hold:
    """Forwards nothing of the peer's: a peer that stops answering."""

    def for_version(self, tls):
        return self


class Tamper:
    """Flips a bit of the last byte (the AEAD tag) of one encrypted record of
    the peer's, forwarding everything else.  Kind "handshake" picks the
    first encrypted handshake record: at TLS 1.2 the record after the
    peer's ChangeCipherSpec (its Finished), at TLS 1.3 the first
    application_data record (at 1.3 a ChangeCipherSpec may also come before
    a second, plaintext ClientHello, after a HelloRetryRequest).  Kind
    "data" picks the first application_data record of at least BIG_RECORD
    bytes (application data: the peer sends BIG_DATA)."""

    def __init__(self, kind, tls=None):
        self.kind, self.tls = kind, tls
        self.after_ccs = False
        self.done = False

    def for_version(self, tls):
        return Tamper(self.kind, tls)

    def pick(self, record):
        if self.done:
            return False
        content_type = record[0]
        if self.kind == "handshake" and self.tls == "1.2":
            hit = self.after_ccs
            self.after_ccs = content_type == CHANGE_CIPHER_SPEC
        elif self.kind == "handshake":
            hit = content_type == APPLICATION_DATA
        else:
            hit = content_type == APPLICATION_DATA and len(record) >= BIG_RECORD
        self.done = hit
        return hit


class Relay:
    """One connection between OUR side and a real peer through loopback.

    relay.port is where the relayed side connects: our client (peer_is_server:
    the relay then connects to `target`, the real server) or the real client
    (the relay then connects to `target`, our listener).  Bytes from our
    side are forwarded as they come; the peer's are read record by record
    and handed to the action (None: forward all)."""

    def __init__(self, target, peer_is_server, action=None):
        self.target = target
        self.peer_is_server = peer_is_server
        self.action = action
        self.listener = socket.socket()
        self.listener.settimeout(TIMEOUT)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.addr = ("127.0.0.1", self.port)
        self.ours = self.theirs = None
        self.ended = threading.Event()   # the relay ended the connection
        self.acted = threading.Event()   # the action cut or tampered
        self.stop = threading.Event()
        self.error = None                # what failed before it acted
        self.threads = [threading.Thread(target=self._run, daemon=True)]
        self.threads[0].start()

    def _run(self):
        try:
            accepted, _ = self.listener.accept()
            accepted.settimeout(TIMEOUT)
            onward = socket.create_connection(self.target, timeout=TIMEOUT)
            if self.peer_is_server:
                self.ours, self.theirs = accepted, onward
            else:
                self.ours, self.theirs = onward, accepted
            pump = threading.Thread(target=self._ours_to_theirs, daemon=True)
            self.threads.append(pump)
            pump.start()
            self._theirs_to_ours()
        except OSError as exc:
            if not (self.stop.is_set() or self.acted.is_set()):
                self.error = exc

    def check(self):
        """The relay did its part (else an expected failure would pass
        without the case having happened)."""
        assert self.error is None, "relay failed: %r" % self.error
        if isinstance(self.action, (Cut, Tamper)):
            assert self.acted.is_set(), "the relay never acted on the stream"

    def _ours_to_theirs(self):
        """Our bytes go to the peer until the relay ends the connection;
        after that they are read and dropped (no reset for our writes)."""
        try:
            while not self.stop.is_set():
                data = self.ours.recv(65536)
                if not data:
                    break
                if not self.ended.is_set():
                    try:
                        self.theirs.sendall(data)
                    except OSError:
                        pass
        except OSError:
            pass
        if not self.ended.is_set():
            try:
                self.theirs.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _end(self, how):
        self.ended.set()
        self.acted.set()
        if how == "rst":
            # close() alone would wait for the pump thread's recv() on the
            # same socket to return: SHUT_RD wakes it (sending nothing),
            # then the zero linger makes the close a reset.
            self.ours.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.ours.shutdown(socket.SHUT_RD)
            self.ours.close()
        else:
            self.ours.shutdown(socket.SHUT_WR)
        self.theirs.close()

    def _theirs_to_ours(self):
        action, records = self.action, 0
        while not self.stop.is_set():
            record = read_record(self.theirs)
            if isinstance(action, Cut) and records == action.records:
                self.ours.sendall(record[:action.extra])
                self._end(action.how)
                return
            if not record:
                self.ours.shutdown(socket.SHUT_WR)
                return
            records += 1
            if isinstance(action, Hold):
                continue
            if isinstance(action, Tamper) and action.pick(record):
                record = record[:-1] + bytes([record[-1] ^ 0x01])
                self.acted.set()
            self.ours.sendall(record)

    def close(self):
        self.stop.set()
        for sock in (self.ours, self.theirs, self.listener):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)   # wakes a blocked recv
                except OSError:
                    pass
                sock.close()
        for thread in self.threads:
            thread.join(TIMEOUT)


class RawPeer:
    """A peer with no TLS library: as a server it reads our ClientHello,
    as a client it connects; then it sends `payload` and reads until we
    close."""

    def __init__(self, payload, target=None):
        self.payload = payload
        self.target = target
        self.listener = None
        if target is None:
            self.listener = socket.socket()
            self.listener.settimeout(TIMEOUT)
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(1)
            self.addr = self.listener.getsockname()[:2]
        self.sock = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            if self.listener is not None:
                self.sock, _ = self.listener.accept()
                self.sock.settimeout(TIMEOUT)
                read_record(self.sock)                 # our ClientHello
            else:
                self.sock = socket.create_connection(self.target,
                                                     timeout=TIMEOUT)
            self.sock.sendall(self.payload)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        for sock in (self.sock, self.listener):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)   # wakes a blocked recv
                except OSError:
                    pass
                sock.close()
        self.thread.join(TIMEOUT)


def chain_file(pki, name):
    """The PEM a peer presents for a pki name: leaf and intermediates."""
    if name == "selfsigned":
        return pki.selfsigned_cert
    return getattr(pki, name + "_chain")


# --------------------------------------------------------------------------
# The harness: our side against a peer, in one role
# --------------------------------------------------------------------------

def attempt(call):
    """Runs our side; returns what it raised (None if nothing did)."""
    try:
        call()
    except Exception as exc:   # noqa: BLE001 (observed, then asserted on)
        return exc
    return None


class Harness:
    """Starts peers (stdlib, openssl, relays, raw) and runs our side of one
    connection; every socket, relay and peer is released at teardown."""

    def __init__(self, pki, peers, listen, sockets, client_context,
                 server_context):
        self.pki = pki
        self.peers = peers
        self.listen = listen
        self.sockets = sockets
        self.client_context = client_context
        self.server_context = server_context
        self.helpers = []

    def close(self):
        for sock in reversed(self.sockets):
            try:
                sock.close()
            except OSError:
                pass
        for helper in self.helpers:
            helper.close()

    def track(self, helper):
        self.helpers.append(helper)
        return helper

    # -- peers ----------------------------------------------------------
    def stdlib_server(self, tls, chain="server_ec", *args):
        """A CPython ssl server with `chain` (a pki name): it sends one
        byte first (args may say more: "--send", BIG_DATA), then reads
        one."""
        return self.peers.stdlib_server(
            "--cert", chain_file(self.pki, chain),
            "--key", getattr(self.pki, chain + "_key"),
            "--tls", tls or "any", "--first", "send", "--send", "1",
            "--recv", "1", *args)

    def stdlib_client(self, port, tls, *args):
        """A CPython ssl client verifying us against the test root: it
        sends one byte first (args may say more), then reads one."""
        return self.peers.stdlib_client(
            port, "--cafile", self.pki.ca_cert, "--tls", tls or "any",
            "--first", "send", "--send", "1", "--recv", "1", *args)

    def relay_to_server(self, server, action):
        return self.track(Relay(server.addr, True, action))

    def relay_to_listener(self, listener, action):
        return self.track(Relay(listener.getsockname()[:2], False, action))

    def raw_server(self, payload):
        return self.track(RawPeer(payload))

    def raw_client(self, listener, payload):
        return self.track(RawPeer(payload, listener.getsockname()[:2]))

    # -- our side ---------------------------------------------------------
    def client(self, addr, ctx=None, timeout=TIMEOUT, after=None):
        """OUR client to addr (server_hostname localhost): handshake, read
        one byte, write one; `after(tls)` instead of that exchange when
        given.  Returns what our side raised, None if nothing."""
        ctx = ctx or self.client_context()
        raw = socket.create_connection(addr, timeout=timeout)
        self.sockets.append(raw)

        def run():
            tls = ctx.wrap_socket(raw, server_hostname="localhost")
            self.sockets.append(tls)
            if after is not None:
                after(tls)
            else:
                tls.read(1)
                tls.write(b"x")
        return attempt(run)

    def server(self, listener, ctx=None, after=None):
        """OUR server on the next connection to listener: handshake, read
        one byte, write one (or `after(tls)`).  Returns what our side
        raised, None if nothing."""
        ctx = ctx or self.server_context()
        raw, _ = listener.accept()
        raw.settimeout(TIMEOUT)
        self.sockets.append(raw)

        def run():
            tls = ctx.wrap_socket(raw, server_side=True)
            self.sockets.append(tls)
            if after is not None:
                after(tls)
            else:
                tls.read(1)
                tls.write(b"x")
        return attempt(run)


@pytest.fixture
def harness(pki, peers, listen, sockets, client_context, server_context):
    h = Harness(pki, peers, listen, sockets, client_context, server_context)
    yield h
    h.close()


# --------------------------------------------------------------------------
# The cases: our client
# --------------------------------------------------------------------------

def client_with_ciphers(h, suites):
    ctx = h.client_context()
    ctx.set_ciphers(suites)
    return ctx


def server_with_ciphers(h, suites, **kwargs):
    ctx = h.server_context(**kwargs)
    ctx.set_ciphers(suites)
    return ctx


def client_vs_chain(chain):
    """Our verifying client against a stdlib server presenting `chain`."""
    def provoke(h, tls):
        return h.client(h.stdlib_server(tls, chain).addr)
    return provoke


def client_no_ca(h, tls):
    ctx = h.client_context(trust=False)
    return h.client(h.stdlib_server(tls).addr, ctx)


def client_cert_refused_by_peer(h, tls):
    server = h.stdlib_server(tls, "server_ec", "--cafile", h.pki.ca_cert,
                             "--verify", "required")
    ctx = h.client_context(chain=h.pki.client_untrusted_chain,
                           key=h.pki.client_untrusted_key)
    return h.client(server.addr, ctx)


def client_without_cert_required_by_peer(h, tls):
    server = h.stdlib_server(tls, "server_ec", "--cafile", h.pki.ca_cert,
                             "--verify", "required")
    return h.client(server.addr)


def client_suites_refused_by_peer(h, tls):
    if tls == "1.2":
        server = h.stdlib_server(tls, "server_ec", "--ciphers", SUITE_PEER_12)
        ctx = client_with_ciphers(h, [SUITE_OURS_12])
    else:
        server = h.peers.openssl_server(h.pki.server_ec_cert, h.pki.server_ec_key,
                                        chain=h.pki.int_cert, tls="1.3",
                                        ciphersuites=SUITE_PEER_13)
        ctx = client_with_ciphers(h, [SUITE_OURS_13])
    return h.client(server.addr, ctx)


def client_version_refused_by_peer(h, tls):
    # A TLS 1.2 suite list disables TLS 1.3 (contract); the peer is 1.3 only.
    server = h.stdlib_server("1.3")
    return h.client(server.addr, client_with_ciphers(h, [SUITE_OURS_12]))


def client_via_relay(action, data=False, timeout=TIMEOUT):
    """Our client to a stdlib server through a Relay running `action`."""
    def provoke(h, tls):
        args = ("--send", str(BIG_DATA)) if data else ()
        relay = h.relay_to_server(h.stdlib_server(tls, "server_ec", *args),
                                  action.for_version(tls))
        outcome = h.client(relay.addr, timeout=timeout)
        relay.check()
        return outcome
    return provoke


def client_vs_garbage(h, tls):
    return h.client(h.raw_server(HTTP_ANSWER).addr)


def client_after_close(io):
    def provoke(h, tls):
        def after(ours):
            ours.read(1)
            ours.close()
            io(ours)
        return h.client(h.stdlib_server(tls).addr, after=after)
    return provoke


# --------------------------------------------------------------------------
# The cases: our server
# --------------------------------------------------------------------------

def server_chain_refused_by_peer(chain):
    """A stdlib client verifying (chain + name) our server presenting
    `chain`: the client refuses it with an alert."""
    def provoke(h, tls):
        listener = h.listen()
        h.stdlib_client(listener.getsockname()[1], tls)
        ctx = h.server_context(chain_file(h.pki, chain),
                               getattr(h.pki, chain + "_key"))
        return h.server(listener, ctx)
    return provoke


def server_requiring_cert(client_chain=None, trust=True):
    """Our CERT_REQUIRED server (trusting the test root, or no CA at all)
    against a stdlib client offering client_chain (a pki name) or no
    certificate."""
    def provoke(h, tls):
        listener = h.listen()
        args = ()
        if client_chain:
            args = ("--cert", chain_file(h.pki, client_chain),
                    "--key", getattr(h.pki, client_chain + "_key"))
        h.stdlib_client(listener.getsockname()[1], tls, *args)
        ctx = h.server_context(cafile=h.pki.ca_cert if trust else None,
                               verify_mode=ssl.CERT_REQUIRED)
        return h.server(listener, ctx)
    return provoke


def server_suites_disjoint(h, tls):
    listener = h.listen()
    port = listener.getsockname()[1]
    if tls == "1.2":
        h.stdlib_client(port, tls, "--ciphers", SUITE_PEER_12)
        ctx = server_with_ciphers(h, [SUITE_OURS_12])
    else:
        h.peers.openssl_client(port, cafile=h.pki.ca_cert, tls="1.3",
                               ciphersuites=SUITE_PEER_13)
        ctx = server_with_ciphers(h, [SUITE_OURS_13])
    return h.server(listener, ctx)


def server_version_disjoint(h, tls):
    listener = h.listen()
    h.stdlib_client(listener.getsockname()[1], "1.3")
    return h.server(listener, server_with_ciphers(h, [SUITE_OURS_12]))


def server_via_relay(action, data=False):
    """A stdlib client to our server through a Relay running `action`."""
    def provoke(h, tls):
        listener = h.listen()
        relay = h.relay_to_listener(listener, action.for_version(tls))
        args = ("--send", str(BIG_DATA)) if data else ()
        h.stdlib_client(relay.port, tls, *args)
        outcome = h.server(listener)
        relay.check()
        return outcome
    return provoke


def server_vs_garbage(h, tls):
    listener = h.listen()
    h.raw_client(listener, HTTP_REQUEST)
    return h.server(listener)


def server_after_close(io):
    def provoke(h, tls):
        listener = h.listen()
        h.stdlib_client(listener.getsockname()[1], tls)

        def after(ours):
            ours.read(1)
            ours.close()
            io(ours)
        return h.server(listener, after=after)
    return provoke


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------

BOTH = ("1.2", "1.3")
NONE = (None,)   # the failure has no TLS version of its own


class Case:
    """One row: id, our role, the expected code's name, how it is
    provoked (provoke(harness, tls) -> what our side raised), the TLS
    versions it runs at, and for ERR_PEER_ALERT the alert the message must
    name (per version: the peer is OpenSSL, whose choice is fixed).
    `documented`: {backend: (code name, sentence)} for a difference the
    README documents; the sentence is recorded through `difference`."""

    def __init__(self, case_id, role, expected, provoke, versions=BOTH,
                 alert=None, how="", documented=None):
        self.id, self.role, self.expected = case_id, role, expected
        self.provoke, self.versions = provoke, versions
        self.alert = alert if isinstance(alert, dict) else {
            v: alert for v in versions}
        self.how = how
        self.documented = documented or {}

    def expectation(self):
        """(expected name, documented difference text or None) for the
        backend under test."""
        if ssl.BACKEND in self.documented:
            return self.documented[ssl.BACKEND]
        return self.expected, None


CASES = [
    # Our client: the server's certificate.
    Case("hostname_mismatch", "client", "ERR_HOSTNAME_MISMATCH",
         client_vs_chain("wronghost"),
         how="server's certificate names other.example only"),
    Case("untrusted_chain", "client", "ERR_CERT_UNTRUSTED",
         client_vs_chain("untrusted"),
         how="server's chain ends at a root we do not trust"),
    Case("self_signed", "client", "ERR_CERT_UNTRUSTED",
         client_vs_chain("selfsigned"),
         how="server presents a self-signed certificate"),
    Case("expired_cert", "client", "ERR_CERT_EXPIRED",
         client_vs_chain("expired"), how="server's leaf has expired"),
    Case("not_yet_valid_cert", "client", "ERR_CERT_NOT_YET_VALID",
         client_vs_chain("notyet"), how="server's leaf is not valid yet"),
    Case("server_cert_for_clients_only", "client", "ERR_CERT_INVALID",
         client_vs_chain("client_eku"),
         how="server's leaf has extendedKeyUsage clientAuth only"),
    Case("no_ca_loaded", "client", "ERR_CERT_UNTRUSTED", client_no_ca,
         how="CERT_REQUIRED client with no CA loaded"),
    # Our client: the peer refuses us.
    Case("peer_refuses_our_cert", "client", "ERR_PEER_ALERT",
         client_cert_refused_by_peer, alert="unknown_ca",
         how="server requires a client certificate; ours is untrusted"),
    Case("peer_requires_our_cert", "client", "ERR_PEER_ALERT",
         client_without_cert_required_by_peer,
         alert={"1.2": "handshake_failure", "1.3": "certificate_required"},
         how="server requires a client certificate; we send none"),
    Case("peer_refuses_our_suites", "client", "ERR_PEER_ALERT",
         client_suites_refused_by_peer, alert="handshake_failure",
         how="set_ciphers lists disjoint (server: openssl s_server at 1.3)"),
    Case("peer_refuses_our_version", "client", "ERR_NO_SHARED_CIPHER",
         client_version_refused_by_peer, versions=NONE,
         how="we offer TLS 1.2 only, server is TLS 1.3 only "
             "(protocol_version alert)"),
    # Our client: the stream breaks.
    Case("eof_before_server_hello", "client", "ERR_HANDSHAKE_EOF",
         client_via_relay(Cut(0)),
         how="server reads our hello, then FIN"),
    Case("eof_mid_record", "client", "ERR_HANDSHAKE_EOF",
         client_via_relay(Cut(0, 40)),
         how="FIN 40 bytes into the server's first record"),
    Case("eof_after_server_hello", "client", "ERR_HANDSHAKE_EOF",
         client_via_relay(Cut(1)),
         how="FIN after the server's first record"),
    Case("reset_mid_handshake", "client", "ECONNRESET",
         client_via_relay(Cut(1, 0, "rst")),
         how="RST after the server's first record"),
    Case("silent_peer", "client", "ETIMEDOUT",
         client_via_relay(Hold(), timeout=SILENT_TIMEOUT),
         how="server's answer never arrives; our socket timeout 1 s"),
    Case("tampered_handshake_record", "client", "ERR_PROTOCOL",
         client_via_relay(Tamper("handshake")),
         how="one bit of the server's first encrypted record flipped"),
    Case("tampered_data_record", "client", "ERR_PROTOCOL",
         client_via_relay(Tamper("data"), data=True),
         how="one bit of the server's first application data record flipped"),
    Case("garbage_answer", "client", "ERR_PROTOCOL", client_vs_garbage,
         versions=NONE, how="raw server answers our hello with HTTP"),
    Case("read_after_close", "client", "ERR_CLOSED",
         client_after_close(lambda tls: tls.read(1)),
         how="read() after close()"),
    Case("write_after_close", "client", "ERR_CLOSED",
         client_after_close(lambda tls: tls.write(b"x")),
         how="write() after close()"),

    # Our server: the peer refuses our certificate.
    Case("peer_refuses_our_chain", "server", "ERR_PEER_ALERT",
         server_chain_refused_by_peer("untrusted"), alert="unknown_ca",
         how="client does not trust our chain"),
    Case("peer_refuses_our_name", "server", "ERR_PEER_ALERT",
         server_chain_refused_by_peer("wronghost"), alert="bad_certificate",
         how="our certificate does not name the host the client asked for"),
    Case("peer_refuses_our_expired_cert", "server", "ERR_PEER_ALERT",
         server_chain_refused_by_peer("expired"), alert="certificate_expired",
         how="our leaf has expired"),
    Case("our_cert_for_clients_only", "server", "ERR_PEER_ALERT",
         server_chain_refused_by_peer("client_eku"),
         alert="unsupported_certificate",
         how="our leaf has extendedKeyUsage clientAuth only",
         documented={"mbedtls": (
             "ERR_NO_SHARED_CIPHER",
             "mbedtls: a server whose certificate's extended key usage "
             "excludes serverAuth refuses to serve it (ERR_NO_SHARED_CIPHER; "
             "the client gets handshake_failure) instead of letting the "
             "client refuse it (README, mbedTLS notes)")}),
    # Our server: the client's certificate.
    Case("no_peer_cert", "server", "ERR_NO_PEER_CERT", server_requiring_cert(),
         how="CERT_REQUIRED server, client sends no certificate"),
    Case("untrusted_client_cert", "server", "ERR_CERT_UNTRUSTED",
         server_requiring_cert("client_untrusted"),
         how="CERT_REQUIRED server, client's chain ends at another root"),
    Case("client_cert_for_servers_only", "server", "ERR_CERT_INVALID",
         server_requiring_cert("server_ec"),
         how="client's leaf has extendedKeyUsage serverAuth only"),
    Case("no_ca_loaded", "server", "ERR_CERT_UNTRUSTED",
         server_requiring_cert("client", trust=False),
         how="CERT_REQUIRED server with no CA loaded, client sends a "
             "certificate"),
    # Our server: nothing in common.
    Case("no_shared_cipher", "server", "ERR_NO_SHARED_CIPHER",
         server_suites_disjoint,
         how="set_ciphers lists disjoint (client: openssl s_client at 1.3)"),
    Case("no_shared_version", "server", "ERR_NO_SHARED_CIPHER",
         server_version_disjoint, versions=NONE,
         how="we accept TLS 1.2 only, client offers TLS 1.3 only"),
    # Our server: the stream breaks.
    Case("eof_before_client_hello", "server", "ERR_HANDSHAKE_EOF",
         server_via_relay(Cut(0)), how="client connects, then FIN"),
    Case("eof_mid_record", "server", "ERR_HANDSHAKE_EOF",
         server_via_relay(Cut(0, 40)),
         how="FIN 40 bytes into the ClientHello"),
    Case("eof_after_client_hello", "server", "ERR_HANDSHAKE_EOF",
         server_via_relay(Cut(1)), how="FIN after the ClientHello"),
    Case("reset_mid_handshake", "server", "ECONNRESET",
         server_via_relay(Cut(1, 0, "rst")), how="RST after the ClientHello"),
    Case("tampered_handshake_record", "server", "ERR_PROTOCOL",
         server_via_relay(Tamper("handshake")),
         how="one bit of the client's first encrypted record flipped"),
    Case("tampered_data_record", "server", "ERR_PROTOCOL",
         server_via_relay(Tamper("data"), data=True),
         how="one bit of the client's first application data record flipped"),
    Case("garbage_hello", "server", "ERR_PROTOCOL", server_vs_garbage,
         versions=NONE, how="raw client sends an HTTP request"),
    Case("read_after_close", "server", "ERR_CLOSED",
         server_after_close(lambda tls: tls.read(1)),
         how="read() after close()"),
    Case("write_after_close", "server", "ERR_CLOSED",
         server_after_close(lambda tls: tls.write(b"x")),
         how="write() after close()"),
]

needs_tls13 = pytest.mark.skipif(not getattr(ssl, "HAS_TLSv1_3", False),
                                 reason="backend has no TLS 1.3")
VERSION_IDS = {"1.2": "tls12", "1.3": "tls13", None: "any"}


def parameters():
    for case in CASES:
        for tls in case.versions:
            marks = [needs_tls13] if tls == "1.3" else []
            yield pytest.param(case, tls, marks=marks, id="%s-%s-%s" % (
                case.role, case.id, VERSION_IDS[tls]))


def test_table_ids_are_unique():
    ids = [(case.role, case.id) for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case,tls", parameters())
def test_error_parity(harness, observe, difference, case, tls):
    expected, documented = case.expectation()
    if documented:
        difference(documented)
    outcome = case.provoke(harness, tls)
    observe(code_name(outcome))
    print("%s: %s %r" % (ssl.BACKEND, code_name(outcome), outcome))
    assert isinstance(outcome, OSError), (
        "%s: expected %s, got %r" % (ssl.BACKEND, expected, outcome))
    assert outcome.errno == expected_code(expected), (
        "%s: expected %s, got %s %r" % (ssl.BACKEND, expected,
                                        code_name(outcome), outcome))
    if expected.startswith("ERR_"):
        assert_plain_message(outcome)
    alert = case.alert.get(tls)
    if alert and expected == "ERR_PEER_ALERT":
        assert alert in outcome.strerror, outcome.strerror
