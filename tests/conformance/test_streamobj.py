"""Wrapping a stream object that is not a socket: readinto/write or
recv_into/send, would-block as None, exceptions propagating, close once."""

import gc
import socket
import threading

import pytest
from tlsio import nb_read_exactly, retry_while_none  # noqa: I100  (tests/tlsio.py)


class ReadintoWriteStream:
    """A stream over one end of a socket: readinto/write, no fileno."""

    def __init__(self, sock):
        self.sock = sock
        self.close_calls = 0
        self.bytes_in = 0
        self.bytes_out = 0

    def readinto(self, buf):
        try:
            n = self.sock.recv_into(buf)
        except BlockingIOError:
            return None
        self.bytes_in += n
        return n

    def write(self, buf):
        try:
            n = self.sock.send(buf)
        except BlockingIOError:
            return None
        self.bytes_out += n
        return n

    def close(self):
        self.close_calls += 1
        self.sock.close()


class RecvSendStream:
    """The same over recv_into/send."""

    def __init__(self, sock):
        self.inner = ReadintoWriteStream(sock)

    def recv_into(self, buf, nbytes=0):
        view = memoryview(buf)
        return self.inner.readinto(view[:nbytes] if nbytes else view)

    def send(self, buf):
        return self.inner.write(buf)

    def close(self):
        self.inner.close()

    @property
    def close_calls(self):
        return self.inner.close_calls


class Boom(Exception):
    pass


class FailingStream(ReadintoWriteStream):
    def __init__(self, sock, fail_on):
        super().__init__(sock)
        self.fail_on = fail_on

    def readinto(self, buf):
        if self.fail_on == "read":
            raise Boom("read failed")
        return super().readinto(buf)

    def write(self, buf):
        if self.fail_on == "write":
            raise Boom("write failed")
        return super().write(buf)


@pytest.fixture
def server_and_sock(run_server_thread, connect, server_context, echo_handler):
    server = run_server_thread(server_context(), echo_handler)
    # A short timeout: a blocking stream that is read at the wrong moment
    # fails in seconds instead of stalling the run.
    return server, connect(server.addr, timeout=3)


@pytest.mark.parametrize("stream_class", [ReadintoWriteStream, RecvSendStream])
def test_stream_object_carries_a_verified_session(server_and_sock, client_context,
                                                  pki, stream_class):
    server, raw = server_and_sock
    stream = stream_class(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    assert tls.verify_result() == 0
    assert tls.getpeercert(True) == pki.der(pki.server_ec_cert)
    payload = bytes(range(256)) * 200
    assert tls.write(payload) == len(payload)
    assert tls.read(len(payload)) == payload
    tls.close()
    assert server.join() == payload


def test_stream_object_is_closed_exactly_once(server_and_sock, client_context):
    server, raw = server_and_sock
    stream = ReadintoWriteStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    tls.write(b"x")
    assert tls.read(1) == b"x"
    tls.close()
    tls.close()
    del tls
    gc.collect()
    assert stream.close_calls == 1
    server.join()


def test_stream_object_without_fileno_reports_minus_one(server_and_sock, client_context):
    server, raw = server_and_sock
    tls = client_context().wrap_socket(ReadintoWriteStream(raw), server_hostname="localhost")
    assert tls.fileno() == -1
    tls.close()
    server.join()


@pytest.mark.parametrize("fail_on", ["read", "write"])
def test_exception_from_the_stream_propagates_from_the_handshake(
        server_and_sock, client_context, fail_on):
    server, raw = server_and_sock
    with pytest.raises(Boom):
        client_context().wrap_socket(FailingStream(raw, fail_on),
                                     server_hostname="localhost")
    raw.close()
    server.wait()


@pytest.mark.parametrize("fail_on", ["read", "write"])
def test_exception_from_the_stream_propagates_from_io_after_the_handshake(
        server_and_sock, client_context, fail_on):
    server, raw = server_and_sock
    stream = FailingStream(raw, None)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    stream.fail_on = fail_on
    if fail_on == "read":
        tls.write(b"x")            # the echo makes a record there to read
    with pytest.raises(Boom):
        if fail_on == "read":
            tls.read(1)
        else:
            tls.write(b"x")
    raw.close()
    server.wait()


def test_none_from_a_nonblocking_stream_surfaces_as_none(
        run_server_thread, connect, server_context, client_context, echo_handler):
    gate = threading.Event()        # the server answers only once it is set
    server = run_server_thread(server_context(), echo_handler, gate=gate)
    raw = connect(server.addr, timeout=3)
    raw.setblocking(False)
    stream = ReadintoWriteStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost",
                                       do_handshake_on_connect=False)
    try:
        assert tls.do_handshake() is None   # the stream's readinto() gave None
    finally:
        gate.set()
    result, _ = retry_while_none(tls.do_handshake, raw)
    assert result is True
    assert tls.read(10) is None     # nothing to read yet
    n, _ = retry_while_none(lambda: tls.write(b"ping"), raw,
                            read=False, write=True)
    assert n == 4
    assert nb_read_exactly(tls, 4, waitable=raw, method="read") == b"ping"
    tls.close()
    assert stream.close_calls == 1
    server.join()


def test_stream_object_works_on_the_server_side(run_server_thread, connect,
                                                server_context, client_context):
    def serve(conn):
        conn.settimeout(3)
        stream = RecvSendStream(conn)
        tls = server_context().wrap_socket(stream, server_side=True)
        data = tls.read(5)
        tls.write(data.upper())
        tls.close()
        return stream.close_calls

    server = run_server_thread(None, serve, wrap=False)
    tls = client_context().wrap_socket(connect(server.addr), server_hostname="localhost")
    tls.write(b"hello")
    assert tls.read(5) == b"HELLO"
    assert tls.read(1) == b""
    tls.close()
    assert server.join() == 1


def test_object_without_stream_methods_is_rejected(client_context):
    with pytest.raises(TypeError):
        client_context().wrap_socket(object(), server_hostname="localhost")


def test_socketpair_end_works_as_transport(server_context,
                                           client_context, sockets):
    a, b = socket.socketpair()
    a.settimeout(3)
    b.settimeout(3)
    sockets.extend([a, b])
    result = {}

    def serve():
        try:
            tls = server_context().wrap_socket(b, server_side=True)
            result["data"] = tls.read(3)
            tls.close()
        except Exception as exc:   # reported below
            result["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    tls = client_context().wrap_socket(ReadintoWriteStream(a), server_hostname="localhost")
    tls.write(b"abc")
    thread.join(15)
    assert not thread.is_alive()
    assert result == {"data": b"abc"}
    assert tls.read(1) == b""
    tls.close()
    assert tls.cipher() is None
