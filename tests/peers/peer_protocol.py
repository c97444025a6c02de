"""What the peer programs next to this file share (stdlib_peer.py,
mpssl_peer.py): their JSON-lines reports, the data protocol, the command
line of a conversation, the listening socket, and the raw-connection close
checks (also used by the tests' own side, through the `peers` package).

Only the standard library, and never `ssl`: each peer imports the `ssl` it
is about (CPython's, or an mpssl build's) itself.
"""

import hashlib
import json
import os
import select
import socket
import sys

CHUNK = 65536
VERIFY_MODES = ("none", "optional", "required")
CONTENT_ALERT = 21
CONTENT_APPLICATION_DATA = 23
# A TLS 1.3 record protecting a 2-byte alert: alert + inner content type
# + 16-byte AEAD tag.  (TLS 1.2 alerts keep their own content type.)
TLS13_ALERT_RECORD_LENGTH = 2 + 1 + 16


def emit(event, **fields):
    """One report line on stdout, flushed at once."""
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def add_conversation_arguments(ap):
    """The options both peers take (see stdlib_peer.py's docstring)."""
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", help="PEM chain (leaf first)")
    ap.add_argument("--key")
    ap.add_argument("--cafile")
    ap.add_argument("--verify", choices=VERIFY_MODES, default=None,
                    help="default: required for a client, none for a server")
    ap.add_argument("--hostname", default="localhost",
                    help="client: SNI and name to check ('' for none)")
    ap.add_argument("--first", choices=("recv", "send"), default="recv")
    ap.add_argument("--recv", type=int, default=0, help="bytes to read")
    ap.add_argument("--send", type=int, default=0, help="bytes to write")
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--close", choices=("wait", "first", "abort"),
                    default="wait")
    ap.add_argument("--timeout", type=float, default=20.0)


def accept_one(args):
    """Listens on args.host:args.port (reported in a "listening" event)
    and returns the one connection accepted, with args.timeout set."""
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.settimeout(args.timeout)
        listener.bind((args.host, args.port))
        listener.listen(1)
        emit("listening", port=listener.getsockname()[1])
        raw, _ = listener.accept()
    raw.settimeout(args.timeout)
    return raw


def receive(tls, n):
    """Reads n bytes (fewer at end of stream) and reports their digest."""
    digest, got = hashlib.sha256(), 0
    while got < n:
        data = tls.recv(min(CHUNK, n - got))
        if not data:
            break
        digest.update(data)
        got += len(data)
    emit("received", n=got, sha256=digest.hexdigest())


def send(tls, n):
    """Writes n random bytes and reports their digest."""
    data = os.urandom(n)
    tls.sendall(data)
    emit("sent", n=n, sha256=hashlib.sha256(data).hexdigest())


def echo(tls):
    """Writes back every chunk until end of stream; reports the digest."""
    digest, got = hashlib.sha256(), 0
    while True:
        data = tls.recv(CHUNK)
        if not data:
            break
        digest.update(data)
        got += len(data)
        tls.sendall(data)
    emit("received", n=got, sha256=digest.hexdigest())


def send_and_receive(tls, args):
    """--first recv: read args.recv bytes, then write args.send; --first
    send: the other way round (sequential, so neither side can block the
    other on a full TCP window)."""
    steps = [lambda: receive(tls, args.recv), lambda: send(tls, args.send)]
    if args.first == "send":
        steps.reverse()
    for step in steps:
        step()


# ----------------------------------------------------------------------
# Close checks on the raw connection
# ----------------------------------------------------------------------

def transport_open(sock):
    """True when `sock` has neither data nor end of stream waiting: after
    a TLS read returned b'', that means the b'' was a close_notify."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def split_records(data):
    """[(content type, length)] of the TLS records in `data`, or None if
    `data` is not a whole number of records."""
    records, at = [], 0
    while at < len(data):
        if len(data) - at < 5:
            return None
        length = int.from_bytes(data[at + 3:at + 5], "big")
        if len(data) - at - 5 < length:
            return None
        records.append((data[at], length))
        at += 5 + length
    return records


def alert_shaped(content_type, length):
    """Whether a record can be an encrypted close_notify: an alert record
    (TLS 1.2), or an application_data record exactly the size of a
    protected alert (TLS 1.3 hides the type)."""
    return content_type == CONTENT_ALERT or (
        content_type == CONTENT_APPLICATION_DATA
        and length == TLS13_ALERT_RECORD_LENGTH)


def read_close_answer(sock):
    """Reads `sock` (the raw connection, after our own close_notify went
    out through a duplicate) until end of stream, bounded by its timeout.
    Returns (clean, detail): clean when exactly one alert-shaped record
    and then the FIN arrived."""
    data = bytearray()
    try:
        while True:
            got = sock.recv(CHUNK)
            if not got:
                break
            data += got
    except OSError as exc:
        return False, "%s after %d bytes: %s" % (type(exc).__name__,
                                                len(data), exc)
    records = split_records(bytes(data))
    if records is None:
        return False, "%d bytes that are not whole TLS records" % len(data)
    if len(records) != 1 or not alert_shaped(*records[0]):
        return False, "records before end of stream: %r" % records
    return True, "close_notify answered (record %r), then end of stream" % (
        records[0],)
