"""A TLS peer built on mpssl's own `ssl`, from a build directory named on
the command line, so that a test running on one backend can talk to
another backend in a separate process (the cross-backend pairs).

    /usr/bin/python3 -I tests/peers/mpssl_peer.py server|client --build DIR ...
    /usr/bin/python3 -I tests/peers/mpssl_peer.py info --build DIR

--build DIR is put first on sys.path before `import ssl`, so that `ssl` is
mpssl as built there (tests/peers does so, see PeerGroup.mpssl_server /
mpssl_client).  `info` prints one JSON object and exits: the build's
backend, its library version, HAS_TLSv1_3 and its default suites.

It speaks one connection and reports on stdout in the JSON lines of
stdlib_peer.py, with the same --first / --recv / --send / --echo / --close
options.  The handshake event carries mpssl's view:

    {"event": "handshake", "backend": "gnutls", "version": "TLSv1.3",
     "cipher": "<IANA name>", "peer_cert": true|false,
     "peer_subject": [[["commonName", "x"]]] | null, "verify_result": 0}

--ciphers takes comma-separated IANA names for set_ciphers(); mpssl has no
minimum_version, so a list of TLS 1.2 suites only (or TLS 1.3 only) is how
a version is forced (contract.md).

Close (--close).  mpssl's read returns b'' at close_notify AND at a bare
transport end of stream, and its close() sends close_notify and closes the
stream in one step.  To tell the two apart, the peer wraps a duplicate of
its TCP socket and keeps the original: its own close() then leaves the
connection open, and the original can still be inspected and read.
  wait   the peer's read must return b'' while the connection is still
         open (so it was the other side's close_notify, not a FIN; the
         other side must keep its end open until answered), then the peer
         answers with its close_notify and closes.
  first  the peer sends close_notify first, then reads the connection raw
         until end of stream: clean only if exactly one record that can be
         an encrypted close_notify alert came before the FIN.
  abort  the peer closes the TCP connection without close_notify.
"""

import argparse
import os
import socket
import sys

# Run as a script with -I: this directory is not on sys.path by itself.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_protocol import (accept_one, add_conversation_arguments,  # noqa: E402
                           echo, emit, read_close_answer, send_and_receive,
                           transport_open)

# ----------------------------------------------------------------------
# The peer
# ----------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=("server", "client", "info"))
    ap.add_argument("--build", required=True,
                    help="build directory holding mpssl's ssl module")
    add_conversation_arguments(ap)
    ap.add_argument("--ciphers", help="comma-separated IANA suite names")
    return ap.parse_args(argv)


def import_mpssl(build):
    """mpssl's `ssl` from `build`, never CPython's."""
    sys.path.insert(0, os.path.abspath(build))
    import ssl
    if not hasattr(ssl, "BACKEND"):
        raise SystemExit("%s: `import ssl` is not mpssl (%s)"
                         % (build, getattr(ssl, "__file__", "?")))
    return ssl


def make_context(ssl, args):
    server = args.role == "server"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server
                         else ssl.PROTOCOL_TLS_CLIENT)
    if args.ciphers:
        ctx.set_ciphers(args.ciphers.split(","))
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.cafile:
        ctx.load_verify_locations(cafile=args.cafile)
    verify = args.verify or ("none" if server else "required")
    ctx.verify_mode = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                       "required": ssl.CERT_REQUIRED}[verify]
    return ctx


def open_connection(args):
    """The TCP connection (client: connected; server: the one accepted)."""
    if args.role == "client":
        return socket.create_connection((args.host, args.port),
                                        timeout=args.timeout)
    return accept_one(args)


def handshake_view(ssl, tls):
    """What this end negotiated and saw, for the handshake event."""
    version = tls.version()
    cipher = tls.cipher()
    der = tls.getpeercert(binary_form=True)
    cert = tls.getpeercert() if der is not None else None
    return {"backend": ssl.BACKEND, "version": version, "cipher": cipher[0],
            "cipher_version": cipher[1], "peer_cert": der is not None,
            "peer_subject": cert.get("subject") if cert else None,
            "verify_result": tls.verify_result()}


def close_wait(tls, raw):
    extra = tls.recv(1)
    if extra:
        emit("closed", clean=False, detail="unexpected data %r" % extra)
        return
    if not transport_open(raw):
        emit("closed", clean=False,
             detail="end of stream with the transport closed: a FIN, "
                    "not provably a close_notify")
        return
    tls.close()     # our close_notify; then the FIN
    emit("closed", clean=True, detail="close_notify received and answered")


def close_first(tls, raw):
    tls.close()     # close_notify; the duplicate goes, `raw` stays open
    clean, detail = read_close_answer(raw)
    emit("closed", clean=clean, detail=detail)


def close_abort(tls, raw):
    raw.shutdown(socket.SHUT_RDWR)   # FIN first: close() then sends nothing
    tls.close()
    emit("closed", clean=False, detail="aborted without close_notify")


def converse(tls, raw, args):
    if args.echo:
        echo(tls)
        close_wait(tls, raw)
        return
    send_and_receive(tls, args)
    {"wait": close_wait, "first": close_first,
     "abort": close_abort}[args.close](tls, raw)


def info(ssl):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    emit("info", backend=ssl.BACKEND, library=ssl.BACKEND_VERSION,
         has_tls13=bool(getattr(ssl, "HAS_TLSv1_3", False)),
         ciphers=ctx.get_ciphers())


def run(args):
    ssl = import_mpssl(args.build)
    if args.role == "info":
        info(ssl)
        return 0
    stage = "setup"
    raw = dup = tls = None
    try:
        ctx = make_context(ssl, args)
        stage = "connect"
        raw = open_connection(args)
        stage = "handshake"
        dup = raw.dup()     # what TLS runs over; see "Close" above
        if args.role == "client":
            tls = ctx.wrap_socket(dup, server_hostname=args.hostname or None)
        else:
            tls = ctx.wrap_socket(dup, server_side=True)
        emit("handshake", **handshake_view(ssl, tls))
        stage = "data"
        converse(tls, raw, args)
        emit("done")
        return 0
    except Exception as exc:
        emit("error", stage=stage, type=type(exc).__name__, message=str(exc),
             errno=getattr(exc, "errno", None))
        return 1
    finally:
        # A failed wrap leaves the duplicate open (contract): close both.
        for sock in (tls, dup, raw):
            if sock is not None:
                sock.close()


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
