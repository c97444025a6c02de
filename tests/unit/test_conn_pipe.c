/*
 * test_conn_pipe.c - a client and a server mpssl_conn talking over an
 * in-memory pipe, through the real core and the linked backend.
 *
 * The pipe is two byte queues.  Its recv/send hand over random chunk sizes
 * and inject "would block" at random points, from a fixed-seed PRNG, so the
 * same run is reproducible.  The connections have no wait function and are
 * non-blocking: each test pumps both sides in a bounded loop.
 *
 * Usage: test_conn_pipe CERTDIR   (CERTDIR as made by make_certs.sh)
 */
#include "check.h"
#include "mpssl.h"
#include "testfiles.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cert_dir;

/* ------------------------------------------------------------------------ */
/* The pipe                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct byteq {
    uint8_t *data;
    size_t len, off, cap;
    int writer_closed; /* reader sees end of stream once drained */
} byteq;

struct pipe;

typedef struct endpoint {
    struct pipe *pipe;
    byteq *in, *out;
    int fail_errno; /* when set, recv and send fail with -fail_errno */
} endpoint;

typedef struct pipe {
    byteq c2s, s2c;
    endpoint client_end, server_end;
    uint32_t rng;
    unsigned block_percent; /* chance of an injected would-block */
    size_t max_chunk;       /* transfers move 1..max_chunk bytes */
    unsigned long moved;    /* bytes moved so far, to detect a stall */
} pipe;

static uint32_t next_random(pipe *p) {
    /* xorshift32: deterministic and good enough to scatter chunk sizes. */
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 17;
    p->rng ^= p->rng << 5;
    return p->rng;
}

static int injected_block(pipe *p) {
    return next_random(p) % 100 < p->block_percent;
}

static size_t chunk_size(pipe *p, size_t len) {
    size_t n = 1 + next_random(p) % p->max_chunk;
    return n < len ? n : len;
}

static long pipe_recv(void *user, uint8_t *buf, size_t len) {
    endpoint *e = user;
    pipe *p = e->pipe;
    size_t n;

    if (e->fail_errno)
        return -e->fail_errno;
    if (injected_block(p))
        return MPSSL_IO_WOULD_BLOCK;
    if (e->in->off == e->in->len)
        return e->in->writer_closed ? 0 : MPSSL_IO_WOULD_BLOCK;
    n = chunk_size(p, len);
    if (n > e->in->len - e->in->off)
        n = e->in->len - e->in->off;
    memcpy(buf, e->in->data + e->in->off, n);
    e->in->off += n;
    p->moved += n;
    return (long)n;
}

static long pipe_send(void *user, const uint8_t *buf, size_t len) {
    endpoint *e = user;
    pipe *p = e->pipe;
    byteq *q = e->out;
    size_t n;

    if (e->fail_errno)
        return -e->fail_errno;
    if (injected_block(p))
        return MPSSL_IO_WOULD_BLOCK;
    n = chunk_size(p, len);
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4096;
        while (cap < q->len + n)
            cap *= 2;
        q->data = realloc(q->data, cap);
        if (q->data == NULL)
            abort();
        q->cap = cap;
    }
    memcpy(q->data + q->len, buf, n);
    q->len += n;
    p->moved += n;
    return (long)n;
}

static void pipe_init(pipe *p, size_t max_chunk, unsigned block_percent) {
    memset(p, 0, sizeof *p);
    p->rng = 0x2545F491u;
    p->max_chunk = max_chunk;
    p->block_percent = block_percent;
    p->client_end = (endpoint){p, &p->s2c, &p->c2s, 0};
    p->server_end = (endpoint){p, &p->c2s, &p->s2c, 0};
}

static void pipe_free(pipe *p) {
    free(p->c2s.data);
    free(p->s2c.data);
}

/* ------------------------------------------------------------------------ */
/* Files and contexts                                                       */
/* ------------------------------------------------------------------------ */

static file_data read_cert_file(const char *name) {
    return read_test_file(cert_dir, name);
}

static int load_chain(mpssl_ctx *ctx, const char *cert, const char *key) {
    file_data c = read_cert_file(cert), k = read_cert_file(key);
    int r = mpssl_ctx_load_cert_chain(ctx, c.data, c.len, k.data, k.len);

    free(c.data);
    free(k.data);
    return r;
}

static int load_cas(mpssl_ctx *ctx, const char *name) {
    file_data f = read_cert_file(name);
    int r = mpssl_ctx_load_verify_data(ctx, f.data, f.len);

    free(f.data);
    return r;
}

static mpssl_ctx *server_ctx(const char *cert, const char *key) {
    mpssl_ctx *ctx = NULL;

    CHECK_EQ_INT(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_SERVER, &ctx), 0);
    if (ctx)
        CHECK_EQ_INT(load_chain(ctx, cert, key), 0);
    return ctx;
}

/* A client context with the test CA (ca may be NULL) and a verify mode. */
static mpssl_ctx *client_ctx(const char *ca, int verify_mode) {
    mpssl_ctx *ctx = NULL;

    CHECK_EQ_INT(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_CLIENT, &ctx), 0);
    if (ctx && ca)
        CHECK_EQ_INT(load_cas(ctx, ca), 0);
    if (ctx)
        CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, verify_mode), 0);
    return ctx;
}

static void set_suites(mpssl_ctx *ctx, const uint16_t *ids, size_t n) {
    size_t bad = 0;

    CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, ids, n, &bad), 0);
}

/* ------------------------------------------------------------------------ */
/* A connected pair                                                         */
/* ------------------------------------------------------------------------ */

typedef struct pair {
    pipe pipe;
    mpssl_conn *client, *server;
} pair;

static mpssl_conn *new_conn(mpssl_ctx *ctx, endpoint *end, const char *host) {
    mpssl_transport t = {end, pipe_recv, pipe_send, NULL};
    mpssl_conn *conn = NULL;

    CHECK_EQ_INT(mpssl_conn_new(ctx, &t, host, &conn), 0);
    if (conn)
        mpssl_conn_set_blocking(conn, 0);
    return conn;
}

/* Both connections take their own context reference; the caller's go. */
static int pair_open(pair *p, mpssl_ctx *cctx, mpssl_ctx *sctx,
                     const char *host, size_t max_chunk, unsigned block_pct) {
    pipe_init(&p->pipe, max_chunk, block_pct);
    p->client = cctx ? new_conn(cctx, &p->pipe.client_end, host) : NULL;
    p->server = sctx ? new_conn(sctx, &p->pipe.server_end, NULL) : NULL;
    mpssl_ctx_unref(cctx);
    mpssl_ctx_unref(sctx);
    return p->client && p->server;
}

static void pair_close(pair *p) {
    mpssl_conn_free(p->client);
    mpssl_conn_free(p->server);
    pipe_free(&p->pipe);
}

static int is_want(long r) {
    return r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE;
}

#define PUMP_LIMIT 400000
#define STALL_LIMIT 500 /* rounds without a byte moving: nobody can go on */

/*
 * A side whose handshake is complete may still hold its last flight (a
 * TLS 1.3 client's Finished) in the core's queue: only a read or write
 * flushes it.  Pokes it with a one-byte read; no application data flows
 * while handshakes are pumped, so nothing may arrive.
 */
static void poke(mpssl_conn *conn) {
    uint8_t byte;
    long r = mpssl_conn_read(conn, &byte, 1);

    CHECK(r <= 0);
}

/* Runs both handshakes until neither would block (or nothing moves). */
static void pump_handshake(pair *p, int *rc, int *rs) {
    unsigned long last = (unsigned long)-1;
    int idle = 0;

    *rc = *rs = MPSSL_WANT_READ;
    for (long i = 0; i < PUMP_LIMIT; i++) {
        if (is_want(*rc))
            *rc = mpssl_conn_handshake(p->client);
        else if (*rc == 0)
            poke(p->client);
        if (is_want(*rs))
            *rs = mpssl_conn_handshake(p->server);
        else if (*rs == 0)
            poke(p->server);
        if (p->pipe.moved != last) {
            last = p->pipe.moved;
            idle = 0;
        } else if (++idle > STALL_LIMIT) {
            break; /* done, or nobody can go on */
        }
    }
}

static int handshake_ok(pair *p) {
    int rc, rs;

    pump_handshake(p, &rc, &rs);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rs, 0);
    return rc == 0 && rs == 0;
}

/* Reads from conn until a non-WANT result (bounded); returns it. */
static long read_until_result(pair *p, mpssl_conn *conn, uint8_t *buf,
                              size_t len) {
    long r = MPSSL_WANT_READ;

    for (int i = 0; i < 100000 && is_want(r); i++) {
        r = mpssl_conn_read(conn, buf, len);
        /* The other side may still hold queued ciphertext to flush. */
        if (is_want(r)) {
            mpssl_conn *other = conn == p->client ? p->server : p->client;
            uint8_t none;
            (void)mpssl_conn_read(other, &none, 0);
        }
    }
    return r;
}

static uint32_t fnv1a(uint32_t h, const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

/*
 * Moves len pattern bytes from writer to reader with random read sizes.
 * Returns 1 when exactly the bytes written arrived, in order.
 */
static int transfer(pair *p, mpssl_conn *writer, mpssl_conn *reader,
                    size_t len) {
    uint8_t *out = malloc(len), *in = malloc(len + 1);
    size_t sent = 0, got = 0;
    unsigned long last = (unsigned long)-1;
    int idle = 0, ok = 1;
    uint32_t rng = 12345;

    for (size_t i = 0; i < len; i++) {
        rng = rng * 1103515245u + 12345u;
        out[i] = (uint8_t)(rng >> 16);
    }
    for (long i = 0; i < PUMP_LIMIT * 4 && got < len && ok; i++) {
        if (sent < len) {
            long n = mpssl_conn_write(writer, out + sent, len - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (!is_want(n)) {
                printf("  write failed: %ld\n", n);
                ok = 0;
            }
        }
        size_t want = 1 + (size_t)(next_random(&p->pipe) % 5000);
        if (want > len + 1 - got)
            want = len + 1 - got; /* room for one extra byte: catch dups */
        long n = mpssl_conn_read(reader, in + got, want);
        if (n > 0)
            got += (size_t)n;
        else if (!is_want(n)) {
            printf("  read failed: %ld\n", n);
            ok = 0;
        }
        if (p->pipe.moved != last) {
            last = p->pipe.moved;
            idle = 0;
        } else if (++idle > STALL_LIMIT) {
            break;
        }
    }
    CHECK_EQ_INT(sent, len);
    CHECK_EQ_INT(got, len);
    ok = ok && sent == len && got == len;
    CHECK(ok && fnv1a(2166136261u, in, len) == fnv1a(2166136261u, out, len));
    ok = ok && memcmp(in, out, len) == 0;
    CHECK(ok);
    free(out);
    free(in);
    return ok;
}

/*
 * Pipe settings for tests that expect the failing side's fatal alert at the
 * peer: the core makes one attempt to send it, so the transport must take
 * it whole (no injected would-block, chunks larger than an alert record).
 */
#define FLUSH_ONCE 64, 0

static mpssl_ctx *verifying_client(void) {
    return client_ctx("ca.pem", MPSSL_CERT_REQUIRED);
}

static mpssl_ctx *rsa_server(void) {
    return server_ctx("server_rsa.pem", "server_rsa.key");
}

/* ------------------------------------------------------------------------ */
/* Handshakes and negotiated parameters                                     */
/* ------------------------------------------------------------------------ */

static int backend_has_tls13(void) {
    return (mpssl_backend_caps() & MPSSL_CAP_TLS13) != 0;
}

static void test_handshake_completes_with_best_version_by_default(void) {
    int best = backend_has_tls13() ? MPSSL_TLS1_3 : MPSSL_TLS1_2;
    pair p;
    uint16_t suite = 0;
    int version = 0;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25) &&
        handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version), 0);
        CHECK_EQ_INT(version, best);
        CHECK((suite >= 0x1301 && suite <= 0x1305) == (best == MPSSL_TLS1_3));
        CHECK_EQ_INT(mpssl_conn_cipher(p.server, &suite, &version), 0);
        CHECK_EQ_INT(version, best);
        CHECK(mpssl_conn_handshake_done(p.client));
    }
    pair_close(&p);
}

static void test_handshake_completes_with_tls12_when_only_tls12_suites(void) {
    static const uint16_t rsa_gcm[] = {0xC02F};
    mpssl_ctx *cctx = verifying_client(), *sctx = rsa_server();
    pair p;
    uint16_t suite = 0;
    int version = 0;

    set_suites(cctx, rsa_gcm, 1);
    if (pair_open(&p, cctx, sctx, "localhost", 7, 25) && handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version), 0);
        CHECK_EQ_INT(version, MPSSL_TLS1_2);
        CHECK_EQ_INT(suite, 0xC02F);
        CHECK_EQ_INT(mpssl_conn_cipher(p.server, &suite, &version), 0);
        CHECK_EQ_INT(suite, 0xC02F);
    }
    pair_close(&p);
}

static void test_ecdsa_server_negotiates_ecdsa_suite_over_tls12(void) {
    static const uint16_t ecdsa_chacha[] = {0xCCA9};
    mpssl_ctx *cctx = verifying_client();
    mpssl_ctx *sctx = server_ctx("server_ec.pem", "server_ec.key");
    pair p;
    uint16_t suite = 0;
    int version = 0;

    set_suites(sctx, ecdsa_chacha, 1);
    if (pair_open(&p, cctx, sctx, "localhost", 64, 10) && handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version), 0);
        CHECK_EQ_INT(suite, 0xCCA9);
        CHECK_EQ_INT(version, MPSSL_TLS1_2);
    }
    pair_close(&p);
}

static void test_cipher_reports_a_suite_from_the_configured_list(void) {
    /* One suite of each version the backend has. */
    static const uint16_t with_tls13[] = {0x1302, 0xC030};
    static const uint16_t tls12_only[] = {0xC02F, 0xC030};
    mpssl_ctx *cctx = verifying_client(), *sctx = rsa_server();
    const uint16_t *list = backend_has_tls13() ? with_tls13 : tls12_only;
    pair p;
    uint16_t suite = 0;
    int version = 0;

    set_suites(cctx, list, 2);
    if (pair_open(&p, cctx, sctx, "localhost", 7, 25)) {
        CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version),
                     MPSSL_WANT_READ); /* nothing negotiated yet */
        if (handshake_ok(&p)) {
            CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version), 0);
            CHECK(suite == list[0] || suite == list[1]);
            CHECK_EQ_INT(version,
                         suite == 0x1302 ? MPSSL_TLS1_3 : MPSSL_TLS1_2);
        }
    }
    pair_close(&p);
}

static void test_disjoint_suites_fail_with_no_shared_cipher(void) {
    static const uint16_t client_list[] = {0xC02F};
    static const uint16_t server_list[] = {0xC030};
    mpssl_ctx *cctx = verifying_client(), *sctx = rsa_server();
    pair p;
    int rc, rs;

    set_suites(cctx, client_list, 1);
    set_suites(sctx, server_list, 1);
    if (pair_open(&p, cctx, sctx, "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rs, MPSSL_ERR_NO_SHARED_CIPHER);
        CHECK_EQ_INT(rc, MPSSL_ERR_PEER_ALERT); /* handshake_failure */
    }
    pair_close(&p);
}

static void test_tls12_only_client_against_tls13_only_server_fails(void) {
    static const uint16_t tls12[] = {0xC02F};
    static const uint16_t tls13[] = {0x1301};
    mpssl_ctx *cctx, *sctx;
    pair p;
    int rc, rs;

    SKIP_UNLESS(backend_has_tls13(), "backend has no TLS 1.3");
    cctx = verifying_client();
    sctx = rsa_server();
    set_suites(cctx, tls12, 1);
    set_suites(sctx, tls13, 1);
    if (pair_open(&p, cctx, sctx, "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rs, MPSSL_ERR_NO_SHARED_CIPHER);
        CHECK_EQ_INT(rc, MPSSL_ERR_NO_SHARED_CIPHER); /* protocol_version */
    }
    pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */
/* ------------------------------------------------------------------------ */

static void test_data_both_ways_survives_one_byte_chunks(void) {
    pair p;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 1, 20) &&
        handshake_ok(&p)) {
        transfer(&p, p.client, p.server, 100 * 1024);
        transfer(&p, p.server, p.client, 100 * 1024);
    }
    pair_close(&p);
}

static void test_data_both_ways_survives_random_chunks_over_tls12(void) {
    static const uint16_t list[] = {0xC030};
    mpssl_ctx *cctx = verifying_client();
    pair p;

    set_suites(cctx, list, 1);
    if (pair_open(&p, cctx, rsa_server(), "localhost", 3000, 30) &&
        handshake_ok(&p)) {
        transfer(&p, p.client, p.server, 300 * 1024);
        transfer(&p, p.server, p.client, 300 * 1024);
    }
    pair_close(&p);
}

static void test_pending_counts_buffered_plaintext(void) {
    pair p;
    uint8_t msg[100], buf[100];

    memset(msg, 'x', sizeof msg);
    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 50, 20) &&
        handshake_ok(&p)) {
        long n = MPSSL_WANT_WRITE;
        for (int i = 0; i < 1000 && is_want(n); i++)
            n = mpssl_conn_write(p.server, msg, sizeof msg);
        CHECK_EQ_INT(n, 100);
        CHECK_EQ_INT(mpssl_conn_pending(p.client), 0);
        CHECK_EQ_INT(read_until_result(&p, p.client, buf, 10), 10);
        CHECK_EQ_INT(mpssl_conn_pending(p.client), 90);
        CHECK_EQ_INT(mpssl_conn_read(p.client, buf, sizeof buf), 90);
        CHECK_EQ_INT(mpssl_conn_pending(p.client), 0);
    }
    pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */
/* ------------------------------------------------------------------------ */

static void test_verify_succeeds_with_ca_and_localhost(void) {
    pair p;
    const uint8_t *der = NULL;
    size_t len = 0;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25) &&
        handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_verify_result(p.client), 0);
        CHECK_EQ_INT(mpssl_conn_verify_result(p.server), MPSSL_VERIFY_NOT_DONE);
        CHECK_EQ_INT(mpssl_conn_peer_cert(p.client, &der, &len), 0);
        CHECK(len > 500 && der != NULL && der[0] == 0x30);
        CHECK_EQ_INT(mpssl_conn_peer_cert(p.server, &der, &len), -1);
    }
    pair_close(&p);
}

static void test_verify_accepts_ip_literal_in_ip_san(void) {
    pair p;

    if (pair_open(&p, verifying_client(), rsa_server(), "127.0.0.1", 7, 25) &&
        handshake_ok(&p))
        CHECK_EQ_INT(mpssl_conn_verify_result(p.client), 0);
    pair_close(&p);
}

static void test_hostname_mismatch_fails_client_under_cert_required(void) {
    pair p;
    int rc, rs;
    char msg[256];

    if (pair_open(&p, verifying_client(), rsa_server(), "example.com",
                  FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rc, MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(mpssl_conn_verify_result(p.client),
                     MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(rs, MPSSL_ERR_PEER_ALERT);
        CHECK_EQ_INT(mpssl_conn_error(p.server, msg, sizeof msg),
                     MPSSL_ERR_PEER_ALERT);
        CHECK(strstr(msg, "bad_certificate") != NULL);
    }
    pair_close(&p);
}

static void test_hostname_mismatch_is_recorded_under_cert_optional(void) {
    pair p;

    if (pair_open(&p, client_ctx("ca.pem", MPSSL_CERT_OPTIONAL), rsa_server(),
                  "example.com", 7, 25) &&
        handshake_ok(&p))
        CHECK_EQ_INT(mpssl_conn_verify_result(p.client),
                     MPSSL_ERR_HOSTNAME_MISMATCH);
    pair_close(&p);
}

static void test_no_ca_under_cert_required_fails_before_any_byte(void) {
    pair p;
    int rc;

    if (pair_open(&p, client_ctx(NULL, MPSSL_CERT_REQUIRED), rsa_server(),
                  "localhost", 7, 0)) {
        rc = mpssl_conn_handshake(p.client);
        CHECK_EQ_INT(rc, MPSSL_ERR_CERT_UNTRUSTED);
        CHECK_EQ_INT(p.pipe.c2s.len, 0);
    }
    pair_close(&p);
}

static void test_chain_from_another_ca_is_untrusted(void) {
    pair p;
    int rc, rs;

    if (pair_open(&p, client_ctx("other_ca.pem", MPSSL_CERT_REQUIRED),
                  rsa_server(), "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rc, MPSSL_ERR_CERT_UNTRUSTED);
        CHECK_EQ_INT(rs, MPSSL_ERR_PEER_ALERT);
    }
    pair_close(&p);
}

static void test_cert_none_skips_verification_but_keeps_peer_cert(void) {
    pair p;
    const uint8_t *der = NULL;
    size_t len = 0;

    if (pair_open(&p, client_ctx(NULL, MPSSL_CERT_NONE), rsa_server(),
                  "example.com", 7, 25) &&
        handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_verify_result(p.client), MPSSL_VERIFY_NOT_DONE);
        CHECK_EQ_INT(mpssl_conn_peer_cert(p.client, &der, &len), 0);
    }
    pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* Client certificates                                                      */
/* ------------------------------------------------------------------------ */

static mpssl_ctx *server_requiring_client_cert(int mode) {
    mpssl_ctx *ctx = rsa_server();

    CHECK_EQ_INT(load_cas(ctx, "ca.pem"), 0);
    CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, mode), 0);
    return ctx;
}

static void test_missing_client_cert_fails_server_and_alerts_client(void) {
    pair p;
    int rc, rs;
    uint8_t buf[16];
    char msg[256];

    if (pair_open(&p, verifying_client(),
                  server_requiring_client_cert(MPSSL_CERT_REQUIRED),
                  "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rs, MPSSL_ERR_NO_PEER_CERT);
        /* TLS 1.3: the client has finished before the alert arrives. */
        if (rc == 0)
            rc = (int)read_until_result(&p, p.client, buf, sizeof buf);
        CHECK_EQ_INT(rc, MPSSL_ERR_PEER_ALERT);
        CHECK_EQ_INT(mpssl_conn_error(p.client, msg, sizeof msg),
                     MPSSL_ERR_PEER_ALERT);
        /* TLS 1.3 has an alert for it; TLS 1.2 servers send the generic one. */
        CHECK(strstr(msg, backend_has_tls13() ? "certificate_required"
                                              : "handshake_failure") != NULL);
    }
    pair_close(&p);
}

static void test_missing_client_cert_over_tls12_alerts_client_handshake(void) {
    static const uint16_t tls12[] = {0xC02F};
    mpssl_ctx *cctx = verifying_client();
    pair p;
    int rc, rs;

    set_suites(cctx, tls12, 1);
    if (pair_open(&p, cctx, server_requiring_client_cert(MPSSL_CERT_REQUIRED),
                  "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rs, MPSSL_ERR_NO_PEER_CERT);
        CHECK_EQ_INT(rc, MPSSL_ERR_PEER_ALERT);
    }
    pair_close(&p);
}

static void test_client_cert_is_verified_by_server(void) {
    mpssl_ctx *cctx = verifying_client();
    pair p;
    const uint8_t *der = NULL;
    size_t len = 0;

    CHECK_EQ_INT(load_chain(cctx, "client.pem", "client.key"), 0);
    if (pair_open(&p, cctx, server_requiring_client_cert(MPSSL_CERT_REQUIRED),
                  "localhost", 7, 25) &&
        handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_verify_result(p.server), 0);
        CHECK_EQ_INT(mpssl_conn_peer_cert(p.server, &der, &len), 0);
        transfer(&p, p.client, p.server, 1000);
    }
    pair_close(&p);
}

static void test_untrusted_client_cert_fails_server_and_alerts_client(void) {
    mpssl_ctx *cctx = verifying_client();
    pair p;
    int rc, rs;
    uint8_t buf[16];

    CHECK_EQ_INT(load_chain(cctx, "client_other.pem", "client.key"), 0);
    if (pair_open(&p, cctx, server_requiring_client_cert(MPSSL_CERT_REQUIRED),
                  "localhost", FLUSH_ONCE)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rs, MPSSL_ERR_CERT_UNTRUSTED);
        CHECK_EQ_INT(mpssl_conn_verify_result(p.server),
                     MPSSL_ERR_CERT_UNTRUSTED);
        if (rc == 0) /* TLS 1.3: the alert follows the client's Finished */
            rc = (int)read_until_result(&p, p.client, buf, sizeof buf);
        CHECK_EQ_INT(rc, MPSSL_ERR_PEER_ALERT);
    }
    pair_close(&p);
}

static void test_optional_client_cert_may_be_absent(void) {
    pair p;

    if (pair_open(&p, verifying_client(),
                  server_requiring_client_cert(MPSSL_CERT_OPTIONAL),
                  "localhost", 7, 25) &&
        handshake_ok(&p)) {
        CHECK_EQ_INT(mpssl_conn_verify_result(p.server),
                     MPSSL_ERR_NO_PEER_CERT);
        transfer(&p, p.client, p.server, 1000);
    }
    pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* End of stream, close, sticky errors                                      */
/* ------------------------------------------------------------------------ */

static void test_close_notify_reads_as_zero_on_the_peer(void) {
    pair p;
    uint8_t buf[16];

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 0) &&
        handshake_ok(&p)) {
        mpssl_conn_close(p.client);
        CHECK(mpssl_conn_closed(p.client));
        CHECK_EQ_INT(read_until_result(&p, p.server, buf, sizeof buf), 0);
        CHECK_EQ_INT(mpssl_conn_read(p.server, buf, sizeof buf), 0);
    }
    pair_close(&p);
}

static void test_transport_eof_mid_handshake_is_handshake_eof(void) {
    pair p;
    int rc = MPSSL_WANT_READ;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25)) {
        for (int i = 0; i < 100 && p.pipe.c2s.len == 0; i++)
            rc = mpssl_conn_handshake(p.client);
        CHECK(is_want(rc));
        p.pipe.s2c.writer_closed = 1; /* the server vanished */
        for (int i = 0; i < 1000 && is_want(rc); i++)
            rc = mpssl_conn_handshake(p.client);
        CHECK_EQ_INT(rc, MPSSL_ERR_HANDSHAKE_EOF);
    }
    pair_close(&p);
}

static void test_transport_eof_after_handshake_reads_as_zero(void) {
    pair p;
    uint8_t buf[16];

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25) &&
        handshake_ok(&p)) {
        size_t client_sent = p.pipe.c2s.len;
        p.pipe.s2c.writer_closed = 1;
        CHECK_EQ_INT(read_until_result(&p, p.client, buf, sizeof buf), 0);
        CHECK_EQ_INT(mpssl_conn_read(p.client, buf, sizeof buf), 0);
        /* Nothing (no alert) is sent into a stream that has ended. */
        CHECK_EQ_INT(p.pipe.c2s.len, client_sent);
        p.pipe.c2s.writer_closed = 1;
        CHECK_EQ_INT(read_until_result(&p, p.server, buf, sizeof buf), 0);
    }
    pair_close(&p);
}

static void test_transport_errno_mid_handshake_is_reported_as_errno(void) {
    pair p;
    int rc = MPSSL_WANT_READ;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25)) {
        for (int i = 0; i < 100 && p.pipe.c2s.len == 0; i++)
            rc = mpssl_conn_handshake(p.client);
        p.pipe.client_end.fail_errno = ECONNRESET;
        for (int i = 0; i < 1000 && is_want(rc); i++)
            rc = mpssl_conn_handshake(p.client);
        CHECK_EQ_INT(rc, -ECONNRESET);
    }
    pair_close(&p);
}

static void test_errors_are_sticky(void) {
    pair p;
    int rc, rs;
    uint8_t buf[16] = {0};

    if (pair_open(&p, verifying_client(), rsa_server(), "example.com", 7, 25)) {
        pump_handshake(&p, &rc, &rs);
        CHECK_EQ_INT(rc, MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(mpssl_conn_handshake(p.client),
                     MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(mpssl_conn_read(p.client, buf, sizeof buf),
                     MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(mpssl_conn_write(p.client, buf, sizeof buf),
                     MPSSL_ERR_HOSTNAME_MISMATCH);
        CHECK_EQ_INT(mpssl_conn_read(p.server, buf, sizeof buf), rs);
    }
    pair_close(&p);
}

static void test_io_after_close_gives_closed(void) {
    pair p;
    uint8_t buf[16] = {0};
    uint16_t suite;
    int version;

    if (pair_open(&p, verifying_client(), rsa_server(), "localhost", 7, 25) &&
        handshake_ok(&p)) {
        mpssl_conn_close(p.client);
        mpssl_conn_close(p.client); /* idempotent */
        CHECK_EQ_INT(mpssl_conn_write(p.client, buf, sizeof buf),
                     MPSSL_ERR_CLOSED);
        CHECK_EQ_INT(mpssl_conn_read(p.client, buf, sizeof buf),
                     MPSSL_ERR_CLOSED);
        CHECK_EQ_INT(mpssl_conn_cipher(p.client, &suite, &version),
                     MPSSL_ERR_CLOSED);
    }
    pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

static void test_traditional_key_encodings_load_and_serve(void) {
    pair p;

    if (pair_open(&p, verifying_client(),
                  server_ctx("server_rsa.pem", "server_rsa.pkcs1.key"),
                  "localhost", 64, 10))
        handshake_ok(&p);
    pair_close(&p);
    if (pair_open(&p, verifying_client(),
                  server_ctx("server_ec.pem", "server_ec.sec1.key"),
                  "localhost", 64, 10))
        handshake_ok(&p);
    pair_close(&p);
}

static void test_key_of_another_certificate_is_refused(void) {
    mpssl_ctx *ctx = NULL;

    CHECK_EQ_INT(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_SERVER, &ctx), 0);
    CHECK_EQ_INT(load_chain(ctx, "server_rsa.pem", "server_ec.key"),
                 MPSSL_EKEY_MISMATCH);
    CHECK_EQ_INT(load_chain(ctx, "server_ec.pem", "client.key"),
                 MPSSL_EKEY_MISMATCH);
    CHECK_EQ_INT(load_chain(ctx, "server_rsa.pem", "server_rsa.pkcs1.key"), 0);
    mpssl_ctx_unref(ctx);
}

int main(int argc, char **argv) {
    int failed;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    cert_dir = argv[1];
    if (mpssl_init() != 0) {
        fprintf(stderr, "mpssl_init failed\n");
        return 1;
    }
    RUN(test_handshake_completes_with_best_version_by_default);
    RUN(test_handshake_completes_with_tls12_when_only_tls12_suites);
    RUN(test_ecdsa_server_negotiates_ecdsa_suite_over_tls12);
    RUN(test_cipher_reports_a_suite_from_the_configured_list);
    RUN(test_disjoint_suites_fail_with_no_shared_cipher);
    RUN(test_tls12_only_client_against_tls13_only_server_fails);
    RUN(test_data_both_ways_survives_one_byte_chunks);
    RUN(test_data_both_ways_survives_random_chunks_over_tls12);
    RUN(test_pending_counts_buffered_plaintext);
    RUN(test_verify_succeeds_with_ca_and_localhost);
    RUN(test_verify_accepts_ip_literal_in_ip_san);
    RUN(test_hostname_mismatch_fails_client_under_cert_required);
    RUN(test_hostname_mismatch_is_recorded_under_cert_optional);
    RUN(test_no_ca_under_cert_required_fails_before_any_byte);
    RUN(test_chain_from_another_ca_is_untrusted);
    RUN(test_cert_none_skips_verification_but_keeps_peer_cert);
    RUN(test_missing_client_cert_fails_server_and_alerts_client);
    RUN(test_missing_client_cert_over_tls12_alerts_client_handshake);
    RUN(test_client_cert_is_verified_by_server);
    RUN(test_untrusted_client_cert_fails_server_and_alerts_client);
    RUN(test_optional_client_cert_may_be_absent);
    RUN(test_close_notify_reads_as_zero_on_the_peer);
    RUN(test_transport_eof_mid_handshake_is_handshake_eof);
    RUN(test_transport_eof_after_handshake_reads_as_zero);
    RUN(test_transport_errno_mid_handshake_is_reported_as_errno);
    RUN(test_errors_are_sticky);
    RUN(test_io_after_close_gives_closed);
    RUN(test_traditional_key_encodings_load_and_serve);
    RUN(test_key_of_another_certificate_is_refused);
    failed = DONE();
    mpssl_deinit();
    return failed;
}
