"""A verified TLS round trip on loopback through `import ssl` (mpssl).

Run with mpssl's build directory on the path, e.g.
    meson devenv -C build/cpython-openssl python3 examples/roundtrip.py
It makes a throwaway CA and a P-256 server certificate with the openssl CLI,
starts a server (our ssl, in a thread) and a client (our ssl) that verifies
the server against the CA and the name "localhost", echoes a payload, and
prints one JSON object: backend, library version, TLS version, cipher,
handshake time, bytes echoed, verify result.  Exit status 1 on any failure.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import ssl

PAYLOAD = os.urandom(64 * 1024 + 7)


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=mpssl roundtrip CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key")]


def serve(listener, cert, key, result):
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        conn, _ = listener.accept()
        conn.settimeout(20)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            received = 0
            while received < len(PAYLOAD):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
                tls.sendall(chunk)
    except Exception as e:  # reported by the client side's check
        result["server_error"] = repr(e)


def main():
    with tempfile.TemporaryDirectory() as d:
        ca, cert, key = make_certs(d)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(20)
        result = {}
        server = threading.Thread(target=serve, args=(listener, cert, key, result))
        server.start()

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=ca)
        sock = socket.create_connection(listener.getsockname(), timeout=20)
        start = time.perf_counter()
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        handshake_ms = (time.perf_counter() - start) * 1000
        tls.sendall(PAYLOAD)
        echoed = tls.read(len(PAYLOAD))
        name, version = tls.cipher()
        verified = tls.verify_result()
        tls.close()
        server.join(20)
        listener.close()

    ok = (echoed == PAYLOAD and verified == 0 and "server_error" not in result)
    row = {
        "backend": ssl.BACKEND,
        "library": ssl.BACKEND_VERSION,
        "tls": version,
        "cipher": name,
        "handshake_ms": round(handshake_ms, 2),
        "bytes_echoed": len(echoed),
        "sha256_match": hashlib.sha256(echoed).digest() == hashlib.sha256(PAYLOAD).digest(),
        "verify": "ok (CA + hostname)" if verified == 0 else f"FAILED ({verified})",
    }
    row.update(result)
    print(json.dumps(row))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
