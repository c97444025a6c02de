/*
 * pem.c - PEM/DER sniffing and splitting for certificates and private keys.
 *
 * PEM is read the forgiving way users expect (CRLF, text around blocks,
 * whitespace inside the body, RFC 1421 headers, a trailing NUL from C
 * strings) but base64 itself is decoded strictly: an invalid character or
 * misplaced padding is an error, not something to skip.
 */
#include "pem.h"

#include "der.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Text scanning                                                            */
/* ------------------------------------------------------------------------ */

static const char begin_marker[] = "-----BEGIN ";
static const char end_marker[] = "-----END ";
static const char dashes[] = "-----";

#define LIT_LEN(s) (sizeof(s) - 1)

/* The first offset >= from where needle occurs, or len. */
static size_t find(const uint8_t *data, size_t len, size_t from,
                   const char *needle, size_t n) {
    for (size_t i = from; i < len && len - i >= n; i++) {
        if (memcmp(data + i, needle, n) == 0) {
            return i;
        }
    }
    return len;
}

static int starts_with(const uint8_t *data, size_t len, size_t at,
                       const char *prefix, size_t n) {
    return at <= len && len - at >= n && memcmp(data + at, prefix, n) == 0;
}

/* The offset just past the line containing `at` (past its '\n'), or len. */
static size_t next_line(const uint8_t *data, size_t len, size_t at) {
    while (at < len && data[at] != '\n') {
        at++;
    }
    return at < len ? at + 1 : len;
}

/* The end of the line's text, excluding any '\r' before the '\n'. */
static size_t line_text_end(const uint8_t *data, size_t len, size_t at) {
    size_t end = at;
    while (end < len && data[end] != '\n') {
        end++;
    }
    while (end > at && (data[end - 1] == '\r' || data[end - 1] == ' ' ||
                        data[end - 1] == '\t')) {
        end--;
    }
    return end;
}

int mpssl_looks_like_pem(const uint8_t *data, size_t len) {
    if (!data) {
        return 0;
    }
    return find(data, len, 0, begin_marker, LIT_LEN(begin_marker)) < len;
}

/* ------------------------------------------------------------------------ */
/* Base64                                                                   */
/* ------------------------------------------------------------------------ */

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Decodes the base64 text in data[from, to), skipping whitespace.  Checks
 * everything first and only then allocates.  0 and *out / *out_len,
 * MPSSL_EINVALID_CERT (invalid character, bad padding, empty), -ENOMEM.
 */
static int b64_decode(const uint8_t *data, size_t from, size_t to,
                      uint8_t **out, size_t *out_len) {
    size_t symbols = 0, pad = 0;
    for (size_t i = from; i < to; i++) {
        uint8_t c = data[i];
        if (is_space(c)) {
            continue;
        }
        if (c == '=') {
            pad++;
        } else if (pad > 0 || b64_value(c) < 0) {
            return MPSSL_EINVALID_CERT; /* data after padding, or junk */
        }
        symbols++;
    }
    if (symbols == 0 || symbols % 4 != 0 || pad > 2) {
        return MPSSL_EINVALID_CERT;
    }
    size_t n = symbols / 4 * 3 - pad;
    if (n == 0) {
        return MPSSL_EINVALID_CERT;
    }
    uint8_t *buf = mpssl_alloc(n);
    if (!buf) {
        return -ENOMEM;
    }
    uint32_t acc = 0;
    size_t k = 0, w = 0;
    for (size_t i = from; i < to; i++) {
        uint8_t c = data[i];
        if (is_space(c)) {
            continue;
        }
        acc = (acc << 6) | (uint32_t)(c == '=' ? 0 : b64_value(c));
        if (++k % 4 == 0) {
            uint8_t group[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8),
                                (uint8_t)acc};
            for (int j = 0; j < 3 && w < n; j++) {
                buf[w++] = group[j];
            }
            acc = 0;
        }
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* PEM blocks                                                               */
/* ------------------------------------------------------------------------ */

#define MAX_LABEL 64

static int label_is(const uint8_t *label, size_t n, const char *want) {
    return n == strlen(want) && memcmp(label, want, n) == 0;
}

static mpssl_pem_kind kind_of(const uint8_t *label, size_t n, int encrypted) {
    if (label_is(label, n, "CERTIFICATE") ||
        label_is(label, n, "X509 CERTIFICATE")) {
        return MPSSL_PEM_CERTIFICATE;
    }
    if (label_is(label, n, "ENCRYPTED PRIVATE KEY")) {
        return MPSSL_PEM_ENCRYPTED_KEY;
    }
    mpssl_pem_kind key =
        label_is(label, n, "RSA PRIVATE KEY")  ? MPSSL_PEM_RSA_KEY
        : label_is(label, n, "EC PRIVATE KEY") ? MPSSL_PEM_EC_KEY
        : label_is(label, n, "PRIVATE KEY")    ? MPSSL_PEM_PKCS8_KEY
                                               : MPSSL_PEM_OTHER;
    if (key != MPSSL_PEM_OTHER && encrypted) {
        return MPSSL_PEM_ENCRYPTED_KEY;
    }
    return key;
}

/* The BEGIN line's label, starting at `at` (just after "-----BEGIN "):
 * printable text up to "-----", then nothing but blanks to the line end.
 * 0 and *label_len / *body (start of the next line), else -1. */
static int read_begin_line(const uint8_t *data, size_t len, size_t at,
                           size_t *label_len, size_t *body) {
    size_t n = 0;
    while (at + n < len && n <= MAX_LABEL && data[at + n] != '-') {
        if (data[at + n] < 0x20 || data[at + n] > 0x7e) {
            return -1;
        }
        n++;
    }
    if (n == 0 || n > MAX_LABEL ||
        !starts_with(data, len, at + n, dashes, LIT_LEN(dashes))) {
        return -1;
    }
    size_t rest = at + n + LIT_LEN(dashes);
    if (line_text_end(data, len, rest) != rest) {
        return -1;
    }
    *label_len = n;
    *body = next_line(data, len, rest);
    return 0;
}

static int line_has(const uint8_t *data, size_t from, size_t to,
                    const char *needle) {
    return find(data, to, from, needle, strlen(needle)) < to;
}

/*
 * Skips RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: ...") if the
 * block has them: they run up to the first blank line.  Sets *encrypted
 * when Proc-Type says so.  *at moves to the first body line.
 */
static int skip_headers(const uint8_t *data, size_t len, size_t *at,
                        int *encrypted) {
    size_t p = *at;
    size_t end = line_text_end(data, len, p);
    *encrypted = 0;
    if (!line_has(data, p, end, ":")) {
        return 0;
    }
    while (p < len) {
        end = line_text_end(data, len, p);
        if (end == p) {
            *at = next_line(data, len, p);
            return 0;
        }
        if (starts_with(data, end, p, end_marker, LIT_LEN(end_marker))) {
            return -1; /* headers with no body */
        }
        if (starts_with(data, end, p, "Proc-Type:", 10) &&
            line_has(data, p, end, "ENCRYPTED")) {
            *encrypted = 1;
        }
        p = next_line(data, len, p);
    }
    return -1;
}

int mpssl_pem_next(const uint8_t *data, size_t len, size_t *pos,
                   mpssl_pem_block *out) {
    if (!data || *pos >= len) {
        return 0;
    }
    size_t begin = find(data, len, *pos, begin_marker, LIT_LEN(begin_marker));
    if (begin >= len) {
        *pos = len;
        return 0;
    }
    size_t label = begin + LIT_LEN(begin_marker), label_len, body;
    int encrypted;
    if (read_begin_line(data, len, label, &label_len, &body) != 0 ||
        skip_headers(data, len, &body, &encrypted) != 0) {
        return MPSSL_EINVALID_CERT;
    }
    size_t end = find(data, len, body, end_marker, LIT_LEN(end_marker));
    size_t end_label = end + LIT_LEN(end_marker);
    if (end >= len ||
        !starts_with(data, len, end_label, (const char *)data + label,
                     label_len) ||
        !starts_with(data, len, end_label + label_len, dashes,
                     LIT_LEN(dashes))) {
        return MPSSL_EINVALID_CERT;
    }
    uint8_t *der;
    size_t der_len;
    int r = b64_decode(data, body, end, &der, &der_len);
    if (r != 0) {
        return r;
    }
    out->kind = kind_of(data + label, label_len, encrypted);
    out->der = der;
    out->der_len = der_len;
    *pos = next_line(data, len, end_label + label_len + LIT_LEN(dashes));
    return 1;
}

/* ------------------------------------------------------------------------ */
/* DER                                                                      */
/* ------------------------------------------------------------------------ */

int mpssl_der_next(const uint8_t *data, size_t len, size_t *pos,
                   mpssl_blob *out) {
    if (!data || *pos >= len) {
        return 0;
    }
    mpssl_der_cursor cur;
    mpssl_der_tlv tlv;
    mpssl_der_init(&cur, data, len);
    cur.pos = *pos;
    if (mpssl_der_expect(&cur, MPSSL_DER_SEQUENCE, &tlv) != 0) {
        return MPSSL_EINVALID_CERT;
    }
    out->data = tlv.raw;
    out->len = tlv.raw_len;
    *pos = cur.pos;
    return 1;
}

/* Skips every remaining element, checking only that each is well formed. */
static int skip_rest(mpssl_der_cursor *cur) {
    mpssl_der_tlv tlv;
    while (!mpssl_der_done(cur)) {
        if (mpssl_der_read(cur, &tlv) != 0) {
            return -1;
        }
    }
    return 0;
}

/* RSAPrivateKey: version, then n e d p q dp dq qinv (all INTEGERs), then
 * otherPrimeInfos for multi-prime keys (version 1). */
static int check_pkcs1(mpssl_der_cursor *cur) {
    mpssl_der_tlv tlv;
    for (int i = 0; i < 8; i++) {
        if (mpssl_der_expect(cur, MPSSL_DER_INTEGER, &tlv) != 0) {
            return -1;
        }
    }
    return skip_rest(cur);
}

/* PrivateKeyInfo / OneAsymmetricKey after the version: AlgorithmIdentifier
 * (starting with an OID), privateKey OCTET STRING, optional [0] attributes
 * and [1] publicKey. */
static int check_pkcs8(mpssl_der_cursor *cur) {
    mpssl_der_tlv alg, oid, key;
    mpssl_der_cursor alg_cur;
    if (mpssl_der_expect(cur, MPSSL_DER_SEQUENCE, &alg) != 0 ||
        mpssl_der_expect(cur, MPSSL_DER_OCTET_STRING, &key) != 0) {
        return -1;
    }
    mpssl_der_enter(&alg_cur, &alg);
    if (mpssl_der_expect(&alg_cur, MPSSL_DER_OID, &oid) != 0) {
        return -1;
    }
    return skip_rest(cur);
}

int mpssl_der_key_type(const uint8_t *der, size_t len, mpssl_key_type *type) {
    mpssl_der_cursor outer, cur;
    mpssl_der_tlv seq, first;
    mpssl_der_init(&outer, der, len);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&outer)) {
        return MPSSL_EINVALID_KEY;
    }
    mpssl_der_enter(&cur, &seq);
    if (mpssl_der_read(&cur, &first) != 0) {
        return MPSSL_EINVALID_KEY;
    }
    if (first.tag == MPSSL_DER_SEQUENCE) {
        /* EncryptedPrivateKeyInfo: encryptionAlgorithm, encryptedData. */
        mpssl_der_tlv data;
        if (mpssl_der_expect(&cur, MPSSL_DER_OCTET_STRING, &data) == 0 &&
            mpssl_der_done(&cur)) {
            return MPSSL_EENCRYPTED_KEY;
        }
        return MPSSL_EINVALID_KEY;
    }
    uint32_t version;
    if (mpssl_der_small_uint(&first, &version) != 0 || version > 1) {
        return MPSSL_EINVALID_KEY;
    }
    /* The element after the version tells the three formats apart; version
     * 1 is multi-prime RSA, SEC1, or PKCS#8 v2 (RFC 5958). */
    int next = mpssl_der_peek(&cur);
    if (next == MPSSL_DER_INTEGER && check_pkcs1(&cur) == 0) {
        *type = MPSSL_KEY_RSA;
        return 0;
    }
    if (next == MPSSL_DER_OCTET_STRING && version == 1 &&
        skip_rest(&cur) == 0) {
        *type = MPSSL_KEY_EC;
        return 0;
    }
    if (next == MPSSL_DER_SEQUENCE && check_pkcs8(&cur) == 0) {
        *type = MPSSL_KEY_PKCS8;
        return 0;
    }
    return MPSSL_EINVALID_KEY;
}

/* ------------------------------------------------------------------------ */
/* Certificate lists                                                        */
/* ------------------------------------------------------------------------ */

void mpssl_der_list_free(mpssl_der_list *list) {
    if (!list) {
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        mpssl_free((void *)list->items[i].data);
    }
    mpssl_free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* Appends an owned DER buffer; on failure the buffer is freed too. */
static int list_push(mpssl_der_list *list, uint8_t *der, size_t len) {
    mpssl_blob *items =
        mpssl_realloc(list->items, (list->n + 1) * sizeof *items);
    if (!items) {
        mpssl_free(der);
        return -ENOMEM;
    }
    list->items = items;
    list->items[list->n].data = der;
    list->items[list->n].len = len;
    list->n++;
    return 0;
}

/* Takes ownership of der: kept in the list, or freed. */
static int push_cert(mpssl_der_list *list, uint8_t *der, size_t len) {
    mpssl_x509 x;
    if (mpssl_x509_parse(der, len, &x) != 0) {
        mpssl_free(der);
        return MPSSL_EINVALID_CERT;
    }
    return list_push(list, der, len);
}

static void free_block(mpssl_pem_block *block) {
    /* Blocks other than certificates may hold key material. */
    if (block->kind == MPSSL_PEM_CERTIFICATE) {
        mpssl_free(block->der);
    } else {
        mpssl_free_secret(block->der, block->der_len);
    }
    block->der = NULL;
}

static int certs_from_pem(const uint8_t *data, size_t len,
                          mpssl_der_list *list) {
    size_t pos = 0;
    mpssl_pem_block block;
    int r;
    while ((r = mpssl_pem_next(data, len, &pos, &block)) == 1) {
        if (block.kind != MPSSL_PEM_CERTIFICATE) {
            free_block(&block);
            continue;
        }
        r = push_cert(list, block.der, block.der_len);
        if (r != 0) {
            return r;
        }
    }
    return r;
}

static int certs_from_der(const uint8_t *data, size_t len,
                          mpssl_der_list *list) {
    size_t pos = 0;
    mpssl_blob elem;
    int r;
    while ((r = mpssl_der_next(data, len, &pos, &elem)) == 1) {
        uint8_t *copy = mpssl_alloc(elem.len);
        if (!copy) {
            return -ENOMEM;
        }
        memcpy(copy, elem.data, elem.len);
        r = push_cert(list, copy, elem.len);
        if (r != 0) {
            return r;
        }
    }
    return r;
}

int mpssl_load_certs(const uint8_t *data, size_t len, mpssl_der_list *out) {
    mpssl_der_list list = {NULL, 0};
    int r;
    if (!data || len == 0) {
        return MPSSL_EINVALID_CERT;
    }
    if (mpssl_looks_like_pem(data, len)) {
        r = certs_from_pem(data, len, &list);
    } else {
        r = certs_from_der(data, len, &list);
    }
    if (r == 0 && list.n == 0) {
        r = MPSSL_EINVALID_CERT;
    }
    if (r != 0) {
        mpssl_der_list_free(&list);
        return r == -ENOMEM ? r : MPSSL_EINVALID_CERT;
    }
    *out = list;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Private keys                                                             */
/* ------------------------------------------------------------------------ */

static int is_key_kind(mpssl_pem_kind kind) {
    return kind == MPSSL_PEM_RSA_KEY || kind == MPSSL_PEM_EC_KEY ||
           kind == MPSSL_PEM_PKCS8_KEY || kind == MPSSL_PEM_ENCRYPTED_KEY;
}

static mpssl_key_type key_type_of_kind(mpssl_pem_kind kind) {
    return kind == MPSSL_PEM_RSA_KEY  ? MPSSL_KEY_RSA
           : kind == MPSSL_PEM_EC_KEY ? MPSSL_KEY_EC
                                      : MPSSL_KEY_PKCS8;
}

/* The first key block of PEM text: 0 and the block, or an error. */
static int first_key_block(const uint8_t *data, size_t len,
                           mpssl_pem_block *key) {
    size_t pos = 0;
    int r;
    while ((r = mpssl_pem_next(data, len, &pos, key)) == 1) {
        if (is_key_kind(key->kind)) {
            return 0;
        }
        free_block(key);
    }
    return r == -ENOMEM ? r : MPSSL_EINVALID_KEY;
}

static int key_from_pem(const uint8_t *data, size_t len, uint8_t **der,
                        size_t *der_len, mpssl_key_type *type) {
    mpssl_pem_block block;
    int r = first_key_block(data, len, &block);
    if (r != 0) {
        return r;
    }
    if (block.kind == MPSSL_PEM_ENCRYPTED_KEY) {
        free_block(&block);
        return MPSSL_EENCRYPTED_KEY;
    }
    r = mpssl_der_key_type(block.der, block.der_len, type);
    if (r == 0 && *type != key_type_of_kind(block.kind)) {
        r = MPSSL_EINVALID_KEY; /* the label lies about the content */
    }
    if (r != 0) {
        free_block(&block);
        return r;
    }
    *der = block.der;
    *der_len = block.der_len;
    return 0;
}

static int key_from_der(const uint8_t *data, size_t len, uint8_t **der,
                        size_t *der_len, mpssl_key_type *type) {
    int r = mpssl_der_key_type(data, len, type);
    if (r != 0) {
        return r;
    }
    uint8_t *copy = mpssl_alloc(len);
    if (!copy) {
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    *der = copy;
    *der_len = len;
    return 0;
}

int mpssl_load_key(const uint8_t *data, size_t len, uint8_t **der,
                   size_t *der_len, mpssl_key_type *type) {
    if (!data || len == 0) {
        return MPSSL_EINVALID_KEY;
    }
    if (mpssl_looks_like_pem(data, len)) {
        return key_from_pem(data, len, der, der_len, type);
    }
    return key_from_der(data, len, der, der_len, type);
}
