#!/usr/bin/env python3
"""make_corpus.py OUTDIR [--capture PROGRAM] - seed corpora for tests/fuzz.

Writes OUTDIR/<target>/seed-* for every fuzz target, in each target's input
format (see the target's header comment).  Everything is generated here, at
fuzz time, with the openssl CLI; nothing is checked in, so nothing expires:

  pem        certificates and keys: RSA/EC, PKCS#1/SEC1/PKCS#8, PEM/DER,
             CRLF, chains, encrypted keys, certificates with every SAN type
  ciphers    IANA names from `openssl ciphers -stdname`, their mbedTLS
             spellings, lower case, with several separators
  hostname   pattern/host pairs (wildcards, trailing dots, IDNA, NUL, IPv4
             and IPv6 literals) and DER certificates with a host
  record_*   real handshakes, recorded by PROGRAM (capture_flights, built
             with the fuzz targets for the configured backend)
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

# --------------------------------------------------------------------------
# Certificates and keys from the openssl CLI
# --------------------------------------------------------------------------

EXTENSIONS = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[leaf]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:localhost, DNS:*.example.com, IP:127.0.0.1, IP:::1, \
email:a@example.com, URI:https://example.com/
[wild]
subjectAltName = DNS:*.fuzz.example, DNS:xn--bcher-kva.example
[cn_only]
basicConstraints = CA:FALSE
"""


def openssl(*args, cwd):
    return subprocess.run(["openssl", *args], cwd=cwd, check=True,
                          capture_output=True).stdout


def make_pki(work):
    """Returns {name: bytes} of the generated files."""
    (work / "ext.cnf").write_text(EXTENSIONS)

    def key(name, *alg):
        openssl("genpkey", *alg, "-out", name, cwd=work)

    def cert(name, key_name, subject, section, issuer=None):
        if issuer is None:
            openssl("req", "-new", "-x509", "-key", key_name, "-out", name,
                    "-days", "30", "-subj", subject, "-config", "ext.cnf",
                    "-extensions", section, cwd=work)
            return
        openssl("req", "-new", "-key", key_name, "-subj", subject,
                "-config", "ext.cnf", "-out", name + ".csr", cwd=work)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem",
                "-CAkey", issuer + ".key", "-CAcreateserial", "-days", "30",
                "-extfile", "ext.cnf", "-extensions", section, "-out", name,
                cwd=work)

    ec = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    key("ca.key", *ec)
    cert("ca.pem", "ca.key", "/CN=Fuzz CA/O=mpssl", "ca")
    key("rsa.key", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    cert("rsa.pem", "rsa.key", "/CN=localhost/O=mpssl/C=XX", "leaf", "ca")
    key("ec.key", *ec)
    cert("ec.pem", "ec.key", "/CN=*.fuzz.example", "wild", "ca")
    cert("cn.pem", "ec.key", "/CN=cn-only.example/CN=second.example",
         "cn_only", "ca")
    key("ed.key", "-algorithm", "ED25519")
    cert("ed.pem", "ed.key", "/CN=ed25519.example", "cn_only")

    openssl("pkey", "-in", "rsa.key", "-traditional", "-out", "rsa1.key",
            cwd=work)
    openssl("pkey", "-in", "ec.key", "-traditional", "-out", "ec1.key",
            cwd=work)
    openssl("pkey", "-in", "rsa.key", "-outform", "DER", "-out", "rsa.der.key",
            cwd=work)
    openssl("pkey", "-in", "ec1.key", "-traditional", "-outform", "DER",
            "-out", "ec1.der.key", cwd=work)
    openssl("pkcs8", "-topk8", "-in", "ec.key", "-passout", "pass:x",
            "-out", "ec.enc.key", cwd=work)
    openssl("rsa", "-in", "rsa.key", "-traditional", "-aes128",
            "-passout", "pass:x", "-out", "rsa1.enc.key", cwd=work)
    for name in ("ca", "rsa", "ec", "cn", "ed"):
        openssl("x509", "-in", name + ".pem", "-outform", "DER",
                "-out", name + ".der", cwd=work)
    return {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}


# --------------------------------------------------------------------------
# Seeds per target
# --------------------------------------------------------------------------

def pem_seeds(f):
    """fuzz_pem: 2-byte split, then certificate part + key part."""
    def split(cert, key=b""):
        return len(cert).to_bytes(2, "little") + cert + key

    crlf = f["rsa.pem"].replace(b"\n", b"\r\n")
    return [
        split(f["rsa.pem"], f["rsa.key"]),
        split(f["rsa.pem"], f["rsa1.key"]),
        split(f["ec.pem"], f["ec.key"]),
        split(f["ec.pem"], f["ec1.key"]),
        split(f["ed.pem"], f["ed.key"]),
        split(f["rsa.pem"] + f["ca.pem"], f["rsa.key"]),
        split(crlf, f["rsa.key"].replace(b"\n", b"\r\n")),
        split(b"text before\n" + f["ec.pem"] + b"after\n", f["ec.key"]),
        split(f["rsa.der"], f["rsa.der.key"]),
        split(f["ec.der"], f["ec1.der.key"]),
        split(f["ec.pem"], f["ec.enc.key"]),
        split(f["rsa.pem"], f["rsa1.enc.key"]),
        split(f["rsa.pem"], f["ec.key"]),  # mismatched pair
        split(f["ca.pem"] + f["rsa.pem"] + f["ec.pem"] + f["cn.pem"]),
        split(f["ca.der"] + f["rsa.der"] + f["cn.der"]),
        split(f["cn.der"]),
    ]


def cipher_names():
    out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL"],
                         check=True, capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines()
             if line.startswith("TLS_")]
    return names or ["TLS_AES_128_GCM_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]


def cipher_seeds():
    """fuzz_ciphers: separator byte, then names joined by it."""
    names = cipher_names()
    mbed = [n.replace("_", "-") for n in names]
    tls13 = ["TLS1-3-" + n[4:].replace("_", "-") for n in names
             if n.startswith("TLS_AES") or n.startswith("TLS_CHACHA")]
    lists = [
        (b":", names),
        (b",", mbed),
        (b" ", tls13),
        (b":", [n.lower() for n in names[:8]]),
        (b":", names[:3] + ["NOT_A_SUITE"] + names[3:5]),
        (b":", names[:1] * 3),
        (b"\x00", names[:4]),
        (b":", ["TLS_RSA_WITH_NULL_SHA256", "TLS_RSA_WITH_RC4_128_SHA",
                "TLS_PSK_WITH_AES_128_GCM_SHA256"]),
    ]
    return [sep + sep.join(n.encode() for n in ns) for sep, ns in lists]


def hostname_seed(mode, pattern, host):
    return bytes([mode]) + len(pattern).to_bytes(2, "little") + pattern + host


def hostname_seeds(f):
    """fuzz_hostname: mode, 2-byte pattern length, pattern, host."""
    pairs = [
        (b"localhost", b"localhost"),
        (b"*.example.com", b"www.example.com"),
        (b"*.example.com", b"a.b.example.com"),
        (b"*.com", b"example.com"),
        (b"Example.COM.", b"example.com"),
        (b"example.com", b"example.com."),
        (b"xn--*.example", b"xn--bcher-kva.example"),
        (b"*.xn--bcher-kva.example", b"www.xn--bcher-kva.example"),
        (b"exa\x00mple.com", b"exa"),
        (b"\xc3\xa9.example", b"e.example"),
        (b"f*.example.com", b"foo.example.com"),
        (b"127.0.0.1", b"127.0.0.1"),
        (b"", b"::1"),
        (b"", b"::ffff:1.2.3.4"),
        (b"", b"2001:db8::8:800:200c:417a"),
        (b"", b"1:2:3:4:5:6:7::"),
        (b"", b"01.2.3.4"),
        (b"", b"fe80::1%eth0"),
        (b"", b"255.255.255.255"),
    ]
    seeds = [hostname_seed(0, p, h) for p, h in pairs]
    for der, hosts in (("rsa.der", [b"localhost", b"127.0.0.1", b"::1",
                                    b"x.example.com"]),
                       ("ec.der", [b"a.fuzz.example", b"fuzz.example"]),
                       ("cn.der", [b"second.example", b"cn-only.example"])):
        seeds += [hostname_seed(1, f[der], h) for h in hosts]
    return seeds


def write(out, target, seeds):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (d / f"seed-{i:03d}").write_bytes(seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=pathlib.Path)
    ap.add_argument("--capture", help="capture_flights program")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        files = make_pki(pathlib.Path(tmp))
    write(args.outdir, "pem", pem_seeds(files))
    write(args.outdir, "ciphers", cipher_seeds())
    write(args.outdir, "hostname", hostname_seeds(files))
    if args.capture:
        r = subprocess.run([args.capture, str(args.outdir)])
        if r.returncode != 0:
            sys.exit("make_corpus: capture_flights failed")


if __name__ == "__main__":
    main()
