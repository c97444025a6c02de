"""Fixtures for the conformance suite beyond those in tests/conftest.py."""

import pytest

HOST = "127.0.0.1"


@pytest.fixture
def sni_sent(peers, pki, connect, sockets):
    """Factory: sni_sent(client_ctx, host="127.0.0.1", **wrap_kwargs) ->
    (verify_result, server_name).  OUR client, client_ctx.wrap_socket(sock,
    **wrap_kwargs) exactly, talks to a CPython stdlib echo server on `host`:
    one round trip, then a clean close.  Returns our verify_result() and the
    server_name the stdlib server received in the ClientHello (None when
    none was sent)."""
    def run(client_ctx, host=HOST, **wrap_kwargs):
        server = peers.stdlib_server("--cert", pki.server_ec_chain,
                                     "--key", pki.server_ec_key, "--echo",
                                     host=host)
        tls = client_ctx.wrap_socket(connect(server.addr), **wrap_kwargs)
        sockets.append(tls)
        verify_result = tls.verify_result()
        tls.write(b"ping")
        assert tls.read(4) == b"ping"
        tls.close()
        handshake = server.wait_event("handshake")
        server.wait_event("done")         # an "error" event raises here
        assert server.wait_exit() == 0, server.describe()
        return verify_result, handshake["sni"]
    return run
