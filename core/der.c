/*
 * der.c - the strict DER TLV reader shared by the X.509 and PEM/key code.
 */
#include "der.h"

void mpssl_der_init(mpssl_der_cursor *cur, const uint8_t *data, size_t len) {
    cur->data = data;
    cur->len = data ? len : 0;
    cur->pos = 0;
}

void mpssl_der_enter(mpssl_der_cursor *inner, const mpssl_der_tlv *tlv) {
    mpssl_der_init(inner, tlv->content, tlv->len);
}

int mpssl_der_done(const mpssl_der_cursor *cur) {
    return cur->pos >= cur->len;
}

int mpssl_der_peek(const mpssl_der_cursor *cur) {
    return mpssl_der_done(cur) ? -1 : cur->data[cur->pos];
}

/* Decodes the length octets at p[0..avail): the value and how many octets
 * it took, or -1.  DER demands the definite, shortest form; 4 octets cover
 * every size an embedded target can hold. */
static int read_length(const uint8_t *p, size_t avail, size_t *value,
                       size_t *used) {
    if (avail < 1) {
        return -1;
    }
    if (p[0] < 0x80) {
        *value = p[0];
        *used = 1;
        return 0;
    }
    size_t n = p[0] & 0x7fu;
    if (n == 0 || n > 4 || n > avail - 1) {
        return -1; /* indefinite, too large, or truncated */
    }
    if (p[1] == 0) {
        return -1; /* leading zero octet: not minimal */
    }
    size_t v = 0;
    for (size_t i = 1; i <= n; i++) {
        v = (v << 8) | p[i];
    }
    if (v < 0x80) {
        return -1; /* would have fitted the short form */
    }
    *value = v;
    *used = 1 + n;
    return 0;
}

int mpssl_der_read(mpssl_der_cursor *cur, mpssl_der_tlv *out) {
    if (mpssl_der_done(cur)) {
        return -1;
    }
    const uint8_t *p = cur->data + cur->pos;
    size_t avail = cur->len - cur->pos;
    if ((p[0] & 0x1fu) == 0x1fu) {
        return -1; /* multi-byte tag numbers appear in nothing we read */
    }
    size_t len, used;
    if (read_length(p + 1, avail - 1, &len, &used) != 0) {
        return -1;
    }
    size_t header = 1 + used;
    if (len > avail - header) {
        return -1;
    }
    out->tag = p[0];
    out->raw = p;
    out->raw_len = header + len;
    out->content = p + header;
    out->len = len;
    cur->pos += header + len;
    return 0;
}

int mpssl_der_expect(mpssl_der_cursor *cur, uint8_t tag, mpssl_der_tlv *out) {
    if (mpssl_der_peek(cur) != tag) {
        return -1;
    }
    return mpssl_der_read(cur, out);
}

int mpssl_der_small_uint(const mpssl_der_tlv *tlv, uint32_t *value) {
    if (tlv->tag != MPSSL_DER_INTEGER || tlv->len == 0 || tlv->len > 4) {
        return -1;
    }
    const uint8_t *c = tlv->content;
    if (c[0] & 0x80) {
        return -1; /* negative */
    }
    if (tlv->len > 1 && c[0] == 0 && !(c[1] & 0x80)) {
        return -1; /* redundant leading zero */
    }
    uint32_t v = 0;
    for (size_t i = 0; i < tlv->len; i++) {
        v = (v << 8) | c[i];
    }
    *value = v;
    return 0;
}
