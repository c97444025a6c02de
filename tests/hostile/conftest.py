"""Fixtures for the hostile-peer suites: a raw peer (tests/hostile/rawpeer.py,
no TLS library) as the server OUR client talks to, or as the client OUR
server accepts.  The shared fixtures (listen, connect, contexts, the
watchdog) come from tests/conftest.py."""

import os
import socket
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import rawpeer  # noqa: E402  (tests/hostile/rawpeer.py)


@pytest.fixture
def raw_peers(sockets):
    """A list of RawPeer; at teardown the test's sockets are closed first
    (a peer draining its end then sees EOF at once), then every peer is
    released and joined."""
    started = []
    yield started
    rawpeer.close_then_join(sockets, started)


@pytest.fixture
def raw_server(listen, raw_peers):
    """raw_server(script) -> (peer, addr): a raw peer that accepts one
    connection on loopback and runs script(sock, peer) on it."""
    def start(script):
        listener = listen()
        peer = rawpeer.RawPeer(lambda: listener.accept()[0], script)
        raw_peers.append(peer)
        return peer, listener.getsockname()[:2]
    return start


@pytest.fixture
def raw_client(raw_peers):
    """raw_client(addr, script) -> peer: a raw peer that connects to addr
    and runs script(sock, peer)."""
    def start(addr, script):
        peer = rawpeer.RawPeer(
            lambda: socket.create_connection(addr, timeout=rawpeer.TIMEOUT),
            script)
        raw_peers.append(peer)
        return peer
    return start
