/*
 * test_core_fake.c - the core's connection state machine, verification
 * policy and error mapping, pinned against a scripted fake backend.
 *
 * This executable links core/context.c and core/conn.c with its own
 * mpssl_backend_impl (name "fake") instead of a TLS library: every backend
 * step does what the running test's script says (emit flight bytes, read
 * the transport, ask for the core's verdict, report a failure, return a
 * result), and the transport is an in-memory fake with scripted
 * would-block/errno results, a byte log and a scripted wait().  So the
 * core's policy is checked independently of OpenSSL and the others.
 *
 * The certificate below is parsed only (for host name matching); it was
 * made once with:
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
 *     -nodes -subj /CN=good.example
 *     -addext subjectAltName=DNS:good.example,IP:127.0.0.1
 * and converted to DER, as was its key (SEC1).
 */
#include "backend.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */
/* ------------------------------------------------------------------------ */

static const uint8_t good_example_cert[] = {
    0x30, 0x82, 0x01, 0xa4, 0x30, 0x82, 0x01, 0x4a, 0xa0, 0x03, 0x02, 0x01,
    0x02, 0x02, 0x14, 0x6d, 0xcd, 0x0d, 0x47, 0x46, 0xbe, 0xab, 0xa5, 0xee,
    0x4d, 0x25, 0x6f, 0x59, 0x0f, 0x26, 0x8d, 0xe3, 0x24, 0x32, 0x71, 0x30,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30,
    0x17, 0x31, 0x15, 0x30, 0x13, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0c,
    0x67, 0x6f, 0x6f, 0x64, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x30, 0x20, 0x17, 0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x34, 0x32, 0x33,
    0x33, 0x37, 0x35, 0x33, 0x5a, 0x18, 0x0f, 0x32, 0x31, 0x32, 0x36, 0x31,
    0x30, 0x33, 0x31, 0x32, 0x33, 0x33, 0x37, 0x35, 0x33, 0x5a, 0x30, 0x17,
    0x31, 0x15, 0x30, 0x13, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0c, 0x67,
    0x6f, 0x6f, 0x64, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x30,
    0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42,
    0x00, 0x04, 0x9b, 0x23, 0xe6, 0x89, 0x25, 0x12, 0x43, 0x32, 0x9f, 0x62,
    0xad, 0x5e, 0x57, 0x4b, 0x96, 0x06, 0x49, 0x2f, 0x78, 0xfa, 0x4f, 0x03,
    0x57, 0x01, 0xbc, 0xab, 0x5b, 0xb6, 0x82, 0x12, 0x84, 0x13, 0xbd, 0x55,
    0xbf, 0xe4, 0x26, 0x89, 0xfe, 0x20, 0x99, 0x0d, 0xd4, 0xd1, 0xe4, 0xc7,
    0xfc, 0xc8, 0xe1, 0xe1, 0xe7, 0x53, 0x22, 0x18, 0x82, 0x93, 0x3f, 0xd6,
    0xa9, 0x3b, 0x41, 0x1f, 0x2a, 0x9a, 0xa3, 0x72, 0x30, 0x70, 0x30, 0x1d,
    0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0x9e, 0xa8, 0xcf,
    0xb0, 0x2f, 0xe4, 0x60, 0xb4, 0xad, 0x6c, 0x52, 0x09, 0xbc, 0x49, 0xa8,
    0x10, 0x2a, 0x8b, 0xf3, 0x81, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23,
    0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0x9e, 0xa8, 0xcf, 0xb0, 0x2f, 0xe4,
    0x60, 0xb4, 0xad, 0x6c, 0x52, 0x09, 0xbc, 0x49, 0xa8, 0x10, 0x2a, 0x8b,
    0xf3, 0x81, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff,
    0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff, 0x30, 0x1d, 0x06, 0x03, 0x55,
    0x1d, 0x11, 0x04, 0x16, 0x30, 0x14, 0x82, 0x0c, 0x67, 0x6f, 0x6f, 0x64,
    0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x87, 0x04, 0x7f, 0x00,
    0x00, 0x01, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
    0x03, 0x02, 0x03, 0x48, 0x00, 0x30, 0x45, 0x02, 0x21, 0x00, 0xb3, 0xa9,
    0x5b, 0xf0, 0x57, 0x9f, 0x8e, 0xa9, 0x72, 0x18, 0x68, 0x8f, 0x3b, 0xf9,
    0xb9, 0x64, 0x78, 0x4b, 0x0e, 0xf9, 0xbe, 0xe7, 0x91, 0x3a, 0x35, 0x52,
    0xea, 0x18, 0xff, 0x68, 0xa4, 0x54, 0x02, 0x20, 0x0f, 0x0b, 0xbc, 0x8a,
    0x8a, 0x97, 0x36, 0x31, 0x3f, 0xc2, 0x61, 0x5a, 0x10, 0x27, 0x4d, 0x3b,
    0x9d, 0x34, 0x0d, 0xb5, 0x80, 0x37, 0xd8, 0x0f, 0x1e, 0xd2, 0xab, 0x8e,
    0xc1, 0x5b, 0x49, 0x98};

static const uint8_t good_example_key[] = {
    0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0x2c, 0x3c, 0x80, 0x53,
    0xae, 0x42, 0x45, 0x29, 0x06, 0xd7, 0xb2, 0xf4, 0xd2, 0x7e, 0x8a,
    0xcd, 0xaf, 0x61, 0x44, 0xed, 0x16, 0x69, 0xd6, 0xce, 0xef, 0x1a,
    0xc7, 0x9a, 0x92, 0xfc, 0xd3, 0xd1, 0xa0, 0x0a, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42,
    0x00, 0x04, 0x9b, 0x23, 0xe6, 0x89, 0x25, 0x12, 0x43, 0x32, 0x9f,
    0x62, 0xad, 0x5e, 0x57, 0x4b, 0x96, 0x06, 0x49, 0x2f, 0x78, 0xfa,
    0x4f, 0x03, 0x57, 0x01, 0xbc, 0xab, 0x5b, 0xb6, 0x82, 0x12, 0x84,
    0x13, 0xbd, 0x55, 0xbf, 0xe4, 0x26, 0x89, 0xfe, 0x20, 0x99, 0x0d,
    0xd4, 0xd1, 0xe4, 0xc7, 0xfc, 0xc8, 0xe1, 0xe1, 0xe7, 0x53, 0x22,
    0x18, 0x82, 0x93, 0x3f, 0xd6, 0xa9, 0x3b, 0x41, 0x1f, 0x2a, 0x9a};

/* Not a certificate: the core's parser refuses it. */
static const uint8_t garbage_leaf[] = {0x30, 0x03, 0x02, 0x01, 0x00};

/* ------------------------------------------------------------------------ */
/* The script language                                                      */
/* ------------------------------------------------------------------------ */

/* A write step result (and a transport send result) meaning "all of it". */
#define ALL 0x40000000L
#define WB MPSSL_IO_WOULD_BLOCK

/* More backend steps or waits than any test needs: the script ran away
 * (a core loop that never ends); fail instead of hanging. */
#define RUNAWAY 500

/*
 * One backend step, executed in this order: `sends` flight messages through
 * mpssl_io_send (message i is (i+1)*10 bytes of 'A'+i); one mpssl_io_recv
 * if `recv`; mpssl_core_verdict on `leaf` with `vflags` if `verdict` (when
 * it says abort, the step reports `fail` if set and returns MPSSL_R_FAIL);
 * mpssl_core_fail with fail/fail_arg/fail_native/fail_detail if `fail`;
 * then `result`.  A read step with `data` delivers that plaintext.
 */
typedef struct fake_step {
    long result;
    int sends;
    int recv;
    int verdict;
    const uint8_t *leaf;
    size_t leaf_len;
    unsigned vflags;
    mpssl_fail_kind fail;
    int fail_arg;
    long fail_native;
    const char *fail_detail;
    const char *data;
} fake_step;

typedef struct script {
    const fake_step *steps;
    size_t n, next;
} script;

#define SET_SCRIPT(s, arr) ((s).steps = (arr), (s).n = ARRAY_LEN(arr))

static const fake_step *script_next(script *s) {
    return s->next < s->n ? &s->steps[s->next++] : NULL;
}

/* A wait() result, optionally making the transport writable again. */
typedef struct wait_step {
    int result;
    int unblock_send;
} wait_step;

typedef struct fake_native {
    int id;
} fake_native;

typedef struct fake_conn {
    mpssl_conn *core;
    int native_id;
} fake_conn;

/* Everything the fakes observe and are told; zeroed before each test. */
static struct fake_state {
    /* backend scripts and observations */
    script hs, rd, wr;
    int steps;
    int hs_calls, read_calls, write_calls, close_notify_calls;
    int ctx_builds, ctx_frees, conn_news, conn_frees, check_keys;
    int live_natives, last_freed_native;
    int conn_new_result, ctx_build_result;
    mpssl_config last_cfg;
    uint16_t last_suites[16];
    int conn_native[8]; /* native id handed to the i-th conn_new */
    int sni_given;      /* conn_new got a non-NULL sni */
    char sni[64];
    size_t check_key_cert_len;
    size_t pending;
    int verdict_ret;
    long last_recv, last_send;
    int step_limit; /* RUNAWAY unless a test needs more steps */
    size_t write_lens[8];
    int n_write_lens;
    const uint8_t *peer_leaf;
    size_t peer_leaf_len;

    /* transport */
    const long *send_script;
    size_t n_send, i_send;
    int send_blocked; /* after the script: WB instead of accepting */
    int send_calls;
    uint8_t sent[1 << 17];
    size_t sent_len;
    const long *recv_script;
    size_t n_recv, i_recv;
    int recv_calls;
    char trace[64]; /* 'S' send that moved bytes, 's' one that did
                       not, 'R' recv, 'W' wait */
    size_t trace_len;
    const wait_step *wait_script;
    size_t n_wait, i_wait;
    int wait_calls;
    unsigned wait_events[16];
} F;

static void fake_reset(void) {
    memset(&F, 0, sizeof F);
}

static void trace(char c) {
    if (F.trace_len + 1 < sizeof F.trace) {
        F.trace[F.trace_len++] = c;
    }
}

/* ------------------------------------------------------------------------ */
/* The fake backend                                                         */
/* ------------------------------------------------------------------------ */

static const char *fake_version(void) {
    return "fake 1.0";
}
static int fake_global_init(void) {
    return 0;
}

/* Includes a forbidden and a PSK suite: the core's policy must drop them
 * even though the "library" offers them. */
static size_t fake_supported_suites(uint16_t *ids, size_t cap) {
    static const uint16_t mine[] = {0x1301, 0xC02B, 0xC02F, 0x000A, 0x00A8};
    for (size_t i = 0; i < ARRAY_LEN(mine) && i < cap; i++) {
        ids[i] = mine[i];
    }
    return ARRAY_LEN(mine);
}

static int fake_check_key(const mpssl_blob *key, mpssl_key_type type,
                          const mpssl_blob *cert) {
    (void)key;
    (void)type;
    F.check_keys++;
    F.check_key_cert_len = cert->len;
    return 0;
}

static int fake_ctx_build(const mpssl_config *cfg, void **native, char *why,
                          size_t why_cap) {
    F.ctx_builds++;
    if (F.ctx_build_result != 0) {
        snprintf(why, why_cap, "scripted refusal");
        return F.ctx_build_result;
    }
    /* The config is only valid during the call: keep copies. */
    F.last_cfg = *cfg;
    size_t n = cfg->n_suites < 16 ? cfg->n_suites : 16;
    memcpy(F.last_suites, cfg->suites, n * sizeof *cfg->suites);
    F.last_cfg.suites = F.last_suites;
    F.last_cfg.cas = NULL;
    F.last_cfg.chain = NULL;
    F.last_cfg.key.data = NULL;
    fake_native *fn = malloc(sizeof *fn);
    if (!fn) {
        return -ENOMEM;
    }
    fn->id = F.ctx_builds;
    F.live_natives++;
    *native = fn;
    return 0;
}

static void fake_ctx_free(void *native) {
    fake_native *fn = native;
    F.ctx_frees++;
    F.live_natives--;
    F.last_freed_native = fn->id;
    free(fn);
}

static int fake_conn_new(void *native, mpssl_conn *core, const char *sni,
                         void **bconn) {
    F.conn_news++;
    if (F.conn_new_result != 0) {
        return F.conn_new_result;
    }
    fake_conn *fc = malloc(sizeof *fc);
    if (!fc) {
        return -ENOMEM;
    }
    fc->core = core;
    fc->native_id = ((fake_native *)native)->id;
    if (F.conn_news <= (int)ARRAY_LEN(F.conn_native)) {
        F.conn_native[F.conn_news - 1] = fc->native_id;
    }
    F.sni_given = sni != NULL;
    snprintf(F.sni, sizeof F.sni, "%s", sni ? sni : "");
    *bconn = fc;
    return 0;
}

static void fake_conn_free(void *bconn) {
    F.conn_frees++;
    free(bconn);
}

static long run_step(fake_conn *fc, const fake_step *s) {
    for (int i = 0; i < s->sends; i++) {
        uint8_t flight[64];
        size_t len = (size_t)(i + 1) * 10;
        memset(flight, 'A' + i, len);
        F.last_send = mpssl_io_send(fc->core, flight, len);
    }
    if (s->recv) {
        uint8_t buf[64];
        F.last_recv = mpssl_io_recv(fc->core, buf, sizeof buf);
    }
    if (s->verdict) {
        F.verdict_ret =
            mpssl_core_verdict(fc->core, s->leaf, s->leaf_len, s->vflags);
        if (!F.verdict_ret) {
            if (s->fail) {
                mpssl_core_fail(fc->core, s->fail, s->fail_arg, s->fail_native,
                                s->fail_detail);
            }
            return MPSSL_R_FAIL;
        }
    }
    if (s->fail) {
        return mpssl_core_fail(fc->core, s->fail, s->fail_arg, s->fail_native,
                               s->fail_detail);
    }
    return s->result;
}

static int runaway(fake_conn *fc) {
    if (++F.steps <= (F.step_limit ? F.step_limit : RUNAWAY)) {
        return 0;
    }
    mpssl_core_fail(fc->core, MPSSL_FAIL_INTERNAL, 0, 0, "runaway script");
    return 1;
}

/* Without a script the handshake completes at once. */
static int fake_handshake(void *bconn) {
    fake_conn *fc = bconn;
    F.hs_calls++;
    if (runaway(fc)) {
        return MPSSL_R_FAIL;
    }
    const fake_step *s = script_next(&F.hs);
    return s ? (int)run_step(fc, s) : MPSSL_R_DONE;
}

/* Without a script there is nothing to read yet. */
static long fake_read(void *bconn, uint8_t *buf, size_t len) {
    fake_conn *fc = bconn;
    F.read_calls++;
    if (runaway(fc)) {
        return MPSSL_R_FAIL;
    }
    const fake_step *s = script_next(&F.rd);
    if (!s) {
        return MPSSL_R_WANT_READ;
    }
    long r = run_step(fc, s);
    if (r == MPSSL_R_DONE && s->data) {
        size_t n = strlen(s->data) < len ? strlen(s->data) : len;
        memcpy(buf, s->data, n);
        return (long)n;
    }
    return r;
}

/* Without a script (or with result ALL) the plaintext becomes one
 * "record": a 5-byte header and the bytes, handed to mpssl_io_send. */
static long fake_write(void *bconn, const uint8_t *buf, size_t len) {
    static uint8_t record[5 + 16384];
    fake_conn *fc = bconn;
    F.write_calls++;
    if (F.n_write_lens < (int)ARRAY_LEN(F.write_lens)) {
        F.write_lens[F.n_write_lens++] = len;
    }
    if (runaway(fc)) {
        return MPSSL_R_FAIL;
    }
    const fake_step *s = script_next(&F.wr);
    if (s) {
        long r = run_step(fc, s);
        if (r != ALL) {
            return r;
        }
    }
    if (len > 16384) {
        return mpssl_core_fail(fc->core, MPSSL_FAIL_INTERNAL, 0, 0,
                               "record too long");
    }
    memcpy(record, "HDR:!", 5);
    memcpy(record + 5, buf, len);
    long r = mpssl_io_send(fc->core, record, 5 + len);
    if (r < 0) {
        return mpssl_core_fail(fc->core, MPSSL_FAIL_TRANSPORT, 0, 0, NULL);
    }
    return (long)len;
}

static size_t fake_pending(const void *bconn) {
    (void)bconn;
    return F.pending;
}

static int fake_close_notify(void *bconn) {
    fake_conn *fc = bconn;
    F.close_notify_calls++;
    mpssl_io_send(fc->core, (const uint8_t *)"CLOSE!!", 7);
    return MPSSL_R_DONE;
}

static int fake_peer_cert(const void *bconn, const uint8_t **der, size_t *len) {
    (void)bconn;
    if (!F.peer_leaf) {
        return -1;
    }
    *der = F.peer_leaf;
    *len = F.peer_leaf_len;
    return 0;
}

static int fake_negotiated(const void *bconn, uint16_t *suite_id,
                           int *version) {
    (void)bconn;
    *suite_id = 0xC02F;
    *version = MPSSL_TLS1_2;
    return 0;
}

const mpssl_backend mpssl_backend_impl = {
    .name = "fake",
    .caps = MPSSL_CAP_TLS13,
    .version = fake_version,
    .global_init = fake_global_init,
    .global_deinit = NULL,
    .supported_suites = fake_supported_suites,
    .check_key = fake_check_key,
    .ctx_build = fake_ctx_build,
    .ctx_free = fake_ctx_free,
    .conn_new = fake_conn_new,
    .conn_free = fake_conn_free,
    .handshake = fake_handshake,
    .read = fake_read,
    .write = fake_write,
    .pending = fake_pending,
    .close_notify = fake_close_notify,
    .peer_cert = fake_peer_cert,
    .negotiated = fake_negotiated,
};

/* ------------------------------------------------------------------------ */
/* The fake transport                                                       */
/* ------------------------------------------------------------------------ */

static long fake_send(void *user, const uint8_t *buf, size_t len) {
    (void)user;
    F.send_calls++;
    long r;
    if (F.i_send < F.n_send) {
        r = F.send_script[F.i_send++];
    } else {
        r = F.send_blocked ? WB : ALL;
    }
    if (r == ALL || r > (long)len) {
        r = (long)len;
    }
    if (r > 0) {
        size_t room = sizeof F.sent - F.sent_len;
        size_t n = (size_t)r < room ? (size_t)r : room;
        memcpy(F.sent + F.sent_len, buf, n);
        F.sent_len += n;
    }
    trace(r > 0 ? 'S' : 's');
    return r;
}

/* Without a script the transport has nothing to read. */
static long fake_recv(void *user, uint8_t *buf, size_t len) {
    (void)user;
    F.recv_calls++;
    trace('R');
    long r = F.i_recv < F.n_recv ? F.recv_script[F.i_recv++] : WB;
    if (r > (long)len) {
        r = (long)len;
    }
    if (r > 0) {
        memset(buf, 'x', (size_t)r);
    }
    return r;
}

static int fake_wait(void *user, unsigned events) {
    (void)user;
    trace('W');
    if (F.wait_calls < (int)ARRAY_LEN(F.wait_events)) {
        F.wait_events[F.wait_calls] = events;
    }
    if (++F.wait_calls > RUNAWAY) {
        return -ETIMEDOUT;
    }
    if (F.i_wait >= F.n_wait) {
        return 0;
    }
    const wait_step *w = &F.wait_script[F.i_wait++];
    if (w->unblock_send) {
        F.send_blocked = 0;
    }
    return w->result;
}

static const mpssl_transport transport = {NULL, fake_recv, fake_send,
                                          fake_wait};
static const mpssl_transport transport_without_wait = {NULL, fake_recv,
                                                       fake_send, NULL};

#define SET_SEND(arr) (F.send_script = (arr), F.n_send = ARRAY_LEN(arr))
#define SET_RECV(arr) (F.recv_script = (arr), F.n_recv = ARRAY_LEN(arr))
#define SET_WAIT(arr) (F.wait_script = (arr), F.n_wait = ARRAY_LEN(arr))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static mpssl_ctx *new_ctx(int protocol, int verify_mode) {
    mpssl_ctx *ctx = NULL;
    CHECK_EQ_INT(mpssl_ctx_new(protocol, &ctx), 0);
    if (ctx) {
        CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, verify_mode), 0);
    }
    return ctx;
}

/* A verifying context that trusts the fixture certificate. */
static mpssl_ctx *new_ctx_with_ca(int protocol, int verify_mode) {
    mpssl_ctx *ctx = new_ctx(protocol, verify_mode);
    CHECK_EQ_INT(mpssl_ctx_load_verify_data(ctx, good_example_cert,
                                            sizeof good_example_cert),
                 0);
    return ctx;
}

static mpssl_conn *new_conn_on(mpssl_ctx *ctx, const mpssl_transport *t,
                               const char *host, int blocking) {
    mpssl_conn *conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, t, host, &conn), 0);
    if (conn) {
        mpssl_conn_set_blocking(conn, blocking);
    }
    return conn;
}

static mpssl_conn *new_conn(mpssl_ctx *ctx, const char *host, int blocking) {
    return new_conn_on(ctx, &transport, host, blocking);
}

/* A non-verifying client connection, the usual subject of a test. */
static mpssl_conn *plain_client(int blocking) {
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *conn = new_conn(ctx, NULL, blocking);
    mpssl_ctx_unref(ctx); /* the connection keeps its own reference */
    return conn;
}

static const char *error_text(const mpssl_conn *conn) {
    static char msg[256];
    mpssl_conn_error(conn, msg, sizeof msg);
    return msg;
}

static int contains(const char *haystack, const char *needle) {
    return strstr(haystack, needle) != NULL;
}

/* Library and core constant spellings never reach a message. */
static int mentions_constant_name(const char *msg) {
    static const char *const prefixes[] = {
        "SSL_", "ERR_", "MPSSL", "X509_", "MBEDTLS", "GNUTLS_", "BR_ERR"};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        if (contains(msg, prefixes[i])) {
            return 1;
        }
    }
    return 0;
}

static int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------------------ */
/* Error mapping                                                            */
/* ------------------------------------------------------------------------ */

typedef struct fail_case {
    mpssl_fail_kind kind;
    int arg;
    int expected;
    const char *fragment; /* must appear in the message; NULL: none */
} fail_case;

static void test_every_fail_kind_maps_to_its_documented_code(void) {
    static const fail_case cases[] = {
        {MPSSL_FAIL_PROTOCOL, 0, MPSSL_ERR_PROTOCOL, NULL},
        {MPSSL_FAIL_PEER_ALERT, 40, MPSSL_ERR_PEER_ALERT,
         ": handshake_failure (40)"},
        {MPSSL_FAIL_PEER_ALERT, 48, MPSSL_ERR_PEER_ALERT, ": unknown_ca (48)"},
        {MPSSL_FAIL_PEER_ALERT, 200, MPSSL_ERR_PEER_ALERT,
         ": unknown alert (200)"},
        {MPSSL_FAIL_NO_SHARED, 0, MPSSL_ERR_NO_SHARED_CIPHER, NULL},
        {MPSSL_FAIL_VERIFY,
         MPSSL_VF_UNTRUSTED | MPSSL_VF_OTHER | MPSSL_VF_EXPIRED |
             MPSSL_VF_NOT_YET_VALID,
         MPSSL_ERR_CERT_UNTRUSTED, NULL},
        {MPSSL_FAIL_VERIFY,
         MPSSL_VF_OTHER | MPSSL_VF_EXPIRED | MPSSL_VF_NOT_YET_VALID,
         MPSSL_ERR_CERT_INVALID, NULL},
        {MPSSL_FAIL_VERIFY, MPSSL_VF_EXPIRED | MPSSL_VF_NOT_YET_VALID,
         MPSSL_ERR_CERT_EXPIRED, NULL},
        {MPSSL_FAIL_VERIFY, MPSSL_VF_NOT_YET_VALID,
         MPSSL_ERR_CERT_NOT_YET_VALID, NULL},
        {MPSSL_FAIL_VERIFY, 0, MPSSL_ERR_CERT_INVALID, NULL},
        {MPSSL_FAIL_NO_PEER_CERT, 0, MPSSL_ERR_NO_PEER_CERT, NULL},
        {MPSSL_FAIL_EOF, 0, MPSSL_ERR_HANDSHAKE_EOF, NULL},
        /* TRANSPORT without an errno the io layer saw: still an errno. */
        {MPSSL_FAIL_TRANSPORT, 0, -EIO, NULL},
        {MPSSL_FAIL_NOMEM, 0, -ENOMEM, NULL},
        {MPSSL_FAIL_UNSUPPORTED, 0, MPSSL_ERR_UNSUPPORTED, NULL},
        {MPSSL_FAIL_CONFIG, 0, MPSSL_ERR_INTERNAL, NULL},
        {MPSSL_FAIL_INTERNAL, 0, MPSSL_ERR_INTERNAL, NULL},
        {MPSSL_FAIL_PEER_CLOSED, 0, MPSSL_ERR_HANDSHAKE_EOF, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const fail_case *c = &cases[i];
        fake_reset();
        const fake_step hs[] = {{.fail = c->kind,
                                 .fail_arg = c->arg,
                                 .fail_native = 1234,
                                 .fail_detail = "scripted reason"}};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = plain_client(0);
        int r = mpssl_conn_handshake(conn);
        const char *msg = error_text(conn);
        if (r != c->expected) {
            printf("  case %zu (kind %d, arg %d): got %d, message \"%s\"\n", i,
                   (int)c->kind, c->arg, r, msg);
        }
        CHECK_EQ_INT(r, c->expected);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), c->expected);
        const char *base = c->expected >= -MPSSL_ERRNO_MAX
                               ? strerror(-c->expected)
                               : mpssl_strerror(c->expected);
        CHECK(starts_with(msg, base));
        if (c->fragment) {
            CHECK(contains(msg, c->fragment));
        }
        /* The backend's detail, named, in parentheses, at the end. */
        const char *tail = " (fake: scripted reason)";
        CHECK(strlen(msg) > strlen(tail) &&
              strcmp(msg + strlen(msg) - strlen(tail), tail) == 0);
        CHECK(!mentions_constant_name(msg));
        mpssl_conn_free(conn);
    }
}

static void test_alert_message_names_alert_and_number(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_PEER_ALERT, .fail_arg = 40}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PEER_ALERT);
    CHECK_EQ_STR(error_text(conn),
                 "peer sent a fatal alert: handshake_failure (40)");
    mpssl_conn_free(conn);
}

static void test_native_code_shown_when_backend_gives_no_text(void) {
    fake_reset();
    const fake_step hs[] = {
        {.fail = MPSSL_FAIL_PROTOCOL, .fail_native = 336130315}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_STR(error_text(conn), "TLS protocol error (fake: code 336130315)");
    mpssl_conn_free(conn);
}

static void test_message_has_no_parentheses_without_backend_detail(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_NO_SHARED}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_NO_SHARED_CIPHER);
    CHECK_EQ_STR(error_text(conn), mpssl_strerror(MPSSL_ERR_NO_SHARED_CIPHER));
    mpssl_conn_free(conn);
}

static void test_message_is_truncated_safely_to_capacity(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_PEER_ALERT,
                             .fail_arg = 40,
                             .fail_detail = "a long library reason"}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    mpssl_conn_handshake(conn);
    char small[12];
    memset(small, '#', sizeof small);
    CHECK_EQ_INT(mpssl_conn_error(conn, small, sizeof small),
                 MPSSL_ERR_PEER_ALERT);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK(starts_with("peer sent a fatal alert", small));
    mpssl_conn_free(conn);
}

static void test_backend_failing_silently_is_internal_error(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_FAIL}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_INTERNAL);
    CHECK(!mentions_constant_name(error_text(conn)));
    mpssl_conn_free(conn);
}

static void test_eof_step_result_in_handshake_is_handshake_eof(void) {
    static const long results[] = {MPSSL_R_EOF, MPSSL_R_CLOSE_NOTIFY};
    for (size_t i = 0; i < ARRAY_LEN(results); i++) {
        fake_reset();
        const fake_step hs[] = {{.result = results[i]}};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = plain_client(0);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_HANDSHAKE_EOF);
        mpssl_conn_free(conn);
    }
}

static void test_eof_kind_after_handshake_is_protocol_error(void) {
    fake_reset();
    const fake_step rd[] = {{.fail = MPSSL_FAIL_EOF}};
    SET_SCRIPT(F.rd, rd);
    mpssl_conn *conn = plain_client(0);
    uint8_t buf[16];
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_ERR_PROTOCOL);
    mpssl_conn_free(conn);
}

static void test_handshake_input_beyond_the_bound_is_a_protocol_error(void) {
    enum { STEPS = MPSSL_MAX_HANDSHAKE_INPUT / 64 + 2 };
    static fake_step many[STEPS];
    static long reads[STEPS];
    fake_reset();
    for (size_t i = 0; i < STEPS; i++) {
        many[i] = (fake_step){.recv = 1, .result = MPSSL_R_WANT_READ};
        reads[i] = 64; /* run_step reads 64 bytes at a time */
    }
    SET_SCRIPT(F.hs, many);
    SET_RECV(reads);
    F.step_limit = STEPS;
    mpssl_conn *conn = plain_client(0);
    int r = MPSSL_WANT_READ;
    size_t calls = 0;
    while (r == MPSSL_WANT_READ && calls++ < STEPS) {
        r = mpssl_conn_handshake(conn);
    }
    CHECK_EQ_INT(r, MPSSL_ERR_PROTOCOL);
    /* Failed on the read that crossed the bound, not before. */
    CHECK_EQ_INT(F.recv_calls, MPSSL_MAX_HANDSHAKE_INPUT / 64 + 1);
    CHECK(contains(error_text(conn), "128 KiB"));
    mpssl_conn_free(conn);
}

static void
test_write_the_library_cannot_send_after_close_notify_is_epipe(void) {
    fake_reset();
    const fake_step wr[] = {{.fail = MPSSL_FAIL_PEER_CLOSED}};
    SET_SCRIPT(F.wr, wr);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_write(conn, (const uint8_t *)"x", 1), -EPIPE);
    mpssl_conn_free(conn);
}

static void test_transport_failure_reports_errno_recorded_by_io_layer(void) {
    fake_reset();
    static const long recv_results[] = {-ECONNRESET};
    SET_RECV(recv_results);
    const fake_step hs[] = {{.recv = 1, .fail = MPSSL_FAIL_TRANSPORT}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), -ECONNRESET);
    CHECK_EQ_INT(F.last_recv, -ECONNRESET); /* the backend saw the errno */
    CHECK(starts_with(error_text(conn), strerror(ECONNRESET)));
    mpssl_conn_free(conn);
}

static void test_send_errno_during_write_is_the_failure(void) {
    fake_reset();
    static const long send_results[] = {-EPIPE};
    SET_SEND(send_results);
    mpssl_conn *conn = plain_client(0);
    uint8_t data[10] = {0};
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), -EPIPE);
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), -EPIPE);
    CHECK_EQ_INT(F.write_calls, 1);
    mpssl_conn_free(conn);
}

static void test_transport_errno_beats_library_complaint(void) {
    fake_reset();
    static const long recv_results[] = {-ECONNRESET};
    SET_RECV(recv_results);
    const fake_step hs[] = {{.recv = 1,
                             .fail = MPSSL_FAIL_PROTOCOL,
                             .fail_detail = "unexpected eof"}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), -ECONNRESET);
    CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), -ECONNRESET);
    mpssl_conn_free(conn);
}

static void test_transient_recv_errors_reach_library_as_would_block(void) {
    static const long transient[] = {-EINTR, -ETIMEDOUT};
    for (size_t i = 0; i < ARRAY_LEN(transient); i++) {
        fake_reset();
        const long recv_results[] = {transient[i]};
        SET_RECV(recv_results);
        const fake_step hs[] = {{.recv = 1, .result = MPSSL_R_WANT_READ}};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = plain_client(0);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
        CHECK_EQ_INT(F.last_recv, WB);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
        /* Nothing was recorded: a later complaint keeps its own kind. */
        const fake_step hs2[] = {{.fail = MPSSL_FAIL_PROTOCOL}};
        SET_SCRIPT(F.hs, hs2);
        F.hs.next = 0;
        CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PROTOCOL);
        mpssl_conn_free(conn);
    }
}

static void test_core_verdict_beats_later_library_failure(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
    const fake_step hs[] = {{.verdict = 1,
                             .leaf = good_example_cert,
                             .leaf_len = sizeof good_example_cert,
                             .vflags = MPSSL_VF_UNTRUSTED,
                             .fail = MPSSL_FAIL_PEER_ALERT,
                             .fail_arg = 42,
                             .fail_detail = "sent bad_certificate"}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = new_conn(ctx, "good.example", 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_CERT_UNTRUSTED);
    CHECK_EQ_INT(F.verdict_ret, 0);
    const char *msg = error_text(conn);
    CHECK(!contains(msg, "bad_certificate"));
    CHECK(!contains(msg, "alert"));
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void test_transport_failure_sending_the_alert_keeps_first_failure(void) {
    static const int modes[] = {MPSSL_CERT_REQUIRED, MPSSL_CERT_NONE};
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        fake_reset();
        mpssl_ctx *ctx = new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, modes[i]);
        /* The step queues its fatal alert, then fails: by the core's
         * verdict (CERT_REQUIRED) or its own complaint (CERT_NONE). */
        const fake_step hs[] = {{.sends = 1,
                                 .verdict = 1,
                                 .leaf = good_example_cert,
                                 .leaf_len = sizeof good_example_cert,
                                 .vflags = MPSSL_VF_UNTRUSTED,
                                 .fail = MPSSL_FAIL_PROTOCOL}};
        SET_SCRIPT(F.hs, hs);
        static const long send_results[] = {-EPIPE};
        SET_SEND(send_results);
        mpssl_conn *conn = new_conn(ctx, "good.example", 0);
        int expected = modes[i] == MPSSL_CERT_REQUIRED
                           ? MPSSL_ERR_CERT_UNTRUSTED
                           : MPSSL_ERR_PROTOCOL;
        CHECK_EQ_INT(mpssl_conn_handshake(conn), expected);
        CHECK_EQ_INT(F.send_calls, 1); /* the alert was attempted */
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), expected);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

/* ------------------------------------------------------------------------ */
/* Sticky failures                                                          */
/* ------------------------------------------------------------------------ */

static void
test_handshake_failure_is_sticky_and_backend_not_called_again(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_PROTOCOL}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    uint8_t buf[8] = {0};
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PROTOCOL);
    int sends = F.send_calls, recvs = F.recv_calls;
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_INT(F.hs_calls, 1);
    CHECK_EQ_INT(F.read_calls, 0);
    CHECK_EQ_INT(F.write_calls, 0);
    CHECK_EQ_INT(F.send_calls, sends);
    CHECK_EQ_INT(F.recv_calls, recvs);
    CHECK_EQ_INT(mpssl_conn_handshake_done(conn), 0);
    mpssl_conn_free(conn);
}

static void test_read_failure_is_sticky_for_writes_too(void) {
    fake_reset();
    const fake_step rd[] = {{.fail = MPSSL_FAIL_PEER_ALERT, .fail_arg = 20}};
    SET_SCRIPT(F.rd, rd);
    mpssl_conn *conn = plain_client(1);
    uint8_t buf[8] = {0};
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_ERR_PEER_ALERT);
    CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf), MPSSL_ERR_PEER_ALERT);
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_ERR_PEER_ALERT);
    CHECK_EQ_INT(F.read_calls, 1);
    CHECK_EQ_INT(F.write_calls, 0);
    CHECK(contains(error_text(conn), "bad_record_mac (20)"));
    mpssl_conn_free(conn);
}

static void test_later_failures_never_replace_the_first(void) {
    fake_reset();
    const fake_step hs[] = {
        {.fail = MPSSL_FAIL_NO_SHARED, .fail_detail = "first"}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    mpssl_conn_handshake(conn);
    /* A backend complaining again (say from a late callback). */
    mpssl_core_fail(conn, MPSSL_FAIL_PROTOCOL, 0, 0, "second");
    CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), MPSSL_ERR_NO_SHARED_CIPHER);
    CHECK(contains(error_text(conn), "first"));
    CHECK(!contains(error_text(conn), "second"));
    mpssl_conn_free(conn);
}

/* ------------------------------------------------------------------------ */
/* Verification policy                                                      */
/* ------------------------------------------------------------------------ */

/* One handshake step presenting `leaf` with the library's `flags`. */
#define PRESENT(leaf_arr, flags)                                               \
    {                                                                          \
        .verdict = 1, .leaf = (leaf_arr), .leaf_len = sizeof(leaf_arr),        \
        .vflags = (flags)                                                      \
    }

static void test_cert_none_continues_and_records_nothing(void) {
    static const unsigned flags[] = {0, MPSSL_VF_UNTRUSTED, MPSSL_VF_EXPIRED};
    for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
        fake_reset();
        const fake_step hs[] = {PRESENT(good_example_cert, flags[i])};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = plain_client(0);
        CHECK_EQ_INT(mpssl_conn_verify_result(conn), MPSSL_VERIFY_NOT_DONE);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
        CHECK_EQ_INT(F.verdict_ret, 1);
        CHECK_EQ_INT(mpssl_conn_verify_result(conn), MPSSL_VERIFY_NOT_DONE);
        mpssl_conn_free(conn);
    }
}

typedef struct verdict_case {
    unsigned flags;
    const char *host;
    int expected; /* the recorded verdict */
} verdict_case;

static const verdict_case verdict_cases[] = {
    {0, "good.example", 0},
    {MPSSL_VF_UNTRUSTED, "good.example", MPSSL_ERR_CERT_UNTRUSTED},
    {MPSSL_VF_EXPIRED, "good.example", MPSSL_ERR_CERT_EXPIRED},
    {MPSSL_VF_NOT_YET_VALID, "good.example", MPSSL_ERR_CERT_NOT_YET_VALID},
    {MPSSL_VF_OTHER, "good.example", MPSSL_ERR_CERT_INVALID},
    {MPSSL_VF_UNTRUSTED | MPSSL_VF_OTHER | MPSSL_VF_EXPIRED |
         MPSSL_VF_NOT_YET_VALID,
     "good.example", MPSSL_ERR_CERT_UNTRUSTED},
    {MPSSL_VF_OTHER | MPSSL_VF_EXPIRED, "good.example", MPSSL_ERR_CERT_INVALID},
    {MPSSL_VF_EXPIRED | MPSSL_VF_NOT_YET_VALID, "good.example",
     MPSSL_ERR_CERT_EXPIRED},
    {0, "other.example", MPSSL_ERR_HOSTNAME_MISMATCH},
    /* A chain problem outranks the name. */
    {MPSSL_VF_EXPIRED, "other.example", MPSSL_ERR_CERT_EXPIRED},
    {0, "127.0.0.1", 0},
    {0, "127.0.0.2", MPSSL_ERR_HOSTNAME_MISMATCH},
    {0, "GOOD.EXAMPLE.", 0},
};

static void test_cert_optional_records_verdict_and_continues(void) {
    for (size_t i = 0; i < ARRAY_LEN(verdict_cases); i++) {
        const verdict_case *c = &verdict_cases[i];
        fake_reset();
        mpssl_ctx *ctx =
            new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_OPTIONAL);
        const fake_step hs[] = {PRESENT(good_example_cert, c->flags)};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = new_conn(ctx, c->host, 0);
        int r = mpssl_conn_handshake(conn);
        if (r != 0 || mpssl_conn_verify_result(conn) != c->expected) {
            printf("  case %zu (%s, flags %#x)\n", i, c->host, c->flags);
        }
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_INT(F.verdict_ret, 1);
        CHECK_EQ_INT(mpssl_conn_verify_result(conn), c->expected);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

static void test_cert_required_aborts_with_verdict_code(void) {
    for (size_t i = 0; i < ARRAY_LEN(verdict_cases); i++) {
        const verdict_case *c = &verdict_cases[i];
        fake_reset();
        mpssl_ctx *ctx =
            new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
        const fake_step hs[] = {PRESENT(good_example_cert, c->flags)};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = new_conn(ctx, c->host, 0);
        int r = mpssl_conn_handshake(conn);
        if (r != c->expected) {
            printf("  case %zu (%s, flags %#x)\n", i, c->host, c->flags);
        }
        CHECK_EQ_INT(r, c->expected);
        CHECK_EQ_INT(F.verdict_ret, c->expected == 0);
        CHECK_EQ_INT(mpssl_conn_verify_result(conn), c->expected);
        CHECK_EQ_INT(mpssl_conn_handshake_done(conn), c->expected == 0);
        CHECK_EQ_INT(F.hs_calls, 1);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

static void test_hostname_mismatch_message_names_the_host(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
    const fake_step hs[] = {PRESENT(good_example_cert, 0)};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = new_conn(ctx, "other.example", 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_HOSTNAME_MISMATCH);
    const char *msg = error_text(conn);
    CHECK(starts_with(msg, mpssl_strerror(MPSSL_ERR_HOSTNAME_MISMATCH)));
    CHECK(contains(msg, "other.example"));
    CHECK(!mentions_constant_name(msg));
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void test_unparsable_leaf_is_invalid_certificate(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
    const fake_step hs[] = {PRESENT(garbage_leaf, 0)};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = new_conn(ctx, "good.example", 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_CERT_INVALID);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void test_server_verifies_client_without_host_name_check(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_SERVER, MPSSL_CERT_REQUIRED);
    const fake_step hs[] = {PRESENT(good_example_cert, 0)};
    SET_SCRIPT(F.hs, hs);
    /* A server ignores server_hostname: no reference identity. */
    mpssl_conn *conn = new_conn(ctx, "other.example", 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(mpssl_conn_verify_result(conn), 0);
    CHECK_EQ_INT(F.sni_given, 0);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void
test_missing_peer_certificate_fails_required_records_optional(void) {
    static const int modes[] = {MPSSL_CERT_REQUIRED, MPSSL_CERT_OPTIONAL};
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        fake_reset();
        mpssl_ctx *ctx = new_ctx_with_ca(MPSSL_PROTOCOL_TLS_SERVER, modes[i]);
        mpssl_conn *conn = new_conn(ctx, NULL, 0);
        /* The handshake completes without any verdict being asked for. */
        int r = mpssl_conn_handshake(conn);
        if (modes[i] == MPSSL_CERT_REQUIRED) {
            CHECK_EQ_INT(r, MPSSL_ERR_NO_PEER_CERT);
            CHECK_EQ_INT(mpssl_conn_handshake_done(conn), 0);
        } else {
            CHECK_EQ_INT(r, 0);
        }
        CHECK_EQ_INT(mpssl_conn_verify_result(conn), MPSSL_ERR_NO_PEER_CERT);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

static void test_ip_literal_is_not_sent_as_sni_but_dns_name_is(void) {
    static const struct {
        const char *host;
        const char *sni; /* NULL: none */
    } cases[] = {
        {"good.example", "good.example"},
        {"127.0.0.1", NULL},
        {"::1", NULL},
        {"2001:db8::7", NULL},
        {"10.0.0.1", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fake_reset();
        mpssl_ctx *ctx =
            new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
        mpssl_conn *conn = new_conn(ctx, cases[i].host, 0);
        CHECK_EQ_INT(F.conn_news, 1);
        CHECK_EQ_INT(F.sni_given, cases[i].sni != NULL);
        if (cases[i].sni) {
            CHECK_EQ_STR(F.sni, cases[i].sni);
        }
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

static void test_required_client_without_hostname_refused_at_creation(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_REQUIRED);
    mpssl_conn *conn = (mpssl_conn *)&F; /* must stay untouched */
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn),
                 MPSSL_ENEED_HOSTNAME);
    CHECK(conn == (mpssl_conn *)&F);
    CHECK_EQ_INT(F.conn_news, 0);
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, "", &conn),
                 MPSSL_EBAD_HOSTNAME);
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, "bad host", &conn),
                 MPSSL_EBAD_HOSTNAME);
    CHECK_EQ_INT(F.conn_news, 0);
    /* CERT_OPTIONAL and CERT_NONE clients may omit it. */
    CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, MPSSL_CERT_OPTIONAL), 0);
    conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn), 0);
    CHECK_EQ_INT(F.sni_given, 0);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_required_without_ca_fails_before_any_byte(void) {
    static const int roles[] = {MPSSL_PROTOCOL_TLS_CLIENT,
                                MPSSL_PROTOCOL_TLS_SERVER};
    for (size_t i = 0; i < ARRAY_LEN(roles); i++) {
        fake_reset();
        mpssl_ctx *ctx = new_ctx(roles[i], MPSSL_CERT_REQUIRED);
        mpssl_conn *conn = new_conn(ctx, "good.example", 0);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_ERR_CERT_UNTRUSTED);
        CHECK_EQ_INT(F.send_calls, 0);
        CHECK_EQ_INT(F.recv_calls, 0);
        CHECK_EQ_INT(F.hs_calls, 0);
        const char *msg = error_text(conn);
        CHECK(starts_with(msg, mpssl_strerror(MPSSL_ERR_CERT_UNTRUSTED)));
        CHECK(contains(msg, "load_verify_locations"));
        uint8_t buf[4] = {0};
        CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf),
                     MPSSL_ERR_CERT_UNTRUSTED);
        CHECK_EQ_INT(F.send_calls, 0);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

/* ------------------------------------------------------------------------ */
/* Handshake flights                                                        */
/* ------------------------------------------------------------------------ */

static void test_handshake_flight_leaves_in_one_transport_send(void) {
    fake_reset();
    const fake_step hs[] = {{.sends = 3, .result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
    CHECK_EQ_INT(F.send_calls, 1);
    CHECK_EQ_INT(F.sent_len, 60);
    CHECK_EQ_INT(F.last_send, 30); /* io_send accepted everything */
    CHECK(F.sent_len == 60 && F.sent[0] == 'A' && F.sent[9] == 'A' &&
          F.sent[10] == 'B' && F.sent[29] == 'B' && F.sent[30] == 'C' &&
          F.sent[59] == 'C');
    mpssl_conn_free(conn);
}

static void test_flight_leaves_before_the_library_reads(void) {
    fake_reset();
    const fake_step hs[] = {
        {.sends = 3, .recv = 1, .result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
    CHECK_EQ_STR(F.trace, "SR");
    CHECK_EQ_INT(F.sent_len, 60);
    mpssl_conn_free(conn);
}

static void test_handshake_done_only_once_last_flight_left(void) {
    fake_reset();
    const fake_step hs[] = {{.sends = 2, .result = MPSSL_R_DONE}};
    SET_SCRIPT(F.hs, hs);
    F.send_blocked = 1;
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_WRITE);
    CHECK_EQ_INT(F.sent_len, 0);
    F.send_blocked = 0;
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(F.sent_len, 30);
    CHECK_EQ_INT(F.hs_calls, 1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    mpssl_conn_free(conn);
}

static void test_read_and_write_drive_the_handshake_first(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ},
                            {.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *conn = plain_client(0);
    uint8_t buf[8] = {0};
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_WANT_READ);
    CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf), MPSSL_WANT_READ);
    CHECK_EQ_INT(F.hs_calls, 2);
    CHECK_EQ_INT(F.read_calls, 0);
    CHECK_EQ_INT(F.write_calls, 0);
    CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf), (long)sizeof buf);
    CHECK_EQ_INT(F.hs_calls, 3);
    CHECK_EQ_INT(F.write_calls, 1);
    mpssl_conn_free(conn);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */
/* ------------------------------------------------------------------------ */

static void test_unflushed_write_is_reported_on_retry_not_reencrypted(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    uint8_t data[100];
    memset(data, 'd', sizeof data);
    F.send_blocked = 1;
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), MPSSL_WANT_WRITE);
    CHECK_EQ_INT(F.write_calls, 1);
    /* Still blocked: the same answer, still nothing encrypted again. */
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), MPSSL_WANT_WRITE);
    CHECK_EQ_INT(F.write_calls, 1);
    F.send_blocked = 0;
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), 100);
    CHECK_EQ_INT(F.write_calls, 1);
    CHECK_EQ_INT(F.sent_len, 105);
    /* The next write is new data. */
    CHECK_EQ_INT(mpssl_conn_write(conn, data, 7), 7);
    CHECK_EQ_INT(F.write_calls, 2);
    CHECK_EQ_INT(F.sent_len, 117);
    mpssl_conn_free(conn);
}

static void test_retry_with_shorter_buffer_gets_at_most_its_length(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(0);
    uint8_t data[100];
    memset(data, 'd', sizeof data);
    F.send_blocked = 1;
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), MPSSL_WANT_WRITE);
    F.send_blocked = 0;
    CHECK_EQ_INT(mpssl_conn_write(conn, data, 40), 40);
    /* The rest of the record is reported to the call presenting it. */
    CHECK_EQ_INT(mpssl_conn_write(conn, data + 40, 60), 60);
    CHECK_EQ_INT(F.write_calls, 1);
    CHECK_EQ_INT(F.sent_len, 105);
    mpssl_conn_free(conn);
}

static void test_nonblocking_write_reports_one_record_at_a_time(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(0);
    static uint8_t data[40000];
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), 16384);
    CHECK_EQ_INT(F.write_calls, 1);
    mpssl_conn_free(conn);
}

static void test_blocking_write_splits_into_records_and_writes_all(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(1);
    static uint8_t data[40000];
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), 40000);
    CHECK_EQ_INT(F.write_calls, 3);
    CHECK_EQ_INT(F.write_lens[0], 16384);
    CHECK_EQ_INT(F.write_lens[1], 16384);
    CHECK_EQ_INT(F.write_lens[2], 40000 - 2 * 16384);
    CHECK_EQ_INT(F.sent_len, 40000 + 3 * 5);
    mpssl_conn_free(conn);
}

static void test_zero_length_write_touches_nothing(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(0);
    uint8_t b = 0;
    CHECK_EQ_INT(mpssl_conn_write(conn, &b, 0), 0);
    CHECK_EQ_INT(F.write_calls, 0);
    mpssl_conn_free(conn);
}

/* ------------------------------------------------------------------------ */
/* Blocking mode                                                            */
/* ------------------------------------------------------------------------ */

static void test_blocking_waits_in_the_direction_the_step_wants(void) {
    static const struct {
        long want;
        unsigned events;
    } cases[] = {
        {MPSSL_R_WANT_READ, MPSSL_POLL_RD},
        {MPSSL_R_WANT_WRITE, MPSSL_POLL_WR},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fake_reset();
        const fake_step hs[] = {{.result = cases[i].want},
                                {.result = cases[i].want}};
        SET_SCRIPT(F.hs, hs);
        mpssl_conn *conn = plain_client(1);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
        CHECK_EQ_INT(F.hs_calls, 3);
        CHECK_EQ_INT(F.wait_calls, 2);
        CHECK_EQ_INT(F.wait_events[0], cases[i].events);
        CHECK_EQ_INT(F.wait_events[1], cases[i].events);
        mpssl_conn_free(conn);
    }
}

static void test_blocking_read_waits_for_readable(void) {
    fake_reset();
    const fake_step rd[] = {{.result = MPSSL_R_WANT_READ}, {.data = "hi"}};
    SET_SCRIPT(F.rd, rd);
    mpssl_conn *conn = plain_client(1);
    uint8_t buf[8];
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 2);
    CHECK_EQ_INT(F.wait_calls, 1);
    CHECK_EQ_INT(F.wait_events[0], MPSSL_POLL_RD);
    mpssl_conn_free(conn);
}

static void test_blocking_wait_adds_write_while_ciphertext_queued(void) {
    fake_reset();
    const fake_step hs[] = {{.sends = 1, .result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    static const wait_step waits[] = {{0, 1}};
    SET_WAIT(waits);
    F.send_blocked = 1;
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(F.wait_calls, 1);
    CHECK_EQ_INT(F.wait_events[0], MPSSL_POLL_RD | MPSSL_POLL_WR);
    CHECK_EQ_INT(F.sent_len, 10);
    mpssl_conn_free(conn);
}

static void test_blocking_last_flight_waits_for_writable_only(void) {
    fake_reset();
    const fake_step hs[] = {{.sends = 1, .result = MPSSL_R_DONE}};
    SET_SCRIPT(F.hs, hs);
    static const wait_step waits[] = {{0, 1}};
    SET_WAIT(waits);
    F.send_blocked = 1;
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(F.wait_calls, 1);
    CHECK_EQ_INT(F.wait_events[0], MPSSL_POLL_WR);
    CHECK_EQ_INT(F.sent_len, 10);
    mpssl_conn_free(conn);
}

static void test_blocking_write_waits_until_record_left(void) {
    fake_reset();
    static const wait_step waits[] = {{0, 0}, {0, 1}};
    SET_WAIT(waits);
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    F.send_blocked = 1;
    uint8_t data[50] = {0};
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), 50);
    CHECK_EQ_INT(F.write_calls, 1);
    CHECK_EQ_INT(F.wait_calls, 2);
    CHECK_EQ_INT(F.wait_events[0], MPSSL_POLL_WR);
    CHECK_EQ_INT(F.wait_events[1], MPSSL_POLL_WR);
    CHECK_EQ_INT(F.sent_len, 55);
    mpssl_conn_free(conn);
}

static void test_wait_timeout_and_interrupt_are_returned_not_sticky(void) {
    static const int transient[] = {-ETIMEDOUT, -EINTR};
    for (size_t i = 0; i < ARRAY_LEN(transient); i++) {
        fake_reset();
        const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
        SET_SCRIPT(F.hs, hs);
        const fake_step rd[] = {{.result = MPSSL_R_WANT_READ},
                                {.data = "late"}};
        SET_SCRIPT(F.rd, rd);
        const wait_step waits[] = {{transient[i], 0}, {transient[i], 0}};
        SET_WAIT(waits);
        mpssl_conn *conn = plain_client(1);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), transient[i]);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
        CHECK_EQ_INT(mpssl_conn_handshake_done(conn), 0);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
        CHECK_EQ_INT(F.hs_calls, 2);
        uint8_t buf[8];
        CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), transient[i]);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
        CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 4);
        CHECK(memcmp(buf, "late", 4) == 0);
        mpssl_conn_free(conn);
    }
}

/* A blocking client whose first write of data[0..len) encrypts its record
 * but times out before any of it is sent. */
static mpssl_conn *client_after_timed_out_write(const uint8_t *data,
                                                size_t len) {
    fake_reset();
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    static const wait_step waits[] = {{-ETIMEDOUT, 0}, {0, 1}};
    SET_WAIT(waits);
    F.send_blocked = 1;
    CHECK_EQ_INT(mpssl_conn_write(conn, data, len), -ETIMEDOUT);
    CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
    return conn;
}

/* The record is sent once, and a retry with the same data is credited with
 * it instead of encrypting it again. */
static void test_write_retried_after_a_timeout_is_credited_not_resent(void) {
    uint8_t data[50] = {0};
    mpssl_conn *conn = client_after_timed_out_write(data, sizeof data);
    CHECK_EQ_INT(mpssl_conn_write(conn, data, sizeof data), 50);
    CHECK_EQ_INT(F.write_calls, 1);
    CHECK_EQ_INT(F.sent_len, 55);
    mpssl_conn_free(conn);
}

/* A caller that moves on to other data is not credited with the old record
 * (which still goes out first): its own bytes are written, none lost. */
static void test_write_with_new_data_after_a_timeout_is_not_credited(void) {
    uint8_t data[50] = {0};
    mpssl_conn *conn = client_after_timed_out_write(data, sizeof data);
    uint8_t other[3] = {1, 2, 3};
    CHECK_EQ_INT(mpssl_conn_write(conn, other, sizeof other), 3);
    CHECK_EQ_INT(F.write_calls, 2);
    CHECK_EQ_INT(F.sent_len, 55 + 8); /* the old record, then the new one */
    mpssl_conn_free(conn);
}

static void test_fatal_wait_error_is_sticky(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    static const wait_step waits[] = {{-EBADF, 0}};
    SET_WAIT(waits);
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), -EBADF);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), -EBADF);
    CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), -EBADF);
    CHECK_EQ_INT(F.hs_calls, 1);
    mpssl_conn_free(conn);
}

static void test_blocking_without_wait_reports_want(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *conn = new_conn_on(ctx, &transport_without_wait, NULL, 1);
    CHECK_EQ_INT(mpssl_conn_blocking(conn), 1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    uint8_t buf[8];
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_WANT_READ);
    F.send_blocked = 1;
    CHECK_EQ_INT(mpssl_conn_write(conn, buf, sizeof buf), MPSSL_WANT_WRITE);
    CHECK_EQ_INT(F.wait_calls, 0);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void test_connections_block_by_default(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn), 0);
    CHECK_EQ_INT(mpssl_conn_blocking(conn), 1);
    mpssl_conn_set_blocking(conn, 0);
    CHECK_EQ_INT(mpssl_conn_blocking(conn), 0);
    CHECK_EQ_INT(F.send_calls + F.recv_calls + F.hs_calls, 0); /* no I/O */
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

/* ------------------------------------------------------------------------ */
/* Reads, pending and poll                                                  */
/* ------------------------------------------------------------------------ */

static void test_read_returns_backend_plaintext(void) {
    fake_reset();
    const fake_step rd[] = {{.data = "hello"}};
    SET_SCRIPT(F.rd, rd);
    mpssl_conn *conn = plain_client(0);
    uint8_t buf[16];
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), MPSSL_WANT_READ);
    mpssl_conn_free(conn);
}

static void test_end_of_stream_reads_zero_and_stays_zero(void) {
    static const long ends[] = {MPSSL_R_CLOSE_NOTIFY, MPSSL_R_EOF};
    for (size_t i = 0; i < ARRAY_LEN(ends); i++) {
        fake_reset();
        const fake_step rd[] = {{.result = ends[i]}};
        SET_SCRIPT(F.rd, rd);
        mpssl_conn *conn = plain_client(0);
        uint8_t buf[16];
        CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 0);
        CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 0);
        CHECK_EQ_INT(mpssl_conn_read(conn, buf, sizeof buf), 0);
        CHECK_EQ_INT(F.read_calls, 1);
        CHECK_EQ_INT(mpssl_conn_error(conn, NULL, 0), 0);
        unsigned te = 99;
        CHECK_EQ_INT(mpssl_conn_poll(conn, MPSSL_POLL_RD, &te), MPSSL_POLL_RD);
        /* Writing after the peer's close_notify is still allowed. */
        CHECK_EQ_INT(mpssl_conn_write(conn, buf, 3), 3);
        mpssl_conn_free(conn);
    }
}

static void test_pending_asks_backend_only_while_open(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    F.pending = 7;
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_pending(conn), 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
    CHECK_EQ_INT(mpssl_conn_pending(conn), 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(mpssl_conn_pending(conn), 7);
    mpssl_conn_close(conn);
    CHECK_EQ_INT(mpssl_conn_pending(conn), 0);
    mpssl_conn_free(conn);
}

static void test_poll_reports_nval_after_close_and_after_failure(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_PROTOCOL}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *failed = plain_client(0);
    mpssl_conn *closed = plain_client(0);
    unsigned te = 99;
    CHECK_EQ_INT(mpssl_conn_handshake(failed), MPSSL_ERR_PROTOCOL);
    CHECK_EQ_INT(mpssl_conn_poll(failed, MPSSL_POLL_RD | MPSSL_POLL_WR, &te),
                 MPSSL_POLL_NVAL);
    CHECK_EQ_INT(te, 0);
    mpssl_conn_close(closed);
    te = 99;
    CHECK_EQ_INT(mpssl_conn_poll(closed, MPSSL_POLL_RD, &te), MPSSL_POLL_NVAL);
    CHECK_EQ_INT(te, 0);
    mpssl_conn_free(failed);
    mpssl_conn_free(closed);
}

static void test_poll_ready_for_read_with_pending_plaintext(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    unsigned te = 99;
    CHECK_EQ_INT(mpssl_conn_poll(conn, MPSSL_POLL_RD, &te), 0);
    CHECK_EQ_INT(te, MPSSL_POLL_RD);
    F.pending = 3;
    CHECK_EQ_INT(mpssl_conn_poll(conn, MPSSL_POLL_RD, &te), MPSSL_POLL_RD);
    CHECK_EQ_INT(mpssl_conn_poll(conn, MPSSL_POLL_WR, &te), 0);
    CHECK_EQ_INT(te, MPSSL_POLL_WR);
    mpssl_conn_free(conn);
}

static void test_poll_redirects_during_handshake(void) {
    static const struct {
        long want; /* what the handshake step asked for */
        int queue; /* leave ciphertext queued */
        unsigned requested;
        unsigned transport; /* what the port must poll the transport for */
    } cases[] = {
        {MPSSL_R_WANT_WRITE, 0, MPSSL_POLL_RD, MPSSL_POLL_WR},
        {MPSSL_R_WANT_READ, 0, MPSSL_POLL_WR, MPSSL_POLL_RD},
        {MPSSL_R_WANT_READ, 0, MPSSL_POLL_RD, MPSSL_POLL_RD},
        {MPSSL_R_WANT_READ, 1, MPSSL_POLL_RD, MPSSL_POLL_RD | MPSSL_POLL_WR},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fake_reset();
        const fake_step hs[] = {
            {.result = cases[i].want, .sends = cases[i].queue}};
        SET_SCRIPT(F.hs, hs);
        F.send_blocked = cases[i].queue;
        mpssl_conn *conn = plain_client(0);
        CHECK_EQ_INT(mpssl_conn_handshake(conn), cases[i].want);
        unsigned te = 99;
        CHECK_EQ_INT(mpssl_conn_poll(conn, cases[i].requested, &te), 0);
        if (te != cases[i].transport) {
            printf("  case %zu\n", i);
        }
        CHECK_EQ_INT(te, cases[i].transport);
        mpssl_conn_free(conn);
    }
}

static void
test_negotiated_parameters_and_peer_cert_only_after_handshake(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    F.peer_leaf = good_example_cert;
    F.peer_leaf_len = sizeof good_example_cert;
    mpssl_conn *conn = plain_client(0);
    uint16_t suite = 0;
    int version = 0;
    const uint8_t *der = NULL;
    size_t len = 0;
    CHECK_EQ_INT(mpssl_conn_handshake(conn), MPSSL_WANT_READ);
    CHECK_EQ_INT(mpssl_conn_cipher(conn, &suite, &version), MPSSL_WANT_READ);
    CHECK_EQ_INT(mpssl_conn_peer_cert(conn, &der, &len), -1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    CHECK_EQ_INT(mpssl_conn_cipher(conn, &suite, &version), 0);
    CHECK_EQ_INT(suite, 0xC02F);
    CHECK_EQ_INT(version, MPSSL_TLS1_2);
    CHECK_EQ_INT(mpssl_conn_peer_cert(conn, &der, &len), 0);
    CHECK(der == good_example_cert && len == sizeof good_example_cert);
    mpssl_conn_close(conn);
    CHECK_EQ_INT(mpssl_conn_cipher(conn, &suite, &version), MPSSL_ERR_CLOSED);
    CHECK_EQ_INT(mpssl_conn_peer_cert(conn, &der, &len), -1);
    mpssl_conn_free(conn);
}

/* ------------------------------------------------------------------------ */
/* Close                                                                    */
/* ------------------------------------------------------------------------ */

static void test_close_sends_close_notify_once(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    mpssl_conn_close(conn);
    CHECK_EQ_INT(F.close_notify_calls, 1);
    CHECK_EQ_INT(F.sent_len, 7);
    CHECK(memcmp(F.sent, "CLOSE!!", 7) == 0);
    CHECK_EQ_INT(F.conn_frees, 1);
    CHECK_EQ_INT(mpssl_conn_closed(conn), 1);
    mpssl_conn_close(conn);
    mpssl_conn_free(conn);
    CHECK_EQ_INT(F.close_notify_calls, 1);
    CHECK_EQ_INT(F.conn_frees, 1);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_close_never_waits_for_the_transport(void) {
    fake_reset();
    mpssl_conn *conn = plain_client(1);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    F.send_blocked = 1;
    mpssl_conn_close(conn);
    CHECK_EQ_INT(F.close_notify_calls, 1);
    CHECK_EQ_INT(F.wait_calls, 0);
    CHECK_EQ_INT(F.sent_len, 0);
    mpssl_conn_free(conn);
}

static void
test_no_close_notify_before_handshake_completes_or_after_failure(void) {
    fake_reset();
    const fake_step hs[] = {{.result = MPSSL_R_WANT_READ}};
    SET_SCRIPT(F.hs, hs);
    mpssl_conn *unfinished = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(unfinished), MPSSL_WANT_READ);
    mpssl_conn *untouched = plain_client(0);
    mpssl_conn_close(unfinished);
    mpssl_conn_free(untouched);
    CHECK_EQ_INT(F.close_notify_calls, 0);
    CHECK_EQ_INT(F.conn_frees, 2);
    mpssl_conn_free(unfinished);
    CHECK_EQ_INT(F.conn_frees, 2);

    fake_reset();
    const fake_step rd[] = {{.fail = MPSSL_FAIL_PROTOCOL}};
    SET_SCRIPT(F.rd, rd);
    mpssl_conn *failed = plain_client(0);
    uint8_t buf[4];
    CHECK_EQ_INT(mpssl_conn_read(failed, buf, sizeof buf), MPSSL_ERR_PROTOCOL);
    mpssl_conn_close(failed);
    CHECK_EQ_INT(F.close_notify_calls, 0);
    CHECK_EQ_INT(F.conn_frees, 1);
    mpssl_conn_free(failed);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_io_after_close_is_closed_error(void) {
    fake_reset();
    const fake_step hs[] = {{.fail = MPSSL_FAIL_PROTOCOL}};
    mpssl_conn *open = plain_client(0);
    mpssl_conn *failed = plain_client(0);
    CHECK_EQ_INT(mpssl_conn_handshake(open), 0);
    SET_SCRIPT(F.hs, hs);
    CHECK_EQ_INT(mpssl_conn_handshake(failed), MPSSL_ERR_PROTOCOL);
    mpssl_conn *conns[] = {open, failed};
    for (size_t i = 0; i < ARRAY_LEN(conns); i++) {
        mpssl_conn_close(conns[i]);
        uint8_t buf[4] = {0};
        int calls = F.hs_calls + F.read_calls + F.write_calls;
        CHECK_EQ_INT(mpssl_conn_handshake(conns[i]), MPSSL_ERR_CLOSED);
        CHECK_EQ_INT(mpssl_conn_read(conns[i], buf, sizeof buf),
                     MPSSL_ERR_CLOSED);
        CHECK_EQ_INT(mpssl_conn_write(conns[i], buf, sizeof buf),
                     MPSSL_ERR_CLOSED);
        CHECK_EQ_INT(F.hs_calls + F.read_calls + F.write_calls, calls);
        mpssl_conn_free(conns[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Native contexts                                                          */
/* ------------------------------------------------------------------------ */

static void test_connections_share_one_native_context(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    CHECK_EQ_INT(F.ctx_builds, 0); /* compiled lazily */
    mpssl_conn *a = new_conn(ctx, NULL, 0);
    mpssl_conn *b = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.ctx_builds, 1);
    CHECK_EQ_INT(F.conn_native[0], 1);
    CHECK_EQ_INT(F.conn_native[1], 1);
    mpssl_conn_free(a);
    mpssl_conn_free(b);
    CHECK_EQ_INT(F.ctx_frees, 0); /* the context still holds it */
    mpssl_conn *c = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.ctx_builds, 1);
    mpssl_conn_free(c);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.ctx_frees, 1);
    CHECK_EQ_INT(F.conn_frees, 3);
}

static void test_native_context_freed_when_context_and_connections_gone(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *conn = new_conn(ctx, NULL, 0);
    mpssl_ctx_unref(ctx); /* the connection keeps both alive */
    CHECK_EQ_INT(F.ctx_frees, 0);
    CHECK_EQ_INT(mpssl_conn_handshake(conn), 0);
    mpssl_conn_close(conn);
    mpssl_conn_free(conn);
    CHECK_EQ_INT(F.ctx_frees, 1);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void
test_changed_context_builds_new_native_old_connection_keeps_old(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *old = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, MPSSL_CERT_REQUIRED), 0);
    CHECK_EQ_INT(F.ctx_frees, 0); /* the old connection still uses it */
    mpssl_conn *fresh = new_conn(ctx, "good.example", 0);
    CHECK_EQ_INT(F.ctx_builds, 2);
    CHECK_EQ_INT(F.conn_native[0], 1);
    CHECK_EQ_INT(F.conn_native[1], 2);
    CHECK_EQ_INT(F.last_cfg.verify_mode, MPSSL_CERT_REQUIRED);
    /* The old connection keeps the old policy: CERT_NONE needs no CA. */
    CHECK_EQ_INT(mpssl_conn_handshake(old), 0);
    CHECK_EQ_INT(mpssl_conn_handshake(fresh), MPSSL_ERR_CERT_UNTRUSTED);
    mpssl_conn_free(old);
    CHECK_EQ_INT(F.ctx_frees, 1);
    CHECK_EQ_INT(F.last_freed_native, 1);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.ctx_frees, 1); /* fresh holds the context */
    mpssl_conn_free(fresh);
    CHECK_EQ_INT(F.ctx_frees, 2);
    CHECK_EQ_INT(F.last_freed_native, 2);
}

static void test_unchanged_setting_keeps_the_native_context(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *a = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(mpssl_ctx_set_verify_mode(ctx, MPSSL_CERT_NONE), 0);
    mpssl_conn *b = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.ctx_builds, 1);
    mpssl_conn_free(a);
    mpssl_conn_free(b);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_failed_backend_conn_new_releases_native_reference(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    F.conn_new_result = -ENOMEM;
    mpssl_conn *conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn), -ENOMEM);
    CHECK(conn == NULL);
    CHECK_EQ_INT(F.ctx_builds, 1);
    CHECK_EQ_INT(F.conn_frees, 0);
    mpssl_ctx_unref(ctx);
    /* Nobody uses the native context any more. */
    CHECK_EQ_INT(F.ctx_frees, 1);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_failed_ctx_build_is_reported_and_retried(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    F.ctx_build_result = MPSSL_ERR_UNSUPPORTED;
    mpssl_conn *conn = NULL;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn),
                 MPSSL_ERR_UNSUPPORTED);
    CHECK(conn == NULL);
    CHECK_EQ_INT(F.conn_news, 0);
    F.ctx_build_result = 0;
    CHECK_EQ_INT(mpssl_conn_new(ctx, &transport, NULL, &conn), 0);
    CHECK_EQ_INT(F.ctx_builds, 2);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.live_natives, 0);
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

static int suites_equal(const mpssl_ctx *ctx, const uint16_t *ids, size_t n) {
    const uint16_t *have;
    size_t n_have = mpssl_ctx_suites(ctx, &have);
    return n_have == n && memcmp(have, ids, n * sizeof *ids) == 0;
}

static void test_default_suites_are_backend_suites_policy_allows(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    static const uint16_t expected[] = {0x1301, 0xC02B, 0xC02F};
    CHECK(suites_equal(ctx, expected, ARRAY_LEN(expected)));
    mpssl_ctx_unref(ctx);
}

static void test_set_suites_refuses_with_reason_and_leaves_context(void) {
    static const struct {
        uint16_t bad;
        const char *reason_fragment;
    } cases[] = {
        {0x1234, "unknown"},
        {0x000A, "forbidden"},
        {0x00A8, "pre-shared key"},
        {0xC030, "not supported by this backend"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fake_reset();
        mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
        static const uint16_t before[] = {0xC02F};
        size_t bad_index = 99;
        CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, before, 1, &bad_index), 0);
        mpssl_conn *conn = new_conn(ctx, NULL, 0);
        const uint16_t ids[] = {0x1301, 0xC02B, cases[i].bad, 0xC02F};
        CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, ids, ARRAY_LEN(ids), &bad_index),
                     MPSSL_ERR_CIPHER_LIST);
        CHECK_EQ_INT(bad_index, 2);
        const char *why = mpssl_suite_refusal(ctx, cases[i].bad);
        CHECK(why != NULL && contains(why, cases[i].reason_fragment));
        CHECK(suites_equal(ctx, before, 1));
        mpssl_conn *again = new_conn(ctx, NULL, 0);
        CHECK_EQ_INT(F.ctx_builds, 1); /* nothing was invalidated */
        mpssl_conn_free(again);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
    CHECK(mpssl_suite_refusal(NULL, 0xC02B) == NULL);
}

static void test_empty_suite_list_is_refused(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    const uint16_t *before;
    size_t n_before = mpssl_ctx_suites(ctx, &before);
    uint16_t copy[16];
    memcpy(copy, before, n_before * sizeof *before);
    size_t bad_index = 0;
    static const uint16_t none[] = {0};
    CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, none, 0, &bad_index),
                 MPSSL_ERR_CIPHER_LIST);
    CHECK(bad_index == SIZE_MAX);
    CHECK(suites_equal(ctx, copy, n_before));
    mpssl_ctx_unref(ctx);
}

static void test_duplicate_suites_keep_first_position(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    static const uint16_t ids[] = {0xC02F, 0x1301, 0xC02F, 0x1301, 0xC02B};
    static const uint16_t kept[] = {0xC02F, 0x1301, 0xC02B};
    size_t bad_index;
    CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, ids, ARRAY_LEN(ids), &bad_index), 0);
    CHECK(suites_equal(ctx, kept, ARRAY_LEN(kept)));
    mpssl_conn *conn = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.last_cfg.n_suites, 3);
    CHECK(memcmp(F.last_suites, kept, sizeof kept) == 0);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

static void test_versions_follow_from_the_suites(void) {
    static const struct {
        uint16_t ids[3];
        size_t n;
        int min, max;
    } cases[] = {
        {{0xC02B, 0xC02F}, 2, MPSSL_TLS1_2, MPSSL_TLS1_2},
        {{0x1301}, 1, MPSSL_TLS1_3, MPSSL_TLS1_3},
        {{0xC02F, 0x1301}, 2, MPSSL_TLS1_2, MPSSL_TLS1_3},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        fake_reset();
        mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_SERVER, MPSSL_CERT_NONE);
        size_t bad_index;
        CHECK_EQ_INT(
            mpssl_ctx_set_suites(ctx, cases[i].ids, cases[i].n, &bad_index), 0);
        mpssl_conn *conn = new_conn(ctx, NULL, 0);
        CHECK_EQ_INT(F.ctx_builds, 1);
        CHECK_EQ_INT(F.last_cfg.min_version, cases[i].min);
        CHECK_EQ_INT(F.last_cfg.max_version, cases[i].max);
        CHECK_EQ_INT(F.last_cfg.protocol, MPSSL_PROTOCOL_TLS_SERVER);
        mpssl_conn_free(conn);
        mpssl_ctx_unref(ctx);
    }
}

static void test_set_suites_invalidates_native_context(void) {
    fake_reset();
    mpssl_ctx *ctx = new_ctx(MPSSL_PROTOCOL_TLS_CLIENT, MPSSL_CERT_NONE);
    mpssl_conn *a = new_conn(ctx, NULL, 0);
    static const uint16_t ids[] = {0x1301};
    size_t bad_index;
    CHECK_EQ_INT(mpssl_ctx_set_suites(ctx, ids, 1, &bad_index), 0);
    mpssl_conn *b = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.ctx_builds, 2);
    CHECK_EQ_INT(F.last_cfg.n_suites, 1);
    mpssl_conn_free(a);
    mpssl_conn_free(b);
    mpssl_ctx_unref(ctx);
    CHECK_EQ_INT(F.live_natives, 0);
}

static void test_cas_chain_and_key_reach_the_native_config(void) {
    fake_reset();
    mpssl_ctx *ctx =
        new_ctx_with_ca(MPSSL_PROTOCOL_TLS_SERVER, MPSSL_CERT_OPTIONAL);
    CHECK_EQ_INT(mpssl_ctx_load_cert_chain(
                     ctx, good_example_cert, sizeof good_example_cert,
                     good_example_key, sizeof good_example_key),
                 0);
    CHECK_EQ_INT(F.check_keys, 1);
    CHECK_EQ_INT(F.check_key_cert_len, sizeof good_example_cert);
    mpssl_conn *conn = new_conn(ctx, NULL, 0);
    CHECK_EQ_INT(F.last_cfg.n_cas, 1);
    CHECK_EQ_INT(F.last_cfg.n_chain, 1);
    CHECK_EQ_INT(F.last_cfg.key.len, sizeof good_example_key);
    CHECK_EQ_INT(F.last_cfg.key_type, MPSSL_KEY_EC);
    CHECK_EQ_INT(F.last_cfg.verify_mode, MPSSL_CERT_OPTIONAL);
    mpssl_conn_free(conn);
    mpssl_ctx_unref(ctx);
}

/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* Platform services                                                        */
/* ------------------------------------------------------------------------ */

static int fixed_entropy_calls;
static int fixed_entropy(void *ctx, uint8_t *buf, size_t len) {
    fixed_entropy_calls++;
    memset(buf, *(const uint8_t *)ctx, len);
    return 0;
}
static int failing_entropy(void *ctx, uint8_t *buf, size_t len) {
    (void)ctx;
    (void)buf;
    (void)len;
    return 1;
}
static int64_t fixed_time(void) {
    return 1234567890;
}

static void test_entropy_comes_from_the_os_without_a_hook(void) {
    uint8_t a[32] = {0}, b[32] = {0};
    mpssl_set_platform(NULL);
    CHECK_EQ_INT(mpssl_entropy(a, sizeof a), 0);
    CHECK_EQ_INT(mpssl_entropy(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

static void test_entropy_hook_is_used_and_its_failure_reported(void) {
    uint8_t fill = 0xA5, buf[8] = {0};
    mpssl_platform hooks = {fixed_entropy, &fill, NULL};
    fixed_entropy_calls = 0;
    mpssl_set_platform(&hooks);
    CHECK_EQ_INT(mpssl_entropy(buf, sizeof buf), 0);
    CHECK_EQ_INT(fixed_entropy_calls, 1);
    CHECK_EQ_INT(buf[0], 0xA5);
    CHECK_EQ_INT(buf[7], 0xA5);
    hooks.entropy = failing_entropy;
    mpssl_set_platform(&hooks);
    CHECK_EQ_INT(mpssl_entropy(buf, sizeof buf), -EIO);
    mpssl_set_platform(NULL);
}

static void test_time_hook_overrides_the_os_clock(void) {
    mpssl_platform hooks = {NULL, NULL, fixed_time};
    mpssl_set_platform(NULL);
    CHECK(mpssl_unix_time() > 1700000000); /* after 2023-11 */
    mpssl_set_platform(&hooks);
    CHECK_EQ_INT(mpssl_unix_time(), 1234567890);
    mpssl_set_platform(NULL);
}

int main(void) {
    alarm(30); /* a core loop that never ends must not hang the suite */
    if (mpssl_init() != 0) {
        printf("mpssl_init failed\n");
        return 1;
    }
    CHECK_EQ_STR(mpssl_backend_name(), "fake");

    RUN(test_every_fail_kind_maps_to_its_documented_code);
    RUN(test_alert_message_names_alert_and_number);
    RUN(test_native_code_shown_when_backend_gives_no_text);
    RUN(test_message_has_no_parentheses_without_backend_detail);
    RUN(test_message_is_truncated_safely_to_capacity);
    RUN(test_backend_failing_silently_is_internal_error);
    RUN(test_eof_step_result_in_handshake_is_handshake_eof);
    RUN(test_eof_kind_after_handshake_is_protocol_error);
    RUN(test_write_the_library_cannot_send_after_close_notify_is_epipe);
    RUN(test_handshake_input_beyond_the_bound_is_a_protocol_error);
    RUN(test_transport_failure_reports_errno_recorded_by_io_layer);
    RUN(test_send_errno_during_write_is_the_failure);
    RUN(test_transport_errno_beats_library_complaint);
    RUN(test_transient_recv_errors_reach_library_as_would_block);
    RUN(test_core_verdict_beats_later_library_failure);
    RUN(test_transport_failure_sending_the_alert_keeps_first_failure);
    RUN(test_handshake_failure_is_sticky_and_backend_not_called_again);
    RUN(test_read_failure_is_sticky_for_writes_too);
    RUN(test_later_failures_never_replace_the_first);

    RUN(test_cert_none_continues_and_records_nothing);
    RUN(test_cert_optional_records_verdict_and_continues);
    RUN(test_cert_required_aborts_with_verdict_code);
    RUN(test_hostname_mismatch_message_names_the_host);
    RUN(test_unparsable_leaf_is_invalid_certificate);
    RUN(test_server_verifies_client_without_host_name_check);
    RUN(test_missing_peer_certificate_fails_required_records_optional);
    RUN(test_ip_literal_is_not_sent_as_sni_but_dns_name_is);
    RUN(test_required_client_without_hostname_refused_at_creation);
    RUN(test_required_without_ca_fails_before_any_byte);

    RUN(test_handshake_flight_leaves_in_one_transport_send);
    RUN(test_flight_leaves_before_the_library_reads);
    RUN(test_handshake_done_only_once_last_flight_left);
    RUN(test_read_and_write_drive_the_handshake_first);

    RUN(test_unflushed_write_is_reported_on_retry_not_reencrypted);
    RUN(test_retry_with_shorter_buffer_gets_at_most_its_length);
    RUN(test_nonblocking_write_reports_one_record_at_a_time);
    RUN(test_blocking_write_splits_into_records_and_writes_all);
    RUN(test_zero_length_write_touches_nothing);

    RUN(test_blocking_waits_in_the_direction_the_step_wants);
    RUN(test_blocking_read_waits_for_readable);
    RUN(test_blocking_wait_adds_write_while_ciphertext_queued);
    RUN(test_blocking_last_flight_waits_for_writable_only);
    RUN(test_blocking_write_waits_until_record_left);
    RUN(test_wait_timeout_and_interrupt_are_returned_not_sticky);
    RUN(test_write_retried_after_a_timeout_is_credited_not_resent);
    RUN(test_write_with_new_data_after_a_timeout_is_not_credited);
    RUN(test_fatal_wait_error_is_sticky);
    RUN(test_blocking_without_wait_reports_want);
    RUN(test_connections_block_by_default);

    RUN(test_read_returns_backend_plaintext);
    RUN(test_end_of_stream_reads_zero_and_stays_zero);
    RUN(test_pending_asks_backend_only_while_open);
    RUN(test_poll_reports_nval_after_close_and_after_failure);
    RUN(test_poll_ready_for_read_with_pending_plaintext);
    RUN(test_poll_redirects_during_handshake);
    RUN(test_negotiated_parameters_and_peer_cert_only_after_handshake);

    RUN(test_close_sends_close_notify_once);
    RUN(test_close_never_waits_for_the_transport);
    RUN(test_no_close_notify_before_handshake_completes_or_after_failure);
    RUN(test_io_after_close_is_closed_error);

    RUN(test_connections_share_one_native_context);
    RUN(test_native_context_freed_when_context_and_connections_gone);
    RUN(test_changed_context_builds_new_native_old_connection_keeps_old);
    RUN(test_unchanged_setting_keeps_the_native_context);
    RUN(test_failed_backend_conn_new_releases_native_reference);
    RUN(test_failed_ctx_build_is_reported_and_retried);

    RUN(test_default_suites_are_backend_suites_policy_allows);
    RUN(test_set_suites_refuses_with_reason_and_leaves_context);
    RUN(test_empty_suite_list_is_refused);
    RUN(test_duplicate_suites_keep_first_position);
    RUN(test_versions_follow_from_the_suites);
    RUN(test_set_suites_invalidates_native_context);
    RUN(test_cas_chain_and_key_reach_the_native_config);
    RUN(test_entropy_comes_from_the_os_without_a_hook);
    RUN(test_entropy_hook_is_used_and_its_failure_reported);
    RUN(test_time_hook_overrides_the_os_clock);

    mpssl_deinit();
    return DONE();
}
