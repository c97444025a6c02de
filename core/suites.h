/*
 * suites.h - the core's IANA cipher-suite table and suite policy.
 *
 * One row per TLS 1.2/1.3 suite that any of the four libraries can
 * negotiate, keyed by the 16-bit IANA id.  Names are IANA names on every
 * backend; the reference's mbedTLS spellings are accepted as aliases.
 */
#ifndef MPSSL_SUITES_H
#define MPSSL_SUITES_H

#include <stddef.h>
#include <stdint.h>

/* Row flags. */
#define MPSSL_SUITE_TLS13 0x01u /* a TLS 1.3 suite (else TLS 1.2) */
#define MPSSL_SUITE_FORBIDDEN                                                  \
    0x02u /* never enabled: NULL, anon, export,                                \
             RC4, (3)DES, IDEA, SEED? no: weak only */
#define MPSSL_SUITE_NEEDS_PSK                                                  \
    0x04u                          /* PSK/SRP key exchange: needs an API the   \
                                      module does not offer */
#define MPSSL_SUITE_AEAD 0x08u     /* GCM, CCM, ChaCha20-Poly1305 */
#define MPSSL_SUITE_PFS 0x10u      /* (EC)DHE or TLS 1.3 key exchange */
#define MPSSL_SUITE_ECDSA 0x20u    /* needs an ECDSA server certificate */
#define MPSSL_SUITE_RSA_AUTH 0x40u /* needs an RSA server certificate */

typedef struct mpssl_suite_info {
    uint16_t id;       /* IANA id, e.g. 0xC02B */
    const char *iana;  /* "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" */
    const char *alias; /* the mbedTLS-style spelling when it is not the
                          mechanical one (see mpssl_suite_find_name), or
                          NULL */
    unsigned flags;    /* MPSSL_SUITE_* */
} mpssl_suite_info;

/* The whole table, sorted by id. */
const mpssl_suite_info *mpssl_suite_table(size_t *n);

/* The row for an id, or NULL. */
const mpssl_suite_info *mpssl_suite_find(uint16_t id);

/*
 * The row for a name, or NULL.  Accepts, case-insensitively: the IANA name;
 * the mechanical mbedTLS spelling (IANA with '_' -> '-', so
 * "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"); mbedTLS 3.x TLS 1.3 spellings
 * ("TLS1-3-AES-128-GCM-SHA256"); and the row's explicit alias.  name need
 * not be NUL-terminated.
 */
const mpssl_suite_info *mpssl_suite_find_name(const char *name, size_t len);

/* 1 when the suite may be enabled at all by policy (known, not FORBIDDEN,
 * not NEEDS_PSK). */
int mpssl_suite_allowed(uint16_t id);

/*
 * The default enabled list: the core's preference order (TLS 1.3 AEAD
 * first, then ECDHE AEAD with ECDSA before RSA, then DHE-RSA AEAD, then
 * ECDHE CBC with SHA-2, then ECDHE CBC with SHA-1), keeping only suites in
 * supported[0..n_supported).  Plain-RSA key exchange and other allowed but
 * non-default suites can be enabled with set_ciphers.  Writes at most cap
 * ids to out and returns how many it wrote.
 */
size_t mpssl_suite_defaults(const uint16_t *supported, size_t n_supported,
                            uint16_t *out, size_t cap);

#endif /* MPSSL_SUITES_H */
