"""Test certificates, generated at test time with the openssl CLI.

`make_pki(directory)` builds the whole set (see /work/notes/certs-spec.md) under
`directory` and returns a `PKI` whose attributes are absolute paths (PEM unless
the name ends in `_der`).  It is idempotent and lock-free: the set is built in a
private temporary directory, marked complete by a "done" file, and then renamed
into place in one step; a second caller (or a concurrent one) reuses whatever
complete set is already there.

Only the standard library is imported here (never `ssl`: inside the test
process that name is the module under test).

Run as a script to build a set for shell-level tests:
    /usr/bin/python3 tests/pki.py DIR
"""

import base64
import datetime
import os
import shutil
import subprocess
import sys
import tempfile

# Bump when the layout or contents change, so an old set is never reused.
_SET_NAME = "pki-v5"
_DONE = "done"
_OPENSSL = os.environ.get("OPENSSL", "openssl")

_CONFIG = """\
# Minimal config for `openssl req` and `openssl ca`, written by tests/pki.py.
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
organizationName = optional
"""

_ROOT_EXT = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_INTERMEDIATE_EXT = """\
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _leaf_ext(eku, rsa, san=None):
    usage = "digitalSignature, keyEncipherment" if rsa else "digitalSignature"
    lines = [
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, " + usage,
        "extendedKeyUsage = " + eku,
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
    if san:
        lines.append("subjectAltName = " + san)
    return "\n".join(lines) + "\n"


# The parity verdict matrix's leaves are meant for either role, so that one
# certificate with one defect is tried as a server's and as a client's.
BOTH_ROLES = "serverAuth, clientAuth"

# A certificate whose basicConstraints say it is no CA, used as one anyway.
_NOT_A_CA_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# A CA below the intermediate, whose pathlen:0 forbids any further CA.
_SUB_INTERMEDIATE_EXT = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# The verdict matrix (tests/parity/test_verdicts.py): leaf name -> what is
# wrong with it.  Each has <name>.pem, <name>.key and <name>_chain.pem (the
# chain a peer sends: leaf first).
VERDICT_LEAVES = {
    "v_good": "nothing: valid chain, DNS and IP SANs",
    "v_expired": "notAfter passed",
    "v_notyet": "notBefore ahead",
    "v_wildcard": "legal wildcard *.example.test",
    "v_wildcard_partial": "illegal partial wildcard f*.example.test",
    "v_wildcard_inner": "illegal wildcard not left-most: a.*.example.test",
    "v_wildcard_suffix": "illegal wildcard over a bare suffix: *.test",
    "v_ip": "IP SANs only (127.0.0.1, ::1)",
    "v_cn_only": "CN localhost, no SAN",
    "v_cn_mismatch": "CN localhost, SAN other.example only",
    "v_untrusted": "issued by an untrusted root",
    "v_untrusted_expired": "issued by an untrusted root, and expired",
    "v_incomplete": "chain without its intermediate",
    "v_selfsigned": "self-signed leaf",
    "v_nonca_issuer": "issued by a certificate with CA:FALSE",
    "v_pathlen": "below a CA that pathlen:0 forbids",
    "v_sha1": "signed with SHA-1",
    "v_rsa1024": "RSA-1024 key",
    "v_eku_client": "extendedKeyUsage clientAuth only",
    "v_eku_server": "extendedKeyUsage serverAuth only",
}


def _selfsigned_leaf_ext(san):
    # A self-signed end-entity certificate: no authorityKeyIdentifier to
    # point anywhere else, CA:FALSE so it can never act as a trust anchor.
    return "\n".join([
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = serverAuth",
        "subjectKeyIdentifier = hash",
        "subjectAltName = " + san,
    ]) + "\n"


class PKI:
    """Absolute paths of every file in one generated certificate set."""

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        p = lambda name: os.path.join(self.directory, name)  # noqa: E731

        self.ca_cert, self.ca_key = p("ca.pem"), p("ca.key")
        self.ca_cert_der = p("ca.der")
        self.int_cert, self.int_key = p("int.pem"), p("int.key")
        self.other_ca_cert, self.other_ca_key = p("other_ca.pem"), p("other_ca.key")
        self.other_ca_cert_der = p("other_ca.der")
        self.ca_bundle, self.ca_bundle_der = p("ca_bundle.pem"), p("ca_bundle.der")

        for name in ("server_rsa", "server_ec", "expired", "notyet", "wronghost",
                     "ip_only", "wildcard", "cn_only", "untrusted", "client",
                     "client_untrusted", "cn_mismatch", "client_eku"):
            setattr(self, name + "_cert", p(name + ".pem"))
            setattr(self, name + "_key", p(name + ".key"))
            setattr(self, name + "_chain", p(name + "_chain.pem"))
        self.selfsigned_cert, self.selfsigned_key = p("selfsigned.pem"), p("selfsigned.key")
        for name in VERDICT_LEAVES:
            setattr(self, name + "_cert", p(name + ".pem"))
            setattr(self, name + "_key", p(name + ".key"))
            setattr(self, name + "_chain", p(name + "_chain.pem"))

        # Other encodings of the server keys/certs.  server_rsa_key is PKCS#1
        # PEM ("RSA PRIVATE KEY"), server_ec_key is SEC1 PEM ("EC PRIVATE KEY").
        self.key_rsa_pkcs8 = p("server_rsa.pkcs8.pem")   # matches server_rsa_cert
        self.key_ec_pkcs8 = p("server_ec.pkcs8.pem")     # matches server_ec_cert
        self.key_rsa_der = p("server_rsa.key.der")       # PKCS#1 DER
        self.key_ec_der = p("server_ec.key.der")         # SEC1 DER
        self.key_rsa_pkcs8_der = p("server_rsa.pkcs8.der")
        self.key_ec_pkcs8_der = p("server_ec.pkcs8.der")
        self.server_rsa_cert_der = p("server_rsa.der")
        self.server_ec_cert_der = p("server_ec.der")
        # PKCS#8 encrypted (AES-256-CBC, password 'secret') form of server_ec_key.
        self.key_encrypted = p("server_ec.encrypted.pem")
        self.key_password = "secret"
        # Leaf + intermediate + key in one PEM file (keyfile=None case).
        self.server_ec_combined = p("server_ec_combined.pem")

        # Names the server leaves answer to.
        self.server_hostname = "localhost"
        self.client_cn = "mpssl test client"

    # --- helpers for tests -------------------------------------------------
    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def der(self, path):
        """DER of the first certificate in a PEM (or DER) file."""
        blocks = pem_blocks(self.read(path), "CERTIFICATE")
        return blocks[0] if blocks else self.read(path)

    def cert_info(self, path):
        """Fields of the first certificate in `path`, as `openssl x509` prints them.

        Returns a dict with 'serial' (uppercase hex, as CPython's getpeercert
        prints it), 'notBefore'/'notAfter' (CPython's '%b %d %H:%M:%S %Y GMT'),
        'subject' and 'issuer' (RFC 2253 one-line strings).
        """
        out = _run(_OPENSSL, "x509", "-in", path, "-noout", "-serial",
                   "-startdate", "-enddate", "-subject", "-issuer",
                   "-nameopt", "RFC2253").decode()
        info = {}
        for line in out.splitlines():
            key, _, value = line.partition("=")
            info[key.strip()] = value.strip()
        return {
            "serial": info["serial"].upper(),
            "notBefore": info["notBefore"],
            "notAfter": info["notAfter"],
            "subject": info["subject"],
            "issuer": info["issuer"],
        }


def pem_blocks(data, label="CERTIFICATE"):
    """Decoded bodies of every '-----BEGIN <label>-----' block in `data`."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    begin, end = "-----BEGIN %s-----" % label, "-----END %s-----" % label
    blocks, pos = [], 0
    while True:
        start = text.find(begin, pos)
        if start < 0:
            return blocks
        stop = text.find(end, start)
        if stop < 0:
            return blocks
        body = text[start + len(begin):stop]
        blocks.append(base64.b64decode("".join(body.split())))
        pos = stop + len(end)


def _run(*argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(argv), proc.returncode, proc.stderr.decode(errors="replace")))
    return proc.stdout


def _stamp(moment):
    return moment.strftime("%Y%m%d%H%M%SZ")


class _Builder:
    def __init__(self, out):
        self.out = out
        self.work = os.path.join(out, ".work")
        os.makedirs(os.path.join(self.work, "newcerts"))
        open(os.path.join(self.work, "index.txt"), "w").close()
        self.config = os.path.join(self.work, "openssl.cnf")
        with open(self.config, "w") as f:
            f.write(_CONFIG.format(dir=self.work))
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        day = datetime.timedelta(days=1)
        # Valid certificates: from yesterday (absorbs small clock skew) for
        # ten years, so every date stays a UTCTime.
        self.valid = (_stamp(now - day), _stamp(now + 3650 * day))
        self.expired = (_stamp(now - 400 * day), _stamp(now - 30 * day))
        self.notyet = (_stamp(now + 365 * day), _stamp(now + 730 * day))
        self._count = 0

    def path(self, name):
        return os.path.join(self.out, name)

    def ec_key(self, name):
        path = self.path(name)
        # SEC1 "EC PRIVATE KEY" PEM.
        _run(_OPENSSL, "ecparam", "-name", "prime256v1", "-genkey", "-noout",
             "-out", path)
        return path

    def rsa_key(self, name):
        path = self.path(name)
        tmp = os.path.join(self.work, name + ".pkcs8")
        _run(_OPENSSL, "genpkey", "-algorithm", "RSA",
             "-pkeyopt", "rsa_keygen_bits:2048", "-out", tmp)
        # PKCS#1 "RSA PRIVATE KEY" PEM.
        _run(_OPENSSL, "rsa", "-in", tmp, "-traditional", "-out", path)
        return path

    def rsa1024_key(self, name):
        path = self.path(name)
        _run(_OPENSSL, "genpkey", "-algorithm", "RSA",
             "-pkeyopt", "rsa_keygen_bits:1024", "-out", path)
        return path

    def sign(self, name, subject, key, ext, issuer=None, dates=None, md="sha256"):
        """Certificate `name` for `key`, signed by issuer (cert, key) or self."""
        self._count += 1
        base = os.path.join(self.work, "%02d" % self._count)
        csr, extfile = base + ".csr", base + ".ext"
        with open(extfile, "w") as f:
            f.write("[ ext ]\n" + ext)
        _run(_OPENSSL, "req", "-config", self.config, "-new", "-key", key,
             "-subj", subject, "-out", csr)
        start, end = dates or self.valid
        argv = [_OPENSSL, "ca", "-config", self.config, "-batch", "-notext",
                "-in", csr, "-out", self.path(name), "-startdate", start,
                "-enddate", end, "-extfile", extfile, "-extensions", "ext",
                "-md", md]
        if issuer is None:
            argv += ["-selfsign", "-keyfile", key]
        else:
            argv += ["-cert", issuer[0], "-keyfile", issuer[1]]
        _run(*argv)
        return self.path(name)

    def concat(self, name, *parts):
        with open(self.path(name), "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    out.write(f.read())
        return self.path(name)

    def to_der(self, src, name):
        _run(_OPENSSL, "x509", "-in", src, "-outform", "DER", "-out", self.path(name))
        return self.path(name)


def _build(out):
    b = _Builder(out)
    pki = PKI(out)

    # Authorities (all P-256: fast).
    b.ec_key("ca.key")
    b.sign("ca.pem", "/CN=mpssl Test Root CA", pki.ca_key, _ROOT_EXT)
    b.ec_key("int.key")
    b.sign("int.pem", "/CN=mpssl Test Intermediate CA", pki.int_key,
           _INTERMEDIATE_EXT, issuer=(pki.ca_cert, pki.ca_key))
    b.ec_key("other_ca.key")
    b.sign("other_ca.pem", "/CN=mpssl Other Root CA", pki.other_ca_key, _ROOT_EXT)
    by_int = (pki.int_cert, pki.int_key)
    by_other = (pki.other_ca_cert, pki.other_ca_key)
    server_san = "DNS:localhost, IP:127.0.0.1, IP:::1"

    # The one RSA key (the slow part) and the EC server key.
    b.rsa_key("server_rsa.key")
    b.ec_key("server_ec.key")
    b.sign("server_rsa.pem", "/CN=localhost", pki.server_rsa_key,
           _leaf_ext("serverAuth", True, server_san), issuer=by_int)
    b.sign("server_ec.pem", "/CN=localhost", pki.server_ec_key,
           _leaf_ext("serverAuth", False, server_san), issuer=by_int)

    # Leaves that fail verification in one specific way each (EC keys).
    def server_leaf(name, subject, san, dates=None, issuer=by_int,
                    eku="serverAuth"):
        key = b.ec_key(name + ".key")
        b.sign(name + ".pem", subject, key, _leaf_ext(eku, False, san),
               issuer=issuer, dates=dates)

    server_leaf("expired", "/CN=localhost", server_san, dates=b.expired)
    server_leaf("notyet", "/CN=localhost", server_san, dates=b.notyet)
    server_leaf("wronghost", "/CN=other.example", "DNS:other.example")
    server_leaf("ip_only", "/CN=ip only test", "IP:127.0.0.1")
    server_leaf("wildcard", "/CN=*.example.test", "DNS:*.example.test")
    server_leaf("cn_only", "/CN=localhost", None)
    # Beyond the spec: CN names localhost but the SAN does not, so the CN
    # must be ignored (RFC 6125).
    server_leaf("cn_mismatch", "/CN=localhost", "DNS:other.example")
    server_leaf("untrusted", "/CN=localhost", server_san, issuer=by_other)
    # A valid chain and name, but an EKU that allows client use only.
    server_leaf("client_eku", "/CN=localhost", server_san, eku="clientAuth")

    b.ec_key("selfsigned.key")
    b.sign("selfsigned.pem", "/CN=localhost", pki.selfsigned_key,
           _selfsigned_leaf_ext("DNS:localhost"))

    for name, issuer in (("client", by_int), ("client_untrusted", by_other)):
        key = b.ec_key(name + ".key")
        b.sign(name + ".pem", "/CN=mpssl test client", key,
               _leaf_ext("clientAuth", False), issuer=issuer)

    # Chains: leaf followed by the intermediate when there is one.
    for name in ("server_rsa", "server_ec", "expired", "notyet", "wronghost",
                 "ip_only", "wildcard", "cn_only", "cn_mismatch", "client",
                 "client_eku"):
        b.concat(name + "_chain.pem", b.path(name + ".pem"), pki.int_cert)
    for name in ("untrusted", "client_untrusted"):
        b.concat(name + "_chain.pem", b.path(name + ".pem"))

    _build_verdict_leaves(b, pki, by_int, by_other)

    # Other encodings.
    _run(_OPENSSL, "pkey", "-in", pki.server_rsa_key, "-out", pki.key_rsa_pkcs8)
    _run(_OPENSSL, "pkey", "-in", pki.server_ec_key, "-out", pki.key_ec_pkcs8)
    _run(_OPENSSL, "pkey", "-in", pki.server_rsa_key, "-outform", "DER",
         "-out", pki.key_rsa_pkcs8_der)
    _run(_OPENSSL, "pkey", "-in", pki.server_ec_key, "-outform", "DER",
         "-out", pki.key_ec_pkcs8_der)
    _run(_OPENSSL, "rsa", "-in", pki.server_rsa_key, "-traditional",
         "-outform", "DER", "-out", pki.key_rsa_der)
    _run(_OPENSSL, "ec", "-in", pki.server_ec_key, "-outform", "DER",
         "-out", pki.key_ec_der)
    _run(_OPENSSL, "pkcs8", "-topk8", "-in", pki.server_ec_key, "-v2", "aes-256-cbc",
         "-passout", "pass:" + pki.key_password, "-out", pki.key_encrypted)
    b.to_der(pki.server_rsa_cert, "server_rsa.der")
    b.to_der(pki.server_ec_cert, "server_ec.der")
    b.to_der(pki.ca_cert, "ca.der")
    b.to_der(pki.other_ca_cert, "other_ca.der")
    b.concat("ca_bundle.pem", pki.ca_cert, pki.other_ca_cert)
    b.concat("ca_bundle.der", pki.ca_cert_der, pki.other_ca_cert_der)
    b.concat("server_ec_combined.pem", pki.server_ec_chain, pki.server_ec_key)

    shutil.rmtree(b.work)
    with open(os.path.join(out, _DONE), "w") as f:
        f.write("complete\n")


def _build_verdict_leaves(b, pki, by_int, by_other):
    """VERDICT_LEAVES: P-256 keys unless the defect is the key."""
    by_root = (pki.ca_cert, pki.ca_key)
    san = "DNS:localhost, IP:127.0.0.1, IP:::1"

    def leaf(name, subject="/CN=localhost", names=san, dates=None, issuer=by_int,
             eku=BOTH_ROLES, key=None, md="sha256", chain=()):
        key = key or b.ec_key(name + ".key")
        b.sign(name + ".pem", subject, key, _leaf_ext(eku, key.endswith("rsa1024.key"), names),
               issuer=issuer, dates=dates, md=md)
        b.concat(name + "_chain.pem", b.path(name + ".pem"), *chain)

    # Issuers that must not be trusted as such.
    b.ec_key("v_notca.key")
    b.sign("v_notca.pem", "/CN=mpssl Not A CA", b.path("v_notca.key"), _NOT_A_CA_EXT,
           issuer=by_root)
    b.ec_key("v_int2.key")
    b.sign("v_int2.pem", "/CN=mpssl Too Deep CA", b.path("v_int2.key"),
           _SUB_INTERMEDIATE_EXT, issuer=by_int)

    leaf("v_good", chain=[pki.int_cert])
    leaf("v_expired", dates=b.expired, chain=[pki.int_cert])
    leaf("v_notyet", dates=b.notyet, chain=[pki.int_cert])
    leaf("v_wildcard", "/CN=*.example.test", "DNS:*.example.test", chain=[pki.int_cert])
    leaf("v_wildcard_partial", "/CN=partial wildcard", "DNS:f*.example.test",
         chain=[pki.int_cert])
    leaf("v_wildcard_inner", "/CN=inner wildcard", "DNS:a.*.example.test",
         chain=[pki.int_cert])
    leaf("v_wildcard_suffix", "/CN=suffix wildcard", "DNS:*.test", chain=[pki.int_cert])
    leaf("v_ip", "/CN=ip only", "IP:127.0.0.1, IP:::1", chain=[pki.int_cert])
    leaf("v_cn_only", names=None, chain=[pki.int_cert])
    leaf("v_cn_mismatch", names="DNS:other.example", chain=[pki.int_cert])
    leaf("v_untrusted", issuer=by_other)
    leaf("v_untrusted_expired", issuer=by_other, dates=b.expired)
    leaf("v_incomplete")
    key = b.ec_key("v_selfsigned.key")
    b.sign("v_selfsigned.pem", "/CN=localhost", key, _selfsigned_leaf_ext(san).replace(
        "extendedKeyUsage = serverAuth", "extendedKeyUsage = " + BOTH_ROLES))
    b.concat("v_selfsigned_chain.pem", b.path("v_selfsigned.pem"))
    leaf("v_nonca_issuer", issuer=(b.path("v_notca.pem"), b.path("v_notca.key")),
         chain=[b.path("v_notca.pem")])
    leaf("v_pathlen", issuer=(b.path("v_int2.pem"), b.path("v_int2.key")),
         chain=[b.path("v_int2.pem"), pki.int_cert])
    leaf("v_sha1", md="sha1", chain=[pki.int_cert])
    leaf("v_rsa1024", key=b.rsa1024_key("v_rsa1024.key"), chain=[pki.int_cert])
    leaf("v_eku_client", eku="clientAuth", chain=[pki.int_cert])
    leaf("v_eku_server", eku="serverAuth", chain=[pki.int_cert])


def make_pki(directory):
    """Build (or reuse) the certificate set under `directory`; return its PKI."""
    directory = os.path.abspath(directory)
    final = os.path.join(directory, _SET_NAME)
    if os.path.exists(os.path.join(final, _DONE)):
        return PKI(final)
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".building-", dir=directory)
    try:
        _build(tmp)
        try:
            os.rename(tmp, final)   # atomic: the set appears complete or not at all
        except OSError:
            if not os.path.exists(os.path.join(final, _DONE)):
                raise
            # Someone else finished first; use theirs.
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return PKI(final)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pki.py DIR")
    print(make_pki(sys.argv[1]).directory)
