"""mpssl against the `openssl s_server` / `openssl s_client` programs.

Data goes both ways in sequence (we send, the peer has printed it all, then
the peer sends) and is checked with SHA-256 on both sides; see peers.py for
how the openssl tools are driven and how a clean close is recognised.
"""

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from matrix import VERSION_NAMES, VERSIONS, each_transfer  # noqa: I100
from matrix import needs_tls13, server_files, skip_unless_offered
from peers import close_with_tool, exchange_with_tool


# ----------------------------------------------------------------------
# Our client <-> openssl s_server
# ----------------------------------------------------------------------

@each_transfer
def test_our_client_transfers_to_openssl_server(pki, peers, connect_tls,
                                                client_context, tls, key_type,
                                                size, closer):
    leaf, key, _ = server_files(pki, key_type)
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls=tls)
    s = connect_tls(client_context(), server.addr)
    assert s.version() == VERSION_NAMES[tls]
    assert s.cipher()[1] == VERSION_NAMES[tls]
    assert s.verify_result() == 0
    exchange_with_tool(s, server, size)
    close_with_tool(s, server, closer, size)


# ----------------------------------------------------------------------
# Our server <-> openssl s_client (which verifies us: chain + hostname)
# ----------------------------------------------------------------------

@each_transfer
def test_our_server_transfers_to_openssl_client(pki, peers, listen, accept_tls,
                                                server_context, tls, key_type,
                                                size, closer):
    _, key, chain = server_files(pki, key_type)
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert, tls=tls)
    s = accept_tls(server_context(chain, key), listener)
    assert s.cipher()[1] == VERSION_NAMES[tls]
    assert s.getpeercert(binary_form=True) is None  # no client cert asked
    exchange_with_tool(s, client, size)
    close_with_tool(s, client, closer, size)


# ----------------------------------------------------------------------
# Our client's verdict on a certificate only another library will serve
# ----------------------------------------------------------------------

# A valid chain and name, but an extendedKeyUsage of clientAuth only: not a
# server certificate.  (Served by openssl s_server because some libraries,
# mbedTLS among them, refuse to serve it at all.)

@pytest.mark.parametrize("tls", VERSIONS)
def test_our_client_refuses_server_cert_with_client_only_eku(
        pki, peers, connect_tls, client_context, tls):
    server = peers.openssl_server(pki.client_eku_cert, pki.client_eku_key,
                                  chain=pki.int_cert, tls=tls)
    with pytest.raises(OSError) as info:
        connect_tls(client_context(), server.addr)
    assert info.value.errno == ssl.ERR_CERT_INVALID


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_client_records_client_only_eku_under_cert_optional(
        pki, peers, connect_tls, client_context, tls):
    server = peers.openssl_server(pki.client_eku_cert, pki.client_eku_key,
                                  chain=pki.int_cert, tls=tls)
    s = connect_tls(client_context(verify_mode=ssl.CERT_OPTIONAL), server.addr)
    assert s.verify_result() == ssl.ERR_CERT_INVALID
    exchange_with_tool(s, server, 1)
    close_with_tool(s, server, "we_close", 1)


# ----------------------------------------------------------------------
# Cipher suite names agree with what OpenSSL negotiated
# ----------------------------------------------------------------------

TLS12_SUITES = [
    # (our IANA name, OpenSSL name, server key type)
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "rsa"),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "rsa"),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "rsa"),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "ec"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", "ec"),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "ec"),
]
TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256"]


@pytest.mark.parametrize("iana,openssl_name,key_type", TLS12_SUITES,
                         ids=[s[0] for s in TLS12_SUITES])
def test_tls12_suite_forced_by_openssl_server_is_reported_by_iana_name(
        pki, peers, connect_tls, client_context, iana, openssl_name, key_type):
    ctx = client_context()
    skip_unless_offered(ctx, iana)
    leaf, key, _ = server_files(pki, key_type)
    server = peers.openssl_server(leaf, key, chain=pki.int_cert, tls="1.2",
                                  cipher=openssl_name)
    s = connect_tls(ctx, server.addr)
    assert s.cipher() == (iana, "TLSv1.2")
    exchange_with_tool(s, server, 100)
    close_with_tool(s, server, "we_close", 100)


@needs_tls13
@pytest.mark.parametrize("iana", TLS13_SUITES)
def test_tls13_suite_forced_by_openssl_server_is_reported_by_iana_name(
        pki, peers, connect_tls, client_context, iana):
    ctx = client_context()
    skip_unless_offered(ctx, iana)
    server = peers.openssl_server(pki.server_ec_cert, pki.server_ec_key,
                                  chain=pki.int_cert, tls="1.3",
                                  ciphersuites=iana)
    s = connect_tls(ctx, server.addr)
    assert s.cipher() == (iana, "TLSv1.3")
    exchange_with_tool(s, server, 100)
    close_with_tool(s, server, "we_close", 100)


@pytest.mark.parametrize("iana,openssl_name,key_type", TLS12_SUITES[:2] + TLS12_SUITES[3:5],
                         ids=[s[0] for s in TLS12_SUITES[:2] + TLS12_SUITES[3:5]])
def test_our_server_set_ciphers_is_honoured_with_openssl_client(
        pki, peers, listen, accept_tls, server_context, iana, openssl_name,
        key_type):
    _, key, chain = server_files(pki, key_type)
    ctx = server_context(chain, key)
    ctx.set_ciphers([iana])
    assert ctx.get_ciphers() == [iana]
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert)   # offers everything
    s = accept_tls(ctx, listener)
    # A list without TLS 1.3 suites disables TLS 1.3 (contract).
    assert s.cipher() == (iana, "TLSv1.2")
    exchange_with_tool(s, client, 100)
    close_with_tool(s, client, "peer_closes", 100)


# ----------------------------------------------------------------------
# Client certificates
# ----------------------------------------------------------------------

@pytest.mark.parametrize("tls", VERSIONS)
def test_openssl_server_requiring_client_cert_accepts_ours(
        pki, peers, connect_tls, client_context, tls):
    server = peers.openssl_server(pki.server_ec_cert, pki.server_ec_key,
                                  chain=pki.int_cert, tls=tls,
                                  verify="require", cafile=pki.ca_cert)
    ctx = client_context(chain=pki.client_chain, key=pki.client_key)
    s = connect_tls(ctx, server.addr)
    exchange_with_tool(s, server, 16385)
    close_with_tool(s, server, "we_close", 16385)


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_server_requiring_client_cert_accepts_openssl_client(
        pki, peers, listen, accept_tls, server_context, tls):
    ctx = server_context(pki.server_rsa_chain, pki.server_rsa_key,
                         cafile=pki.ca_cert, verify_mode=ssl.CERT_REQUIRED)
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert, tls=tls,
                                  cert=pki.client_cert, key=pki.client_key,
                                  chain=pki.int_cert)
    s = accept_tls(ctx, listener)
    assert s.verify_result() == 0
    cert = s.getpeercert()
    assert (("commonName", pki.client_cn),) in cert["subject"]
    exchange_with_tool(s, client, 16385)
    close_with_tool(s, client, "peer_closes", 16385)


# ----------------------------------------------------------------------
# Verification failures against a real peer
# ----------------------------------------------------------------------

def test_our_client_rejects_openssl_server_with_untrusted_chain(
        pki, peers, connect_tls, client_context):
    server = peers.openssl_server(pki.untrusted_cert, pki.untrusted_key,
                                  chain=pki.untrusted_chain)
    with pytest.raises(OSError) as info:
        connect_tls(client_context(), server.addr)
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED, info.value


def test_our_client_rejects_openssl_server_for_wrong_hostname(
        pki, peers, connect_tls, client_context):
    server = peers.openssl_server(pki.server_rsa_cert, pki.server_rsa_key,
                                  chain=pki.int_cert)
    with pytest.raises(OSError) as info:
        connect_tls(client_context(), server.addr,
                    server_hostname="not-localhost.example")
    assert info.value.errno == ssl.ERR_HOSTNAME_MISMATCH, info.value


@pytest.mark.parametrize("tls", VERSIONS)
def test_openssl_client_rejects_our_server_with_wrong_hostname_cert(
        pki, peers, listen, accept_tls, server_context, tls):
    ctx = server_context(pki.wronghost_chain, pki.wronghost_key)
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1],
                                  cafile=pki.ca_cert, tls=tls)
    with pytest.raises(OSError) as info:
        accept_tls(ctx, listener)
    assert info.value.errno == ssl.ERR_PEER_ALERT, info.value
    assert client.wait_exit() != 0
    assert "verify" in client.stderr_text().lower(), client.describe()


# ----------------------------------------------------------------------
# Round trips: a TLS 1.3 handshake needs no second ClientHello
# ----------------------------------------------------------------------

@needs_tls13
@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_our_tls13_server_accepts_openssl_default_key_share_without_retry(
        pki, peers, listen, accept_tls, server_context, key_type):
    """OpenSSL's client sends one key share (X25519).  Our server must take
    it: a HelloRetryRequest asking for another group costs every handshake
    a round trip (GnuTLS's default group order put P-256 first)."""
    cert, key, chain = server_files(pki, key_type)
    listener = listen()
    client = peers.openssl_client(listener.getsockname()[1], cafile=pki.ca_cert,
                                  tls="1.3", interactive=True)
    tls = accept_tls(server_context(chain, key), listener)
    assert tls.version() == "TLSv1.3"
    client.wait_output("<<< TLS 1.3, Handshake [length")  # its trace is flowing
    tls.write(b"done\n")
    client.wait_output("done\n")
    trace = client.stdout_text()
    assert trace.count(", ClientHello") == 1, client.describe()
    assert "Server Temp Key: X25519" in trace, client.describe()
