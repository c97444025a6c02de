/*
 * conn.c - the connection state machine.
 *
 * Every backend step is non-blocking.  This file turns those steps into the
 * contract's behaviour:
 * - blocking connections wait on the transport in the direction the TLS
 *   layer needs (never spinning), non-blocking ones report MPSSL_WANT_*;
 * - ciphertext goes out through a small queue owned by the core: the
 *   backend's output is always accepted, handshake flights are coalesced
 *   into one transport write ("corked") so no flight stalls on Nagle, and a
 *   write whose record could not be flushed is reported on the retry, so
 *   nothing is encrypted twice or lost;
 * - the verdict on the peer certificate (verify modes, host names) is the
 *   core's, whatever the library would decide alone;
 * - the first failure sticks; close sends close_notify once and never
 *   blocks.
 */
#include "hostname.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Largest plaintext handed to the backend per write step: one record. */
#define MAX_WRITE_STEP 16384

typedef enum conn_state {
    STATE_HANDSHAKE, /* handshake not complete */
    STATE_OPEN,      /* handshake complete, data may flow */
    STATE_FAILED,    /* a sticky failure in conn->error */
    STATE_CLOSED,    /* mpssl_conn_close ran; backend state released */
} conn_state;

struct mpssl_conn {
    mpssl_ctx *ctx;       /* reference; for its lifetime only */
    mpssl_native *native; /* the compiled context this connection uses */
    void *bconn;          /* backend connection, NULL after close */
    mpssl_transport transport;
    int protocol;
    int verify_mode;
    int has_cas;
    char *hostname; /* reference identity (client), or NULL */

    conn_state state;
    int blocking;
    int error;           /* sticky failure code (0 if none) */
    int transport_errno; /* last hard transport errno seen */
    int verify_result;   /* MPSSL_VERIFY_NOT_DONE, 0 or an MPSSL_ERR_* */
    int verdict_given;   /* mpssl_core_verdict ran in this handshake */
    size_t handshake_in; /* bytes received while handshaking */
    int read_ended;      /* peer's close_notify or EOF seen */
    int close_notify_sent;
    int handshake_flushed; /* the last handshake flight has left */
    int want;              /* last MPSSL_WANT_* (for poll redirection) */

    /* Ciphertext the transport has not taken yet. */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    int corked;          /* queue everything until the next flush */
    uint8_t *unreported; /* plaintext of a record committed to the queue
                            but not yet counted to the caller */
    size_t unreported_len;

    char reason[80];        /* core detail for the error message */
    char native_detail[96]; /* backend detail, shown in parentheses */
};

/* ------------------------------------------------------------------------ */
/* Failures                                                                 */
/* ------------------------------------------------------------------------ */

static void copy_text(char *dst, size_t cap, const char *src) {
    if (!src) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, cap, "%s", src);
}

/* Records the first failure; later ones never overwrite it. */
static int set_error(mpssl_conn *conn, int code, const char *reason) {
    if (conn->error == 0) {
        conn->error = code;
        copy_text(conn->reason, sizeof conn->reason, reason);
        if (conn->state != STATE_CLOSED) {
            conn->state = STATE_FAILED;
        }
    }
    return conn->error;
}

static int transport_failure(mpssl_conn *conn, long r) {
    if (mpssl_result_is_transient(r)) {
        return (int)r;
    }
    conn->transport_errno = (int)-r;
    return set_error(conn, (int)r, NULL);
}

/* Most specific first: an untrusted chain says nothing reliable about its
 * dates or names. */
static int verify_flags_to_code(unsigned flags, int hostname_mismatch) {
    if (flags & MPSSL_VF_UNTRUSTED) {
        return MPSSL_ERR_CERT_UNTRUSTED;
    }
    if (flags & MPSSL_VF_OTHER) {
        return MPSSL_ERR_CERT_INVALID;
    }
    if (flags & MPSSL_VF_EXPIRED) {
        return MPSSL_ERR_CERT_EXPIRED;
    }
    if (flags & MPSSL_VF_NOT_YET_VALID) {
        return MPSSL_ERR_CERT_NOT_YET_VALID;
    }
    if (hostname_mismatch) {
        return MPSSL_ERR_HOSTNAME_MISMATCH;
    }
    return 0;
}

static int fail_kind_to_code(mpssl_conn *conn, mpssl_fail_kind kind, int arg,
                             char *reason, size_t cap) {
    switch (kind) {
    case MPSSL_FAIL_PEER_ALERT: {
        const char *name = mpssl_alert_name(arg);
        snprintf(reason, cap, "%s (%d)", name ? name : "unknown alert", arg);
        return MPSSL_ERR_PEER_ALERT;
    }
    case MPSSL_FAIL_NO_SHARED:
        return MPSSL_ERR_NO_SHARED_CIPHER;
    case MPSSL_FAIL_VERIFY: {
        int code = verify_flags_to_code((unsigned)arg, 0);
        return code ? code : MPSSL_ERR_CERT_INVALID;
    }
    case MPSSL_FAIL_NO_PEER_CERT:
        return MPSSL_ERR_NO_PEER_CERT;
    case MPSSL_FAIL_EOF:
        return conn->state == STATE_HANDSHAKE ? MPSSL_ERR_HANDSHAKE_EOF
                                              : MPSSL_ERR_PROTOCOL;
    case MPSSL_FAIL_PEER_CLOSED:
        /* As a write to a socket whose peer has gone. */
        return conn->state == STATE_HANDSHAKE ? MPSSL_ERR_HANDSHAKE_EOF
                                              : -EPIPE;
    case MPSSL_FAIL_TRANSPORT:
        return conn->transport_errno ? -conn->transport_errno : -EIO;
    case MPSSL_FAIL_NOMEM:
        return -ENOMEM;
    case MPSSL_FAIL_UNSUPPORTED:
        return MPSSL_ERR_UNSUPPORTED;
    case MPSSL_FAIL_PROTOCOL:
        return MPSSL_ERR_PROTOCOL;
    case MPSSL_FAIL_CONFIG:
    case MPSSL_FAIL_INTERNAL:
    default:
        return MPSSL_ERR_INTERNAL;
    }
}

int mpssl_core_fail(mpssl_conn *conn, mpssl_fail_kind kind, int arg,
                    long native, const char *detail) {
    if (conn->error != 0) {
        return MPSSL_R_FAIL; /* the core's own verdict or errno wins */
    }
    char reason[sizeof conn->reason] = "";
    int code;
    if (conn->transport_errno != 0) {
        /* The library's complaint follows from the transport's. */
        code = -conn->transport_errno;
    } else {
        code = fail_kind_to_code(conn, kind, arg, reason, sizeof reason);
    }
    set_error(conn, code, reason[0] ? reason : NULL);
    if (detail && detail[0]) {
        snprintf(conn->native_detail, sizeof conn->native_detail, "%s", detail);
    } else if (native != 0) {
        snprintf(conn->native_detail, sizeof conn->native_detail, "code %ld",
                 native);
    }
    return MPSSL_R_FAIL;
}

int mpssl_conn_error(const mpssl_conn *conn, char *msg, size_t cap) {
    if (cap > 0) {
        const char *base = conn->error ? mpssl_strerror(conn->error) : "";
        if (conn->error < 0 && conn->error >= -MPSSL_ERRNO_MAX) {
            base = strerror(-conn->error);
        }
        int n = snprintf(msg, cap, "%s", base);
        if (conn->reason[0] && n >= 0 && (size_t)n < cap) {
            n += snprintf(msg + n, cap - (size_t)n, ": %s", conn->reason);
        }
        if (conn->native_detail[0] && n >= 0 && (size_t)n < cap) {
            snprintf(msg + n, cap - (size_t)n, " (%s: %s)",
                     mpssl_backend_impl.name, conn->native_detail);
        }
    }
    return conn->error;
}

/* ------------------------------------------------------------------------ */
/* The transport and the output queue                                       */
/* ------------------------------------------------------------------------ */

static int flush_queue(mpssl_conn *conn);
static size_t queued(const mpssl_conn *conn);

/*
 * A library that reads has finished its flight: queued ciphertext goes out
 * first, as far as the transport takes it, so a blocking stream object never
 * waits for the answer to a request still sitting in the queue.  Reading
 * goes on even if the queue cannot drain: refusing to read until the peer
 * reads would deadlock two peers that both write.
 */
long mpssl_io_recv(mpssl_conn *conn, uint8_t *buf, size_t len) {
    if (queued(conn) > 0) {
        int f = flush_queue(conn);
        if (f < 0 && f != MPSSL_WANT_WRITE && !mpssl_result_is_transient(f)) {
            return f;
        }
    }
    long r = conn->transport.recv(conn->transport.user, buf, len);
    if (r > 0 && conn->state == STATE_HANDSHAKE) {
        conn->handshake_in += (size_t)r;
        if (conn->handshake_in > MPSSL_MAX_HANDSHAKE_INPUT) {
            /* Recorded first, so it wins over the library's complaint
             * about the failed read. */
            set_error(conn, MPSSL_ERR_PROTOCOL,
                      "the peer's handshake exceeds 128 KiB");
            return -EPROTO;
        }
    }
    if (r < 0 && r != MPSSL_IO_WOULD_BLOCK && !mpssl_result_is_transient(r)) {
        conn->transport_errno = (int)-r;
    }
    if (r < 0 && mpssl_result_is_transient(r)) {
        /* An interrupted recv is a would-block for the library; the wait
         * that follows reports the interruption. */
        r = MPSSL_IO_WOULD_BLOCK;
    }
    return r;
}

static int queue_append(mpssl_conn *conn, const uint8_t *buf, size_t len) {
    if (conn->out_off > 0 && conn->out_off == conn->out_len) {
        conn->out_off = conn->out_len = 0;
    }
    if (conn->out_len + len > conn->out_cap) {
        size_t cap = conn->out_cap ? conn->out_cap : 1024;
        while (cap < conn->out_len + len) {
            cap *= 2;
        }
        uint8_t *out = mpssl_realloc(conn->out, cap);
        if (!out) {
            return -ENOMEM;
        }
        conn->out = out;
        conn->out_cap = cap;
    }
    memcpy(conn->out + conn->out_len, buf, len);
    conn->out_len += len;
    return 0;
}

static size_t queued(const mpssl_conn *conn) {
    return conn->out_len - conn->out_off;
}

/* Sends straight to the transport while nothing is queued, so bulk data is
 * not copied; queues the rest. */
long mpssl_io_send(mpssl_conn *conn, const uint8_t *buf, size_t len) {
    size_t done = 0;
    if (!conn->corked && queued(conn) == 0) {
        while (done < len) {
            long r = conn->transport.send(conn->transport.user, buf + done,
                                          len - done);
            if (r == MPSSL_IO_WOULD_BLOCK || mpssl_result_is_transient(r)) {
                break;
            }
            if (r <= 0) {
                conn->transport_errno = r < 0 ? (int)-r : EIO;
                return -conn->transport_errno;
            }
            done += (size_t)r;
        }
    }
    if (done < len && queue_append(conn, buf + done, len - done) != 0) {
        conn->transport_errno = ENOMEM;
        return -ENOMEM;
    }
    return (long)len;
}

/* Releases the queue's memory once it drains, so an idle connection costs
 * the core nothing beyond its struct. */
static void queue_release(mpssl_conn *conn) {
    mpssl_free(conn->out);
    conn->out = NULL;
    conn->out_len = conn->out_off = conn->out_cap = 0;
}

/* 0 when the queue is empty, MPSSL_WANT_WRITE, or a failure. */
static int flush_queue(mpssl_conn *conn) {
    while (queued(conn) > 0) {
        long r = conn->transport.send(conn->transport.user,
                                      conn->out + conn->out_off, queued(conn));
        if (r == MPSSL_IO_WOULD_BLOCK) {
            return MPSSL_WANT_WRITE;
        }
        if (r <= 0) {
            return transport_failure(conn, r < 0 ? r : -EIO);
        }
        conn->out_off += (size_t)r;
    }
    if (conn->out) {
        queue_release(conn);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Driving steps: the blocking loop                                         */
/* ------------------------------------------------------------------------ */

static int is_want(long r) {
    return r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE;
}

static unsigned want_events(long r) {
    return r == MPSSL_WANT_WRITE ? MPSSL_POLL_WR : MPSSL_POLL_RD;
}

/*
 * After a step asked to wait: non-blocking connections return the WANT;
 * blocking ones wait on the transport (for the step's direction, and for
 * writability too while ciphertext is queued) and return 0 to retry.
 */
static long wait_or_return(mpssl_conn *conn, long want) {
    conn->want = (int)want;
    if (!conn->blocking || !conn->transport.wait) {
        return want;
    }
    unsigned events = want_events(want);
    if (queued(conn) > 0) {
        events |= MPSSL_POLL_WR;
    }
    int r = conn->transport.wait(conn->transport.user, events);
    if (r < 0) {
        return transport_failure(conn, r);
    }
    return 0;
}

typedef long (*step_fn)(mpssl_conn *conn, void *arg);

/*
 * Runs a step until it succeeds, fails, or (non-blocking) would block.
 * Queued ciphertext is flushed first as far as the transport allows; a
 * read step runs even if the queue cannot drain yet (reading must not wait
 * for the peer to read), a write step only once the queue is empty.
 */
static long drive(mpssl_conn *conn, step_fn step, void *arg,
                  int needs_empty_queue) {
    for (;;) {
        if (conn->error) {
            return conn->error;
        }
        long r = flush_queue(conn);
        if (r != 0 && !is_want(r)) {
            return r;
        }
        if (r == 0 || !needs_empty_queue) {
            r = step(conn, arg);
            if (!is_want(r)) {
                if (r >= 0) {
                    long f = flush_queue(conn);
                    if (f != 0 && !is_want(f) &&
                        !mpssl_result_is_transient(f)) {
                        return f;
                    }
                } else {
                    (void)flush_queue(conn); /* one attempt: the alert */
                }
                return r;
            }
            long f = flush_queue(conn);
            if (f != 0 && !is_want(f)) {
                return f;
            }
            if (r == MPSSL_WANT_READ && f == MPSSL_WANT_WRITE &&
                needs_empty_queue) {
                r = MPSSL_WANT_WRITE;
            }
        }
        long w = wait_or_return(conn, r);
        if (w != 0) {
            return w;
        }
    }
}

/* Blocking connections wait until queued ciphertext has left. */
static long drain(mpssl_conn *conn) {
    for (;;) {
        long r = flush_queue(conn);
        if (!is_want(r)) {
            return r;
        }
        long w = wait_or_return(conn, r);
        if (w != 0) {
            return w;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

static int set_hostname(mpssl_conn *conn, const char *host) {
    if (!host) {
        return 0;
    }
    if (mpssl_check_hostname(host) != 0) {
        return MPSSL_EBAD_HOSTNAME;
    }
    size_t len = strlen(host);
    conn->hostname = mpssl_alloc(len + 1);
    if (!conn->hostname) {
        return -ENOMEM;
    }
    memcpy(conn->hostname, host, len + 1);
    return 0;
}

/* SNI carries DNS names only; IP literals are never sent. */
static const char *sni_of(const mpssl_conn *conn) {
    uint8_t ip[16];
    if (!conn->hostname || mpssl_parse_ip(conn->hostname, ip) != 0) {
        return NULL;
    }
    return conn->hostname;
}

static int conn_setup(mpssl_conn *conn, mpssl_ctx *ctx,
                      const char *server_hostname) {
    if (conn->protocol == MPSSL_PROTOCOL_TLS_CLIENT) {
        if (conn->verify_mode == MPSSL_CERT_REQUIRED && !server_hostname) {
            return MPSSL_ENEED_HOSTNAME;
        }
        int r = set_hostname(conn, server_hostname);
        if (r != 0) {
            return r;
        }
    }
    int r = mpssl_ctx_native(ctx, &conn->native);
    if (r != 0) {
        return r;
    }
    return mpssl_backend_impl.conn_new(conn->native->handle, conn, sni_of(conn),
                                       &conn->bconn);
}

int mpssl_conn_new(mpssl_ctx *ctx, const mpssl_transport *transport,
                   const char *server_hostname, mpssl_conn **out) {
    mpssl_conn *conn = mpssl_alloc(sizeof *conn);
    if (!conn) {
        return -ENOMEM;
    }
    memset(conn, 0, sizeof *conn);
    mpssl_ctx_ref(ctx);
    conn->ctx = ctx;
    conn->transport = *transport;
    conn->protocol = ctx->protocol;
    conn->verify_mode = ctx->verify_mode;
    conn->has_cas = ctx->cas.n > 0;
    conn->state = STATE_HANDSHAKE;
    conn->blocking = 1;
    conn->verify_result = MPSSL_VERIFY_NOT_DONE;
    int r = conn_setup(conn, ctx, server_hostname);
    if (r != 0) {
        /* Still in STATE_HANDSHAKE: closing sends nothing and releases
         * whatever conn_setup acquired. */
        mpssl_conn_free(conn);
        return r;
    }
    *out = conn;
    return 0;
}

void mpssl_conn_set_blocking(mpssl_conn *conn, int blocking) {
    conn->blocking = blocking != 0;
}

int mpssl_conn_blocking(const mpssl_conn *conn) {
    return conn->blocking;
}
int mpssl_conn_protocol(const mpssl_conn *conn) {
    return conn->protocol;
}
int mpssl_core_protocol(const mpssl_conn *conn) {
    return conn->protocol;
}
int mpssl_core_verify_mode(const mpssl_conn *conn) {
    return conn->verify_mode;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */
/* ------------------------------------------------------------------------ */

int mpssl_core_verdict(mpssl_conn *conn, const uint8_t *leaf, size_t len,
                       unsigned lib_flags) {
    conn->verdict_given = 1;
    if (conn->verify_mode == MPSSL_CERT_NONE) {
        return 1;
    }
    int mismatch = 0;
    const char *why = NULL; /* the core's own finding, for the message */
    mpssl_x509 cert;
    if (mpssl_x509_parse(leaf, len, &cert) != 0) {
        lib_flags |= MPSSL_VF_OTHER;
        why = "unreadable certificate";
    } else {
        /* The leaf must be meant for the peer's role; some libraries check
         * it only after their verify hook (mbedTLS) or not at all
         * (BearSSL), so the core does, for all of them. */
        int peer_is_server = conn->protocol == MPSSL_PROTOCOL_TLS_CLIENT;
        if (!mpssl_x509_eku_allows(&cert, peer_is_server)) {
            lib_flags |= MPSSL_VF_OTHER;
            why = peer_is_server
                      ? "not meant for a server (extended key usage)"
                      : "not meant for a client (extended key usage)";
        }
        /* BearSSL accepts SHA-1 signatures and 1024-bit RSA keys. */
        if (mpssl_x509_weak(&cert)) {
            lib_flags |= MPSSL_VF_OTHER;
            why = "weak signature algorithm or key";
        }
        if (conn->hostname && !mpssl_cert_matches_host(&cert, conn->hostname)) {
            mismatch = 1;
        }
    }
    int code = verify_flags_to_code(lib_flags, mismatch);
    conn->verify_result = code;
    if (code != 0 && conn->verify_mode == MPSSL_CERT_REQUIRED) {
        const char *reason = NULL;
        if (code == MPSSL_ERR_HOSTNAME_MISMATCH) {
            reason = conn->hostname;
        } else if (code == MPSSL_ERR_CERT_INVALID) {
            reason = why;
        }
        set_error(conn, code, reason);
        return 0;
    }
    return 1;
}

/* The peer finished the handshake without presenting a certificate to a
 * verifying side (a server under CERT_OPTIONAL, or a library that let a
 * missing certificate through): record it, and fail under CERT_REQUIRED. */
static int check_unverified_peer(mpssl_conn *conn) {
    if (conn->verify_mode == MPSSL_CERT_NONE || conn->verdict_given) {
        return 0;
    }
    conn->verify_result = MPSSL_ERR_NO_PEER_CERT;
    if (conn->verify_mode == MPSSL_CERT_REQUIRED) {
        return set_error(conn, MPSSL_ERR_NO_PEER_CERT, NULL);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                */
/* ------------------------------------------------------------------------ */

static long handshake_step(mpssl_conn *conn, void *arg) {
    (void)arg;
    /* Handshake flights leave in one transport write. */
    conn->corked = 1;
    int r = mpssl_backend_impl.handshake(conn->bconn);
    conn->corked = 0;
    if (r == MPSSL_R_DONE) {
        int e = check_unverified_peer(conn);
        if (e != 0) {
            return e;
        }
        conn->state = STATE_OPEN;
        return 0;
    }
    if (is_want(r)) {
        return r;
    }
    if (r == MPSSL_R_EOF || r == MPSSL_R_CLOSE_NOTIFY) {
        return set_error(conn, MPSSL_ERR_HANDSHAKE_EOF, NULL);
    }
    if (conn->error == 0) {
        /* A backend that failed without saying why. */
        mpssl_core_fail(conn, MPSSL_FAIL_INTERNAL, 0, r, NULL);
    }
    return conn->error;
}

/* Checks made before the first byte goes out. */
static int precheck(mpssl_conn *conn) {
    if (conn->verify_mode == MPSSL_CERT_REQUIRED && !conn->has_cas) {
        return set_error(conn, MPSSL_ERR_CERT_UNTRUSTED,
                         "no CA certificates loaded; call "
                         "load_verify_locations() or use CERT_NONE");
    }
    return 0;
}

static int state_error(const mpssl_conn *conn) {
    if (conn->state == STATE_CLOSED) {
        return MPSSL_ERR_CLOSED;
    }
    return conn->error;
}

/*
 * The handshake counts as done for the caller only once its last flight
 * (a client's Finished, say) has left the queue: a peer waiting for it
 * would otherwise wait for a message we report as sent.
 */
static int finish_last_flight(mpssl_conn *conn) {
    if (conn->handshake_flushed) {
        return 0;
    }
    long r = conn->blocking ? drain(conn) : flush_queue(conn);
    if (r == 0) {
        conn->handshake_flushed = 1;
    }
    return (int)r;
}

int mpssl_conn_handshake(mpssl_conn *conn) {
    int e = state_error(conn);
    if (e != 0) {
        return e;
    }
    if (conn->state == STATE_OPEN) {
        return finish_last_flight(conn);
    }
    e = precheck(conn);
    if (e != 0) {
        return e;
    }
    long r = drive(conn, handshake_step, NULL, 0);
    return r == 0 ? finish_last_flight(conn) : (int)r;
}

int mpssl_conn_handshake_done(const mpssl_conn *conn) {
    return conn->state == STATE_OPEN;
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct io_args {
    uint8_t *rbuf;
    const uint8_t *wbuf;
    size_t len;
} io_args;

static long read_step(mpssl_conn *conn, void *arg) {
    io_args *io = arg;
    long r = mpssl_backend_impl.read(conn->bconn, io->rbuf, io->len);
    if (r > 0 || is_want(r)) {
        return r;
    }
    if (r == MPSSL_R_CLOSE_NOTIFY || r == MPSSL_R_EOF) {
        /* Transport EOF without close_notify reads as end of stream, as in
         * the reference and CPython's default. */
        conn->read_ended = 1;
        return 0;
    }
    if (conn->error == 0) {
        mpssl_core_fail(conn, MPSSL_FAIL_INTERNAL, 0, r, NULL);
    }
    return conn->error;
}

long mpssl_conn_read(mpssl_conn *conn, uint8_t *buf, size_t len) {
    long r = mpssl_conn_handshake(conn);
    /* A read need not wait for the last handshake flight to leave: the
     * drive below keeps flushing it, and buffered plaintext is readable. */
    if (r != 0 && !(r == MPSSL_WANT_WRITE && conn->state == STATE_OPEN)) {
        return r;
    }
    if (conn->read_ended || len == 0) {
        return 0;
    }
    io_args io = {.rbuf = buf, .len = len};
    return drive(conn, read_step, &io, 0);
}

static long write_step(mpssl_conn *conn, void *arg) {
    io_args *io = arg;
    long r = mpssl_backend_impl.write(conn->bconn, io->wbuf, io->len);
    if (r > 0 || is_want(r)) {
        return r;
    }
    if (conn->error == 0) {
        mpssl_core_fail(conn, MPSSL_FAIL_INTERNAL, 0, r, NULL);
    }
    return conn->error;
}

static void forget_unreported(mpssl_conn *conn) {
    mpssl_free(conn->unreported);
    conn->unreported = NULL;
    conn->unreported_len = 0;
}

/* A record was encrypted and queued, but the call ends without counting it
 * (would-block, timeout, interrupt): keep its plaintext to recognise the
 * retry.  0, or -ENOMEM (sticky). */
static int remember_unreported(mpssl_conn *conn, const uint8_t *buf, size_t n) {
    forget_unreported(conn);
    conn->unreported = mpssl_alloc(n);
    if (!conn->unreported) {
        return set_error(conn, -ENOMEM, NULL);
    }
    memcpy(conn->unreported, buf, n);
    conn->unreported_len = n;
    return 0;
}

/*
 * The record an earlier call left uncounted goes out exactly once, before
 * anything else.  Whether this call counts it depends on its data: a retry
 * starts with the same bytes and is credited with them (no duplicate); a
 * caller that moved on to other data is not (nothing it wrote is lost).
 * Returns the bytes credited (0 when none), or WANT/failure while the
 * record cannot leave yet.
 */
static long report_unflushed_write(mpssl_conn *conn, const uint8_t *buf,
                                   size_t len) {
    if (!conn->unreported) {
        return 0;
    }
    long r = conn->blocking ? drain(conn) : flush_queue(conn);
    if (r != 0) {
        return r;
    }
    size_t n = conn->unreported_len < len ? conn->unreported_len : len;
    if (memcmp(buf, conn->unreported, n) != 0) {
        forget_unreported(conn);
        return 0;
    }
    conn->unreported_len -= n;
    memmove(conn->unreported, conn->unreported + n, conn->unreported_len);
    if (conn->unreported_len == 0) {
        forget_unreported(conn);
    }
    return (long)n;
}

/* One record's worth: encrypt, then flush.  Returns the count once its
 * ciphertext left; otherwise the would-block, timeout or failure, with the
 * committed record remembered for the next call. */
static long write_record(mpssl_conn *conn, const uint8_t *buf, size_t len) {
    io_args io = {.wbuf = buf,
                  .len = len < MAX_WRITE_STEP ? len : MAX_WRITE_STEP};
    long n = drive(conn, write_step, &io, 1);
    if (n <= 0) {
        return n;
    }
    long f = conn->blocking ? drain(conn) : flush_queue(conn);
    if (f == 0) {
        return n;
    }
    if (f == MPSSL_WANT_WRITE || mpssl_result_is_transient(f)) {
        int e = remember_unreported(conn, buf, (size_t)n);
        if (e != 0) {
            return e;
        }
    }
    return f;
}

long mpssl_conn_write(mpssl_conn *conn, const uint8_t *buf, size_t len) {
    long r = mpssl_conn_handshake(conn);
    if (r != 0) {
        return r;
    }
    if (len == 0) {
        return 0;
    }
    size_t total = 0;
    r = report_unflushed_write(conn, buf, len);
    if (r < 0) {
        return r;
    }
    total = (size_t)r;
    if (conn->unreported || (total > 0 && !conn->blocking)) {
        return (long)total;
    }
    while (total < len) {
        r = write_record(conn, buf + total, len - total);
        if (r < 0) {
            /* Bytes already written in this call are reported; the failure
             * (or WANT) resurfaces on the next call. */
            return total > 0 && (is_want(r) || conn->error == 0) ? (long)total
                                                                 : r;
        }
        total += (size_t)r;
        if (!conn->blocking) {
            break; /* non-blocking: report progress as soon as there is some */
        }
    }
    return (long)total;
}

size_t mpssl_conn_pending(const mpssl_conn *conn) {
    if (conn->state != STATE_OPEN) {
        return 0;
    }
    return mpssl_backend_impl.pending(conn->bconn);
}

unsigned mpssl_conn_poll(const mpssl_conn *conn, unsigned requested,
                         unsigned *transport_events) {
    *transport_events = 0;
    if (conn->state == STATE_CLOSED || conn->state == STATE_FAILED) {
        return MPSSL_POLL_NVAL;
    }
    unsigned ready = 0;
    if (requested & MPSSL_POLL_RD) {
        if (mpssl_conn_pending(conn) > 0 || conn->read_ended) {
            ready |= MPSSL_POLL_RD;
        } else if (conn->state == STATE_HANDSHAKE) {
            *transport_events |=
                conn->want == MPSSL_WANT_WRITE ? MPSSL_POLL_WR : MPSSL_POLL_RD;
        } else {
            *transport_events |= MPSSL_POLL_RD;
        }
    }
    if (requested & MPSSL_POLL_WR) {
        if (conn->state == STATE_HANDSHAKE && conn->want == MPSSL_WANT_READ) {
            *transport_events |= MPSSL_POLL_RD;
        } else {
            *transport_events |= MPSSL_POLL_WR;
        }
    }
    if (queued(conn) > 0) {
        *transport_events |= MPSSL_POLL_WR;
    }
    return ready;
}

/* ------------------------------------------------------------------------ */
/* Close                                                                    */
/* ------------------------------------------------------------------------ */

void mpssl_conn_close(mpssl_conn *conn) {
    if (!conn || conn->state == STATE_CLOSED) {
        return;
    }
    if (conn->state == STATE_OPEN && !conn->close_notify_sent) {
        conn->close_notify_sent = 1;
        /* One attempt that never blocks: whatever the transport takes. */
        conn->corked = 1;
        int r = mpssl_backend_impl.close_notify(conn->bconn);
        conn->corked = 0;
        if (r == MPSSL_R_DONE) {
            (void)flush_queue(conn);
        }
    }
    if (conn->bconn) {
        mpssl_backend_impl.conn_free(conn->bconn);
        conn->bconn = NULL;
    }
    mpssl_native_unref(conn->native);
    conn->native = NULL;
    queue_release(conn);
    forget_unreported(conn);
    conn->state = STATE_CLOSED;
}

int mpssl_conn_closed(const mpssl_conn *conn) {
    return conn->state == STATE_CLOSED;
}

void mpssl_conn_free(mpssl_conn *conn) {
    if (!conn) {
        return;
    }
    mpssl_conn_close(conn);
    mpssl_free(conn->hostname);
    mpssl_ctx_unref(conn->ctx);
    mpssl_free(conn);
}

/* ------------------------------------------------------------------------ */
/* Negotiated parameters                                                    */
/* ------------------------------------------------------------------------ */

int mpssl_conn_cipher(const mpssl_conn *conn, uint16_t *suite_id,
                      int *version) {
    if (conn->state == STATE_CLOSED) {
        return MPSSL_ERR_CLOSED;
    }
    if (conn->state != STATE_OPEN) {
        return MPSSL_WANT_READ;
    }
    return mpssl_backend_impl.negotiated(conn->bconn, suite_id, version) == 0
               ? 0
               : MPSSL_WANT_READ;
}

int mpssl_conn_peer_cert(const mpssl_conn *conn, const uint8_t **der,
                         size_t *len) {
    if (!conn->bconn || conn->state == STATE_HANDSHAKE) {
        return -1;
    }
    return mpssl_backend_impl.peer_cert(conn->bconn, der, len);
}

int mpssl_conn_verify_result(const mpssl_conn *conn) {
    if (conn->state == STATE_HANDSHAKE) {
        return MPSSL_VERIFY_NOT_DONE;
    }
    return conn->verify_result;
}
