/*
 * mbedtls.c - the mpssl backend on mbedTLS 2.28 (Debian) and 3.6 (what
 * MicroPython bundles).
 *
 * One ssl_config per native context holds everything connections share:
 * the DRBG, the trusted CAs, the own chain and key, and the exact suite
 * array (mbedTLS keeps a pointer to it, so it lives as long as the config).
 * Each connection is one ssl_context whose bio callbacks call
 * mpssl_io_recv()/mpssl_io_send().
 *
 * Verification: mbedTLS always builds and checks the chain (authmode
 * OPTIONAL or REQUIRED as the verify mode says), and a per-connection
 * verify callback records what it found as MPSSL_VF_* bits, clears the
 * library's flags and hands the leaf to the core, which also checks the
 * name (the library's own CN/SAN check is masked: the core decides).  Only
 * a CERT_REQUIRED refusal by the core fails the handshake.
 *
 * Version differences are confined to the small adapters in "Version
 * shims" below: 2.28 names versions as major/minor pairs, 3.x takes an RNG
 * in the key functions, needs PSA initialised, signals TLS 1.3 tickets from
 * read, and (3.6.3+) refuses to verify as a client unless set_hostname was
 * called.
 */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/version.h> /* pulls in the build configuration first */

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_*: the bio's failures */
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#define MBED_PRIVATE(member) MBEDTLS_PRIVATE(member)
#else
#define MBED_PRIVATE(member) member
#endif

#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define MBED_HAVE_TLS13 1
#else
#define MBED_HAVE_TLS13 0
#endif

/* Connections share the context's DRBG (and, in 3.x, PSA's global key
 * slots): safe in parallel threads only when the library locks them. */
#if defined(MBEDTLS_THREADING_C)
#define MBED_CAP_THREADS MPSSL_CAP_THREADS
#else
#define MBED_CAP_THREADS 0u
#endif

#if !defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
/* getpeercert() needs the peer's leaf after the handshake. */
#error "mpssl needs mbedTLS built with MBEDTLS_SSL_KEEP_PEER_CERTIFICATE"
#endif

#if !defined(MBEDTLS_SSL_PROTO_TLS1_2)
#error "mpssl needs mbedTLS built with MBEDTLS_SSL_PROTO_TLS1_2"
#endif

/* ------------------------------------------------------------------------ */
/* Native context and connection                                            */
/* ------------------------------------------------------------------------ */

typedef struct mbed_native {
    mbedtls_ssl_config conf;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt cas;   /* trusted CAs (empty if none) */
    mbedtls_x509_crt chain; /* own chain, leaf first (empty if none) */
    mbedtls_pk_context key; /* own key (none if no chain) */
    int *suites;            /* exact suite ids, 0-terminated: conf points
                               at this array, so it lives with conf */
} mbed_native;

/*
 * A server's reading of the ClientHello's compression methods, taken from
 * the bytes as they pass (nothing buffered): mbedTLS answers a hello that
 * lacks the null method (RFC 5246 7.4.1.2 makes it mandatory) with null
 * compression instead of refusing it.  Only the first record is followed
 * (2.28 refuses a ClientHello split across records by itself; should a hello
 * continue past the record, the watch just stops).
 */
typedef struct hello_watch {
    int field;          /* which part of the hello the next byte belongs to */
    size_t need;        /* bytes left in that part */
    unsigned value;     /* a length being read */
    size_t record_left; /* bytes of the first record not yet seen */
    int has_null;       /* compression method 0 seen */
    int refused;        /* the whole list was read and lacked it */
} hello_watch;

typedef struct mbed_conn {
    mbedtls_ssl_context ssl;
    mpssl_conn *core;
    hello_watch hello;    /* servers, until the ClientHello is read */
    int transport_eof;    /* mpssl_io_recv returned 0 */
    int transport_failed; /* mpssl_io_* returned -errno (core recorded it) */
    int handshake_done;
    int verdict_refused;   /* the core said abort (CERT_REQUIRED) */
    unsigned verify_flags; /* MPSSL_VF_* collected by the verify callback */
} mbed_conn;

/* ------------------------------------------------------------------------ */
/* Version shims                                                            */
/* ------------------------------------------------------------------------ */

static int mbed_parse_key(mbedtls_pk_context *pk, const mpssl_blob *der,
                          mbedtls_ctr_drbg_context *drbg) {
#if MBEDTLS_VERSION_MAJOR >= 3
    /* 3.x takes an RNG for blinding while checking RSA keys. */
    return mbedtls_pk_parse_key(pk, der->data, der->len, NULL, 0,
                                mbedtls_ctr_drbg_random, drbg);
#else
    (void)drbg;
    return mbedtls_pk_parse_key(pk, der->data, der->len, NULL, 0);
#endif
}

static int mbed_check_pair(const mbedtls_pk_context *pub,
                           const mbedtls_pk_context *prv,
                           mbedtls_ctr_drbg_context *drbg) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, drbg);
#else
    (void)drbg;
    return mbedtls_pk_check_pair(pub, prv);
#endif
}

static void mbed_set_versions(mbedtls_ssl_config *conf, int max_tls13) {
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(conf, max_tls13
                                               ? MBEDTLS_SSL_VERSION_TLS1_3
                                               : MBEDTLS_SSL_VERSION_TLS1_2);
#else
    /* Debian's 2.28 compiles TLS 1.0 and 1.1 in: the minimum is ours. */
    (void)max_tls13;
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

/* The negotiated version as MPSSL_TLS1_*, or 0. */
static int mbed_negotiated_version(const mbedtls_ssl_context *ssl) {
#if MBEDTLS_VERSION_MAJOR >= 3
    switch (mbedtls_ssl_get_version_number(ssl)) {
    case MBEDTLS_SSL_VERSION_TLS1_2:
        return MPSSL_TLS1_2;
    case MBEDTLS_SSL_VERSION_TLS1_3:
        return MPSSL_TLS1_3;
    default:
        return 0;
    }
#else
    return strcmp(mbedtls_ssl_get_version(ssl), "TLSv1.2") == 0 ? MPSSL_TLS1_2
                                                                : 0;
#endif
}

static int mbed_handshake_over(mbedtls_ssl_context *ssl) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_ssl_is_handshake_over(ssl);
#else
    return ssl->state == MBEDTLS_SSL_HANDSHAKE_OVER;
#endif
}

/* The description byte of the fatal alert the peer sent, or -1 when the
 * library reported MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE for an alert of its
 * own (3.6 does, e.g. for an empty server certificate list).  in_msg still
 * holds the record just read; no public getter exists. */
static int mbed_received_alert(const mbedtls_ssl_context *ssl) {
    const unsigned char *msg = ssl->MBED_PRIVATE(in_msg);

    if (ssl->MBED_PRIVATE(in_msgtype) != MBEDTLS_SSL_MSG_ALERT || msg == NULL ||
        ssl->MBED_PRIVATE(in_msglen) < 2)
        return -1;
    return msg[1];
}

/* ------------------------------------------------------------------------ */
/* Global state                                                             */
/* ------------------------------------------------------------------------ */

#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
/* The library allocates through the platform allocator too, where its build
 * lets the allocator be set at run time (MicroPython's GC heap). */
static void *mbed_calloc(size_t n, size_t size) {
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    p = mpssl_alloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}
#define MBED_ROUTE_ALLOCATIONS 1
#else
#define MBED_ROUTE_ALLOCATIONS 0
#endif

static const char *mbed_version(void) {
#if defined(MBEDTLS_VERSION_C)
    /* The library actually loaded, which may be newer than the headers. */
    static char text[32];
    if (text[0] == '\0')
        mbedtls_version_get_string_full(text);
    return text;
#else
    return MBEDTLS_VERSION_STRING_FULL;
#endif
}

static int mbed_global_init(void) {
#if MBED_ROUTE_ALLOCATIONS
    mbedtls_platform_set_calloc_free(mbed_calloc, mpssl_free);
#endif
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_PSA_CRYPTO_C)
    /* TLS 1.3 and the 3.x key code run on PSA, which must be set up once
     * per process.  Never torn down: other code may share it. */
    if (psa_crypto_init() != PSA_SUCCESS)
        return MPSSL_ERR_INTERNAL;
#endif
    return 0;
}

static size_t mbed_supported_suites(uint16_t *ids, size_t cap) {
    const int *list = mbedtls_ssl_list_ciphersuites();
    size_t n = 0;

    for (; *list != 0; list++) {
        if (*list > 0 && *list <= 0xFFFF) {
            if (n < cap)
                ids[n] = (uint16_t)*list;
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Failure mapping                                                          */
/* ------------------------------------------------------------------------ */

/*
 * mbedTLS result -> neutral kind.
 *
 *   MBEDTLS_ERR_SSL_WANT_READ / _WANT_WRITE    MPSSL_R_WANT_READ / _WRITE
 *   RECEIVED_NEW_SESSION_TICKET (3.x)          retried by the caller
 *   PEER_CLOSE_NOTIFY                          read: MPSSL_R_CLOSE_NOTIFY;
 *                                              handshake: MPSSL_FAIL_EOF
 *   CONN_EOF, or 0 from read (transport EOF)   read: MPSSL_R_EOF;
 *                                              handshake: MPSSL_FAIL_EOF
 *   the bio saw -errno (NET_SEND/RECV_FAILED)  MPSSL_FAIL_TRANSPORT
 *   FATAL_ALERT_MESSAGE, alert protocol_version  MPSSL_FAIL_NO_SHARED
 *   FATAL_ALERT_MESSAGE, any other alert       MPSSL_FAIL_PEER_ALERT, arg =
 *                                              the alert number
 *   NO_CIPHER_CHOSEN, NO_USABLE_CIPHERSUITE,
 *   BAD_HS_PROTOCOL_VERSION (2.28);
 *   BAD_PROTOCOL_VERSION, HANDSHAKE_FAILURE (3.x)  MPSSL_FAIL_NO_SHARED
 *   X509_CERT_VERIFY_FAILED, X509_FATAL_ERROR (chain too long),
 * CA_CHAIN_REQUIRED, BAD_HS_CERTIFICATE (2.28) / BAD_CERTIFICATE (3.x)
 * MPSSL_FAIL_VERIFY, arg = MPSSL_VF_* seen (the core's own verdict wins)
 *   NO_CLIENT_CERTIFICATE, CERTIFICATE_REQUIRED  MPSSL_FAIL_NO_PEER_CERT
 *   *_ALLOC_FAILED (SSL, X509, PK, MPI, ECP)   MPSSL_FAIL_NOMEM
 *   FEATURE_UNAVAILABLE, BAD_INPUT_DATA (peer's oversized record or
 *   fragmented handshake message)              MPSSL_FAIL_PROTOCOL
 *   BAD_CONFIG, INTERNAL_ERROR,
 *   NO_RNG, ERROR_CORRUPTION_DETECTED          MPSSL_FAIL_INTERNAL
 *   anything else (INVALID_RECORD, INVALID_MAC, UNEXPECTED_MESSAGE,
 *   BAD_HS_*, DECODE_ERROR, ...)               MPSSL_FAIL_PROTOCOL
 */
typedef struct code_kind {
    int code;
    mpssl_fail_kind kind;
} code_kind;

static const code_kind code_kinds[] = {
    {MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED, MPSSL_FAIL_VERIFY},
    {MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, MPSSL_FAIL_VERIFY},
    /* A chain longer than MBEDTLS_X509_MAX_INTERMEDIATE_CA: refused before
     * the verify callback runs, even under CERT_OPTIONAL. */
    {MBEDTLS_ERR_X509_FATAL_ERROR, MPSSL_FAIL_VERIFY},
    {MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE, MPSSL_FAIL_NO_PEER_CERT},
    {MBEDTLS_ERR_SSL_ALLOC_FAILED, MPSSL_FAIL_NOMEM},
    {MBEDTLS_ERR_X509_ALLOC_FAILED, MPSSL_FAIL_NOMEM},
    {MBEDTLS_ERR_PK_ALLOC_FAILED, MPSSL_FAIL_NOMEM},
    {MBEDTLS_ERR_MPI_ALLOC_FAILED, MPSSL_FAIL_NOMEM},
    {MBEDTLS_ERR_ECP_ALLOC_FAILED, MPSSL_FAIL_NOMEM},
    /* Both come from the peer's bytes in a step: a record longer than the
     * input buffer (BAD_INPUT_DATA), a handshake message split across
     * records, which 2.28 cannot reassemble (FEATURE_UNAVAILABLE).  Our own
     * calls are checked before they reach the library. */
    {MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE, MPSSL_FAIL_PROTOCOL},
    {MBEDTLS_ERR_SSL_BAD_INPUT_DATA, MPSSL_FAIL_PROTOCOL},
    {MBEDTLS_ERR_SSL_BAD_CONFIG, MPSSL_FAIL_INTERNAL},
    {MBEDTLS_ERR_SSL_INTERNAL_ERROR, MPSSL_FAIL_INTERNAL},
    {MBEDTLS_ERR_SSL_NO_RNG, MPSSL_FAIL_INTERNAL},
    {MBEDTLS_ERR_ERROR_CORRUPTION_DETECTED, MPSSL_FAIL_INTERNAL},
#if MBEDTLS_VERSION_MAJOR >= 3
    {MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION, MPSSL_FAIL_NO_SHARED},
    {MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE, MPSSL_FAIL_NO_SHARED},
    {MBEDTLS_ERR_SSL_BAD_CERTIFICATE, MPSSL_FAIL_VERIFY},
    {MBEDTLS_ERR_SSL_CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME,
     MPSSL_FAIL_INTERNAL},
#else
    {MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN, MPSSL_FAIL_NO_SHARED},
    {MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE, MPSSL_FAIL_NO_SHARED},
    {MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION, MPSSL_FAIL_NO_SHARED},
    {MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE, MPSSL_FAIL_VERIFY},
    {MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED, MPSSL_FAIL_NO_PEER_CERT},
#endif
};

#define ALERT_PROTOCOL_VERSION 70

/* mbedTLS codes combine a high-level (SSL, X509) and a low-level (MPI, PK)
 * part; either may carry an allocation failure. */
static mpssl_fail_kind kind_of_code(int code) {
    int parts[3] = {code, -((-code) & 0xFF80), -((-code) & 0x007F)};
    size_t i, p;

    for (p = 0; p < 3; p++) {
        for (i = 0; i < sizeof code_kinds / sizeof code_kinds[0]; i++) {
            if (parts[p] != 0 && code_kinds[i].code == parts[p])
                return code_kinds[i].kind;
        }
    }
    return MPSSL_FAIL_PROTOCOL;
}

static const char *describe(int code, char *buf, size_t cap) {
#if defined(MBEDTLS_ERROR_C)
    mbedtls_strerror(code, buf, cap);
#else
    snprintf(buf, cap, "mbedTLS error -0x%04X", (unsigned)-code);
#endif
    return buf;
}

/* Step results that may carry "end of stream" as a value (read) or must
 * report it as a failure (handshake, write, close_notify). */
enum eof_policy { EOF_IS_FAILURE, EOF_IS_RESULT };

static unsigned flags_of_verify_result(uint32_t result);

/* Turns a negative mbedTLS result into a step result. */
static int step_result(mbed_conn *c, int ret, enum eof_policy eof_policy) {
    char text[96];
    mpssl_fail_kind kind;

    switch (ret) {
    case MBEDTLS_ERR_SSL_WANT_READ:
        return MPSSL_R_WANT_READ;
    case MBEDTLS_ERR_SSL_WANT_WRITE:
        return MPSSL_R_WANT_WRITE;
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        if (eof_policy == EOF_IS_RESULT)
            return MPSSL_R_CLOSE_NOTIFY;
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, ret, "close_notify");
    default:
        break;
    }
    if (c->transport_failed)
        return mpssl_core_fail(c->core, MPSSL_FAIL_TRANSPORT, 0, ret, NULL);
    if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == 0) {
        if (eof_policy == EOF_IS_RESULT)
            return MPSSL_R_EOF;
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, ret,
                               "end of stream");
    }
    describe(ret, text, sizeof text);
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        int alert = mbed_received_alert(&c->ssl);
        if (alert < 0)
            return mpssl_core_fail(c->core, MPSSL_FAIL_PROTOCOL, 0, ret, text);
        if (alert == ALERT_PROTOCOL_VERSION)
            return mpssl_core_fail(c->core, MPSSL_FAIL_NO_SHARED, 0, ret,
                                   "peer sent protocol_version");
        return mpssl_core_fail(c->core, MPSSL_FAIL_PEER_ALERT, alert, ret,
                               text);
    }
    kind = kind_of_code(ret);
    if (kind == MPSSL_FAIL_NO_PEER_CERT &&
        mbed_negotiated_version(&c->ssl) != MPSSL_TLS1_3) {
        /* The TLS 1.2 code leaves the client waiting without an alert;
         * OpenSSL and GnuTLS send handshake_failure here. */
        mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    }
    if (kind == MPSSL_FAIL_VERIFY) {
        unsigned flags =
            c->verify_flags |
            flags_of_verify_result(mbedtls_ssl_get_verify_result(&c->ssl));
        return mpssl_core_fail(c->core, kind, (int)flags, ret, text);
    }
    return mpssl_core_fail(c->core, kind, 0, ret, text);
}

/* ------------------------------------------------------------------------ */
/* The transport                                                            */
/* ------------------------------------------------------------------------ */

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
    mbed_conn *c = ctx;
    long n;

    if (len > INT_MAX)
        len = INT_MAX;
    /* The core queues what the transport does not take: never a retry. */
    n = mpssl_io_send(c->core, buf, len);
    if (n < 0) {
        c->transport_failed = 1;
        return MBEDTLS_ERR_NET_SEND_FAILED;
    }
    return (int)n;
}

enum hello_field {
    HELLO_RECORD_HEADER, /* 5 bytes: type 22, version, length */
    HELLO_HEADER,        /* 4: type 1, length */
    HELLO_FIXED,         /* 34: version, random */
    HELLO_SESSION_LEN,   /* 1 */
    HELLO_SESSION,
    HELLO_SUITES_LEN, /* 2 */
    HELLO_SUITES,
    HELLO_COMPRESSION_LEN, /* 1 */
    HELLO_COMPRESSION,
    HELLO_DONE, /* read, or not a hello we follow */
};

static const size_t hello_field_size[] = {5, 4, 34, 1, 0, 2, 0, 1, 0, 0};

/* Moves to the next part; a part of length 0 is skipped at once. */
static void hello_next(hello_watch *h, int field, size_t need) {
    h->field = field;
    h->need = need;
    h->value = 0;
    if (need == 0 && field == HELLO_COMPRESSION) {
        h->refused = 1; /* an empty list lacks null too */
        h->field = HELLO_DONE;
    } else if (need == 0 && field != HELLO_DONE) {
        hello_next(h, field + 1, hello_field_size[field + 1]);
    }
}

static void hello_byte(hello_watch *h, unsigned char b) {
    if (h->field != HELLO_RECORD_HEADER && h->record_left-- == 0) {
        h->field = HELLO_DONE; /* the hello goes on in another record */
        return;
    }
    h->value = h->value << 8 | b;
    if (h->field == HELLO_RECORD_HEADER && h->need == 5 && b != 22)
        h->field = HELLO_DONE; /* not a handshake record (SSLv2, junk) */
    else if (h->field == HELLO_HEADER && h->need == 4 && b != 1)
        h->field = HELLO_DONE;
    else if (h->field == HELLO_COMPRESSION && b == 0)
        h->has_null = 1;
    if (h->field == HELLO_DONE || --h->need > 0)
        return;
    switch (h->field) {
    case HELLO_RECORD_HEADER:
        h->record_left = h->value & 0xFFFF;
        hello_next(h, HELLO_HEADER, 4);
        break;
    case HELLO_SESSION_LEN:
    case HELLO_SUITES_LEN:
    case HELLO_COMPRESSION_LEN:
        hello_next(h, h->field + 1, h->value);
        break;
    case HELLO_COMPRESSION:
        h->refused = !h->has_null;
        h->field = HELLO_DONE;
        break;
    default:
        hello_next(h, h->field + 1, hello_field_size[h->field + 1]);
        break;
    }
}

static void watch_hello(hello_watch *h, const unsigned char *buf, size_t n) {
    size_t i;

    for (i = 0; i < n && h->field != HELLO_DONE; i++)
        hello_byte(h, buf[i]);
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
    mbed_conn *c = ctx;
    long n;

    if (len > INT_MAX)
        len = INT_MAX;
    n = mpssl_io_recv(c->core, buf, len);
    if (n > 0 && c->hello.field != HELLO_DONE)
        watch_hello(&c->hello, buf, (size_t)n);
    if (n > 0)
        return (int)n;
    if (n == 0) {
        c->transport_eof = 1; /* mbedTLS reports MBEDTLS_ERR_SSL_CONN_EOF */
        return 0;
    }
    if (n == MPSSL_IO_WOULD_BLOCK)
        return MBEDTLS_ERR_SSL_WANT_READ;
    c->transport_failed = 1; /* -errno, already recorded by the core */
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ------------------------------------------------------------------------ */
/* Certificate verification                                                 */
/* ------------------------------------------------------------------------ */

/* mbedTLS verification flags -> MPSSL_VF_* bits. */
static unsigned flags_of_verify_result(uint32_t result) {
    unsigned flags = 0;

    if (result == (uint32_t)-1) /* verification failed without details */
        return MPSSL_VF_OTHER;
    /* The core checks names itself; the library's CN/SAN check (it runs
     * when set_hostname gave it the SNI name) is not a verdict. */
    result &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if (result & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        flags |= MPSSL_VF_UNTRUSTED;
    if (result & MBEDTLS_X509_BADCERT_EXPIRED)
        flags |= MPSSL_VF_EXPIRED;
    if (result & MBEDTLS_X509_BADCERT_FUTURE)
        flags |= MPSSL_VF_NOT_YET_VALID;
    /* Revoked, key usage, EKU, weak hash or key, bad signature algorithm,
     * missing certificate, anything new. */
    if (result &
        ~(uint32_t)(MBEDTLS_X509_BADCERT_NOT_TRUSTED |
                    MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
        flags |= MPSSL_VF_OTHER;
    return flags;
}

/*
 * mbedTLS never takes a certificate that is no CA, or whose path length is
 * exceeded, as an issuer: it finds no path and says NOT_TRUSTED.  The
 * contract calls such a chain invalid (as OpenSSL and GnuTLS do), so the
 * chain the peer sent (the leaf's `next` list, as received) is checked
 * for exactly that.
 */
#define MBED_CHAIN_CHECK_MAX 16

static unsigned untrusted_or_invalid(const mbedtls_x509_crt *leaf,
                                     unsigned flags) {
    mpssl_blob chain[MBED_CHAIN_CHECK_MAX];
    size_t n = 0;

    if (!(flags & MPSSL_VF_UNTRUSTED))
        return flags;
    for (const mbedtls_x509_crt *c = leaf; c && n < MBED_CHAIN_CHECK_MAX;
         c = c->next) {
        chain[n].data = c->raw.p;
        chain[n].len = c->raw.len;
        n++;
    }
    if (mpssl_chain_flags(chain, n) & MPSSL_VF_OTHER)
        flags = (flags & ~MPSSL_VF_UNTRUSTED) | MPSSL_VF_OTHER;
    return flags;
}

/*
 * Called by mbedTLS for every certificate of the chain it built, the root
 * first and the peer's leaf (depth 0) last.  Collects the problems, clears
 * them so the library goes on, and at the leaf asks the core.  A refusal
 * raises CN_MISMATCH, which under authmode REQUIRED fails the handshake
 * with a bad_certificate alert (the library's choice for that flag).
 */
static int on_verify(void *arg, mbedtls_x509_crt *crt, int depth,
                     uint32_t *flags) {
    mbed_conn *c = arg;

    c->verify_flags |= flags_of_verify_result(*flags);
    *flags = 0;
    if (depth != 0)
        return 0;
    c->verify_flags = untrusted_or_invalid(crt, c->verify_flags);
    if (!mpssl_core_verdict(c->core, crt->raw.p, crt->raw.len,
                            c->verify_flags)) {
        c->verdict_refused = 1;
        *flags = MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Keys and certificates                                                    */
/* ------------------------------------------------------------------------ */

/* A throwaway DRBG for key checks outside any context (3.x needs an RNG to
 * blind RSA operations while checking a pair). */
static int entropy_source(void *ctx, unsigned char *buf, size_t len) {
    (void)ctx;
    return mpssl_entropy(buf, len) == 0
               ? 0
               : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static int seed_drbg(mbedtls_ctr_drbg_context *drbg) {
    static const unsigned char personalization[] = "mpssl";

    return mbedtls_ctr_drbg_seed(drbg, entropy_source, NULL, personalization,
                                 sizeof personalization - 1);
}

static int is_nomem(int code) {
    return kind_of_code(code) == MPSSL_FAIL_NOMEM;
}

static int mbed_check_key(const mpssl_blob *key, mpssl_key_type type,
                          const mpssl_blob *cert) {
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context pk;
    mbedtls_x509_crt crt;
    int ret, result = 0;

    (void)type; /* mbedTLS recognises PKCS#1, SEC1 and PKCS#8 itself */
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&pk);
    mbedtls_x509_crt_init(&crt);
    ret = seed_drbg(&drbg);
    if (ret != 0) {
        result = MPSSL_ERR_INTERNAL;
    } else if ((ret = mbed_parse_key(&pk, key, &drbg)) != 0) {
        result = is_nomem(ret) ? -ENOMEM : MPSSL_EINVALID_KEY;
    } else if ((ret = mbedtls_x509_crt_parse_der(&crt, cert->data,
                                                 cert->len)) != 0) {
        result = is_nomem(ret) ? -ENOMEM : MPSSL_EINVALID_CERT;
    } else if ((ret = mbed_check_pair(&crt.pk, &pk, &drbg)) != 0) {
        result = is_nomem(ret) ? -ENOMEM : MPSSL_EKEY_MISMATCH;
    }
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&pk); /* wipes the key material */
    mbedtls_ctr_drbg_free(&drbg);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Context building                                                         */
/* ------------------------------------------------------------------------ */

static void mbed_ctx_free(void *handle) {
    mbed_native *n = handle;

    if (n == NULL)
        return;
    mbedtls_ssl_config_free(&n->conf);
    mbedtls_pk_free(&n->key);
    mbedtls_x509_crt_free(&n->chain);
    mbedtls_x509_crt_free(&n->cas);
    mbedtls_ctr_drbg_free(&n->drbg);
    mpssl_free(n->suites);
    mpssl_free(n);
}

/* Records why building failed; returns the result ctx_build gives. */
static int build_failure(char *why, size_t why_cap, const char *what,
                         int code) {
    char text[80];

    if (why != NULL && why_cap > 0) {
        if (code != 0)
            snprintf(why, why_cap, "%s (%s)", what,
                     describe(code, text, sizeof text));
        else
            snprintf(why, why_cap, "%s", what);
    }
    return code != 0 && is_nomem(code) ? -ENOMEM : MPSSL_ERR_INTERNAL;
}

/* Copies the suite list (mbedTLS keeps the pointer) after checking that
 * the library knows every id: nothing is silently dropped. */
static int set_suites(mbed_native *n, const mpssl_config *cfg, char *why,
                      size_t why_cap) {
    size_t i;

    for (i = 0; i < cfg->n_suites; i++) {
        if (mbedtls_ssl_ciphersuite_from_id(cfg->suites[i]) == NULL) {
            snprintf(why, why_cap, "suite 0x%04X unknown to mbedTLS",
                     (unsigned)cfg->suites[i]);
            return MPSSL_ERR_UNSUPPORTED;
        }
    }
    n->suites = mpssl_alloc((cfg->n_suites + 1) * sizeof *n->suites);
    if (n->suites == NULL)
        return -ENOMEM;
    for (i = 0; i < cfg->n_suites; i++)
        n->suites[i] = cfg->suites[i];
    n->suites[cfg->n_suites] = 0;
    mbedtls_ssl_conf_ciphersuites(&n->conf, n->suites);
    return 0;
}

/* A certificate in an algorithm this mbedTLS build does not know (Ed25519
 * in 2.28, say): well-formed, just unusable here. */
static int is_unknown_algorithm(int code) {
    int high = -((-code) & 0xFF80), low = -((-code) & 0x007F);

    return code == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG ||
           high == MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG ||
           high == MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE ||
           low == MBEDTLS_ERR_OID_NOT_FOUND;
}

/* Parses certificates into list.  Trusted CAs (skip_unknown) in an
 * algorithm this build cannot use anchor nothing here but must not make the
 * whole context unusable (OpenSSL and GnuTLS would use them, BearSSL skips
 * them too); the own chain must parse whole. */
static int add_certs(mbedtls_x509_crt *list, const mpssl_blob *ders,
                     size_t count, int skip_unknown, char *why, size_t why_cap,
                     const char *what) {
    size_t i;
    int ret;

    for (i = 0; i < count; i++) {
        ret = mbedtls_x509_crt_parse_der(list, ders[i].data, ders[i].len);
        if (ret != 0 && !(skip_unknown && is_unknown_algorithm(ret)))
            return build_failure(why, why_cap, what, ret);
    }
    return 0;
}

static int use_own_chain(mbed_native *n, const mpssl_config *cfg, char *why,
                         size_t why_cap) {
    int ret;

    if (cfg->n_chain == 0)
        return 0;
    ret = add_certs(&n->chain, cfg->chain, cfg->n_chain, 0, why, why_cap,
                    "certificate refused");
    if (ret != 0)
        return ret;
    ret = mbed_parse_key(&n->key, &cfg->key, &n->drbg);
    if (ret != 0)
        return build_failure(why, why_cap, "private key refused", ret);
    ret = mbedtls_ssl_conf_own_cert(&n->conf, &n->chain, &n->key);
    if (ret != 0)
        return build_failure(why, why_cap, "certificate refused", ret);
    return 0;
}

/*
 * The library's authmode for a verify mode.  The callback clears the
 * library's own findings, so the difference between OPTIONAL and REQUIRED
 * here is only: may the peer send no certificate (a server under
 * CERT_OPTIONAL), and do the checks the callback cannot clear (key usage
 * and EKU for the suite, the curve) fail the handshake.
 */
static int library_authmode(int verify_mode) {
    switch (verify_mode) {
    case MPSSL_CERT_NONE:
        return MBEDTLS_SSL_VERIFY_NONE;
    case MPSSL_CERT_OPTIONAL:
        return MBEDTLS_SSL_VERIFY_OPTIONAL;
    default:
        return MBEDTLS_SSL_VERIFY_REQUIRED;
    }
}

static void set_policy(mbed_native *n, const mpssl_config *cfg) {
    mbedtls_ssl_config *conf = &n->conf;

    mbed_set_versions(conf, cfg->max_version == MPSSL_TLS1_3);
    mbedtls_ssl_conf_authmode(conf, library_authmode(cfg->verify_mode));
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &n->drbg);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    /* A peer's request is answered with a no_renegotiation warning and
     * reading goes on. */
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_CLI_C)
    /* We offer no resumption (our servers issue no tickets: no ticket
     * callbacks are set). */
    mbedtls_ssl_conf_session_tickets(conf,
                                     MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
#if MBED_HAVE_TLS13
    /* Certificates only: no PSK modes offered or accepted. */
    mbedtls_ssl_conf_tls13_key_exchange_modes(
        conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
#endif
    if (n->cas.raw.p != NULL) /* at least one CA this build can use */
        mbedtls_ssl_conf_ca_chain(conf, &n->cas, NULL);
}

static int configure(mbed_native *n, const mpssl_config *cfg, char *why,
                     size_t why_cap) {
    int is_server = cfg->protocol == MPSSL_PROTOCOL_TLS_SERVER;
    int ret;

    if (cfg->min_version == MPSSL_TLS1_3 && !MBED_HAVE_TLS13) {
        snprintf(why, why_cap, "TLS 1.3 is not available in this mbedTLS");
        return MPSSL_ERR_UNSUPPORTED;
    }
    ret = seed_drbg(&n->drbg);
    if (ret != 0)
        return build_failure(why, why_cap, "no entropy for the DRBG", ret);
    ret = mbedtls_ssl_config_defaults(
        &n->conf, is_server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0)
        return build_failure(why, why_cap, "configuration refused", ret);
    ret = add_certs(&n->cas, cfg->cas, cfg->n_cas, 1, why, why_cap,
                    "CA certificate refused");
    if (ret == 0)
        ret = use_own_chain(n, cfg, why, why_cap);
    if (ret == 0)
        ret = set_suites(n, cfg, why, why_cap);
    if (ret != 0)
        return ret;
    set_policy(n, cfg);
    return 0;
}

static int mbed_ctx_build(const mpssl_config *cfg, void **native, char *why,
                          size_t why_cap) {
    mbed_native *n = mpssl_alloc(sizeof *n);
    int rc;

    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (n == NULL)
        return -ENOMEM;
    memset(n, 0, sizeof *n);
    mbedtls_ssl_config_init(&n->conf);
    mbedtls_ctr_drbg_init(&n->drbg);
    mbedtls_x509_crt_init(&n->cas);
    mbedtls_x509_crt_init(&n->chain);
    mbedtls_pk_init(&n->key);
    rc = configure(n, cfg, why, why_cap);
    if (rc != 0) {
        mbed_ctx_free(n);
        return rc;
    }
    *native = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void mbed_conn_free(void *bconn) {
    mbed_conn *c = bconn;

    if (c == NULL)
        return;
    mbedtls_ssl_free(&c->ssl); /* wipes the session keys */
    mpssl_free(c);
}

static int mbed_conn_new(void *native, mpssl_conn *core, const char *sni,
                         void **bconn) {
    mbed_native *n = native;
    mbed_conn *c = mpssl_alloc(sizeof *c);
    int ret;

    if (c == NULL)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->core = core;
    if (mpssl_core_protocol(core) == MPSSL_PROTOCOL_TLS_SERVER)
        hello_next(&c->hello, HELLO_RECORD_HEADER, 5);
    else
        c->hello.field = HELLO_DONE;
    mbedtls_ssl_init(&c->ssl);
    ret = mbedtls_ssl_setup(&c->ssl, &n->conf);
    /* The name is SNI; the library also checks it, which the verify
     * callback masks.  A client without a DNS name still calls this with
     * NULL: mbedTLS 3.6.3+ refuses to verify otherwise. */
    if (ret == 0 && mpssl_core_protocol(core) == MPSSL_PROTOCOL_TLS_CLIENT)
        ret = mbedtls_ssl_set_hostname(&c->ssl, sni);
    if (ret != 0) {
        mbed_conn_free(c);
        return is_nomem(ret) ? -ENOMEM : MPSSL_ERR_INTERNAL;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_verify(&c->ssl, on_verify, c);
    *bconn = c;
    return 0;
}

/* Answers a certificate the core refused while the library went on (it
 * should not, since the refusal raises a flag that is fatal under authmode
 * REQUIRED): the peer gets the alert, the step fails. */
static int refuse_certificate(mbed_conn *c) {
    mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                   MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
    return mpssl_core_fail(c->core, MPSSL_FAIL_VERIFY, (int)c->verify_flags, 0,
                           "certificate refused");
}

/* A ClientHello without the null compression method: refused before the
 * ServerHello goes out (RFC 8446 4.1.2 names the alert). */
static int refuse_hello(mbed_conn *c) {
    mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                   MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER);
    return mpssl_core_fail(c->core, MPSSL_FAIL_PROTOCOL, 0, 0,
                           "ClientHello without null compression");
}

static int is_retry(int ret) {
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
    /* 3.x: a TLS 1.3 ticket arrived; we keep no sessions. */
    if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
        return 1;
#endif
    (void)ret;
    return 0;
}

/* A bound on consecutive retries of one call: the library signals one
 * ticket per message, and a peer is not allowed to make us spin. */
#define MAX_RETRIES 64

static int mbed_handshake(void *bconn) {
    mbed_conn *c = bconn;
    int ret = 0, retries = 0;

    if (c->handshake_done)
        return MPSSL_R_DONE;
    /* One state at a time, so a refusal is answered before the library
     * sends anything further. */
    while (!mbed_handshake_over(&c->ssl)) {
        ret = mbedtls_ssl_handshake_step(&c->ssl);
        if (c->hello.refused)
            return refuse_hello(c);
        if (c->verdict_refused)
            return ret != 0 ? step_result(c, ret, EOF_IS_FAILURE)
                            : refuse_certificate(c);
        if (ret != 0 && !(is_retry(ret) && ++retries < MAX_RETRIES))
            return step_result(c, ret, EOF_IS_FAILURE);
    }
    c->handshake_done = 1;
    return MPSSL_R_DONE;
}

static long mbed_read(void *bconn, uint8_t *buf, size_t len) {
    mbed_conn *c = bconn;
    int ret, retries = 0;

    if (len > INT_MAX)
        len = INT_MAX;
    do {
        ret = mbedtls_ssl_read(&c->ssl, buf, len);
    } while (is_retry(ret) && ++retries < MAX_RETRIES);
    if (ret > 0)
        return ret;
    /* 0 is a transport end of stream without close_notify. */
    return step_result(c, ret, EOF_IS_RESULT);
}

/*
 * mbedTLS wants a write retried with the same arguments after WANT_*.  The
 * core's output queue takes every record (mpssl_io_send never reports
 * would-block), so a write here either encrypts at once or fails: the
 * retry case does not arise.
 */
static long mbed_write(void *bconn, const uint8_t *buf, size_t len) {
    mbed_conn *c = bconn;
    int ret = mbedtls_ssl_write(&c->ssl, buf, len);

    if (ret > 0)
        return ret;
    return step_result(c, ret, EOF_IS_FAILURE);
}

static size_t mbed_pending(const void *bconn) {
    const mbed_conn *c = bconn;

    return mbedtls_ssl_get_bytes_avail(&c->ssl);
}

static int mbed_close_notify(void *bconn) {
    mbed_conn *c = bconn;
    int ret = mbedtls_ssl_close_notify(&c->ssl);

    if (ret == 0 || ret == MBEDTLS_ERR_SSL_WANT_READ ||
        ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return MPSSL_R_DONE; /* handed to the core, which sends it */
    return step_result(c, ret, EOF_IS_FAILURE);
}

static int mbed_peer_cert(const void *bconn, const uint8_t **der, size_t *len) {
    const mbed_conn *c = bconn;
    const mbedtls_x509_crt *peer;

    if (!c->handshake_done)
        return -1;
    peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (peer == NULL || peer->raw.p == NULL)
        return -1;
    *der = peer->raw.p;
    *len = peer->raw.len;
    return 0;
}

static int mbed_negotiated(const void *bconn, uint16_t *suite_id,
                           int *version) {
    const mbed_conn *c = bconn;
    const char *name;
    int id, v;

    if (!c->handshake_done)
        return -1;
    name = mbedtls_ssl_get_ciphersuite(&c->ssl);
    id = name != NULL ? mbedtls_ssl_get_ciphersuite_id(name) : 0;
    v = mbed_negotiated_version(&c->ssl);
    if (id <= 0 || id > 0xFFFF || v == 0)
        return -1;
    *suite_id = (uint16_t)id;
    *version = v;
    return 0;
}

const mpssl_backend mpssl_backend_impl = {
    .name = "mbedtls",
    .caps = (MBED_HAVE_TLS13 ? MPSSL_CAP_TLS13 : 0u) | MPSSL_CAP_EXACT_SUITES |
            MPSSL_CAP_CLIENT_CERT_OPTIONAL | MBED_CAP_THREADS,
    .version = mbed_version,
    .global_init = mbed_global_init,
    .global_deinit = NULL,
    .supported_suites = mbed_supported_suites,
    .check_key = mbed_check_key,
    .ctx_build = mbed_ctx_build,
    .ctx_free = mbed_ctx_free,
    .conn_new = mbed_conn_new,
    .conn_free = mbed_conn_free,
    .handshake = mbed_handshake,
    .read = mbed_read,
    .write = mbed_write,
    .pending = mbed_pending,
    .close_notify = mbed_close_notify,
    .peer_cert = mbed_peer_cert,
    .negotiated = mbed_negotiated,
};
