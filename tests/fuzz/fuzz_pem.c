/*
 * fuzz_pem.c - the certificate and key loaders: PEM splitter, DER walker,
 * X.509 reader, and the context functions load_cert_chain and
 * load_verify_locations end in.
 *
 * Input: two bytes (little-endian) choose where the body splits into a
 * "certificate file" and a "key file"; the body is everything after them.
 * The pure readers see the whole body; mpssl_ctx_load_cert_chain sees the
 * two parts, mpssl_ctx_load_verify_data the whole body.
 *
 * Invariants (abort on violation):
 *   - the PEM and DER iterators move forward, stay inside the input and
 *     return only their documented results;
 *   - every certificate mpssl_load_certs returns passes mpssl_x509_parse;
 *   - parsed fields point into the input; Name and SAN iteration ends;
 *   - a failed context load leaves the context unchanged.
 */
#include "hostname.h"
#include "mpssl.h"
#include "pem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ITER_LIMIT 4096 /* no input this small has more elements */

static void require(int condition) {
    if (!condition)
        abort();
}

static int blob_inside(const mpssl_blob *b, const uint8_t *data, size_t len) {
    if (b->len == 0)
        return 1;
    return b->data >= data && b->data <= data + len &&
           b->len <= (size_t)(data + len - b->data);
}

static void walk_pem(const uint8_t *data, size_t len) {
    size_t pos = 0;

    (void)mpssl_looks_like_pem(data, len);
    for (int i = 0; i < ITER_LIMIT; i++) {
        mpssl_pem_block block = {0};
        size_t before = pos;
        int r = mpssl_pem_next(data, len, &pos, &block);
        if (r != 1) {
            require(r == 0 || r == MPSSL_EINVALID_CERT || r == -ENOMEM);
            return;
        }
        require(pos > before && pos <= len);
        require(block.der != NULL && block.der_len > 0);
        require(block.kind >= MPSSL_PEM_CERTIFICATE &&
                block.kind <= MPSSL_PEM_OTHER);
        mpssl_free(block.der);
    }
}

static void walk_der(const uint8_t *data, size_t len) {
    size_t pos = 0;
    mpssl_key_type type;

    for (int i = 0; i < ITER_LIMIT; i++) {
        mpssl_blob element;
        size_t before = pos;
        int r = mpssl_der_next(data, len, &pos, &element);
        if (r != 1) {
            require(r == 0 || r == MPSSL_EINVALID_CERT);
            break;
        }
        require(pos > before && pos <= len);
        require(element.data == data + before && element.len == pos - before);
    }
    int r = mpssl_der_key_type(data, len, &type);
    require(r == 0 || r == MPSSL_EENCRYPTED_KEY || r == MPSSL_EINVALID_KEY);
    if (r == 0)
        require(type >= MPSSL_KEY_RSA && type <= MPSSL_KEY_PKCS8);
}

static void walk_name(const mpssl_blob *name, const uint8_t *data, size_t len) {
    size_t pos = 0;

    for (int i = 0; i < ITER_LIMIT; i++) {
        mpssl_x509_attr attr;
        int r = mpssl_x509_name_next(name, &pos, &attr);
        if (r != 1) {
            require(r == 0 || r == MPSSL_EINVALID_CERT);
            return;
        }
        require(attr.attr != NULL);
        require(memchr(attr.oid_buf, '\0', sizeof attr.oid_buf) != NULL);
        require(blob_inside(&attr.value, data, len));
    }
}

static void walk_san(const mpssl_blob *san, const uint8_t *data, size_t len) {
    size_t pos = 0;

    for (int i = 0; i < ITER_LIMIT; i++) {
        mpssl_x509_san entry;
        int r = mpssl_x509_san_next(san, &pos, &entry);
        if (r != 1) {
            require(r == 0 || r == MPSSL_EINVALID_CERT);
            return;
        }
        require(blob_inside(&entry.value, data, len));
        if (entry.type == MPSSL_SAN_IP)
            require(entry.value.len == 4 || entry.value.len == 16);
    }
}

/* The reader on one DER certificate; returns the parse result. */
static int read_x509(const uint8_t *der, size_t len) {
    mpssl_x509 cert;
    int r = mpssl_x509_parse(der, len, &cert);

    require(r == 0 || r == MPSSL_EINVALID_CERT);
    if (r != 0)
        return r;
    require(cert.version >= 1 && cert.version <= 3);
    require(blob_inside(&cert.serial, der, len));
    require(blob_inside(&cert.issuer, der, len));
    require(blob_inside(&cert.subject, der, len));
    require(blob_inside(&cert.san, der, len));
    require(blob_inside(&cert.spki, der, len));
    require(blob_inside(&cert.tbs, der, len));
    require(blob_inside(&cert.sig_alg_oid, der, len));
    require(cert.not_before.month >= 1 && cert.not_before.month <= 12);
    require(cert.not_after.month >= 1 && cert.not_after.month <= 12);
    walk_name(&cert.issuer, der, len);
    walk_name(&cert.subject, der, len);
    walk_san(&cert.san, der, len);
    (void)mpssl_cert_matches_host(&cert, "localhost");
    (void)mpssl_cert_matches_host(&cert, "127.0.0.1");
    return 0;
}

static void load_certs(const uint8_t *data, size_t len) {
    mpssl_der_list list = {0};
    int r = mpssl_load_certs(data, len, &list);

    require(r == 0 || r == MPSSL_EINVALID_CERT || r == -ENOMEM);
    if (r != 0) {
        require(list.n == 0);
        return;
    }
    require(list.n >= 1);
    for (size_t i = 0; i < list.n; i++)
        require(read_x509(list.items[i].data, list.items[i].len) == 0);
    mpssl_der_list_free(&list);
}

static void load_key(const uint8_t *data, size_t len) {
    uint8_t *der = NULL;
    size_t der_len = 0;
    mpssl_key_type type;
    int r = mpssl_load_key(data, len, &der, &der_len, &type);

    require(r == 0 || r == MPSSL_EENCRYPTED_KEY || r == MPSSL_EINVALID_KEY ||
            r == -ENOMEM);
    if (r == 0) {
        require(der != NULL && der_len > 0);
        require(type >= MPSSL_KEY_RSA && type <= MPSSL_KEY_PKCS8);
        mpssl_free_secret(der, der_len);
    }
}

/* The context paths; suite list and CA count show whether state changed. */
static void load_into_contexts(const uint8_t *cert, size_t cert_len,
                               const uint8_t *key, size_t key_len,
                               const uint8_t *all, size_t all_len) {
    mpssl_ctx *server = NULL, *client = NULL;
    int r;

    require(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_SERVER, &server) == 0);
    r = mpssl_ctx_load_cert_chain(server, cert, cert_len, key, key_len);
    require(r == 0 || r == MPSSL_EINVALID_CERT || r == MPSSL_EINVALID_KEY ||
            r == MPSSL_EENCRYPTED_KEY || r == MPSSL_EKEY_MISMATCH ||
            r == -ENOMEM);
    mpssl_ctx_unref(server);

    require(mpssl_ctx_new(MPSSL_PROTOCOL_TLS_CLIENT, &client) == 0);
    r = mpssl_ctx_load_verify_data(client, all, all_len);
    require(r == 0 || r == MPSSL_EINVALID_CERT || r == -ENOMEM);
    require((r == 0) == (mpssl_ctx_ca_count(client) > 0));
    mpssl_ctx_unref(client);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (mpssl_init() != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *body;
    size_t body_len, split;

    if (size < 2)
        return 0;
    body = data + 2;
    body_len = size - 2;
    split = (size_t)(data[0] | data[1] << 8);
    if (split > body_len)
        split = body_len;

    walk_pem(body, body_len);
    walk_der(body, body_len);
    (void)read_x509(body, body_len);
    load_certs(body, body_len);
    load_key(body, body_len);
    load_into_contexts(body, split, body + split, body_len - split, body,
                       body_len);
    return 0;
}
