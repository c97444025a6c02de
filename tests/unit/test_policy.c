/*
 * test_policy.c - the certificate policy the core applies on top of every
 * library (core/x509.c): weak signatures and keys (mpssl_x509_weak), the
 * pathLenConstraint reader, and the structure of a presented chain
 * (mpssl_chain_flags).  The vectors are made at build time by
 * make_certs.sh (policy_*.der); the directory is the only argument.
 */
#include "backend.h" /* mpssl_chain_flags, MPSSL_VF_* */
#include "check.h"
#include "mpssl.h"
#include "testfiles.h"

#include <stdlib.h>
#include <string.h>

enum {
    CA,
    SHA1,
    RSA1024,
    RSA2048,
    NOTCA,
    NOTCA_LEAF,
    INT0,
    INT0_LEAF,
    INT1,
    DEEP_LEAF,
    N_VECTORS
};

static const char *const vector_names[N_VECTORS] = {
    "policy_ca.der",        "policy_sha1.der",      "policy_rsa1024.der",
    "policy_rsa2048.der",   "policy_notca.der",     "policy_notca_leaf.der",
    "policy_int0.der",      "policy_int0_leaf.der", "policy_int1.der",
    "policy_deep_leaf.der",
};

static file_data vectors[N_VECTORS];

static mpssl_blob blob(int which) {
    mpssl_blob b = {vectors[which].data, vectors[which].len};
    return b;
}

static int weak(int which) {
    mpssl_x509 x;
    if (mpssl_x509_parse(vectors[which].data, vectors[which].len, &x) != 0) {
        return -1;
    }
    return mpssl_x509_weak(&x);
}

static int path_len(int which) {
    mpssl_x509 x;
    if (mpssl_x509_parse(vectors[which].data, vectors[which].len, &x) != 0) {
        return -2;
    }
    return x.path_len;
}

static void test_sha1_signature_is_weak(void) {
    CHECK_EQ_INT(weak(SHA1), 1);
}

static void test_rsa_1024_key_is_weak(void) {
    CHECK_EQ_INT(weak(RSA1024), 1);
}

static void test_rsa_2048_and_p256_with_sha256_are_not_weak(void) {
    CHECK_EQ_INT(weak(RSA2048), 0);
    CHECK_EQ_INT(weak(INT0_LEAF), 0);
    CHECK_EQ_INT(weak(CA), 0);
}

static void test_path_length_is_read_or_minus_one(void) {
    CHECK_EQ_INT(path_len(INT0), 0);
    CHECK_EQ_INT(path_len(CA), -1);
    CHECK_EQ_INT(path_len(INT0_LEAF), -1);
}

static void test_legal_chain_has_no_flags(void) {
    mpssl_blob chain[] = {blob(INT0_LEAF), blob(INT0), blob(CA)};
    CHECK_EQ_INT(mpssl_chain_flags(chain, 3), 0);
    CHECK_EQ_INT(mpssl_chain_flags(chain, 2), 0); /* root left out */
    CHECK_EQ_INT(mpssl_chain_flags(chain, 1), 0); /* issuer not sent */
}

static void test_issuer_without_ca_flag_is_invalid(void) {
    mpssl_blob chain[] = {blob(NOTCA_LEAF), blob(NOTCA)};
    CHECK_EQ_INT(mpssl_chain_flags(chain, 2), MPSSL_VF_OTHER);
}

static void test_exceeded_path_length_is_invalid(void) {
    mpssl_blob chain[] = {blob(DEEP_LEAF), blob(INT1), blob(INT0), blob(CA)};
    CHECK_EQ_INT(mpssl_chain_flags(chain, 4), MPSSL_VF_OTHER);
    CHECK_EQ_INT(mpssl_chain_flags(chain, 3), MPSSL_VF_OTHER);
    /* Without int0 the constraint is not in sight: the library decides. */
    CHECK_EQ_INT(mpssl_chain_flags(chain, 2), 0);
}

static void test_issuers_are_found_in_any_order(void) {
    mpssl_blob chain[] = {blob(DEEP_LEAF), blob(CA), blob(INT0), blob(INT1)};
    CHECK_EQ_INT(mpssl_chain_flags(chain, 4), MPSSL_VF_OTHER);
    mpssl_blob legal[] = {blob(INT0_LEAF), blob(CA), blob(INT0)};
    CHECK_EQ_INT(mpssl_chain_flags(legal, 3), 0);
}

static void test_garbage_and_empty_chains_have_no_flags(void) {
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    mpssl_blob bad = {junk, sizeof junk};
    mpssl_blob chain[] = {blob(NOTCA_LEAF), bad, blob(NOTCA)};
    CHECK_EQ_INT(mpssl_chain_flags(NULL, 0), 0);
    mpssl_blob only_bad[] = {bad, blob(NOTCA)};
    CHECK_EQ_INT(mpssl_chain_flags(only_bad, 2), 0);
    /* A garbage entry in between is skipped over. */
    CHECK_EQ_INT(mpssl_chain_flags(chain, 3), MPSSL_VF_OTHER);
}

static void test_self_issued_leaf_ends_the_walk(void) {
    mpssl_blob chain[] = {blob(CA), blob(NOTCA)};
    CHECK_EQ_INT(mpssl_chain_flags(chain, 2), 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < N_VECTORS; i++) {
        vectors[i] = read_test_file(argv[1], vector_names[i]);
        if (vectors[i].data == NULL) {
            return 1;
        }
    }
    RUN(test_sha1_signature_is_weak);
    RUN(test_rsa_1024_key_is_weak);
    RUN(test_rsa_2048_and_p256_with_sha256_are_not_weak);
    RUN(test_path_length_is_read_or_minus_one);
    RUN(test_legal_chain_has_no_flags);
    RUN(test_issuer_without_ca_flag_is_invalid);
    RUN(test_exceeded_path_length_is_invalid);
    RUN(test_issuers_are_found_in_any_order);
    RUN(test_garbage_and_empty_chains_have_no_flags);
    RUN(test_self_issued_leaf_ends_the_walk);
    for (int i = 0; i < N_VECTORS; i++) {
        free(vectors[i].data);
    }
    return DONE();
}
