/*
 * backend.h - the vtable a TLS library backend implements, and the few core
 * services a backend calls back into.
 *
 * A backend file includes its library's headers and this header, nothing
 * from ports/.  It ends with one designated-initializer table:
 *
 *     const mpssl_backend mpssl_backend_impl = { .name = "openssl", ... };
 *
 * Policy is not the backend's business: verify-mode semantics, hostname and
 * IP matching, which suites are allowed, error kinds and messages all live in
 * the core.  A backend receives ids, DER blobs and booleans, and reports
 * neutral results.
 *
 * Everything is non-blocking.  The backend never touches a file descriptor:
 * it reads and writes ciphertext only through mpssl_io_recv() and
 * mpssl_io_send() below.  mpssl_io_send() never blocks and never reports
 * "would block": the core queues what the transport does not take and
 * flushes it itself, so a backend never has to retry a library write with
 * the same arguments because of the transport.
 */
#ifndef MPSSL_BACKEND_H
#define MPSSL_BACKEND_H

#include "mpssl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* What the core hands a backend                                            */
/* ------------------------------------------------------------------------ */

/* Private key encodings (DER), as found by the core's PEM/DER reader. */
typedef enum mpssl_key_type {
    MPSSL_KEY_RSA = 1,   /* PKCS#1 RSAPrivateKey */
    MPSSL_KEY_EC = 2,    /* SEC1 ECPrivateKey */
    MPSSL_KEY_PKCS8 = 3, /* unencrypted PKCS#8 PrivateKeyInfo */
} mpssl_key_type;

/*
 * A context's neutral configuration, as passed to ctx_build.  Everything is
 * owned by the core and valid only during the ctx_build call: a backend
 * copies what it keeps (mbedTLS's suite array, for instance).
 */
typedef struct mpssl_config {
    int protocol;          /* MPSSL_PROTOCOL_TLS_CLIENT / _SERVER */
    int verify_mode;       /* MPSSL_CERT_NONE / _OPTIONAL / _REQUIRED */
    const mpssl_blob *cas; /* trusted CA certificates, DER */
    size_t n_cas;
    const mpssl_blob *chain; /* own chain, DER, leaf first (may be 0) */
    size_t n_chain;
    mpssl_blob key; /* own private key, DER (len 0 if none) */
    mpssl_key_type key_type;
    const uint16_t *suites; /* exactly these suites, preference order */
    size_t n_suites;
    int min_version; /* MPSSL_TLS1_2 or MPSSL_TLS1_3 */
    int max_version; /* MPSSL_TLS1_2 or MPSSL_TLS1_3 */
} mpssl_config;

/*
 * Verification as the library saw it (before the core's own checks), bits
 * for mpssl_core_verdict().  A backend sets every bit that applies.
 */
#define MPSSL_VF_UNTRUSTED                                                     \
    0x01u                      /* no path to a trust anchor; self-signed,      \
                                  incomplete chain, unknown issuer */
#define MPSSL_VF_EXPIRED 0x02u /* some certificate's notAfter passed */
#define MPSSL_VF_NOT_YET_VALID 0x04u /* some certificate's notBefore ahead */
#define MPSSL_VF_OTHER                                                         \
    0x08u /* bad signature, not a CA, path length,                             \
             key usage/EKU, weak key, other */

/* Neutral failure kinds a backend reports with mpssl_core_fail(). */
typedef enum mpssl_fail_kind {
    MPSSL_FAIL_PROTOCOL = 1, /* malformed or unexpected message, bad MAC */
    MPSSL_FAIL_PEER_ALERT,   /* arg = the alert number the peer sent */
    MPSSL_FAIL_NO_SHARED,    /* no common suite, version, group or sigalg */
    MPSSL_FAIL_VERIFY,       /* the library refused the peer's chain on
                                its own; arg = MPSSL_VF_* bits */
    MPSSL_FAIL_NO_PEER_CERT, /* a required peer certificate was not sent */
    MPSSL_FAIL_EOF,          /* transport end of stream in the handshake */
    MPSSL_FAIL_TRANSPORT,    /* mpssl_io_* returned -errno (core has it) */
    MPSSL_FAIL_NOMEM,
    MPSSL_FAIL_UNSUPPORTED, /* asked for something the library cannot do */
    MPSSL_FAIL_CONFIG,      /* the library refused the configuration */
    MPSSL_FAIL_INTERNAL,    /* anything else */
    MPSSL_FAIL_PEER_CLOSED, /* write: the library cannot send after the
                               peer's close_notify (BearSSL); -EPIPE */
} mpssl_fail_kind;

/* ------------------------------------------------------------------------ */
/* Neutral step results                                                     */
/* ------------------------------------------------------------------------ */

/*
 * handshake/read/write/close_notify return one of these (read and write
 * return a positive byte count instead of MPSSL_R_DONE when they move data).
 */
#define MPSSL_R_DONE 0
#define MPSSL_R_WANT_READ MPSSL_WANT_READ   /* call again when readable */
#define MPSSL_R_WANT_WRITE MPSSL_WANT_WRITE /* rare: library-internal */
#define MPSSL_R_CLOSE_NOTIFY -1301          /* read: peer sent close_notify */
#define MPSSL_R_EOF -1302  /* read: transport EOF without close_notify */
#define MPSSL_R_FAIL -1303 /* failure, recorded with mpssl_core_fail() */

/* ------------------------------------------------------------------------ */
/* The vtable                                                               */
/* ------------------------------------------------------------------------ */

typedef struct mpssl_backend {
    const char *name; /* "openssl" | "mbedtls" | "gnutls" | "bearssl" */
    unsigned caps;    /* MPSSL_CAP_* */

    /* The library's version text, static storage. */
    const char *(*version)(void);

    /* Global state, called once by mpssl_init() (reference-counted by the
     * core) and once by the last mpssl_deinit().  0 or MPSSL_ERR_INTERNAL /
     * -ENOMEM.  global_deinit may be NULL. */
    int (*global_init)(void);
    void (*global_deinit)(void);

    /* Writes up to cap suite ids this library can negotiate, in its own
     * preference order, and returns how many there are (may exceed cap).
     * The core intersects them with its table and policy.  Called after
     * global_init. */
    size_t (*supported_suites)(uint16_t *ids, size_t cap);

    /* Checks that key parses and matches the public key of the leaf
     * certificate cert (both DER).  0, MPSSL_EINVALID_KEY,
     * MPSSL_EKEY_MISMATCH, or -ENOMEM. */
    int (*check_key)(const mpssl_blob *key, mpssl_key_type type,
                     const mpssl_blob *cert);

    /* Compiles a configuration into the library's native context.  The
     * result is immutable afterwards and may be shared by many connections
     * (the core reference-counts it and calls ctx_free when the last user
     * is gone).  0 and *native, -ENOMEM, or MPSSL_ERR_INTERNAL /
     * MPSSL_ERR_UNSUPPORTED with a reason written into why[0..why_cap). */
    int (*ctx_build)(const mpssl_config *cfg, void **native, char *why,
                     size_t why_cap);
    void (*ctx_free)(void *native);

    /* Creates a connection on a native context.  core is the handle to
     * pass to the mpssl_io_* and mpssl_core_* services; sni is the name to
     * send (NULL: send none; the core never passes an IP literal).  The
     * backend must not check host names itself: the core does.
     * 0 and *bconn, -ENOMEM, or MPSSL_ERR_INTERNAL. */
    int (*conn_new)(void *native, mpssl_conn *core, const char *sni,
                    void **bconn);
    /* Releases everything conn_new and later steps allocated.  Must not do
     * I/O.  Key material is wiped by the library or here. */
    void (*conn_free)(void *bconn);

    /* One handshake step.  MPSSL_R_DONE when complete, MPSSL_R_WANT_*,
     * or MPSSL_R_FAIL (EOF in the handshake is MPSSL_FAIL_EOF).  During the
     * handshake the backend calls mpssl_core_verdict() exactly once when
     * the peer presents a certificate and the context verifies
     * (verify_mode != CERT_NONE). */
    int (*handshake)(void *bconn);

    /* Plaintext in: >0 bytes, MPSSL_R_WANT_*, MPSSL_R_CLOSE_NOTIFY,
     * MPSSL_R_EOF, MPSSL_R_FAIL.  Only after handshake returned DONE.  A
     * renegotiation request is refused and reading goes on; TLS 1.3 tickets
     * and key updates are absorbed. */
    long (*read)(void *bconn, uint8_t *buf, size_t len);

    /* Plaintext out, len >= 1 and at most 16384: >0 bytes accepted (fully
     * encrypted and handed to mpssl_io_send), MPSSL_R_WANT_*, MPSSL_R_FAIL.
     * Only after handshake returned DONE. */
    long (*write)(void *bconn, const uint8_t *buf, size_t len);

    /* Decrypted plaintext buffered inside the library. */
    size_t (*pending)(const void *bconn);

    /* Queues close_notify (through mpssl_io_send).  MPSSL_R_DONE or
     * MPSSL_R_FAIL; called at most once per connection. */
    int (*close_notify)(void *bconn);

    /* The peer's leaf certificate, DER, owned by bconn: 0 or -1 if none. */
    int (*peer_cert)(const void *bconn, const uint8_t **der, size_t *len);

    /* Negotiated suite id and version (MPSSL_TLS1_2/1_3): 0 or -1. */
    int (*negotiated)(const void *bconn, uint16_t *suite_id, int *version);
} mpssl_backend;

/* The configured backend (the one linked in). */
extern const mpssl_backend mpssl_backend_impl;

/* ------------------------------------------------------------------------ */
/* Core services for backends                                               */
/* ------------------------------------------------------------------------ */

/* Reads ciphertext from the transport: >0, 0 at end of stream,
 * MPSSL_IO_WOULD_BLOCK, or -errno (also recorded by the core). */
long mpssl_io_recv(mpssl_conn *core, uint8_t *buf, size_t len);

/* Hands ciphertext to the core's output queue: returns len, or -errno /
 * -ENOMEM (recorded).  Never blocks and never reports would-block. */
long mpssl_io_send(mpssl_conn *core, const uint8_t *buf, size_t len);

/*
 * The verdict on the peer's certificate.  leaf is the peer's leaf (DER),
 * lib_flags what the library's chain verification found (MPSSL_VF_*).  The
 * core adds its own checks (host name or IP, key and signature policy),
 * records the result and decides from the verify mode.  Returns 1: go on
 * with the handshake; 0: abort it (the core has recorded the failure; make
 * the library send a fatal alert, typically bad_certificate, and return
 * MPSSL_R_FAIL from the step).
 */
int mpssl_core_verdict(mpssl_conn *core, const uint8_t *leaf, size_t len,
                       unsigned lib_flags);

/*
 * Records the failure behind an MPSSL_R_FAIL.  arg: the alert number for
 * MPSSL_FAIL_PEER_ALERT, MPSSL_VF_* for MPSSL_FAIL_VERIFY, else 0.
 * native: the library's own code, detail: its reason text (may be NULL),
 * both for diagnostics only.  A failure the core already recorded (its own
 * verdict, a transport errno) takes precedence.  Returns MPSSL_R_FAIL.
 */
int mpssl_core_fail(mpssl_conn *core, mpssl_fail_kind kind, int arg,
                    long native, const char *detail);

/* The connection's role and verify mode, for backends that decide per
 * connection (BearSSL builds its engine per connection). */
int mpssl_core_protocol(const mpssl_conn *core);
int mpssl_core_verify_mode(const mpssl_conn *core);

/* Fills buf with len unpredictable bytes, from the port's entropy hook if it
 * set one (mpssl_set_platform), else from the OS (getrandom).  0, or -EIO
 * when no entropy is available: a backend must then refuse to build. */
int mpssl_entropy(uint8_t *buf, size_t len);

/* Seconds since 1970-01-01T00:00:00Z, from the port's clock hook if it set
 * one, else the OS clock; -1 if neither knows the time. */
int64_t mpssl_unix_time(void);

/* MPSSL_VF_NOT_YET_VALID or MPSSL_VF_EXPIRED when `now` (Unix seconds) lies
 * outside the DER certificate's validity, else 0 (also when it cannot be
 * read): for libraries with one code for both (BearSSL). */
unsigned mpssl_validity_flags(const uint8_t *der, size_t len, int64_t now);

/* MPSSL_VF_OTHER when the chain as the peer sent it (DER, leaf first) has
 * an issuer that is no CA or whose pathLenConstraint is exceeded, else 0.
 * For libraries that report such a chain only as untrusted (they find no
 * path through it): the contract calls it invalid. */
unsigned mpssl_chain_flags(const mpssl_blob *chain, size_t n);

/* Core allocator (the platform's), for backends that can route their
 * library's allocations through it. */
void *mpssl_alloc(size_t size);
void *mpssl_realloc(void *ptr, size_t size);
void mpssl_free(void *ptr);
/* Zeroes len bytes at ptr in a way the compiler cannot drop, then frees. */
void mpssl_free_secret(void *ptr, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MPSSL_BACKEND_H */
