/*
 * gnutls.c - the mpssl backend on GnuTLS 3.7.
 *
 * Transport.  Sessions are created with GNUTLS_NONBLOCK; ciphertext moves
 * through push/pull callbacks that call mpssl_io_send()/mpssl_io_recv(), and
 * a would-block is EAGAIN through gnutls_transport_set_errno().
 *
 * Exact suites.  GnuTLS takes no list of suites: a priority string names key
 * exchanges, ciphers and MACs, and the library enables every suite in their
 * product.  A context's list L is made exact on the wire in four places:
 *   1. the priority string names just the algorithms that occur in L, so the
 *      product P is the smallest superset of L GnuTLS can express;
 *   2. client: the ClientHello's suite vector is rewritten before GnuTLS
 *      hashes the message (see "The exact offer"), so it offers L, in L's
 *      order, and nothing else;
 *   3. server: once the ClientHello is parsed, the backend picks the suite
 *      (the first of L the client offered and our certificate can serve) and
 *      hands the session a priority with that suite alone, which is the
 *      documented use of the post-client-hello callback;
 *   4. both: the suite in the ServerHello and the one negotiated are checked
 *      against L; anything else fails with MPSSL_FAIL_NO_SHARED.
 *
 * Verification.  A verify function on the credentials runs GnuTLS's chain
 * check without a host name (the core matches names), turns the status bits
 * into MPSSL_VF_* and asks mpssl_core_verdict(); a refusal aborts the
 * handshake with a bad_certificate alert.
 *
 * Alerts.  GnuTLS does not send an alert when a handshake or a read fails;
 * the backend sends the appropriate one itself, except after the peer's own
 * fatal alert and when the transport failed or ended.
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* The largest handshake message accepted: a certificate chain of several
 * RSA-4096 certificates fits many times over (OpenSSL's default limit for a
 * Certificate message is 100 KiB). */
#define MAX_HANDSHAKE_MESSAGE (128u * 1024u)

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

/* A context compiled for GnuTLS: credentials and the base priority, plus
 * what the server's per-connection suite choice needs. */
typedef struct gt_ctx {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t priority;
    int is_server;
    int verify_mode;
    gnutls_pk_algorithm_t own_pk; /* our leaf's key, GNUTLS_PK_UNKNOWN: none */
    int min_version, max_version; /* MPSSL_TLS1_* */
    size_t n_suites;
    uint16_t suites[]; /* the exact list, preference order */
} gt_ctx;

/*
 * The incoming records' framing, followed as the pull hands bytes over.
 * Under TLS 1.3 a peer that fails before it has handshake keys (OpenSSL
 * rejecting our certificate, say) sends its alert in the clear; GnuTLS then
 * fails with "decryption failed", and this is how the backend still
 * reports the peer's alert.
 */
typedef struct record_watch {
    uint8_t header[5];
    size_t header_have;
    size_t body_left;
    int alert_record; /* the current record is type 21 with 2 bytes */
    uint8_t alert[2];
    size_t alert_have;
    int last_was_alert; /* the last whole record was a plaintext alert */
} record_watch;

typedef struct gt_conn {
    gnutls_session_t session;
    mpssl_conn *core;
    const gt_ctx *ctx;    /* the core keeps the native context alive */
    int transport_eof;    /* mpssl_io_recv returned 0 */
    int transport_failed; /* mpssl_io_* returned -errno (core recorded it) */
    int pull_blocked;     /* the last pull reported would-block */
    int handshake_done;
    int verdict_given;  /* mpssl_core_verdict ran */
    int suite_refused;  /* a hello named a suite outside the list */
    int write_pending;  /* a record_send ended in EAGAIN: flush it first */
    int hello_buffered; /* server: a refused ClientHello sits in GnuTLS */
    record_watch watch; /* the incoming record stream, for plain alerts */
    unsigned verify_flags;
    uint16_t *offered; /* server: the suites in the client's hello */
    size_t n_offered;
    uint16_t suite_id; /* negotiated, once handshake_done */
    int version;
    const uint8_t *peer_der; /* the peer's leaf, owned by the session */
    size_t peer_der_len;
} gt_conn;

/* One row of GnuTLS's suite table that the library can negotiate. */
typedef struct gt_suite {
    uint16_t id;
    gnutls_kx_algorithm_t kx; /* GNUTLS_KX_UNKNOWN for TLS 1.3 suites */
    gnutls_cipher_algorithm_t cipher;
    gnutls_mac_algorithm_t mac;
    int tls13;
} gt_suite;

#define MAX_SUITES 256
#define PRIORITY_MAX 2048
#define SCSV_RENEGOTIATION 0x00FFu
#define SCSV_FALLBACK 0x5600u
/* An extension id of the private-use range, never put on the wire: the
 * extension's send function only rewrites the ClientHello's suites. */
#define OFFER_EXT_ID 0xFF5Du

static gt_suite suite_table[MAX_SUITES];
static size_t n_suite_table;
static char version_text[64];

static const gt_suite *find_suite(uint16_t id) {
    size_t i;

    for (i = 0; i < n_suite_table; i++) {
        if (suite_table[i].id == id)
            return &suite_table[i];
    }
    return NULL;
}

static int list_has(const uint16_t *ids, size_t n, uint16_t id) {
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id)
            return 1;
    }
    return 0;
}

static uint16_t read_u16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* ------------------------------------------------------------------------ */
/* Incoming record framing                                                  */
/* ------------------------------------------------------------------------ */

#define CONTENT_ALERT 21

static void watch_header(record_watch *w, uint8_t byte) {
    w->header[w->header_have++] = byte;
    if (w->header_have < sizeof w->header)
        return;
    w->header_have = 0;
    w->body_left = read_u16(w->header + 3);
    w->alert_record = w->header[0] == CONTENT_ALERT && w->body_left == 2;
    w->alert_have = 0;
    w->last_was_alert = 0;
}

static void watch_records(record_watch *w, const uint8_t *p, size_t n) {
    while (n > 0) {
        size_t take;

        if (w->body_left == 0) {
            watch_header(w, *p++);
            n--;
            continue;
        }
        take = n < w->body_left ? n : w->body_left;
        if (w->alert_record) {
            memcpy(w->alert + w->alert_have, p, take);
            w->alert_have += take;
        }
        w->body_left -= take;
        if (w->body_left == 0 && w->alert_record)
            w->last_was_alert = 1;
        p += take;
        n -= take;
    }
}

/* The fatal alert behind a failure err: GnuTLS's own report, or an alert
 * in the clear that GnuTLS could not decrypt.  -1 if the peer sent none. */
static int received_alert(gnutls_session_t session, const record_watch *w,
                          int err) {
    if (err == GNUTLS_E_FATAL_ALERT_RECEIVED)
        return (int)gnutls_alert_get(session);
    if ((err == GNUTLS_E_DECRYPTION_FAILED ||
         err == GNUTLS_E_UNEXPECTED_PACKET) &&
        w->last_was_alert && w->alert[0] == GNUTLS_AL_FATAL)
        return w->alert[1];
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Failure mapping                                                          */
/* ------------------------------------------------------------------------ */

/*
 * GnuTLS result -> neutral kind (failures only; GNUTLS_E_AGAIN and
 * GNUTLS_E_INTERRUPTED are MPSSL_R_WANT_* by gnutls_record_get_direction,
 * warning alerts and GNUTLS_E_REHANDSHAKE are absorbed by the callers, and
 * read turns end of stream into MPSSL_R_EOF / MPSSL_R_CLOSE_NOTIFY).
 *
 *   condition / GnuTLS code                      kind
 *   -------------------------------------------  ---------------------------
 *   a push or pull saw -errno (any code)         MPSSL_FAIL_TRANSPORT
 *   GNUTLS_E_MEMORY_ERROR                        MPSSL_FAIL_NOMEM
 *   GNUTLS_E_PREMATURE_TERMINATION, or the pull  MPSSL_FAIL_EOF (read:
 *     saw end of stream and GnuTLS failed with     MPSSL_R_EOF instead)
 *     _UNEXPECTED_PACKET_LENGTH / _PULL_ERROR
 *   GNUTLS_E_FATAL_ALERT_RECEIVED, or
 *   _DECRYPTION_FAILED / _UNEXPECTED_PACKET on a
 *   fatal alert sent in the clear (TLS 1.3):
 *     alert protocol_version (a version          MPSSL_FAIL_NO_SHARED
 *       mismatch, as openssl.c reports it)
 *     any other alert                            MPSSL_FAIL_PEER_ALERT,
 *                                                  arg = the alert
 *   a hello named a suite outside the list,      MPSSL_FAIL_NO_SHARED
 *   GNUTLS_E_NO_CIPHER_SUITES, _UNKNOWN_CIPHER_SUITE,
 *   _UNSUPPORTED_VERSION_PACKET, _INSUFFICIENT_CREDENTIALS,
 *   _NO_COMMON_KEY_SHARE, _ECC_NO_SUPPORTED_CURVES, _ECC_UNSUPPORTED_CURVE,
 *   _UNSUPPORTED_SIGNATURE_ALGORITHM, _NO_PRIORITIES_WERE_SET,
 *   _INAPPROPRIATE_FALLBACK, _UNWANTED_ALGORITHM,
 *   _NO_COMPRESSION_ALGORITHMS, _INCOMPAT_DSA_KEY_WITH_TLS_PROTOCOL,
 *   _UNKNOWN_PK_ALGORITHM
 *   GNUTLS_E_CERTIFICATE_ERROR,                  MPSSL_FAIL_VERIFY, arg =
 *   _CERTIFICATE_VERIFICATION_ERROR                MPSSL_VF_* seen (the
 *                                                  core's verdict wins)
 *   server: GNUTLS_E_NO_CERTIFICATE_FOUND,       MPSSL_FAIL_NO_PEER_CERT
 *   _CERTIFICATE_REQUIRED
 *   GNUTLS_E_INTERNAL_ERROR, _PUSH_ERROR and     MPSSL_FAIL_INTERNAL
 *     _PULL_ERROR without a transport errno
 *   anything else (_DECRYPTION_FAILED,           MPSSL_FAIL_PROTOCOL
 *     _UNEXPECTED_PACKET, _UNEXPECTED_HANDSHAKE_PACKET,
 *     _ERROR_IN_FINISHED_PACKET, _RECEIVED_ILLEGAL_PARAMETER, ...)
 */
static const int no_shared_codes[] = {
    GNUTLS_E_NO_CIPHER_SUITES,
    GNUTLS_E_UNKNOWN_CIPHER_SUITE,
    GNUTLS_E_UNSUPPORTED_VERSION_PACKET,
    GNUTLS_E_INSUFFICIENT_CREDENTIALS,
    GNUTLS_E_NO_COMMON_KEY_SHARE,
    GNUTLS_E_ECC_NO_SUPPORTED_CURVES,
    GNUTLS_E_ECC_UNSUPPORTED_CURVE,
    GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM,
    GNUTLS_E_NO_PRIORITIES_WERE_SET,
    GNUTLS_E_INAPPROPRIATE_FALLBACK,
    GNUTLS_E_UNWANTED_ALGORITHM,
    GNUTLS_E_NO_COMPRESSION_ALGORITHMS,
    GNUTLS_E_INCOMPAT_DSA_KEY_WITH_TLS_PROTOCOL,
    GNUTLS_E_UNKNOWN_PK_ALGORITHM,
};

static int is_no_shared_code(int err) {
    size_t i;

    for (i = 0; i < sizeof no_shared_codes / sizeof no_shared_codes[0]; i++) {
        if (no_shared_codes[i] == err)
            return 1;
    }
    return 0;
}

static int is_server_conn(const gt_conn *c) {
    return c->ctx->is_server;
}

static int is_eof_code(const gt_conn *c, int err) {
    return err == GNUTLS_E_PREMATURE_TERMINATION ||
           (c->transport_eof && (err == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
                                 err == GNUTLS_E_PULL_ERROR));
}

typedef struct failure {
    mpssl_fail_kind kind;
    int arg;
} failure;

static failure classify(const gt_conn *c, int err) {
    failure f = {MPSSL_FAIL_PROTOCOL, 0};
    int alert = received_alert(c->session, &c->watch, err);

    if (c->transport_failed) {
        f.kind = MPSSL_FAIL_TRANSPORT;
    } else if (err == GNUTLS_E_MEMORY_ERROR) {
        f.kind = MPSSL_FAIL_NOMEM;
    } else if (is_eof_code(c, err)) {
        f.kind = MPSSL_FAIL_EOF;
    } else if (alert == GNUTLS_A_PROTOCOL_VERSION) {
        f.kind = MPSSL_FAIL_NO_SHARED; /* a version mismatch */
    } else if (alert >= 0) {
        f.kind = MPSSL_FAIL_PEER_ALERT;
        f.arg = alert;
    } else if (c->suite_refused || is_no_shared_code(err)) {
        f.kind = MPSSL_FAIL_NO_SHARED;
    } else if (err == GNUTLS_E_CERTIFICATE_ERROR ||
               err == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        f.kind = MPSSL_FAIL_VERIFY;
        f.arg = (int)(c->verify_flags ? c->verify_flags : MPSSL_VF_OTHER);
    } else if (is_server_conn(c) && (err == GNUTLS_E_NO_CERTIFICATE_FOUND ||
                                     err == GNUTLS_E_CERTIFICATE_REQUIRED)) {
        f.kind = MPSSL_FAIL_NO_PEER_CERT;
    } else if (err == GNUTLS_E_INTERNAL_ERROR || err == GNUTLS_E_PUSH_ERROR ||
               err == GNUTLS_E_PULL_ERROR) {
        f.kind = MPSSL_FAIL_INTERNAL;
    }
    return f;
}

/* Tells the peer why, unless it already knows (its own fatal alert) or the
 * stream is gone.  A missing client certificate gets the alert OpenSSL
 * sends, so peers see the same thing from every backend. */
static void send_failure_alert(gt_conn *c, int err, const failure *f) {
    switch (f->kind) {
    case MPSSL_FAIL_TRANSPORT:
    case MPSSL_FAIL_EOF:
    case MPSSL_FAIL_NOMEM:
    case MPSSL_FAIL_PEER_ALERT:
        return;
    case MPSSL_FAIL_NO_PEER_CERT:
        (void)gnutls_alert_send(c->session, GNUTLS_AL_FATAL,
                                gnutls_protocol_get_version(c->session) ==
                                        GNUTLS_TLS1_3
                                    ? GNUTLS_A_CERTIFICATE_REQUIRED
                                    : GNUTLS_A_HANDSHAKE_FAILURE);
        return;
    default:
        if (received_alert(c->session, &c->watch, err) >= 0)
            return; /* protocol_version from the peer */
        (void)gnutls_alert_send_appropriate(c->session, err);
    }
}

/* Records a failed step (err < 0) and returns MPSSL_R_FAIL. */
static int fail_step(gt_conn *c, int err) {
    failure f = classify(c, err);

    send_failure_alert(c, err, &f);
    return mpssl_core_fail(c->core, f.kind, f.arg, err, gnutls_strerror(err));
}

static int want_of(const gt_conn *c) {
    return gnutls_record_get_direction(c->session) == 1 ? MPSSL_R_WANT_WRITE
                                                        : MPSSL_R_WANT_READ;
}

/* ------------------------------------------------------------------------ */
/* Transport                                                                */
/* ------------------------------------------------------------------------ */

/* A transport errno GnuTLS must not mistake for "try again". */
static int hard_errno(long n) {
    int e = (int)-n;

    return e == EAGAIN || e == EINTR || e <= 0 ? EIO : e;
}

static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len) {
    gt_conn *c = ptr;
    long n = mpssl_io_recv(c->core, buf, len);

    if (n > 0) {
        watch_records(&c->watch, buf, (size_t)n);
        return n;
    }
    if (n == 0) {
        c->transport_eof = 1;
        return 0;
    }
    if (n == MPSSL_IO_WOULD_BLOCK) {
        c->pull_blocked = 1;
        gnutls_transport_set_errno(c->session, EAGAIN);
        return -1;
    }
    c->transport_failed = 1; /* -errno, already recorded by the core */
    gnutls_transport_set_errno(c->session, hard_errno(n));
    return -1;
}

/* GnuTLS asks this before some reads when a timeout is set; the transport
 * cannot peek, so the answer is "maybe" and the pull decides. */
static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms) {
    (void)ptr;
    (void)ms;
    return 1;
}

/* The core queues what the transport does not take: never a would-block. */
static ssize_t push(gnutls_transport_ptr_t ptr, const void *buf, size_t len) {
    gt_conn *c = ptr;
    long n = mpssl_io_send(c->core, buf, len);

    if (n >= 0)
        return n;
    c->transport_failed = 1;
    gnutls_transport_set_errno(c->session, hard_errno(n));
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Library identity, global state, suites                                   */
/* ------------------------------------------------------------------------ */

static const char *gt_version(void) {
    if (version_text[0] == '\0')
        snprintf(version_text, sizeof version_text, "GnuTLS %s",
                 gnutls_check_version(NULL));
    return version_text;
}

/* Appends ":<prefix><name>" to the priority string in buf. */
static int append_keyword(char *buf, size_t cap, size_t *used,
                          const char *prefix, const char *name) {
    int n;

    if (name == NULL)
        return 0;
    n = snprintf(buf + *used, cap - *used, ":%s%s", prefix, name);
    if (n < 0 || (size_t)n >= cap - *used)
        return 0;
    *used += (size_t)n;
    return 1;
}

/* The distinct algorithms of one kind among the suites, in first-seen order
 * (which makes the priority's order follow the list's). */
typedef enum algo_kind { ALGO_KX, ALGO_CIPHER, ALGO_MAC } algo_kind;

static int algo_of(const gt_suite *s, algo_kind kind) {
    switch (kind) {
    case ALGO_KX:
        return (int)s->kx;
    case ALGO_CIPHER:
        return (int)s->cipher;
    default:
        return (int)s->mac;
    }
}

static const char *algo_name(algo_kind kind, int algo) {
    switch (kind) {
    case ALGO_KX:
        return gnutls_kx_get_name((gnutls_kx_algorithm_t)algo);
    case ALGO_CIPHER:
        return gnutls_cipher_get_name((gnutls_cipher_algorithm_t)algo);
    default:
        return gnutls_mac_get_name((gnutls_mac_algorithm_t)algo);
    }
}

/* TLS 1.3 suites name no key exchange. */
static int has_algo(const gt_suite *s, algo_kind kind) {
    return !(kind == ALGO_KX && s->tls13);
}

static int append_algorithms(char *buf, size_t cap, size_t *used,
                             const gt_suite *const *rows, size_t n,
                             algo_kind kind) {
    size_t i, j;

    for (i = 0; i < n; i++) {
        int seen = 0, algo;

        if (!has_algo(rows[i], kind))
            continue;
        algo = algo_of(rows[i], kind);
        for (j = 0; j < i && !seen; j++)
            seen = has_algo(rows[j], kind) && algo_of(rows[j], kind) == algo;
        if (!seen &&
            !append_keyword(buf, cap, used, "+", algo_name(kind, algo)))
            return 0;
    }
    return 1;
}

/*
 * The priority string whose suite product is the smallest superset of the
 * suites in rows.
 * NORMAL keeps the library's groups and signature algorithms; %PROFILE_MEDIUM
 * makes chain verification refuse keys below 112-bit security (RSA < 2048),
 * as Debian's OpenSSL does at its default security level.  Groups are
 * reordered X25519 first, the key share OpenSSL, BearSSL and mbedTLS clients
 * send first: NORMAL lists P-256 first, and with %SERVER_PRECEDENCE (needed
 * for the suite order) a TLS 1.3 server would answer their X25519 share
 * with a HelloRetryRequest, one round trip more per handshake.
 */
static const char group_order[] =
    "GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:+GROUP-FFDHE3072:"
    "+GROUP-FFDHE4096:+GROUP-FFDHE6144:+GROUP-FFDHE8192";

static int build_priority(char *buf, size_t cap, const gt_suite *const *rows,
                          size_t n, int min_version, int max_version,
                          int is_server) {
    size_t used = 0;
    int ok;

    ok = append_keyword(buf, cap, &used, "", "NORMAL") &&
         append_keyword(buf, cap, &used, "-", group_order) &&
         append_keyword(buf, cap, &used, "", "%PROFILE_MEDIUM") &&
         append_keyword(buf, cap, &used, "-", "VERS-ALL");
    if (ok && max_version >= MPSSL_TLS1_3)
        ok = append_keyword(buf, cap, &used, "+", "VERS-TLS1.3");
    if (ok && min_version <= MPSSL_TLS1_2)
        ok = append_keyword(buf, cap, &used, "+", "VERS-TLS1.2");
    ok = ok && append_keyword(buf, cap, &used, "-", "KX-ALL") &&
         append_algorithms(buf, cap, &used, rows, n, ALGO_KX) &&
         append_keyword(buf, cap, &used, "-", "CIPHER-ALL") &&
         append_algorithms(buf, cap, &used, rows, n, ALGO_CIPHER) &&
         append_keyword(buf, cap, &used, "-", "MAC-ALL") &&
         append_algorithms(buf, cap, &used, rows, n, ALGO_MAC) &&
         append_keyword(buf, cap, &used, "", "%NO_TICKETS");
    if (ok && is_server)
        ok = append_keyword(buf, cap, &used, "", "%SERVER_PRECEDENCE");
    if (!ok)
        return -1;
    memmove(buf, buf + 1, used); /* drop the leading ':' */
    return 0;
}

/* Does the priority's product contain suite id? */
static int priority_has(gnutls_priority_t priority, uint16_t id) {
    unsigned i, sidx;
    unsigned char raw[2];
    int r;

    for (i = 0;; i++) {
        r = gnutls_priority_get_cipher_suite_index(priority, i, &sidx);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return 0;
        if (r < 0)
            continue;
        if (gnutls_cipher_suite_info(sidx, raw, NULL, NULL, NULL, NULL) !=
                NULL &&
            read_u16(raw) == id)
            return 1;
    }
}

/* A suite is kept when a priority naming its algorithms really enables it:
 * that drops suites whose algorithms this build or the system policy
 * disables. */
static int negotiable(const gt_suite *s) {
    char text[PRIORITY_MAX];
    gnutls_priority_t priority;
    int has;

    if (build_priority(text, sizeof text, &s, 1, MPSSL_TLS1_2, MPSSL_TLS1_3,
                       0) != 0 ||
        gnutls_priority_init(&priority, text, NULL) < 0)
        return 0;
    has = priority_has(priority, s->id);
    gnutls_priority_deinit(priority);
    return has;
}

static void build_suite_table(void) {
    size_t i;
    gnutls_protocol_t min_version;
    unsigned char raw[2];
    gt_suite s;

    n_suite_table = 0;
    for (i = 0; n_suite_table < MAX_SUITES; i++) {
        if (gnutls_cipher_suite_info(i, raw, &s.kx, &s.cipher, &s.mac,
                                     &min_version) == NULL)
            break;
        s.id = read_u16(raw);
        s.tls13 = min_version == GNUTLS_TLS1_3;
        if (min_version > GNUTLS_TLS1_3 || find_suite(s.id) != NULL)
            continue; /* DTLS-only, or a duplicate row */
        if (negotiable(&s))
            suite_table[n_suite_table++] = s;
    }
}

static int gt_global_init(void) {
    int r = gnutls_global_init();

    if (r < 0)
        return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : MPSSL_ERR_INTERNAL;
    build_suite_table();
    if (n_suite_table == 0) {
        gnutls_global_deinit();
        return MPSSL_ERR_INTERNAL;
    }
    return 0;
}

static void gt_global_deinit(void) {
    gnutls_global_deinit();
    n_suite_table = 0;
}

static size_t gt_supported_suites(uint16_t *ids, size_t cap) {
    size_t i;

    for (i = 0; i < n_suite_table && i < cap; i++)
        ids[i] = suite_table[i].id;
    return n_suite_table;
}

/* ------------------------------------------------------------------------ */
/* Keys and certificates                                                    */
/* ------------------------------------------------------------------------ */

static gnutls_datum_t datum_of(const mpssl_blob *blob) {
    gnutls_datum_t d;

    d.data = (unsigned char *)blob->data;
    d.size = (unsigned int)blob->len;
    return d;
}

/* The core found the encoding; it is declared as such (DER), and a key
 * that parses as another type than declared is refused. */
static int import_key(gnutls_x509_privkey_t key, const mpssl_blob *der,
                      mpssl_key_type type) {
    gnutls_datum_t d = datum_of(der);
    int r, pk;

    if (der->len == 0 || der->len > 0xFFFFFFFFu)
        return GNUTLS_E_BASE64_DECODING_ERROR;
    if (type == MPSSL_KEY_PKCS8)
        return gnutls_x509_privkey_import_pkcs8(key, &d, GNUTLS_X509_FMT_DER,
                                                NULL, GNUTLS_PKCS_PLAIN);
    r = gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_DER);
    if (r < 0)
        return r;
    pk = gnutls_x509_privkey_get_pk_algorithm(key);
    if ((type == MPSSL_KEY_RSA && pk != GNUTLS_PK_RSA) ||
        (type == MPSSL_KEY_EC && pk != GNUTLS_PK_ECDSA))
        return GNUTLS_E_PK_INVALID_PRIVKEY;
    return 0;
}

static int import_cert(gnutls_x509_crt_t crt, const mpssl_blob *der) {
    gnutls_datum_t d = datum_of(der);

    if (der->len == 0 || der->len > 0xFFFFFFFFu)
        return GNUTLS_E_ASN1_DER_ERROR;
    return gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
}

static int gt_check_key(const mpssl_blob *key, mpssl_key_type type,
                        const mpssl_blob *cert) {
    gnutls_x509_privkey_t k = NULL;
    gnutls_x509_crt_t x = NULL;
    unsigned char key_id[64], cert_id[64];
    size_t key_id_len = sizeof key_id, cert_id_len = sizeof cert_id;
    int r, result = 0;

    if (gnutls_x509_privkey_init(&k) < 0 || gnutls_x509_crt_init(&x) < 0) {
        result = -ENOMEM;
    } else if ((r = import_key(k, key, type)) < 0) {
        result = r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : MPSSL_EINVALID_KEY;
    } else if ((r = import_cert(x, cert)) < 0) {
        /* The core parsed the certificate before; only memory can fail. */
        result = r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : MPSSL_EINVALID_CERT;
    } else if (gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA256,
                                              key_id, &key_id_len) < 0 ||
               gnutls_x509_crt_get_key_id(x, GNUTLS_KEYID_USE_SHA256, cert_id,
                                          &cert_id_len) < 0) {
        result = MPSSL_EINVALID_KEY;
    } else if (key_id_len != cert_id_len ||
               memcmp(key_id, cert_id, key_id_len) != 0) {
        result = MPSSL_EKEY_MISMATCH;
    }
    gnutls_x509_crt_deinit(x);
    gnutls_x509_privkey_deinit(k); /* wipes the key */
    return result;
}

/* ------------------------------------------------------------------------ */
/* Certificate verification                                                 */
/* ------------------------------------------------------------------------ */

static unsigned flags_of_status(unsigned status) {
    unsigned flags = 0;
    /* Hostname (UNEXPECTED_OWNER) never applies: no name is passed, the core
     * matches names.  INVALID accompanies every other bit. */
    unsigned other =
        status &
        ~(unsigned)(GNUTLS_CERT_INVALID | GNUTLS_CERT_UNEXPECTED_OWNER |
                    GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_EXPIRED |
                    GNUTLS_CERT_NOT_ACTIVATED);

    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        flags |= MPSSL_VF_UNTRUSTED;
    if (status & GNUTLS_CERT_EXPIRED)
        flags |= MPSSL_VF_EXPIRED;
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        flags |= MPSSL_VF_NOT_YET_VALID;
    if (other != 0 || ((status & GNUTLS_CERT_INVALID) && flags == 0))
        flags |= MPSSL_VF_OTHER;
    return flags;
}

/* GnuTLS's chain check against the trust list, with the purpose the peer's
 * role needs (serverAuth / clientAuth) and without a host name. */
static int library_verdict(gt_conn *c, unsigned *flags) {
    gnutls_typed_vdata_st purpose;
    unsigned status = 0;
    int r;

    memset(&purpose, 0, sizeof purpose);
    purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
    purpose.data =
        (unsigned char *)(is_server_conn(c) ? GNUTLS_KP_TLS_WWW_CLIENT
                                            : GNUTLS_KP_TLS_WWW_SERVER);
    r = gnutls_certificate_verify_peers(c->session, &purpose, 1, &status);
    if (r == GNUTLS_E_MEMORY_ERROR)
        return r;
    *flags = r < 0 ? MPSSL_VF_OTHER : flags_of_status(status);
    return 0;
}

/* Called by GnuTLS once the peer's certificate arrived (and, for TLS 1.3,
 * its CertificateVerify); nonzero aborts the handshake. */
static int verify_peer(gnutls_session_t session) {
    gt_conn *c = gnutls_session_get_ptr(session);
    const gnutls_datum_t *certs;
    unsigned n = 0;
    int r;

    if (c == NULL || c->verdict_given ||
        mpssl_core_verify_mode(c->core) == MPSSL_CERT_NONE)
        return 0;
    certs = gnutls_certificate_get_peers(session, &n);
    if (certs == NULL || n == 0)
        return 0; /* nothing sent: the core rules on that at the end */
    r = library_verdict(c, &c->verify_flags);
    if (r < 0)
        return r;
    c->verdict_given = 1;
    if (!mpssl_core_verdict(c->core, certs[0].data, certs[0].size,
                            c->verify_flags))
        return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR; /* bad_certificate */
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Hellos                                                                   */
/* ------------------------------------------------------------------------ */

/* Where a hello's suite field starts: after legacy_version, random and
 * session_id, which ClientHello and ServerHello share.  0 if too short. */
static size_t suites_offset(const uint8_t *body, size_t len) {
    size_t pos = 2 + 32;

    if (len < pos + 1)
        return 0;
    pos += 1 + body[pos];
    return pos + 2 <= len ? pos : 0;
}

/* Server: remembers what the client offered, for choose_suite(). */
static int record_offer(gt_conn *c, const uint8_t *body, size_t len) {
    size_t pos = suites_offset(body, len), n, i;
    uint16_t *offered;

    c->n_offered = 0;
    if (pos == 0)
        return 0; /* malformed: GnuTLS rejects it next */
    n = read_u16(body + pos) / 2;
    pos += 2;
    if (pos + 2 * n > len)
        return 0;
    offered = mpssl_realloc(c->offered, n ? n * sizeof *offered : 1);
    if (offered == NULL)
        return GNUTLS_E_MEMORY_ERROR;
    for (i = 0; i < n; i++)
        offered[i] = read_u16(body + pos + 2 * i);
    c->offered = offered;
    c->n_offered = n;
    return 0;
}

/* Client: the suite a ServerHello (or HelloRetryRequest) picked must be one
 * of ours, whatever GnuTLS's wider product would accept. */
static int check_server_choice(gt_conn *c, const uint8_t *body, size_t len) {
    size_t pos = suites_offset(body, len);

    if (pos == 0)
        return 0; /* malformed: GnuTLS rejects it next */
    if (!list_has(c->ctx->suites, c->ctx->n_suites, read_u16(body + pos))) {
        c->suite_refused = 1;
        return GNUTLS_E_UNKNOWN_CIPHER_SUITE;
    }
    return 0;
}

static int hello_hook(gnutls_session_t session, unsigned int type,
                      unsigned when, unsigned int incoming,
                      const gnutls_datum_t *msg) {
    gt_conn *c = gnutls_session_get_ptr(session);

    (void)when;
    if (c == NULL || !incoming || msg == NULL)
        return 0;
    if (type == GNUTLS_HANDSHAKE_CLIENT_HELLO && is_server_conn(c))
        return record_offer(c, msg->data, msg->size);
    if ((type == GNUTLS_HANDSHAKE_SERVER_HELLO ||
         type == GNUTLS_HANDSHAKE_HELLO_RETRY_REQUEST) &&
        !is_server_conn(c))
        return check_server_choice(c, msg->data, msg->size);
    return 0;
}

/* Can a TLS 1.2 key exchange be served with our certificate's key? */
static int key_serves_kx(gnutls_pk_algorithm_t pk, gnutls_kx_algorithm_t kx) {
    switch (kx) {
    case GNUTLS_KX_ECDHE_ECDSA:
        return pk == GNUTLS_PK_ECDSA || pk == GNUTLS_PK_EDDSA_ED25519 ||
               pk == GNUTLS_PK_EDDSA_ED448;
    case GNUTLS_KX_ECDHE_RSA:
    case GNUTLS_KX_DHE_RSA:
        return pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS;
    case GNUTLS_KX_RSA:
        return pk == GNUTLS_PK_RSA;
    case GNUTLS_KX_DHE_DSS:
        return pk == GNUTLS_PK_DSA;
    default:
        return 0;
    }
}

static int version_in_range(const gt_conn *c) {
    int v;

    switch (gnutls_protocol_get_version(c->session)) {
    case GNUTLS_TLS1_3:
        v = MPSSL_TLS1_3;
        break;
    case GNUTLS_TLS1_2:
        v = MPSSL_TLS1_2;
        break;
    default:
        return 0;
    }
    return v >= c->ctx->min_version && v <= c->ctx->max_version;
}

/* The server's pick: the first suite of our list (server preference) of
 * the negotiated version that the client offered and our key can serve. */
static const gt_suite *choose_suite(const gt_conn *c) {
    int tls13 = gnutls_protocol_get_version(c->session) == GNUTLS_TLS1_3;
    size_t i;

    for (i = 0; i < c->ctx->n_suites; i++) {
        const gt_suite *s = find_suite(c->ctx->suites[i]);

        if (s == NULL || s->tls13 != tls13 ||
            !list_has(c->offered, c->n_offered, s->id))
            continue;
        if (tls13 || key_serves_kx(c->ctx->own_pk, s->kx))
            return s;
    }
    return NULL;
}

/*
 * Server, after the ClientHello is parsed and the version negotiated: the
 * session gets a priority holding the chosen suite alone, so GnuTLS's own
 * selection can only confirm it.  The priority is reference-counted by the
 * session.
 */
static int narrow_to_one_suite(gnutls_session_t session) {
    gt_conn *c = gnutls_session_get_ptr(session);
    char text[PRIORITY_MAX];
    gnutls_priority_t priority;
    const gt_suite *s;
    int r;

    if (c == NULL)
        return GNUTLS_E_INTERNAL_ERROR;
    /* A legacy hello is provisionally TLS 1.2 here even when our range
     * excludes it: GnuTLS refuses the version only later, and the client
     * must hear protocol_version, not handshake_failure. */
    if (!version_in_range(c))
        return GNUTLS_E_UNSUPPORTED_VERSION_PACKET;
    s = choose_suite(c);
    if (s == NULL)
        return GNUTLS_E_NO_CIPHER_SUITES;
    if (build_priority(text, sizeof text, &s, 1, c->ctx->min_version,
                       c->ctx->max_version, 1) != 0)
        return GNUTLS_E_INTERNAL_ERROR;
    r = gnutls_priority_init(&priority, text, NULL);
    if (r < 0)
        return r;
    r = gnutls_priority_set(session, priority);
    gnutls_priority_deinit(priority);
    return r;
}

/* ------------------------------------------------------------------------ */
/* The exact offer                                                          */
/* ------------------------------------------------------------------------ */

/*
 * A client's ClientHello lists GnuTLS's whole product, not our list.  The
 * suites can only be changed before GnuTLS copies the message into its
 * handshake transcript, and the only code of ours that runs then is the
 * send function of a session extension: GnuTLS calls it with the buffer
 * the ClientHello is being built in, the suites already written.  The
 * public API gives that buffer as an opaque gnutls_buffer_t; its layout
 * (lib/str.h, unchanged from GnuTLS 3.0 to 3.8) is mirrored here.
 *
 * Nothing is touched unless everything checks out: the fields are
 * consistent, the body is found by its version and our client random, and
 * the parse from there lands exactly on our own extension header at the
 * end.  Then the suite vector is rewritten in place, same length: our
 * suites in our order, and every slot left over holds the renegotiation
 * SCSV (0x00FF), which GnuTLS's client signals anyway through its
 * renegotiation_info extension and every server treats as a flag, however
 * often it appears.  The extension itself writes nothing and so never
 * appears on the wire.  Should a GnuTLS release change the layout, the
 * checks fail and the offer is GnuTLS's product; check_server_choice()
 * still keeps the negotiated suite inside the list.
 */
typedef struct hello_buffer_layout {
    uint8_t *allocd;
    uint8_t *data;
    size_t max_length;
    size_t length;
} hello_buffer_layout;

static int layout_plausible(const hello_buffer_layout *b) {
    size_t head;

    if (b->allocd == NULL || b->data == NULL || b->data < b->allocd)
        return 0;
    head = (size_t)(b->data - b->allocd);
    return head <= b->max_length && b->length <= b->max_length - head &&
           b->length >= 2 + 32 + 1 + 2 + 2 + 2 + 2 + 4 && b->length <= 0x10000;
}

/* The offset of the ClientHello body: legacy_version 0x0303 followed by
 * our client random.  (size_t)-1 if absent.  len >= sizeof pattern (see
 * layout_plausible). */
static size_t find_hello_body(gnutls_session_t session, const uint8_t *data,
                              size_t len) {
    gnutls_datum_t client_random, server_random;
    uint8_t pattern[2 + 32];
    size_t i;

    gnutls_session_get_random(session, &client_random, &server_random);
    if (client_random.size != 32)
        return (size_t)-1;
    pattern[0] = 0x03;
    pattern[1] = 0x03;
    memcpy(pattern + 2, client_random.data, 32);
    /* Backwards, so that only written bytes are compared: the buffer
     * starts with GnuTLS's own, uninitialised, headers. */
    for (i = len - sizeof pattern + 1; i-- > 0;) {
        if (memcmp(data + i, pattern, sizeof pattern) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Parses from the body to the end; the offset of the suites' length field
 * if the buffer ends exactly with the extensions' length field and our own
 * extension's empty header, else 0. */
static size_t suite_vector_at(const uint8_t *data, size_t body, size_t len) {
    size_t pos = suites_offset(data + body, len - body), at;

    if (pos == 0)
        return 0;
    at = body + pos;
    pos = at + 2 + read_u16(data + at);
    if (pos + 1 > len)
        return 0;
    pos += 1 + data[pos]; /* compression methods */
    if (pos + 2 + 4 != len || read_u16(data + pos + 2) != OFFER_EXT_ID ||
        read_u16(data + pos + 4) != 0)
        return 0;
    return at;
}

static void rewrite_suites(const gt_ctx *x, uint8_t *vec, size_t n_slots) {
    size_t i, filled = 0;

    /* Our suites that GnuTLS put in, in our order ... */
    for (i = 0; i < x->n_suites; i++) {
        size_t j;

        for (j = 0; j < n_slots; j++) {
            if (read_u16(vec + 2 * j) == x->suites[i])
                break;
        }
        if (j == n_slots || j < filled)
            continue; /* not offered, or already moved up */
        vec[2 * j] = vec[2 * filled];
        vec[2 * j + 1] = vec[2 * filled + 1];
        vec[2 * filled] = (uint8_t)(x->suites[i] >> 8);
        vec[2 * filled + 1] = (uint8_t)x->suites[i];
        filled++;
    }
    /* ... then every other slot: the signalling values stay, the rest of
     * the product becomes the renegotiation SCSV. */
    for (i = filled; i < n_slots; i++) {
        uint16_t id = read_u16(vec + 2 * i);

        if (id != SCSV_RENEGOTIATION && id != SCSV_FALLBACK) {
            vec[2 * i] = (uint8_t)(SCSV_RENEGOTIATION >> 8);
            vec[2 * i + 1] = (uint8_t)SCSV_RENEGOTIATION;
        }
    }
}

static int exact_offer(gnutls_session_t session, gnutls_buffer_t buf) {
    gt_conn *c = gnutls_session_get_ptr(session);
    hello_buffer_layout *b = (hello_buffer_layout *)(void *)buf;
    size_t body, at, n_slots;

    if (c == NULL || !layout_plausible(b))
        return 0;
    body = find_hello_body(session, b->data, b->length);
    if (body == (size_t)-1)
        return 0;
    at = suite_vector_at(b->data, body, b->length);
    if (at == 0)
        return 0;
    n_slots = read_u16(b->data + at) / 2;
    rewrite_suites(c->ctx, b->data + at + 2, n_slots);
    return 0; /* nothing appended: the extension is not sent */
}

static int offer_ext_recv(gnutls_session_t session, const unsigned char *data,
                          size_t len) {
    (void)session;
    (void)data;
    (void)len;
    return GNUTLS_E_RECEIVED_ILLEGAL_EXTENSION; /* never solicited */
}

/* ------------------------------------------------------------------------ */
/* Context building                                                         */
/* ------------------------------------------------------------------------ */

static int build_failure(char *why, size_t why_cap, const char *what, int r) {
    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s (%s)", what, gnutls_strerror(r));
    if (r == GNUTLS_E_MEMORY_ERROR)
        return -ENOMEM;
    return MPSSL_ERR_INTERNAL;
}

static int add_cas(gt_ctx *x, const mpssl_config *cfg, char *why,
                   size_t why_cap) {
    size_t i;

    for (i = 0; i < cfg->n_cas; i++) {
        gnutls_datum_t d = datum_of(&cfg->cas[i]);
        int r = gnutls_certificate_set_x509_trust_mem(x->cred, &d,
                                                      GNUTLS_X509_FMT_DER);
        if (r < 0)
            return build_failure(why, why_cap, "CA certificate refused", r);
    }
    return 0;
}

static void free_chain(gnutls_x509_crt_t *chain, size_t n) {
    size_t i;

    for (i = 0; i < n; i++)
        gnutls_x509_crt_deinit(chain[i]);
    mpssl_free(chain);
}

static int use_own_chain(gt_ctx *x, const mpssl_config *cfg, char *why,
                         size_t why_cap) {
    gnutls_x509_crt_t *chain;
    gnutls_x509_privkey_t key = NULL;
    size_t n = 0;
    int r = 0;

    if (cfg->n_chain == 0)
        return 0;
    chain = mpssl_alloc(cfg->n_chain * sizeof *chain);
    if (chain == NULL)
        return -ENOMEM;
    for (n = 0; n < cfg->n_chain && r >= 0; n++) {
        r = gnutls_x509_crt_init(&chain[n]);
        if (r < 0)
            break;
        r = import_cert(chain[n], &cfg->chain[n]);
    }
    if (r < 0) {
        free_chain(chain, n);
        return build_failure(why, why_cap, "certificate refused", r);
    }
    x->own_pk = gnutls_x509_crt_get_pk_algorithm(chain[0], NULL);
    r = gnutls_x509_privkey_init(&key);
    if (r >= 0)
        r = import_key(key, &cfg->key, cfg->key_type);
    if (r >= 0)
        r = gnutls_certificate_set_x509_key(x->cred, chain,
                                            (unsigned)cfg->n_chain, key);
    gnutls_x509_privkey_deinit(key); /* the credentials hold a copy */
    free_chain(chain, cfg->n_chain);
    if (r < 0)
        return build_failure(why, why_cap, "certificate or key refused", r);
    return 0;
}

static int unsupported_suite(char *why, size_t why_cap, uint16_t id) {
    snprintf(why, why_cap, "suite 0x%04X not available in GnuTLS",
             (unsigned)id);
    return MPSSL_ERR_UNSUPPORTED;
}

/* The context's priority; every suite of the list must be one GnuTLS knows
 * and the priority must really enable it. */
static int set_priority(gt_ctx *x, char *why, size_t why_cap) {
    const gt_suite *rows[MAX_SUITES];
    char text[PRIORITY_MAX];
    size_t i;
    int r;

    if (x->n_suites == 0 || x->n_suites > MAX_SUITES) {
        snprintf(why, why_cap, "suite list empty or too long");
        return MPSSL_ERR_UNSUPPORTED;
    }
    for (i = 0; i < x->n_suites; i++) {
        rows[i] = find_suite(x->suites[i]);
        if (rows[i] == NULL)
            return unsupported_suite(why, why_cap, x->suites[i]);
    }
    if (build_priority(text, sizeof text, rows, x->n_suites, x->min_version,
                       x->max_version, x->is_server) != 0) {
        snprintf(why, why_cap, "suite list too long");
        return MPSSL_ERR_INTERNAL;
    }
    r = gnutls_priority_init(&x->priority, text, NULL);
    if (r < 0) {
        x->priority = NULL;
        return build_failure(why, why_cap, "priority string refused", r);
    }
    for (i = 0; i < x->n_suites; i++) {
        if (!priority_has(x->priority, x->suites[i]))
            return unsupported_suite(why, why_cap, x->suites[i]);
    }
    return 0;
}

static void gt_ctx_free(void *native) {
    gt_ctx *x = native;

    if (x == NULL)
        return;
    if (x->priority != NULL)
        gnutls_priority_deinit(x->priority);
    if (x->cred != NULL)
        gnutls_certificate_free_credentials(x->cred); /* wipes the key */
    mpssl_free(x);
}

static int configure(gt_ctx *x, const mpssl_config *cfg, char *why,
                     size_t why_cap) {
    int r = gnutls_certificate_allocate_credentials(&x->cred);

    if (r < 0) {
        x->cred = NULL;
        return build_failure(why, why_cap, "credentials", r);
    }
    gnutls_certificate_set_verify_function(x->cred, verify_peer);
    if (x->is_server) {
        /* Without parameters a GnuTLS server never picks a DHE suite
         * unless the client offers an RFC 7919 group. */
        r = gnutls_certificate_set_known_dh_params(x->cred,
                                                   GNUTLS_SEC_PARAM_MEDIUM);
        if (r < 0)
            return build_failure(why, why_cap, "DH parameters", r);
    }
    r = add_cas(x, cfg, why, why_cap);
    if (r == 0)
        r = use_own_chain(x, cfg, why, why_cap);
    if (r == 0)
        r = set_priority(x, why, why_cap);
    return r;
}

static int gt_ctx_build(const mpssl_config *cfg, void **native, char *why,
                        size_t why_cap) {
    gt_ctx *x;
    int r;

    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    x = mpssl_alloc(sizeof *x + cfg->n_suites * sizeof x->suites[0]);
    if (x == NULL)
        return -ENOMEM;
    memset(x, 0, sizeof *x);
    x->is_server = cfg->protocol == MPSSL_PROTOCOL_TLS_SERVER;
    x->verify_mode = cfg->verify_mode;
    x->own_pk = GNUTLS_PK_UNKNOWN;
    x->min_version = cfg->min_version;
    x->max_version = cfg->max_version;
    x->n_suites = cfg->n_suites;
    if (cfg->n_suites > 0)
        memcpy(x->suites, cfg->suites, cfg->n_suites * sizeof x->suites[0]);
    r = configure(x, cfg, why, why_cap);
    if (r != 0) {
        gt_ctx_free(x);
        return r;
    }
    *native = x;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void gt_conn_free(void *bconn) {
    gt_conn *c = bconn;

    if (c == NULL)
        return;
    if (c->session != NULL)
        gnutls_deinit(c->session); /* no I/O; wipes the keys */
    mpssl_free(c->offered);
    mpssl_free(c);
}

static gnutls_certificate_request_t request_mode(int verify_mode) {
    switch (verify_mode) {
    case MPSSL_CERT_REQUIRED:
        return GNUTLS_CERT_REQUIRE;
    case MPSSL_CERT_OPTIONAL:
        return GNUTLS_CERT_REQUEST;
    default:
        return GNUTLS_CERT_IGNORE;
    }
}

static int setup_server(gt_conn *c) {
    gnutls_certificate_server_set_request(c->session,
                                          request_mode(c->ctx->verify_mode));
    gnutls_handshake_set_post_client_hello_function(c->session,
                                                    narrow_to_one_suite);
    return 0;
}

static int setup_client(gt_conn *c, const char *sni) {
    int r = 0;

    if (sni != NULL)
        r = gnutls_server_name_set(c->session, GNUTLS_NAME_DNS, sni,
                                   strlen(sni));
    if (r >= 0)
        r = gnutls_session_ext_register(
            c->session, "mpssl-exact-offer", OFFER_EXT_ID, GNUTLS_EXT_TLS,
            offer_ext_recv, exact_offer, NULL, NULL, NULL,
            GNUTLS_EXT_FLAG_CLIENT_HELLO | GNUTLS_EXT_FLAG_TLS);
    return r;
}

static int setup_session(gt_conn *c, const char *sni) {
    gnutls_session_t s = c->session;
    int r;

    gnutls_session_set_ptr(s, c);
    gnutls_transport_set_ptr(s, c);
    gnutls_transport_set_push_function(s, push);
    gnutls_transport_set_pull_function(s, pull);
    gnutls_transport_set_pull_timeout_function(s, pull_timeout);
    /* Blocking waits and their deadlines are the core's and the port's. */
    gnutls_handshake_set_timeout(s, 0);
    /* GnuTLS would buffer a handshake message of up to 16 MiB a peer merely
     * announces; nothing legitimate comes near this bound. */
    gnutls_handshake_set_max_packet_length(s, MAX_HANDSHAKE_MESSAGE);
    r = gnutls_priority_set(s, c->ctx->priority);
    if (r >= 0)
        r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->ctx->cred);
    if (r < 0)
        return r;
    gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_PRE,
                                       hello_hook);
    return c->ctx->is_server ? setup_server(c) : setup_client(c, sni);
}

static int gt_conn_new(void *native, mpssl_conn *core, const char *sni,
                       void **bconn) {
    const gt_ctx *x = native;
    gt_conn *c = mpssl_alloc(sizeof *c);
    /* No tickets: our servers offer no resumption and our clients ask for
     * none.  A client sends its one certificate whatever CA names the
     * server lists, as OpenSSL does, so the server can judge it. */
    unsigned flags = GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS |
                     (x->is_server ? GNUTLS_SERVER
                                   : GNUTLS_CLIENT | GNUTLS_FORCE_CLIENT_CERT);
    int r;

    if (c == NULL)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->core = core;
    c->ctx = x;
    r = gnutls_init(&c->session, flags);
    if (r < 0)
        c->session = NULL;
    else
        r = setup_session(c, sni);
    if (r < 0) {
        gt_conn_free(c);
        return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : MPSSL_ERR_INTERNAL;
    }
    *bconn = c;
    return 0;
}

/* The negotiated suite from the session's algorithms, as an id of ours. */
static const gt_suite *negotiated_suite(const gt_conn *c, int tls13) {
    gnutls_cipher_algorithm_t cipher = gnutls_cipher_get(c->session);
    gnutls_mac_algorithm_t mac = gnutls_mac_get(c->session);
    gnutls_kx_algorithm_t kx = gnutls_kx_get(c->session);
    size_t i;

    for (i = 0; i < n_suite_table; i++) {
        const gt_suite *s = &suite_table[i];

        if (s->tls13 == tls13 && s->cipher == cipher && s->mac == mac &&
            (tls13 || s->kx == kx))
            return s;
    }
    return NULL;
}

/* The suite must be one of the list (a belt to the hellos' braces), and
 * the peer's leaf is kept for peer_cert(). */
static int finish_handshake(gt_conn *c) {
    int version = gnutls_protocol_get_version(c->session);
    const gt_suite *s;
    const gnutls_datum_t *certs;
    unsigned n = 0;

    if (version != GNUTLS_TLS1_2 && version != GNUTLS_TLS1_3)
        return fail_step(c, GNUTLS_E_UNSUPPORTED_VERSION_PACKET);
    s = negotiated_suite(c, version == GNUTLS_TLS1_3);
    if (s == NULL || !list_has(c->ctx->suites, c->ctx->n_suites, s->id)) {
        const char *name = gnutls_ciphersuite_get(c->session);

        (void)gnutls_alert_send(c->session, GNUTLS_AL_FATAL,
                                GNUTLS_A_HANDSHAKE_FAILURE);
        return mpssl_core_fail(c->core, MPSSL_FAIL_NO_SHARED, 0,
                               GNUTLS_E_UNKNOWN_CIPHER_SUITE,
                               name ? name : "suite outside the list");
    }
    c->suite_id = s->id;
    c->version = version == GNUTLS_TLS1_3 ? MPSSL_TLS1_3 : MPSSL_TLS1_2;
    certs = gnutls_certificate_get_peers(c->session, &n);
    if (certs != NULL && n > 0) {
        c->peer_der = certs[0].data;
        c->peer_der_len = certs[0].size;
    }
    c->handshake_done = 1;
    /* A server's one-suite priority has served; the context's shared one
     * takes its place, which frees it (a renegotiation, the only later
     * user, is refused anyway). */
    if (is_server_conn(c))
        (void)gnutls_priority_set(c->session, c->ctx->priority);
    return MPSSL_R_DONE;
}

/* GnuTLS may stop with EAGAIN without having asked the transport (after a
 * callback, say); only a pull that would block makes waiting right. */
#define MAX_SPINS 64

static int gt_handshake(void *bconn) {
    gt_conn *c = bconn;
    int spins, r = GNUTLS_E_AGAIN;

    if (c->handshake_done)
        return MPSSL_R_DONE;
    for (spins = 0; spins < MAX_SPINS; spins++) {
        c->pull_blocked = 0;
        r = gnutls_handshake(c->session);
        if (r == 0)
            return finish_handshake(c);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            if (c->pull_blocked || gnutls_record_get_direction(c->session))
                return want_of(c);
            continue;
        }
        /* A warning (unrecognized_name, ...) does not end the handshake. */
        if (r == GNUTLS_E_WARNING_ALERT_RECEIVED ||
            r == GNUTLS_E_GOT_APPLICATION_DATA)
            continue;
        return fail_step(c, r);
    }
    return want_of(c);
}

/* A renegotiation request (HelloRequest to a client, a new ClientHello to
 * a server) is answered with a no_renegotiation warning; reading goes on. */
static int refuse_renegotiation(gt_conn *c) {
    int r = gnutls_alert_send(c->session, GNUTLS_AL_WARNING,
                              GNUTLS_A_NO_RENEGOTIATION);

    return r == GNUTLS_E_AGAIN ? 0 : r;
}

static long gt_read(void *bconn, uint8_t *buf, size_t len) {
    gt_conn *c = bconn;
    int spins;

    for (spins = 0; spins < MAX_SPINS; spins++) {
        ssize_t r;

        c->pull_blocked = 0;
        r = gnutls_record_recv(c->session, buf, len);
        if (r > 0) {
            c->hello_buffered = 0;
            return (long)r;
        }
        if (r == 0) /* close_notify */
            return c->transport_eof ? MPSSL_R_EOF : MPSSL_R_CLOSE_NOTIFY;
        switch (r) {
        case GNUTLS_E_AGAIN:
        case GNUTLS_E_INTERRUPTED:
            /* TLS 1.3 tickets and key updates end here too: read on
             * unless the transport is really empty. */
            if (c->pull_blocked || gnutls_record_get_direction(c->session))
                return want_of(c);
            continue;
        case GNUTLS_E_REHANDSHAKE: {
            int e = refuse_renegotiation(c);
            if (e < 0)
                return fail_step(c, e);
            c->hello_buffered = is_server_conn(c);
            continue;
        }
        case GNUTLS_E_UNEXPECTED_PACKET:
            /* A server's GnuTLS keeps the refused ClientHello; the next
             * read discards it, saying "unexpected packet" once. */
            if (c->hello_buffered) {
                c->hello_buffered = 0;
                continue;
            }
            return fail_step(c, (int)r);
        case GNUTLS_E_WARNING_ALERT_RECEIVED:
            continue;
        default:
            if (is_eof_code(c, (int)r) && !c->transport_failed)
                return MPSSL_R_EOF;
            return fail_step(c, (int)r);
        }
    }
    return want_of(c);
}

/*
 * gnutls_record_send encrypts one record (len <= 16384) and pushes it;
 * since the push never reports would-block, it returns len.  Should it
 * still end in EAGAIN, the record is encrypted and buffered inside GnuTLS
 * and must go out before anything else: the next call flushes it with
 * (NULL, 0), as GnuTLS requires, and is credited with its count (the core
 * retries a write step with the same data).
 */
static long gt_write(void *bconn, const uint8_t *buf, size_t len) {
    gt_conn *c = bconn;
    ssize_t r;

    if (c->write_pending)
        r = gnutls_record_send(c->session, NULL, 0);
    else
        r = gnutls_record_send(c->session, buf, len);
    if (r > 0) {
        c->write_pending = 0;
        return (long)r;
    }
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        c->write_pending = 1;
        return want_of(c);
    }
    if (r == 0)
        return mpssl_core_fail(c->core, MPSSL_FAIL_INTERNAL, 0, 0,
                               "record_send took nothing");
    return fail_step(c, (int)r);
}

static size_t gt_pending(const void *bconn) {
    const gt_conn *c = bconn;

    return gnutls_record_check_pending(c->session);
}

static int gt_close_notify(void *bconn) {
    gt_conn *c = bconn;
    int r = gnutls_bye(c->session, GNUTLS_SHUT_WR);

    /* EAGAIN: the alert sits in GnuTLS; nothing more can be done without
     * blocking, and close_notify is a single attempt. */
    if (r == 0 || r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return MPSSL_R_DONE;
    return mpssl_core_fail(c->core,
                           c->transport_failed ? MPSSL_FAIL_TRANSPORT
                                               : MPSSL_FAIL_INTERNAL,
                           0, r, gnutls_strerror(r));
}

static int gt_peer_cert(const void *bconn, const uint8_t **der, size_t *len) {
    const gt_conn *c = bconn;

    if (c->peer_der == NULL || c->peer_der_len == 0)
        return -1;
    *der = c->peer_der;
    *len = c->peer_der_len;
    return 0;
}

static int gt_negotiated(const void *bconn, uint16_t *suite_id, int *version) {
    const gt_conn *c = bconn;

    if (!c->handshake_done)
        return -1;
    *suite_id = c->suite_id;
    *version = c->version;
    return 0;
}

const mpssl_backend mpssl_backend_impl = {
    .name = "gnutls",
    .caps = MPSSL_CAP_TLS13 | MPSSL_CAP_EXACT_SUITES |
            MPSSL_CAP_CLIENT_CERT_OPTIONAL | MPSSL_CAP_THREADS,
    .version = gt_version,
    .global_init = gt_global_init,
    .global_deinit = gt_global_deinit,
    .supported_suites = gt_supported_suites,
    .check_key = gt_check_key,
    .ctx_build = gt_ctx_build,
    .ctx_free = gt_ctx_free,
    .conn_new = gt_conn_new,
    .conn_free = gt_conn_free,
    .handshake = gt_handshake,
    .read = gt_read,
    .write = gt_write,
    .pending = gt_pending,
    .close_notify = gt_close_notify,
    .peer_cert = gt_peer_cert,
    .negotiated = gt_negotiated,
};
