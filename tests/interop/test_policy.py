"""Protocol policy on the wire: what we offer, and what we refuse.

The contract: TLS < 1.2, NULL/anon/export/RC4/3DES suites, compression and
renegotiation are never enabled; after set_ciphers(L) only suites in L are
negotiated.  Each test looks at real ClientHello bytes, captured by a raw
loopback listener, so it checks what actually goes on the wire (ours), and
proves that a refusing test's peer really offered the old version or weak
suite (so it cannot pass because the peer offered nothing).

What no tool can offer any more (SSLv3, SSLv2-format hellos, NULL, RC4,
3DES and export suites, DEFLATE) is offered by hand-made ClientHellos
(tests/hostile/rawpeer.py builds them and parses the answer).
"""
import os
import socket
import struct
import sys

import pytest
import ssl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "hostile"))
import rawpeer  # noqa: E402  (tests/hostile/rawpeer.py)

TIMEOUT = 10.0  # as every socket in tests/conftest.py

HANDSHAKE, CLIENT_HELLO = 22, 1
EXT_SUPPORTED_VERSIONS = 43
SCSV = {0x00FF, 0x5600}  # renegotiation-info and fallback signalling values


class ClientHello:
    """The fields of a ClientHello this file checks."""

    def __init__(self, data):
        assert data[0] == HANDSHAKE, "not a handshake record: %r" % data[:8]
        body = data[5:]
        assert body[0] == CLIENT_HELLO, "not a ClientHello"
        pos = 4
        self.legacy_version = struct.unpack_from(">H", body, pos)[0]
        pos += 2 + 32
        pos += 1 + body[pos]  # session id
        n = struct.unpack_from(">H", body, pos)[0]
        self.suites = list(struct.unpack_from(">%dH" % (n // 2), body, pos + 2))
        pos += 2 + n
        self.compressions = list(body[pos + 1:pos + 1 + body[pos]])
        pos += 1 + body[pos]
        self.versions = [self.legacy_version]
        end = pos + 2 + struct.unpack_from(">H", body, pos)[0] if pos < len(body) else pos
        pos += 2
        while pos + 4 <= end:
            kind, size = struct.unpack_from(">HH", body, pos)
            if kind == EXT_SUPPORTED_VERSIONS:
                listed = body[pos + 5:pos + 5 + body[pos + 4]]
                self.versions = list(struct.unpack(">%dH" % (len(listed) // 2), listed))
            pos += 4 + size


def read_client_hello(conn):
    """Reads one whole TLS record (the ClientHello) from conn."""
    conn.settimeout(TIMEOUT)
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack_from(">H", data, 3)[0]:
        chunk = conn.recv(65536)
        assert chunk, "peer closed before a whole ClientHello (%d bytes)" % len(data)
        data += chunk
    return ClientHello(data)


@pytest.fixture
def capture_ours(listen, client_context):
    """capture_ours(ctx=None) -> the ClientHello OUR client sends."""
    def capture(ctx=None):
        listener = listen()
        raw = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        conn, _ = listener.accept()
        try:
            tls = (ctx or client_context()).wrap_socket(
                raw, server_hostname="localhost", do_handshake_on_connect=False)
            tls.setblocking(False)
            assert tls.do_handshake() is None  # the hello went out, no answer
            return read_client_hello(conn)
        finally:
            conn.close()
            raw.close()
    return capture


@pytest.fixture
def capture_peer(listen, peers):
    """capture_peer(extra) -> the ClientHello `openssl s_client extra...` sends."""
    def capture(extra):
        listener = listen()
        peers.openssl_client(listener.getsockname()[1], cafile=None,
                             extra=tuple(extra))
        conn, _ = listener.accept()
        try:
            return read_client_hello(conn)
        finally:
            conn.close()
    return capture


@pytest.fixture
def legacy_openssl(monkeypatch):
    """Peers started in this test ignore Debian's system-wide openssl.cnf
    (MinProtocol = TLSv1.2), so that they can offer what we must refuse.
    Our own process loaded its configuration long before."""
    monkeypatch.setenv("OPENSSL_CONF", os.devnull)


# --------------------------------------------------------------------------
# What we offer
# --------------------------------------------------------------------------

def test_our_client_never_offers_a_version_below_tls12(capture_ours):
    hello = capture_ours()
    assert hello.legacy_version == 0x0303
    assert hello.versions, "no versions offered"
    assert min(hello.versions) >= 0x0303, ["0x%04X" % v for v in hello.versions]
    if ssl.HAS_TLSv1_3:
        assert 0x0304 in hello.versions


def test_our_client_offers_no_compression(capture_ours):
    assert capture_ours().compressions == [0]


def test_our_client_offers_exactly_the_enabled_suites(capture_ours, client_context):
    ctx = client_context()
    names = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
             "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"]
    ids = {0xC02B, 0xCCA8}
    if ssl.HAS_TLSv1_3:
        names.append("TLS_AES_256_GCM_SHA384")
        ids.add(0x1302)
    ctx.set_ciphers(names)
    offered = set(capture_ours(ctx).suites) - SCSV
    assert offered == ids, sorted("0x%04X" % s for s in offered)


def test_our_default_offer_has_no_weak_suite(capture_ours, client_context):
    offered = set(capture_ours().suites) - SCSV
    assert len(offered) == len(client_context().get_ciphers())
    weak = {0x0004, 0x0005, 0x000A, 0xC012, 0x0016, 0x0001, 0x0002, 0x003B,
            0x0034, 0xC018, 0x0018}  # RC4, 3DES, NULL, anon samples
    assert not offered & weak


# --------------------------------------------------------------------------
# What we refuse when a peer offers it
# --------------------------------------------------------------------------

def refused_by_our_server(listen, accept_tls, server_context, peers, extra):
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1], cafile=None,
                                  extra=tuple(extra))
    with pytest.raises(OSError) as info:
        accept_tls(server_context(), listener)
    assert client.wait_exit() != 0, client.describe()
    return info.value


TLS11_ONLY = ("-tls1_1", "-cipher", "ALL:@SECLEVEL=0")


def test_our_server_refuses_a_tls11_client(legacy_openssl, capture_peer, listen,
                                           accept_tls, server_context, peers):
    hello = capture_peer(TLS11_ONLY)
    assert max(hello.versions) == 0x0302, "the peer must really offer TLS 1.1"
    error = refused_by_our_server(listen, accept_tls, server_context, peers,
                                  TLS11_ONLY)
    assert error.errno == ssl.ERR_NO_SHARED_CIPHER, error


# Debian's OpenSSL 3.0 can no longer offer 3DES, RC4 or NULL suites, even at
# security level 0; anonymous key exchange is the weak offer a real peer can
# still make.  (Hand-made hellos with the others belong to the hostile-peer
# tests.)
@pytest.mark.parametrize("suite,suite_id", [
    ("ADH-AES128-GCM-SHA256", 0x00A6),
    ("AECDH-AES128-SHA", 0xC018),
])
def test_our_server_refuses_a_client_offering_only_a_weak_suite(
        legacy_openssl, capture_peer, listen, accept_tls, server_context, peers,
        suite, suite_id):
    extra = ("-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
    offered = set(capture_peer(extra).suites) - SCSV
    assert offered == {suite_id}, sorted("0x%04X" % s for s in offered)
    error = refused_by_our_server(listen, accept_tls, server_context, peers,
                                  extra)
    assert error.errno == ssl.ERR_NO_SHARED_CIPHER, error


# --------------------------------------------------------------------------
# Hand-made ClientHellos: what no tool offers any more
# --------------------------------------------------------------------------
# Each hello goes to OUR server over loopback; the server's first record must not
# be a ServerHello accepting the old version, the weak suite or compression
# (an alert, or nothing, is what a refusal looks like on the wire), and our
# side must fail with the contract's code.

# Weak suites by kind, each with an ECDSA variant where one exists (the
# default test server has an EC key, so only policy can refuse those).
WEAK_SUITES = {
    "NULL": [0xC006, 0xC010, 0x0001, 0x0002, 0x003B],
    "RC4": [0xC007, 0xC011, 0x0004, 0x0005],
    "3DES": [0xC008, 0xC012, 0x000A, 0x0016],
    "export": [0x0003, 0x0006, 0x0008, 0x0014],
    "anon": [0xC015, 0xC018, 0x0018, 0x0034, 0x00A6],
}
ALL_WEAK = set(s for suites in WEAK_SUITES.values() for s in suites)
# Good suites an old-version hello may carry (CBC ones existed before 1.2).
OLD_SUITES = [0xC009, 0xC00A, 0xC013, 0xC014, 0x002F, 0x0035, rawpeer.GOOD_SUITE]


def test_our_client_offers_none_of_the_weak_suites(capture_ours):
    offered = set(capture_ours().suites)
    assert not offered & ALL_WEAK, sorted("0x%04X" % s for s in offered & ALL_WEAK)


@pytest.fixture
def offer_to_our_server(listen, raw_peers, server_context, sockets):
    """offer_to_our_server(hello_bytes) -> (our server's OSError or None,
    rawpeer.Answer with the first record it sent back).  The raw client
    sends the hello, reads ONE record, and closes."""
    def offer(hello):
        listener = listen()

        def script(sock, peer):
            sock.sendall(hello)
            try:
                first = rawpeer.read_record(sock)
            except ConnectionResetError:
                # Our server gave up before reading all of the hello: its
                # close with unread bytes is a RST.  Nothing was accepted.
                first = None
            if first is None:
                return rawpeer.Answer(b"")
            return rawpeer.Answer(rawpeer.record(first[0], first[2], first[1]))

        peer = rawpeer.RawPeer(
            lambda: socket.create_connection(listener.getsockname(),
                                             timeout=TIMEOUT), script)
        raw_peers.append(peer)
        conn, _ = listener.accept()
        sockets.append(conn)
        conn.settimeout(5.0)
        error = None
        try:
            sockets.append(server_context().wrap_socket(conn, server_side=True))
        except OSError as exc:
            error = exc
        conn.close()
        return error, peer.finish()
    return offer


@pytest.fixture
def raw_peers(sockets):
    started = []
    yield started
    rawpeer.close_then_join(sockets, started)


def assert_refused(error, answer, codes):
    assert answer.server_hello is None, "%s accepted: %r" % (ssl.BACKEND, answer)
    assert error is not None, "%s: our server accepted: %r" % (ssl.BACKEND, answer)
    assert error.errno in codes, "%s: %r, %r" % (ssl.BACKEND, error, answer)


@pytest.mark.parametrize("version", [0x0300, 0x0301, 0x0302])
def test_our_server_refuses_a_hand_made_old_version_hello(offer_to_our_server,
                                                          version):
    # SSLv3 hellos had no extensions; TLS 1.0/1.1 ones the usual ECDHE ones.
    extensions = [] if version == 0x0300 else None
    hello = rawpeer.client_hello(OLD_SUITES, version=version,
                                 extensions=extensions)
    error, answer = offer_to_our_server(hello)
    assert_refused(error, answer, {ssl.ERR_NO_SHARED_CIPHER})


SSL2_SPECS = {
    # (version in the SSLv2 header, cipher specs): SSL 2.0 itself with its
    # own kinds, and the old compatibility hello asking for TLS 1.0.
    "ssl2": (0x0002, [0x010080, 0x020080, 0x0700C0, 0x060040]),
    "tls10_in_ssl2_format": (0x0301, [0x00C009, 0x00C013, 0x00002F, 0x00000A]),
}


# The contract names no code for an SSLv2-format hello, and the libraries
# differ (observed): ERR_PROTOCOL on openssl ("ssl2": unknown protocol) and
# mbedtls (both); ERR_NO_SHARED_CIPHER on gnutls, bearssl and openssl
# ("tls10_in_ssl2_format").  Both mean "refused"; anything else fails.
@pytest.mark.parametrize("kind", sorted(SSL2_SPECS))
def test_our_server_refuses_an_sslv2_format_hello(offer_to_our_server, kind):
    version, specs = SSL2_SPECS[kind]
    error, answer = offer_to_our_server(rawpeer.sslv2_client_hello(specs, version))
    assert_refused(error, answer, {ssl.ERR_NO_SHARED_CIPHER, ssl.ERR_PROTOCOL})


@pytest.mark.parametrize("kind", sorted(WEAK_SUITES))
def test_our_server_refuses_a_hello_with_only_weak_suites(offer_to_our_server,
                                                          kind):
    error, answer = offer_to_our_server(rawpeer.client_hello(WEAK_SUITES[kind]))
    assert_refused(error, answer, {ssl.ERR_NO_SHARED_CIPHER})


def test_our_server_picks_the_good_suite_among_weak_ones(offer_to_our_server):
    suites = sorted(ALL_WEAK) + [rawpeer.GOOD_SUITE]
    error, answer = offer_to_our_server(rawpeer.client_hello(suites))
    hello = answer.server_hello
    assert hello is not None, "%s: %r, %r" % (ssl.BACKEND, error, answer)
    assert (hello.version, hello.suite, hello.compression) == (
        0x0303, rawpeer.GOOD_SUITE, 0), hello


def test_our_server_refuses_a_hello_offering_only_deflate(offer_to_our_server):
    # A ClientHello must offer null compression (RFC 5246 7.4.1.2).  Observed
    # refusals: ERR_PROTOCOL on openssl (decode_error) and gnutls
    # (illegal_parameter), ERR_NO_SHARED_CIPHER on bearssl
    # (handshake_failure).
    hello = rawpeer.client_hello([rawpeer.GOOD_SUITE], compressions=(1,))
    error, answer = offer_to_our_server(hello)
    assert_refused(error, answer, {ssl.ERR_PROTOCOL, ssl.ERR_NO_SHARED_CIPHER})


def test_our_server_answers_deflate_and_null_with_null(offer_to_our_server):
    hello = rawpeer.client_hello([rawpeer.GOOD_SUITE], compressions=(1, 0))
    error, answer = offer_to_our_server(hello)
    assert answer.server_hello is not None, "%s: %r, %r" % (ssl.BACKEND, error,
                                                            answer)
    assert answer.server_hello.compression == 0, answer.server_hello
    assert answer.server_hello.suite == rawpeer.GOOD_SUITE, answer.server_hello
