"""mpssl's server against the `gnutls-cli` program (a second, independent TLS
implementation).  gnutls-cli verifies our chain and the name "localhost".
Only the client direction: gnutls-serv cannot be bound to loopback only.
"""

import shutil

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from matrix import VERSION_NAMES, VERSIONS, each_transfer  # noqa: I100
from matrix import server_files, skip_unless_offered
from peers import close_with_tool, exchange_with_tool

pytestmark = pytest.mark.skipif(shutil.which("gnutls-cli") is None,
                                reason="gnutls-cli not installed")


@each_transfer
def test_our_server_transfers_to_gnutls_client(pki, peers, listen, accept_tls,
                                               server_context, tls, key_type,
                                               size, closer):
    _, key, chain = server_files(pki, key_type)
    listener = listen()
    client = peers.gnutls_client(listener.getsockname()[1],
                                 cafile=pki.ca_cert, tls=tls)
    s = accept_tls(server_context(chain, key), listener)
    assert s.cipher()[1] == VERSION_NAMES[tls]
    exchange_with_tool(s, client, size)
    close_with_tool(s, client, closer, size)
    assert "The certificate is trusted" in client.log_text()


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_server_requiring_client_cert_accepts_gnutls_client(
        pki, peers, listen, accept_tls, server_context, tls):
    ctx = server_context(cafile=pki.ca_cert, verify_mode=ssl.CERT_REQUIRED)
    listener = listen()
    client = peers.gnutls_client(listener.getsockname()[1],
                                 cafile=pki.ca_cert, tls=tls,
                                 cert=pki.client_chain, key=pki.client_key)
    s = accept_tls(ctx, listener)
    assert s.verify_result() == 0
    assert (("commonName", pki.client_cn),) in s.getpeercert()["subject"]
    exchange_with_tool(s, client, 16385)
    close_with_tool(s, client, "we_close", 16385)


@pytest.mark.parametrize("iana,priority", [
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-GCM:+AEAD:+SIGN-ALL:+GROUP-ALL:+COMP-NULL"),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+CHACHA20-POLY1305:+AEAD:+SIGN-ALL:+GROUP-ALL:+COMP-NULL"),
])
def test_suite_forced_by_gnutls_client_is_reported_by_iana_name(
        pki, peers, listen, accept_tls, server_context, iana, priority):
    ctx = server_context()
    skip_unless_offered(ctx, iana)
    listener = listen()
    client = peers.gnutls_client(listener.getsockname()[1],
                                 cafile=pki.ca_cert, priority=priority)
    s = accept_tls(ctx, listener)
    assert s.cipher() == (iana, "TLSv1.2")
    exchange_with_tool(s, client, 100)
    close_with_tool(s, client, "peer_closes", 100)
