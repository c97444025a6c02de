"""What every interop suite runs through: TLS versions, server key types,
transfer sizes and who closes first, and the server certificate files for a
key type.  (tests/interop/conftest.py puts this folder on sys.path.)"""

import pytest
import ssl  # OURS (PYTHONPATH=<build dir>)

needs_tls13 = pytest.mark.skipif(not getattr(ssl, "HAS_TLSv1_3", False),
                                 reason="backend has no TLS 1.3")
# The peers' --tls / tls= value, and the name version() reports for it.
VERSIONS = [pytest.param("1.2", id="tls12"),
            pytest.param("1.3", id="tls13", marks=needs_tls13)]
VERSION_NAMES = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}
KEYS = ["rsa", "ec"]
SIZES = [pytest.param(1, id="1B"), pytest.param(16385, id="16KiB+1"),
         pytest.param(1048576, id="1MiB")]
CLOSERS = ["we_close", "peer_closes"]


def each_transfer(test):
    """Parametrizes `test` over tls x key_type x size x closer (ids in that
    order, e.g. [tls13-ec-1MiB-we_close])."""
    for name, values in (("tls", VERSIONS), ("key_type", KEYS),
                         ("size", SIZES), ("closer", CLOSERS)):
        test = pytest.mark.parametrize(name, values)(test)
    return test


def server_files(pki, key_type):
    """(leaf, key, full chain) of the RSA or ECDSA server certificate."""
    name = "server_" + key_type
    return (getattr(pki, name + "_cert"), getattr(pki, name + "_key"),
            getattr(pki, name + "_chain"))


def skip_unless_offered(ctx, iana):
    """Skips when the backend does not enable suite `iana` by default."""
    if iana not in ctx.get_ciphers():
        pytest.skip("%s not enabled by default on backend %s" % (iana, ssl.BACKEND))
