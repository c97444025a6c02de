"""Hostile peers during the handshake: a raw peer (no TLS library) sends
bytes no TLS implementation would, to OUR client (after reading its
ClientHello) and to OUR server (first thing after connecting), then ends
the connection its way.  Each case must end in the contract's error
(contract.md, Errors: OSError with the module's stable code for a TLS
failure, the transport's errno for a transport failure) quickly: not by
our timeout, with no crash and no hang.

Our side's socket timeout here is CASE_TIMEOUT; a case that ends in more
than FAST seconds would mean we waited for the timeout instead of seeing
the failure.
"""

import errno
import time

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

import rawpeer  # noqa: I100  (tests/hostile/rawpeer.py)
from rawpeer import HANDSHAKE, record

CASE_TIMEOUT = 5.0
FAST = 3.0
MAX_CPU = 0.5   # CPU seconds our thread may spend on any case (floods included)

GARBAGE = b"\xde\xad\xbe\xef" * 16      # content type 0xDE: no record at all
HTTP_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
               b"Connection: close\r\n\r\n")
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


class Case:
    """What the raw peer sends (per role, or the same for both), how it
    ends the connection, and the errnos the contract allows our side."""

    def __init__(self, payload, end, codes):
        self.payload = payload
        self.end = end
        self.codes = codes

    def payload_for(self, role):
        if isinstance(self.payload, dict):
            return self.payload[role]
        return self.payload


def huge_hello(msg_type, suites_field):
    """A hello announcing a 16 MiB handshake message, with a plausible
    start, followed by 256 KiB of it in full records: a receiver must
    refuse it at some bound instead of waiting to buffer it all."""
    start = (bytes([msg_type]) + b"\xff\xff\xff" + b"\x03\x03" + bytes(32)
             + b"\x00" + suites_field + b"\x00\x00")
    chunk = rawpeer.MAX_PLAINTEXT
    first = start + bytes(chunk - len(start))
    return record(HANDSHAKE, first) + record(HANDSHAKE, bytes(chunk)) * 15


def codes():
    # Evaluated at import, after `ssl` is known to be ours.
    protocol, eof = {ssl.ERR_PROTOCOL}, {ssl.ERR_HANDSHAKE_EOF}
    return {
        "garbage": Case(GARBAGE, "drain", protocol),
        "plaintext_http": Case({"client": HTTP_ANSWER, "server": HTTP_REQUEST},
                               "fin", protocol),
        # RFC 5246 6.2.1 / RFC 8446 5.1 forbid SENDING empty handshake
        # records and say nothing of receiving them: refusing at once
        # (ERR_PROTOCOL) and skipping them until the FIN (ERR_HANDSHAKE_EOF)
        # are both allowed; either way the flood must be cheap.  Observed:
        # mbedtls and gnutls refuse the first one; openssl skips up to 32
        # and then refuses ("record too small"); bearssl skips them all.
        "zero_length_record": Case(record(HANDSHAKE, b""), "fin",
                                   protocol | eof),
        "empty_record_flood": Case(record(HANDSHAKE, b"") * 20000, "fin",
                                   protocol | eof),
        "oversize_record": Case(
            record(HANDSHAKE, bytes(rawpeer.MAX_CIPHERTEXT + 1)), "drain",
            protocol),
        "record_length_65535": Case(record(HANDSHAKE, bytes(65535)), "drain",
                                    protocol),
        "huge_handshake_message": Case(
            {"client": huge_hello(rawpeer.SERVER_HELLO, b"\xc0\x2b\x00"),
             "server": huge_hello(rawpeer.CLIENT_HELLO,
                                  b"\x00\x02\xc0\x2b\x01\x00")},
            "drain", protocol),
        "fin_at_once": Case(b"", "fin", eof),
        "truncated_record_then_fin": Case(
            record(HANDSHAKE, bytes(10), length=64), "fin", eof),
        "truncated_record_then_rst": Case(
            record(HANDSHAKE, bytes(10), length=64), "rst",
            {errno.ECONNRESET}),
    }


CASES = codes()


def client_script(case):
    """The raw server: reads our ClientHello, sends the case's bytes."""
    def script(sock, peer):
        hello = rawpeer.read_record(sock)
        assert hello is not None and hello[0] == HANDSHAKE, hello
        rawpeer.send_quietly(sock, case.payload_for("client"))
        return rawpeer.end_connection(sock, case.end)
    return script


def server_script(case):
    """The raw client: sends the case's bytes as soon as it is connected."""
    def script(sock, peer):
        rawpeer.send_quietly(sock, case.payload_for("server"))
        return rawpeer.end_connection(sock, case.end)
    return script


def handshake_error(handshake, raw):
    """Runs our handshake, which must fail; returns (error, seconds).
    The error gets a `cpu` attribute: the CPU seconds this thread spent."""
    raw.settimeout(CASE_TIMEOUT)
    started, cpu = time.monotonic(), time.thread_time()
    with pytest.raises(OSError) as info:
        handshake()
    elapsed = time.monotonic() - started
    info.value.cpu = time.thread_time() - cpu
    raw.close()  # the contract leaves it open after a failed handshake
    return info.value, elapsed


def our_client_fails(raw_server, connect, client_context, script):
    peer, addr = raw_server(script)
    raw = connect(addr)
    ctx = client_context()
    error, elapsed = handshake_error(
        lambda: ctx.wrap_socket(raw, server_hostname="localhost"), raw)
    peer.finish()
    return error, elapsed


def our_server_fails(raw_client, listen, server_context, script):
    listener = listen()
    peer = raw_client(listener.getsockname()[:2], script)
    raw, _ = listener.accept()
    ctx = server_context()
    error, elapsed = handshake_error(
        lambda: ctx.wrap_socket(raw, server_side=True), raw)
    peer.finish()
    return error, elapsed


def assert_case_error(case, error, elapsed):
    assert error.errno in case.codes, "%s: got %r, contract: one of %r" % (
        ssl.BACKEND, error, sorted(case.codes))
    assert error.strerror, error
    assert elapsed < FAST, "%s: took %.1f s (%r)" % (ssl.BACKEND, elapsed, error)
    assert error.cpu < MAX_CPU, "%s: %.2f s of CPU" % (ssl.BACKEND, error.cpu)


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_client_fails_cleanly(raw_server, connect, client_context, name):
    case = CASES[name]
    error, elapsed = our_client_fails(raw_server, connect, client_context,
                                      client_script(case))
    assert_case_error(case, error, elapsed)


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_server_fails_cleanly(raw_client, listen, server_context, name):
    case = CASES[name]
    error, elapsed = our_server_fails(raw_client, listen, server_context,
                                      server_script(case))
    assert_case_error(case, error, elapsed)



# The peer's fatal alert in the middle of the handshake: our client gets it
# in answer to its ClientHello; our server after sending its first flight
# to a real ClientHello (as from a client that rejects our certificate).
# protocol_version is the peer saying "no common version": every backend
# maps it to ERR_NO_SHARED_CIPHER by design (backends/*.c); the others are
# ERR_PEER_ALERT with the alert's name in the message.
ALERTS = {40: "handshake_failure", 48: "unknown_ca", 70: "protocol_version",
          80: "internal_error"}


def alert_after_hello(description):
    def script(sock, peer):
        rawpeer.send_quietly(sock, rawpeer.client_hello([rawpeer.GOOD_SUITE]))
        first = rawpeer.read_record(sock)
        assert first is not None and first[0] == HANDSHAKE, first
        rawpeer.send_quietly(sock, rawpeer.alert(description))
        return rawpeer.read_until_eof(sock)
    return script


@pytest.mark.parametrize("role", ("client", "server"))
@pytest.mark.parametrize("description", sorted(ALERTS))
def test_a_fatal_alert_mid_handshake_is_reported(
        raw_server, raw_client, connect, listen, client_context,
        server_context, role, description):
    if description == 70:
        case = Case(rawpeer.alert(description), "drain",
                    {ssl.ERR_NO_SHARED_CIPHER})
    else:
        case = Case(rawpeer.alert(description), "drain", {ssl.ERR_PEER_ALERT})
    if role == "client":
        error, elapsed = our_client_fails(raw_server, connect, client_context,
                                          client_script(case))
    else:
        error, elapsed = our_server_fails(raw_client, listen, server_context,
                                          alert_after_hello(description))
    assert_case_error(case, error, elapsed)
    if error.errno == ssl.ERR_PEER_ALERT:
        assert ALERTS[description] in error.strerror, error
