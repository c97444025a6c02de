"""The cross-backend interop matrix (issue 6): the process under test (its
`ssl` is mpssl on one backend, ssl.BACKEND) as client and as server against

  - mpssl on each of the four backends, in a separate interpreter on that
    backend's build (tests/peers/mpssl_peer.py).  scripts/test.sh runs this
    file once per backend, so each of the 16 client x server pairs of
    backends runs twice, once with each end as the process under test;
  - `openssl s_server` / `s_client`, `gnutls-serv` / `gnutls-cli`, and
    CPython's own ssl (tests/peers/stdlib_peer.py).

Not the full cross product (suites x sizes x key types x client
certificates x peers would be thousands of connections per backend, and
the suite runs eight times in CI), but, per peer and direction:
  - each suite every pair can agree on (backends.md): the six TLS 1.2
    suites and, where both ends have TLS 1.3, the three TLS 1.3 suites;
    ECDSA suites with the P-256 server certificate, RSA ones with the
    RSA-2048 one; 16 KiB + 1 bytes each way (two records).  One end forces
    the suite (set_ciphers() / the tool's option) and the other offers or
    accepts its defaults: against mpssl peers our end forces it (so, over
    the four runs, every backend's restricted offer and restricted choice
    meets every other backend's defaults), and the tools force it against
    our defaults (CPython's ssl cannot restrict TLS 1.3 suites: there our
    end does);
  - each transfer size (1 B, 16 KiB + 1, 1 MiB) with the default suites,
    on both server key types;
  - each client-certificate mode of the server (CERT_NONE, CERT_OPTIONAL
    with and without a client certificate, CERT_REQUIRED), 1 B each way.

Every case checks that both ends report the same version and suite (the
forced one, or TLS 1.3 when both have it), the SHA-256 of the data each
way, which side's certificate the server saw, and a clean close.

A clean close means close_notify seen by both sides, which mpssl cannot
tell from its API alone: its read returns b'' at close_notify and at a
bare FIN alike, and its close() sends close_notify and closes the socket
at once.  So both ends run TLS over a duplicate of their TCP socket
(mpssl_peer.py does the same): the side that closes first keeps the
connection open after its close_notify, which makes the other side's b''
provably a close_notify (transport_open()), and then reads the answer raw
from the original socket: exactly one alert record, then the FIN
(read_close_answer()).  The tools prove their half in their own ways; see
each Peer class.
"""

import collections
import os
import shutil
import socket

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from matrix import SIZES, VERSION_NAMES, server_files  # noqa: I100
import peers as peer_programs
from peers import (exchange_with_tool, gnutls_summary, openssl_summary,
                   read_close_answer, sha256_hex, stderr_errors, text_payload,
                   transport_open)
from tlsio import recv_exactly

SOCKET_TIMEOUT = 10.0    # as tests/conftest.py gives every socket it makes
SUITE_SIZE = 16385       # more than one record
AUTH_SIZE = 1

Suite = collections.namedtuple("Suite", "iana openssl gnutls key tls")

# The suites all four libraries share (backends.md), with the names the
# tools give them and the server key type they need.
SUITES = [
    Suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
          "ECDHE-ECDSA-AES128-GCM-SHA256", "AES-128-GCM", "ec", "1.2"),
    Suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
          "ECDHE-ECDSA-AES256-GCM-SHA384", "AES-256-GCM", "ec", "1.2"),
    Suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
          "ECDHE-RSA-AES128-GCM-SHA256", "AES-128-GCM", "rsa", "1.2"),
    Suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
          "ECDHE-RSA-AES256-GCM-SHA384", "AES-256-GCM", "rsa", "1.2"),
    Suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
          "ECDHE-RSA-CHACHA20-POLY1305", "CHACHA20-POLY1305", "rsa", "1.2"),
    Suite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
          "ECDHE-ECDSA-CHACHA20-POLY1305", "CHACHA20-POLY1305", "ec", "1.2"),
    # TLS 1.3 suites do not depend on the key type: both are used.
    Suite("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256",
          "AES-128-GCM", "ec", "1.3"),
    Suite("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384",
          "AES-256-GCM", "rsa", "1.3"),
    Suite("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
          "CHACHA20-POLY1305", "ec", "1.3"),
]
# TLS 1.3 suites skip inside the test (same reason as matrix.needs_tls13),
# not through a mark, so that pair() records the pair of a skipped case too.
SUITE_PARAMS = [pytest.param(s, id=s.iana) for s in SUITES]
BY_OPENSSL_NAME = {s.openssl: s.iana for s in SUITES}

# (server verify mode, whether the client has a certificate to send)
AUTH_MODES = [
    pytest.param("none", True, id="none"),          # not asked for it
    pytest.param("optional", True, id="optional-cert"),
    pytest.param("optional", False, id="optional-nocert"),
    pytest.param("required", True, id="required"),
]
VERIFY_MODES = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                "required": ssl.CERT_REQUIRED}
# The same modes as the `verify=` of PeerGroup.openssl_server/gnutls_server.
TOOL_VERIFY = {"none": None, "optional": "request", "required": "require"}

# The implementations on the other end (mpssl ones by backend name).
SERVER_PEERS = [pytest.param(b, id="mpssl-" + b)
                for b in peer_programs.BACKENDS] + [
    "s_server", "gnutls-serv", "stdlib"]
CLIENT_PEERS = [pytest.param(b, id="mpssl-" + b)
                for b in peer_programs.BACKENDS] + [
    "s_client", "gnutls-cli", "stdlib"]


class Case(collections.namedtuple(
        "Case", "suite key size auth client_cert closer",
        defaults=(None, "ec", SUITE_SIZE, "none", False, "we_close"))):
    """One connection: the forced Suite (None: defaults), the server key
    type, bytes each way, the server's verify mode, whether the client has
    a certificate, and who closes first ("we_close" / "peer_closes")."""

    @property
    def server_sees_cert(self):
        return self.auth != "none" and self.client_cert

    @property
    def server_verify_result(self):
        """What an mpssl server's verify_result() must say (the same on
        every backend): None when it asked for nothing."""
        if self.auth == "none":
            return None
        return 0 if self.client_cert else ssl.ERR_NO_PEER_CERT


View = collections.namedtuple("View", "version suite peer_cert")


def gnutls_iana(summary):
    """The IANA name of the suite a gnutls_summary() describes."""
    key = "ec" if summary["signature"].startswith("ECDSA") else "rsa"
    for s in SUITES:
        if (VERSION_NAMES[s.tls] == summary["version"]
                and s.gnutls == summary["cipher"]
                and (s.tls == "1.3" or s.key == key)):
            return s.iana
    return "unknown to this table: %r" % (summary,)


def gnutls_priority(suite):
    """A GnuTLS priority string allowing exactly `suite`."""
    kx = "" if suite.tls == "1.3" else (
        ":+ECDHE-ECDSA" if suite.key == "ec" else ":+ECDHE-RSA")
    return ("NONE:+VERS-TLS%s%s:+%s:+AEAD:+SIGN-ALL:+GROUP-ALL:+COMP-NULL"
            % (suite.tls, kx, suite.gnutls))


# ----------------------------------------------------------------------
# Our end
# ----------------------------------------------------------------------

def our_view(tls):
    """Our end's view, taken before close() (cipher() is None after it)."""
    version, suite = tls.version(), tls.cipher()
    assert suite[1] == version, suite
    return View(version, suite[0], tls.getpeercert(binary_form=True)
                is not None)


def we_close_first(tls, raw):
    """Our close_notify goes out through the duplicate that TLS runs over;
    the peer's answer is read from `raw`: one alert record, then FIN."""
    tls.close()
    clean, detail = read_close_answer(raw)
    raw.close()
    assert clean, "the peer did not answer our close_notify: " + detail


def peer_closed_first(tls, raw):
    """The peer sent close_notify and keeps its end open until we answer:
    our read must return b'' with the connection still open (so not a
    FIN); then our close() answers."""
    tail = tls.recv(1)
    assert tail == b"", "expected end of stream, read %r" % tail
    assert transport_open(raw), "the peer's FIN came with its close_notify"
    tls.close()
    raw.close()


# ----------------------------------------------------------------------
# The other end, one class per kind of program
# ----------------------------------------------------------------------

class Peer:
    """One peer program for one Case: starts it, converses, closes, and
    reports its view of the connection.  `name` is what pair() records."""

    has_tls13 = True

    def forces(self, suite):
        """Whether this peer restricts itself to `suite` (else our end
        does, and this peer runs with its defaults)."""
        return True

    def __init__(self, group, pki, case, name):
        self.group, self.pki, self.case, self.name = group, pki, case, name
        self.proc = None

    def server_cert(self):
        """(chain, key) of the server certificate for the case."""
        _, key, chain = server_files(self.pki, self.case.key)
        return chain, key

    def client_cert(self):
        """(chain, key) the client offers, or (None, None)."""
        if self.case.client_cert:
            return self.pki.client_chain, self.pki.client_key
        return None, None

    def connection(self, connect):
        """A peer server: a TCP connection to it."""
        return connect(self.proc.addr)

    def after_handshake(self):
        """Called once our handshake completed."""

    def describe(self):
        return self.proc.describe() if self.proc else "(not started)"


class JsonPeer(Peer):
    """A peer speaking stdlib_peer.py's JSON lines (mpssl_peer.py too):
    it reads what we send, then sends as much, each side hashing; it
    proves a clean close itself (see the peer programs' "Close")."""

    role = None

    def common_args(self):
        close = {"we_close": "wait", "peer_closes": "first"}[self.case.closer]
        size = self.case.size
        return ["--first", "recv", "--recv", size, "--send", size,
                "--close", close]

    def start_server(self):
        chain, key = self.server_cert()
        args = ["--cert", chain, "--key", key, "--verify", self.case.auth]
        if self.case.auth != "none":
            args += ["--cafile", self.pki.ca_cert]
        self.role = "server"
        self.proc = self.launch_server(args + self.common_args())

    def start_client(self, port):
        args = ["--cafile", self.pki.ca_cert]
        chain, key = self.client_cert()
        if chain:
            args += ["--cert", chain, "--key", key]
        self.role = "client"
        self.proc = self.launch_client(port, args + self.common_args())

    def after_handshake(self):
        self.handshake = self.proc.wait_event("handshake")

    def exchange(self, tls):
        size = self.case.size
        ours = os.urandom(size)
        tls.sendall(ours)
        received = self.proc.wait_event("received")
        assert (received["n"], received["sha256"]) == (size, sha256_hex(ours))
        got = recv_exactly(tls, size)
        sent = self.proc.wait_event("sent")
        assert (len(got), sha256_hex(got)) == (size, sent["sha256"])

    def close(self, tls, raw):
        if self.case.closer == "we_close":
            we_close_first(tls, raw)
        else:
            peer_closed_first(tls, raw)
        closed = self.proc.wait_event("closed")
        assert closed["clean"], closed["detail"]
        self.proc.wait_event("done")
        assert self.proc.wait_exit() == 0, self.describe()


class MpsslPeer(JsonPeer):
    """mpssl on another (or the same) backend's build."""

    def __init__(self, group, pki, case, backend):
        super().__init__(group, pki, case, backend)
        self.backend = backend
        self.has_tls13 = peer_programs.mpssl_info(backend)["has_tls13"]

    def forces(self, suite):
        """Never: our end forces the suite; this backend's own forcing is
        covered when it is the process under test."""
        return False

    def launch_server(self, args):
        return self.group.mpssl_server(self.backend, *args)

    def launch_client(self, port, args):
        return self.group.mpssl_client(self.backend, port, *args)

    def view(self):
        hs = self.handshake
        assert hs["backend"] == self.backend, hs
        if self.role == "server":
            assert hs["verify_result"] == self.case.server_verify_result, hs
        return View(hs["version"], hs["cipher"], hs["peer_cert"])


class StdlibPeer(JsonPeer):
    """CPython's ssl.  It cannot restrict TLS 1.3 suites (no API in 3.11):
    those are forced by our end alone."""

    def forces(self, suite):
        return suite.tls == "1.2"

    def common_args(self):
        args = super().common_args()
        suite = self.case.suite
        if suite and self.forces(suite):
            args += ["--tls", "1.2", "--ciphers", suite.openssl]
        return args

    def launch_server(self, args):
        return self.group.stdlib_server(*args)

    def launch_client(self, port, args):
        return self.group.stdlib_client(port, *args)

    def view(self):
        hs = self.handshake
        return View(hs["version"], BY_OPENSSL_NAME.get(hs["cipher"],
                                                       hs["cipher"]),
                    hs["peer_subject"] is not None)


class OpensslTool(Peer):
    """`openssl s_server` / `s_client` with -brief (summary on stderr).
    We close first (through our duplicate): the tool answers with its
    close_notify and exits 0 without "unexpected eof" only if ours came.
    (Closing first itself, it sends close_notify and its FIN together,
    so our b'' could not be told from a bare FIN.)"""

    def tls_args(self):
        suite = self.case.suite
        if suite is None:
            return {}
        if suite.tls == "1.3":
            return {"tls": "1.3", "ciphersuites": suite.iana}
        return {"tls": "1.2", "cipher": suite.openssl}

    def start_server(self):
        leaf, key, _ = server_files(self.pki, self.case.key)
        verify = TOOL_VERIFY[self.case.auth]
        self.proc = self.group.openssl_server(
            leaf, key, chain=self.pki.int_cert, verify=verify,
            cafile=self.pki.ca_cert if verify else None, extra=["-brief"],
            **self.tls_args())

    def start_client(self, port):
        cert = key = chain = None
        if self.case.client_cert:
            cert, key, chain = (self.pki.client_cert, self.pki.client_key,
                                self.pki.int_cert)
        self.proc = self.group.openssl_client(
            port, cafile=self.pki.ca_cert, cert=cert, key=key, chain=chain,
            extra=["-brief"], **self.tls_args())

    def exchange(self, tls):
        exchange_with_tool(tls, self.proc, self.case.size)

    def close(self, tls, raw):
        we_close_first(tls, raw)
        assert self.proc.wait_exit() == 0, self.describe()
        assert stderr_errors(self.proc.stderr_text()) == [], self.describe()
        assert self.proc.stdout_summary()[0] == self.case.size

    def view(self):
        summary = openssl_summary(self.proc.stderr_text())
        assert summary, "no -brief summary: " + self.describe()
        return View(summary["version"],
                    BY_OPENSSL_NAME.get(summary["cipher"], summary["cipher"]),
                    summary["peer_cert"])


class GnutlsCli(Peer):
    """`gnutls-cli`, summary in its log.  It proves one half of a close
    per order: when we close first it reports "Peer has closed the GnuTLS
    connection" and exits 0 (a bare FIN makes it exit 1) but sends no
    close_notify back; when it closes first (stdin EOF) it keeps its end
    open, so our b'' is its close_notify, but it would take a FIN from us
    as well.  The matrix uses both orders."""

    def start_client(self, port):
        chain, key = self.client_cert()
        suite = self.case.suite
        self.proc = self.group.gnutls_client(
            port, cafile=self.pki.ca_cert, cert=chain, key=key,
            priority=gnutls_priority(suite) if suite else None)

    def exchange(self, tls):
        exchange_with_tool(tls, self.proc, self.case.size)

    def close(self, tls, raw):
        if self.case.closer == "we_close":
            tls.close()
            raw.close()
            assert self.proc.wait_exit() == 0, self.describe()
            assert "Peer has closed the GnuTLS connection" in \
                self.proc.log_text(), self.describe()
        else:
            self.proc.close_stdin()
            peer_closed_first(tls, raw)
            assert self.proc.wait_exit() == 0, self.describe()
        assert self.proc.stdout_summary()[0] == self.case.size

    def view(self):
        summary = gnutls_summary(self.proc.log_text())
        assert summary, "no Description in the log: " + self.describe()
        return View(summary["version"], gnutls_iana(summary),
                    summary["peer_cert"])


class GnutlsServ(Peer):
    """`gnutls-serv --echo` (PeerGroup.gnutls_server: in a private network
    namespace, connection made for us).  It has no stdin mode, so data is
    hex text in lines, sent a chunk at a time and checked as it comes back
    (one checksum covers both ways); its summary is on stdout.  We close
    first: it answers with close_notify only when ours came (after a bare
    FIN it reports "Error while receiving data" and sends nothing)."""

    CHUNK = 16384    # a multiple of the payload's line length

    def start_server(self):
        chain, key = self.server_cert()
        suite = self.case.suite
        self.proc = self.group.gnutls_server(
            chain, key, cafile=self.pki.ca_cert,
            verify=TOOL_VERIFY[self.case.auth],
            priority=gnutls_priority(suite) if suite else None)

    def connection(self, connect):
        conn = self.proc.connection
        conn.settimeout(SOCKET_TIMEOUT)
        return conn

    def exchange(self, tls):
        """Each chunk ends with a newline, so the server echoes all of it
        before we send the next one (it stops reading while its answer is
        pending)."""
        data = text_payload(self.case.size)
        back = bytearray()
        for at in range(0, len(data), self.CHUNK):
            piece = data[at:at + self.CHUNK]
            tls.sendall(piece)
            back += recv_exactly(tls, len(piece))
        assert (len(back), sha256_hex(back)) == (len(data), sha256_hex(data))

    def close(self, tls, raw):
        we_close_first(tls, raw)
        self.proc.stop()     # it serves on; its output is complete now
        assert "Error" not in self.proc.stderr_text(), self.describe()

    def view(self):
        summary = gnutls_summary(self.proc.stdout_text())
        assert summary, "no Description on stdout: " + self.describe()
        return View(summary["version"], gnutls_iana(summary),
                    summary["peer_cert"])


TOOLS = {"s_server": (OpensslTool, "openssl"),
         "s_client": (OpensslTool, "openssl"),
         "gnutls-serv": (GnutlsServ, "gnutls-serv"),
         "gnutls-cli": (GnutlsCli, "gnutls-cli"),
         "stdlib": (StdlibPeer, None)}


@pytest.fixture
def make_peer(peers, pki):
    """make_peer(name, case) -> a Peer, or the test skips (or fails) when
    that peer cannot run here: a missing build of another backend skips
    unless MPSSL_REQUIRE_PEERS=1 (scripts/test.sh), which makes it fail."""
    def make(name, case):
        if name in peer_programs.BACKENDS:
            if not peer_programs.mpssl_build_exists(name):
                why = ("build/cpython-%s not built (scripts/build.sh "
                       "cpython-%s)" % (name, name))
                if os.environ.get("MPSSL_REQUIRE_PEERS") == "1":
                    pytest.fail(why + " and MPSSL_REQUIRE_PEERS=1")
                pytest.skip(why)
            peer = MpsslPeer(peers, pki, case, name)
        else:
            cls, program = TOOLS[name]
            if program and shutil.which(program) is None:
                pytest.skip("%s not installed" % program)
            if name == "gnutls-serv" and peer_programs.private_netns_error():
                pytest.skip("gnutls-serv listens on every interface and can "
                            "only run in a private network namespace: "
                            + peer_programs.private_netns_error())
            peer = cls(peers, pki, case, name)
        if case.suite and case.suite.tls == "1.3" and not peer.has_tls13:
            pytest.skip("peer %s has no TLS 1.3 (HAS_TLSv1_3 is False on "
                        "its build)" % name)
        return peer
    return make


def skip_unless_we_have(case):
    """Our end's capabilities, as matrix.needs_tls13 words it."""
    if case.suite and case.suite.tls == "1.3" and not getattr(
            ssl, "HAS_TLSv1_3", False):
        pytest.skip("backend has no TLS 1.3")


# ----------------------------------------------------------------------
# One connection, either way round
# ----------------------------------------------------------------------

@pytest.fixture
def wrap_dup(sockets):
    """wrap_dup(ctx, raw, **kw): OUR SSLSocket over a duplicate of `raw`,
    so that closing it leaves the connection open (see the docstring at
    the top); both are closed at teardown."""
    def wrap(ctx, raw, **kwargs):
        sockets.append(raw)
        dup = raw.dup()
        try:
            tls = ctx.wrap_socket(dup, **kwargs)
        except BaseException:
            dup.close()
            raise
        sockets.append(tls)
        return tls
    return wrap


def expected_version(case, peer):
    if case.suite:
        return VERSION_NAMES[case.suite.tls]
    both = getattr(ssl, "HAS_TLSv1_3", False) and peer.has_tls13
    return "TLSv1.3" if both else "TLSv1.2"


def check_agreement(ours, theirs, case, peer):
    """Both ends negotiated the same version and suite, the expected ones."""
    assert ours.version == expected_version(case, peer), ours
    if case.suite:
        assert ours.suite == case.suite.iana, ours
    assert (theirs.version, theirs.suite) == (ours.version, ours.suite), (
        "we negotiated %s %s, the peer %s reports %s %s\n%s"
        % (ours.version, ours.suite, peer.name, theirs.version, theirs.suite,
           peer.describe()))


def converse(peer, tls, raw, case):
    """After our handshake: data both ways, the close, and both views."""
    ours = our_view(tls)
    peer.after_handshake()
    peer.exchange(tls)
    peer.close(tls, raw)
    theirs = peer.view()
    check_agreement(ours, theirs, case, peer)
    return ours, theirs


@pytest.fixture
def as_client(make_peer, connect, wrap_dup, client_context, pair):
    """as_client(peer_name, case) -> (our View, the peer's View): our
    client against the peer as server, one whole conversation."""
    def run(name, case):
        pair(ssl.BACKEND, name)
        skip_unless_we_have(case)
        peer = make_peer(name, case)
        chain, key = peer.client_cert()
        ctx = client_context(chain=chain, key=key)
        if case.suite and not peer.forces(case.suite):
            ctx.set_ciphers([case.suite.iana])
        peer.start_server()
        raw = peer.connection(connect)
        tls = wrap_dup(ctx, raw, server_hostname="localhost")
        return converse(peer, tls, raw, case)
    return run


@pytest.fixture
def as_server(make_peer, listen, wrap_dup, server_context, pki, pair):
    """as_server(peer_name, case) -> (our View, the peer's View, our
    verify_result()): our server against the peer as client."""
    def run(name, case):
        pair(name, ssl.BACKEND)
        skip_unless_we_have(case)
        peer = make_peer(name, case)
        _, key, chain = server_files(pki, case.key)
        ctx = server_context(chain, key, verify_mode=VERIFY_MODES[case.auth],
                             cafile=pki.ca_cert if case.auth != "none"
                             else None)
        if case.suite and not peer.forces(case.suite):
            ctx.set_ciphers([case.suite.iana])
        listener = listen()
        peer.start_client(listener.getsockname()[1])
        raw, _ = listener.accept()
        raw.settimeout(SOCKET_TIMEOUT)
        tls = wrap_dup(ctx, raw, server_side=True)
        verify_result = tls.verify_result()
        ours, theirs = converse(peer, tls, raw, case)
        return ours, theirs, verify_result
    return run


# ----------------------------------------------------------------------
# Every suite
# ----------------------------------------------------------------------

@pytest.mark.parametrize("suite", SUITE_PARAMS)
@pytest.mark.parametrize("peer", SERVER_PEERS)
def test_our_client_negotiates_each_shared_suite(as_client, peer, suite):
    as_client(peer, Case(suite=suite, key=suite.key))


@pytest.mark.parametrize("suite", SUITE_PARAMS)
@pytest.mark.parametrize("peer", CLIENT_PEERS)
def test_our_server_negotiates_each_shared_suite(as_server, peer, suite):
    as_server(peer, Case(suite=suite, key=suite.key))


# ----------------------------------------------------------------------
# Every size, default suites, both key types (both closing orders)
# ----------------------------------------------------------------------

CLOSER_BY_KEY = {"ec": "we_close", "rsa": "peer_closes"}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("peer", SERVER_PEERS)
def test_our_client_transfers_each_size(as_client, peer, key_type, size):
    as_client(peer, Case(key=key_type, size=size,
                         closer=CLOSER_BY_KEY[key_type]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("peer", CLIENT_PEERS)
def test_our_server_transfers_each_size(as_server, peer, key_type, size):
    as_server(peer, Case(key=key_type, size=size,
                         closer=CLOSER_BY_KEY[key_type]))


# ----------------------------------------------------------------------
# Every client-certificate mode
# ----------------------------------------------------------------------

@pytest.mark.parametrize("auth,client_cert", AUTH_MODES)
@pytest.mark.parametrize("peer", SERVER_PEERS)
def test_peer_server_client_cert_modes_with_our_client(as_client, peer, auth,
                                                       client_cert):
    case = Case(auth=auth, client_cert=client_cert, size=AUTH_SIZE,
                closer="peer_closes")
    _, theirs = as_client(peer, case)
    assert theirs.peer_cert == case.server_sees_cert


@pytest.mark.parametrize("auth,client_cert", AUTH_MODES)
@pytest.mark.parametrize("peer", CLIENT_PEERS)
def test_our_server_client_cert_modes_with_peer_client(as_server, peer, auth,
                                                       client_cert):
    case = Case(auth=auth, client_cert=client_cert, size=AUTH_SIZE,
                closer="peer_closes")
    ours, _, verify_result = as_server(peer, case)
    assert ours.peer_cert == case.server_sees_cert
    assert verify_result == case.server_verify_result


# ----------------------------------------------------------------------
# The close checks are not vacuous
# ----------------------------------------------------------------------

@pytest.fixture
def stdlib_aborting_server(peers, pki, connect, wrap_dup, client_context,
                           pair):
    """Factory: our client SSLSocket and its raw socket, connected to a
    stdlib server that sends 1 byte and then closes TCP without
    close_notify (--close abort)."""
    def start():
        pair(ssl.BACKEND, "stdlib")
        server = peers.stdlib_server("--cert", pki.server_ec_chain,
                                     "--key", pki.server_ec_key,
                                     "--send", 1, "--close", "abort")
        raw = connect(server.addr)
        tls = wrap_dup(client_context(), raw, server_hostname="localhost")
        assert recv_exactly(tls, 1) and server.wait_event("done")
        return tls, raw
    return start


def test_bare_fin_from_the_peer_fails_our_close_checks(stdlib_aborting_server):
    tls, raw = stdlib_aborting_server()
    with pytest.raises(AssertionError, match="FIN came with"):
        peer_closed_first(tls, raw)
    tls, raw = stdlib_aborting_server()
    with pytest.raises(AssertionError, match="did not answer"):
        we_close_first(tls, raw)


@pytest.mark.parametrize("mode", ["wait", "first"])
def test_bare_fin_from_us_is_unclean_for_mpssl_peer(make_peer, peers, pki,
                                                    connect, wrap_dup,
                                                    client_context, pair,
                                                    mode):
    """mpssl_peer.py's own proof: our FIN without close_notify, before
    (wait) or after (first) its close_notify, is reported unclean."""
    pair(ssl.BACKEND, ssl.BACKEND)
    make_peer(ssl.BACKEND, Case())     # skips (or fails) without the build
    server = peers.mpssl_server(ssl.BACKEND, "--cert", pki.server_ec_chain,
                                "--key", pki.server_ec_key, "--close", mode)
    raw = connect(server.addr)
    tls = wrap_dup(client_context(), raw, server_hostname="localhost")
    server.wait_event("handshake")
    if mode == "first":
        assert tls.recv(1) == b""
    raw.shutdown(socket.SHUT_RDWR)     # the FIN goes first
    tls.close()
    closed = server.wait_event("closed")
    assert not closed["clean"], closed
