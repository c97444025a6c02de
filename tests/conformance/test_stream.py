"""Blocking stream semantics of SSLSocket, end of stream, close, errors,
getpeercert and cipher."""

import errno
import gc
import os
import socket
import ssl
import threading

import pytest
from tlsio import read_until_eof  # noqa: I100  (tests/tlsio.py)

DATA = bytes(range(256)) * 64     # 16 KiB, not all one byte value


def send_then_close(payload):
    """Server handler: sends payload (in one write) then closes with close_notify."""
    def handler(tls):
        tls.write(payload)
        tls.close()
        return True
    return handler


def send_then_wait(payload, event):
    """Server handler: sends payload, then waits for `event` before closing."""
    def handler(tls):
        tls.write(payload)
        assert event.wait(10)
        return True
    return handler


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def test_read_n_returns_exactly_n_bytes_when_available(tls_pair):
    tls, server = tls_pair()
    tls.write(DATA)
    got = tls.read(len(DATA))
    assert got == DATA


def test_read_n_waits_for_all_n_bytes_across_writes(tls_pair):
    def handler(tls):
        for i in range(5):
            tls.write(bytes([i]) * 1000)
        return tls.read(1)

    tls, server = tls_pair(handler=handler)
    assert tls.read(5000) == b"".join(bytes([i]) * 1000 for i in range(5))
    tls.write(b"!")
    assert server.join() == b"!"


def test_read_n_returns_fewer_only_at_end_of_stream(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"x" * 100))
    assert tls.read(1000) == b"x" * 100
    assert tls.read(1000) == b""
    server.join()


def test_read_without_size_reads_until_end_of_stream(tls_pair):
    def handler(tls):
        for i in range(4):
            tls.write(DATA)
        tls.close()

    tls, server = tls_pair(handler=handler)
    assert tls.read() == DATA * 4
    assert tls.read(-1) == b""
    server.join()


def test_recv_returns_as_soon_as_some_data_is_available(tls_pair):
    event = threading.Event()
    tls, server = tls_pair(handler=send_then_wait(b"12345", event))
    try:
        got = tls.recv(1000)
        assert 1 <= len(got) <= 5 and b"12345".startswith(got)
        while len(got) < 5:
            got += tls.recv(1000)
        assert got == b"12345"
    finally:
        event.set()
    server.join()


def test_readinto_fills_the_buffer_and_returns_the_count(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"abcdefgh"))
    buf = bytearray(8)
    assert tls.readinto(buf) == 8
    assert buf == b"abcdefgh"
    assert tls.readinto(buf) == 0
    server.join()


def test_readinto_with_n_reads_at_most_n(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"abcdefgh"))
    buf = bytearray(b"........")
    assert tls.readinto(buf, 3) == 3
    assert buf == b"abc....."
    assert tls.readinto(memoryview(buf)[3:]) == 5
    assert buf == b"abcdefgh"
    server.join()


def test_recv_into_returns_count_and_honours_nbytes(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"0123456789"))
    buf = bytearray(10)
    got = 0
    n = tls.recv_into(buf, 4)
    assert 1 <= n <= 4
    got += n
    while got < 10:
        n = tls.recv_into(memoryview(buf)[got:])
        assert n > 0
        got += n
    assert buf == b"0123456789"
    assert tls.recv_into(buf) == 0
    server.join()


def test_readline_splits_lines_and_returns_the_tail_at_eof(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"line1\nline2\n\nrest"))
    assert tls.readline() == b"line1\n"
    assert tls.readline() == b"line2\n"
    assert tls.readline() == b"\n"
    assert tls.readline() == b"rest"
    assert tls.readline() == b""
    server.join()


def test_readline_with_limit_stops_at_limit(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"abcdef\nxyz\n"))
    assert tls.readline(3) == b"abc"
    assert tls.readline() == b"def\n"
    assert tls.readline(100) == b"xyz\n"
    server.join()


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def test_write_writes_everything_and_returns_the_length(tls_pair):
    tls, server = tls_pair(handler=read_until_eof)
    big = os.urandom(1024 * 1024)
    assert tls.write(big) == len(big)
    tls.close()
    assert server.join() == big


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_write_accepts_bytes_like(tls_pair, kind):
    tls, server = tls_pair()
    assert tls.write(kind(b"abc")) == 3
    assert tls.read(3) == b"abc"


def test_send_returns_a_count_and_all_data_arrives(tls_pair):
    tls, server = tls_pair(handler=read_until_eof)
    big = os.urandom(1024 * 1024)
    sent = 0
    for _ in range(10000):
        if sent == len(big):
            break
        n = tls.send(big[sent:])
        assert isinstance(n, int) and 1 <= n <= len(big) - sent
        sent += n
    assert sent == len(big)
    tls.close()
    assert server.join() == big


def test_sendall_writes_everything_and_returns_none(tls_pair):
    tls, server = tls_pair(handler=read_until_eof)
    big = os.urandom(1024 * 1024)
    assert tls.sendall(memoryview(big)) is None
    tls.close()
    assert server.join() == big


def test_write_of_empty_buffer_returns_zero(tls_pair):
    tls, server = tls_pair()
    assert tls.write(b"") == 0
    tls.write(b"z")
    assert tls.read(1) == b"z"


# --------------------------------------------------------------------------
# End of stream
# --------------------------------------------------------------------------

def test_end_of_stream_after_close_notify_reads_empty(tls_pair):
    tls, server = tls_pair(handler=send_then_close(b"bye"))
    assert tls.recv(100) == b"bye"
    assert tls.recv(100) == b""
    assert tls.read(10) == b""
    assert tls.readinto(bytearray(4)) == 0
    server.join()


def test_write_after_the_peers_close_notify_goes_out_or_is_a_broken_pipe(
        run_server_thread, connect, server_context, client_context):
    """After the peer's close_notify, TLS allows sending on (a half-close);
    BearSSL cannot.  The write either goes out whole or fails with EPIPE,
    like a socket whose peer has gone, never with a TLS error."""
    done = threading.Event()

    def serve(conn):
        tls = server_context().wrap_socket(conn.dup(), server_side=True)
        tls.close()  # close_notify; conn keeps the TCP connection open
        assert done.wait(10)
        conn.close()

    server = run_server_thread(None, serve, wrap=False)
    tls = client_context().wrap_socket(connect(server.addr),
                                       server_hostname="localhost")
    try:
        assert tls.read(10) == b""
        try:
            assert tls.write(b"late") == 4
        except OSError as exc:
            assert exc.errno == errno.EPIPE, exc
    finally:
        done.set()
        tls.close()
        server.join()


def test_end_of_stream_without_close_notify_after_handshake_reads_empty(
        run_server_thread, connect, server_context, client_context):
    done = threading.Event()

    def serve(conn):
        ctx = server_context()
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.write(b"last words")
        conn.shutdown(socket.SHUT_RDWR)    # transport EOF, no close_notify
        assert done.wait(10)
        tls.close()

    server = run_server_thread(None, serve, wrap=False)
    tls = client_context().wrap_socket(connect(server.addr), server_hostname="localhost")
    try:
        assert tls.read(10) == b"last words"
        assert tls.read(10) == b""
        assert tls.recv(10) == b""
    finally:
        done.set()
        tls.close()
    server.join()


def test_end_of_stream_in_client_handshake_raises_handshake_eof(
        run_server_thread, connect, client_context):
    def serve(conn):
        conn.recv(65536)                   # the ClientHello
        conn.shutdown(socket.SHUT_WR)      # then end of stream, no answer
        while conn.recv(65536):
            pass

    server = run_server_thread(None, serve, wrap=False)
    raw = connect(server.addr)
    with pytest.raises(OSError) as info:
        client_context().wrap_socket(raw, server_hostname="localhost")
    assert info.value.errno == ssl.ERR_HANDSHAKE_EOF
    assert raw.fileno() >= 0               # left open for the caller
    raw.close()
    server.join()


def test_end_of_stream_in_server_handshake_raises_handshake_eof(
        run_server_thread, connect, server_context):
    server = run_server_thread(server_context(), lambda tls: None)
    raw = connect(server.addr)
    raw.shutdown(socket.SHUT_WR)
    error = server.wait()
    raw.close()
    assert isinstance(error, OSError)
    assert error.errno == ssl.ERR_HANDSHAKE_EOF


# --------------------------------------------------------------------------
# close()
# --------------------------------------------------------------------------

def test_close_sends_close_notify_so_the_peer_sees_a_clean_end(tls_pair, echo_handler):
    tls, server = tls_pair()
    tls.write(b"abc")
    assert tls.read(3) == b"abc"
    tls.close()
    assert server.join() == b"abc"      # the echo handler returned on b''


def test_close_closes_the_underlying_socket(tls_pair):
    tls, server = tls_pair()
    assert tls.fileno() >= 0
    tls.close()
    assert tls.fileno() == -1
    assert server.join() == b""        # the peer saw the end of the stream


def test_close_is_idempotent_and_closes_the_socket_exactly_once(tls_pair, sockets):
    tls, server = tls_pair()
    fd = tls.fileno()
    tls.close()
    # A new socket very likely reuses the same descriptor number; a second
    # close of the old socket must not close it.
    fresh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(fresh)
    tls.close()
    tls.close()
    del tls
    gc.collect()
    os.fstat(fresh.fileno())
    fresh.bind(("127.0.0.1", 0))
    fresh.listen(1)
    assert fresh.getsockname()[1] > 0
    assert fd >= 0


def test_underlying_socket_object_is_closed_by_close(run_server_thread, connect,
                                                     server_context, client_context,
                                                     echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    raw = connect(server.addr)
    tls = client_context().wrap_socket(raw, server_hostname="localhost")
    tls.close()
    assert raw.fileno() == -1
    server.join()


@pytest.mark.parametrize("call", [
    lambda t: t.read(1), lambda t: t.read(), lambda t: t.recv(1),
    lambda t: t.readinto(bytearray(1)), lambda t: t.recv_into(bytearray(1)),
    lambda t: t.readline(), lambda t: t.write(b"x"), lambda t: t.send(b"x"),
    lambda t: t.sendall(b"x"), lambda t: t.do_handshake(),
    lambda t: t.getpeercert(), lambda t: t.getpeercert(True),
], ids=["read_n", "read_all", "recv", "readinto", "recv_into", "readline", "write",
        "send", "sendall", "do_handshake", "getpeercert", "getpeercert_binary"])
def test_io_after_close_raises_closed(tls_pair, call):
    tls, server = tls_pair()
    tls.close()
    with pytest.raises(OSError) as info:
        call(tls)
    assert info.value.errno == ssl.ERR_CLOSED


def test_cipher_and_version_are_none_after_close(tls_pair):
    tls, server = tls_pair()
    assert tls.cipher() is not None
    tls.close()
    assert tls.cipher() is None
    assert tls.version() is None


def test_setblocking_and_settimeout_after_close_do_not_crash(tls_pair):
    tls, server = tls_pair()
    tls.close()
    tls.setblocking(False)
    tls.setblocking(True)
    try:
        tls.settimeout(1.0)
    except OSError:
        pass
    assert tls.pending() == 0
    assert tls.fileno() == -1


def test_close_before_handshake_sends_nothing_and_closes(
        run_server_thread, connect, client_context):
    def serve(conn):
        return conn.recv(100)

    server = run_server_thread(None, serve, wrap=False)
    raw = connect(server.addr)
    tls = client_context().wrap_socket(raw, server_hostname="localhost",
                                       do_handshake_on_connect=False)
    tls.close()
    assert server.join() == b""
    assert raw.fileno() == -1


def test_context_manager_closes_on_exit(tls_pair):
    tls, server = tls_pair()
    with tls as entered:
        assert entered is tls
        entered.write(b"k")
        assert entered.read(1) == b"k"
    assert tls.cipher() is None
    with pytest.raises(OSError) as info:
        tls.read(1)
    assert info.value.errno == ssl.ERR_CLOSED


def test_context_manager_closes_when_the_body_raises(tls_pair):
    tls, server = tls_pair()
    with pytest.raises(KeyError):
        with tls:
            raise KeyError("boom")
    assert tls.fileno() == -1
    assert tls.cipher() is None


# --------------------------------------------------------------------------
# Sticky errors
# --------------------------------------------------------------------------

def test_errors_are_sticky(pki, tls_pair, server_context):
    tls, server = tls_pair(server_ctx=server_context(pki.wronghost_chain,
                                                     pki.wronghost_key),
                           do_handshake_on_connect=False)
    with pytest.raises(OSError) as first:
        tls.do_handshake()
    assert first.value.errno == ssl.ERR_HOSTNAME_MISMATCH
    for call in (tls.do_handshake, lambda: tls.read(1), lambda: tls.write(b"x"),
                 lambda: tls.recv(1), lambda: tls.sendall(b"x")):
        with pytest.raises(OSError) as again:
            call()
        assert again.value.errno == ssl.ERR_HOSTNAME_MISMATCH
        assert again.value.strerror == first.value.strerror


# --------------------------------------------------------------------------
# getpeercert / cipher
# --------------------------------------------------------------------------

def test_getpeercert_binary_is_the_peer_leaf_der(pki, tls_pair, server_context):
    tls, _ = tls_pair(server_ctx=server_context(pki.server_rsa_chain, pki.server_rsa_key))
    der = tls.getpeercert(binary_form=True)
    assert isinstance(der, bytes)
    assert der == pki.der(pki.server_rsa_cert)
    assert der == pki.read(pki.server_rsa_cert_der)


def test_getpeercert_dict_has_cpython_shape_and_values(pki, tls_pair):
    tls, _ = tls_pair()
    cert = tls.getpeercert()
    info = pki.cert_info(pki.server_ec_cert)
    assert cert["subject"] == ((("commonName", "localhost"),),)
    assert cert["issuer"] == ((("commonName", "mpssl Test Intermediate CA"),),)
    assert cert["version"] == 3
    assert cert["serialNumber"] == info["serial"]
    assert cert["notBefore"] == info["notBefore"]
    assert cert["notAfter"] == info["notAfter"]
    assert cert["subjectAltName"] == (("DNS", "localhost"),
                                      ("IP Address", "127.0.0.1"),
                                      ("IP Address", "0:0:0:0:0:0:0:1"))


def test_getpeercert_dict_omits_subject_alt_name_when_absent(pki, tls_pair,
                                                             server_context):
    tls, _ = tls_pair(server_ctx=server_context(pki.cn_only_chain, pki.cn_only_key))
    cert = tls.getpeercert()
    assert cert["subject"] == ((("commonName", "localhost"),),)
    assert "subjectAltName" not in cert


def test_getpeercert_before_handshake_is_none(tls_pair):
    tls, _ = tls_pair(do_handshake_on_connect=False)
    assert tls.getpeercert(binary_form=True) is None


def test_server_getpeercert_is_none_when_client_sent_no_cert(tls_pair):
    def handler(tls):
        return tls.getpeercert(True), tls.getpeercert(), tls.read(1)

    tls, server = tls_pair(handler=handler)
    tls.write(b"x")
    assert server.join() == (None, None, b"x")


def test_cipher_is_none_before_handshake_and_a_tuple_after(tls_pair, client_context):
    ctx = client_context()
    tls, _ = tls_pair(client_ctx=ctx, do_handshake_on_connect=False)
    assert tls.cipher() is None
    assert tls.version() is None
    assert tls.do_handshake() is True
    name, version = tls.cipher()
    assert name in ctx.get_ciphers()
    assert version in ("TLSv1.2", "TLSv1.3")
    assert tls.version() == version
    if version == "TLSv1.3":
        assert not name.startswith("TLS_ECDHE_")
    else:
        assert name.startswith("TLS_ECDHE_")


def test_default_contexts_negotiate_the_newest_version(tls_pair):
    tls, _ = tls_pair()
    assert tls.version() == ("TLSv1.3" if ssl.HAS_TLSv1_3 else "TLSv1.2")


def test_do_handshake_after_completion_returns_true(tls_pair):
    tls, _ = tls_pair()
    assert tls.do_handshake() is True


def test_rsa_and_ec_servers_both_work(pki, tls_pair, server_context):
    for chain, key in ((pki.server_rsa_chain, pki.server_rsa_key),
                       (pki.server_ec_chain, pki.server_ec_key)):
        tls, server = tls_pair(server_ctx=server_context(chain, key))
        tls.write(b"hi")
        assert tls.read(2) == b"hi"
        tls.close()
        assert server.join() == b"hi"


def test_ipv6_loopback_round_trip(ipv6, tls_pair):
    tls, server = tls_pair(family=ipv6)
    tls.write(b"six")
    assert tls.read(3) == b"six"
    tls.close()
    assert server.join() == b"six"
