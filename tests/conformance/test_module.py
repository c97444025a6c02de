"""Module-level contract: names, constants, identity, error codes."""

import ssl

import pytest

ERROR_CODES = {
    "ERR_CERT_UNTRUSTED": -1001,
    "ERR_CERT_EXPIRED": -1002,
    "ERR_CERT_NOT_YET_VALID": -1003,
    "ERR_HOSTNAME_MISMATCH": -1004,
    "ERR_NO_PEER_CERT": -1005,
    "ERR_CERT_INVALID": -1006,
    "ERR_PEER_ALERT": -1007,
    "ERR_PROTOCOL": -1008,
    "ERR_NO_SHARED_CIPHER": -1009,
    "ERR_HANDSHAKE_EOF": -1010,
    "ERR_CLOSED": -1011,
    "ERR_UNSUPPORTED": -1012,
    "ERR_CIPHER_LIST": -1013,
    "ERR_INTERNAL": -1014,
}


def test_module_is_mpssl_not_stdlib():
    assert hasattr(ssl, "BACKEND")
    assert not hasattr(ssl, "SSLObject")


def test_tls_is_the_same_module_object():
    import tls
    assert tls is ssl
    assert tls.SSLContext is ssl.SSLContext
    assert tls.wrap_socket is ssl.wrap_socket


def test_protocol_and_cert_constants_have_reference_values():
    assert ssl.PROTOCOL_TLS_CLIENT == 0
    assert ssl.PROTOCOL_TLS_SERVER == 1
    assert ssl.CERT_NONE == 0
    assert ssl.CERT_OPTIONAL == 1
    assert ssl.CERT_REQUIRED == 2


def test_there_is_no_sslerror():
    assert not hasattr(ssl, "SSLError")


def test_error_codes_have_documented_values():
    for name, value in ERROR_CODES.items():
        assert getattr(ssl, name) == value, name
        assert type(getattr(ssl, name)) is int, name


def test_error_codes_are_distinct_and_negative():
    values = [getattr(ssl, name) for name in dir(ssl) if name.startswith("ERR_")]
    assert len(values) >= len(ERROR_CODES)
    assert len(set(values)) == len(values)
    assert all(isinstance(v, int) and v < 0 for v in values)


def test_backend_name_is_one_of_the_four():
    assert ssl.BACKEND in ("mbedtls", "openssl", "gnutls", "bearssl")


def test_backend_version_is_nonempty_text():
    assert isinstance(ssl.BACKEND_VERSION, str)
    assert ssl.BACKEND_VERSION.strip()


def test_backend_named_version_constant_exists_only_on_its_backend():
    assert hasattr(ssl, "OPENSSL_VERSION") == (ssl.BACKEND == "openssl")
    assert hasattr(ssl, "MBEDTLS_VERSION") == (ssl.BACKEND == "mbedtls")
    if ssl.BACKEND == "openssl":
        assert isinstance(ssl.OPENSSL_VERSION, str) and ssl.OPENSSL_VERSION
    if ssl.BACKEND == "mbedtls":
        assert isinstance(ssl.MBEDTLS_VERSION, str) and ssl.MBEDTLS_VERSION


def test_has_tlsv1_3_is_a_bool():
    assert ssl.HAS_TLSv1_3 in (True, False)
    assert type(ssl.HAS_TLSv1_3) is bool


@pytest.mark.parametrize("name", ["wrap_socket", "SSLContext"])
def test_public_callables_exist(name):
    assert callable(getattr(ssl, name))


@pytest.mark.parametrize("method", [
    "load_cert_chain", "load_verify_locations", "get_ciphers", "set_ciphers",
    "wrap_socket"])
def test_context_has_documented_methods(method):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert callable(getattr(ctx, method))
