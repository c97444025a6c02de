/*
 * test_secrets.c - private key bytes do not survive in memory that mpssl
 * frees.
 *
 * A recording allocator (mpssl_set_allocator) scans every block as it is
 * freed (or moved by realloc) for any 16-byte window of the test keys, in
 * their DER and their PEM text, that does not also occur in the public
 * certificates (an RSA key's modulus or an EC key's public point are not
 * secret).  Any such window in a freed block means a copy of the key went
 * back to the heap unwiped.  The allocator sees the core's allocations and
 * those of backends that allocate through mpssl_alloc (BearSSL entirely,
 * mbedTLS when its build has MBEDTLS_PLATFORM_MEMORY); what OpenSSL and
 * GnuTLS allocate themselves is their own business (both cleanse keys).
 *
 * Each case loads keys, runs a handshake over an in-memory pipe so the
 * backend has compiled and used the key, frees everything and checks that
 * no freed block held key bytes.  The first case proves the scanner can
 * fail: a key copy freed with plain mpssl_free is caught.
 *
 * Usage: test_secrets CERTDIR   (CERTDIR as made by make_certs.sh)
 */
#include "backend.h" /* mpssl_alloc, mpssl_free_secret */
#include "check.h"
#include "mpssl.h"
#include "testfiles.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cert_dir;

/* ------------------------------------------------------------------------ */
/* Secret windows                                                           */
/* ------------------------------------------------------------------------ */

#define WINDOW 16

/* A window of secret bytes, found by its first 8 bytes (sorted). */
typedef struct needle {
    uint64_t prefix;
    const uint8_t *bytes; /* WINDOW bytes */
} needle;

static needle *needles;
static size_t n_needles, cap_needles;

/* Public material: windows found here are not secrets. */
typedef struct public_data {
    const uint8_t *data[16];
    size_t len[16];
    size_t n;
} public_data;

static public_data publics;

static uint64_t prefix_of(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int occurs_in(const uint8_t *hay, size_t len, const uint8_t *w) {
    for (size_t i = 0; i + WINDOW <= len; i++) {
        if (memcmp(hay + i, w, WINDOW) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_public(const uint8_t *w) {
    for (size_t i = 0; i < publics.n; i++) {
        if (occurs_in(publics.data[i], publics.len[i], w)) {
            return 1;
        }
    }
    return 0;
}

/* Registers every window of secret (kept alive by the caller) that is not
 * public. */
static void add_secret(const uint8_t *secret, size_t len) {
    for (size_t i = 0; i + WINDOW <= len; i++) {
        if (is_public(secret + i)) {
            continue;
        }
        if (n_needles == cap_needles) {
            cap_needles = cap_needles ? cap_needles * 2 : 1024;
            needles = realloc(needles, cap_needles * sizeof *needles);
            if (!needles) {
                abort();
            }
        }
        needles[n_needles++] = (needle){prefix_of(secret + i), secret + i};
    }
}

static int by_prefix(const void *a, const void *b) {
    uint64_t x = ((const needle *)a)->prefix, y = ((const needle *)b)->prefix;
    return x < y ? -1 : x > y;
}

static void sort_needles(void) {
    qsort(needles, n_needles, sizeof *needles, by_prefix);
}

/* 1 when some window of p[0..len) is a registered secret. */
static int holds_secret(const uint8_t *p, size_t len) {
    for (size_t i = 0; i + WINDOW <= len; i++) {
        uint64_t key = prefix_of(p + i);
        size_t lo = 0, hi = n_needles;
        while (lo < hi) { /* first needle with prefix >= key */
            size_t mid = lo + (hi - lo) / 2;
            if (needles[mid].prefix < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for (; lo < n_needles && needles[lo].prefix == key; lo++) {
            if (memcmp(p + i, needles[lo].bytes, WINDOW) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The recording allocator                                                  */
/* ------------------------------------------------------------------------ */

/* Each block is preceded by a header recording its size. */
typedef union header {
    size_t size;
    max_align_t align;
} header;

static size_t blocks_scanned; /* frees and realloc moves seen */
static size_t blocks_with_secret;
static int expect_secret; /* the control case: a hit is what it wants */

/* New blocks are filled with a pattern: malloc hands out stale heap, and
 * the libraries (OpenSSL while decoding a key) free key copies unwiped, so
 * without it a block of ours could show their leftovers, not our leak. */
static void *rec_alloc(size_t size) {
    header *h = malloc(sizeof *h + size);
    if (!h) {
        return NULL;
    }
    memset(h + 1, 0xA5, size);
    h->size = size;
    return h + 1;
}

static void scan_and_release(void *ptr) {
    header *h = (header *)ptr - 1;
    blocks_scanned++;
    if (holds_secret(ptr, h->size)) {
        blocks_with_secret++;
        if (!expect_secret)
            printf("  freed a %zu-byte block still holding key bytes\n",
                   h->size);
    }
    free(h);
}

static void rec_free(void *ptr) {
    if (ptr) {
        scan_and_release(ptr);
    }
}

/* Always moves, so that the old block is scanned like a free: a realloc
 * that leaves key bytes behind leaks them as surely as a free does. */
static void *rec_realloc(void *ptr, size_t size) {
    void *fresh = rec_alloc(size);
    if (!fresh || !ptr) {
        return fresh;
    }
    size_t old = ((header *)ptr - 1)->size;
    memcpy(fresh, ptr, old < size ? old : size);
    scan_and_release(ptr);
    return fresh;
}

static const mpssl_allocator recorder = {rec_alloc, rec_realloc, rec_free};

/* ------------------------------------------------------------------------ */
/* Test files                                                               */
/* ------------------------------------------------------------------------ */

/* Reads a file of the certificate directory (plain malloc: not scanned);
 * kept until exit because needles point into it. */
static file_data read_file(const char *name) {
    return read_test_file(cert_dir, name);
}

static int b64_value(uint8_t c) {
    const char *alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

/* The DER of a single-block PEM file, decoded here rather than by the code
 * under test, so the needles do not depend on it. */
static file_data der_of_pem(file_data pem) {
    file_data der = {malloc(pem.len), 0};
    const uint8_t *body = pem.data, *end = pem.data + pem.len;
    uint32_t acc = 0;
    int bits = 0;

    while (body < end && *body != '\n') { /* skip the BEGIN line */
        body++;
    }
    for (; body < end && *body != '-'; body++) {
        int v = b64_value(*body);
        if (v < 0) {
            continue; /* newlines and padding */
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            der.data[der.len++] = (uint8_t)(acc >> bits);
        }
    }
    return der;
}

/* ------------------------------------------------------------------------ */
/* The test PKI                                                             */
/* ------------------------------------------------------------------------ */

static const char *const cert_files[] = {"ca.pem", "server_rsa.pem",
                                         "server_ec.pem", "client.pem"};
static const char *const key_files[] = {"server_rsa.key",
                                        "server_rsa.pkcs1.key", "server_ec.key",
                                        "server_ec.sec1.key", "client.key"};

#define N_KEYS (sizeof key_files / sizeof key_files[0])
static file_data key_pem[N_KEYS], key_der[N_KEYS];

static void add_public(file_data f) {
    if (publics.n < sizeof publics.data / sizeof publics.data[0]) {
        publics.data[publics.n] = f.data;
        publics.len[publics.n++] = f.len;
    }
}

/* Reads the PKI and registers every key's secret windows. */
static int load_pki(void) {
    for (size_t i = 0; i < sizeof cert_files / sizeof cert_files[0]; i++) {
        file_data pem = read_file(cert_files[i]);
        if (!pem.data) {
            return -1;
        }
        add_public(pem);
        add_public(der_of_pem(pem));
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        key_pem[i] = read_file(key_files[i]);
        if (!key_pem[i].data) {
            return -1;
        }
        key_der[i] = der_of_pem(key_pem[i]);
        add_secret(key_pem[i].data, key_pem[i].len);
        add_secret(key_der[i].data, key_der[i].len);
    }
    sort_needles();
    return 0;
}

static file_data key_named(const char *name, int der) {
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(key_files[i], name) == 0) {
            return der ? key_der[i] : key_pem[i];
        }
    }
    abort();
}

static file_data cert_named(const char *name) {
    return read_file(name); /* the caller frees */
}

/* ------------------------------------------------------------------------ */
/* Contexts and a minimal in-memory pipe                                    */
/* ------------------------------------------------------------------------ */

static mpssl_ctx *new_ctx(int protocol) {
    mpssl_ctx *ctx = NULL;
    CHECK_EQ_INT(mpssl_ctx_new(protocol, &ctx), 0);
    return ctx;
}

static int load_chain(mpssl_ctx *ctx, const char *cert, const char *key,
                      int key_as_der) {
    file_data c = cert_named(cert), k = key_named(key, key_as_der);
    int r = mpssl_ctx_load_cert_chain(ctx, c.data, c.len, k.data, k.len);
    free(c.data);
    return r;
}

static void trust_test_ca(mpssl_ctx *ctx) {
    file_data ca = cert_named("ca.pem");
    CHECK_EQ_INT(mpssl_ctx_load_verify_data(ctx, ca.data, ca.len), 0);
    free(ca.data);
}

typedef struct queue {
    uint8_t data[1 << 16];
    size_t len, off;
} queue;

typedef struct end {
    queue *in, *out;
} end;

static long end_recv(void *user, uint8_t *buf, size_t len) {
    queue *q = ((end *)user)->in;
    size_t n = q->len - q->off;
    if (n == 0) {
        return MPSSL_IO_WOULD_BLOCK;
    }
    n = n < len ? n : len;
    memcpy(buf, q->data + q->off, n);
    q->off += n;
    return (long)n;
}

static long end_send(void *user, const uint8_t *buf, size_t len) {
    queue *q = ((end *)user)->out;
    if (q->off == q->len) { /* drained: start over at the front */
        q->off = q->len = 0;
    }
    size_t room = sizeof q->data - q->len;
    if (room == 0) {
        return MPSSL_IO_WOULD_BLOCK;
    }
    len = len < room ? len : room;
    memcpy(q->data + q->len, buf, len);
    q->len += len;
    return (long)len;
}

static queue c2s, s2c;
static end client_end = {&s2c, &c2s}, server_end = {&c2s, &s2c};

static mpssl_conn *new_conn(mpssl_ctx *ctx, end *e, const char *host) {
    mpssl_transport t = {e, end_recv, end_send, NULL};
    mpssl_conn *conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &t, host, &conn), 0);
    if (conn) {
        mpssl_conn_set_blocking(conn, 0);
    }
    return conn;
}

static int is_want(long r) {
    return r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE;
}

/* Handshakes and moves one byte each way, so the key has been used. */
static void exchange(mpssl_ctx *cctx, mpssl_ctx *sctx) {
    memset(&c2s, 0, sizeof c2s);
    memset(&s2c, 0, sizeof s2c);
    mpssl_conn *client = new_conn(cctx, &client_end, "localhost");
    mpssl_conn *server = new_conn(sctx, &server_end, NULL);
    uint8_t byte = 'x';
    long rc = MPSSL_WANT_READ, rs = MPSSL_WANT_READ;
    long got_c = MPSSL_WANT_READ, got_s = MPSSL_WANT_READ;

    for (int i = 0; client && server && i < 10000; i++) {
        if (is_want(rc)) {
            rc = mpssl_conn_write(client, &byte, 1);
        } else if (is_want(got_c)) {
            got_c = mpssl_conn_read(client, &byte, 1);
        }
        if (is_want(got_s)) {
            got_s = mpssl_conn_read(server, &byte, 1);
        } else if (is_want(rs)) {
            rs = mpssl_conn_write(server, &byte, 1);
        }
        if (!is_want(rc) && !is_want(rs) && !is_want(got_c) &&
            !is_want(got_s)) {
            break;
        }
    }
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(got_s, 1);
    CHECK_EQ_INT(rs, 1);
    CHECK_EQ_INT(got_c, 1);
    mpssl_conn_free(client);
    mpssl_conn_free(server);
}

/* Loads a server key in the given form, uses it, frees everything. */
static void serve_with(const char *cert, const char *key, int key_as_der) {
    mpssl_ctx *sctx = new_ctx(MPSSL_PROTOCOL_TLS_SERVER);
    mpssl_ctx *cctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT);
    size_t before = blocks_scanned;

    CHECK_EQ_INT(load_chain(sctx, cert, key, key_as_der), 0);
    trust_test_ca(cctx);
    exchange(cctx, sctx);
    mpssl_ctx_unref(cctx);
    mpssl_ctx_unref(sctx);
    CHECK(blocks_scanned > before); /* the recorder did see the frees */
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

static void test_scanner_catches_a_key_copy_freed_unwiped(void) {
    file_data der = key_named("server_ec.key", 1);
    uint8_t *copy = mpssl_alloc(der.len);

    CHECK(copy != NULL);
    expect_secret = 1;
    if (copy) {
        memcpy(copy, der.data, der.len);
        mpssl_free(copy);
    }
    CHECK_EQ_INT(blocks_with_secret, 1);
    copy = mpssl_alloc(der.len);
    if (copy) {
        memcpy(copy, der.data, der.len);
        mpssl_free_secret(copy, der.len);
    }
    CHECK_EQ_INT(blocks_with_secret, 1); /* the wiped copy is not flagged */
    expect_secret = 0;
    blocks_with_secret = 0;
}

static void test_rsa_pkcs8_pem_key_is_wiped_after_use(void) {
    serve_with("server_rsa.pem", "server_rsa.key", 0);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

static void test_rsa_pkcs1_key_is_wiped_after_use(void) {
    serve_with("server_rsa.pem", "server_rsa.pkcs1.key", 0);
    serve_with("server_rsa.pem", "server_rsa.pkcs1.key", 1);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

static void test_ec_keys_in_pem_and_der_are_wiped_after_use(void) {
    serve_with("server_ec.pem", "server_ec.key", 0);
    serve_with("server_ec.pem", "server_ec.key", 1);
    serve_with("server_ec.pem", "server_ec.sec1.key", 0);
    serve_with("server_ec.pem", "server_ec.sec1.key", 1);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

static void test_client_key_is_wiped_after_mutual_auth(void) {
    mpssl_ctx *sctx = new_ctx(MPSSL_PROTOCOL_TLS_SERVER);
    mpssl_ctx *cctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT);

    CHECK_EQ_INT(load_chain(sctx, "server_ec.pem", "server_ec.key", 0), 0);
    CHECK_EQ_INT(mpssl_ctx_set_verify_mode(sctx, MPSSL_CERT_REQUIRED), 0);
    trust_test_ca(sctx);
    CHECK_EQ_INT(load_chain(cctx, "client.pem", "client.key", 0), 0);
    trust_test_ca(cctx);
    exchange(cctx, sctx);
    mpssl_ctx_unref(cctx);
    mpssl_ctx_unref(sctx);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

static void test_refused_key_is_wiped(void) {
    mpssl_ctx *sctx = new_ctx(MPSSL_PROTOCOL_TLS_SERVER);

    /* The EC key does not belong to the RSA certificate. */
    CHECK_EQ_INT(load_chain(sctx, "server_rsa.pem", "server_ec.key", 0),
                 MPSSL_EKEY_MISMATCH);
    CHECK_EQ_INT(load_chain(sctx, "server_rsa.pem", "server_ec.key", 1),
                 MPSSL_EKEY_MISMATCH);
    mpssl_ctx_unref(sctx);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

static void test_replaced_key_is_wiped(void) {
    mpssl_ctx *sctx = new_ctx(MPSSL_PROTOCOL_TLS_SERVER);
    mpssl_ctx *cctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT);

    trust_test_ca(cctx);
    CHECK_EQ_INT(load_chain(sctx, "server_rsa.pem", "server_rsa.key", 0), 0);
    exchange(cctx, sctx); /* compiles the native context with the RSA key */
    CHECK_EQ_INT(load_chain(sctx, "server_ec.pem", "server_ec.key", 0), 0);
    exchange(cctx, sctx); /* drops the old native context, builds anew */
    mpssl_ctx_unref(cctx);
    mpssl_ctx_unref(sctx);
    CHECK_EQ_INT(blocks_with_secret, 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    cert_dir = argv[1];
    if (load_pki() != 0) {
        return 1;
    }
    mpssl_set_allocator(&recorder); /* before mpssl_init, as documented */
    if (mpssl_init() != 0) {
        fprintf(stderr, "mpssl_init failed\n");
        return 1;
    }
    RUN(test_scanner_catches_a_key_copy_freed_unwiped);
    RUN(test_rsa_pkcs8_pem_key_is_wiped_after_use);
    RUN(test_rsa_pkcs1_key_is_wiped_after_use);
    RUN(test_ec_keys_in_pem_and_der_are_wiped_after_use);
    RUN(test_client_key_is_wiped_after_mutual_auth);
    RUN(test_refused_key_is_wiped);
    RUN(test_replaced_key_is_wiped);
    mpssl_deinit();
    printf("%zu freed blocks scanned for %zu secret windows\n", blocks_scanned,
           n_needles);
    return DONE();
}
