"""One configured context shared by many connections across threads."""

import hashlib
import os
import threading

N_THREADS = 4
ROUNDS = 2
PAYLOAD = 64 * 1024


def test_one_context_pair_serves_concurrent_connections_in_threads(
        run_server_thread, connect, server_context, client_context, echo_handler, pki):
    server_ctx = server_context()
    client_ctx = client_context()
    results = {}
    errors = []

    def client(index, server):
        try:
            data = os.urandom(PAYLOAD)
            tls = client_ctx.wrap_socket(connect(server.addr), server_hostname="localhost")
            try:
                assert tls.verify_result() == 0
                assert tls.getpeercert(True) == pki.der(pki.server_ec_cert)
                got = bytearray()
                for i in range(0, PAYLOAD, 4096):
                    tls.write(data[i:i + 4096])
                    got += tls.read(4096)
                results[index] = (hashlib.sha256(data).digest(),
                                  hashlib.sha256(got).digest())
            finally:
                tls.close()
        except BaseException as exc:   # reported to the main thread
            errors.append((index, exc))

    for round_ in range(ROUNDS):
        servers = [run_server_thread(server_ctx, echo_handler) for _ in range(N_THREADS)]
        threads = [threading.Thread(target=client, args=(round_ * N_THREADS + i, s),
                                    daemon=True)
                   for i, s in enumerate(servers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "client thread hung"
        assert errors == []
        for server in servers:
            assert len(server.join()) == PAYLOAD
    assert len(results) == N_THREADS * ROUNDS
    for sent, received in results.values():
        assert sent == received


def test_threads_do_not_block_each_other_while_waiting(
        run_server_thread, connect, server_context, client_context):
    # A thread blocked in read() on one connection must not stop another
    # thread's connection from making progress (the wait releases the GIL).
    release = threading.Event()

    def silent(tls):
        release.wait(15)

    def echo_once(tls):
        tls.write(tls.read(3))
        return True

    ctx = client_context()
    blocked_server = run_server_thread(server_context(), silent)
    busy_server = run_server_thread(server_context(), echo_once)
    blocked = ctx.wrap_socket(connect(blocked_server.addr), server_hostname="localhost")
    outcome = {}

    def blocked_reader():
        try:
            outcome["data"] = blocked.read(1)
        except OSError as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=blocked_reader, daemon=True)
    reader.start()
    try:
        busy = ctx.wrap_socket(connect(busy_server.addr), server_hostname="localhost")
        busy.write(b"abc")
        assert busy.read(3) == b"abc"
        busy.close()
        assert reader.is_alive()      # still waiting, and we got through
    finally:
        release.set()
    reader.join(15)
    assert not reader.is_alive()
    blocked.close()
    assert busy_server.join() is True
