"""ssl.wrap_socket (module function) and SSLContext.wrap_socket arguments."""

import socket
import ssl

import pytest


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_nothing_sent(peer):
    """The other end of a socketpair received no byte."""
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(1)


@pytest.fixture
def pair(sockets):
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    sockets.extend([a, b])
    return a, b


# --------------------------------------------------------------------------
# ssl.wrap_socket
# --------------------------------------------------------------------------

def test_module_wrap_socket_client_defaults_to_cert_none(run_server_thread, connect,
                                                         server_context, pki, echo_handler):
    server = run_server_thread(server_context(pki.wronghost_chain, pki.wronghost_key),
                               echo_handler)
    tls = ssl.wrap_socket(connect(server.addr), server_hostname="localhost")
    try:
        assert tls.verify_result() is None
        assert tls.getpeercert(True) == pki.der(pki.wronghost_cert)
        tls.write(b"abc")
        assert tls.read(3) == b"abc"
    finally:
        tls.close()
    assert server.join() == b"abc"


def test_module_wrap_socket_accepts_positional_arguments(run_server_thread, connect,
                                                         server_context, pki, echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    raw = connect(server.addr)
    tls = ssl.wrap_socket(raw, False, None, None, ssl.CERT_REQUIRED,
                          read(pki.ca_cert), "localhost", True)
    try:
        assert tls.verify_result() == 0
        assert tls.server_side is False
        assert tls.server_hostname == "localhost"
        tls.write(b"x")
        assert tls.read(1) == b"x"
    finally:
        tls.close()
    server.join()


@pytest.mark.parametrize("as_data", [False, True])
def test_module_wrap_socket_server_loads_key_and_cert(run_server_thread, connect, pki,
                                                      client_context, as_data):
    key = read(pki.server_ec_key) if as_data else pki.server_ec_key
    cert = read(pki.server_ec_chain) if as_data else pki.server_ec_chain

    def serve(conn):
        tls = ssl.wrap_socket(conn, server_side=True, key=key, cert=cert)
        try:
            assert tls.server_side is True
            return tls.read(5)
        finally:
            tls.close()

    server = run_server_thread(None, serve, wrap=False)
    tls = client_context().wrap_socket(connect(server.addr), server_hostname="localhost")
    assert tls.getpeercert(True) == pki.der(pki.server_ec_cert)
    tls.write(b"hello")
    assert server.join() == b"hello"
    tls.close()


def test_module_wrap_socket_cert_reqs_required_rejects_untrusted_server(
        run_server_thread, connect, server_context, pki, echo_handler):
    server = run_server_thread(server_context(pki.untrusted_chain, pki.untrusted_key),
                               echo_handler)
    raw = connect(server.addr)
    with pytest.raises(OSError) as info:
        ssl.wrap_socket(raw, cert_reqs=ssl.CERT_REQUIRED, cadata=read(pki.ca_cert),
                        server_hostname="localhost")
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED
    raw.close()


def test_module_wrap_socket_do_handshake_false_defers_handshake(
        run_server_thread, connect, server_context, echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    tls = ssl.wrap_socket(connect(server.addr), server_hostname="localhost",
                          do_handshake=False)
    try:
        assert tls.cipher() is None
        tls.write(b"go")
        assert tls.cipher() is not None
        assert tls.read(2) == b"go"
    finally:
        tls.close()
    server.join()


@pytest.mark.parametrize("which", ["cert_only", "key_only"])
def test_module_wrap_socket_cert_without_key_raises_typeerror(pair, pki, which):
    a, b = pair
    kwargs = {"cert": pki.server_ec_chain} if which == "cert_only" else {"key": pki.server_ec_key}
    with pytest.raises(TypeError):
        ssl.wrap_socket(a, server_side=True, **kwargs)
    assert_nothing_sent(b)


# --------------------------------------------------------------------------
# SSLContext.wrap_socket
# --------------------------------------------------------------------------

def test_context_wrap_socket_options_are_keyword_only(pair):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(TypeError):
        ctx.wrap_socket(pair[0], False)


def test_server_side_true_on_client_context_raises_valueerror_before_io(pair):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError):
        ctx.wrap_socket(pair[0], server_side=True)
    assert_nothing_sent(pair[1])


def test_server_side_false_on_server_context_raises_valueerror_before_io(pair, server_context):
    with pytest.raises(ValueError):
        server_context().wrap_socket(pair[0], server_side=False)
    assert_nothing_sent(pair[1])
    with pytest.raises(ValueError):
        server_context().wrap_socket(pair[0])   # server_side defaults to False


def test_cert_required_without_server_hostname_raises_before_io(pair):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError) as info:
        ctx.wrap_socket(pair[0])
    assert "CERT_REQUIRED requires server_hostname" in str(info.value)
    assert_nothing_sent(pair[1])
    assert pair[0].fileno() >= 0


def test_cert_none_without_server_hostname_is_allowed(tls_pair, client_context):
    tls, _ = tls_pair(client_ctx=client_context(verify_mode=ssl.CERT_NONE),
                      server_hostname=None)
    assert tls.server_hostname is None
    tls.write(b"ok")
    assert tls.read(2) == b"ok"


def test_server_hostname_may_be_bytes(tls_pair):
    tls, _ = tls_pair(server_hostname=b"localhost")
    assert tls.verify_result() == 0


def test_wrap_socket_returns_after_complete_handshake(tls_pair):
    tls, _ = tls_pair()
    name, version = tls.cipher()
    assert version in ("TLSv1.2", "TLSv1.3")


def test_sslsocket_exposes_context_server_side_and_hostname(tls_pair, client_context):
    ctx = client_context()
    tls, _ = tls_pair(client_ctx=ctx)
    assert tls.context is ctx
    assert tls.server_side is False
    assert tls.server_hostname == "localhost"


def test_failed_handshake_leaves_underlying_socket_open(run_server_thread, connect,
                                                        server_context, client_context,
                                                        pki, echo_handler):
    server = run_server_thread(server_context(pki.wronghost_chain, pki.wronghost_key),
                               echo_handler)
    raw = connect(server.addr)
    with pytest.raises(OSError) as info:
        client_context().wrap_socket(raw, server_hostname="localhost")
    assert info.value.errno == ssl.ERR_HOSTNAME_MISMATCH
    assert raw.fileno() >= 0
    assert raw.getsockname()[0] == "127.0.0.1"
    raw.close()
    server.wait()


def test_idna_hostname_is_sent_as_a_label_in_ascii(sni_sent, client_context):
    _, sni = sni_sent(client_context(verify_mode=ssl.CERT_NONE),
                      server_hostname="b\u00fccher.example")
    assert sni == "xn--bcher-kva.example"


def test_idna_hostname_is_matched_in_ascii_form(run_server_thread, connect, pki,
                                                server_context, client_context):
    # A certificate for the ASCII form must not match another name, and the
    # Unicode form must be accepted as a hostname at all (no TypeError).
    server = run_server_thread(server_context(), lambda tls: None)
    with pytest.raises(OSError) as info:
        client_context().wrap_socket(connect(server.addr),
                                     server_hostname="b\u00fccher.example")
    assert info.value.errno == ssl.ERR_HOSTNAME_MISMATCH
    server.wait()
