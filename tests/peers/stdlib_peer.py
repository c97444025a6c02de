"""A TLS peer built on CPython's own `ssl`, for tests of mpssl (interop,
and the conformance tests that need to see what a server received).

Run it in a SEPARATE interpreter that cannot see mpssl's `ssl` (tests/peers
does so, see PeerGroup.stdlib_server / stdlib_client):

    env -u PYTHONPATH /usr/bin/python3 -I tests/peers/stdlib_peer.py server ...

It speaks one connection, then exits.  Everything it has to say goes to
stdout as JSON lines, one object per line, flushed at once:

    {"event": "listening", "port": P}            (server, before accept)
    {"event": "handshake", "version": "TLSv1.3", "cipher": "...",
     "peer_subject": [[["commonName", "x"]]] | null,
     "sni": "name" | null}                      (sni: server only, the
                                                 server_name the client sent)
    {"event": "received", "n": N, "sha256": "..."}
    {"event": "sent", "n": N, "sha256": "..."}
    {"event": "closed", "clean": true|false, "detail": "..."}
    {"event": "error", "stage": "...", "type": "...", "message": "..."}
    {"event": "done"}                            (exit status 0)

Data protocol (sequential, so that neither side can block the other on a
full TCP window): with --first recv the peer reads exactly --recv bytes,
then writes --send random bytes; --first send does the opposite order.
--echo instead reads until end of stream and writes every chunk back.

Close protocol (--close):
  wait   the peer waits for the other side's close_notify: its read must
         return b'' (suppress_ragged_eofs=False, so a bare TCP FIN is an
         SSLEOFError and is reported as clean=false), then answers with its
         own close_notify (errors ignored: the other side may be gone).
  first  the peer sends close_notify first and then waits for the other
         side's close_notify (SSLSocket.unwrap()); clean=true only if it
         came.
  abort  the peer closes the TCP connection without close_notify.
"""

import argparse
import os
import socket
import ssl
import sys

# Run as a script with -I: this directory is not on sys.path by itself.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_protocol import (accept_one,  # noqa: E402
                           add_conversation_arguments, echo, emit,
                           send_and_receive)

VERSIONS = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


# The server_name of the ClientHello (one connection per process).
received_sni = {"name": None}


def record_sni(_sslobj, name, _ctx):
    received_sni["name"] = name


def parse_args(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=("server", "client"))
    add_conversation_arguments(ap)
    ap.add_argument("--tls", choices=("1.2", "1.3", "any"), default="any")
    ap.add_argument("--ciphers", help="OpenSSL cipher string (TLS 1.2)")
    return ap.parse_args(argv)


def make_context(args):
    server = args.role == "server"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server
                         else ssl.PROTOCOL_TLS_CLIENT)
    if args.tls != "any":
        ctx.minimum_version = ctx.maximum_version = VERSIONS[args.tls]
    if args.ciphers:
        ctx.set_ciphers(args.ciphers)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.cafile:
        ctx.load_verify_locations(cafile=args.cafile)
    verify = args.verify or ("none" if server else "required")
    if server:
        ctx.sni_callback = record_sni
    else:
        ctx.check_hostname = verify != "none" and bool(args.hostname)
    ctx.verify_mode = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                       "required": ssl.CERT_REQUIRED}[verify]
    return ctx


def connect(args, ctx):
    if args.role == "client":
        raw = socket.create_connection((args.host, args.port),
                                       timeout=args.timeout)
        return ctx.wrap_socket(raw, server_hostname=args.hostname or None,
                               suppress_ragged_eofs=False)
    raw = accept_one(args)
    try:
        return ctx.wrap_socket(raw, server_side=True,
                               suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise


def close_wait(tls):
    try:
        extra = tls.recv(1)
    except ssl.SSLEOFError as exc:
        emit("closed", clean=False, detail="EOF without close_notify: %s" % exc)
        return
    if extra:
        emit("closed", clean=False, detail="unexpected data %r" % extra)
        return
    try:
        tls.unwrap()
    except (OSError, ValueError):
        pass  # the other side may already have closed its socket
    emit("closed", clean=True, detail="close_notify received")


def close_first(tls):
    try:
        tls.unwrap()
    except (OSError, ValueError) as exc:
        emit("closed", clean=False, detail="%s: %s" % (type(exc).__name__, exc))
        return
    emit("closed", clean=True, detail="close_notify exchanged")


def run(args):
    ctx = make_context(args)
    stage = "handshake"
    try:
        tls = connect(args, ctx)
    except Exception as exc:
        emit("error", stage=stage, type=type(exc).__name__, message=str(exc))
        return 1
    try:
        cert = tls.getpeercert()
        sni = {"sni": received_sni["name"]} if args.role == "server" else {}
        emit("handshake", version=tls.version(), cipher=tls.cipher()[0],
             peer_subject=cert.get("subject") if cert else None, **sni)
        stage = "data"
        if args.echo:
            echo(tls)
            emit("closed", clean=True, detail="close_notify received")
        else:
            send_and_receive(tls, args)
            stage = "close"
            if args.close == "wait":
                close_wait(tls)
            elif args.close == "first":
                close_first(tls)
        emit("done")
        return 0
    except Exception as exc:
        emit("error", stage=stage, type=type(exc).__name__, message=str(exc))
        return 1
    finally:
        tls.close()


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
