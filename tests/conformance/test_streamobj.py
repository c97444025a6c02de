"""Wrapping a stream object that is not a socket: readinto/write or
recv_into/send, would-block as None, exceptions propagating, close once."""

import errno
import gc
import re
import socket
import threading

import pytest
from tlsio import (  # noqa: I100  (tests/tlsio.py)
    nb_read_exactly, read_until_eof, retry_while_none)


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


# --------------------------------------------------------------------------
# Exceptions from the stream: transient ones keep the connection usable,
# transport failures are sticky with their own errno
# --------------------------------------------------------------------------

class RaisingStream(ReadintoWriteStream):
    """readinto/write raise the exception set in raise_on_read /
    raise_on_write once, before touching the socket; has a fileno, so
    blocking operations wait on it."""

    def __init__(self, sock):
        super().__init__(sock)
        self.raise_on_read = None
        self.raise_on_write = None

    def fileno(self):
        return self.sock.fileno()

    def readinto(self, buf):
        exc, self.raise_on_read = self.raise_on_read, None
        if exc is not None:
            raise exc
        return super().readinto(buf)

    def write(self, buf):
        exc, self.raise_on_write = self.raise_on_write, None
        if exc is not None:
            raise exc
        return super().write(buf)


TRANSIENT_EXCEPTIONS = {
    "timeout": lambda: TimeoutError("stream timed out"),
    "timeout_errno": lambda: OSError(errno.ETIMEDOUT, "timed out"),
    "would_block": lambda: BlockingIOError(errno.EAGAIN, "try again"),
    "interrupted": lambda: InterruptedError(errno.EINTR, "interrupted"),
    "keyboard_interrupt": KeyboardInterrupt,
    "not_an_oserror": lambda: Boom("a bug in the stream"),
}


@pytest.mark.parametrize("make_exc", TRANSIENT_EXCEPTIONS.values(),
                         ids=TRANSIENT_EXCEPTIONS.keys())
def test_transient_exception_from_stream_read_is_raised_once_and_loses_nothing(
        server_and_sock, client_context, make_exc):
    server, raw = server_and_sock
    stream = RaisingStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    exc = make_exc()
    stream.raise_on_read = exc
    with pytest.raises(type(exc)) as info:
        tls.read(1)
    assert info.value is exc
    # The connection is intact: the next exchange works.
    assert tls.write(b"ping") == 4
    assert tls.read(4) == b"ping"
    tls.close()
    assert server.join() == b"ping"


def read_until_suffix(tls, suffix, max_reads=20):
    data = b""
    for _ in range(max_reads):
        if data.endswith(suffix):
            break
        data += tls.recv(100)
    return data


@pytest.mark.parametrize("make_exc", TRANSIENT_EXCEPTIONS.values(),
                         ids=TRANSIENT_EXCEPTIONS.keys())
def test_transient_exception_from_stream_write_is_raised_once_and_keeps_the_connection(
        server_and_sock, client_context, make_exc):
    server, raw = server_and_sock
    stream = RaisingStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    exc = make_exc()
    stream.raise_on_write = exc
    with pytest.raises(type(exc)) as info:
        tls.write(b"ping")
    assert info.value is exc
    assert tls.write(b"pong") == 4
    # Whether the interrupted record went out is not known to the caller;
    # what follows arrives intact either way.
    echoed = read_until_suffix(tls, b"pong")
    assert echoed in (b"pong", b"pingpong")
    tls.close()
    assert server.join() == echoed


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "nonblocking"])
def test_write_retried_after_a_transient_stream_exception_is_sent_once(
        run_server_thread, connect, server_context, client_context, blocking):
    server = run_server_thread(server_context(), read_until_eof)  # no echo
    raw = connect(server.addr, timeout=3)
    stream = RaisingStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    if not blocking:
        raw.setblocking(False)
        tls.setblocking(False)
    stream.raise_on_write = TimeoutError("stream timed out")
    with pytest.raises(TimeoutError):
        tls.write(b"ping")
    n, _ = retry_while_none(lambda: tls.write(b"ping"), raw, read=False,
                            write=True)
    assert n == 4
    tls.close()
    assert server.join() == b"ping"


FATAL_EXCEPTIONS = {
    "reset": (lambda: ConnectionResetError(errno.ECONNRESET, "reset"),
              errno.ECONNRESET),
    "reset_without_errno": (lambda: ConnectionResetError("reset"),
                            errno.ECONNRESET),
    "broken_pipe": (lambda: BrokenPipeError(errno.EPIPE, "broken pipe"),
                    errno.EPIPE),
    "bad_fd": (lambda: OSError(errno.EBADF, "bad fd"), errno.EBADF),
}


@pytest.mark.parametrize("direction", ["read", "write"])
@pytest.mark.parametrize("make_exc,err", FATAL_EXCEPTIONS.values(),
                         ids=FATAL_EXCEPTIONS.keys())
def test_oserror_from_stream_is_raised_then_sticky_with_its_own_errno(
        server_and_sock, client_context, make_exc, err, direction):
    server, raw = server_and_sock
    stream = RaisingStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    exc = make_exc()
    if direction == "read":
        stream.raise_on_read = exc
        operation = lambda: tls.read(1)     # noqa: E731
    else:
        stream.raise_on_write = exc
        operation = lambda: tls.write(b"x")  # noqa: E731
    with pytest.raises(OSError) as first:
        operation()
    assert first.value is exc
    for later_operation in (lambda: tls.read(1), lambda: tls.write(b"x")):
        with pytest.raises(OSError) as later:
            later_operation()
        assert later.value.errno == err, later.value
    tls.close()
    raw.close()
    server.wait()


# --------------------------------------------------------------------------
# The stream only ever sees its own buffers, and its counts are checked
# --------------------------------------------------------------------------

class KeepingStream(RecvSendStream):
    """Keeps a slice of every buffer it is handed, with a snapshot of the
    bytes the slice held when the call returned."""

    def __init__(self, sock):
        super().__init__(sock)
        self.kept = []

    def fileno(self):
        return self.inner.sock.fileno()

    def recv_into(self, buf, nbytes=0):
        n = super().recv_into(buf, nbytes)
        if n:
            self.kept.append((buf[0:n], bytes(buf[0:n])))
        return n

    def send(self, buf):
        n = super().send(buf)
        self.kept.append((buf[0:len(buf)], bytes(buf)))
        return n


def test_buffers_handed_to_the_stream_stay_its_own_after_the_call(
        server_and_sock, client_context):
    server, raw = server_and_sock
    stream = KeepingStream(raw)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    sent = b""
    for i in range(20):                 # records reuse the library's buffers
        message = bytes([i]) * (100 + i)
        tls.write(message)
        assert tls.read(len(message)) == message
        sent += message
    tls.close()
    del tls
    gc.collect()                        # the connection's memory is freed
    assert len(stream.kept) > 20
    for kept, snapshot in stream.kept:
        # Unchanged since the call: nothing else writes into it, and it is
        # not a window on memory that was reused or freed.
        assert bytes(kept) == snapshot
    for kept, _ in stream.kept:
        if not isinstance(kept, bytes):
            kept[0:1] = b"X"            # the stream may scribble on its own
    assert server.join() == sent


class MiscountingStream(ReadintoWriteStream):
    """readinto/write return `result(buf)` without touching the socket once
    `lie_on` names them."""

    def __init__(self, sock, result):
        super().__init__(sock)
        self.lie_on = None
        self.result = result

    def readinto(self, buf):
        if self.lie_on == "readinto":
            return self.result(buf)
        return super().readinto(buf)

    def write(self, buf):
        if self.lie_on == "write":
            return self.result(buf)
        return super().write(buf)


@pytest.mark.parametrize("method", ["readinto", "write"])
def test_stream_claiming_more_bytes_than_its_buffer_is_a_sticky_eio(
        server_and_sock, client_context, method):
    server, raw = server_and_sock
    stream = MiscountingStream(raw, lambda buf: len(buf) + 1)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    stream.lie_on = method
    operation = (lambda: tls.read(1)) if method == "readinto" else (
        lambda: tls.write(b"x"))
    with pytest.raises(OSError) as first:
        operation()
    assert first.value.errno == errno.EIO
    match = re.search(r"stream %s\(\) returned (\d+) for a buffer of (\d+) "
                      r"bytes" % method, str(first.value))
    assert match, str(first.value)
    assert int(match.group(1)) == int(match.group(2)) + 1
    stream.lie_on = None
    with pytest.raises(OSError) as later:
        tls.read(1)
    assert later.value.errno == errno.EIO
    tls.close()
    raw.close()
    server.wait()


@pytest.mark.parametrize("method", ["readinto", "write"])
def test_stream_returning_a_negative_count_is_a_sticky_eio(
        server_and_sock, client_context, method):
    server, raw = server_and_sock
    stream = MiscountingStream(raw, lambda buf: -1)
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    stream.lie_on = method
    with pytest.raises(OSError) as first:
        tls.read(1) if method == "readinto" else tls.write(b"x")
    assert first.value.errno == errno.EIO
    assert "returned -1" in str(first.value)
    tls.close()
    raw.close()
    server.wait()


def test_stream_returning_a_non_int_raises_typeerror_then_sticky_eio(
        server_and_sock, client_context):
    server, raw = server_and_sock
    stream = MiscountingStream(raw, lambda buf: "1")
    tls = client_context().wrap_socket(stream, server_hostname="localhost")
    stream.lie_on = "write"
    with pytest.raises(TypeError):
        tls.write(b"x")
    stream.lie_on = None
    with pytest.raises(OSError) as later:
        tls.write(b"x")
    assert later.value.errno == errno.EIO
    tls.close()
    raw.close()
    server.wait()
