/*
 * test_suites.c - the IANA suite table, name lookup and default policy.
 */
#include "check.h"

#include "mpssl.h"
#include "suites.h"

#include <stdint.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Looks a NUL-terminated name up; returns the id or -1. */
static long lookup(const char *name) {
    uint16_t id = 0;
    if (mpssl_suite_lookup(name, strlen(name), &id) != 0) {
        return -1;
    }
    return id;
}

/* The IANA name with '_' -> '-', written to buf. */
static const char *dashed(const char *iana, char *buf, size_t cap) {
    size_t i;
    for (i = 0; iana[i] && i + 1 < cap; i++) {
        buf[i] = iana[i] == '_' ? '-' : iana[i];
    }
    buf[i] = '\0';
    return buf;
}

static void lowercase(char *s) {
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

static void test_table_is_sorted_with_unique_ids(void) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    CHECK(n > 200); /* every suite of four libraries, not a handful */
    for (size_t i = 1; i < n; i++) {
        if (t[i - 1].id >= t[i].id) {
            printf("  rows %zu/%zu: 0x%04X then 0x%04X\n", i - 1, i,
                   t[i - 1].id, t[i].id);
        }
        CHECK(t[i - 1].id < t[i].id);
    }
}

static void test_every_row_has_a_plausible_iana_name(void) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n; i++) {
        CHECK(t[i].iana != NULL);
        CHECK(strncmp(t[i].iana, "TLS_", 4) == 0);
        CHECK(strchr(t[i].iana, '-') == NULL);
        /* TLS 1.2 suites are "<kx>_WITH_<cipher>", TLS 1.3 ones are not. */
        int tls13 = (t[i].flags & MPSSL_SUITE_TLS13) != 0;
        CHECK(tls13 == (strstr(t[i].iana, "_WITH_") == NULL));
        CHECK(tls13 == (t[i].id >= 0x1301 && t[i].id <= 0x1305));
        if (t[i].alias) {
            CHECK(strchr(t[i].alias, '_') == NULL);
        }
    }
}

static void test_every_name_round_trips_through_its_id(void) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n; i++) {
        CHECK(mpssl_suite_find(t[i].id) == &t[i]);
        CHECK_EQ_STR(mpssl_suite_name(t[i].id), t[i].iana);
        CHECK_EQ_INT(lookup(mpssl_suite_name(t[i].id)), t[i].id);
        CHECK(mpssl_suite_find_name(t[i].iana, strlen(t[i].iana)) == &t[i]);
    }
}

static void test_every_mechanical_and_explicit_alias_finds_its_row(void) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    char buf[96];
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(lookup(dashed(t[i].iana, buf, sizeof buf)), t[i].id);
        if (t[i].alias) {
            CHECK_EQ_INT(lookup(t[i].alias), t[i].id);
        }
    }
}

static void test_unknown_ids_have_no_name(void) {
    CHECK(mpssl_suite_name(0x0000) == NULL);
    CHECK(mpssl_suite_name(0x00FF) == NULL); /* renegotiation SCSV */
    CHECK(mpssl_suite_name(0x5600) == NULL); /* fallback SCSV */
    CHECK(mpssl_suite_name(0x1306) == NULL);
    CHECK(mpssl_suite_name(0xFFFF) == NULL);
    CHECK(mpssl_suite_find(0xC0FF) == NULL); /* mbedTLS EC J-PAKE */
}

static void test_cross_library_suites_have_their_iana_names(void) {
    static const struct {
        uint16_t id;
        const char *name;
    } want[] = {
        {0x1301, "TLS_AES_128_GCM_SHA256"},
        {0x1302, "TLS_AES_256_GCM_SHA384"},
        {0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
        {0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
        {0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
        {0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
        {0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
        {0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
        {0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    };
    for (size_t i = 0; i < COUNT(want); i++) {
        CHECK_EQ_STR(mpssl_suite_name(want[i].id), want[i].name);
        CHECK(mpssl_suite_allowed(want[i].id));
        const mpssl_suite_info *row = mpssl_suite_find(want[i].id);
        CHECK(row && (row->flags & MPSSL_SUITE_AEAD));
        CHECK(row && (row->flags & MPSSL_SUITE_PFS));
    }
}

static void test_certificate_type_flags_follow_the_suite(void) {
    const mpssl_suite_info *ecdsa = mpssl_suite_find(0xC02B);
    const mpssl_suite_info *rsa = mpssl_suite_find(0xC02F);
    const mpssl_suite_info *plain_rsa = mpssl_suite_find(0x009C);
    const mpssl_suite_info *tls13 = mpssl_suite_find(0x1301);
    CHECK(ecdsa && (ecdsa->flags & MPSSL_SUITE_ECDSA) &&
          !(ecdsa->flags & MPSSL_SUITE_RSA_AUTH));
    CHECK(rsa && (rsa->flags & MPSSL_SUITE_RSA_AUTH) &&
          !(rsa->flags & MPSSL_SUITE_ECDSA));
    /* plain RSA key exchange: RSA certificate, no forward secrecy */
    CHECK(plain_rsa && (plain_rsa->flags & MPSSL_SUITE_RSA_AUTH) &&
          !(plain_rsa->flags & MPSSL_SUITE_PFS));
    CHECK(mpssl_suite_allowed(0x009C));
    CHECK(tls13 &&
          !(tls13->flags & (MPSSL_SUITE_ECDSA | MPSSL_SUITE_RSA_AUTH)));
}

static void test_lookup_accepts_mbedtls_dashed_spelling(void) {
    CHECK_EQ_INT(lookup("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"), 0xC02B);
    CHECK_EQ_INT(lookup("TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256"), 0xCCA8);
    CHECK_EQ_INT(lookup("TLS-RSA-WITH-AES-128-CCM-8"), 0xC0A0);
    CHECK_EQ_INT(lookup("TLS-AES-128-GCM-SHA256"), 0x1301);
}

static void test_lookup_accepts_mbedtls3_tls13_spelling(void) {
    CHECK_EQ_INT(lookup("TLS1-3-AES-128-GCM-SHA256"), 0x1301);
    CHECK_EQ_INT(lookup("TLS1-3-AES-256-GCM-SHA384"), 0x1302);
    CHECK_EQ_INT(lookup("TLS1-3-CHACHA20-POLY1305-SHA256"), 0x1303);
    CHECK_EQ_INT(lookup("TLS1-3-AES-128-CCM-SHA256"), 0x1304);
    CHECK_EQ_INT(lookup("TLS1-3-AES-128-CCM-8-SHA256"), 0x1305);
    CHECK_EQ_INT(lookup("tls1-3-aes-128-gcm-sha256"), 0x1301);
}

static void test_tls13_prefix_applies_only_to_tls13_suites(void) {
    CHECK_EQ_INT(lookup("TLS1-3-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"), -1);
    CHECK_EQ_INT(lookup("TLS1_3_AES_128_GCM_SHA256"), -1);
}

static void test_lookup_accepts_explicit_mbedtls_alias(void) {
    /* IANA puts PSK first in these two; mbedTLS does not. */
    CHECK_EQ_INT(lookup("TLS-DHE-PSK-WITH-AES-128-CCM-8"), 0xC0AA);
    CHECK_EQ_INT(lookup("TLS-DHE-PSK-WITH-AES-256-CCM-8"), 0xC0AB);
    CHECK_EQ_INT(lookup("TLS_PSK_DHE_WITH_AES_128_CCM_8"), 0xC0AA);
    CHECK_EQ_STR(mpssl_suite_name(0xC0AA), "TLS_PSK_DHE_WITH_AES_128_CCM_8");
}

static void test_lookup_ignores_case(void) {
    char buf[96];
    CHECK_EQ_INT(lookup("tls_ecdhe_rsa_with_aes_256_gcm_sha384"), 0xC030);
    CHECK_EQ_INT(lookup("Tls-Ecdhe-Rsa-With-Aes-256-Gcm-Sha384"), 0xC030);
    CHECK_EQ_INT(lookup("TLS_DH_ANON_WITH_AES_128_CBC_SHA"), 0x0034);
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n; i++) {
        strcpy(buf, t[i].iana);
        lowercase(buf);
        CHECK_EQ_INT(lookup(buf), t[i].id);
    }
}

static void test_lookup_does_not_need_nul_termination(void) {
    const char text[] = "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384";
    uint16_t id = 0;
    CHECK_EQ_INT(mpssl_suite_lookup(text, 22, &id), 0);
    CHECK_EQ_INT(id, 0x1301);
    CHECK_EQ_INT(mpssl_suite_lookup(text + 23, 22, &id), 0);
    CHECK_EQ_INT(id, 0x1302);
}

static void test_lookup_rejects_unknown_and_malformed_names(void) {
    static const char with_nul[] = "TLS_AES_128_GCM_SHA256\0";
    static const char nul_inside[] = "TLS_AES_128\0GCM_SHA256";
    char overlong[200];
    uint16_t id = 0x4242;

    CHECK_EQ_INT(lookup("TLS_AES_512_GCM_SHA256"), -1);
    CHECK_EQ_INT(lookup("ECDHE-RSA-AES128-GCM-SHA256"), -1); /* OpenSSL */
    CHECK_EQ_INT(lookup("TLS_"), -1);
    CHECK_EQ_INT(lookup("TLS_AES_128_GCM"), -1);
    CHECK_EQ_INT(lookup("TLS_AES_128_GCM_SHA256X"), -1);
    CHECK_EQ_INT(lookup(" TLS_AES_128_GCM_SHA256"), -1);
    CHECK_EQ_INT(lookup("TLS_AES-128_GCM_SHA256"), -1); /* mixed spelling */
    CHECK_EQ_INT(mpssl_suite_lookup("", 0, &id), MPSSL_ERR_CIPHER_LIST);
    CHECK_EQ_INT(mpssl_suite_lookup(NULL, 0, &id), MPSSL_ERR_CIPHER_LIST);
    CHECK_EQ_INT(mpssl_suite_lookup(with_nul, sizeof with_nul - 1, &id),
                 MPSSL_ERR_CIPHER_LIST);
    CHECK_EQ_INT(mpssl_suite_lookup(nul_inside, sizeof nul_inside - 1, &id),
                 MPSSL_ERR_CIPHER_LIST);
    memset(overlong, 'A', sizeof overlong);
    memcpy(overlong, "TLS_AES_128_GCM_SHA256", 22);
    CHECK_EQ_INT(mpssl_suite_lookup(overlong, sizeof overlong, &id),
                 MPSSL_ERR_CIPHER_LIST);
    CHECK_EQ_INT(id, 0x4242); /* untouched on failure */
    CHECK(mpssl_suite_find_name("TLS_", 4) == NULL);
}

static void test_weak_suites_are_forbidden(void) {
    static const uint16_t weak[] = {
        0x000A, /* TLS_RSA_WITH_3DES_EDE_CBC_SHA */
        0x0005, /* TLS_RSA_WITH_RC4_128_SHA */
        0x003B, /* TLS_RSA_WITH_NULL_SHA256 */
        0x0034, /* TLS_DH_anon_WITH_AES_128_CBC_SHA */
        0x0001, /* TLS_RSA_WITH_NULL_MD5 */
        0x0009, /* TLS_RSA_WITH_DES_CBC_SHA */
        0xC018, /* TLS_ECDH_anon_WITH_AES_128_CBC_SHA */
        0xC012, /* TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA */
    };
    for (size_t i = 0; i < COUNT(weak); i++) {
        const mpssl_suite_info *row = mpssl_suite_find(weak[i]);
        CHECK(row != NULL);
        CHECK(row && (row->flags & MPSSL_SUITE_FORBIDDEN));
        CHECK(!mpssl_suite_allowed(weak[i]));
    }
    CHECK_EQ_STR(mpssl_suite_name(0x000A), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    CHECK_EQ_STR(mpssl_suite_name(0x0034), "TLS_DH_anon_WITH_AES_128_CBC_SHA");
}

static void test_forbidden_flag_matches_weak_name_parts(void) {
    static const char *const weak_parts[] = {
        "_WITH_NULL_", "_anon_", "EXPORT", "RC4", "DES_", "IDEA", "_MD5"};
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n; i++) {
        int weak = 0;
        for (size_t j = 0; j < COUNT(weak_parts); j++) {
            weak |= strstr(t[i].iana, weak_parts[j]) != NULL;
        }
        if (weak != ((t[i].flags & MPSSL_SUITE_FORBIDDEN) != 0)) {
            printf("  0x%04X %s\n", t[i].id, t[i].iana);
        }
        CHECK(weak == ((t[i].flags & MPSSL_SUITE_FORBIDDEN) != 0));
    }
}

static void test_psk_and_srp_suites_need_psk(void) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n; i++) {
        int psk = strstr(t[i].iana, "PSK") != NULL ||
                  strncmp(t[i].iana, "TLS_SRP_", 8) == 0;
        CHECK(psk == ((t[i].flags & MPSSL_SUITE_NEEDS_PSK) != 0));
    }
    CHECK(!mpssl_suite_allowed(0x00A8)); /* TLS_PSK_WITH_AES_128_GCM_SHA256 */
    CHECK(!mpssl_suite_allowed(0xCCAC)); /* ECDHE_PSK with ChaCha20 */
    const mpssl_suite_info *row = mpssl_suite_find(0x00A8);
    CHECK(row && (row->flags & MPSSL_SUITE_NEEDS_PSK));
}

static void test_allowed_rejects_unknown_ids(void) {
    CHECK(!mpssl_suite_allowed(0x0000));
    CHECK(!mpssl_suite_allowed(0x5600));
    CHECK(!mpssl_suite_allowed(0xFFFF));
    CHECK(mpssl_suite_allowed(0xC02B));
    CHECK(mpssl_suite_allowed(0x1304));
}

/* Every id in the table, so the full default list comes out. */
static size_t all_ids(uint16_t *ids, size_t cap) {
    size_t n = 0;
    const mpssl_suite_info *t = mpssl_suite_table(&n);
    for (size_t i = 0; i < n && i < cap; i++) {
        ids[i] = t[i].id;
    }
    return n < cap ? n : cap;
}

static void test_defaults_start_with_tls13_then_ecdhe_aead(void) {
    static const uint16_t head[] = {0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C,
                                    0xCCA9, 0xC02F, 0xC030, 0xCCA8};
    uint16_t all[512], out[64];
    size_t n_all = all_ids(all, COUNT(all));
    size_t n = mpssl_suite_defaults(all, n_all, out, COUNT(out));
    CHECK(n >= COUNT(head));
    for (size_t i = 0; i < COUNT(head) && i < n; i++) {
        CHECK_EQ_INT(out[i], head[i]);
    }
}

static void test_defaults_never_include_forbidden_psk_or_plain_rsa(void) {
    uint16_t all[512], out[64];
    size_t n_all = all_ids(all, COUNT(all));
    size_t n = mpssl_suite_defaults(all, n_all, out, COUNT(out));
    for (size_t i = 0; i < n; i++) {
        const mpssl_suite_info *row = mpssl_suite_find(out[i]);
        CHECK(row != NULL);
        CHECK(mpssl_suite_allowed(out[i]));
        CHECK(row && (row->flags & MPSSL_SUITE_PFS));
        for (size_t j = 0; j < i; j++) {
            CHECK(out[j] != out[i]);
        }
    }
}

static void test_defaults_keep_order_and_drop_unsupported(void) {
    /* A BearSSL-like backend: no TLS 1.3, no DHE, given in a scrambled
     * order plus some suites that are never default. */
    static const uint16_t supported[] = {0xC030, 0x000A, 0xCCA8, 0x009C,
                                         0xC02B, 0xC013, 0xC02F, 0x1234};
    static const uint16_t want[] = {0xC02B, 0xC02F, 0xC030, 0xCCA8, 0xC013};
    uint16_t out[16];
    size_t n =
        mpssl_suite_defaults(supported, COUNT(supported), out, COUNT(out));
    CHECK_EQ_INT(n, COUNT(want));
    for (size_t i = 0; i < n && i < COUNT(want); i++) {
        CHECK_EQ_INT(out[i], want[i]);
    }
}

static void test_defaults_respect_cap(void) {
    uint16_t all[512], out[8] = {0};
    size_t n_all = all_ids(all, COUNT(all));
    CHECK_EQ_INT(mpssl_suite_defaults(all, n_all, out, 2), 2);
    CHECK_EQ_INT(out[0], 0x1301);
    CHECK_EQ_INT(out[1], 0x1302);
    CHECK_EQ_INT(out[2], 0); /* nothing written past the cap */
    CHECK_EQ_INT(mpssl_suite_defaults(all, n_all, out, 0), 0);
}

static void test_defaults_with_nothing_supported_are_empty(void) {
    static const uint16_t weak_only[] = {0x000A, 0x0005, 0x00A8};
    uint16_t out[8];
    CHECK_EQ_INT(mpssl_suite_defaults(NULL, 0, out, COUNT(out)), 0);
    CHECK_EQ_INT(
        mpssl_suite_defaults(weak_only, COUNT(weak_only), out, COUNT(out)), 0);
}

int main(void) {
    RUN(test_table_is_sorted_with_unique_ids);
    RUN(test_every_row_has_a_plausible_iana_name);
    RUN(test_every_name_round_trips_through_its_id);
    RUN(test_every_mechanical_and_explicit_alias_finds_its_row);
    RUN(test_unknown_ids_have_no_name);
    RUN(test_cross_library_suites_have_their_iana_names);
    RUN(test_certificate_type_flags_follow_the_suite);
    RUN(test_lookup_accepts_mbedtls_dashed_spelling);
    RUN(test_lookup_accepts_mbedtls3_tls13_spelling);
    RUN(test_tls13_prefix_applies_only_to_tls13_suites);
    RUN(test_lookup_accepts_explicit_mbedtls_alias);
    RUN(test_lookup_ignores_case);
    RUN(test_lookup_does_not_need_nul_termination);
    RUN(test_lookup_rejects_unknown_and_malformed_names);
    RUN(test_weak_suites_are_forbidden);
    RUN(test_forbidden_flag_matches_weak_name_parts);
    RUN(test_psk_and_srp_suites_need_psk);
    RUN(test_allowed_rejects_unknown_ids);
    RUN(test_defaults_start_with_tls13_then_ecdhe_aead);
    RUN(test_defaults_never_include_forbidden_psk_or_plain_rsa);
    RUN(test_defaults_keep_order_and_drop_unsupported);
    RUN(test_defaults_respect_cap);
    RUN(test_defaults_with_nothing_supported_are_empty);
    return DONE();
}
