"""Verification: client-side matrix (chain, dates, names), verify modes,
SNI, and client certificates on the server side.  Error codes are exact."""

import socket
import ssl

import pytest

LIBRARY_CONSTANT_MARKERS = ("X509_V_ERR", "MBEDTLS_ERR", "GNUTLS_E_", "BR_ERR",
                            "SSL_R_", "SSL_ERROR_")

OK = 0
# (server chain, hostname the client asks for, expected result, family)
CLIENT_MATRIX = [
    ("server_rsa", "localhost", OK),
    ("server_ec", "localhost", OK),
    ("server_ec", "LocalHost", OK),                  # case-insensitive
    ("server_ec", "localhost.", OK),                 # trailing dot ignored
    ("server_ec", "127.0.0.1", OK),                  # IP SAN
    ("server_rsa", "127.0.0.1", OK),
    ("server_ec", "127.0.0.2", "ERR_HOSTNAME_MISMATCH"),
    ("server_ec", "otherhost", "ERR_HOSTNAME_MISMATCH"),
    ("server_ec", "sub.localhost", "ERR_HOSTNAME_MISMATCH"),
    ("ip_only", "127.0.0.1", OK),
    ("ip_only", "localhost", "ERR_HOSTNAME_MISMATCH"),
    ("wildcard", "a.example.test", OK),
    ("wildcard", "Www.Example.TEST", OK),
    ("wildcard", "a.b.example.test", "ERR_HOSTNAME_MISMATCH"),   # not across dots
    ("wildcard", "example.test", "ERR_HOSTNAME_MISMATCH"),       # not the bare domain
    ("cn_only", "localhost", OK),                    # CN used only without SAN
    ("cn_only", "otherhost", "ERR_HOSTNAME_MISMATCH"),
    ("cn_mismatch", "localhost", "ERR_HOSTNAME_MISMATCH"),  # CN ignored with SAN
    ("cn_mismatch", "other.example", OK),
    ("wronghost", "localhost", "ERR_HOSTNAME_MISMATCH"),
    ("wronghost", "other.example", OK),
    ("expired", "localhost", "ERR_CERT_EXPIRED"),
    ("notyet", "localhost", "ERR_CERT_NOT_YET_VALID"),
    ("selfsigned", "localhost", "ERR_CERT_UNTRUSTED"),
    ("untrusted", "localhost", "ERR_CERT_UNTRUSTED"),
]
MATRIX_IDS = ["%s-%s" % (c, h) for c, h, _ in CLIENT_MATRIX]


def code(expected):
    return expected if expected == OK else getattr(ssl, expected)


def chain_and_key(pki, name):
    if name == "selfsigned":
        return pki.selfsigned_cert, pki.selfsigned_key
    return getattr(pki, name + "_chain"), getattr(pki, name + "_key")


def assert_plain_message(exc, *words):
    assert isinstance(exc.strerror, str) and exc.strerror
    for marker in LIBRARY_CONSTANT_MARKERS:
        assert marker not in exc.strerror
    for word in words:
        assert word in exc.strerror.lower(), (word, exc.strerror)


def round_trip(tls, data=b"ping"):
    tls.write(data)
    assert tls.read(len(data)) == data


# --------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------

@pytest.mark.parametrize("chain,hostname,expected", CLIENT_MATRIX, ids=MATRIX_IDS)
def test_client_cert_required_verdict(pki, tls_pair, server_context, chain, hostname,
                                      expected):
    server = server_context(*chain_and_key(pki, chain))
    if expected == OK:
        tls, _ = tls_pair(server_ctx=server, server_hostname=hostname)
        assert tls.verify_result() == 0
        assert tls.getpeercert()["subject"]
        round_trip(tls)
    else:
        with pytest.raises(OSError) as info:
            tls_pair(server_ctx=server, server_hostname=hostname)
        assert info.value.errno == code(expected)
        assert_plain_message(info.value)


@pytest.mark.parametrize("chain,hostname,expected", CLIENT_MATRIX, ids=MATRIX_IDS)
def test_client_cert_optional_records_verdict_and_connects(
        pki, tls_pair, server_context, client_context, chain, hostname, expected):
    tls, _ = tls_pair(server_ctx=server_context(*chain_and_key(pki, chain)),
                      client_ctx=client_context(verify_mode=ssl.CERT_OPTIONAL),
                      server_hostname=hostname)
    assert tls.verify_result() == code(expected)
    leaf = chain_and_key(pki, chain)[0]
    assert tls.getpeercert(binary_form=True) == pki.der(leaf)
    if expected == OK:
        assert tls.getpeercert()["subject"]
    else:
        assert tls.getpeercert() == {}
    round_trip(tls)


@pytest.mark.parametrize("chain", ["wronghost", "expired", "notyet", "untrusted",
                                   "selfsigned"])
def test_client_cert_none_connects_without_verifying(pki, tls_pair, server_context,
                                                     client_context, chain):
    tls, _ = tls_pair(server_ctx=server_context(*chain_and_key(pki, chain)),
                      client_ctx=client_context(verify_mode=ssl.CERT_NONE))
    assert tls.verify_result() is None
    assert tls.getpeercert() == {}
    assert tls.getpeercert(binary_form=True) == pki.der(chain_and_key(pki, chain)[0])
    round_trip(tls)


def test_ipv6_literal_matches_ip_san(ipv6, tls_pair):
    tls, _ = tls_pair(family=ipv6, server_hostname="::1")
    assert tls.verify_result() == 0
    round_trip(tls)


def test_ipv6_literal_not_in_san_is_a_mismatch(ipv6, pki, tls_pair, server_context):
    with pytest.raises(OSError) as info:
        tls_pair(server_ctx=server_context(pki.ip_only_chain, pki.ip_only_key),
                 family=ipv6, server_hostname="::1")
    assert info.value.errno == ssl.ERR_HOSTNAME_MISMATCH


def test_expired_error_message_names_the_reason(pki, tls_pair, server_context):
    with pytest.raises(OSError) as info:
        tls_pair(server_ctx=server_context(pki.expired_chain, pki.expired_key))
    assert_plain_message(info.value, "expired")


def test_cert_required_without_any_ca_fails_naming_load_verify_locations(
        tls_pair, client_context):
    with pytest.raises(OSError) as info:
        tls_pair(client_ctx=client_context(trust=False))
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED
    assert "load_verify_locations" in info.value.strerror


def test_cert_required_without_any_ca_fails_before_sending_anything(sockets):
    a, b = socket.socketpair()
    sockets.extend([a, b])
    a.settimeout(5)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(OSError) as info:
        ctx.wrap_socket(a, server_hostname="localhost")
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)


# --------------------------------------------------------------------------
# SNI
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED])
def test_sni_is_sent_for_a_dns_name_in_every_verify_mode(sni_sent, client_context,
                                                         mode):
    _, sni = sni_sent(client_context(verify_mode=mode), server_hostname="localhost")
    assert sni == "localhost"


def test_sni_is_not_sent_for_an_ip_literal(sni_sent, client_context):
    verify_result, sni = sni_sent(client_context(), server_hostname="127.0.0.1")
    assert verify_result == 0
    assert sni is None


def test_sni_is_not_sent_for_an_ipv6_literal(ipv6, sni_sent, client_context):
    verify_result, sni = sni_sent(client_context(), host="::1",
                                  server_hostname="::1")
    assert verify_result == 0
    assert sni is None


def test_sni_is_not_sent_without_server_hostname(sni_sent, client_context):
    _, sni = sni_sent(client_context(verify_mode=ssl.CERT_NONE))
    assert sni is None


# --------------------------------------------------------------------------
# Server side: client certificates
# --------------------------------------------------------------------------

def peer_info(tls):
    return {"binary": tls.getpeercert(binary_form=True), "dict": tls.getpeercert(),
            "verify": tls.verify_result(), "data": tls.read(4)}


@pytest.fixture
def client_cert_contexts(pki, server_context, client_context):
    """Factory: (server_mode, client_chain=None, server_cafile=test root) ->
    (server context asking for client certificates with server_mode and
    trusting server_cafile, client context offering client_chain or none)."""
    def make(server_mode, client_chain=None, server_cafile=pki.ca_cert):
        server = server_context(cafile=server_cafile, verify_mode=server_mode)
        key = client_chain and client_chain.replace("_chain.pem", ".key")
        return server, client_context(chain=client_chain, key=key)
    return make


@pytest.fixture
def client_cert_seen(tls_pair, client_cert_contexts):
    """Factory: (server_mode, client_chain=None) -> peer_info() of our
    server after our client, offering client_chain, wrote b"data"."""
    def run(server_mode, client_chain=None):
        server_ctx, client_ctx = client_cert_contexts(server_mode, client_chain)
        tls, server = tls_pair(handler=peer_info, server_ctx=server_ctx,
                               client_ctx=client_ctx)
        tls.write(b"data")
        return server.join()
    return run


@pytest.fixture
def refused_server(run_server_thread, connect, client_cert_contexts):
    """Runs a CERT_REQUIRED server (trusting server_cafile) against a client
    offering client_chain and returns the server thread's exception."""
    def run(client_chain, **server_cafile):
        server_ctx, client = client_cert_contexts(ssl.CERT_REQUIRED, client_chain,
                                                  **server_cafile)
        server = run_server_thread(server_ctx, lambda tls: tls.read(4))
        raw = connect(server.addr)
        try:
            tls = client.wrap_socket(raw, server_hostname="localhost")
            try:
                tls.write(b"data")
                tls.read(1)
            except OSError:
                pass
            tls.close()
        except OSError:
            raw.close()
        return server.wait()
    return run


def test_server_cert_required_accepts_valid_client_cert(pki, client_cert_seen):
    info = client_cert_seen(ssl.CERT_REQUIRED, pki.client_chain)
    assert info["data"] == b"data"
    assert info["verify"] == 0
    assert info["binary"] == pki.der(pki.client_cert)
    assert info["dict"]["subject"] == ((("commonName", "mpssl test client"),),)


def test_server_cert_required_refuses_client_without_cert(refused_server):
    error = refused_server(None)
    assert isinstance(error, OSError)
    assert error.errno == ssl.ERR_NO_PEER_CERT


def test_server_cert_required_refuses_untrusted_client_cert(refused_server, pki):
    error = refused_server(pki.client_untrusted_chain)
    assert isinstance(error, OSError)
    assert error.errno == ssl.ERR_CERT_UNTRUSTED


def test_server_cert_optional_accepts_client_without_cert(client_cert_seen):
    info = client_cert_seen(ssl.CERT_OPTIONAL)
    assert info["data"] == b"data"
    assert info["binary"] is None
    assert info["dict"] is None


def test_server_cert_optional_verifies_a_sent_client_cert(pki, client_cert_seen):
    info = client_cert_seen(ssl.CERT_OPTIONAL, pki.client_chain)
    assert info["verify"] == 0
    assert info["binary"] == pki.der(pki.client_cert)
    assert info["dict"]["subject"] == ((("commonName", "mpssl test client"),),)


def test_server_cert_optional_records_untrusted_client_cert_and_connects(
        pki, client_cert_seen):
    info = client_cert_seen(ssl.CERT_OPTIONAL, pki.client_untrusted_chain)
    assert info["data"] == b"data"
    assert info["verify"] == ssl.ERR_CERT_UNTRUSTED
    assert info["binary"] == pki.der(pki.client_untrusted_cert)
    assert info["dict"] == {}


def test_server_cert_none_does_not_request_client_cert(pki, client_cert_seen):
    info = client_cert_seen(ssl.CERT_NONE, pki.client_chain)
    assert info["data"] == b"data"
    assert info["binary"] is None
    assert info["verify"] is None


def test_server_cert_required_without_any_ca_names_load_verify_locations(
        refused_server, pki):
    error = refused_server(pki.client_chain, server_cafile=None)
    assert isinstance(error, OSError)
    assert error.errno == ssl.ERR_CERT_UNTRUSTED
    assert "load_verify_locations" in error.strerror
