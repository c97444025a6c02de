/*
 * fuzz_record.c - the record path through the real backend, with the fuzz
 * input as the peer.
 *
 * Built twice: fuzz_record_client (FUZZ_ROLE = client: the input is what a
 * server sends) and fuzz_record_server (the input is what a client sends).
 * One non-blocking mpssl_conn runs over a fake transport whose recv serves
 * the input in chunks and with would-block points chosen by the input's
 * header (see record_setup.h), and whose send discards.  A bounded loop
 * drives the handshake, then writes once and reads until the connection
 * ends.  Invariants checked on the way (a violation aborts, so libFuzzer
 * keeps the input):
 *   - a client that verifies never completes a handshake with a peer that
 *     failed verification or does not name RECORD_HOSTNAME;
 *   - a completed handshake reports a TLS 1.2/1.3 suite the core knows;
 *   - results are only the documented kinds; reads never claim more bytes
 *     than asked; error messages are NUL-terminated within their buffer.
 */
#include "hostname.h"
#include "mpssl.h"
#include "record_setup.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_ROLE
#error "build with -DFUZZ_ROLE=MPSSL_PROTOCOL_TLS_CLIENT or _SERVER"
#endif

#define DRIVE_LIMIT 20000 /* loop rounds per input */
#define STALL_LIMIT 64    /* rounds without progress before EOF is served */

typedef struct fake_peer {
    const uint8_t *data;
    size_t len, off;
    size_t max_chunk;       /* 0: no limit */
    unsigned block_64ths;   /* chance of an injected would-block */
    uint32_t rng;           /* decides chunk sizes and would-blocks */
    int eof;                /* serve end of stream once the data is gone */
    unsigned long progress; /* bytes moved either way */
} fake_peer;

static uint32_t peer_random(fake_peer *p) {
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 17;
    p->rng ^= p->rng << 5;
    return p->rng;
}

static int injected_block(fake_peer *p) {
    return (peer_random(p) & 63u) < p->block_64ths;
}

static size_t chunk(fake_peer *p, size_t len) {
    size_t n = p->max_chunk ? 1 + peer_random(p) % p->max_chunk : len;
    return n < len ? n : len;
}

static long peer_recv(void *user, uint8_t *buf, size_t len) {
    fake_peer *p = user;
    size_t n;

    if (len == 0 || injected_block(p))
        return MPSSL_IO_WOULD_BLOCK;
    if (p->off == p->len)
        return p->eof ? 0 : MPSSL_IO_WOULD_BLOCK;
    n = chunk(p, len);
    if (n > p->len - p->off)
        n = p->len - p->off;
    memcpy(buf, p->data + p->off, n);
    p->off += n;
    p->progress += n;
    return (long)n;
}

static long peer_send(void *user, const uint8_t *buf, size_t len) {
    fake_peer *p = user;
    size_t n;

    (void)buf;
    if (len == 0 || injected_block(p))
        return MPSSL_IO_WOULD_BLOCK;
    n = chunk(p, len);
    p->progress += n;
    return (long)n;
}

static int is_want(long r) {
    return r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE;
}

/* Every result is >= 0, -errno, a TLS code, WANT_* or a value error. */
static void check_result_kind(long r) {
    if (r >= 0 || r >= -MPSSL_ERRNO_MAX || is_want(r))
        return;
    if (r <= MPSSL_ERR_FIRST && r >= MPSSL_ERR_LAST)
        return;
    if (r <= MPSSL_EINVALID_CERT && r >= MPSSL_EBAD_HOSTNAME)
        return;
    abort();
}

static void check_error_message(const mpssl_conn *conn) {
    char msg[48];

    memset(msg, 'x', sizeof msg);
    (void)mpssl_conn_error(conn, msg, sizeof msg);
    if (memchr(msg, '\0', sizeof msg) == NULL)
        abort();
}

/* What must hold once the handshake reports completion. */
static void check_established(const mpssl_conn *conn, unsigned options) {
    uint16_t suite = 0;
    int version = 0;
    const uint8_t *der;
    size_t der_len;
    mpssl_x509 cert;

    if (mpssl_conn_cipher(conn, &suite, &version) != 0)
        abort();
    if (version != MPSSL_TLS1_2 && version != MPSSL_TLS1_3)
        abort();
    if (mpssl_suite_name(suite) == NULL)
        abort();
    if (!(options & RECORD_OPT_VERIFY))
        return;
    /* Verification on: the peer passed, and a server must be "localhost". */
    if (mpssl_conn_verify_result(conn) != 0)
        abort();
    if (mpssl_conn_peer_cert(conn, &der, &der_len) != 0)
        abort();
    if (FUZZ_ROLE == MPSSL_PROTOCOL_TLS_CLIENT &&
        (mpssl_x509_parse(der, der_len, &cert) != 0 ||
         !mpssl_cert_matches_host(&cert, RECORD_HOSTNAME)))
        abort();
}

/* Handshake, one write, then reads until the connection ends. */
static void drive(mpssl_conn *conn, fake_peer *peer, unsigned options) {
    const char *message = FUZZ_ROLE == MPSSL_PROTOCOL_TLS_CLIENT
                              ? RECORD_CLIENT_MESSAGE
                              : RECORD_SERVER_MESSAGE;
    uint8_t buf[512];
    int established = 0, written = 0, stall = 0;
    unsigned long last = 0;

    for (int i = 0; i < DRIVE_LIMIT; i++) {
        long r;
        if (!established) {
            r = mpssl_conn_handshake(conn);
            if (r == 0) {
                established = 1;
                check_established(conn, options);
            }
        } else if (!written) {
            r = mpssl_conn_write(conn, (const uint8_t *)message,
                                 strlen(message));
            written = r > 0;
        } else {
            r = mpssl_conn_read(conn, buf, sizeof buf);
            if (r > (long)sizeof buf)
                abort();
            if (r == 0)
                return; /* clean end of stream */
        }
        check_result_kind(r);
        if (r < 0 && !is_want(r)) {
            check_error_message(conn);
            return; /* sticky failure: the input was rejected */
        }
        unsigned events = 0;
        (void)mpssl_conn_poll(conn, MPSSL_POLL_RD | MPSSL_POLL_WR, &events);
        (void)mpssl_conn_pending(conn);
        if (peer->progress != last) {
            last = peer->progress;
            stall = 0;
        } else if (++stall > STALL_LIMIT) {
            if (peer->eof)
                return; /* nothing more can happen */
            peer->eof = peer->off == peer->len;
            stall = 0;
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (record_setup_platform() != 0 || mpssl_init() != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fake_peer peer;
    mpssl_transport transport = {&peer, peer_recv, peer_send, NULL};
    mpssl_ctx *ctx;
    mpssl_conn *conn = NULL;
    unsigned options;

    if (size < RECORD_HEADER_LEN)
        return 0;
    options = data[0] & RECORD_OPT_ALL;
    memset(&peer, 0, sizeof peer);
    peer.max_chunk = data[1];
    peer.block_64ths = data[2] & 63u;
    peer.rng = 0x9e3779b9u ^ ((uint32_t)data[1] << 8) ^ data[2];
    peer.data = data + RECORD_HEADER_LEN;
    peer.len = size - RECORD_HEADER_LEN;

    ctx = record_ctx(FUZZ_ROLE, options);
    if (ctx == NULL)
        abort(); /* the embedded certificates no longer load: a build bug */
    if (mpssl_conn_new(ctx, &transport,
                       FUZZ_ROLE == MPSSL_PROTOCOL_TLS_CLIENT ? RECORD_HOSTNAME
                                                              : NULL,
                       &conn) != 0)
        abort();
    mpssl_ctx_unref(ctx);
    mpssl_conn_set_blocking(conn, 0);
    drive(conn, &peer, options);
    mpssl_conn_close(conn);
    if (!mpssl_conn_closed(conn))
        abort();
    if (mpssl_conn_read(conn, (uint8_t[1]){0}, 1) != MPSSL_ERR_CLOSED)
        abort();
    mpssl_conn_free(conn);
    return 0;
}
