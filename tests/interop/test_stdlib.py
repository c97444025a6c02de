"""mpssl against CPython's own ssl module (OpenSSL underneath), run in a
separate interpreter (tests/peers/stdlib_peer.py) that cannot import mpssl.

Transfers: we send first, the peer reads exactly that many bytes, then the
peer sends; both report SHA-256 (the peer as JSON lines).  Close: with
"we_close" the peer waits for our close_notify (a bare FIN is reported as
unclean); with "peer_closes" the peer sends close_notify first, we must read
b'', and the peer then waits for ours (unwrap()).
"""

import hashlib
import os

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

from matrix import VERSION_NAMES, VERSIONS, each_transfer  # noqa: I100
from matrix import server_files
from peers import sha256_hex
from tlsio import recv_exactly

PEER_CLOSE_MODE = {"we_close": "wait", "peer_closes": "first"}


def data_args(size, closer):
    return ["--first", "recv", "--recv", size, "--send", size,
            "--close", PEER_CLOSE_MODE[closer]]


def exchange_and_close(tls, peer, size, closer):
    """The whole conversation after the handshake, checked on both sides."""
    ours = os.urandom(size)
    tls.sendall(ours)
    received = peer.wait_event("received")
    assert (received["n"], received["sha256"]) == (size, sha256_hex(ours))
    got = recv_exactly(tls, size)
    sent = peer.wait_event("sent")
    assert (len(got), sha256_hex(got)) == (sent["n"], sent["sha256"])
    if closer == "peer_closes":
        assert tls.recv(1) == b""      # the peer's close_notify
    tls.close()
    closed = peer.wait_event("closed")
    assert closed["clean"], closed["detail"]
    peer.wait_event("done")
    assert peer.wait_exit() == 0, peer.describe()


# ----------------------------------------------------------------------
# Our client <-> stdlib server; our server <-> stdlib client
# ----------------------------------------------------------------------

@each_transfer
def test_our_client_transfers_to_stdlib_server(pki, peers, connect_tls,
                                               client_context, tls, key_type,
                                               size, closer):
    _, key, chain = server_files(pki, key_type)
    server = peers.stdlib_server("--cert", chain, "--key", key, "--tls", tls,
                                 *data_args(size, closer))
    s = connect_tls(client_context(), server.addr)
    hs = server.wait_event("handshake")
    assert s.version() == hs["version"] == VERSION_NAMES[tls]
    assert s.cipher()[1] == VERSION_NAMES[tls]
    assert hs["peer_subject"] is None      # we sent no certificate
    exchange_and_close(s, server, size, closer)


@each_transfer
def test_our_server_transfers_to_stdlib_client(pki, peers, listen, accept_tls,
                                               server_context, tls, key_type,
                                               size, closer):
    _, key, chain = server_files(pki, key_type)
    listener = listen()
    client = peers.stdlib_client(listener.getsockname()[1],
                                 "--cafile", pki.ca_cert, "--tls", tls,
                                 *data_args(size, closer))
    s = accept_tls(server_context(chain, key), listener)
    hs = client.wait_event("handshake")   # the stdlib verified chain + name
    assert s.cipher()[1] == hs["version"] == VERSION_NAMES[tls]
    assert s.getpeercert(binary_form=True) is None
    exchange_and_close(s, client, size, closer)


def test_our_client_streams_through_stdlib_echo_server(pki, peers, connect_tls,
                                                       client_context):
    """Interleaved writes and reads: 64 chunks of 16 KiB, each echoed back
    before the next is sent."""
    server = peers.stdlib_server("--cert", pki.server_ec_chain,
                                 "--key", pki.server_ec_key, "--echo")
    s = connect_tls(client_context(), server.addr)
    digest = hashlib.sha256()
    for _ in range(64):
        chunk = os.urandom(16384)
        digest.update(chunk)
        s.sendall(chunk)
        assert recv_exactly(s, len(chunk)) == chunk
    s.close()
    received = server.wait_event("received")
    assert (received["n"], received["sha256"]) == (64 * 16384, digest.hexdigest())
    assert server.wait_event("closed")["clean"]
    assert server.wait_exit() == 0, server.describe()


# ----------------------------------------------------------------------
# Client certificates
# ----------------------------------------------------------------------

@pytest.fixture
def stdlib_client_to_our_server(pki, peers, listen, accept_tls, server_context):
    """Factory: (verify_mode, tls, *peer_args, cert=None, key=None) ->
    (client, accept).  Starts a stdlib client (verifying us against the test
    root, offering client certificate `cert` or none) towards our EC server,
    which asks for client certificates with `verify_mode`, trusting the test
    root.  accept() then does our side of the handshake: our SSLSocket."""
    def start(verify_mode, tls, *peer_args, cert=None, key=None):
        ctx = server_context(cafile=pki.ca_cert, verify_mode=verify_mode)
        listener = listen()
        args = ["--cafile", pki.ca_cert, "--tls", tls]
        if cert:
            args += ["--cert", cert, "--key", key]
        client = peers.stdlib_client(listener.getsockname()[1], *args,
                                     *peer_args)
        return client, lambda: accept_tls(ctx, listener)
    return start


@pytest.mark.parametrize("tls", VERSIONS)
def test_stdlib_server_requiring_client_cert_accepts_ours(
        pki, peers, connect_tls, client_context, tls):
    server = peers.stdlib_server("--cert", pki.server_rsa_chain,
                                 "--key", pki.server_rsa_key,
                                 "--cafile", pki.ca_cert, "--verify", "required",
                                 "--tls", tls, *data_args(16385, "we_close"))
    ctx = client_context(chain=pki.client_chain, key=pki.client_key)
    s = connect_tls(ctx, server.addr)
    hs = server.wait_event("handshake")
    assert [["commonName", pki.client_cn]] in hs["peer_subject"]
    exchange_and_close(s, server, 16385, "we_close")


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_server_requiring_client_cert_accepts_stdlib_client(
        stdlib_client_to_our_server, pki, tls):
    client, accept = stdlib_client_to_our_server(
        ssl.CERT_REQUIRED, tls, *data_args(16385, "peer_closes"),
        cert=pki.client_chain, key=pki.client_key)
    s = accept()
    assert s.verify_result() == 0
    assert (("commonName", pki.client_cn),) in s.getpeercert()["subject"]
    assert s.getpeercert(binary_form=True) == pki.der(pki.client_cert)
    exchange_and_close(s, client, 16385, "peer_closes")


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_server_optional_client_cert_records_untrusted_stdlib_client(
        stdlib_client_to_our_server, pki, tls):
    client, accept = stdlib_client_to_our_server(
        ssl.CERT_OPTIONAL, tls, *data_args(1, "we_close"),
        cert=pki.client_untrusted_chain, key=pki.client_untrusted_key)
    s = accept()
    assert s.verify_result() == ssl.ERR_CERT_UNTRUSTED
    assert s.getpeercert() == {}
    assert s.getpeercert(binary_form=True) == pki.der(pki.client_untrusted_cert)
    exchange_and_close(s, client, 1, "we_close")


@pytest.mark.parametrize("tls", VERSIONS)
def test_our_server_requiring_client_cert_rejects_stdlib_client_without_one(
        stdlib_client_to_our_server, tls):
    client, accept = stdlib_client_to_our_server(ssl.CERT_REQUIRED, tls,
                                                 *data_args(1, "we_close"))
    with pytest.raises(OSError) as info:
        accept()
    assert info.value.errno == ssl.ERR_NO_PEER_CERT, info.value
    # The stdlib client learns it from our alert, in the handshake (1.2) or
    # at its first read (1.3, where the client finishes first).
    with pytest.raises(AssertionError, match="peer error"):
        client.wait_event("done")
    assert client.wait_exit() == 1


def test_stdlib_client_rejects_our_server_with_untrusted_chain(
        pki, peers, listen, accept_tls, server_context):
    ctx = server_context(pki.untrusted_chain, pki.untrusted_key)
    listener = listen()
    client = peers.stdlib_client(listener.getsockname()[1],
                                 "--cafile", pki.ca_cert,
                                 *data_args(1, "we_close"))
    with pytest.raises(OSError) as info:
        accept_tls(ctx, listener)
    assert info.value.errno == ssl.ERR_PEER_ALERT, info.value
    with pytest.raises(AssertionError, match="SSLCertVerificationError"):
        client.wait_event("handshake")


def test_our_client_rejects_stdlib_server_for_wrong_hostname(
        pki, peers, connect_tls, client_context):
    server = peers.stdlib_server("--cert", pki.wronghost_chain,
                                 "--key", pki.wronghost_key,
                                 *data_args(1, "we_close"))
    with pytest.raises(OSError) as info:
        connect_tls(client_context(), server.addr)
    assert info.value.errno == ssl.ERR_HOSTNAME_MISMATCH, info.value
