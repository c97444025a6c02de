/*
 * der.h - a strict, bounds-checked DER TLV reader (internal to the core).
 *
 * Shared by x509.c and pem.c.  Only what certificates and private keys need:
 * single-byte tags, definite lengths in minimal form, at most 4 length
 * bytes.  Every read checks the remaining input first, so any byte string
 * is safe to feed in.
 */
#ifndef MPSSL_DER_H
#define MPSSL_DER_H

#include <stddef.h>
#include <stdint.h>

#define MPSSL_DER_BOOLEAN 0x01
#define MPSSL_DER_INTEGER 0x02
#define MPSSL_DER_BIT_STRING 0x03
#define MPSSL_DER_OCTET_STRING 0x04
#define MPSSL_DER_NULL 0x05
#define MPSSL_DER_OID 0x06
#define MPSSL_DER_UTC_TIME 0x17
#define MPSSL_DER_GENERALIZED_TIME 0x18
#define MPSSL_DER_SEQUENCE 0x30
#define MPSSL_DER_SET 0x31
#define MPSSL_DER_CONSTRUCTED 0x20
#define MPSSL_DER_CONTEXT 0x80
#define MPSSL_DER_CLASS_MASK 0xc0

/* A position inside [data, data + len). */
typedef struct mpssl_der_cursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
} mpssl_der_cursor;

/* One element.  raw covers tag, length and content; content only the
 * content. */
typedef struct mpssl_der_tlv {
    uint8_t tag;
    const uint8_t *raw;
    size_t raw_len;
    const uint8_t *content;
    size_t len;
} mpssl_der_tlv;

void mpssl_der_init(mpssl_der_cursor *cur, const uint8_t *data, size_t len);

/* A cursor over the content of an element already read. */
void mpssl_der_enter(mpssl_der_cursor *inner, const mpssl_der_tlv *tlv);

/* 1 when the cursor has consumed all of its input. */
int mpssl_der_done(const mpssl_der_cursor *cur);

/* The tag of the next element, or -1 at the end. */
int mpssl_der_peek(const mpssl_der_cursor *cur);

/* Reads the next element and advances: 0, or -1 when the bytes are not a
 * complete, well-formed DER element (the cursor is then unchanged). */
int mpssl_der_read(mpssl_der_cursor *cur, mpssl_der_tlv *out);

/* Like mpssl_der_read, and the tag must be `tag`. */
int mpssl_der_expect(mpssl_der_cursor *cur, uint8_t tag, mpssl_der_tlv *out);

/* The value of a small non-negative INTEGER (at most 4 content bytes,
 * minimally encoded): 0 and *value, else -1. */
int mpssl_der_small_uint(const mpssl_der_tlv *tlv, uint32_t *value);

#endif /* MPSSL_DER_H */
