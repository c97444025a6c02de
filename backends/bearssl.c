/*
 * bearssl.c - the mpssl backend on BearSSL 0.6 (TLS 1.2 only, no heap).
 *
 * BearSSL never allocates and never does I/O.  It is a state machine over
 * caller-owned memory: an engine context plus one I/O buffer, pumped through
 * four windows (br_ssl_engine_current_state): SENDREC (ciphertext to send),
 * RECVREC (room for ciphertext), SENDAPP (room for plaintext), RECVAPP
 * (plaintext to read).  So:
 *
 * - "BearSSL builds per connection".  ctx_build only validates the neutral
 *   configuration and deep-copies it into a bssl_native (trust anchors as
 *   decoded DN + public key, own chain, decoded private key, suite list);
 *   conn_new then builds a br_ssl_client_context or br_ssl_server_context,
 *   an I/O buffer and a certificate checker for each connection, all from
 *   mpssl_alloc, narrowed to TLS 1.2 and exactly the configured suites.
 * - Every step is one pump (see pump()): push whatever ciphertext the engine
 *   produced through mpssl_io_send(), stop when the step's window opens,
 *   else feed the engine from mpssl_io_recv(), else report want-read.  The
 *   pump never spins: a would-block from the transport ends the step.
 * - Certificates go through peer_checker, our own br_x509_class wrapping
 *   BearSSL's x509_minimal: it captures the peer's leaf, turns the minimal
 *   engine's error into MPSSL_VF_* bits, asks the core for the verdict, and
 *   hands BearSSL the leaf's key whenever the core says go on (BearSSL alone
 *   would refuse every chain it cannot validate).  Names are the core's:
 *   x509_minimal never sees the server name, which BearSSL still sends as
 *   SNI.
 * - Entropy and the validation time come from the core's platform hooks
 *   (mpssl_entropy, mpssl_unix_time): small boards have neither /dev/urandom
 *   nor a clock BearSSL could find on its own.
 *
 * Memory per connection (x86-64, default buffer; counted through a counting
 * mpssl allocator over a full handshake): the br_ssl_client_context (3720
 * bytes) or br_ssl_server_context (4128), the I/O buffer
 * MPSSL_BEARSSL_IOBUF_SIZE (33178), bssl_conn with its checker (760), the
 * x509_minimal context only when the connection verifies (3168), the peer's
 * leaf once received (~0.5-1.5 KB), and the core's mpssl_conn (352):
 *   client, CERT_NONE        38.5 KB      client, verifying        41.6 KB
 *   server, no client auth   38.4 KB      server, asking for one   41.6 KB
 * The shared bssl_native (272 bytes + anchors, chain and key) is per
 * context, not per connection.
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

/* ------------------------------------------------------------------------ */
/* Tunables                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The I/O buffer of each connection.  The default, BR_SSL_BUFSIZE_BIDI
 * (33178 bytes), holds a whole incoming record and a whole outgoing one, so
 * the engine can encrypt while unread plaintext is waiting: the core relies
 * on that (a write never waits for the application to read).
 * BR_SSL_BUFSIZE_MONO (half-duplex) is not supported for that reason.  A
 * port short of RAM may define a smaller value, down to
 * BR_SSL_BUFSIZE_INPUT + 597 (17306 bytes): incoming records stay whole
 * (peers may send 16 KiB records), outgoing ones carry at most 512 bytes of
 * plaintext, so write() accepts less per call and bulk transfers slow down.
 * The test suite assumes the default: with the minimum, six of its tests
 * (timing bounds, one record per written line) fail.
 */
#ifndef MPSSL_BEARSSL_IOBUF_SIZE
#define MPSSL_BEARSSL_IOBUF_SIZE BR_SSL_BUFSIZE_BIDI
#endif

/* Fresh entropy injected into each connection's engine. */
#define SEED_LEN 32

/* Certificates the checker buffers to read their validity dates (and the
 * leaf, kept for peer_cert); a longer one fails verification. */
#define MAX_CERT_LEN 32768

/* BearSSL reports no version; this is the release the backend targets. */
#define BEARSSL_VERSION_TEXT "BearSSL 0.6"

/* Alert numbers (RFC 5246, 7.2). */
#define ALERT_HANDSHAKE_FAILURE 40
#define ALERT_BAD_CERTIFICATE 42
#define ALERT_PROTOCOL_VERSION 70
#define ALERT_INAPPROPRIATE_FALLBACK 86
#define ALERT_NO_APPLICATION_PROTOCOL 120

/* BearSSL counts days from 0000-01-01 (proleptic Gregorian); this is
 * 1970-01-01 in that count. */
#define UNIX_EPOCH_DAY 719528u

/* ------------------------------------------------------------------------ */
/* What this backend negotiates                                             */
/* ------------------------------------------------------------------------ */

/*
 * Every TLS 1.2 suite BearSSL 0.6 implements once the engine is configured
 * as in configure_engine(), minus 3DES (forbidden by the core's policy
 * anyway).  BearSSL's own preference order within each key exchange; the
 * core reorders the defaults.  At most BR_MAX_CIPHER_SUITES (48).
 */
static const uint16_t bearssl_suites[] = {
    /* ECDHE_ECDSA */
    0xC02B, 0xC02C, 0xCCA9, 0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF, 0xC023, 0xC024,
    0xC009, 0xC00A,
    /* ECDHE_RSA */
    0xC02F, 0xC030, 0xCCA8, 0xC027, 0xC028, 0xC013, 0xC014,
    /* static ECDH (EC server key; the issuer's key type decides) */
    0xC02D, 0xC02E, 0xC025, 0xC026, 0xC004, 0xC005, 0xC031, 0xC032, 0xC029,
    0xC02A, 0xC00E, 0xC00F,
    /* RSA key transport */
    0x009C, 0x009D, 0xC09C, 0xC09D, 0xC0A0, 0xC0A1, 0x003C, 0x003D, 0x002F,
    0x0035};

#define N_BEARSSL_SUITES (sizeof bearssl_suites / sizeof bearssl_suites[0])

static int bearssl_can_negotiate(uint16_t id) {
    size_t i;

    for (i = 0; i < N_BEARSSL_SUITES; i++) {
        if (bearssl_suites[i] == id)
            return 1;
    }
    return 0;
}

/* The hash functions the engine and the chain validator may use (TLS 1.2
 * needs no MD5). */
static const br_hash_class *hash_class(int id) {
    switch (id) {
    case br_sha1_ID:
        return &br_sha1_vtable;
    case br_sha224_ID:
        return &br_sha224_vtable;
    case br_sha256_ID:
        return &br_sha256_vtable;
    case br_sha384_ID:
        return &br_sha384_vtable;
    case br_sha512_ID:
        return &br_sha512_vtable;
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* The compiled configuration (immutable, shared by connections)            */
/* ------------------------------------------------------------------------ */

/* A decoded private key; every component points into bytes. */
typedef struct bssl_key {
    int type; /* 0 (none), BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
    br_rsa_private_key rsa;
    br_ec_private_key ec;
    unsigned char *bytes;
    size_t len;
} bssl_key;

typedef struct bssl_native {
    int is_server;
    int verify_mode;
    br_x509_trust_anchor *anchors; /* dn.data of each owns its key bytes */
    size_t n_anchors;
    br_x509_certificate *chain; /* own chain, leaf first */
    size_t n_chain;
    unsigned issuer_key_type; /* what signed our leaf (static ECDH) */
    bssl_key key;
    uint16_t suites[N_BEARSSL_SUITES];
    size_t n_suites;
} bssl_native;

/* ------------------------------------------------------------------------ */
/* Per-connection state                                                     */
/* ------------------------------------------------------------------------ */

struct bssl_conn;

/*
 * The X.509 engine BearSSL drives for the peer's chain.  vtable must come
 * first: BearSSL hands every method a pointer to it.
 */
typedef struct peer_checker {
    const br_x509_class *vtable;
    struct bssl_conn *conn;
    br_x509_minimal_context *minimal; /* NULL under CERT_NONE */

    unsigned cert_index; /* position of the certificate being received */
    unsigned char *cert; /* its bytes (NULL when too long to keep) */
    size_t cert_len;     /* its announced length */
    size_t cert_got;     /* bytes received so far */
    unsigned date_flags; /* VF_EXPIRED/NOT_YET_VALID of the first
                            certificate whose dates are off */
    int names_anchor;    /* some certificate is, or is issued by, a trust
                            anchor (by DN) */
    unsigned char *leaf; /* the peer's leaf, for peer_cert() */
    size_t leaf_len;
    int out_of_memory;

    /* The leaf's key when x509_minimal could not vouch for it. */
    int key_is_own;
    br_x509_pkey key;
    unsigned char key_data[BR_X509_BUFSIZE_KEY];
} peer_checker;

/*
 * Where the incoming byte stream is, record by record.  BearSSL answers the
 * peer's close_notify with its own at once; the contract sends ours only at
 * close() (once, never failing a read), so the pump must recognise that
 * answer: it is the record the engine produces right after taking in an
 * alert record once the handshake is over (a fatal alert closes the engine
 * instead, and other warnings produce nothing).
 */
typedef struct record_tracker {
    unsigned char header[5];
    size_t header_got;
    size_t body_left;
    int alert_completed; /* the last pull completed an alert record */
    int not_tls; /* a header that is no TLS record (HTTP, garbage): BearSSL
                    calls it an unsupported version, the others a protocol
                    error, and so do we */
} record_tracker;

typedef struct bssl_conn {
    mpssl_conn *core;
    const bssl_native *native; /* the core keeps it alive meanwhile */
    void *ssl;                 /* br_ssl_client_context or _server_ */
    size_t ssl_size;
    br_ssl_engine_context *eng; /* inside ssl */
    unsigned char *iobuf;
    peer_checker checker;
    int handshake_done;
    int transport_failed; /* mpssl_io_* returned -errno (core has it) */
    int peer_closed;      /* close_notify received; ours waits in SENDREC */
    record_tracker incoming;
    uint16_t suite;
} bssl_conn;

/* ------------------------------------------------------------------------ */
/* Small buffers                                                            */
/* ------------------------------------------------------------------------ */

/* A growing byte buffer for BearSSL's streaming callbacks. */
typedef struct growbuf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} growbuf;

static void growbuf_append(void *ctx, const void *buf, size_t len) {
    growbuf *g = ctx;

    if (g->failed || len == 0)
        return;
    if (g->len + len > g->cap) {
        size_t cap = g->cap ? g->cap : 128;
        unsigned char *data;

        while (cap < g->len + len)
            cap *= 2;
        data = mpssl_realloc(g->data, cap);
        if (data == NULL) {
            g->failed = 1;
            return;
        }
        g->data = data;
        g->cap = cap;
    }
    memcpy(g->data + g->len, buf, len);
    g->len += len;
}

static unsigned char *copy_bytes(const void *src, size_t len) {
    unsigned char *dst = mpssl_alloc(len ? len : 1);

    if (dst != NULL && len > 0)
        memcpy(dst, src, len);
    return dst;
}

/* Writes why into the core's buffer; returns code. */
static int refuse(char *why, size_t why_cap, int code, const char *text) {
    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s", text);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Decoding certificates and keys                                           */
/* ------------------------------------------------------------------------ */

/*
 * Decodes a certificate's public key (and optionally its subject DN) with
 * br_x509_decoder.  The decoder is ~1.2 KB: it lives on the heap, not on a
 * small board's stack.  Returns a BR_ERR_X509_* code, 0 on success, or
 * -ENOMEM; on success *out holds a decoder the caller frees.
 */
static int decode_cert(const unsigned char *der, size_t len, growbuf *dn,
                       br_x509_decoder_context **out) {
    br_x509_decoder_context *dc = mpssl_alloc(sizeof *dc);
    int err;

    if (dc == NULL)
        return -ENOMEM;
    br_x509_decoder_init(dc, dn ? growbuf_append : NULL, dn);
    br_x509_decoder_push(dc, der, len);
    err = br_x509_decoder_last_error(dc);
    if (err == 0 && br_x509_decoder_get_pkey(dc) == NULL)
        err = BR_ERR_X509_UNSUPPORTED;
    if (err == 0 && dn != NULL && dn->failed)
        err = -ENOMEM;
    if (err != 0) {
        mpssl_free(dc);
        return err;
    }
    *out = dc;
    return 0;
}

/* Copies a public key into storage (at least BR_X509_BUFSIZE_KEY bytes, or
 * key_bytes_len() of it) and points *dst at the copy. */
static size_t key_bytes_len(const br_x509_pkey *pk) {
    if (pk->key_type == BR_KEYTYPE_RSA)
        return pk->key.rsa.nlen + pk->key.rsa.elen;
    return pk->key.ec.qlen;
}

static void copy_pkey(br_x509_pkey *dst, const br_x509_pkey *src,
                      unsigned char *storage) {
    *dst = *src;
    if (src->key_type == BR_KEYTYPE_RSA) {
        memcpy(storage, src->key.rsa.n, src->key.rsa.nlen);
        memcpy(storage + src->key.rsa.nlen, src->key.rsa.e, src->key.rsa.elen);
        dst->key.rsa.n = storage;
        dst->key.rsa.e = storage + src->key.rsa.nlen;
    } else {
        memcpy(storage, src->key.ec.q, src->key.ec.qlen);
        dst->key.ec.q = storage;
    }
}

/* Decodes a private key (PKCS#1 RSA, SEC1 EC or PKCS#8 holding either:
 * br_skey_decoder tells them apart itself) into a self-contained copy.
 * 0, MPSSL_EINVALID_KEY or -ENOMEM. */
static int decode_key(const mpssl_blob *der, bssl_key *out) {
    br_skey_decoder_context *kd = mpssl_alloc(sizeof *kd);
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (kd == NULL)
        return -ENOMEM;
    br_skey_decoder_init(kd);
    br_skey_decoder_push(kd, der->data, der->len);
    if (br_skey_decoder_last_error(kd) != 0) {
        rc = MPSSL_EINVALID_KEY;
    } else if (br_skey_decoder_key_type(kd) == BR_KEYTYPE_RSA) {
        const br_rsa_private_key *sk = br_skey_decoder_get_rsa(kd);
        size_t total = sk->plen + sk->qlen + sk->dplen + sk->dqlen + sk->iqlen;
        unsigned char *p = mpssl_alloc(total);

        if (p == NULL) {
            rc = -ENOMEM;
        } else {
            out->type = BR_KEYTYPE_RSA;
            out->bytes = p;
            out->len = total;
            out->rsa = *sk;
#define TAKE(field, flen)                                                      \
    memcpy(p, sk->field, sk->flen);                                            \
    out->rsa.field = p;                                                        \
    p += sk->flen
            TAKE(p, plen);
            TAKE(q, qlen);
            TAKE(dp, dplen);
            TAKE(dq, dqlen);
            TAKE(iq, iqlen);
#undef TAKE
        }
    } else if (br_skey_decoder_key_type(kd) == BR_KEYTYPE_EC) {
        const br_ec_private_key *sk = br_skey_decoder_get_ec(kd);

        out->bytes = copy_bytes(sk->x, sk->xlen);
        if (out->bytes == NULL) {
            rc = -ENOMEM;
        } else {
            out->type = BR_KEYTYPE_EC;
            out->len = sk->xlen;
            out->ec = *sk;
            out->ec.x = out->bytes;
        }
    } else {
        rc = MPSSL_EINVALID_KEY;
    }
    /* The decoder held the key too. */
    mpssl_free_secret(kd, sizeof *kd);
    return rc;
}

static void free_key(bssl_key *key) {
    mpssl_free_secret(key->bytes, key->len);
    memset(key, 0, sizeof *key);
}

/*
 * 1 when an RSA private key belongs to the public key, 0 if not, -ENOMEM.
 * A signature made with the key must verify with the public key: that
 * checks the modulus and the exponent at once.  (BearSSL 0.6's
 * br_rsa_compute_pubexp returns 0 for some valid keys, so the exponent
 * cannot be recomputed.)
 */
static int rsa_key_matches(const br_rsa_private_key *sk,
                           const br_rsa_public_key *pub) {
    static const unsigned char digest[32] = "mpssl: does this key match?";
    unsigned char recovered[sizeof digest];
    size_t sig_len = (sk->n_bitlen + 7) / 8;
    unsigned char *sig = mpssl_alloc(sig_len);
    int same;

    if (sig == NULL)
        return -ENOMEM;
    same = br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256, digest,
                                           sizeof digest, sk, sig) &&
           br_rsa_pkcs1_vrfy_get_default()(sig, sig_len, BR_HASH_OID_SHA256,
                                           sizeof recovered, pub, recovered) &&
           memcmp(recovered, digest, sizeof digest) == 0;
    mpssl_free(sig);
    return same;
}

/* 1 when an EC private key belongs to the public key, else 0. */
static int ec_key_matches(const br_ec_private_key *sk,
                          const br_ec_public_key *pub) {
    unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
    br_ec_public_key computed;
    size_t qlen;

    if (sk->curve != pub->curve)
        return 0;
    qlen = br_ec_compute_pub(br_ec_get_default(), &computed, q, sk);
    return qlen != 0 && qlen == pub->qlen && memcmp(q, pub->q, qlen) == 0;
}

/* 1 when the private key belongs to the public key, 0 if not, -ENOMEM. */
static int key_matches(const bssl_key *key, const br_x509_pkey *pub) {
    if (key->type != pub->key_type)
        return 0;
    if (key->type == BR_KEYTYPE_RSA)
        return rsa_key_matches(&key->rsa, &pub->key.rsa);
    return ec_key_matches(&key->ec, &pub->key.ec);
}

/* ------------------------------------------------------------------------ */
/* The certificate checker (our br_x509_class)                              */
/* ------------------------------------------------------------------------ */

static peer_checker *checker_of(const br_x509_class *const *ctx) {
    return (peer_checker *)(void *)(uintptr_t)ctx;
}

/* x509_minimal's verdict as MPSSL_VF_* bits. */
static unsigned flags_of_x509_error(unsigned err, unsigned date_flags) {
    switch (err) {
    case 0:
        return 0;
    case BR_ERR_X509_EXPIRED: /* either date: our own reading says which */
        return date_flags ? date_flags : MPSSL_VF_EXPIRED;
    case BR_ERR_X509_NOT_TRUSTED: /* no anchor: unknown issuer, self-signed,
                                     incomplete chain */
    case BR_ERR_X509_DN_MISMATCH: /* the next certificate is not the issuer */
        return MPSSL_VF_UNTRUSTED;
    default: /* bad signature, not a CA, key usage, weak key, time unknown,
                unsupported algorithm, malformed */
        return MPSSL_VF_OTHER;
    }
}

static void checker_start_chain(const br_x509_class **ctx,
                                const char *server_name) {
    peer_checker *pc = checker_of(ctx);

    /* The name is the core's to check (DNS and IP, RFC 6125): x509_minimal
     * gets none, so it only checks the chain. */
    (void)server_name;
    pc->cert_index = 0;
    pc->date_flags = 0;
    pc->names_anchor = 0;
    pc->key_is_own = 0;
    mpssl_free(pc->leaf);
    pc->leaf = NULL;
    pc->leaf_len = 0;
    if (pc->minimal != NULL)
        pc->minimal->vtable->start_chain(&pc->minimal->vtable, NULL);
}

static void checker_start_cert(const br_x509_class **ctx, uint32_t length) {
    peer_checker *pc = checker_of(ctx);

    if (pc->minimal != NULL)
        pc->minimal->vtable->start_cert(&pc->minimal->vtable, length);
    mpssl_free(pc->cert);
    pc->cert = NULL;
    pc->cert_len = length;
    pc->cert_got = 0;
    if (length > 0 && length <= MAX_CERT_LEN) {
        pc->cert = mpssl_alloc(length);
        if (pc->cert == NULL)
            pc->out_of_memory = 1;
    }
}

static void checker_append(const br_x509_class **ctx, const unsigned char *buf,
                           size_t len) {
    peer_checker *pc = checker_of(ctx);

    if (pc->minimal != NULL)
        pc->minimal->vtable->append(&pc->minimal->vtable, buf, len);
    if (pc->cert != NULL && pc->cert_got <= pc->cert_len &&
        len <= pc->cert_len - pc->cert_got)
        memcpy(pc->cert + pc->cert_got, buf, len);
    pc->cert_got += len;
}

static int is_anchor_dn(const bssl_native *n, const mpssl_blob *dn) {
    for (size_t i = 0; i < n->n_anchors; i++) {
        if (n->anchors[i].dn.len == dn->len &&
            memcmp(n->anchors[i].dn.data, dn->data, dn->len) == 0)
            return 1;
    }
    return 0;
}

/* Whether the certificate is a trust anchor's, or issued by one, by name
 * alone (no signature is checked: this only decides which of two failures
 * to report, see checker_end_chain). */
static int names_an_anchor(const bssl_native *n, const unsigned char *der,
                           size_t len) {
    mpssl_x509 cert;

    if (mpssl_x509_parse(der, len, &cert) != 0)
        return 0;
    return is_anchor_dn(n, &cert.issuer) || is_anchor_dn(n, &cert.subject);
}

static void checker_end_cert(const br_x509_class **ctx) {
    peer_checker *pc = checker_of(ctx);
    int64_t now = mpssl_unix_time();

    if (pc->minimal != NULL)
        pc->minimal->vtable->end_cert(&pc->minimal->vtable);
    if (pc->cert != NULL && pc->cert_got == pc->cert_len) {
        if (pc->date_flags == 0 && now >= 0)
            /* BearSSL has one code for expired and not yet valid. */
            pc->date_flags = mpssl_validity_flags(pc->cert, pc->cert_len, now);
        if (!pc->names_anchor && pc->conn->native != NULL)
            pc->names_anchor =
                names_an_anchor(pc->conn->native, pc->cert, pc->cert_len);
        if (pc->cert_index == 0) {
            pc->leaf = pc->cert; /* kept for peer_cert() */
            pc->leaf_len = pc->cert_len;
            pc->cert = NULL;
        }
    }
    mpssl_free(pc->cert);
    pc->cert = NULL;
    pc->cert_index++;
}

/* Decodes the leaf's key ourselves, for when x509_minimal did not accept
 * the chain (or did not run) but the handshake goes on. */
static unsigned adopt_leaf_key(peer_checker *pc) {
    br_x509_decoder_context *dc;
    int err = decode_cert(pc->leaf, pc->leaf_len, NULL, &dc);

    if (err == -ENOMEM) {
        pc->out_of_memory = 1;
        return BR_ERR_X509_LIMIT_EXCEEDED;
    }
    if (err != 0)
        return (unsigned)err;
    copy_pkey(&pc->key, br_x509_decoder_get_pkey(dc), pc->key_data);
    pc->key_is_own = 1;
    mpssl_free(dc);
    return 0;
}

static unsigned checker_end_chain(const br_x509_class **ctx) {
    peer_checker *pc = checker_of(ctx);
    unsigned err = 0, flags;

    if (pc->minimal != NULL)
        err = pc->minimal->vtable->end_chain(&pc->minimal->vtable);
    mpssl_free(pc->cert);
    pc->cert = NULL;
    if (pc->out_of_memory)
        return BR_ERR_X509_LIMIT_EXCEEDED;
    if (pc->leaf == NULL) /* longer than MAX_CERT_LEN */
        return BR_ERR_X509_LIMIT_EXCEEDED;
    if (pc->minimal == NULL) /* CERT_NONE: no verdict, per backend.h */
        return adopt_leaf_key(pc);

    flags = flags_of_x509_error(err, pc->date_flags);
    /* x509_minimal stops at the first certificate out of its dates, before
     * it would find the chain untrusted; the other libraries report an
     * untrusted chain as such, whatever its dates.  A chain that names no
     * anchor at all cannot be trusted. */
    if (err == BR_ERR_X509_EXPIRED && !pc->names_anchor)
        flags |= MPSSL_VF_UNTRUSTED;
    /* A refusal must end the handshake: any non-zero code does (the
     * core's recorded verdict names the reason, whatever code this is). */
    if (!mpssl_core_verdict(pc->conn->core, pc->leaf, pc->leaf_len, flags))
        return err ? err : BR_ERR_X509_NOT_TRUSTED;
    /* Go on: with x509_minimal's key when it vouched for it (it then also
     * knows the key usages), else with the leaf's key as decoded. */
    return err == 0 ? 0 : adopt_leaf_key(pc);
}

static const br_x509_pkey *checker_get_pkey(const br_x509_class *const *ctx,
                                            unsigned *usages) {
    peer_checker *pc = checker_of(ctx);

    if (!pc->key_is_own)
        return pc->minimal->vtable->get_pkey(&pc->minimal->vtable, usages);
    /* No usage restriction known: the core accepted the certificate. */
    if (usages != NULL)
        *usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
    return &pc->key;
}

static const br_x509_class peer_checker_vtable = {
    sizeof(peer_checker), checker_start_chain, checker_start_cert,
    checker_append,       checker_end_cert,    checker_end_chain,
    checker_get_pkey,
};

/* The chain validator proper, for a connection that verifies. */
static br_x509_minimal_context *new_minimal(const bssl_native *native) {
    br_x509_minimal_context *xc = mpssl_alloc(sizeof *xc);
    int64_t now = mpssl_unix_time();
    int id;

    if (xc == NULL)
        return NULL;
    br_x509_minimal_init(xc, &br_sha256_vtable, native->anchors,
                         native->n_anchors);
    for (id = br_sha1_ID; id <= br_sha512_ID; id++)
        br_x509_minimal_set_hash(xc, id, hash_class(id));
    br_x509_minimal_set_rsa(xc, br_rsa_pkcs1_vrfy_get_default());
    br_x509_minimal_set_ecdsa(xc, br_ec_get_default(),
                              br_ecdsa_vrfy_asn1_get_default());
    /* Without a time BearSSL falls back to the OS clock where it has one,
     * else fails validation (BR_ERR_X509_TIME_UNKNOWN: VF_OTHER). */
    if (now >= 0)
        br_x509_minimal_set_time(xc, (uint32_t)(now / 86400) + UNIX_EPOCH_DAY,
                                 (uint32_t)(now % 86400));
    return xc;
}

/* ------------------------------------------------------------------------ */
/* Failure mapping                                                          */
/* ------------------------------------------------------------------------ */

/*
 * BearSSL failure -> neutral kind.  Once the engine is BR_SSL_CLOSED,
 * br_ssl_engine_last_error() says why:
 *
 *   last error                                  kind (-> mpssl error)
 *   ----------------------------------------    ------------------------------
 *   BR_ERR_OK                                   clean close: the peer's
 *                                               close_notify.  read:
 *                                               MPSSL_R_CLOSE_NOTIFY; in the
 *                                               handshake FAIL_EOF (-> ERR_
 *                                               HANDSHAKE_EOF); write: FAIL_EOF
 *   BR_ERR_RECV_FATAL_ALERT + 70                NO_SHARED (protocol_version:
 *                                               a version mismatch, as in
 *                                               openssl.c) -> ERR_NO_SHARED_
 *                                               CIPHER
 *   BR_ERR_RECV_FATAL_ALERT + n (also n = 100,  PEER_ALERT, arg n -> ERR_PEER_
 *     no_renegotiation, fatal to BearSSL)       ALERT
 *   BR_ERR_SEND_FATAL_ALERT + 40, 70, 86, 120   NO_SHARED: our server found
 *     (handshake_failure, protocol_version,     no common suite, version or
 *     inappropriate_fallback, no_application_   protocol -> ERR_NO_SHARED_
 *     protocol)                                 CIPHER
 *   BR_ERR_SEND_FATAL_ALERT + other             PROTOCOL -> ERR_PROTOCOL
 *   BR_ERR_UNSUPPORTED_VERSION, BR_ERR_BAD_     in the handshake NO_SHARED;
 *     VERSION, BR_ERR_BAD_CIPHER_SUITE          afterwards PROTOCOL (a record
 *                                               that is not TLS at all also
 *                                               says UNSUPPORTED_VERSION)
 *   BR_ERR_NO_CLIENT_AUTH                       NO_PEER_CERT -> ERR_NO_PEER_
 *                                               CERT
 *   BR_ERR_X509_* (32..63), BR_ERR_WRONG_KEY_   VERIFY, arg = MPSSL_VF_* of the
 *     USAGE                                     error (the core's own verdict,
 *                                               recorded first, wins) -> ERR_
 *                                               CERT_*
 *   the checker ran out of memory               NOMEM -> -ENOMEM
 *   BR_ERR_NO_RANDOM, BR_ERR_BAD_STATE          INTERNAL -> ERR_INTERNAL
 *   BR_ERR_IO (never: we do not use br_sslio)   TRANSPORT when mpssl_io_*
 *                                               returned -errno, else EOF
 *   anything else (bad MAC, unexpected or       PROTOCOL -> ERR_PROTOCOL
 *     malformed message, bad Finished, ...)
 *
 * Outside the engine: mpssl_io_* returning -errno is TRANSPORT (the core
 * has the errno), mpssl_io_recv() returning 0 is FAIL_EOF in the handshake
 * and MPSSL_R_EOF on read.
 */
typedef struct error_text {
    int err;
    const char *text;
} error_text;

static const error_text error_texts[] = {
    {BR_ERR_BAD_PARAM, "malformed message"},
    {BR_ERR_BAD_STATE, "engine used in the wrong state"},
    {BR_ERR_UNSUPPORTED_VERSION, "unsupported protocol version"},
    {BR_ERR_BAD_VERSION, "protocol version changed"},
    {BR_ERR_BAD_LENGTH, "bad record length"},
    {BR_ERR_TOO_LARGE, "record too large"},
    {BR_ERR_BAD_MAC, "bad record MAC"},
    {BR_ERR_NO_RANDOM, "no entropy"},
    {BR_ERR_UNKNOWN_TYPE, "unknown record type"},
    {BR_ERR_UNEXPECTED, "unexpected message"},
    {BR_ERR_BAD_CCS, "bad ChangeCipherSpec"},
    {BR_ERR_BAD_ALERT, "bad alert"},
    {BR_ERR_BAD_HANDSHAKE, "bad handshake message"},
    {BR_ERR_OVERSIZED_ID, "oversized session id"},
    {BR_ERR_BAD_CIPHER_SUITE, "peer chose a suite we did not offer"},
    {BR_ERR_BAD_COMPRESSION, "peer chose compression"},
    {BR_ERR_BAD_FRAGLEN, "bad maximum fragment length"},
    {BR_ERR_BAD_SECRENEG, "bad secure renegotiation"},
    {BR_ERR_EXTRA_EXTENSION, "unrequested extension"},
    {BR_ERR_BAD_SNI, "bad server name"},
    {BR_ERR_BAD_HELLO_DONE, "bad ServerHelloDone"},
    {BR_ERR_LIMIT_EXCEEDED, "internal limit exceeded"},
    {BR_ERR_BAD_FINISHED, "bad Finished"},
    {BR_ERR_RESUME_MISMATCH, "session resumption mismatch"},
    {BR_ERR_INVALID_ALGORITHM, "unsupported algorithm"},
    {BR_ERR_BAD_SIGNATURE, "bad handshake signature"},
    {BR_ERR_WRONG_KEY_USAGE, "certificate key usage does not fit the suite"},
    {BR_ERR_NO_CLIENT_AUTH, "no client certificate"},
    {BR_ERR_X509_EXPIRED, "certificate expired or not yet valid"},
    {BR_ERR_X509_NOT_TRUSTED, "certificate not trusted"},
    {BR_ERR_X509_BAD_SIGNATURE, "bad certificate signature"},
    {BR_ERR_X509_NOT_CA, "issuer is not a CA"},
    {BR_ERR_X509_LIMIT_EXCEEDED, "certificate too large"},
    {BR_ERR_X509_WEAK_PUBLIC_KEY, "weak certificate key"},
    {BR_ERR_X509_UNSUPPORTED, "unsupported certificate"},
};

static const char *text_of_error(int err) {
    size_t i;

    for (i = 0; i < sizeof error_texts / sizeof error_texts[0]; i++) {
        if (error_texts[i].err == err)
            return error_texts[i].text;
    }
    return NULL;
}

static int is_x509_error(int err) {
    return err >= BR_ERR_X509_OK && err < 64; /* BearSSL's X.509 range */
}

static int is_no_shared_alert(int alert) {
    return alert == ALERT_HANDSHAKE_FAILURE ||
           alert == ALERT_PROTOCOL_VERSION ||
           alert == ALERT_INAPPROPRIATE_FALLBACK ||
           alert == ALERT_NO_APPLICATION_PROTOCOL;
}

/*
 * BearSSL aborts without an alert when a certificate is refused or missing.
 * The handshake is still in the clear then (we offer no resumption, so every
 * Certificate message precedes ChangeCipherSpec): the alert goes out as a
 * plaintext TLS 1.2 record, so the peer learns why instead of seeing the
 * stream end.
 */
static void send_plaintext_alert(bssl_conn *c, unsigned char alert) {
    const unsigned char record[7] = {21, 3, 3, 0, 2, 2, alert};

    (void)mpssl_io_send(c->core, record, sizeof record);
}

/* Records why the engine closed (not cleanly); returns MPSSL_R_FAIL. */
static int engine_failure(bssl_conn *c) {
    int err = br_ssl_engine_last_error(c->eng);
    const char *text = text_of_error(err);
    int in_handshake = !c->handshake_done;

    if (c->checker.out_of_memory)
        return mpssl_core_fail(c->core, MPSSL_FAIL_NOMEM, 0, err, NULL);
    if (c->transport_failed)
        return mpssl_core_fail(c->core, MPSSL_FAIL_TRANSPORT, 0, err, text);
    if (err >= BR_ERR_SEND_FATAL_ALERT) {
        int alert = err - BR_ERR_SEND_FATAL_ALERT;
        return mpssl_core_fail(c->core,
                               in_handshake && is_no_shared_alert(alert)
                                   ? MPSSL_FAIL_NO_SHARED
                                   : MPSSL_FAIL_PROTOCOL,
                               0, err, NULL);
    }
    if (err >= BR_ERR_RECV_FATAL_ALERT) {
        int alert = err - BR_ERR_RECV_FATAL_ALERT;
        if (alert == ALERT_PROTOCOL_VERSION)
            return mpssl_core_fail(c->core, MPSSL_FAIL_NO_SHARED, 0, err,
                                   "peer refused the protocol version");
        return mpssl_core_fail(c->core, MPSSL_FAIL_PEER_ALERT, alert, err,
                               NULL);
    }
    if (is_x509_error(err) || err == BR_ERR_WRONG_KEY_USAGE) {
        if (in_handshake)
            send_plaintext_alert(c, ALERT_BAD_CERTIFICATE);
        return mpssl_core_fail(
            c->core, MPSSL_FAIL_VERIFY,
            (int)flags_of_x509_error((unsigned)err, c->checker.date_flags), err,
            text);
    }
    switch (err) {
    case BR_ERR_UNSUPPORTED_VERSION:
    case BR_ERR_BAD_VERSION:
    case BR_ERR_BAD_CIPHER_SUITE:
        return mpssl_core_fail(c->core,
                               in_handshake && !c->incoming.not_tls
                                   ? MPSSL_FAIL_NO_SHARED
                                   : MPSSL_FAIL_PROTOCOL,
                               0, err, text);
    case BR_ERR_NO_CLIENT_AUTH:
        /* RFC 5246, 7.4.6: handshake_failure for a missing certificate. */
        send_plaintext_alert(c, ALERT_HANDSHAKE_FAILURE);
        return mpssl_core_fail(c->core, MPSSL_FAIL_NO_PEER_CERT, 0, err, text);
    case BR_ERR_NO_RANDOM:
    case BR_ERR_BAD_STATE:
        return mpssl_core_fail(c->core, MPSSL_FAIL_INTERNAL, 0, err, text);
    case BR_ERR_IO:
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, err, text);
    default:
        return mpssl_core_fail(c->core, MPSSL_FAIL_PROTOCOL, 0, err, text);
    }
}

/* ------------------------------------------------------------------------ */
/* The engine pump                                                          */
/* ------------------------------------------------------------------------ */

typedef enum pump_result {
    PUMP_READY,       /* the wanted window is open */
    PUMP_WANT_READ,   /* the engine needs bytes the transport does not have */
    PUMP_CLOSED,      /* the engine closed: br_ssl_engine_last_error says why */
    PUMP_EOF,         /* the transport ended */
    PUMP_TRANSPORT,   /* mpssl_io_* failed (the core recorded the errno) */
    PUMP_STALLED,     /* the engine wants nothing we can give */
    PUMP_PEER_CLOSED, /* the peer's close_notify arrived (peer_closed) */
} pump_result;

/* Hands every pending record to the core (which never refuses bytes). */
static int push_records(bssl_conn *c) {
    size_t len;
    unsigned char *buf = br_ssl_engine_sendrec_buf(c->eng, &len);

    if (buf == NULL || len == 0)
        return 0;
    if (mpssl_io_send(c->core, buf, len) < 0) {
        c->transport_failed = 1;
        return -1;
    }
    br_ssl_engine_sendrec_ack(c->eng, len);
    return 0;
}

#define RECORD_TYPE_ALERT 21

/* Follows record boundaries in bytes handed to the engine. */
static void track_records(record_tracker *t, const unsigned char *buf,
                          size_t len) {
    t->alert_completed = 0;
    while (len > 0) {
        size_t take;

        if (t->header_got < sizeof t->header) {
            t->header[t->header_got++] = *buf++;
            len--;
            if (t->header_got == sizeof t->header) {
                t->body_left = (size_t)t->header[3] << 8 | t->header[4];
                if (t->header[0] < 20 || t->header[0] > 24 || t->header[1] != 3)
                    t->not_tls = 1;
            }
        } else {
            take = len < t->body_left ? len : t->body_left;
            t->body_left -= take;
            buf += take;
            len -= take;
        }
        if (t->header_got == sizeof t->header && t->body_left == 0) {
            t->alert_completed = t->header[0] == RECORD_TYPE_ALERT;
            t->header_got = 0;
        }
    }
}

/* Feeds the engine what the transport has, at most what it asks for. */
static pump_result pull_records(bssl_conn *c) {
    size_t len;
    unsigned char *buf = br_ssl_engine_recvrec_buf(c->eng, &len);
    long n = mpssl_io_recv(c->core, buf, len);

    if (n > 0) {
        track_records(&c->incoming, buf, (size_t)n);
        br_ssl_engine_recvrec_ack(c->eng, (size_t)n);
        return PUMP_READY;
    }
    if (n == 0)
        return PUMP_EOF;
    if (n == MPSSL_IO_WOULD_BLOCK)
        return PUMP_WANT_READ;
    c->transport_failed = 1;
    return PUMP_TRANSPORT;
}

/*
 * Runs the engine until one of the windows in `goal` (BR_SSL_SENDAPP /
 * BR_SSL_RECVAPP) opens.  Outgoing records always leave first, so a step
 * that returns has handed all its ciphertext to the core.  Reads from the
 * transport only when the engine asks for input, and stops at the first
 * would-block: no spinning.  After the peer's close_notify it stops: the
 * engine's answer stays queued for close_notify().
 */
static pump_result pump(bssl_conn *c, unsigned goal) {
    if (c->peer_closed)
        return PUMP_PEER_CLOSED;
    for (;;) {
        unsigned state = br_ssl_engine_current_state(c->eng);

        if (state & BR_SSL_CLOSED)
            return PUMP_CLOSED;
        if (state & BR_SSL_SENDREC) {
            if (push_records(c) != 0)
                return PUMP_TRANSPORT;
            continue;
        }
        if (state & goal)
            return PUMP_READY;
        if (state & BR_SSL_RECVREC) {
            pump_result r = pull_records(c);
            if (r != PUMP_READY)
                return r;
            if (c->handshake_done && c->incoming.alert_completed &&
                (br_ssl_engine_current_state(c->eng) & BR_SSL_SENDREC)) {
                c->peer_closed = 1;
                return PUMP_PEER_CLOSED;
            }
            continue;
        }
        return PUMP_STALLED;
    }
}

/* The step result for a pump that did not reach its goal. */
static int pump_failure(bssl_conn *c, pump_result r) {
    switch (r) {
    case PUMP_WANT_READ:
        return MPSSL_R_WANT_READ;
    case PUMP_CLOSED:
        if (br_ssl_engine_last_error(c->eng) == BR_ERR_OK)
            return mpssl_core_fail(c->core, MPSSL_FAIL_PEER_CLOSED, 0, 0,
                                   "peer sent close_notify");
        return engine_failure(c);
    case PUMP_PEER_CLOSED:
        /* BearSSL has answered the close_notify and closed: nothing can be
         * sent any more (the other libraries still could). */
        return mpssl_core_fail(c->core, MPSSL_FAIL_PEER_CLOSED, 0, 0,
                               "peer sent close_notify");
    case PUMP_EOF:
        return mpssl_core_fail(c->core, MPSSL_FAIL_EOF, 0, 0, "end of stream");
    case PUMP_TRANSPORT:
        return mpssl_core_fail(c->core, MPSSL_FAIL_TRANSPORT, 0, 0, NULL);
    default:
        return mpssl_core_fail(c->core, MPSSL_FAIL_INTERNAL, 0, 0,
                               "engine stalled");
    }
}

/* ------------------------------------------------------------------------ */
/* Library and contexts                                                     */
/* ------------------------------------------------------------------------ */

static const char *bssl_version(void) {
    return BEARSSL_VERSION_TEXT;
}

static int bssl_global_init(void) {
    return 0; /* BearSSL has no global state */
}

static size_t bssl_supported_suites(uint16_t *ids, size_t cap) {
    size_t i;

    for (i = 0; i < N_BEARSSL_SUITES && i < cap; i++)
        ids[i] = bearssl_suites[i];
    return N_BEARSSL_SUITES;
}

static int bssl_check_key(const mpssl_blob *key, mpssl_key_type type,
                          const mpssl_blob *cert) {
    br_x509_decoder_context *dc;
    bssl_key sk;
    int rc, match;

    (void)type; /* br_skey_decoder recognises all three encodings */
    rc = decode_key(key, &sk);
    if (rc != 0)
        return rc;
    rc = decode_cert(cert->data, cert->len, NULL, &dc);
    if (rc != 0) {
        free_key(&sk);
        return rc == -ENOMEM ? -ENOMEM : MPSSL_EINVALID_CERT;
    }
    match = key_matches(&sk, br_x509_decoder_get_pkey(dc));
    mpssl_free(dc);
    free_key(&sk);
    if (match < 0)
        return match;
    return match ? 0 : MPSSL_EKEY_MISMATCH;
}

static void free_native(bssl_native *n) {
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; i < n->n_anchors; i++)
        mpssl_free(n->anchors[i].dn.data);
    mpssl_free(n->anchors);
    for (i = 0; i < n->n_chain; i++)
        mpssl_free(n->chain[i].data);
    mpssl_free(n->chain);
    free_key(&n->key);
    mpssl_free(n);
}

/* One trust anchor from a CA certificate: its DN and public key, copied
 * out of the decoder into one allocation (dn.data) the anchor owns.
 * 0, -ENOMEM, or a BR_ERR_X509_* code for a certificate BearSSL cannot
 * use. */
static int make_anchor(const mpssl_blob *der, br_x509_trust_anchor *ta) {
    growbuf dn = {0};
    br_x509_decoder_context *dc;
    const br_x509_pkey *pk;
    unsigned char *mem;
    int err = decode_cert(der->data, der->len, &dn, &dc);

    if (err != 0) {
        mpssl_free(dn.data);
        return err;
    }
    pk = br_x509_decoder_get_pkey(dc);
    mem = mpssl_alloc(dn.len + key_bytes_len(pk) + 1);
    if (mem == NULL) {
        mpssl_free(dc);
        mpssl_free(dn.data);
        return -ENOMEM;
    }
    if (dn.len > 0)
        memcpy(mem, dn.data, dn.len);
    ta->dn.data = mem;
    ta->dn.len = dn.len;
    /* A CA anchor verifies issued certificates; any other certificate
     * loaded as "CA" is trusted only as exactly itself (direct trust). */
    ta->flags = br_x509_decoder_isCA(dc) ? BR_X509_TA_CA : 0;
    copy_pkey(&ta->pkey, pk, mem + dn.len);
    mpssl_free(dc);
    mpssl_free(dn.data);
    return 0;
}

/* CA certificates BearSSL cannot use (a key type it lacks, such as Ed25519)
 * are left out: fewer anchors can only make verification stricter, and one
 * exotic certificate in a bundle must not disable the rest.  A verifying
 * context left with none at all is refused: it could never verify (and a
 * server could not even ask for a client certificate). */
static int copy_anchors(bssl_native *n, const mpssl_config *cfg, char *why,
                        size_t why_cap) {
    size_t i;

    if (cfg->n_cas == 0)
        return 0;
    n->anchors = mpssl_alloc(cfg->n_cas * sizeof *n->anchors);
    if (n->anchors == NULL)
        return -ENOMEM;
    for (i = 0; i < cfg->n_cas; i++) {
        int err = make_anchor(&cfg->cas[i], &n->anchors[n->n_anchors]);
        if (err == -ENOMEM)
            return -ENOMEM;
        if (err == 0)
            n->n_anchors++;
    }
    if (n->n_anchors == 0 && cfg->verify_mode != MPSSL_CERT_NONE)
        return refuse(why, why_cap, MPSSL_ERR_UNSUPPORTED,
                      "no CA certificate BearSSL can use (key type)");
    return 0;
}

static int copy_own_chain(bssl_native *n, const mpssl_config *cfg, char *why,
                          size_t why_cap) {
    br_x509_decoder_context *dc;
    size_t i;
    int rc;

    if (cfg->n_chain == 0)
        return 0;
    n->chain = mpssl_alloc(cfg->n_chain * sizeof *n->chain);
    if (n->chain == NULL)
        return -ENOMEM;
    for (i = 0; i < cfg->n_chain; i++) {
        n->chain[i].data = copy_bytes(cfg->chain[i].data, cfg->chain[i].len);
        if (n->chain[i].data == NULL)
            return -ENOMEM;
        n->chain[i].data_len = cfg->chain[i].len;
        n->n_chain++;
    }
    rc = decode_key(&cfg->key, &n->key);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0)
        return refuse(why, why_cap, MPSSL_ERR_INTERNAL,
                      "private key refused by BearSSL");
    /* Static ECDH suites depend on what signed our leaf. */
    rc = decode_cert(n->chain[0].data, n->chain[0].data_len, NULL, &dc);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0)
        return refuse(why, why_cap, MPSSL_ERR_UNSUPPORTED,
                      "certificate key type unsupported by BearSSL");
    n->issuer_key_type = (unsigned)br_x509_decoder_get_signer_key_type(dc);
    if (n->issuer_key_type == 0)
        n->issuer_key_type = BR_KEYTYPE_EC;
    mpssl_free(dc);
    return 0;
}

static int copy_suites(bssl_native *n, const mpssl_config *cfg, char *why,
                       size_t why_cap) {
    size_t i;

    if (cfg->min_version == MPSSL_TLS1_3)
        return refuse(why, why_cap, MPSSL_ERR_UNSUPPORTED,
                      "BearSSL has no TLS 1.3 (the suite list enables only "
                      "TLS 1.3)");
    if (cfg->n_suites == 0 || cfg->n_suites > N_BEARSSL_SUITES)
        return refuse(why, why_cap, MPSSL_ERR_UNSUPPORTED,
                      "no usable cipher suite for BearSSL");
    for (i = 0; i < cfg->n_suites; i++) {
        if (!bearssl_can_negotiate(cfg->suites[i])) {
            if (why != NULL && why_cap > 0)
                snprintf(why, why_cap, "suite 0x%04X unsupported by BearSSL",
                         (unsigned)cfg->suites[i]);
            return MPSSL_ERR_UNSUPPORTED;
        }
        n->suites[i] = cfg->suites[i];
    }
    n->n_suites = cfg->n_suites;
    return 0;
}

static int bssl_ctx_build(const mpssl_config *cfg, void **native, char *why,
                          size_t why_cap) {
    bssl_native *n = mpssl_alloc(sizeof *n);
    int rc;

    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    if (n == NULL)
        return -ENOMEM;
    memset(n, 0, sizeof *n);
    n->is_server = cfg->protocol == MPSSL_PROTOCOL_TLS_SERVER;
    n->verify_mode = cfg->verify_mode;
    rc = copy_suites(n, cfg, why, why_cap);
    if (rc == 0)
        rc = copy_anchors(n, cfg, why, why_cap);
    if (rc == 0)
        rc = copy_own_chain(n, cfg, why, why_cap);
    if (rc != 0) {
        free_native(n);
        return rc;
    }
    *native = n;
    return 0;
}

static void bssl_ctx_free(void *native) {
    free_native(native);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/*
 * A server without a certificate has nothing to offer: this policy refuses
 * every suite, so the handshake fails with handshake_failure (no shared
 * cipher, as with the other backends) instead of BearSSL calling a policy
 * that does not exist.
 */
static int refuse_choice(const br_ssl_server_policy_class **pctx,
                         const br_ssl_server_context *cc,
                         br_ssl_server_choices *choices) {
    (void)pctx;
    (void)cc;
    (void)choices;
    return 0;
}

static uint32_t refuse_keyx(const br_ssl_server_policy_class **pctx,
                            unsigned char *data, size_t *len) {
    (void)pctx;
    (void)data;
    (void)len;
    return 0;
}

static size_t refuse_sign(const br_ssl_server_policy_class **pctx,
                          unsigned algo_id, unsigned char *data, size_t hv_len,
                          size_t len) {
    (void)pctx;
    (void)algo_id;
    (void)data;
    (void)hv_len;
    (void)len;
    return 0;
}

static const br_ssl_server_policy_class no_certificate_policy = {
    sizeof(br_ssl_server_policy_class *),
    refuse_choice,
    refuse_keyx,
    refuse_sign,
};
static const br_ssl_server_policy_class *no_certificate =
    &no_certificate_policy;

/* Algorithms, versions, suites and options common to both roles. */
static void configure_engine(br_ssl_engine_context *eng, const bssl_native *n) {
    int id;

    /* BearSSL's defaults allow TLS 1.0 and 1.1: the contract does not. */
    br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(eng, n->suites, n->n_suites);
    for (id = br_sha1_ID; id <= br_sha512_ID; id++)
        br_ssl_engine_set_hash(eng, id, hash_class(id));
    br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_cbc(eng);
    br_ssl_engine_set_default_aes_gcm(eng);
    br_ssl_engine_set_default_aes_ccm(eng);
    br_ssl_engine_set_default_chapol(eng);
    br_ssl_engine_set_default_ec(eng);
    br_ssl_engine_set_default_rsavrfy(eng);
    br_ssl_engine_set_default_ecdsa(eng);
    /* A peer's renegotiation request gets a no_renegotiation warning. */
    br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
}

static void configure_client(br_ssl_client_context *cc, const bssl_native *n,
                             peer_checker *pc) {
    br_ssl_client_zero(cc);
    configure_engine(&cc->eng, n);
    br_ssl_client_set_default_rsapub(cc); /* TLS_RSA_* key exchange */
    br_ssl_engine_set_x509(&cc->eng, &pc->vtable);
    if (n->key.type == BR_KEYTYPE_RSA)
        br_ssl_client_set_single_rsa(cc, n->chain, n->n_chain, &n->key.rsa,
                                     br_rsa_pkcs1_sign_get_default());
    else if (n->key.type == BR_KEYTYPE_EC)
        br_ssl_client_set_single_ec(cc, n->chain, n->n_chain, &n->key.ec,
                                    BR_KEYTYPE_SIGN, n->issuer_key_type,
                                    br_ec_get_default(),
                                    br_ecdsa_sign_asn1_get_default());
}

static void configure_server(br_ssl_server_context *sc, const bssl_native *n,
                             peer_checker *pc) {
    const unsigned usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;

    br_ssl_server_zero(sc);
    configure_engine(&sc->eng, n);
    br_ssl_engine_add_flags(&sc->eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
    if (n->key.type == BR_KEYTYPE_RSA)
        br_ssl_server_set_single_rsa(sc, n->chain, n->n_chain, &n->key.rsa,
                                     usages, br_rsa_private_get_default(),
                                     br_rsa_pkcs1_sign_get_default());
    else if (n->key.type == BR_KEYTYPE_EC)
        br_ssl_server_set_single_ec(
            sc, n->chain, n->n_chain, &n->key.ec, usages, n->issuer_key_type,
            br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
    else
        br_ssl_server_set_policy(sc, &no_certificate);
    br_ssl_engine_set_x509(&sc->eng, &pc->vtable);
    /*
     * A CertificateRequest needs at least one CA name: without CAs BearSSL
     * cannot ask (CERT_REQUIRED without CAs never gets here: the core
     * refuses it first).  CERT_OPTIONAL tolerates a client without a
     * certificate; a refused one never reaches BearSSL under OPTIONAL (the
     * core's verdict lets it through), so tolerance covers exactly "none
     * sent".
     */
    if (n->verify_mode != MPSSL_CERT_NONE && n->n_anchors > 0) {
        br_ssl_server_set_trust_anchor_names_alt(sc, n->anchors, n->n_anchors);
        if (n->verify_mode == MPSSL_CERT_OPTIONAL)
            br_ssl_engine_add_flags(&sc->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH);
    }
}

static void bssl_conn_free(void *bconn) {
    bssl_conn *c = bconn;

    if (c == NULL)
        return;
    /* The engine holds the session keys, the buffer plaintext. */
    mpssl_free_secret(c->ssl, c->ssl_size);
    mpssl_free_secret(c->iobuf, MPSSL_BEARSSL_IOBUF_SIZE);
    if (c->checker.minimal != NULL)
        mpssl_free_secret(c->checker.minimal, sizeof *c->checker.minimal);
    mpssl_free(c->checker.cert);
    mpssl_free(c->checker.leaf);
    mpssl_free(c);
}

/* Seeds the engine's DRBG from the platform; BearSSL would otherwise look
 * for an OS source that small boards do not have. */
/* Zeroes memory the compiler may not elide (unlike a memset of a buffer
 * that is about to die). */
static void wipe(void *p, size_t len) {
    volatile unsigned char *v = p;

    while (len--)
        *v++ = 0;
}

static int seed_engine(br_ssl_engine_context *eng) {
    unsigned char seed[SEED_LEN];
    int ok = mpssl_entropy(seed, sizeof seed) == 0;

    if (ok)
        br_ssl_engine_inject_entropy(eng, seed, sizeof seed);
    wipe(seed, sizeof seed);
    return ok;
}

/* Builds the engine for one connection (see the file's header for what it
 * costs). */
static int bssl_conn_new(void *native, mpssl_conn *core, const char *sni,
                         void **bconn) {
    const bssl_native *n = native;
    bssl_conn *c = mpssl_alloc(sizeof *c);
    int ok;

    if (c == NULL)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->core = core;
    c->native = n;
    c->checker.vtable = &peer_checker_vtable;
    c->checker.conn = c;
    c->ssl_size = n->is_server ? sizeof(br_ssl_server_context)
                               : sizeof(br_ssl_client_context);
    c->ssl = mpssl_alloc(c->ssl_size);
    c->iobuf = mpssl_alloc(MPSSL_BEARSSL_IOBUF_SIZE);
    if (n->verify_mode != MPSSL_CERT_NONE)
        c->checker.minimal = new_minimal(n);
    if (c->ssl == NULL || c->iobuf == NULL ||
        (n->verify_mode != MPSSL_CERT_NONE && c->checker.minimal == NULL)) {
        bssl_conn_free(c);
        return -ENOMEM;
    }
    if (n->is_server) {
        br_ssl_server_context *sc = c->ssl;
        configure_server(sc, n, &c->checker);
        c->eng = &sc->eng;
    } else {
        br_ssl_client_context *cc = c->ssl;
        configure_client(cc, n, &c->checker);
        c->eng = &cc->eng;
    }
    br_ssl_engine_set_buffer(c->eng, c->iobuf, MPSSL_BEARSSL_IOBUF_SIZE, 1);
    ok = seed_engine(c->eng);
    /* A non-NULL name turns on SNI (and would turn on BearSSL's own name
     * check, which our checker never passes on). */
    if (ok)
        ok = n->is_server ? br_ssl_server_reset(c->ssl)
                          : br_ssl_client_reset(c->ssl, sni, 0);
    if (!ok) {
        bssl_conn_free(c);
        return MPSSL_ERR_INTERNAL;
    }
    *bconn = c;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                    */
/* ------------------------------------------------------------------------ */

static void remember_negotiated(bssl_conn *c) {
    /* Read in place: a copy of the parameters would hold the master secret
     * (and a memset of a dying copy is dropped by the compiler). */
    c->suite = c->eng->session.cipher_suite;
}

static int bssl_handshake(void *bconn) {
    bssl_conn *c = bconn;
    pump_result r;

    if (c->handshake_done)
        return MPSSL_R_DONE;
    /* Application data can flow once the handshake is over. */
    r = pump(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
    if (r != PUMP_READY)
        return pump_failure(c, r);
    c->handshake_done = 1;
    remember_negotiated(c);
    return MPSSL_R_DONE;
}

static long bssl_read(void *bconn, uint8_t *buf, size_t len) {
    bssl_conn *c = bconn;
    pump_result r = pump(c, BR_SSL_RECVAPP);
    unsigned char *plain;
    size_t avail;

    switch (r) {
    case PUMP_READY:
        plain = br_ssl_engine_recvapp_buf(c->eng, &avail);
        if (avail > len)
            avail = len;
        memcpy(buf, plain, avail);
        br_ssl_engine_recvapp_ack(c->eng, avail);
        return (long)avail;
    case PUMP_PEER_CLOSED:
        return MPSSL_R_CLOSE_NOTIFY;
    case PUMP_CLOSED:
        if (br_ssl_engine_last_error(c->eng) == BR_ERR_OK)
            return MPSSL_R_CLOSE_NOTIFY;
        return engine_failure(c);
    case PUMP_EOF:
        return MPSSL_R_EOF;
    default:
        return pump_failure(c, r);
    }
}

static long bssl_write(void *bconn, const uint8_t *buf, size_t len) {
    bssl_conn *c = bconn;
    pump_result r = pump(c, BR_SSL_SENDAPP);
    unsigned char *room;
    size_t avail;

    if (r != PUMP_READY)
        return pump_failure(c, r);
    room = br_ssl_engine_sendapp_buf(c->eng, &avail);
    if (avail > len)
        avail = len;
    memcpy(room, buf, avail);
    br_ssl_engine_sendapp_ack(c->eng, avail);
    /* Close the record now: "accepted" means encrypted and handed on. */
    br_ssl_engine_flush(c->eng, 0);
    while (br_ssl_engine_current_state(c->eng) & BR_SSL_SENDREC) {
        if (push_records(c) != 0)
            return pump_failure(c, PUMP_TRANSPORT);
    }
    return (long)avail;
}

static size_t bssl_pending(const void *bconn) {
    const bssl_conn *c = bconn;
    size_t len = 0;

    /* BearSSL decrypts one record at a time: what is left of it. */
    if (br_ssl_engine_recvapp_buf(c->eng, &len) == NULL)
        return 0;
    return len;
}

static int bssl_close_notify(void *bconn) {
    bssl_conn *c = bconn;

    if (br_ssl_engine_current_state(c->eng) & BR_SSL_CLOSED)
        return MPSSL_R_DONE;
    /* After the peer's close_notify, ours is already waiting in SENDREC. */
    if (!c->peer_closed)
        br_ssl_engine_close(c->eng);
    /* The engine then waits for the peer's close_notify; we do not. */
    while (br_ssl_engine_current_state(c->eng) & BR_SSL_SENDREC) {
        if (push_records(c) != 0)
            return pump_failure(c, PUMP_TRANSPORT);
    }
    return MPSSL_R_DONE;
}

static int bssl_peer_cert(const void *bconn, const uint8_t **der, size_t *len) {
    const bssl_conn *c = bconn;

    if (c->checker.leaf == NULL)
        return -1;
    *der = c->checker.leaf;
    *len = c->checker.leaf_len;
    return 0;
}

static int bssl_negotiated(const void *bconn, uint16_t *suite_id,
                           int *version) {
    const bssl_conn *c = bconn;

    if (!c->handshake_done)
        return -1;
    *suite_id = c->suite;
    *version = MPSSL_TLS1_2; /* the only version configured */
    return 0;
}

const mpssl_backend mpssl_backend_impl = {
    .name = "bearssl",
    /* Shared contexts are read-only; entropy comes from mpssl_entropy(). */
    .caps = MPSSL_CAP_EXACT_SUITES | MPSSL_CAP_CLIENT_CERT_OPTIONAL |
            MPSSL_CAP_THREADS,
    .version = bssl_version,
    .global_init = bssl_global_init,
    .global_deinit = NULL,
    .supported_suites = bssl_supported_suites,
    .check_key = bssl_check_key,
    .ctx_build = bssl_ctx_build,
    .ctx_free = bssl_ctx_free,
    .conn_new = bssl_conn_new,
    .conn_free = bssl_conn_free,
    .handshake = bssl_handshake,
    .read = bssl_read,
    .write = bssl_write,
    .pending = bssl_pending,
    .close_notify = bssl_close_notify,
    .peer_cert = bssl_peer_cert,
    .negotiated = bssl_negotiated,
};
