"""SSLContext: constructor, verify_mode, load_cert_chain, load_verify_locations,
get_ciphers/set_ciphers, and context changes after wrapping."""

import errno
import os
import pathlib
import ssl

import pytest

TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
                "TLS_AES_128_CCM_8_SHA256"}
# TLS 1.2 suites every backend implements for an ECDSA (P-256) server.
ECDSA_128 = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
ECDSA_256 = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
RSA_128 = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
BAD_PEM_CERT = (b"-----BEGIN CERTIFICATE-----\nTUlJQmFkQ2VydA==\n"
                b"-----END CERTIFICATE-----\n")


def client_ctx():
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def server_ctx():
    return ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# Constructor
# --------------------------------------------------------------------------

def test_context_requires_exactly_one_positional_argument():
    with pytest.raises(TypeError):
        ssl.SSLContext()
    with pytest.raises(TypeError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS_CLIENT)


def test_context_protocol_is_positional_only():
    with pytest.raises(TypeError):
        ssl.SSLContext(protocol=ssl.PROTOCOL_TLS_CLIENT)


@pytest.mark.parametrize("value", [2, 3, -1, 0x0303, 1 << 40])
def test_context_rejects_protocol_values_other_than_client_and_server(value):
    with pytest.raises(ValueError):
        ssl.SSLContext(value)


@pytest.mark.parametrize("value", ["0", None, 0.0, b"\x00"])
def test_context_rejects_non_int_protocol(value):
    with pytest.raises(TypeError):
        ssl.SSLContext(value)


def test_context_protocol_attribute_reports_role_and_is_read_only():
    assert client_ctx().protocol == ssl.PROTOCOL_TLS_CLIENT
    ctx = server_ctx()
    assert ctx.protocol == ssl.PROTOCOL_TLS_SERVER
    with pytest.raises((AttributeError, TypeError)):
        ctx.protocol = ssl.PROTOCOL_TLS_CLIENT
    assert ctx.protocol == ssl.PROTOCOL_TLS_SERVER


# --------------------------------------------------------------------------
# verify_mode
# --------------------------------------------------------------------------

def test_client_context_defaults_to_cert_required():
    assert client_ctx().verify_mode == ssl.CERT_REQUIRED


def test_server_context_defaults_to_cert_none():
    assert server_ctx().verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("make", [client_ctx, server_ctx])
@pytest.mark.parametrize("mode", [ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED])
def test_verify_mode_accepts_the_three_modes(make, mode):
    ctx = make()
    ctx.verify_mode = mode
    assert ctx.verify_mode == mode


@pytest.mark.parametrize("value", [3, -1, 100])
def test_verify_mode_rejects_other_ints_with_valueerror_and_keeps_value(value):
    ctx = client_ctx()
    ctx.verify_mode = ssl.CERT_OPTIONAL
    with pytest.raises(ValueError):
        ctx.verify_mode = value
    assert ctx.verify_mode == ssl.CERT_OPTIONAL


@pytest.mark.parametrize("value", ["2", None, 2.0, b"2"])
def test_verify_mode_rejects_non_int_with_typeerror_and_keeps_value(value):
    ctx = server_ctx()
    with pytest.raises(TypeError):
        ctx.verify_mode = value
    assert ctx.verify_mode == ssl.CERT_NONE


# --------------------------------------------------------------------------
# load_cert_chain
# --------------------------------------------------------------------------

@pytest.mark.parametrize("chain,key", [
    ("server_rsa_chain", "server_rsa_key"),       # RSA PKCS#1 PEM
    ("server_ec_chain", "server_ec_key"),         # EC SEC1 PEM
    ("server_rsa_chain", "key_rsa_pkcs8"),        # PKCS#8 PEM
    ("server_ec_chain", "key_ec_pkcs8"),
    ("server_rsa_cert_der", "key_rsa_der"),       # DER cert, PKCS#1 DER key
    ("server_ec_cert_der", "key_ec_der"),         # DER cert, SEC1 DER key
    ("server_rsa_cert", "key_rsa_pkcs8_der"),     # PKCS#8 DER key
    ("server_ec_cert", "key_ec_pkcs8_der"),
])
def test_load_cert_chain_accepts_paths_in_every_supported_encoding(pki, chain, key):
    server_ctx().load_cert_chain(getattr(pki, chain), getattr(pki, key))


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_load_cert_chain_accepts_bytes_like_data(pki, wrap):
    ctx = server_ctx()
    ctx.load_cert_chain(wrap(read(pki.server_ec_chain)), wrap(read(pki.server_ec_key)))
    ctx.load_cert_chain(wrap(read(pki.server_rsa_cert_der)), wrap(read(pki.key_rsa_der)))


def test_load_cert_chain_accepts_pathlike_paths(pki, tls_pair, server_context):
    ctx = server_ctx()
    ctx.load_cert_chain(pathlib.Path(pki.server_ec_chain),
                        pathlib.Path(pki.server_ec_key))
    tls, _ = tls_pair(server_ctx=ctx)
    assert tls.getpeercert(True) == pki.der(pki.server_ec_cert)


def test_load_cert_chain_reads_the_key_from_certfile_when_keyfile_is_none(pki):
    server_ctx().load_cert_chain(pki.server_ec_combined)
    server_ctx().load_cert_chain(pki.server_ec_combined, None)


@pytest.mark.parametrize("which", ["cert", "key"])
def test_load_cert_chain_missing_file_raises_enoent(pki, tmp_path, which):
    missing = str(tmp_path / "does-not-exist.pem")
    cert = missing if which == "cert" else pki.server_ec_chain
    key = missing if which == "key" else pki.server_ec_key
    with pytest.raises(OSError) as info:
        server_ctx().load_cert_chain(cert, key)
    assert info.value.errno == errno.ENOENT
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("bad", [b"garbage", b"\x30\x03\x02\x01\x01", BAD_PEM_CERT, b""])
def test_load_cert_chain_unparsable_cert_raises_invalid_cert(pki, bad):
    with pytest.raises(ValueError) as info:
        server_ctx().load_cert_chain(bad, read(pki.server_ec_key))
    assert "invalid cert" in str(info.value)


@pytest.mark.parametrize("bad", [
    b"garbage", b"\x30\x03\x02\x01\x01",
    b"-----BEGIN PRIVATE KEY-----\nTUlJQmFkS2V5\n-----END PRIVATE KEY-----\n"])
def test_load_cert_chain_unparsable_key_raises_invalid_key(pki, bad):
    with pytest.raises(ValueError) as info:
        server_ctx().load_cert_chain(read(pki.server_ec_chain), bad)
    assert "invalid key" in str(info.value)


def test_load_cert_chain_encrypted_key_raises_valueerror_saying_so(pki):
    with pytest.raises(ValueError) as info:
        server_ctx().load_cert_chain(pki.server_ec_chain, pki.key_encrypted)
    assert "encrypt" in str(info.value).lower()


@pytest.mark.parametrize("chain,key", [
    ("server_ec_chain", "server_rsa_key"),
    ("server_rsa_chain", "server_ec_key"),
    ("server_ec_chain", "wildcard_key"),   # same type (P-256), other key
])
def test_load_cert_chain_key_not_matching_cert_raises_valueerror(pki, chain, key):
    with pytest.raises(ValueError):
        server_ctx().load_cert_chain(getattr(pki, chain), getattr(pki, key))


@pytest.mark.parametrize("args", [(123, None), (None, None), (["x"], "y")])
def test_load_cert_chain_wrong_types_raise_typeerror(args):
    with pytest.raises(TypeError):
        server_ctx().load_cert_chain(*args)


def test_load_cert_chain_second_call_replaces_the_first(pki, tls_pair):
    ctx = server_ctx()
    ctx.load_cert_chain(pki.server_rsa_chain, pki.server_rsa_key)
    ctx.load_cert_chain(pki.server_ec_chain, pki.server_ec_key)
    tls, _ = tls_pair(server_ctx=ctx)
    assert tls.getpeercert(binary_form=True) == pki.der(pki.server_ec_cert)


def test_load_cert_chain_failure_keeps_the_previous_chain(pki, tls_pair):
    ctx = server_ctx()
    ctx.load_cert_chain(pki.server_rsa_chain, pki.server_rsa_key)
    with pytest.raises(ValueError):
        ctx.load_cert_chain(pki.server_ec_chain, pki.server_rsa_key)
    tls, _ = tls_pair(server_ctx=ctx)
    assert tls.getpeercert(binary_form=True) == pki.der(pki.server_rsa_cert)


def test_load_cert_chain_sends_intermediates_from_a_pem_chain(pki, tls_pair):
    # The client trusts only the root: it can verify only if the server
    # sent the intermediate that followed the leaf in the PEM file.
    ctx = server_ctx()
    ctx.load_cert_chain(pki.server_rsa_chain, pki.server_rsa_key)
    tls, _ = tls_pair(server_ctx=ctx)
    assert tls.getpeercert()["subject"] == ((("commonName", "localhost"),),)


def test_leaf_without_its_intermediate_is_untrusted(pki, tls_pair):
    ctx = server_ctx()
    ctx.load_cert_chain(pki.server_ec_cert, pki.server_ec_key)
    with pytest.raises(OSError) as info:
        tls_pair(server_ctx=ctx)
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED


# --------------------------------------------------------------------------
# load_verify_locations
# --------------------------------------------------------------------------

def test_load_verify_locations_requires_one_argument():
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations()
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations(None, None)


def test_load_verify_locations_rejects_both_arguments(pki):
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations(cafile=pki.ca_cert, cadata=read(pki.ca_cert))


@pytest.mark.parametrize("value", [123, 1.5, ["x"]])
def test_load_verify_locations_cadata_wrong_type_raises_typeerror(value):
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations(cadata=value)


def test_load_verify_locations_missing_cafile_raises_enoent(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        client_ctx().load_verify_locations(cafile=str(tmp_path / "missing.pem"))
    assert info.value.errno == errno.ENOENT


def trust(pki, **kwargs):
    ctx = client_ctx()
    ctx.load_verify_locations(**kwargs)
    return ctx


@pytest.mark.parametrize("form", ["cafile", "pem_str", "pem_bytes", "pem_bytearray",
                                  "pem_memoryview", "der_bytes", "der_cafile"])
def test_load_verify_locations_accepts_every_form(pki, tls_pair, form):
    pem = read(pki.ca_cert)
    kwargs = {
        "cafile": dict(cafile=pki.ca_cert),
        "pem_str": dict(cadata=pem.decode()),
        "pem_bytes": dict(cadata=pem),
        "pem_bytearray": dict(cadata=bytearray(pem)),
        "pem_memoryview": dict(cadata=memoryview(pem)),
        "der_bytes": dict(cadata=read(pki.ca_cert_der)),
        "der_cafile": dict(cafile=pki.ca_cert_der),
    }[form]
    tls, _ = tls_pair(client_ctx=trust(pki, **kwargs))
    assert tls.verify_result() == 0


@pytest.mark.parametrize("make_path", [os.fsencode, pathlib.Path],
                         ids=["bytes", "pathlib"])
def test_load_verify_locations_cafile_is_a_path_as_bytes_or_pathlike(
        pki, tls_pair, make_path):
    tls, _ = tls_pair(client_ctx=trust(pki, cafile=make_path(pki.ca_cert)))
    assert tls.verify_result() == 0


def test_load_verify_locations_cafile_bytes_are_never_read_as_pem_data(pki):
    # A path that does not exist (certificate text is no file name), not a
    # certificate to trust.
    with pytest.raises(OSError):
        client_ctx().load_verify_locations(cafile=read(pki.ca_cert))


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_load_verify_locations_cafile_rejects_bytes_like_non_bytes(pki, wrap):
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations(cafile=wrap(os.fsencode(pki.ca_cert)))


def test_load_verify_locations_cadata_pathlike_is_not_data(pki):
    with pytest.raises(TypeError):
        client_ctx().load_verify_locations(cadata=pathlib.Path(pki.ca_cert))


@pytest.mark.parametrize("kwargs_of", [
    lambda pki: dict(cafile=pki.ca_bundle),
    lambda pki: dict(cadata=read(pki.ca_bundle)),
    lambda pki: dict(cadata=read(pki.ca_bundle_der)),   # DER concatenation
    lambda pki: dict(cafile=pki.ca_bundle_der),
], ids=["pem_file", "pem_data", "der_data", "der_file"])
@pytest.mark.parametrize("chain", ["server_ec_chain", "untrusted_chain"])
def test_load_verify_locations_loads_every_certificate_of_a_bundle(
        pki, tls_pair, server_context, kwargs_of, chain):
    # untrusted_chain is issued by the SECOND certificate of the bundle.
    server = server_context(getattr(pki, chain), getattr(pki, chain.replace("_chain", "_key")))
    tls, _ = tls_pair(server_ctx=server, client_ctx=trust(pki, **kwargs_of(pki)))
    assert tls.verify_result() == 0


def test_load_verify_locations_accumulates_across_calls(pki, tls_pair, server_context):
    ctx = client_ctx()
    ctx.load_verify_locations(cafile=pki.ca_cert)
    ctx.load_verify_locations(cadata=read(pki.other_ca_cert))
    for chain, key in ((pki.server_ec_chain, pki.server_ec_key),
                       (pki.untrusted_chain, pki.untrusted_key)):
        tls, _ = tls_pair(server_ctx=server_context(chain, key), client_ctx=ctx)
        assert tls.verify_result() == 0
        tls.close()


@pytest.mark.parametrize("bad_of", [
    lambda pki: read(pki.other_ca_cert) + BAD_PEM_CERT,
    lambda pki: BAD_PEM_CERT + read(pki.other_ca_cert),
    lambda pki: read(pki.other_ca_cert_der) + b"\x30\x82\x01\x00garbage",
    lambda pki: b"not a certificate at all",
], ids=["pem_good_then_bad", "pem_bad_then_good", "der_good_then_garbage", "garbage"])
def test_load_verify_locations_failure_adds_nothing(pki, tls_pair, server_context, bad_of):
    ctx = client_ctx()
    ctx.load_verify_locations(cafile=pki.ca_cert)
    with pytest.raises(ValueError) as info:
        ctx.load_verify_locations(cadata=bad_of(pki))
    assert "invalid cert" in str(info.value)
    # The earlier CA is still there ...
    tls, _ = tls_pair(client_ctx=ctx)
    assert tls.verify_result() == 0
    tls.close()
    # ... and the good certificate of the failed call was not added.
    with pytest.raises(OSError) as failed:
        tls_pair(server_ctx=server_context(pki.untrusted_chain, pki.untrusted_key),
                 client_ctx=ctx)
    assert failed.value.errno == ssl.ERR_CERT_UNTRUSTED


# --------------------------------------------------------------------------
# Ciphers
# --------------------------------------------------------------------------

WEAK_MARKERS = ("NULL", "_anon_", "EXPORT", "RC4", "3DES", "_DES_", "DES40", "MD5")


@pytest.mark.parametrize("make", [client_ctx, server_ctx])
def test_get_ciphers_returns_unique_iana_names(make):
    names = make().get_ciphers()
    assert isinstance(names, list) and names
    assert all(isinstance(n, str) and n.startswith("TLS_") for n in names)
    assert all("-" not in n for n in names)
    assert len(set(names)) == len(names)


def test_get_ciphers_never_lists_weak_suites():
    for name in client_ctx().get_ciphers() + server_ctx().get_ciphers():
        assert not any(marker in name for marker in WEAK_MARKERS), name


def test_get_ciphers_includes_tls13_suites_exactly_when_backend_has_tls13():
    names = set(client_ctx().get_ciphers())
    assert bool(names & TLS13_SUITES) == ssl.HAS_TLSv1_3
    assert "TLS_AES_128_GCM_SHA256" in names or not ssl.HAS_TLSv1_3


def test_get_ciphers_includes_common_tls12_ecdhe_suites():
    names = client_ctx().get_ciphers()
    assert ECDSA_128 in names and RSA_128 in names


@pytest.mark.parametrize("container", [list, tuple])
def test_set_ciphers_sets_exactly_the_list_in_order(container):
    ctx = client_ctx()
    wanted = [ECDSA_256, RSA_128, ECDSA_128]
    ctx.set_ciphers(container(wanted))
    assert ctx.get_ciphers() == wanted


def test_set_ciphers_accepts_mbedtls_style_aliases():
    ctx = client_ctx()
    ctx.set_ciphers(["TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256", RSA_128])
    assert ctx.get_ciphers() == [ECDSA_128, RSA_128]


@pytest.mark.parametrize("arg", [ECDSA_128, ECDSA_128.encode(), None, 5])
def test_set_ciphers_rejects_non_sequence_with_typeerror(arg):
    ctx = client_ctx()
    before = ctx.get_ciphers()
    with pytest.raises(TypeError):
        ctx.set_ciphers(arg)
    assert ctx.get_ciphers() == before


@pytest.mark.parametrize("arg", [[ECDSA_128.encode()], [ECDSA_128, 1], [None]])
def test_set_ciphers_rejects_non_str_items_with_typeerror(arg):
    ctx = client_ctx()
    before = ctx.get_ciphers()
    with pytest.raises(TypeError):
        ctx.set_ciphers(arg)
    assert ctx.get_ciphers() == before


def test_set_ciphers_empty_list_raises_oserror_and_keeps_context():
    ctx = client_ctx()
    before = ctx.get_ciphers()
    with pytest.raises(OSError) as info:
        ctx.set_ciphers([])
    assert info.value.errno == ssl.ERR_CIPHER_LIST
    assert ctx.get_ciphers() == before


@pytest.mark.parametrize("bad", [
    "TLS_NO_SUCH_SUITE",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_NULL_SHA256",
    "TLS_DH_anon_WITH_AES_128_CBC_SHA",
    "ECDHE-ECDSA-AES128-GCM-SHA256",      # OpenSSL spelling: not accepted
])
def test_set_ciphers_refuses_unknown_or_forbidden_suite_naming_it(bad):
    ctx = client_ctx()
    ctx.set_ciphers([ECDSA_128, RSA_128])
    with pytest.raises(OSError) as info:
        ctx.set_ciphers([ECDSA_256, bad])
    assert info.value.errno == ssl.ERR_CIPHER_LIST
    assert bad in str(info.value)
    assert ctx.get_ciphers() == [ECDSA_128, RSA_128]


@pytest.mark.parametrize("suite", [ECDSA_128, ECDSA_256])
@pytest.mark.parametrize("side", ["client", "server"])
def test_tls12_only_suite_list_negotiates_that_suite_over_tls12(
        pki, tls_pair, server_context, client_context, suite, side):
    server, client = server_context(), client_context()
    (client if side == "client" else server).set_ciphers([suite])
    tls, _ = tls_pair(server_ctx=server, client_ctx=client)
    assert tls.cipher() == (suite, "TLSv1.2")
    assert tls.version() == "TLSv1.2"
    tls.write(b"ping")
    assert tls.read(4) == b"ping"


@pytest.mark.skipif(not ssl.HAS_TLSv1_3, reason="backend has no TLS 1.3")
def test_tls13_only_suite_list_negotiates_tls13(tls_pair, client_context):
    client = client_context()
    client.set_ciphers(["TLS_AES_128_GCM_SHA256"])
    tls, _ = tls_pair(client_ctx=client)
    assert tls.cipher() == ("TLS_AES_128_GCM_SHA256", "TLSv1.3")


def test_disjoint_suite_lists_fail_with_no_shared_cipher(tls_pair, server_context,
                                                         client_context):
    server, client = server_context(), client_context()
    server.set_ciphers([ECDSA_128])
    client.set_ciphers([ECDSA_256])
    with pytest.raises(OSError) as info:
        tls_pair(server_ctx=server, client_ctx=client)
    assert info.value.errno in (ssl.ERR_NO_SHARED_CIPHER, ssl.ERR_PEER_ALERT)


# --------------------------------------------------------------------------
# Changing a context after wrapping
# --------------------------------------------------------------------------

def test_changing_ciphers_after_wrap_does_not_affect_wrapped_socket(
        tls_pair, client_context):
    client = client_context()
    client.set_ciphers([ECDSA_128])
    tls, _ = tls_pair(client_ctx=client, do_handshake_on_connect=False)
    client.set_ciphers([ECDSA_256])
    tls.do_handshake()
    assert tls.cipher() == (ECDSA_128, "TLSv1.2")


def test_changing_verify_mode_after_wrap_does_not_affect_wrapped_socket(
        pki, tls_pair, server_context, client_context):
    client = client_context(verify_mode=ssl.CERT_NONE)
    server = server_context(pki.wronghost_chain, pki.wronghost_key)
    tls, _ = tls_pair(server_ctx=server, client_ctx=client,
                      do_handshake_on_connect=False)
    client.verify_mode = ssl.CERT_REQUIRED
    tls.do_handshake()
    assert tls.cipher() is not None
    assert tls.verify_result() is None


def test_loading_a_ca_after_wrap_does_not_affect_wrapped_socket(
        pki, tls_pair, server_context, client_context):
    client = client_context()
    server = server_context(pki.untrusted_chain, pki.untrusted_key)
    tls, _ = tls_pair(server_ctx=server, client_ctx=client,
                      do_handshake_on_connect=False)
    client.load_verify_locations(cafile=pki.other_ca_cert)
    with pytest.raises(OSError) as info:
        tls.do_handshake()
    assert info.value.errno == ssl.ERR_CERT_UNTRUSTED
