"""What a test does with one end of a connection: read to the end (and
echo), read exactly n bytes, retry a non-blocking call until it gets
somewhere.  Shared by tests/conformance and tests/interop (tests/conftest.py
puts tests/ on sys.path).

Every loop here is bounded: a blocking socket by its timeout per call, a
non-blocking one by an explicit deadline.
"""

import select
import time

CHUNK = 65536
NB_TIMEOUT = 10.0      # the longest one non-blocking retry loop may take


def read_until_eof(tls, echo=False):
    """Reads until end of stream (writing every chunk straight back when
    `echo`); returns all the bytes read."""
    got = bytearray()
    while True:
        data = tls.recv(CHUNK)
        if not data:
            return bytes(got)
        got += data
        if echo:
            tls.sendall(data)


def echo_until_eof(tls):
    """Server handler: echoes everything, returns the bytes received."""
    return read_until_eof(tls, echo=True)


def recv_exactly(sock, n, chunk=CHUNK):
    """Reads n bytes with recv() (which returns as soon as >= 1 byte is
    there); stops early only at end of stream.  Bounded by the socket's
    timeout per call and by n (every call returns >= 1 byte or b'')."""
    got = bytearray()
    while len(got) < n:
        data = sock.recv(min(chunk, n - len(got)))
        if not data:
            break
        got += data
    return bytes(got)


def deadline_in(seconds=NB_TIMEOUT):
    return time.monotonic() + seconds


def retry_while_none(call, waitable, read=True, write=False, deadline=None):
    """Calls call() until it returns something other than None (a
    non-blocking TLS call that would block), waiting between tries with
    select() for `waitable` to become readable and/or writable.  Returns
    (result, how many times call() returned None); AssertionError once the
    monotonic `deadline` (default: NB_TIMEOUT from now) has passed."""
    end = deadline or deadline_in()
    nones = 0
    while True:
        assert time.monotonic() < end, "still None after %d tries" % nones
        result = call()
        if result is not None:
            return result, nones
        nones += 1
        select.select([waitable] if read else [], [waitable] if write else [],
                      [], 0.5)


def nb_read_exactly(tls, n, waitable=None, method="recv", deadline=None):
    """Reads n bytes from a non-blocking SSLSocket with tls.<method>(size),
    waiting on `waitable` (default: tls itself) between tries; end of
    stream is an error."""
    read = getattr(tls, method)
    end = deadline or deadline_in()
    got = bytearray()
    while len(got) < n:
        data, _ = retry_while_none(lambda: read(n - len(got)), waitable or tls,
                                   deadline=end)
        assert data != b"", "unexpected end of stream after %d of %d bytes" % (
            len(got), n)
        got += data
    return bytes(got)
