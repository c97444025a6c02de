/*
 * mpssl.h - the public C API of the mpssl core.
 *
 * This header is the contract between a port (CPython, MicroPython, ...) and
 * the backend-neutral core.  It includes no TLS library header and no
 * interpreter header.  Everything here behaves identically whichever backend
 * (mbedTLS, OpenSSL, GnuTLS, BearSSL) was chosen at build time.
 *
 * Conventions
 * -----------
 * - Functions return an int (or long) result: 0 or a positive count on
 *   success, a negative code on failure.  Negative codes live in disjoint
 *   ranges so a port can map them to exceptions with mpssl_result_class():
 *     [-MPSSL_ERRNO_MAX, -1]  -errno from the transport or the allocator
 *                             (-ENOMEM, -ECONNRESET, -ETIMEDOUT, ...)
 *     MPSSL_ERR_*             stable TLS failure codes (OSError(code, msg))
 *     MPSSL_WANT_*            non-blocking "try again when ready"
 *     MPSSL_E*                argument/value errors (ValueError)
 * - Memory: the core allocates through the platform allocator
 *   (mpssl_set_allocator).  Objects are created by *_new and released by the
 *   matching *_free / *_unref; nothing is released behind the caller's back.
 * - Threads: a context may be shared by many connections, also across
 *   threads, once configured.  The caller serialises changes to one context,
 *   the creation and release of its connections and references
 *   (mpssl_conn_new compiles the context lazily; reference counts are plain
 *   integers), and all calls on one connection.  Established connections
 *   then run in parallel threads where the backend has MPSSL_CAP_THREADS.
 *   Ports do this with their interpreter lock or a per-object guard.
 */
#ifndef MPSSL_H
#define MPSSL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Constants shared with the Python-level module                            */
/* ------------------------------------------------------------------------ */

#define MPSSL_PROTOCOL_TLS_CLIENT 0
#define MPSSL_PROTOCOL_TLS_SERVER 1

#define MPSSL_CERT_NONE 0
#define MPSSL_CERT_OPTIONAL 1
#define MPSSL_CERT_REQUIRED 2

/* Wire versions, as in the protocol. */
#define MPSSL_TLS1_2 0x0303
#define MPSSL_TLS1_3 0x0304

/* Poll events (the same bit values as MicroPython's MP_STREAM_POLL_*). */
#define MPSSL_POLL_RD 0x01u
#define MPSSL_POLL_WR 0x04u
#define MPSSL_POLL_ERR 0x08u
#define MPSSL_POLL_HUP 0x10u
#define MPSSL_POLL_NVAL 0x20u

/* ------------------------------------------------------------------------ */
/* Result codes                                                             */
/* ------------------------------------------------------------------------ */

/* Results in [-MPSSL_ERRNO_MAX, -1] are -errno. */
#define MPSSL_ERRNO_MAX 1000

/*
 * Stable TLS failure codes.  Ports raise OSError(code, message) with these;
 * they are exported as module constants under the names given by
 * mpssl_error_name() (e.g. "ERR_CERT_UNTRUSTED").  The same failure gives
 * the same code on every backend.  Values never change between releases.
 */
#define MPSSL_ERR_CERT_UNTRUSTED -1001 /* no path to a trusted CA */
#define MPSSL_ERR_CERT_EXPIRED -1002   /* a certificate's notAfter passed */
#define MPSSL_ERR_CERT_NOT_YET_VALID                                           \
    -1003                                 /* a certificate's notBefore ahead   \
                                           */
#define MPSSL_ERR_HOSTNAME_MISMATCH -1004 /* leaf does not name the server */
#define MPSSL_ERR_NO_PEER_CERT -1005      /* peer sent no certificate */
#define MPSSL_ERR_CERT_INVALID -1006      /* any other certificate failure */
#define MPSSL_ERR_PEER_ALERT -1007        /* the peer sent a fatal alert */
#define MPSSL_ERR_PROTOCOL -1008          /* handshake or record protocol */
#define MPSSL_ERR_NO_SHARED_CIPHER -1009  /* no common suite or version */
#define MPSSL_ERR_HANDSHAKE_EOF -1010     /* end of stream in the handshake */
#define MPSSL_ERR_CLOSED -1011            /* operation on a closed socket */
#define MPSSL_ERR_UNSUPPORTED -1012       /* backend lacks the feature */
#define MPSSL_ERR_CIPHER_LIST -1013       /* set_ciphers: bad suite list */
#define MPSSL_ERR_INTERNAL -1014          /* library failure, no better kind */
#define MPSSL_ERR_FIRST MPSSL_ERR_CERT_UNTRUSTED
#define MPSSL_ERR_LAST MPSSL_ERR_INTERNAL

/* Non-blocking: the operation can make progress once the transport is
 * readable (WANT_READ) or writable (WANT_WRITE). */
#define MPSSL_WANT_READ -1101
#define MPSSL_WANT_WRITE -1102

/* Argument and value errors: ports raise ValueError with mpssl_strerror(). */
#define MPSSL_EINVALID_CERT -1201  /* "invalid cert" */
#define MPSSL_EINVALID_KEY -1202   /* "invalid key" */
#define MPSSL_EENCRYPTED_KEY -1203 /* encrypted private keys unsupported */
#define MPSSL_EKEY_MISMATCH -1204  /* key does not match the certificate */
#define MPSSL_EINVAL -1205         /* a value out of its range */
#define MPSSL_ENEED_HOSTNAME                                                   \
    -1206 /* CERT_REQUIRED requires server_hostname                            \
           */
#define MPSSL_EROLE_MISMATCH                                                   \
    -1207                         /* server_side disagrees with the context    \
                                   */
#define MPSSL_EBAD_HOSTNAME -1208 /* server_hostname empty or malformed */

/* The class of a negative result, for mapping to exceptions. */
typedef enum mpssl_result_class {
    MPSSL_CLASS_OK = 0, /* result >= 0 */
    MPSSL_CLASS_ERRNO,  /* OSError(-result) */
    MPSSL_CLASS_TLS,    /* OSError(result, message) */
    MPSSL_CLASS_WANT,   /* would block: None at the Python level */
    MPSSL_CLASS_VALUE,  /* ValueError(message) */
} mpssl_result_class;

mpssl_result_class mpssl_result_class_of(long result);

/* 1 for the transport results that leave a connection usable: -ETIMEDOUT
 * (the port's deadline passed) and -EINTR (the port was interrupted, e.g.
 * by an interpreter exception).  Nothing is lost; the operation may be
 * called again.  Every other negative errno is a sticky failure. */
int mpssl_result_is_transient(long result);

/* Plain-English text for a code (TLS, value or WANT class); never NULL. */
const char *mpssl_strerror(int code);

/* The constant name of a TLS code ("ERR_CERT_UNTRUSTED"), NULL otherwise.
 * Ports export every code from MPSSL_ERR_FIRST down to MPSSL_ERR_LAST. */
const char *mpssl_error_name(int code);

/* ------------------------------------------------------------------------ */
/* Platform hooks                                                           */
/* ------------------------------------------------------------------------ */

/*
 * The allocator used for every core allocation (and by backends whose
 * library allows it).  Defaults to malloc/realloc/free.  Set it once, before
 * mpssl_init(); free(NULL) must be a no-op.
 */
typedef struct mpssl_allocator {
    void *(*alloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} mpssl_allocator;
void mpssl_set_allocator(const mpssl_allocator *allocator);

/*
 * Entropy and wall-clock time for libraries that cannot get them from the
 * OS (mbedTLS and BearSSL on bare metal).  NULL members mean "use the OS".
 * entropy: fill buf with len unpredictable bytes, 0 on success.
 * unix_time: seconds since 1970-01-01T00:00:00Z.
 */
typedef struct mpssl_platform {
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);
    void *entropy_ctx;
    int64_t (*unix_time)(void);
} mpssl_platform;
void mpssl_set_platform(const mpssl_platform *platform);

/* ------------------------------------------------------------------------ */
/* The library                                                              */
/* ------------------------------------------------------------------------ */

/* Capability bits of the configured backend. */
#define MPSSL_CAP_TLS13 0x0001u        /* can negotiate TLS 1.3 */
#define MPSSL_CAP_EXACT_SUITES 0x0002u /* restricts to exactly the list */
#define MPSSL_CAP_CLIENT_CERT_OPTIONAL 0x0004u /* server CERT_OPTIONAL */
/* Connections (even of one context) may run in parallel threads, one thread
 * per connection at a time.  Without it a port must serialise every call
 * into connections (e.g. keep its interpreter lock during crypto): the
 * library shares unlocked state (mbedTLS built without MBEDTLS_THREADING_C). */
#define MPSSL_CAP_THREADS 0x0008u

/* Reference-counted global initialisation: call once per user (a port's
 * module init); 0 or -ENOMEM / MPSSL_ERR_INTERNAL.  mpssl_deinit() undoes
 * one call. */
int mpssl_init(void);
void mpssl_deinit(void);

const char *mpssl_backend_name(void);    /* "openssl", "mbedtls", ... */
const char *mpssl_backend_version(void); /* the library's own version text */
unsigned mpssl_backend_caps(void);

/* ------------------------------------------------------------------------ */
/* Cipher suites (IANA names, 16-bit ids)                                   */
/* ------------------------------------------------------------------------ */

/* The IANA name of a suite id known to the core's table, else NULL. */
const char *mpssl_suite_name(uint16_t id);

/* Looks up an IANA name or the reference's mbedTLS-style alias
 * ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"); name need not be
 * NUL-terminated.  0 and *id on success, MPSSL_ERR_CIPHER_LIST if unknown. */
int mpssl_suite_lookup(const char *name, size_t len, uint16_t *id);

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct mpssl_ctx mpssl_ctx;

/*
 * Creates a context for one role (MPSSL_PROTOCOL_TLS_CLIENT/SERVER) with the
 * contract's defaults: verify mode CERT_REQUIRED for a client, CERT_NONE for
 * a server; no CA, no own certificate; the secure default suite list.
 * Results: 0 and *out (reference count 1), MPSSL_EINVAL for another role,
 * -ENOMEM.
 */
int mpssl_ctx_new(int protocol, mpssl_ctx **out);
void mpssl_ctx_ref(mpssl_ctx *ctx);
void mpssl_ctx_unref(mpssl_ctx *ctx); /* frees at zero; NULL is a no-op */

int mpssl_ctx_protocol(const mpssl_ctx *ctx);

/* 0, or MPSSL_EINVAL for a mode other than MPSSL_CERT_*. */
int mpssl_ctx_set_verify_mode(mpssl_ctx *ctx, int mode);
int mpssl_ctx_verify_mode(const mpssl_ctx *ctx);

/*
 * Own certificate chain and private key, PEM or DER (sniffed).  A PEM cert
 * may hold the leaf followed by intermediates.  The data is copied.  The key
 * is checked against the leaf here.  Replaces any earlier chain.
 * Results: 0, MPSSL_EINVALID_CERT, MPSSL_EINVALID_KEY, MPSSL_EENCRYPTED_KEY,
 * MPSSL_EKEY_MISMATCH, -ENOMEM.  On failure the context is unchanged.
 */
int mpssl_ctx_load_cert_chain(mpssl_ctx *ctx, const uint8_t *cert,
                              size_t cert_len, const uint8_t *key,
                              size_t key_len);

/*
 * Adds trusted CA certificates: PEM with one or more CERTIFICATE blocks, or
 * one or more concatenated DER certificates.  Certificates accumulate.
 * Results: 0, MPSSL_EINVALID_CERT (nothing from this call is added), -ENOMEM.
 */
int mpssl_ctx_load_verify_data(mpssl_ctx *ctx, const uint8_t *data, size_t len);
size_t mpssl_ctx_ca_count(const mpssl_ctx *ctx);

/* Why the backend last refused to compile this context's configuration
 * (the reason behind an MPSSL_ERR_* from mpssl_conn_new), "" if it never
 * did.  Owned by the context. */
const char *mpssl_ctx_build_error(const mpssl_ctx *ctx);

/* The enabled suites in preference order; the array is owned by the
 * context and valid until the next change to it. */
size_t mpssl_ctx_suites(const mpssl_ctx *ctx, const uint16_t **ids);

/*
 * Replaces the enabled suites with exactly ids[0..n) in that order.
 * Results: 0; MPSSL_ERR_CIPHER_LIST when the list is empty or when ids[i] is
 * unknown, forbidden by policy (NULL/anon/export/RC4/3DES/PSK) or not
 * negotiable by this backend, in which case *bad_index = i (SIZE_MAX for an
 * empty list) and the context is unchanged; -ENOMEM.  A list without
 * TLS 1.3 suites disables TLS 1.3; one without TLS 1.2 suites disables 1.2.
 */
int mpssl_ctx_set_suites(mpssl_ctx *ctx, const uint16_t *ids, size_t n,
                         size_t *bad_index);

/* Why mpssl_ctx_set_suites refused ids[*bad_index]: "unknown",
 * "forbidden", "unsupported by this backend" (for messages). */
const char *mpssl_suite_refusal(const mpssl_ctx *ctx, uint16_t id);

/* ------------------------------------------------------------------------ */
/* Transport                                                                */
/* ------------------------------------------------------------------------ */

/* A transport's "would block" (distinct from every -errno). */
#define MPSSL_IO_WOULD_BLOCK -1100

/*
 * The byte stream a connection runs over, provided by the port.  The core
 * never sees a file descriptor.  The struct is copied by mpssl_conn_new;
 * `user` must stay valid until mpssl_conn_free.
 *
 * recv: read up to len bytes.  Returns >0 bytes, 0 at end of stream,
 *       MPSSL_IO_WOULD_BLOCK, or -errno.
 * send: write up to len bytes.  Returns >0 bytes written,
 *       MPSSL_IO_WOULD_BLOCK, or -errno.  Never 0 for len > 0.
 * wait: block until the stream is ready for `events` (MPSSL_POLL_RD and/or
 *       MPSSL_POLL_WR).  Returns 0 when ready (or possibly ready), -ETIMEDOUT
 *       when the port's deadline passed, or another -errno (a port may
 *       return -EINTR after it raised an interpreter exception).  May be
 *       NULL: the stream cannot be waited on, and the core reports WANT_*
 *       even on a blocking connection.  Must not spin.
 */
typedef struct mpssl_transport {
    void *user;
    long (*recv)(void *user, uint8_t *buf, size_t len);
    long (*send)(void *user, const uint8_t *buf, size_t len);
    int (*wait)(void *user, unsigned events);
} mpssl_transport;

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

typedef struct mpssl_conn mpssl_conn;

/*
 * Creates a connection of the context's role over `transport`.  The
 * connection takes a reference on the context and uses the context's
 * configuration as it is now; later changes to the context never affect it.
 * server_hostname (client only, may be NULL): a DNS name is sent as SNI and
 * matched against the peer certificate; an IPv4/IPv6 literal is not sent and
 * is matched against IP-address SANs only.
 * No I/O happens here.
 * Results: 0 and *out; MPSSL_ENEED_HOSTNAME (client, CERT_REQUIRED, no
 * hostname); MPSSL_EBAD_HOSTNAME; -ENOMEM; MPSSL_ERR_* when the backend
 * cannot build the configuration (mpssl_ctx_build_error says why).
 */
int mpssl_conn_new(mpssl_ctx *ctx, const mpssl_transport *transport,
                   const char *server_hostname, mpssl_conn **out);

/*
 * Blocking connections wait on the transport (transport->wait) in the
 * direction the TLS layer needs and never return WANT_*; non-blocking ones
 * return MPSSL_WANT_READ/WRITE.  Default: blocking.
 */
void mpssl_conn_set_blocking(mpssl_conn *conn, int blocking);
int mpssl_conn_blocking(const mpssl_conn *conn);

/*
 * Drives the handshake.  Results: 0 when complete (also on later calls),
 * MPSSL_WANT_*, a TLS code or -errno (sticky: every later call on the
 * connection returns the same failure).  A peer that sends more than
 * MPSSL_MAX_HANDSHAKE_INPUT bytes before the handshake completes fails it
 * with MPSSL_ERR_PROTOCOL: this bounds what a hostile peer can make any
 * library buffer (GnuTLS would take a 16 MiB message it merely announces).
 */
#define MPSSL_MAX_HANDSHAKE_INPUT (128u * 1024u)
int mpssl_conn_handshake(mpssl_conn *conn);
int mpssl_conn_handshake_done(const mpssl_conn *conn);

/*
 * Reads plaintext, completing the handshake first if needed.  Returns as
 * soon as at least one byte is available: >0 bytes, 0 at end of stream
 * (close_notify, or transport EOF after the handshake), MPSSL_WANT_*, or a
 * sticky failure.  Renegotiation requests are refused; TLS 1.3
 * post-handshake messages are absorbed.
 */
long mpssl_conn_read(mpssl_conn *conn, uint8_t *buf, size_t len);

/*
 * Writes plaintext, completing the handshake first if needed.  Blocking:
 * writes all len bytes.  Non-blocking: >0 bytes written (possibly fewer than
 * len), or MPSSL_WANT_*.  Failures are sticky.
 * A call that ends in MPSSL_WANT_WRITE, -ETIMEDOUT or -EINTR may have
 * encrypted a record already: it is sent exactly once, before anything else.
 * The next call is credited with those bytes when its data starts with them
 * (a retry with the same data: no duplicate); a call with other data is not
 * (the caller moved on: nothing it writes is lost).
 */
long mpssl_conn_write(mpssl_conn *conn, const uint8_t *buf, size_t len);

/* Decrypted plaintext buffered and readable without transport I/O. */
size_t mpssl_conn_pending(const mpssl_conn *conn);

/*
 * Readiness without blocking.  `requested` holds MPSSL_POLL_RD/WR.  Returns
 * the events ready now (RD when plaintext is buffered or the stream ended;
 * NVAL after close or a fatal error) and sets *transport_events to the
 * events the port should poll the transport for to serve the request: a read
 * may need the transport writable and a write may need it readable.  When
 * the return value is non-zero, *transport_events may be 0.
 */
unsigned mpssl_conn_poll(const mpssl_conn *conn, unsigned requested,
                         unsigned *transport_events);

/*
 * Closes the TLS session: sends close_notify once if the handshake
 * completed (a single non-blocking attempt), then releases the backend's
 * state.  Idempotent.  The transport is not closed: that is the port's job,
 * exactly once.  Afterwards I/O returns MPSSL_ERR_CLOSED.
 */
void mpssl_conn_close(mpssl_conn *conn);
int mpssl_conn_closed(const mpssl_conn *conn);

/* Closes (if needed) and frees the connection; NULL is a no-op. */
void mpssl_conn_free(mpssl_conn *conn);

/*
 * Negotiated parameters after the handshake: 0 with *suite_id and *version
 * (MPSSL_TLS1_2/1_3), or MPSSL_ERR_CLOSED / MPSSL_WANT_READ when closed or
 * not yet negotiated.
 */
int mpssl_conn_cipher(const mpssl_conn *conn, uint16_t *suite_id, int *version);

/* The peer's leaf certificate (DER), owned by the connection and valid
 * until close: 0 and the data, or -1 when the peer sent none or the
 * connection is closed. */
int mpssl_conn_peer_cert(const mpssl_conn *conn, const uint8_t **der,
                         size_t *len);

/*
 * The verification verdict: MPSSL_VERIFY_NOT_DONE when no check ran
 * (CERT_NONE, no handshake yet), 0 when the peer passed, otherwise the
 * MPSSL_ERR_* code the check produced (recorded under CERT_OPTIONAL).
 */
#define MPSSL_VERIFY_NOT_DONE 1
int mpssl_conn_verify_result(const mpssl_conn *conn);

/*
 * The sticky failure (0 if none) and its message: the code's text plus
 * detail such as the alert name or the library's reason in parentheses.
 * Writes a NUL-terminated string of at most cap bytes.
 */
int mpssl_conn_error(const mpssl_conn *conn, char *msg, size_t cap);

/* The role the connection plays (MPSSL_PROTOCOL_TLS_CLIENT/SERVER). */
int mpssl_conn_protocol(const mpssl_conn *conn);

/* ------------------------------------------------------------------------ */
/* X.509 (for getpeercert's dict; the core's own DER reader)                */
/* ------------------------------------------------------------------------ */

typedef struct mpssl_blob {
    const uint8_t *data;
    size_t len;
} mpssl_blob;

typedef struct mpssl_x509_time {
    int year, month, day, hour, minute, second; /* UTC */
} mpssl_x509_time;

typedef struct mpssl_x509 {
    int version;        /* 1, 2 or 3 */
    mpssl_blob serial;  /* big-endian magnitude bytes of the INTEGER */
    mpssl_blob issuer;  /* DER of the Name, tag included */
    mpssl_blob subject; /* DER of the Name, tag included */
    mpssl_x509_time not_before, not_after;
    mpssl_blob san;         /* DER of the GeneralNames; len 0 if absent */
    mpssl_blob spki;        /* DER of SubjectPublicKeyInfo */
    mpssl_blob tbs;         /* DER of TBSCertificate */
    mpssl_blob sig_alg_oid; /* content bytes of the signature OID */
    int is_ca;              /* basicConstraints cA (0 if absent) */
    int path_len;           /* pathLenConstraint, -1 if absent */
    unsigned eku;           /* MPSSL_EKU_* from extendedKeyUsage */
} mpssl_x509;

/* extendedKeyUsage purposes the core tells apart (others are ignored). */
#define MPSSL_EKU_PRESENT 0x1u     /* the extension is there at all */
#define MPSSL_EKU_SERVER_AUTH 0x2u /* id-kp-serverAuth */
#define MPSSL_EKU_CLIENT_AUTH 0x4u /* id-kp-clientAuth */
#define MPSSL_EKU_ANY 0x8u         /* anyExtendedKeyUsage */

/* Parses a DER certificate; pointers refer into der.  0 or
 * MPSSL_EINVALID_CERT. */
int mpssl_x509_parse(const uint8_t *der, size_t len, mpssl_x509 *out);

/* Whether the certificate may serve as a TLS server's (as_server) or a
 * client's: no extendedKeyUsage, or one naming that purpose or any. */
int mpssl_x509_eku_allows(const mpssl_x509 *cert, int as_server);

/* The smallest RSA key the core accepts in a peer's certificate (112-bit
 * security, as NIST and OpenSSL's default security level 2 require). */
#define MPSSL_MIN_RSA_BITS 2048

/* Whether the certificate relies on broken cryptography: a signature with
 * MD2, MD5 or SHA-1, or an RSA key below MPSSL_MIN_RSA_BITS.  Every backend
 * refuses such a peer leaf through the core's verdict, whatever the library
 * accepts on its own. */
int mpssl_x509_weak(const mpssl_x509 *cert);

/* One attribute of a Name.  attr is the short CPython-style name
 * ("commonName", "organizationName", ...) or the dotted OID text written
 * into oid_buf when unknown; rdn counts RDNs from 0. */
typedef struct mpssl_x509_attr {
    size_t rdn;
    const char *attr;
    char oid_buf[64];
    mpssl_blob value; /* the string's content bytes (UTF-8 or ASCII) */
} mpssl_x509_attr;

/* Iterates a Name's attributes: 1 and *out while there are more, 0 at the
 * end, MPSSL_EINVALID_CERT when malformed.  Start with *pos = 0. */
int mpssl_x509_name_next(const mpssl_blob *name, size_t *pos,
                         mpssl_x509_attr *out);

#define MPSSL_SAN_DNS 2
#define MPSSL_SAN_URI 6
#define MPSSL_SAN_IP 7
#define MPSSL_SAN_EMAIL 1
/* One subjectAltName entry: type is the GeneralName tag number. */
typedef struct mpssl_x509_san {
    int type;
    mpssl_blob value; /* IA5String bytes, or 4/16 address bytes for IP */
} mpssl_x509_san;

/* Iterates GeneralNames like mpssl_x509_name_next. */
int mpssl_x509_san_next(const mpssl_blob *san, size_t *pos,
                        mpssl_x509_san *out);

#ifdef __cplusplus
}
#endif

#endif /* MPSSL_H */
