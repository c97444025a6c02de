/*
 * openssl.c - the mpssl backend on OpenSSL 3.0 (libssl).
 *
 * The library only moves records: ciphertext goes through a custom BIO that
 * calls mpssl_io_recv()/mpssl_io_send(); certificate verification runs
 * OpenSSL's chain builder, records what it found as MPSSL_VF_* bits and hands
 * the verdict to the core (which also checks names: SSL_set1_host is never
 * called).  Failures are read from the thread's error queue and reported as
 * neutral kinds (see classify_error below).
 */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* ------------------------------------------------------------------------ */
/* Per-connection state                                                     */
/* ------------------------------------------------------------------------ */

typedef struct ossl_conn {
    SSL *ssl;
    mpssl_conn *core;
    int transport_eof;    /* mpssl_io_recv returned 0: BIO_CTRL_EOF says 1 */
    int transport_failed; /* mpssl_io_* returned -errno (core recorded it) */
    int handshake_done;
    unsigned verify_flags;   /* MPSSL_VF_* collected by the verify callback */
    unsigned char *peer_der; /* the peer's leaf, cached at handshake end */
    size_t peer_der_len;
} ossl_conn;

/* ------------------------------------------------------------------------ */
/* Global state: the BIO method and the id <-> OpenSSL name table           */
/* ------------------------------------------------------------------------ */

/* OpenSSL's cipher strings take its own names ("ECDHE-RSA-AES128-GCM-SHA256"),
 * not IANA names, so ids are translated with the library's own list. */
typedef struct suite_name {
    uint16_t id;
    int tls13;
    char name[64];
} suite_name;

#define MAX_SUITES 512

static BIO_METHOD *transport_method;
static suite_name suite_names[MAX_SUITES];
static size_t n_suite_names;

static const char all_tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:"
    "TLS_AES_128_CCM_8_SHA256";

/* ------------------------------------------------------------------------ */
/* The transport BIO                                                        */
/* ------------------------------------------------------------------------ */

static int bio_write(BIO *bio, const char *buf, int len) {
    ossl_conn *c = BIO_get_data(bio);
    long n;

    BIO_clear_retry_flags(bio);
    if (len <= 0)
        return 0;
    /* The core queues what the transport does not take: never a retry. */
    n = mpssl_io_send(c->core, (const uint8_t *)buf, (size_t)len);
    if (n < 0) {
        c->transport_failed = 1;
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *bio, char *buf, int len) {
    ossl_conn *c = BIO_get_data(bio);
    long n;

    BIO_clear_retry_flags(bio);
    if (len <= 0)
        return 0;
    n = mpssl_io_recv(c->core, (uint8_t *)buf, (size_t)len);
    if (n > 0)
        return (int)n;
    if (n == 0) {
        /* Remembered so that OpenSSL reports truncation as such
         * (SSL_R_UNEXPECTED_EOF_WHILE_READING) instead of a syscall error. */
        c->transport_eof = 1;
        return 0;
    }
    if (n == MPSSL_IO_WOULD_BLOCK) {
        BIO_set_retry_read(bio);
        return -1;
    }
    c->transport_failed = 1; /* -errno, already recorded by the core */
    return -1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    ossl_conn *c = BIO_get_data(bio);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* mpssl_io_send has taken everything already */
    case BIO_CTRL_EOF:
        return c != NULL && c->transport_eof;
    default: /* PENDING, WPENDING, PUSH, POP, kTLS probes, ... */
        return 0;
    }
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static int bio_destroy(BIO *bio) {
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *make_transport_method(void) {
    BIO_METHOD *m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mpssl");

    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) ||
        !BIO_meth_set_create(m, bio_create) ||
        !BIO_meth_set_destroy(m, bio_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------------ */
/* Failure mapping                                                          */
/* ------------------------------------------------------------------------ */

/*
 * OpenSSL failure -> neutral kind.
 *
 *   SSL_get_error()                            result
 *   ---------------------------------------    -----------------------------
 *   SSL_ERROR_WANT_READ / _WANT_WRITE          MPSSL_R_WANT_READ / _WRITE
 *   SSL_ERROR_ZERO_RETURN, BIO saw no EOF      read: MPSSL_R_CLOSE_NOTIFY;
 *                                              handshake: MPSSL_FAIL_EOF
 *   SSL_ERROR_SYSCALL, BIO saw -errno          MPSSL_FAIL_TRANSPORT
 *   transport EOF: ZERO_RETURN after the BIO saw end of stream (contexts set
 *     SSL_OP_IGNORE_UNEXPECTED_EOF), SSL_R_UNEXPECTED_EOF_WHILE_READING, or
 *     SYSCALL after the BIO saw end of stream  in the handshake MPSSL_FAIL_EOF,
 *                                              afterwards MPSSL_R_EOF (read)
 *   SSL_ERROR_SSL, first error in the queue by reason:
 *     ERR_R_MALLOC_FAILURE (anywhere in queue) MPSSL_FAIL_NOMEM
 *     SSL_R_TLSV1_ALERT_PROTOCOL_VERSION       MPSSL_FAIL_NO_SHARED
 *       (peer's protocol_version alert: a version mismatch)
 *     other reason >= SSL_AD_REASON_OFFSET     MPSSL_FAIL_PEER_ALERT,
 *       (alert received)                         arg = reason - 1000
 *     SSL_R_NO_SHARED_CIPHER, _NO_CIPHERS_AVAILABLE, _UNSUPPORTED_PROTOCOL,
 *     _NO_PROTOCOLS_AVAILABLE, _NO_SHARED_GROUPS, _NO_SUITABLE_GROUPS,
 *     _NO_SUITABLE_KEY_SHARE, _NO_SUITABLE_SIGNATURE_ALGORITHM,
 *     _NO_SHARED_SIGNATURE_ALGORITHMS, _NO_SUITABLE_DIGEST_ALGORITHM,
 *     _UNSUPPORTED_SSL_VERSION, _WRONG_SSL_VERSION, _VERSION_TOO_HIGH,
 *     _VERSION_TOO_LOW, _INAPPROPRIATE_FALLBACK  MPSSL_FAIL_NO_SHARED
 *     SSL_R_CERTIFICATE_VERIFY_FAILED          MPSSL_FAIL_VERIFY, arg =
 *                                              MPSSL_VF_* seen (the core's
 *                                              own verdict wins anyway)
 *     SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE  MPSSL_FAIL_NO_PEER_CERT
 *     anything else, or an empty queue         MPSSL_FAIL_PROTOCOL
 *   any other SSL_get_error() value            MPSSL_FAIL_INTERNAL
 */
typedef struct reason_kind {
    int reason;
    mpssl_fail_kind kind;
} reason_kind;

static const reason_kind reason_kinds[] = {
    {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SHARED_CIPHER, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_CIPHERS_AVAILABLE, MPSSL_FAIL_NO_SHARED},
    {SSL_R_UNSUPPORTED_PROTOCOL, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_PROTOCOLS_AVAILABLE, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SHARED_GROUPS, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SUITABLE_GROUPS, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SUITABLE_KEY_SHARE, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS, MPSSL_FAIL_NO_SHARED},
    {SSL_R_NO_SUITABLE_DIGEST_ALGORITHM, MPSSL_FAIL_NO_SHARED},
    {SSL_R_UNSUPPORTED_SSL_VERSION, MPSSL_FAIL_NO_SHARED},
    {SSL_R_WRONG_SSL_VERSION, MPSSL_FAIL_NO_SHARED},
    {SSL_R_VERSION_TOO_HIGH, MPSSL_FAIL_NO_SHARED},
    {SSL_R_VERSION_TOO_LOW, MPSSL_FAIL_NO_SHARED},
    {SSL_R_INAPPROPRIATE_FALLBACK, MPSSL_FAIL_NO_SHARED},
    {SSL_R_CERTIFICATE_VERIFY_FAILED, MPSSL_FAIL_VERIFY},
    {SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, MPSSL_FAIL_NO_PEER_CERT},
};

/* What the error queue said, drained. */
typedef struct queue_verdict {
    unsigned long code; /* the first SSL-library error (or first of any) */
    int reason;
    int malloc_failed;
} queue_verdict;

static queue_verdict drain_error_queue(void) {
    queue_verdict v = {0, 0, 0};
    unsigned long e;

    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            v.malloc_failed = 1;
        if (v.code == 0 || (ERR_GET_LIB(v.code) != ERR_LIB_SSL &&
                            ERR_GET_LIB(e) == ERR_LIB_SSL))
            v.code = e;
    }
    v.reason = v.code ? ERR_GET_REASON(v.code) : 0;
    return v;
}

static mpssl_fail_kind kind_of_reason(int reason, int *alert) {
    size_t i;

    *alert = 0;
    for (i = 0; i < sizeof reason_kinds / sizeof reason_kinds[0]; i++) {
        if (reason_kinds[i].reason == reason)
            return reason_kinds[i].kind;
    }
    if (reason >= SSL_AD_REASON_OFFSET) {
        *alert = reason - SSL_AD_REASON_OFFSET;
        return MPSSL_FAIL_PEER_ALERT;
    }
    return MPSSL_FAIL_PROTOCOL;
}

/* Step results that may carry "end of stream" as a value (read) or must
 * report it as a failure (handshake, write, close_notify). */
enum eof_policy { EOF_IS_FAILURE, EOF_IS_RESULT };

/*
 * Turns a failed SSL_* call (ret <= 0) into a step result.  Drains the
 * error queue in every case so nothing leaks into the next call.
 */
static int step_result(ossl_conn *c, int ret, enum eof_policy eof_policy) {
    int err = SSL_get_error(c->ssl, ret);
    queue_verdict q = drain_error_queue();
    const char *text = q.code ? ERR_reason_error_string(q.code) : NULL;
    mpssl_fail_kind kind;
    int alert;

    switch (err) {
    case SSL_ERROR_WANT_READ:
        return MPSSL_R_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return MPSSL_R_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a transport EOF:
         * only the BIO knows which. */
        if (eof_policy == EOF_IS_RESULT)
            return c->transport_eof ? MPSSL_R_EOF : MPSSL_R_CLOSE_NOTIFY;
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, 0,
                               c->transport_eof ? "end of stream"
                                                : "close_notify");
    case SSL_ERROR_SYSCALL:
    case SSL_ERROR_SSL:
        break;
    default:
        return mpssl_core_fail(c->core, MPSSL_FAIL_INTERNAL, 0, err, text);
    }

    if (q.malloc_failed)
        return mpssl_core_fail(c->core, MPSSL_FAIL_NOMEM, 0, (long)q.code,
                               text);
    if (c->transport_failed)
        return mpssl_core_fail(c->core, MPSSL_FAIL_TRANSPORT, 0, (long)q.code,
                               text);
    if (q.reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
        (err == SSL_ERROR_SYSCALL && c->transport_eof)) {
        if (eof_policy == EOF_IS_RESULT)
            return MPSSL_R_EOF;
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, (long)q.code, text);
    }
    if (err == SSL_ERROR_SYSCALL && q.code == 0)
        return mpssl_core_fail(c->core, MPSSL_FAIL_PROTOCOL, 0, err,
                               "syscall error without errno");

    kind = kind_of_reason(q.reason, &alert);
    if (kind == MPSSL_FAIL_PEER_ALERT)
        return mpssl_core_fail(c->core, kind, alert, (long)q.code, text);
    if (kind == MPSSL_FAIL_VERIFY)
        return mpssl_core_fail(c->core, kind, (int)c->verify_flags,
                               (long)q.code, text);
    return mpssl_core_fail(c->core, kind, 0, (long)q.code, text);
}

/* ------------------------------------------------------------------------ */
/* Certificate verification                                                 */
/* ------------------------------------------------------------------------ */

static unsigned flag_of_x509_error(int error) {
    switch (error) {
    case X509_V_OK:
    /* OpenSSL never checks names here (no SSL_set1_host): the core does. */
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return 0;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return MPSSL_VF_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return MPSSL_VF_NOT_YET_VALID;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return MPSSL_VF_UNTRUSTED;
    default:
        return MPSSL_VF_OTHER;
    }
}

static ossl_conn *conn_of_store_ctx(X509_STORE_CTX *store_ctx) {
    SSL *ssl = X509_STORE_CTX_get_ex_data(store_ctx,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    return ssl ? SSL_get_app_data(ssl) : NULL;
}

/* Records every problem the chain builder finds and lets it go on, so that
 * all bits are known when the core decides. */
static int record_verify_error(int ok, X509_STORE_CTX *store_ctx) {
    ossl_conn *c = conn_of_store_ctx(store_ctx);

    if (!ok && c != NULL)
        c->verify_flags |=
            flag_of_x509_error(X509_STORE_CTX_get_error(store_ctx));
    return 1;
}

static int verify_peer_chain(X509_STORE_CTX *store_ctx, void *arg) {
    ossl_conn *c = conn_of_store_ctx(store_ctx);
    X509 *leaf = X509_STORE_CTX_get0_cert(store_ctx);
    unsigned char *der = NULL;
    int der_len, go_on;

    (void)arg;
    if (c == NULL || leaf == NULL)
        return 0;
    if (SSL_get_verify_mode(c->ssl) == SSL_VERIFY_NONE)
        return 1; /* CERT_NONE: no verdict, per backend.h */

    c->verify_flags = 0;
    X509_STORE_CTX_set_verify_cb(store_ctx, record_verify_error);
    if (X509_verify_cert(store_ctx) <= 0 && c->verify_flags == 0)
        c->verify_flags = MPSSL_VF_OTHER; /* failed without telling why */

    der_len = i2d_X509(leaf, &der);
    if (der_len <= 0) {
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }
    go_on = mpssl_core_verdict(c->core, der, (size_t)der_len, c->verify_flags);
    OPENSSL_free(der);
    if (!go_on) {
        /* CERT_REJECTED makes OpenSSL send bad_certificate (backend.h);
         * APPLICATION_VERIFICATION would send handshake_failure. */
        X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* DER parsing helpers                                                      */
/* ------------------------------------------------------------------------ */

static X509 *parse_cert(const mpssl_blob *der) {
    const unsigned char *p = der->data;
    X509 *x;

    if (der->len == 0 || der->len > LONG_MAX)
        return NULL;
    x = d2i_X509(NULL, &p, (long)der->len);
    if (x != NULL && p != der->data + der->len) {
        X509_free(x); /* trailing bytes: not one certificate */
        x = NULL;
    }
    return x;
}

static EVP_PKEY *parse_pkcs8(const unsigned char **p, long len) {
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, p, len);
    EVP_PKEY *pkey;

    if (p8 == NULL)
        return NULL;
    pkey = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8); /* ASN.1 free cleanses the key bytes */
    return pkey;
}

static EVP_PKEY *parse_key(const mpssl_blob *der, mpssl_key_type type) {
    const unsigned char *p = der->data;
    long len;
    EVP_PKEY *pkey = NULL;

    if (der->len == 0 || der->len > LONG_MAX)
        return NULL;
    len = (long)der->len;
    switch (type) {
    case MPSSL_KEY_RSA:
        pkey = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
        break;
    case MPSSL_KEY_EC:
        pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, len);
        break;
    case MPSSL_KEY_PKCS8:
        pkey = parse_pkcs8(&p, len);
        break;
    }
    if (pkey != NULL && p != der->data + der->len) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

/* Was the last failure an allocation failure?  Drains the queue. */
static int queue_says_nomem(void) {
    return drain_error_queue().malloc_failed;
}

/* ------------------------------------------------------------------------ */
/* Library identity, global state, suites                                   */
/* ------------------------------------------------------------------------ */

static const char *ossl_version(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

/* TLS 1.3 suites go to SSL_CTX_set_ciphersuites, the others to
 * SSL_CTX_set_cipher_list; the minimum version names the kind. */
static int is_tls13_suite(const SSL_CIPHER *c) {
    const char *v = SSL_CIPHER_get_version(c);

    return v != NULL && strcmp(v, "TLSv1.3") == 0;
}

/* A context that lists every suite the library can negotiate. */
static SSL_CTX *new_all_suites_ctx(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());

    if (ctx == NULL)
        return NULL;
    if (!SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") ||
        !SSL_CTX_set_ciphersuites(ctx, all_tls13_suites)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int build_suite_names(void) {
    SSL_CTX *ctx = new_all_suites_ctx();
    STACK_OF(SSL_CIPHER) * list;
    int i, n;

    if (ctx == NULL)
        return -1;
    list = SSL_CTX_get_ciphers(ctx);
    n = list ? sk_SSL_CIPHER_num(list) : 0;
    n_suite_names = 0;
    for (i = 0; i < n && n_suite_names < MAX_SUITES; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);
        suite_name *row = &suite_names[n_suite_names];
        const char *name = SSL_CIPHER_get_name(c);

        if (name == NULL || strlen(name) >= sizeof row->name)
            continue;
        row->id = SSL_CIPHER_get_protocol_id(c);
        row->tls13 = is_tls13_suite(c);
        strcpy(row->name, name);
        n_suite_names++;
    }
    SSL_CTX_free(ctx);
    return n_suite_names > 0 ? 0 : -1;
}

static const suite_name *find_suite_name(uint16_t id) {
    size_t i;

    for (i = 0; i < n_suite_names; i++) {
        if (suite_names[i].id == id)
            return &suite_names[i];
    }
    return NULL;
}

static int ossl_global_init(void) {
    if (!OPENSSL_init_ssl(0, NULL))
        return MPSSL_ERR_INTERNAL;
    ERR_clear_error();
    if (transport_method == NULL) {
        transport_method = make_transport_method();
        if (transport_method == NULL)
            return -ENOMEM;
    }
    if (build_suite_names() != 0) {
        ERR_clear_error();
        return MPSSL_ERR_INTERNAL;
    }
    return 0;
}

static void ossl_global_deinit(void) {
    BIO_meth_free(transport_method);
    transport_method = NULL;
    n_suite_names = 0;
}

static size_t ossl_supported_suites(uint16_t *ids, size_t cap) {
    size_t i;

    for (i = 0; i < n_suite_names && i < cap; i++)
        ids[i] = suite_names[i].id;
    return n_suite_names;
}

static int ossl_check_key(const mpssl_blob *key, mpssl_key_type type,
                          const mpssl_blob *cert) {
    EVP_PKEY *pkey;
    X509 *x;
    int result = 0;

    ERR_clear_error();
    pkey = parse_key(key, type);
    if (pkey == NULL)
        return queue_says_nomem() ? -ENOMEM : MPSSL_EINVALID_KEY;
    x = parse_cert(cert);
    if (x == NULL) {
        /* The core parsed the certificate before; only memory can fail. */
        result = queue_says_nomem() ? -ENOMEM : MPSSL_EINVALID_CERT;
    } else if (X509_check_private_key(x, pkey) != 1) {
        result = queue_says_nomem() ? -ENOMEM : MPSSL_EKEY_MISMATCH;
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return result;
}

/* ------------------------------------------------------------------------ */
/* Context building                                                         */
/* ------------------------------------------------------------------------ */

/* Writes the library's reason for the last failure into why; returns the
 * result ctx_build should give. */
static int build_failure(char *why, size_t why_cap, const char *what) {
    queue_verdict q = drain_error_queue();
    const char *reason = q.code ? ERR_reason_error_string(q.code) : NULL;

    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s%s%s%s", what, reason ? " (" : "",
                 reason ? reason : "", reason ? ")" : "");
    if (q.malloc_failed)
        return -ENOMEM;
    switch (q.reason) {
    case SSL_R_EE_KEY_TOO_SMALL:
    case SSL_R_CA_KEY_TOO_SMALL:
    case SSL_R_CA_MD_TOO_WEAK:
        return MPSSL_ERR_UNSUPPORTED; /* the library's security level */
    default:
        return MPSSL_ERR_INTERNAL;
    }
}

static int set_versions(SSL_CTX *ctx, const mpssl_config *cfg) {
    int min =
        cfg->min_version == MPSSL_TLS1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    int max =
        cfg->max_version == MPSSL_TLS1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;

    return SSL_CTX_set_min_proto_version(ctx, min) &&
           SSL_CTX_set_max_proto_version(ctx, max);
}

/* Appends name to the ':'-separated list in buf. */
static int append_name(char *buf, size_t cap, size_t *used, const char *name) {
    size_t n = strlen(name) + (*used ? 1 : 0);

    if (*used + n + 1 > cap)
        return 0;
    if (*used)
        buf[(*used)++] = ':';
    strcpy(buf + *used, name);
    *used += strlen(name);
    return 1;
}

/* Counts the suites of one kind (TLS 1.3 or not) the context ended up with,
 * to notice the library silently dropping one we asked for. */
static size_t count_enabled(SSL_CTX *ctx, int tls13) {
    STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
    int i, n = list ? sk_SSL_CIPHER_num(list) : 0;
    size_t count = 0;

    for (i = 0; i < n; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);
        if (is_tls13_suite(c) == tls13)
            count++;
    }
    return count;
}

static int set_suites(SSL_CTX *ctx, const mpssl_config *cfg, char *why,
                      size_t why_cap) {
    char list12[8192], list13[256];
    size_t used12 = 0, used13 = 0, n12 = 0, n13 = 0, i;

    list12[0] = list13[0] = '\0';
    for (i = 0; i < cfg->n_suites; i++) {
        const suite_name *s = find_suite_name(cfg->suites[i]);
        int ok;

        if (s == NULL) {
            snprintf(why, why_cap, "suite 0x%04X unknown to OpenSSL",
                     (unsigned)cfg->suites[i]);
            return MPSSL_ERR_UNSUPPORTED;
        }
        if (s->tls13) {
            ok = append_name(list13, sizeof list13, &used13, s->name);
            n13++;
        } else {
            ok = append_name(list12, sizeof list12, &used12, s->name);
            n12++;
        }
        if (!ok) {
            snprintf(why, why_cap, "suite list too long");
            return MPSSL_ERR_INTERNAL;
        }
    }
    /* An empty TLS 1.2 string is an error in OpenSSL; min_version is 1.3
     * then, so the default 1.2 list is never used. */
    if (n12 > 0 && !SSL_CTX_set_cipher_list(ctx, list12))
        return build_failure(why, why_cap, "TLS 1.2 suites refused");
    if (!SSL_CTX_set_ciphersuites(ctx, list13))
        return build_failure(why, why_cap, "TLS 1.3 suites refused");
    if ((n12 > 0 && count_enabled(ctx, 0) != n12) ||
        count_enabled(ctx, 1) != n13) {
        snprintf(why, why_cap, "OpenSSL dropped a requested suite");
        return MPSSL_ERR_UNSUPPORTED;
    }
    return 0;
}

static int add_cas(SSL_CTX *ctx, const mpssl_config *cfg, int is_server,
                   char *why, size_t why_cap) {
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    size_t i;

    for (i = 0; i < cfg->n_cas; i++) {
        X509 *x = parse_cert(&cfg->cas[i]);
        int ok;

        if (x == NULL)
            return build_failure(why, why_cap, "CA certificate refused");
        ok = X509_STORE_add_cert(store, x);
        /* The names go into CertificateRequest, for clients that pick a
         * certificate by issuer. */
        if (ok && is_server && cfg->verify_mode != MPSSL_CERT_NONE)
            ok = SSL_CTX_add_client_CA(ctx, x);
        X509_free(x);
        if (!ok)
            return build_failure(why, why_cap, "CA certificate refused");
    }
    return 0;
}

static int use_own_chain(SSL_CTX *ctx, const mpssl_config *cfg, char *why,
                         size_t why_cap) {
    EVP_PKEY *pkey;
    size_t i;
    int ok;

    if (cfg->n_chain == 0)
        return 0;
    for (i = 0; i < cfg->n_chain; i++) {
        X509 *x = parse_cert(&cfg->chain[i]);

        if (x == NULL)
            return build_failure(why, why_cap, "certificate refused");
        ok = i == 0 ? SSL_CTX_use_certificate(ctx, x)
                    : SSL_CTX_add1_chain_cert(ctx, x);
        X509_free(x);
        if (!ok)
            return build_failure(why, why_cap, "certificate refused");
    }
    pkey = parse_key(&cfg->key, cfg->key_type);
    if (pkey == NULL)
        return build_failure(why, why_cap, "private key refused");
    ok = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    if (!ok || !SSL_CTX_check_private_key(ctx))
        return build_failure(why, why_cap, "private key refused");
    return 0;
}

static int library_verify_mode(const mpssl_config *cfg, int is_server) {
    if (cfg->verify_mode == MPSSL_CERT_NONE)
        return SSL_VERIFY_NONE;
    if (is_server && cfg->verify_mode == MPSSL_CERT_REQUIRED)
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    return SSL_VERIFY_PEER;
}

static int configure(SSL_CTX *ctx, const mpssl_config *cfg, int is_server,
                     char *why, size_t why_cap) {
    int rc;

    if (!set_versions(ctx, cfg))
        return build_failure(why, why_cap, "protocol versions refused");
    /* IGNORE_UNEXPECTED_EOF: without it OpenSSL answers a transport EOF by
     * sending a decode_error alert into the dead stream; with it the EOF
     * reads as SSL_ERROR_ZERO_RETURN and our BIO's EOF flag tells it from
     * a real close_notify. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_TICKET |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* We offer no resumption: no cache, no tickets (and so no TLS 1.3
     * post-handshake ticket traffic from our servers). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (is_server) {
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_dh_auto(ctx, 1); /* else DHE suites are never chosen */
    }
    rc = set_suites(ctx, cfg, why, why_cap);
    if (rc == 0)
        rc = add_cas(ctx, cfg, is_server, why, why_cap);
    if (rc == 0)
        rc = use_own_chain(ctx, cfg, why, why_cap);
    if (rc != 0)
        return rc;
    SSL_CTX_set_verify(ctx, library_verify_mode(cfg, is_server), NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_peer_chain, NULL);
    return 0;
}

static int ossl_ctx_build(const mpssl_config *cfg, void **native, char *why,
                          size_t why_cap) {
    int is_server = cfg->protocol == MPSSL_PROTOCOL_TLS_SERVER;
    SSL_CTX *ctx;
    int rc;

    ERR_clear_error();
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL)
        return build_failure(why, why_cap, "SSL_CTX_new failed");
    rc = configure(ctx, cfg, is_server, why, why_cap);
    ERR_clear_error();
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *native = ctx;
    return 0;
}

static void ossl_ctx_free(void *native) {
    SSL_CTX_free(native);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void ossl_conn_free(void *bconn) {
    ossl_conn *c = bconn;

    if (c == NULL)
        return;
    SSL_free(c->ssl); /* frees the BIO too */
    OPENSSL_free(c->peer_der);
    mpssl_free(c);
}

static int ossl_conn_new(void *native, mpssl_conn *core, const char *sni,
                         void **bconn) {
    ossl_conn *c = mpssl_alloc(sizeof *c);
    BIO *bio;

    if (c == NULL)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->core = core;
    ERR_clear_error();
    c->ssl = SSL_new(native);
    if (c->ssl == NULL)
        goto fail;
    SSL_set_app_data(c->ssl, c);
    bio = BIO_new(transport_method);
    if (bio == NULL)
        goto fail;
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL */
    if (sni != NULL && !SSL_set_tlsext_host_name(c->ssl, sni))
        goto fail;
    if (mpssl_core_protocol(core) == MPSSL_PROTOCOL_TLS_SERVER)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    *bconn = c;
    return 0;

fail : {
    int nomem = queue_says_nomem();
    ossl_conn_free(c);
    return nomem ? -ENOMEM : MPSSL_ERR_INTERNAL;
}
}

/* Keeps the peer's leaf as DER for peer_cert() (which is const). */
static int cache_peer_cert(ossl_conn *c) {
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    unsigned char *der = NULL;
    int len;

    if (peer == NULL)
        return 0;
    len = i2d_X509(peer, &der);
    if (len <= 0) {
        queue_verdict q = drain_error_queue();
        return mpssl_core_fail(c->core, MPSSL_FAIL_NOMEM, 0, (long)q.code,
                               "encoding the peer certificate");
    }
    c->peer_der = der;
    c->peer_der_len = (size_t)len;
    return 0;
}

static int ossl_handshake(void *bconn) {
    ossl_conn *c = bconn;
    int ret;

    if (c->handshake_done)
        return MPSSL_R_DONE;
    ERR_clear_error();
    ret = SSL_do_handshake(c->ssl);
    if (ret != 1)
        return step_result(c, ret, EOF_IS_FAILURE);
    c->handshake_done = 1;
    return cache_peer_cert(c) == 0 ? MPSSL_R_DONE : MPSSL_R_FAIL;
}

static long ossl_read(void *bconn, uint8_t *buf, size_t len) {
    ossl_conn *c = bconn;
    size_t got = 0;

    ERR_clear_error();
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (long)got;
    return step_result(c, 0, EOF_IS_RESULT);
}

static long ossl_write(void *bconn, const uint8_t *buf, size_t len) {
    ossl_conn *c = bconn;
    size_t put = 0;

    ERR_clear_error();
    if (SSL_write_ex(c->ssl, buf, len, &put) == 1)
        return (long)put;
    return step_result(c, 0, EOF_IS_FAILURE);
}

static size_t ossl_pending(const void *bconn) {
    const ossl_conn *c = bconn;
    int n = SSL_pending(c->ssl);

    return n > 0 ? (size_t)n : 0;
}

static int ossl_close_notify(void *bconn) {
    ossl_conn *c = bconn;
    int ret;

    ERR_clear_error();
    ret = SSL_shutdown(c->ssl);
    if (ret >= 0)
        return MPSSL_R_DONE; /* 0 or 1: close_notify handed to the core */
    ret = step_result(c, ret, EOF_IS_FAILURE);
    /* The core sends the alert itself later if it was merely queued. */
    return ret == MPSSL_R_WANT_READ || ret == MPSSL_R_WANT_WRITE ? MPSSL_R_DONE
                                                                 : ret;
}

static int ossl_peer_cert(const void *bconn, const uint8_t **der, size_t *len) {
    const ossl_conn *c = bconn;

    if (c->peer_der == NULL)
        return -1;
    *der = c->peer_der;
    *len = c->peer_der_len;
    return 0;
}

static int ossl_negotiated(const void *bconn, uint16_t *suite_id,
                           int *version) {
    const ossl_conn *c = bconn;
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);

    if (!c->handshake_done || cipher == NULL)
        return -1;
    switch (SSL_version(c->ssl)) {
    case TLS1_2_VERSION:
        *version = MPSSL_TLS1_2;
        break;
    case TLS1_3_VERSION:
        *version = MPSSL_TLS1_3;
        break;
    default:
        return -1;
    }
    *suite_id = SSL_CIPHER_get_protocol_id(cipher);
    return 0;
}

const mpssl_backend mpssl_backend_impl = {
    .name = "openssl",
    .caps = MPSSL_CAP_TLS13 | MPSSL_CAP_EXACT_SUITES |
            MPSSL_CAP_CLIENT_CERT_OPTIONAL | MPSSL_CAP_THREADS,
    .version = ossl_version,
    .global_init = ossl_global_init,
    .global_deinit = ossl_global_deinit,
    .supported_suites = ossl_supported_suites,
    .check_key = ossl_check_key,
    .ctx_build = ossl_ctx_build,
    .ctx_free = ossl_ctx_free,
    .conn_new = ossl_conn_new,
    .conn_free = ossl_conn_free,
    .handshake = ossl_handshake,
    .read = ossl_read,
    .write = ossl_write,
    .pending = ossl_pending,
    .close_notify = ossl_close_notify,
    .peer_cert = ossl_peer_cert,
    .negotiated = ossl_negotiated,
};
