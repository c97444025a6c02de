/*
 * record_setup.h - what the record-path fuzz target and the handshake
 * capture tool share: the input header, the contexts, and a deterministic
 * entropy stream.
 *
 * Input of fuzz_record_client / fuzz_record_server:
 *
 *   byte 0   options (RECORD_OPT_*)
 *   byte 1   largest chunk the transport hands over (0: no limit)
 *   byte 2   chance of an injected would-block, in 1/64ths (low 6 bits)
 *   byte 3.. the bytes the peer sends
 *
 * The capture tool writes real flights behind the same header, so a seed
 * and a fuzz run configure the connection identically.
 *
 * Entropy: backends that take randomness from the core's platform hook
 * (mbedTLS, BearSSL) get a stream that restarts from a per-role seed before
 * each connection is built.  A replayed capture then meets the same client
 * random and key shares it was recorded with, so the fuzzer can get past
 * the Finished check into the encrypted record layer.  OpenSSL and GnuTLS
 * use their own generators; there a seed still reaches the first flight.
 *
 * Time: TLS 1.2 randoms start with the current time on some libraries
 * (mbedTLS), so a replay a second later would fail the signature check.
 * The programs including this header define time() itself, frozen one day
 * after the embedded CA's notBefore (inside every embedded certificate's
 * validity); libraries that read the clock through time() see that value.
 * Include this header from exactly one file per program.
 */
#ifndef FUZZ_RECORD_SETUP_H
#define FUZZ_RECORD_SETUP_H

#include "fuzz_certs.h"
#include "mpssl.h"

#include "pem.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#define RECORD_HEADER_LEN 3

#define RECORD_OPT_RSA 0x01u        /* server presents the RSA chain, else EC */
#define RECORD_OPT_TLS12_ONLY 0x02u /* both sides offer one TLS 1.2 suite */
#define RECORD_OPT_VERIFY                                                      \
    0x04u /* client verifies (CA + "localhost");                               \
             server requires a client certificate */
#define RECORD_OPT_ALL 0x07u

#define ROLE_SEED_CLIENT 0x0123456789abcdefull
#define ROLE_SEED_SERVER 0xfedcba9876543210ull

static uint64_t entropy_state;

/* splitmix64: a well-mixed stream from a counter, cheap and reproducible. */
static uint64_t entropy_next(void) {
    uint64_t z = (entropy_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int deterministic_entropy(void *ctx, uint8_t *buf, size_t len) {
    (void)ctx;
    while (len > 0) {
        uint64_t v = entropy_next();
        size_t n = len < sizeof v ? len : sizeof v;
        memcpy(buf, &v, n);
        buf += n;
        len -= n;
    }
    return 0;
}

static time_t frozen_now; /* 0 until record_setup_platform() */

/* Replaces the C library's time() for the whole program (see above). */
time_t time(time_t *out) {
    time_t now = frozen_now;
    struct timespec ts;

    if (now == 0 && clock_gettime(CLOCK_REALTIME, &ts) == 0)
        now = ts.tv_sec;
    if (out)
        *out = now;
    return now;
}

static int64_t frozen_unix_time(void) {
    return (int64_t)time(NULL);
}

/* One day after the embedded CA's notBefore; 0 if it cannot be read. */
static time_t ca_not_before_plus_a_day(void) {
    mpssl_der_list certs = {0};
    mpssl_x509 ca;
    struct tm tm = {0};
    time_t t = 0;

    if (mpssl_load_certs(fuzz_ca_pem, fuzz_ca_pem_len, &certs) != 0)
        return 0;
    if (mpssl_x509_parse(certs.items[0].data, certs.items[0].len, &ca) == 0) {
        tm.tm_year = ca.not_before.year - 1900;
        tm.tm_mon = ca.not_before.month - 1;
        tm.tm_mday = ca.not_before.day;
        tm.tm_hour = ca.not_before.hour;
        tm.tm_min = ca.not_before.minute;
        tm.tm_sec = ca.not_before.second;
        t = timegm(&tm) + 86400;
    }
    mpssl_der_list_free(&certs);
    return t;
}

/* Freezes the clock and installs the entropy hook (before mpssl_init).
 * 0, or -1 when the embedded CA does not parse (a build bug). */
static int record_setup_platform(void) {
    static const mpssl_platform platform = {deterministic_entropy, NULL,
                                            frozen_unix_time};
    frozen_now = ca_not_before_plus_a_day();
    mpssl_set_platform(&platform);
    return frozen_now > 0 ? 0 : -1;
}

static void record_restart_entropy(int protocol) {
    entropy_state = protocol == MPSSL_PROTOCOL_TLS_CLIENT ? ROLE_SEED_CLIENT
                                                          : ROLE_SEED_SERVER;
}

/* The single TLS 1.2 suite of RECORD_OPT_TLS12_ONLY for a server key. */
static uint16_t record_tls12_suite(unsigned options) {
    return (options & RECORD_OPT_RSA) ? 0xC02F  /* ECDHE_RSA_AES_128_GCM */
                                      : 0xC02B; /* ECDHE_ECDSA_AES_128_GCM */
}

static int record_server_chain(mpssl_ctx *ctx, unsigned options) {
    if (options & RECORD_OPT_RSA)
        return mpssl_ctx_load_cert_chain(
            ctx, fuzz_server_rsa_pem, fuzz_server_rsa_pem_len,
            fuzz_server_rsa_key, fuzz_server_rsa_key_len);
    return mpssl_ctx_load_cert_chain(ctx, fuzz_server_ec_pem,
                                     fuzz_server_ec_pem_len, fuzz_server_ec_key,
                                     fuzz_server_ec_key_len);
}

/*
 * A fresh context for one role configured by `options` (restarting the
 * entropy stream first), or NULL when the setup itself failed: that is a
 * bug in the build, not in the input, and the caller aborts.
 */
static mpssl_ctx *record_ctx(int protocol, unsigned options) {
    mpssl_ctx *ctx = NULL;
    int verify = (options & RECORD_OPT_VERIFY) != 0;
    int ok;

    record_restart_entropy(protocol);
    if (mpssl_ctx_new(protocol, &ctx) != 0)
        return NULL;
    if (protocol == MPSSL_PROTOCOL_TLS_SERVER) {
        ok = record_server_chain(ctx, options) == 0;
    } else {
        /* The client presents a certificate only when the server asks. */
        ok = mpssl_ctx_load_cert_chain(ctx, fuzz_client_pem,
                                       fuzz_client_pem_len, fuzz_client_key,
                                       fuzz_client_key_len) == 0;
    }
    if (ok && verify)
        ok = mpssl_ctx_load_verify_data(ctx, fuzz_ca_pem, fuzz_ca_pem_len) == 0;
    if (ok)
        ok = mpssl_ctx_set_verify_mode(ctx, verify ? MPSSL_CERT_REQUIRED
                                                   : MPSSL_CERT_NONE) == 0;
    if (ok && (options & RECORD_OPT_TLS12_ONLY)) {
        uint16_t suite = record_tls12_suite(options);
        size_t bad = 0;
        ok = mpssl_ctx_set_suites(ctx, &suite, 1, &bad) == 0;
    }
    if (!ok) {
        mpssl_ctx_unref(ctx);
        return NULL;
    }
    return ctx;
}

/* The name a client connects to: what the test certificates carry. */
#define RECORD_HOSTNAME "localhost"

/* What the client writes once its handshake completes. */
#define RECORD_CLIENT_MESSAGE "mpssl fuzz ping\n"
#define RECORD_SERVER_MESSAGE "mpssl fuzz pong\n"

#endif /* FUZZ_RECORD_SETUP_H */
