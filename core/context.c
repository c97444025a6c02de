/*
 * context.c - the neutral SSLContext: role, verify mode, trust anchors, own
 * chain and key, enabled suites; compiled into the backend's native context
 * lazily, and again after any change.
 *
 * A compiled native context is immutable and reference-counted: connections
 * keep the one they were created with, so changing a context never affects
 * connections that already exist.
 */
#include "internal.h"
#include "suites.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Library initialisation                                                   */
/* ------------------------------------------------------------------------ */

#define MAX_SUITES 512

static int init_count;
static uint16_t supported_ids[MAX_SUITES];
static size_t n_supported_ids;

/* Keeps the backend's suites that policy allows, in the backend's order. */
static void collect_supported_suites(void) {
    static uint16_t raw[MAX_SUITES];
    size_t n = mpssl_backend_impl.supported_suites(raw, MAX_SUITES);
    if (n > MAX_SUITES) {
        n = MAX_SUITES;
    }
    int has_tls13 = (mpssl_backend_impl.caps & MPSSL_CAP_TLS13) != 0;
    n_supported_ids = 0;
    for (size_t i = 0; i < n; i++) {
        const mpssl_suite_info *info = mpssl_suite_find(raw[i]);
        if (!info || !mpssl_suite_allowed(raw[i])) {
            continue;
        }
        if ((info->flags & MPSSL_SUITE_TLS13) && !has_tls13) {
            continue;
        }
        supported_ids[n_supported_ids++] = raw[i];
    }
}

int mpssl_init(void) {
    if (init_count++ > 0) {
        return 0;
    }
    int r = mpssl_backend_impl.global_init();
    if (r != 0) {
        init_count = 0;
        return r;
    }
    collect_supported_suites();
    return 0;
}

void mpssl_deinit(void) {
    if (init_count == 0 || --init_count > 0) {
        return;
    }
    if (mpssl_backend_impl.global_deinit) {
        mpssl_backend_impl.global_deinit();
    }
}

const uint16_t *mpssl_supported_suites(size_t *n) {
    *n = n_supported_ids;
    return supported_ids;
}

const char *mpssl_backend_name(void) {
    return mpssl_backend_impl.name;
}
const char *mpssl_backend_version(void) {
    return mpssl_backend_impl.version();
}
unsigned mpssl_backend_caps(void) {
    return mpssl_backend_impl.caps;
}

/* ------------------------------------------------------------------------ */
/* Native contexts                                                          */
/* ------------------------------------------------------------------------ */

void mpssl_native_ref(mpssl_native *native) {
    native->refcount++;
}

void mpssl_native_unref(mpssl_native *native) {
    if (native && --native->refcount == 0) {
        mpssl_backend_impl.ctx_free(native->handle);
        mpssl_free(native);
    }
}

/* Drops the compiled form after a change; the next connection recompiles. */
static void invalidate_native(mpssl_ctx *ctx) {
    mpssl_native_unref(ctx->native);
    ctx->native = NULL;
}

static int suites_have_version(const uint16_t *ids, size_t n, int tls13) {
    for (size_t i = 0; i < n; i++) {
        const mpssl_suite_info *info = mpssl_suite_find(ids[i]);
        if (info && ((info->flags & MPSSL_SUITE_TLS13) != 0) == tls13) {
            return 1;
        }
    }
    return 0;
}

static mpssl_config config_of(const mpssl_ctx *ctx) {
    mpssl_config cfg = {
        .protocol = ctx->protocol,
        .verify_mode = ctx->verify_mode,
        .cas = ctx->cas.items,
        .n_cas = ctx->cas.n,
        .chain = ctx->chain.items,
        .n_chain = ctx->chain.n,
        .key = {ctx->key, ctx->key_len},
        .key_type = ctx->key_type,
        .suites = ctx->suites,
        .n_suites = ctx->n_suites,
    };
    /* The versions follow from the suites: a list without TLS 1.3 suites
     * disables TLS 1.3, one without TLS 1.2 suites disables TLS 1.2. */
    cfg.min_version = suites_have_version(ctx->suites, ctx->n_suites, 0)
                          ? MPSSL_TLS1_2
                          : MPSSL_TLS1_3;
    cfg.max_version = suites_have_version(ctx->suites, ctx->n_suites, 1)
                          ? MPSSL_TLS1_3
                          : MPSSL_TLS1_2;
    return cfg;
}

int mpssl_ctx_native(mpssl_ctx *ctx, mpssl_native **out) {
    if (!ctx->native) {
        mpssl_native *native = mpssl_alloc(sizeof *native);
        if (!native) {
            return -ENOMEM;
        }
        mpssl_config cfg = config_of(ctx);
        ctx->build_error[0] = '\0';
        int r = mpssl_backend_impl.ctx_build(
            &cfg, &native->handle, ctx->build_error, sizeof ctx->build_error);
        if (r != 0) {
            mpssl_free(native);
            return r;
        }
        native->refcount = 1;
        ctx->native = native;
    }
    mpssl_native_ref(ctx->native);
    *out = ctx->native;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

static int set_default_suites(mpssl_ctx *ctx) {
    size_t n_supported;
    const uint16_t *supported = mpssl_supported_suites(&n_supported);
    uint16_t defaults[MAX_SUITES];
    size_t n =
        mpssl_suite_defaults(supported, n_supported, defaults, MAX_SUITES);
    ctx->suites = mpssl_alloc(n * sizeof *ctx->suites);
    if (!ctx->suites) {
        return -ENOMEM;
    }
    memcpy(ctx->suites, defaults, n * sizeof *ctx->suites);
    ctx->n_suites = n;
    return 0;
}

int mpssl_ctx_new(int protocol, mpssl_ctx **out) {
    if (protocol != MPSSL_PROTOCOL_TLS_CLIENT &&
        protocol != MPSSL_PROTOCOL_TLS_SERVER) {
        return MPSSL_EINVAL;
    }
    mpssl_ctx *ctx = mpssl_alloc(sizeof *ctx);
    if (!ctx) {
        return -ENOMEM;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->refcount = 1;
    ctx->protocol = protocol;
    /* Clients verify by default (as CPython and MicroPython's native tls
     * do); servers do not ask for client certificates. */
    ctx->verify_mode = protocol == MPSSL_PROTOCOL_TLS_CLIENT
                           ? MPSSL_CERT_REQUIRED
                           : MPSSL_CERT_NONE;
    if (set_default_suites(ctx) != 0) {
        mpssl_free(ctx);
        return -ENOMEM;
    }
    *out = ctx;
    return 0;
}

void mpssl_ctx_ref(mpssl_ctx *ctx) {
    ctx->refcount++;
}

static void clear_key(mpssl_ctx *ctx) {
    mpssl_free_secret(ctx->key, ctx->key_len);
    ctx->key = NULL;
    ctx->key_len = 0;
}

void mpssl_ctx_unref(mpssl_ctx *ctx) {
    if (!ctx || --ctx->refcount > 0) {
        return;
    }
    invalidate_native(ctx);
    mpssl_der_list_free(&ctx->cas);
    mpssl_der_list_free(&ctx->chain);
    clear_key(ctx);
    mpssl_free(ctx->suites);
    mpssl_free(ctx);
}

int mpssl_ctx_protocol(const mpssl_ctx *ctx) {
    return ctx->protocol;
}

int mpssl_ctx_set_verify_mode(mpssl_ctx *ctx, int mode) {
    if (mode != MPSSL_CERT_NONE && mode != MPSSL_CERT_OPTIONAL &&
        mode != MPSSL_CERT_REQUIRED) {
        return MPSSL_EINVAL;
    }
    if (mode != ctx->verify_mode) {
        ctx->verify_mode = mode;
        invalidate_native(ctx);
    }
    return 0;
}

int mpssl_ctx_verify_mode(const mpssl_ctx *ctx) {
    return ctx->verify_mode;
}

int mpssl_ctx_load_cert_chain(mpssl_ctx *ctx, const uint8_t *cert,
                              size_t cert_len, const uint8_t *key,
                              size_t key_len) {
    mpssl_der_list chain = {0};
    int r = mpssl_load_certs(cert, cert_len, &chain);
    if (r != 0) {
        return r;
    }
    uint8_t *key_der = NULL;
    size_t key_der_len = 0;
    mpssl_key_type key_type;
    r = mpssl_load_key(key, key_len, &key_der, &key_der_len, &key_type);
    if (r == 0) {
        /* A key that does not belong to the certificate is refused now,
         * not at handshake time. */
        mpssl_blob key_blob = {key_der, key_der_len};
        r = mpssl_backend_impl.check_key(&key_blob, key_type, &chain.items[0]);
    }
    if (r != 0) {
        mpssl_der_list_free(&chain);
        mpssl_free_secret(key_der, key_der_len);
        return r;
    }
    mpssl_der_list_free(&ctx->chain);
    clear_key(ctx);
    ctx->chain = chain;
    ctx->key = key_der;
    ctx->key_len = key_der_len;
    ctx->key_type = key_type;
    invalidate_native(ctx);
    return 0;
}

int mpssl_ctx_load_verify_data(mpssl_ctx *ctx, const uint8_t *data,
                               size_t len) {
    mpssl_der_list added = {0};
    int r = mpssl_load_certs(data, len, &added);
    if (r != 0) {
        return r;
    }
    size_t total = ctx->cas.n + added.n;
    mpssl_blob *items = mpssl_realloc(ctx->cas.items, total * sizeof *items);
    if (!items) {
        mpssl_der_list_free(&added);
        return -ENOMEM;
    }
    memcpy(items + ctx->cas.n, added.items, added.n * sizeof *items);
    ctx->cas.items = items;
    ctx->cas.n = total;
    /* The blobs now belong to ctx->cas; only the array is freed. */
    mpssl_free(added.items);
    invalidate_native(ctx);
    return 0;
}

size_t mpssl_ctx_ca_count(const mpssl_ctx *ctx) {
    return ctx->cas.n;
}

const char *mpssl_ctx_build_error(const mpssl_ctx *ctx) {
    return ctx->build_error;
}

size_t mpssl_ctx_suites(const mpssl_ctx *ctx, const uint16_t **ids) {
    *ids = ctx->suites;
    return ctx->n_suites;
}

static int backend_supports(uint16_t id) {
    size_t n;
    const uint16_t *ids = mpssl_supported_suites(&n);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return 1;
        }
    }
    return 0;
}

const char *mpssl_suite_refusal(const mpssl_ctx *ctx, uint16_t id) {
    (void)ctx;
    const mpssl_suite_info *info = mpssl_suite_find(id);
    if (!info) {
        return "is unknown";
    }
    if (info->flags & MPSSL_SUITE_FORBIDDEN) {
        return "is forbidden by the security policy";
    }
    if (info->flags & MPSSL_SUITE_NEEDS_PSK) {
        return "needs a pre-shared key, which this module does not offer";
    }
    if ((info->flags & MPSSL_SUITE_TLS13) &&
        !(mpssl_backend_impl.caps & MPSSL_CAP_TLS13)) {
        return "needs TLS 1.3, which this backend does not support";
    }
    if (!backend_supports(id)) {
        return "is not supported by this backend";
    }
    return NULL;
}

int mpssl_ctx_set_suites(mpssl_ctx *ctx, const uint16_t *ids, size_t n,
                         size_t *bad_index) {
    if (n == 0) {
        *bad_index = SIZE_MAX;
        return MPSSL_ERR_CIPHER_LIST;
    }
    for (size_t i = 0; i < n; i++) {
        if (mpssl_suite_refusal(ctx, ids[i])) {
            *bad_index = i;
            return MPSSL_ERR_CIPHER_LIST;
        }
    }
    uint16_t *copy = mpssl_alloc(n * sizeof *copy);
    if (!copy) {
        return -ENOMEM;
    }
    /* Duplicates keep their first (most preferred) position. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < kept && copy[j] != ids[i]) {
            j++;
        }
        if (j == kept) {
            copy[kept++] = ids[i];
        }
    }
    mpssl_free(ctx->suites);
    ctx->suites = copy;
    ctx->n_suites = kept;
    invalidate_native(ctx);
    return 0;
}
