/*
 * fuzz_ciphers.c - what SSLContext.set_ciphers runs: name lookup
 * (mpssl_suite_lookup), the policy check and list replacement
 * (mpssl_ctx_set_suites), and the backend compiling the list into its own
 * configuration (mpssl_conn_new plus the first flight).
 *
 * Input: byte 0 is the separator; the rest splits on it into names, looked
 * up like the CPython port does.  Names that do not resolve are dropped
 * (the port would raise before reaching the context), so the context sees
 * the known ids in input order.
 *
 * Invariants (abort on violation):
 *   - a resolved name maps back: mpssl_suite_name(id) resolves to id;
 *   - a name with a NUL byte never resolves;
 *   - set_suites succeeds exactly when every id is acceptable, and then the
 *     context holds the ids in first-occurrence order without duplicates;
 *     on refusal *bad_index names the first refused id and the context is
 *     unchanged.
 */
#include "mpssl.h"
#include "suites.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 256

static void require(int condition) {
    if (!condition)
        abort();
}

static int lookup(const uint8_t *name, size_t len, uint16_t *id) {
    int r = mpssl_suite_lookup((const char *)name, len, id);

    require(r == 0 || r == MPSSL_ERR_CIPHER_LIST);
    if (r != 0)
        return 0;
    require(memchr(name, '\0', len) == NULL);
    const char *iana = mpssl_suite_name(*id);
    uint16_t again = 0;
    require(iana != NULL);
    require(mpssl_suite_lookup(iana, strlen(iana), &again) == 0);
    require(again == *id);
    return 1;
}

/* Splits on sep and resolves each piece; returns the number of ids. */
static size_t parse_names(const uint8_t *data, size_t len, uint8_t sep,
                          uint16_t *ids) {
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len && n < MAX_NAMES; i++) {
        if (i == len || data[i] == sep) {
            if (lookup(data + start, i - start, &ids[n]))
                n++;
            start = i + 1;
        }
    }
    return n;
}

static int seen_before(const uint16_t *ids, size_t n, uint16_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* The context's list after a successful set: ids deduplicated, in order. */
static void check_applied(const mpssl_ctx *ctx, const uint16_t *ids, size_t n) {
    const uint16_t *got;
    size_t n_got = mpssl_ctx_suites(ctx, &got), k = 0;

    for (size_t i = 0; i < n; i++) {
        if (seen_before(ids, i, ids[i]))
            continue;
        require(k < n_got && got[k] == ids[i]);
        k++;
    }
    require(k == n_got);
}

static void check_refused(const mpssl_ctx *ctx, const uint16_t *ids, size_t n,
                          size_t bad, const uint16_t *before, size_t n_before) {
    const uint16_t *now;
    size_t n_now = mpssl_ctx_suites(ctx, &now);

    require(n_now == n_before && memcmp(now, before, n_now * 2) == 0);
    if (n == 0) {
        require(bad == SIZE_MAX);
        return;
    }
    require(bad < n);
    require(mpssl_suite_refusal(ctx, ids[bad]) != NULL);
    for (size_t i = 0; i < bad; i++)
        require(mpssl_suite_refusal(ctx, ids[i]) == NULL);
}

/* A client connection over a transport that never delivers: compiling the
 * list and writing the ClientHello happen, nothing else. */
static long no_recv(void *user, uint8_t *buf, size_t len) {
    (void)user;
    (void)buf;
    (void)len;
    return MPSSL_IO_WOULD_BLOCK;
}

static long sink_send(void *user, const uint8_t *buf, size_t len) {
    (void)user;
    (void)buf;
    return (long)len;
}

static void first_flight(mpssl_ctx *ctx) {
    mpssl_transport t = {NULL, no_recv, sink_send, NULL};
    mpssl_conn *conn = NULL;
    int r = mpssl_conn_new(ctx, &t, "localhost", &conn);

    require(r == 0 || (r <= MPSSL_ERR_FIRST && r >= MPSSL_ERR_LAST) ||
            r == MPSSL_ENEED_HOSTNAME);
    if (r != 0)
        return;
    mpssl_conn_set_blocking(conn, 0);
    r = mpssl_conn_handshake(conn);
    require(r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE ||
            (r <= MPSSL_ERR_FIRST && r >= MPSSL_ERR_LAST));
    mpssl_conn_free(conn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (mpssl_init() != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint16_t ids[MAX_NAMES], before[MAX_NAMES + 64];
    const uint16_t *current;
    size_t n, n_before, bad = 12345;
    mpssl_ctx *ctx = NULL;

    if (size < 1)
        return 0;
    n = parse_names(data + 1, size - 1, data[0], ids);

    require(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_CLIENT, &ctx) == 0);
    require(mpssl_ctx_set_verify_mode(ctx, MPSSL_CERT_NONE) == 0);
    n_before = mpssl_ctx_suites(ctx, &current);
    require(n_before <= sizeof before / sizeof before[0]);
    memcpy(before, current, n_before * sizeof *before);

    int r = mpssl_ctx_set_suites(ctx, ids, n, &bad);
    require(r == 0 || r == MPSSL_ERR_CIPHER_LIST);
    if (r == 0) {
        for (size_t i = 0; i < n; i++)
            require(mpssl_suite_allowed(ids[i]));
        check_applied(ctx, ids, n);
    } else {
        check_refused(ctx, ids, n, bad, before, n_before);
    }
    first_flight(ctx);
    mpssl_ctx_unref(ctx);
    return 0;
}
