"""A TLS peer with no TLS library: raw bytes on a loopback socket.

Two halves:
* the wire format, by hand: records, handshake messages, ClientHellos (TLS
  and the old SSLv2 format) with the usual extensions, and a parser for what
  a server answers (ServerHello fields, alerts), so tests can offer what no
  real tool still offers and read exactly what came back;
* RawPeer: a thread that runs a script of raw socket operations against
  the side under test (ours, in the test thread), and then ends the
  connection the way the test asks (drain to EOF, FIN, or RST).

Every socket here has a timeout and every loop is bounded by a count or by
reaching end of stream.
"""

import socket
import struct
import threading

TIMEOUT = 10.0          # as every socket in tests/conftest.py
MAX_RECORDS = 64        # a server answer we parse never needs more

# Record content types (RFC 5246 6.2.1, RFC 8446 5.1).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
# Handshake message types.
CLIENT_HELLO, SERVER_HELLO = 1, 2
# Extensions.
EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_SUPPORTED_VERSIONS = 43
EXT_KEY_SHARE = 51
# Alert levels and the descriptions the tests use.
WARNING, FATAL = 1, 2
HANDSHAKE_FAILURE, PROTOCOL_VERSION = 40, 70

MAX_PLAINTEXT = 2 ** 14
MAX_CIPHERTEXT = MAX_PLAINTEXT + 2048   # the TLS 1.2 bound on any record

# Groups and signature schemes every backend of ours can use.
GROUPS = (0x001D, 0x0017, 0x0018)          # x25519, secp256r1, secp384r1
SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501)
# A TLS 1.2 suite every backend enables by default and the EC test server
# can use: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
GOOD_SUITE = 0xC02B


# --------------------------------------------------------------------------
# Building bytes
# --------------------------------------------------------------------------

def u8_prefixed(data):
    return struct.pack(">B", len(data)) + data


def u16_prefixed(data):
    return struct.pack(">H", len(data)) + data


def u16_list(values):
    return b"".join(struct.pack(">H", v) for v in values)


def record(content_type, payload, version=0x0303, length=None):
    """One TLS record; `length` overrides the header's length field (to
    announce more, or less, than follows)."""
    if length is None:
        length = len(payload)
    return struct.pack(">BHH", content_type, version, length) + payload


def alert(description, level=FATAL, version=0x0303):
    return record(ALERT, bytes([level, description]), version)


def handshake_message(msg_type, body):
    return struct.pack(">B", msg_type) + struct.pack(">I", len(body))[1:] + body


def extension(kind, data):
    return struct.pack(">H", kind) + u16_prefixed(data)


def server_name(host):
    entry = b"\x00" + u16_prefixed(host.encode())
    return extension(EXT_SERVER_NAME, u16_prefixed(entry))


def supported_groups(groups=GROUPS):
    return extension(EXT_SUPPORTED_GROUPS, u16_prefixed(u16_list(groups)))


def ec_point_formats():
    return extension(EXT_EC_POINT_FORMATS, u8_prefixed(b"\x00"))


def signature_algorithms(schemes=SIGNATURE_SCHEMES):
    return extension(EXT_SIGNATURE_ALGORITHMS, u16_prefixed(u16_list(schemes)))


def supported_versions(versions):
    return extension(EXT_SUPPORTED_VERSIONS, u8_prefixed(u16_list(versions)))


def tls12_extensions(host="localhost"):
    """What a plain TLS 1.2 ECDHE client sends (no supported_versions: the
    version is the one in the hello)."""
    return [server_name(host), supported_groups(), ec_point_formats(),
            signature_algorithms()]


def client_hello(suites, version=0x0303, compressions=(0,), extensions=None,
                 record_version=0x0301, session_id=b"", random=None):
    """A whole ClientHello record in the TLS format.  extensions=None gives
    tls12_extensions(); [] sends none at all (an SSLv3-era hello)."""
    if extensions is None:
        extensions = tls12_extensions()
    body = (struct.pack(">H", version)
            + (random or bytes(range(32)))
            + u8_prefixed(session_id)
            + u16_prefixed(u16_list(suites))
            + u8_prefixed(bytes(compressions)))
    if extensions:
        body += u16_prefixed(b"".join(extensions))
    return record(HANDSHAKE, handshake_message(CLIENT_HELLO, body),
                  record_version)


def sslv2_client_hello(specs, version=0x0002, challenge=None):
    """A ClientHello in the SSL 2.0 record format (RFC 6101 appendix E):
    a 2-byte length with the high bit set, then msg_type 1, the version,
    3-byte cipher specs, an empty session id and the challenge.  `specs`
    are ints (0x0000XX for TLS suites, 0x0X0080 for SSL 2.0 ones)."""
    challenge = challenge or bytes(range(16))
    cipher_specs = b"".join(struct.pack(">I", s)[1:] for s in specs)
    body = (struct.pack(">BHHHH", CLIENT_HELLO, version, len(cipher_specs), 0,
                        len(challenge))
            + cipher_specs + challenge)
    return struct.pack(">H", 0x8000 | len(body)) + body


# --------------------------------------------------------------------------
# Reading bytes
# --------------------------------------------------------------------------

def recv_exactly(sock, n):
    """n bytes, or fewer if the stream ends first."""
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def read_record(sock):
    """(content_type, version, payload) of the next record; None at a clean
    end of stream, or if it ends inside a record."""
    header = recv_exactly(sock, 5)
    if len(header) < 5:
        return None
    content_type, version, length = struct.unpack(">BHH", header)
    payload = recv_exactly(sock, length)
    if len(payload) < length:
        return None
    return content_type, version, payload


def read_until_eof(sock, limit=1 << 20):
    """Everything the other side sends until it closes (at most `limit`
    bytes); a reset or a timeout ends it too: this is for recording, the
    test asserts on the side under test."""
    got = b""
    try:
        while len(got) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


class ServerHello:
    """The fields of a ServerHello the policy tests check."""

    def __init__(self, body):
        pos = 0
        self.legacy_version = struct.unpack_from(">H", body, pos)[0]
        pos += 2 + 32
        pos += 1 + body[pos]                      # session id
        self.suite = struct.unpack_from(">H", body, pos)[0]
        self.compression = body[pos + 2]
        pos += 3
        self.version = self.legacy_version
        if pos + 2 <= len(body):
            end = pos + 2 + struct.unpack_from(">H", body, pos)[0]
            pos += 2
            while pos + 4 <= end:
                kind, size = struct.unpack_from(">HH", body, pos)
                if kind == EXT_SUPPORTED_VERSIONS and size == 2:
                    self.version = struct.unpack_from(">H", body, pos + 4)[0]
                pos += 4 + size

    def __repr__(self):
        return ("ServerHello(version=0x%04X, suite=0x%04X, compression=%d)"
                % (self.version, self.suite, self.compression))


class Answer:
    """What a server sent back to a hand-made ClientHello: its ServerHello
    (or None), the alerts it sent as (level, description) pairs, and the
    raw bytes, for messages."""

    def __init__(self, data):
        self.raw = data
        self.server_hello = None
        self.alerts = []
        pos = 0
        for _ in range(MAX_RECORDS):
            if pos + 5 > len(data):
                break
            content_type, _, length = struct.unpack_from(">BHH", data, pos)
            payload = data[pos + 5:pos + 5 + length]
            pos += 5 + length
            if content_type == ALERT and len(payload) == 2:
                self.alerts.append((payload[0], payload[1]))
            elif (content_type == HANDSHAKE and self.server_hello is None
                  and payload[:1] == bytes([SERVER_HELLO])):
                self.server_hello = ServerHello(payload[4:])

    def __repr__(self):
        return "Answer(%r, alerts=%r, %d bytes: %s)" % (
            self.server_hello, self.alerts, len(self.raw), self.raw[:16].hex())


def read_answer(sock, limit=1 << 16):
    """Reads a server's answer to a ClientHello: every byte until the
    server closes, bounded by `limit` (a ServerHello flight is a few KiB)
    and by the socket timeout."""
    return Answer(read_until_eof(sock, limit))


# --------------------------------------------------------------------------
# Ending a connection
# --------------------------------------------------------------------------

def send_quietly(sock, data):
    """sendall() that tolerates the other side having given up already (it
    may close as soon as it has seen enough to fail)."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def reset(sock):
    """Closes with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def end_connection(sock, how):
    """how: "drain" (read until the other side closes), "fin" (half-close,
    then drain) or "rst".  Returns what was read from the other side."""
    if how == "rst":
        reset(sock)
        return b""
    if how == "fin":
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    return read_until_eof(sock)


# --------------------------------------------------------------------------
# The peer thread
# --------------------------------------------------------------------------

class RawPeer:
    """Runs script(sock, peer) in a thread on a socket that `opener()`
    returns (an accepted or a connected one, given a TIMEOUT here).  The
    script may wait on peer.stop (set by finish()) to keep the connection
    open while the test thread works.  Whatever the script returns is
    peer.result; its exception is re-raised by finish()."""

    def __init__(self, opener, script):
        self.stop = threading.Event()
        self.result = None
        self.error = None
        self.sock = None
        self._opener = opener
        self._script = script
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.sock = self._opener()
            self.sock.settimeout(TIMEOUT)
            self.result = self._script(self.sock, self)
        except BaseException as exc:  # handed to the test thread by finish()
            self.error = exc
        finally:
            if self.sock is not None:
                try:
                    self.sock.close()
                except OSError:
                    pass

    def finish(self, timeout=TIMEOUT + 5):
        """Releases a waiting script, joins (bounded), re-raises its error,
        returns its result."""
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "raw peer did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result


def close_then_join(sockets, peers):
    """Fixture teardown: our sockets first (a peer draining its end then sees
    EOF at once), then every peer is released and joined."""
    for s in reversed(sockets):
        try:
            s.close()
        except OSError:
            pass
    for peer in peers:
        peer.stop.set()
        peer.thread.join(TIMEOUT + 5)
