/*
 * pem.h - PEM/DER detection and splitting for certificates and keys.
 *
 * Input is whatever the user handed load_cert_chain/load_verify_locations:
 * PEM text (one or many blocks, LF or CRLF, surrounding text ignored) or DER
 * (one element, or several concatenated certificates).  Output is DER owned
 * by the caller, allocated with mpssl_alloc.
 */
#ifndef MPSSL_PEM_H
#define MPSSL_PEM_H

#include "backend.h"

/* 1 when data holds a PEM "-----BEGIN " line (anywhere), else 0. */
int mpssl_looks_like_pem(const uint8_t *data, size_t len);

typedef enum mpssl_pem_kind {
    MPSSL_PEM_CERTIFICATE = 1, /* CERTIFICATE, X509 CERTIFICATE */
    MPSSL_PEM_RSA_KEY,         /* RSA PRIVATE KEY */
    MPSSL_PEM_EC_KEY,          /* EC PRIVATE KEY */
    MPSSL_PEM_PKCS8_KEY,       /* PRIVATE KEY */
    MPSSL_PEM_ENCRYPTED_KEY,   /* ENCRYPTED PRIVATE KEY, or any key block
                                  with "Proc-Type: 4,ENCRYPTED" */
    MPSSL_PEM_OTHER,           /* any other label (EC PARAMETERS, ...) */
} mpssl_pem_kind;

typedef struct mpssl_pem_block {
    mpssl_pem_kind kind;
    uint8_t *der; /* decoded body, mpssl_alloc'ed, caller frees */
    size_t der_len;
} mpssl_pem_block;

/*
 * Finds the next PEM block at or after *pos and decodes it.  Returns 1 and
 * *out (advancing *pos past the END line), 0 when no further BEGIN line
 * exists, MPSSL_EINVALID_CERT for a malformed block (no END line, END label
 * differs, bad base64, empty body), -ENOMEM.
 */
int mpssl_pem_next(const uint8_t *data, size_t len, size_t *pos,
                   mpssl_pem_block *out);

/*
 * The next DER element (a SEQUENCE with a definite length, tag and length
 * included) at *pos.  Returns 1 and *out (pointing into data), 0 at the end
 * of data, MPSSL_EINVALID_CERT when the bytes at *pos are not a complete
 * SEQUENCE.
 */
int mpssl_der_next(const uint8_t *data, size_t len, size_t *pos,
                   mpssl_blob *out);

/*
 * Classifies a DER private key: PKCS#1 RSAPrivateKey, SEC1 ECPrivateKey or
 * PKCS#8 PrivateKeyInfo.  0 and *type, MPSSL_EENCRYPTED_KEY for a PKCS#8
 * EncryptedPrivateKeyInfo, MPSSL_EINVALID_KEY otherwise.
 */
int mpssl_der_key_type(const uint8_t *der, size_t len, mpssl_key_type *type);

/* A list of owned DER blobs. */
typedef struct mpssl_der_list {
    mpssl_blob *items; /* items[i].data is mpssl_alloc'ed */
    size_t n;
} mpssl_der_list;
void mpssl_der_list_free(mpssl_der_list *list); /* frees and zeroes */

/*
 * Certificates from PEM (every CERTIFICATE block, in order; other blocks
 * such as keys are skipped) or DER (one or more concatenated certificates).
 * Every certificate must pass mpssl_x509_parse.  0 and *out with n >= 1,
 * MPSSL_EINVALID_CERT (nothing returned; also for data with no certificate
 * at all), -ENOMEM.
 */
int mpssl_load_certs(const uint8_t *data, size_t len, mpssl_der_list *out);

/*
 * One private key from PEM (the first key block; other blocks skipped) or
 * DER.  0 with *der (mpssl_alloc'ed; free with mpssl_free_secret(der, len))
 * and *type; MPSSL_EENCRYPTED_KEY; MPSSL_EINVALID_KEY; -ENOMEM.
 */
int mpssl_load_key(const uint8_t *data, size_t len, uint8_t **der,
                   size_t *der_len, mpssl_key_type *type);

#endif /* MPSSL_PEM_H */
