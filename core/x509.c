/*
 * x509.c - the core's own X.509 certificate reader.
 *
 * Just enough of RFC 5280 for getpeercert()'s dict, for hostname matching
 * and for sanity-checking certificates the user loads: the outer structure,
 * version, serial, names, validity, SPKI, subjectAltName and
 * basicConstraints.  Signatures are the backend's business.
 *
 * Strict DER throughout (see der.c), and every byte is bounds-checked: the
 * input may come straight from the network.  Names and subjectAltName are
 * walked completely while parsing, so the iterators cannot fail later on a
 * certificate mpssl_x509_parse accepted.
 */
#include "backend.h" /* mpssl_validity_flags, MPSSL_VF_* */
#include "der.h"
#include "mpssl.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Times                                                                    */
/* ------------------------------------------------------------------------ */

static int digits(const uint8_t *p, size_t n, int *value) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    *value = v;
    return 0;
}

static int is_leap_year(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int month) {
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ, the only forms
 * RFC 5280 allows (no fractions, no offsets). */
static int parse_time(const mpssl_der_tlv *tlv, mpssl_x509_time *t) {
    const uint8_t *p = tlv->content;
    size_t year_digits;
    if (tlv->tag == MPSSL_DER_UTC_TIME && tlv->len == 13) {
        year_digits = 2;
    } else if (tlv->tag == MPSSL_DER_GENERALIZED_TIME && tlv->len == 15) {
        year_digits = 4;
    } else {
        return -1;
    }
    if (p[tlv->len - 1] != 'Z' || digits(p, year_digits, &t->year) != 0) {
        return -1;
    }
    if (year_digits == 2) {
        /* RFC 5280 4.1.2.5.1: 50..99 are 19xx, 00..49 are 20xx. */
        t->year += t->year >= 50 ? 1900 : 2000;
    }
    p += year_digits;
    if (digits(p, 2, &t->month) != 0 || digits(p + 2, 2, &t->day) != 0 ||
        digits(p + 4, 2, &t->hour) != 0 || digits(p + 6, 2, &t->minute) != 0 ||
        digits(p + 8, 2, &t->second) != 0) {
        return -1;
    }
    if (t->month < 1 || t->month > 12 || t->day < 1 ||
        t->day > days_in_month(t->year, t->month) || t->hour > 23 ||
        t->minute > 59 || t->second > 59) {
        return -1;
    }
    return 0;
}

static int parse_validity(const mpssl_der_tlv *validity, mpssl_x509 *out) {
    mpssl_der_cursor cur;
    mpssl_der_tlv nb, na;
    mpssl_der_enter(&cur, validity);
    if (mpssl_der_read(&cur, &nb) != 0 || mpssl_der_read(&cur, &na) != 0 ||
        !mpssl_der_done(&cur)) {
        return -1;
    }
    if (parse_time(&nb, &out->not_before) != 0 ||
        parse_time(&na, &out->not_after) != 0) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* OIDs                                                                     */
/* ------------------------------------------------------------------------ */

/* Content bytes must be a well-formed OID: non-empty, minimal base-128
 * arcs, the last one complete. */
static int oid_well_formed(const uint8_t *p, size_t n) {
    if (n == 0 || (p[n - 1] & 0x80)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int arc_start = i == 0 || !(p[i - 1] & 0x80);
        if (arc_start && p[i] == 0x80) {
            return 0;
        }
    }
    return 1;
}

/* Writes the dotted form ("1.2.3.4") into buf; -1 when malformed, when an
 * arc does not fit 64 bits, or when the text does not fit cap bytes. */
static int oid_to_text(const uint8_t *p, size_t n, char *buf, size_t cap) {
    if (!oid_well_formed(p, n)) {
        return -1;
    }
    size_t used = 0;
    uint64_t arc = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (arc > (UINT64_MAX >> 7)) {
            return -1;
        }
        arc = (arc << 7) | (p[i] & 0x7fu);
        if (p[i] & 0x80) {
            continue;
        }
        int w;
        if (first) {
            /* The first encoded arc packs the first two: 40 * X + Y. */
            unsigned top = arc < 40 ? 0 : arc < 80 ? 1 : 2;
            w = snprintf(buf + used, cap - used, "%u.%llu", top,
                         (unsigned long long)(arc - 40u * top));
            first = 0;
        } else {
            w = snprintf(buf + used, cap - used, ".%llu",
                         (unsigned long long)arc);
        }
        if (w < 0 || (size_t)w >= cap - used) {
            return -1;
        }
        used += (size_t)w;
        arc = 0;
    }
    return 0;
}

static int oid_equals(const mpssl_der_tlv *oid, const uint8_t *want,
                      size_t want_len) {
    return oid->len == want_len && memcmp(oid->content, want, want_len) == 0;
}

/* Attribute types by the long names OpenSSL gives them, which is what
 * CPython's getpeercert() shows. */
typedef struct attr_name {
    uint8_t oid[11];
    uint8_t oid_len;
    const char *name;
} attr_name;

#define X520(n) {0x55, 0x04, n}, 3
#define PKCS9(n) {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, n}, 9
#define PILOT(n) {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, n}, 10
#define EV_JURISDICTION(n)                                                     \
    {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, n}, 11

static const attr_name attr_names[] = {
    {X520(3), "commonName"},
    {X520(4), "surname"},
    {X520(5), "serialNumber"},
    {X520(6), "countryName"},
    {X520(7), "localityName"},
    {X520(8), "stateOrProvinceName"},
    {X520(9), "streetAddress"},
    {X520(10), "organizationName"},
    {X520(11), "organizationalUnitName"},
    {X520(12), "title"},
    {X520(13), "description"},
    {X520(15), "businessCategory"},
    {X520(17), "postalCode"},
    {X520(18), "postOfficeBox"},
    {X520(41), "name"},
    {X520(42), "givenName"},
    {X520(43), "initials"},
    {X520(44), "generationQualifier"},
    {X520(46), "dnQualifier"},
    {X520(65), "pseudonym"},
    {X520(72), "role"},
    {X520(97), "organizationIdentifier"},
    {PKCS9(1), "emailAddress"},
    {PKCS9(2), "unstructuredName"},
    {PKCS9(8), "unstructuredAddress"},
    {PILOT(1), "userId"},
    {PILOT(25), "domainComponent"},
    {EV_JURISDICTION(1), "jurisdictionLocalityName"},
    {EV_JURISDICTION(2), "jurisdictionStateOrProvinceName"},
    {EV_JURISDICTION(3), "jurisdictionCountryName"},
};

static const char *attr_name_of(const mpssl_der_tlv *oid) {
    for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++) {
        if (oid_equals(oid, attr_names[i].oid, attr_names[i].oid_len)) {
            return attr_names[i].name;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */
/* ------------------------------------------------------------------------ */

/* AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }.  The value is
 * returned as its content bytes whatever its string type: BMPString and
 * UniversalString stay raw, the port decides what to do with them. */
static int read_attribute(mpssl_der_cursor *set, mpssl_x509_attr *out) {
    mpssl_der_tlv atv, type, value;
    mpssl_der_cursor cur;
    if (mpssl_der_expect(set, MPSSL_DER_SEQUENCE, &atv) != 0) {
        return -1;
    }
    mpssl_der_enter(&cur, &atv);
    if (mpssl_der_expect(&cur, MPSSL_DER_OID, &type) != 0 ||
        mpssl_der_read(&cur, &value) != 0 || !mpssl_der_done(&cur)) {
        return -1;
    }
    if ((value.tag & MPSSL_DER_CONSTRUCTED) ||
        !oid_well_formed(type.content, type.len)) {
        return -1;
    }
    out->attr = attr_name_of(&type);
    if (!out->attr) {
        if (oid_to_text(type.content, type.len, out->oid_buf,
                        sizeof out->oid_buf) != 0) {
            return -1;
        }
        out->attr = out->oid_buf;
    }
    out->value.data = value.content;
    out->value.len = value.len;
    return 0;
}

/* The content cursor of a whole-blob SEQUENCE (Name, GeneralNames). */
static int enter_blob(const mpssl_blob *blob, mpssl_der_cursor *inner) {
    mpssl_der_cursor outer;
    mpssl_der_tlv seq;
    if (!blob || !blob->data) {
        return -1;
    }
    mpssl_der_init(&outer, blob->data, blob->len);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&outer)) {
        return -1;
    }
    mpssl_der_enter(inner, &seq);
    return 0;
}

/*
 * *pos is an offset into the Name blob: 0 to start, then the offset of the
 * next AttributeTypeAndValue (or of the next RDN's SET).  The RDN index is
 * recomputed by walking the SETs from the start each time: names are a few
 * hundred bytes, and it keeps the whole iterator state in one size_t.
 */
int mpssl_x509_name_next(const mpssl_blob *name, size_t *pos,
                         mpssl_x509_attr *out) {
    mpssl_der_cursor rdns;
    if (enter_blob(name, &rdns) != 0) {
        return MPSSL_EINVALID_CERT;
    }
    size_t base = (size_t)(rdns.data - name->data); /* content offset */
    size_t want = *pos == 0 ? base : *pos;
    if (want < base) {
        return MPSSL_EINVALID_CERT;
    }
    want -= base; /* now relative to the RDN sequence's content */
    for (size_t rdn = 0; !mpssl_der_done(&rdns); rdn++) {
        size_t set_start = rdns.pos;
        mpssl_der_tlv set;
        if (mpssl_der_expect(&rdns, MPSSL_DER_SET, &set) != 0 || set.len == 0) {
            return MPSSL_EINVALID_CERT; /* an RDN holds at least one */
        }
        size_t content_start = (size_t)(set.content - rdns.data);
        if (want < set_start || want >= rdns.pos) {
            continue; /* the next attribute lies in a later RDN */
        }
        if (want != set_start && want < content_start) {
            return MPSSL_EINVALID_CERT; /* inside the SET's header */
        }
        mpssl_der_cursor attrs;
        mpssl_der_enter(&attrs, &set);
        attrs.pos = want == set_start ? 0 : want - content_start;
        if (read_attribute(&attrs, out) != 0) {
            return MPSSL_EINVALID_CERT;
        }
        out->rdn = rdn;
        *pos = base + content_start + attrs.pos;
        return 1;
    }
    if (want != rdns.pos) {
        return MPSSL_EINVALID_CERT;
    }
    *pos = base + want;
    return 0;
}

/* Walks a Name completely so that a parsed certificate iterates cleanly. */
static int check_name(const mpssl_blob *name) {
    size_t pos = 0;
    mpssl_x509_attr attr;
    int r;
    /* Each step consumes at least one byte, so len steps bound the loop. */
    for (size_t guard = 0; guard <= name->len; guard++) {
        r = mpssl_x509_name_next(name, &pos, &attr);
        if (r <= 0) {
            return r;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* subjectAltName                                                           */
/* ------------------------------------------------------------------------ */

/* Which GeneralName alternatives are constructed (SEQUENCE-like) in DER:
 * otherName [0], x400Address [3], directoryName [4], ediPartyName [5]. */
static int san_is_constructed(int type) {
    return type == 0 || type == 3 || type == 4 || type == 5;
}

int mpssl_x509_san_next(const mpssl_blob *san, size_t *pos,
                        mpssl_x509_san *out) {
    mpssl_der_cursor names;
    mpssl_der_tlv gn;
    if (san && san->len == 0) {
        return 0; /* no subjectAltName extension: nothing to iterate */
    }
    if (enter_blob(san, &names) != 0) {
        return MPSSL_EINVALID_CERT;
    }
    size_t base = (size_t)(names.data - san->data);
    size_t want = *pos == 0 ? base : *pos;
    if (want < base || want - base > names.len) {
        return MPSSL_EINVALID_CERT;
    }
    names.pos = want - base;
    if (mpssl_der_done(&names)) {
        return 0;
    }
    if (mpssl_der_read(&names, &gn) != 0 ||
        (gn.tag & MPSSL_DER_CLASS_MASK) != MPSSL_DER_CONTEXT) {
        return MPSSL_EINVALID_CERT;
    }
    int type = gn.tag & 0x1f;
    int constructed = (gn.tag & MPSSL_DER_CONSTRUCTED) != 0;
    if (type > 8 || constructed != san_is_constructed(type)) {
        return MPSSL_EINVALID_CERT;
    }
    out->type = type;
    out->value.data = gn.content;
    out->value.len = gn.len;
    *pos = base + names.pos;
    return 1;
}

static int check_san(const mpssl_blob *san) {
    size_t pos = 0;
    mpssl_x509_san entry;
    int r;
    for (size_t guard = 0; guard <= san->len; guard++) {
        r = mpssl_x509_san_next(san, &pos, &entry);
        if (r <= 0) {
            return r;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Extensions                                                               */
/* ------------------------------------------------------------------------ */

static const uint8_t oid_san[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */
static const uint8_t oid_basic_constraints[] = {0x55, 0x1d, 0x13}; /* .19 */
static const uint8_t oid_eku[] = {0x55, 0x1d, 0x25};           /* 2.5.29.37 */
static const uint8_t oid_eku_any[] = {0x55, 0x1d, 0x25, 0x00}; /* .37.0 */
/* 1.3.6.1.5.5.7.3.1 and .2 */
static const uint8_t oid_server_auth[] = {0x2b, 0x06, 0x01, 0x05,
                                          0x05, 0x07, 0x03, 0x01};
static const uint8_t oid_client_auth[] = {0x2b, 0x06, 0x01, 0x05,
                                          0x05, 0x07, 0x03, 0x02};

/* ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (OID) */
static int parse_eku(const uint8_t *p, size_t n, unsigned *eku) {
    mpssl_der_cursor outer, cur;
    mpssl_der_tlv seq, id;
    mpssl_der_init(&outer, p, n);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&outer) || seq.len == 0) {
        return -1;
    }
    *eku = MPSSL_EKU_PRESENT;
    mpssl_der_enter(&cur, &seq);
    while (!mpssl_der_done(&cur)) {
        if (mpssl_der_expect(&cur, MPSSL_DER_OID, &id) != 0 ||
            !oid_well_formed(id.content, id.len)) {
            return -1;
        }
        if (oid_equals(&id, oid_server_auth, sizeof oid_server_auth)) {
            *eku |= MPSSL_EKU_SERVER_AUTH;
        } else if (oid_equals(&id, oid_client_auth, sizeof oid_client_auth)) {
            *eku |= MPSSL_EKU_CLIENT_AUTH;
        } else if (oid_equals(&id, oid_eku_any, sizeof oid_eku_any)) {
            *eku |= MPSSL_EKU_ANY;
        }
    }
    return 0;
}

int mpssl_x509_eku_allows(const mpssl_x509 *cert, int as_server) {
    unsigned wanted = as_server ? MPSSL_EKU_SERVER_AUTH : MPSSL_EKU_CLIENT_AUTH;
    return !(cert->eku & MPSSL_EKU_PRESENT) ||
           (cert->eku & (wanted | MPSSL_EKU_ANY)) != 0;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
 *                                 pathLenConstraint INTEGER OPTIONAL } */
static int parse_basic_constraints(const uint8_t *p, size_t n,
                                   mpssl_x509 *out) {
    mpssl_der_cursor outer, cur;
    mpssl_der_tlv seq, item;
    mpssl_der_init(&outer, p, n);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&outer)) {
        return -1;
    }
    mpssl_der_enter(&cur, &seq);
    out->is_ca = 0;
    if (mpssl_der_peek(&cur) == MPSSL_DER_BOOLEAN) {
        if (mpssl_der_read(&cur, &item) != 0 || item.len != 1) {
            return -1;
        }
        out->is_ca = item.content[0] != 0;
    }
    if (mpssl_der_peek(&cur) == MPSSL_DER_INTEGER) {
        uint32_t limit;
        if (mpssl_der_read(&cur, &item) != 0 ||
            mpssl_der_small_uint(&item, &limit) != 0) {
            return -1;
        }
        out->path_len = limit > 255 ? 255 : (int)limit;
    }
    return mpssl_der_done(&cur) ? 0 : -1;
}

/* GeneralNames must fill the extnValue exactly. */
static int parse_san_extension(const uint8_t *p, size_t n, mpssl_blob *san) {
    mpssl_der_cursor cur;
    mpssl_der_tlv seq;
    mpssl_der_init(&cur, p, n);
    if (mpssl_der_expect(&cur, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&cur)) {
        return -1;
    }
    san->data = seq.raw;
    san->len = seq.raw_len;
    return check_san(san) == 0 ? 0 : -1;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING } */
static int parse_extension(const mpssl_der_tlv *ext, mpssl_x509 *out,
                           int *seen_san, int *seen_bc, int *seen_eku) {
    mpssl_der_cursor cur;
    mpssl_der_tlv id, item;
    mpssl_der_enter(&cur, ext);
    if (mpssl_der_expect(&cur, MPSSL_DER_OID, &id) != 0 ||
        !oid_well_formed(id.content, id.len)) {
        return -1;
    }
    if (mpssl_der_peek(&cur) == MPSSL_DER_BOOLEAN) {
        if (mpssl_der_read(&cur, &item) != 0 || item.len != 1) {
            return -1;
        }
    }
    if (mpssl_der_expect(&cur, MPSSL_DER_OCTET_STRING, &item) != 0 ||
        !mpssl_der_done(&cur)) {
        return -1;
    }
    if (oid_equals(&id, oid_san, sizeof oid_san)) {
        /* Two SANs would let a name hide from whichever one a checker
         * reads; RFC 5280 forbids repeating an extension anyway. */
        if ((*seen_san)++) {
            return -1;
        }
        return parse_san_extension(item.content, item.len, &out->san);
    }
    if (oid_equals(&id, oid_basic_constraints, sizeof oid_basic_constraints)) {
        if ((*seen_bc)++) {
            return -1;
        }
        return parse_basic_constraints(item.content, item.len, out);
    }
    if (oid_equals(&id, oid_eku, sizeof oid_eku)) {
        if ((*seen_eku)++) {
            return -1;
        }
        return parse_eku(item.content, item.len, &out->eku);
    }
    return 0;
}

/* [3] EXPLICIT SEQUENCE SIZE (1..MAX) OF Extension */
static int parse_extensions(const mpssl_der_tlv *wrapper, mpssl_x509 *out) {
    mpssl_der_cursor cur, list;
    mpssl_der_tlv seq, ext;
    int seen_san = 0, seen_bc = 0, seen_eku = 0;
    mpssl_der_enter(&cur, wrapper);
    if (mpssl_der_expect(&cur, MPSSL_DER_SEQUENCE, &seq) != 0 ||
        !mpssl_der_done(&cur) || seq.len == 0) {
        return -1;
    }
    mpssl_der_enter(&list, &seq);
    while (!mpssl_der_done(&list)) {
        if (mpssl_der_expect(&list, MPSSL_DER_SEQUENCE, &ext) != 0 ||
            parse_extension(&ext, out, &seen_san, &seen_bc, &seen_eku) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Certificate                                                              */
/* ------------------------------------------------------------------------ */

/* AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
 */
static int parse_algorithm(const mpssl_der_tlv *alg, mpssl_blob *oid_out) {
    mpssl_der_cursor cur;
    mpssl_der_tlv oid, params;
    mpssl_der_enter(&cur, alg);
    if (mpssl_der_expect(&cur, MPSSL_DER_OID, &oid) != 0 ||
        !oid_well_formed(oid.content, oid.len)) {
        return -1;
    }
    if (!mpssl_der_done(&cur) && mpssl_der_read(&cur, &params) != 0) {
        return -1;
    }
    if (!mpssl_der_done(&cur)) {
        return -1;
    }
    if (oid_out) {
        oid_out->data = oid.content;
        oid_out->len = oid.len;
    }
    return 0;
}

/* version [0] EXPLICIT INTEGER { v1(0), v2(1), v3(2) } DEFAULT v1 */
static int parse_version(mpssl_der_cursor *tbs, int *version) {
    mpssl_der_tlv wrapper, integer;
    mpssl_der_cursor cur;
    uint32_t v;
    *version = 1;
    if (mpssl_der_peek(tbs) != (MPSSL_DER_CONTEXT | MPSSL_DER_CONSTRUCTED)) {
        return 0;
    }
    if (mpssl_der_read(tbs, &wrapper) != 0) {
        return -1;
    }
    mpssl_der_enter(&cur, &wrapper);
    if (mpssl_der_expect(&cur, MPSSL_DER_INTEGER, &integer) != 0 ||
        !mpssl_der_done(&cur) || mpssl_der_small_uint(&integer, &v) != 0 ||
        v > 2) {
        return -1;
    }
    *version = (int)v + 1;
    return 0;
}

/* The magnitude of the serial: DER adds one 0x00 when the top bit of a
 * positive number is set; that byte is not part of the number. */
static int parse_serial(mpssl_der_cursor *tbs, mpssl_blob *serial) {
    mpssl_der_tlv integer;
    if (mpssl_der_expect(tbs, MPSSL_DER_INTEGER, &integer) != 0 ||
        integer.len == 0) {
        return -1;
    }
    serial->data = integer.content;
    serial->len = integer.len;
    if (serial->len > 1 && serial->data[0] == 0) {
        serial->data++;
        serial->len--;
    }
    return 0;
}

static void blob_of(const mpssl_der_tlv *tlv, mpssl_blob *blob) {
    blob->data = tlv->raw;
    blob->len = tlv->raw_len;
}

static int parse_tbs(const mpssl_der_tlv *tbs_tlv, mpssl_x509 *out) {
    mpssl_der_cursor tbs;
    mpssl_der_tlv alg, issuer, validity, subject, spki, item;
    mpssl_der_enter(&tbs, tbs_tlv);
    if (parse_version(&tbs, &out->version) != 0 ||
        parse_serial(&tbs, &out->serial) != 0 ||
        mpssl_der_expect(&tbs, MPSSL_DER_SEQUENCE, &alg) != 0 ||
        parse_algorithm(&alg, NULL) != 0 ||
        mpssl_der_expect(&tbs, MPSSL_DER_SEQUENCE, &issuer) != 0 ||
        mpssl_der_expect(&tbs, MPSSL_DER_SEQUENCE, &validity) != 0 ||
        parse_validity(&validity, out) != 0 ||
        mpssl_der_expect(&tbs, MPSSL_DER_SEQUENCE, &subject) != 0 ||
        mpssl_der_expect(&tbs, MPSSL_DER_SEQUENCE, &spki) != 0) {
        return -1;
    }
    blob_of(&issuer, &out->issuer);
    blob_of(&subject, &out->subject);
    blob_of(&spki, &out->spki);
    if (check_name(&out->issuer) != 0 || check_name(&out->subject) != 0) {
        return -1;
    }
    /* issuerUniqueID [1] and subjectUniqueID [2]: IMPLICIT BIT STRINGs. */
    if (mpssl_der_peek(&tbs) == (MPSSL_DER_CONTEXT | 1) &&
        mpssl_der_read(&tbs, &item) != 0) {
        return -1;
    }
    if (mpssl_der_peek(&tbs) == (MPSSL_DER_CONTEXT | 2) &&
        mpssl_der_read(&tbs, &item) != 0) {
        return -1;
    }
    if (mpssl_der_peek(&tbs) ==
        (MPSSL_DER_CONTEXT | MPSSL_DER_CONSTRUCTED | 3)) {
        if (mpssl_der_read(&tbs, &item) != 0 ||
            parse_extensions(&item, out) != 0) {
            return -1;
        }
    }
    return mpssl_der_done(&tbs) ? 0 : -1;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 *                            signatureValue BIT STRING } */
int mpssl_x509_parse(const uint8_t *der, size_t len, mpssl_x509 *out) {
    mpssl_der_cursor outer, cert;
    mpssl_der_tlv cert_tlv, tbs, alg, sig;
    mpssl_x509 x;
    memset(&x, 0, sizeof x);
    x.path_len = -1;
    mpssl_der_init(&outer, der, len);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &cert_tlv) != 0 ||
        !mpssl_der_done(&outer)) {
        return MPSSL_EINVALID_CERT;
    }
    mpssl_der_enter(&cert, &cert_tlv);
    if (mpssl_der_expect(&cert, MPSSL_DER_SEQUENCE, &tbs) != 0 ||
        mpssl_der_expect(&cert, MPSSL_DER_SEQUENCE, &alg) != 0 ||
        mpssl_der_expect(&cert, MPSSL_DER_BIT_STRING, &sig) != 0 ||
        !mpssl_der_done(&cert) || sig.len == 0 ||
        parse_algorithm(&alg, &x.sig_alg_oid) != 0 ||
        parse_tbs(&tbs, &x) != 0) {
        return MPSSL_EINVALID_CERT;
    }
    blob_of(&tbs, &x.tbs);
    *out = x;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Validity against a clock (a backend service, see backend.h)              */
/* ------------------------------------------------------------------------ */

/* Seconds since 1970-01-01 of a parsed (already range-checked) time. */
static int64_t unix_seconds(const mpssl_x509_time *t) {
    static const unsigned short before_month[12] = {
        0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t y = t->year - 1;
    int64_t days = y * 365 + y / 4 - y / 100 + y / 400; /* to Jan 1st */
    days += before_month[t->month - 1] + t->day - 1;
    if (t->month > 2 && is_leap_year(t->year)) {
        days++;
    }
    days -= 719162; /* 0001-01-01 .. 1970-01-01 */
    return days * 86400 + t->hour * 3600 + t->minute * 60 + t->second;
}

unsigned mpssl_validity_flags(const uint8_t *der, size_t len, int64_t now) {
    mpssl_x509 cert;
    if (mpssl_x509_parse(der, len, &cert) != 0) {
        return 0;
    }
    if (now < unix_seconds(&cert.not_before)) {
        return MPSSL_VF_NOT_YET_VALID;
    }
    if (now > unix_seconds(&cert.not_after)) {
        return MPSSL_VF_EXPIRED;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Policy the core applies whatever the library decided                     */
/* ------------------------------------------------------------------------ */

/* Signature algorithms no longer safe against forgery (collisions). */
static const uint8_t oid_md2_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                      0x0d, 0x01, 0x01, 0x02};
static const uint8_t oid_md5_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                      0x0d, 0x01, 0x01, 0x04};
static const uint8_t oid_sha1_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                       0x0d, 0x01, 0x01, 0x05};
static const uint8_t oid_sha1_ecdsa[] = {0x2a, 0x86, 0x48, 0xce,
                                         0x3d, 0x04, 0x01};
static const uint8_t oid_sha1_dsa[] = {0x2a, 0x86, 0x48, 0xce,
                                       0x38, 0x04, 0x03};
static const uint8_t oid_rsa_encryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                             0x0d, 0x01, 0x01, 0x01};

static int blob_is(const mpssl_blob *b, const uint8_t *oid, size_t len) {
    return b->len == len && memcmp(b->data, oid, len) == 0;
}

static int weak_signature(const mpssl_blob *sig_alg) {
    return blob_is(sig_alg, oid_md2_rsa, sizeof oid_md2_rsa) ||
           blob_is(sig_alg, oid_md5_rsa, sizeof oid_md5_rsa) ||
           blob_is(sig_alg, oid_sha1_rsa, sizeof oid_sha1_rsa) ||
           blob_is(sig_alg, oid_sha1_ecdsa, sizeof oid_sha1_ecdsa) ||
           blob_is(sig_alg, oid_sha1_dsa, sizeof oid_sha1_dsa);
}

/* Bits of an RSA modulus (SubjectPublicKeyInfo with rsaEncryption), 0 for
 * any other key type or anything unreadable. */
static size_t rsa_modulus_bits(const mpssl_blob *spki) {
    mpssl_der_cursor outer, cur, alg_cur, key_cur, rsa_cur;
    mpssl_der_tlv seq, alg, oid, key, rsa, modulus;
    mpssl_der_init(&outer, spki->data, spki->len);
    if (mpssl_der_expect(&outer, MPSSL_DER_SEQUENCE, &seq) != 0) {
        return 0;
    }
    mpssl_der_enter(&cur, &seq);
    if (mpssl_der_expect(&cur, MPSSL_DER_SEQUENCE, &alg) != 0 ||
        mpssl_der_expect(&cur, MPSSL_DER_BIT_STRING, &key) != 0) {
        return 0;
    }
    mpssl_der_enter(&alg_cur, &alg);
    if (mpssl_der_expect(&alg_cur, MPSSL_DER_OID, &oid) != 0 ||
        !oid_equals(&oid, oid_rsa_encryption, sizeof oid_rsa_encryption) ||
        key.len < 1 || key.content[0] != 0) {
        return 0;
    }
    /* BIT STRING: a zero unused-bits octet, then RSAPublicKey. */
    mpssl_der_init(&key_cur, key.content + 1, key.len - 1);
    if (mpssl_der_expect(&key_cur, MPSSL_DER_SEQUENCE, &rsa) != 0) {
        return 0;
    }
    mpssl_der_enter(&rsa_cur, &rsa);
    if (mpssl_der_expect(&rsa_cur, MPSSL_DER_INTEGER, &modulus) != 0) {
        return 0;
    }
    const uint8_t *m = modulus.content;
    size_t n = modulus.len;
    while (n > 0 && m[0] == 0) {
        m++;
        n--;
    }
    if (n == 0) {
        return 0;
    }
    size_t bits = (n - 1) * 8;
    for (uint8_t top = m[0]; top != 0; top >>= 1) {
        bits++;
    }
    return bits;
}

int mpssl_x509_weak(const mpssl_x509 *cert) {
    if (weak_signature(&cert->sig_alg_oid)) {
        return 1;
    }
    size_t rsa_bits = rsa_modulus_bits(&cert->spki);
    return rsa_bits != 0 && rsa_bits < MPSSL_MIN_RSA_BITS;
}

static int same_blob(const mpssl_blob *a, const mpssl_blob *b) {
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/*
 * Walks the presented chain from the leaf upwards, each step to a certificate
 * whose subject is the current one's issuer (in any position: TLS 1.3 lets
 * a peer send its chain unordered).  Every such issuer must be a CA whose
 * pathLenConstraint allows the CAs below it.  At most n - 1 steps, so a
 * cycle of certificates naming each other ends the walk.
 */
unsigned mpssl_chain_flags(const mpssl_blob *chain, size_t n) {
    mpssl_x509 current, issuer;
    if (n == 0 || mpssl_x509_parse(chain[0].data, chain[0].len, &current)) {
        return 0;
    }
    int cas_below = 0; /* intermediate CAs between the issuer and the leaf */
    size_t at = 0;
    for (size_t step = 1; step < n; step++) {
        if (same_blob(&current.subject, &current.issuer)) {
            return 0; /* reached a self-issued certificate */
        }
        size_t next = n;
        for (size_t j = 1; j < n && next == n; j++) {
            if (j != at &&
                mpssl_x509_parse(chain[j].data, chain[j].len, &issuer) == 0 &&
                same_blob(&issuer.subject, &current.issuer)) {
                next = j;
            }
        }
        if (next == n) {
            return 0; /* the path leaves the presented chain */
        }
        if (!issuer.is_ca ||
            (issuer.path_len >= 0 && cas_below > issuer.path_len)) {
            return MPSSL_VF_OTHER;
        }
        cas_below++;
        current = issuer;
        at = next;
    }
    return 0;
}
