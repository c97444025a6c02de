"""The certificate verdict matrix: one certificate defect at a time, under
CERT_REQUIRED, CERT_OPTIONAL and CERT_NONE, as a client verifying a server
and as a server verifying a client.  Every backend must give the same
verdict and the same code; the expected column is the contract, not any
library's habit.

The peer is the same for every backend: CPython's own ssl in a separate
process, at OpenSSL security level 0 so that it will present what the
contract forbids (a SHA-1 signature, an RSA-1024 key) for our side to judge.
The certificates come from tests/pki.py (VERDICT_LEAVES, generated with the
openssl CLI at test time); each leaf is good for both roles except for its
one defect.
"""

import ssl

import pytest

OK = "ok"
PEER_SECURITY_LEVEL = "DEFAULT:@SECLEVEL=0"
EXCHANGE = 4   # bytes each way after the handshake

# (leaf, host name our client checks, expected verdict).  Our client always
# trusts the test root (pki.ca_cert) only.
AS_CLIENT = [
    ("v_good", "localhost", OK),
    ("v_good", "other.example", "ERR_HOSTNAME_MISMATCH"),   # wrong host
    ("v_expired", "localhost", "ERR_CERT_EXPIRED"),
    ("v_notyet", "localhost", "ERR_CERT_NOT_YET_VALID"),
    ("v_wildcard", "a.example.test", OK),
    ("v_wildcard", "a.b.example.test", "ERR_HOSTNAME_MISMATCH"),  # one label only
    ("v_wildcard", "example.test", "ERR_HOSTNAME_MISMATCH"),      # not the bare domain
    ("v_wildcard_partial", "foo.example.test", "ERR_HOSTNAME_MISMATCH"),
    ("v_wildcard_inner", "a.b.example.test", "ERR_HOSTNAME_MISMATCH"),
    ("v_wildcard_suffix", "a.test", "ERR_HOSTNAME_MISMATCH"),
    ("v_ip", "127.0.0.1", OK),
    ("v_ip", "::1", OK),
    ("v_ip", "127.0.0.2", "ERR_HOSTNAME_MISMATCH"),
    ("v_ip", "localhost", "ERR_HOSTNAME_MISMATCH"),
    ("v_good", "127.0.0.1", OK),                      # IP SAN beside DNS SANs
    ("v_cn_only", "localhost", OK),                   # CN only without any SAN
    ("v_cn_mismatch", "localhost", "ERR_HOSTNAME_MISMATCH"),  # CN ignored beside a SAN
    ("v_untrusted", "localhost", "ERR_CERT_UNTRUSTED"),
    # Two defects: the most fundamental one is reported.
    ("v_untrusted_expired", "localhost", "ERR_CERT_UNTRUSTED"),
    ("v_expired", "other.example", "ERR_CERT_EXPIRED"),
    ("v_incomplete", "localhost", "ERR_CERT_UNTRUSTED"),
    ("v_selfsigned", "localhost", "ERR_CERT_UNTRUSTED"),
    ("v_nonca_issuer", "localhost", "ERR_CERT_INVALID"),
    ("v_pathlen", "localhost", "ERR_CERT_INVALID"),
    ("v_sha1", "localhost", "ERR_CERT_INVALID"),
    ("v_rsa1024", "localhost", "ERR_CERT_INVALID"),
    ("v_eku_client", "localhost", "ERR_CERT_INVALID"),  # not for a server
]

# (leaf our server is shown, expected verdict).  Host names play no part.
AS_SERVER = [
    ("v_good", OK),
    ("v_expired", "ERR_CERT_EXPIRED"),
    ("v_notyet", "ERR_CERT_NOT_YET_VALID"),
    ("v_untrusted", "ERR_CERT_UNTRUSTED"),
    ("v_untrusted_expired", "ERR_CERT_UNTRUSTED"),
    ("v_incomplete", "ERR_CERT_UNTRUSTED"),
    ("v_selfsigned", "ERR_CERT_UNTRUSTED"),
    ("v_nonca_issuer", "ERR_CERT_INVALID"),
    ("v_pathlen", "ERR_CERT_INVALID"),
    ("v_sha1", "ERR_CERT_INVALID"),
    ("v_rsa1024", "ERR_CERT_INVALID"),
    ("v_eku_server", "ERR_CERT_INVALID"),  # not for a client
]

MODES = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
         "none": ssl.CERT_NONE}


def code_name(errno_value):
    """The module constant naming an mpssl error code, else the number."""
    for name in dir(ssl):
        if name.startswith("ERR_") and getattr(ssl, name) == errno_value:
            return name
    return str(errno_value)


def chain_and_key(pki, leaf):
    return getattr(pki, leaf + "_chain"), getattr(pki, leaf + "_key")


def exchange(tls):
    """The peer sends first (--first send), we answer, then we close with
    close_notify, which the peer waits for (--close wait)."""
    assert len(tls.read(EXCHANGE)) == EXCHANGE
    tls.write(b"pong")


def peer_data_args():
    return ["--first", "send", "--send", str(EXCHANGE), "--recv", str(EXCHANGE),
            "--close", "wait", "--ciphers", PEER_SECURITY_LEVEL]


def settle(peer):
    """Waits for the peer to finish whatever it makes of the outcome (it may
    fail: we refused it); bounded, and killed at teardown regardless."""
    try:
        peer.wait_exit()
    except AssertionError:
        pass


def verdict_of(tls, mode):
    """What our side concluded: OK, or the recorded code's name.  Under
    CERT_NONE nothing is verified: verify_result() must be None."""
    result = tls.verify_result()
    if mode == "none":
        assert result is None
        return OK
    return OK if result == 0 else code_name(result)


def expected_under(mode, expected):
    return OK if mode == "none" else expected


def judged(observe, handshake, peer, mode, expected):
    """Runs our side's handshake(), records what it concluded and checks it
    against the contract.  Returns the connection, or None when it was
    (rightly) refused under CERT_REQUIRED."""
    want = expected_under(mode, expected)
    try:
        tls = handshake()
    except OSError as exc:
        observe(code_name(exc.errno))
        settle(peer)
        assert mode == "required" and code_name(exc.errno) == want, exc
        return None
    got = verdict_of(tls, mode)
    observe(got)
    assert got == want
    return tls


def finish(tls, peer):
    """The connection works after the verdict, and closes cleanly."""
    exchange(tls)
    tls.close()
    assert peer.wait_exit() == 0, peer.describe()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("leaf,hostname,expected", AS_CLIENT,
                         ids=["%s-%s" % (c, h) for c, h, _ in AS_CLIENT])
def test_verdict_as_client(pki, peers, connect_tls, observe, leaf, hostname, expected,
                           mode):
    chain, key = chain_and_key(pki, leaf)
    peer = peers.stdlib_server("--cert", chain, "--key", key, *peer_data_args())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=pki.ca_cert)
    ctx.verify_mode = MODES[mode]
    tls = judged(observe, lambda: connect_tls(ctx, peer.addr, server_hostname=hostname),
                 peer, mode, expected)
    if tls is not None:
        assert tls.getpeercert(binary_form=True) == pki.der(chain)
        finish(tls, peer)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("leaf,expected", AS_SERVER, ids=[c for c, _ in AS_SERVER])
def test_verdict_as_server(pki, peers, listen, accept_tls, observe, leaf, expected,
                           mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_ec_chain, pki.server_ec_key)
    ctx.load_verify_locations(cafile=pki.ca_cert)
    ctx.verify_mode = MODES[mode]
    chain, key = chain_and_key(pki, leaf)
    listener = listen()
    peer = peers.stdlib_client(listener.getsockname()[1], "--cert", chain, "--key", key,
                               "--cafile", pki.ca_cert, *peer_data_args())
    tls = judged(observe, lambda: accept_tls(ctx, listener), peer, mode, expected)
    if tls is not None:
        sent = tls.getpeercert(binary_form=True)
        assert sent == (None if mode == "none" else pki.der(chain))
        finish(tls, peer)
