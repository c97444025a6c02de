/*
 * internal.h - declarations shared by the core's context and connection
 * code.  Not part of the public API and never included by a backend.
 */
#ifndef MPSSL_INTERNAL_H
#define MPSSL_INTERNAL_H

#include "backend.h"
#include "pem.h"

/* A compiled native context, shared by the context that built it and every
 * connection created from it; immutable once built. */
typedef struct mpssl_native {
    int refcount;
    void *handle; /* the backend's, freed with ctx_free at refcount 0 */
} mpssl_native;

void mpssl_native_ref(mpssl_native *native);
void mpssl_native_unref(mpssl_native *native);

struct mpssl_ctx {
    int refcount;
    int protocol;
    int verify_mode;
    mpssl_der_list cas;   /* trusted certificates, DER */
    mpssl_der_list chain; /* own chain, leaf first */
    uint8_t *key;         /* own key, DER; wiped on free */
    size_t key_len;
    mpssl_key_type key_type;
    uint16_t *suites; /* enabled suites, preference order */
    size_t n_suites;
    mpssl_native *native; /* compiled form, NULL until needed or after a
                             change */
    char build_error[96]; /* the backend's reason the last compile failed */
};

/*
 * The native context for the context's configuration as it is now,
 * compiled on first use after a change.  0 and a new reference in *out, or
 * -ENOMEM / MPSSL_ERR_* with the backend's reason kept for
 * mpssl_ctx_build_error().
 */
int mpssl_ctx_native(mpssl_ctx *ctx, mpssl_native **out);

/* Whether the core has been initialised, and the backend's negotiable
 * suites after policy filtering (valid after mpssl_init). */
const uint16_t *mpssl_supported_suites(size_t *n);

/* The name of a TLS alert number ("handshake_failure"), or NULL. */
const char *mpssl_alert_name(int alert);

/* Platform hooks as set by the port (members may be NULL). */
const mpssl_platform *mpssl_platform_hooks(void);

#endif /* MPSSL_INTERNAL_H */
