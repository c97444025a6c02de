/*
 * test_hostname.c - IP literal parsing, hostname validation, DNS-ID pattern
 * matching and the certificate-level identity decision (core/hostname.c).
 *
 * Certificates are built by hand: the tests assemble the subjectAltName
 * GeneralNames and subject Name DER themselves, so they pin the matching
 * rules without depending on generated certificate files.
 */
#include "check.h"
#include "hostname.h"

#include <stdint.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* A tiny DER builder                                                       */
/* ------------------------------------------------------------------------ */

typedef struct der_buf {
    uint8_t data[1024];
    size_t len;
} der_buf;

static void der_put(der_buf *b, const void *bytes, size_t len) {
    if (b->len + len > sizeof b->data) {
        printf("  der_buf overflow\n");
        check_failed_in_test = 1;
        return;
    }
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

/* Appends tag, definite length (short or long form) and content. */
static void der_tlv(der_buf *b, uint8_t tag, const void *content, size_t len) {
    uint8_t head[4];
    size_t n = 0;
    head[n++] = tag;
    if (len < 0x80) {
        head[n++] = (uint8_t)len;
    } else if (len <= 0xff) {
        head[n++] = 0x81;
        head[n++] = (uint8_t)len;
    } else {
        head[n++] = 0x82;
        head[n++] = (uint8_t)(len >> 8);
        head[n++] = (uint8_t)len;
    }
    der_put(b, head, n);
    der_put(b, content, len);
}

/* GeneralName tags are context-specific and primitive: [2] dNSName,
 * [7] iPAddress, [1] rfc822Name. */
static void san_add(der_buf *entries, int type, const void *value, size_t len) {
    der_tlv(entries, (uint8_t)(0x80 | type), value, len);
}

static void san_add_text(der_buf *entries, int type, const char *text) {
    san_add(entries, type, text, strlen(text));
}

static const uint8_t OID_COMMON_NAME[] = {0x55, 0x04, 0x03};  /* 2.5.4.3 */
static const uint8_t OID_ORGANIZATION[] = {0x55, 0x04, 0x0a}; /* 2.5.4.10 */

/* One RDN: SET { SEQUENCE { OID, UTF8String } }. */
static void name_add(der_buf *rdns, const uint8_t *oid, size_t oid_len,
                     const char *value) {
    der_buf atv = {0}, set = {0};
    der_tlv(&atv, 0x06, oid, oid_len);
    der_tlv(&atv, 0x0c, value, strlen(value));
    der_tlv(&set, 0x30, atv.data, atv.len);
    der_tlv(rdns, 0x31, set.data, set.len);
}

static void name_add_cn(der_buf *rdns, const char *cn) {
    name_add(rdns, OID_COMMON_NAME, sizeof OID_COMMON_NAME, cn);
}

/* A certificate as the matcher sees it: SAN and subject DER plus the
 * mpssl_x509 pointing into them. */
typedef struct test_cert {
    der_buf san_entries, rdns; /* filled by the test */
    der_buf san, subject;      /* wrapped by cert_finish */
    int has_san;
    mpssl_x509 x509;
} test_cert;

/* Wraps the collected entries: GeneralNames and Name are SEQUENCEs. */
static const mpssl_x509 *cert_finish(test_cert *c) {
    memset(&c->x509, 0, sizeof c->x509);
    c->san.len = c->subject.len = 0;
    der_tlv(&c->subject, 0x30, c->rdns.data, c->rdns.len);
    c->x509.subject = (mpssl_blob){c->subject.data, c->subject.len};
    if (c->has_san) {
        der_tlv(&c->san, 0x30, c->san_entries.data, c->san_entries.len);
        c->x509.san = (mpssl_blob){c->san.data, c->san.len};
    }
    c->x509.version = 3;
    return &c->x509;
}

/* ------------------------------------------------------------------------ */
/* IP literals                                                              */
/* ------------------------------------------------------------------------ */

typedef struct ip_case {
    const char *text;
    int len; /* 4, 16, or 0 for "not an IP literal" */
    uint8_t bytes[16];
} ip_case;

static void check_ip_cases(const ip_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t out[16];
        memset(out, 0xee, sizeof out);
        int len = mpssl_parse_ip(cases[i].text, out);
        if (len != cases[i].len) {
            printf("  mpssl_parse_ip(\"%s\") == %d, expected %d\n",
                   cases[i].text, len, cases[i].len);
            check_failed_in_test = 1;
        } else if (len > 0 && memcmp(out, cases[i].bytes, (size_t)len) != 0) {
            printf("  mpssl_parse_ip(\"%s\") wrote the wrong bytes\n",
                   cases[i].text);
            check_failed_in_test = 1;
        }
    }
}

static void test_ipv4_dotted_quads_parse_to_four_bytes(void) {
    static const ip_case cases[] = {
        {"127.0.0.1", 4, {127, 0, 0, 1}},
        {"0.0.0.0", 4, {0, 0, 0, 0}},
        {"255.255.255.255", 4, {255, 255, 255, 255}},
        {"10.20.30.40", 4, {10, 20, 30, 40}},
        {"192.168.100.9", 4, {192, 168, 100, 9}},
    };
    check_ip_cases(cases, ARRAY_LEN(cases));
}

static void test_ipv6_full_compressed_and_mixed_forms_parse(void) {
    static const ip_case cases[] = {
        {"::", 16, {0}},
        {"::1", 16, {[15] = 1}},
        {"1::", 16, {0, 1}},
        {"2001:db8::8:800:200c:417a",
         16,
         {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0x00, 0x20, 0x0c,
          0x41, 0x7a}},
        {"2001:DB8:0:0:8:800:200C:417A",
         16,
         {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0x00, 0x20, 0x0c,
          0x41, 0x7a}},
        {"0001:0002:0003:0004:0005:0006:0007:0008",
         16,
         {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}},
        {"1:2:3:4:5:6:7::", 16, {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7}},
        {"::2:3:4:5:6:7:8",
         16,
         {0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}},
        {"fe80::1", 16, {0xfe, 0x80, [15] = 1}},
        {"::ffff:127.0.0.1",
         16,
         {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}},
        {"::127.0.0.1", 16, {[12] = 127, [15] = 1}},
        {"64:ff9b::192.0.2.33",
         16,
         {0, 0x64, 0xff, 0x9b, [12] = 192, 0, 2, 33}},
        {"1:2:3:4:5:6:1.2.3.4",
         16,
         {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4}},
    };
    check_ip_cases(cases, ARRAY_LEN(cases));
}

static void test_malformed_ip_literals_are_not_ip(void) {
    static const ip_case cases[] = {
        {"", 0, {0}},
        {"1.2.3", 0, {0}},
        {"1.2.3.4.5", 0, {0}},
        {"256.1.1.1", 0, {0}},
        {"1.2.3.1000", 0, {0}},
        {"01.2.3.4", 0, {0}},
        {"1.2.3.00", 0, {0}},
        {"1..2.3", 0, {0}},
        {"1.2.3.", 0, {0}},
        {".1.2.3", 0, {0}},
        {" 1.2.3.4", 0, {0}},
        {"1.2.3.4 ", 0, {0}},
        {"+1.2.3.4", 0, {0}},
        {"0x1.2.3.4", 0, {0}},
        {"example.com", 0, {0}},
        {":::", 0, {0}},
        {":", 0, {0}},
        {":1", 0, {0}},
        {"1:", 0, {0}},
        {":1::", 0, {0}},
        {"1::2::3", 0, {0}},
        {"12345::", 0, {0}},
        {"g::", 0, {0}},
        {"[::1]", 0, {0}},
        {"fe80::1%eth0", 0, {0}},
        {"1:2:3:4:5:6:7", 0, {0}},
        {"1:2:3:4:5:6:7:8:9", 0, {0}},
        {"1:2:3:4:5:6:7:8::", 0, {0}},
        {"::1:2:3:4:5:6:7:8", 0, {0}},
        {"1:2:3:4:5:6:7:1.2.3.4", 0, {0}},
        {"1:2:3:4:5:6::1.2.3.4", 0, {0}},
        {"::1.2.3", 0, {0}},
        {"::256.1.1.1", 0, {0}},
        {"::01.2.3.4", 0, {0}},
        {"1.2.3.4::", 0, {0}},
        {"::1.2.3.4:5", 0, {0}},
    };
    check_ip_cases(cases, ARRAY_LEN(cases));
}

/* ------------------------------------------------------------------------ */
/* server_hostname validation                                               */
/* ------------------------------------------------------------------------ */

static char *repeat(char *buf, char c, size_t n) {
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_check_hostname_accepts_dns_names_and_ip_literals(void) {
    static const char *const ok[] = {
        "localhost",
        "example.com",
        "example.com.",
        "Sub-Domain.Example.COM",
        "_service.example.com",
        "xn--bcher-kva.example",
        "a",
        "1.2.3",
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "2001:db8::1",
    };
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        if (mpssl_check_hostname(ok[i]) != 0) {
            printf("  rejected \"%s\"\n", ok[i]);
            check_failed_in_test = 1;
        }
    }
    char name[300];
    CHECK_EQ_INT(mpssl_check_hostname(repeat(name, 'a', 63)), 0);
}

static void test_check_hostname_rejects_malformed_names(void) {
    static const char *const bad[] = {
        "",
        ".",
        "..",
        ".example.com",
        "a..b",
        "example.com..",
        "exa mple.com",
        " example.com",
        "bücher.example",
        "*.example.com",
        "a/b",
        "[::1]",
        "fe80::1%eth0",
        "host:443",
        "a@b",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (mpssl_check_hostname(bad[i]) != MPSSL_EBAD_HOSTNAME) {
            printf("  accepted \"%s\"\n", bad[i]);
            check_failed_in_test = 1;
        }
    }
    CHECK_EQ_INT(mpssl_check_hostname(NULL), MPSSL_EBAD_HOSTNAME);
}

static void test_check_hostname_enforces_label_and_total_lengths(void) {
    char name[300];
    CHECK_EQ_INT(mpssl_check_hostname(repeat(name, 'a', 64)),
                 MPSSL_EBAD_HOSTNAME);

    /* 4 labels of 62 + 3 dots = 251; then grow to 253 and 254. */
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        if (i > 0) {
            name[len++] = '.';
        }
        memset(name + len, 'b', 62);
        len += 62;
    }
    memcpy(name + len, ".cc", 4); /* 254 bytes */
    CHECK_EQ_INT(strlen(name), 254);
    CHECK_EQ_INT(mpssl_check_hostname(name), MPSSL_EBAD_HOSTNAME);
    name[253] = '\0'; /* 253 bytes: ".c" tail */
    CHECK_EQ_INT(mpssl_check_hostname(name), 0);
    name[253] = '.'; /* 253 plus the one trailing dot allowed */
    name[254] = '\0';
    CHECK_EQ_INT(mpssl_check_hostname(name), 0);
}

/* ------------------------------------------------------------------------ */
/* DNS-ID patterns                                                          */
/* ------------------------------------------------------------------------ */

typedef struct pattern_case {
    const char *pattern;
    const char *host;
    int expected;
} pattern_case;

static void check_pattern_cases(const pattern_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *p = cases[i].pattern;
        int got = mpssl_dns_pattern_matches((const uint8_t *)p, strlen(p),
                                            cases[i].host);
        if (got != cases[i].expected) {
            printf("  pattern \"%s\" vs host \"%s\": %d, expected %d\n", p,
                   cases[i].host, got, cases[i].expected);
            check_failed_in_test = 1;
        }
    }
}

static void test_exact_names_match_case_insensitively(void) {
    static const pattern_case cases[] = {
        {"example.com", "example.com", 1},
        {"EXAMPLE.com", "example.COM", 1},
        {"www.Example.Com", "WWW.EXAMPLE.COM", 1},
        {"example.com", "example.org", 0},
        {"example.com", "www.example.com", 0},
        {"www.example.com", "example.com", 0},
        {"example.co", "example.com", 0},
        {"localhost", "localhost", 1},
        {"", "example.com", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_one_trailing_dot_is_ignored_on_either_side(void) {
    static const pattern_case cases[] = {
        {"example.com.", "example.com", 1},
        {"example.com", "example.com.", 1},
        {"example.com.", "example.com.", 1},
        {"*.example.com.", "a.example.com", 1},
        {"*.example.com", "a.example.com.", 1},
        {"example.com..", "example.com", 0},
        {"example.com", "example.com..", 0},
        {".", ".", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_wildcard_matches_exactly_one_leftmost_label(void) {
    static const pattern_case cases[] = {
        {"*.example.com", "a.example.com", 1},
        {"*.example.com", "WWW.Example.Com", 1},
        {"*.Example.COM", "www.example.com", 1},
        {"*.example.com", "example.com", 0},
        {"*.example.com", "a.b.example.com", 0},
        {"*.example.com", ".example.com", 0},
        {"*.example.com", "a.example.org", 0},
        {"*.example.com", "aexample.com", 0},
        {"*.co.uk", "example.co.uk", 1},
        {"*.example.com", "*.example.com", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_partial_and_misplaced_wildcards_never_match(void) {
    static const pattern_case cases[] = {
        {"f*.example.com", "foo.example.com", 0},
        {"*oo.example.com", "foo.example.com", 0},
        {"f*o.example.com", "foo.example.com", 0},
        {"xn--*.example.com", "xn--bcher-kva.example.com", 0},
        {"**.example.com", "a.example.com", 0},
        {"www.*.com", "www.example.com", 0},
        {"example.*", "example.com", 0},
        {"*.*.example.com", "a.b.example.com", 0},
        {"*", "localhost", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_wildcard_needs_two_labels_after_it(void) {
    static const pattern_case cases[] = {
        {"*.com", "example.com", 0},
        {"*.com.", "example.com", 0},
        {"*.", "example", 0},
        {"*.", "example.", 0},
        {"*.local", "printer.local", 0},
        {"*.example", "xn--bcher-kva.example", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_empty_labels_never_match(void) {
    static const pattern_case cases[] = {
        {".example.com", ".example.com", 0},
        {".example.com", "example.com", 0},
        {"a..example.com", "a..example.com", 0},
        {"*..example.com", "a..example.com", 0},
        {"*.example..com", "a.example..com", 0},
        {"a.example.com", "", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_idna_a_labels_match_exactly_and_under_wildcard(void) {
    static const pattern_case cases[] = {
        {"xn--bcher-kva.example", "xn--bcher-kva.example", 1},
        {"XN--BCHER-KVA.example", "xn--bcher-kva.EXAMPLE", 1},
        {"*.example.com", "xn--bcher-kva.example.com", 1},
        {"*.xn--bcher-kva.example", "www.xn--bcher-kva.example", 1},
        {"xn--bcher-kva.example", "xn--bcher-kvb.example", 0},
    };
    check_pattern_cases(cases, ARRAY_LEN(cases));
}

static void test_nul_and_non_ascii_patterns_never_match(void) {
    /* The length says what the certificate holds; a NUL inside must not
     * truncate the comparison ("example.com\0.evil.org"). */
    static const uint8_t embedded_nul[] = "example.com\0.evil.org";
    CHECK(!mpssl_dns_pattern_matches(embedded_nul, sizeof embedded_nul - 1,
                                     "example.com"));
    static const uint8_t trailing_nul[] = "example.com\0";
    CHECK(!mpssl_dns_pattern_matches(trailing_nul, sizeof trailing_nul - 1,
                                     "example.com"));
    static const uint8_t utf8[] = "b\xc3\xbc"
                                  "cher.example";
    CHECK(!mpssl_dns_pattern_matches(utf8, sizeof utf8 - 1,
                                     "b\xc3\xbc"
                                     "cher.example"));
    static const uint8_t high_wild[] = "*.\xff"
                                       "example.com";
    CHECK(!mpssl_dns_pattern_matches(high_wild, sizeof high_wild - 1,
                                     "a.example.com"));
    /* The length bounds the pattern: a prefix of a longer buffer. */
    CHECK(mpssl_dns_pattern_matches((const uint8_t *)"example.comXYZ", 11,
                                    "example.com"));
    CHECK(!mpssl_dns_pattern_matches(NULL, 0, "example.com"));
    CHECK(!mpssl_dns_pattern_matches((const uint8_t *)"a.b", 3, NULL));
}

/* ------------------------------------------------------------------------ */
/* Certificates                                                             */
/* ------------------------------------------------------------------------ */

static const uint8_t V4_LOOPBACK[4] = {127, 0, 0, 1};
static const uint8_t V6_LOOPBACK[16] = {[15] = 1};

static void test_dns_san_matches_dns_host(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "www.example.org");
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "*.example.com");
    name_add_cn(&c.rdns, "unrelated.test");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "www.example.org"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "API.example.com"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "a.b.example.com"), 0);
}

static void test_cn_used_only_when_cert_has_no_san(void) {
    test_cert c = {0};
    name_add(&c.rdns, OID_ORGANIZATION, sizeof OID_ORGANIZATION,
             "example.com"); /* an O equal to the host is not an identity */
    name_add_cn(&c.rdns, "*.example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "www.example.com"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "a.b.example.com"), 0);
}

static void test_organization_attribute_is_never_an_identity(void) {
    test_cert c = {0};
    name_add(&c.rdns, OID_ORGANIZATION, sizeof OID_ORGANIZATION, "example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "example.com"), 0);
}

static void test_every_cn_is_tried(void) {
    test_cert c = {0};
    name_add_cn(&c.rdns, "first.example.com");
    name_add_cn(&c.rdns, "second.example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "first.example.com"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "second.example.com"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "third.example.com"), 0);
}

static void test_cn_ignored_when_dns_san_present(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "san.example.com");
    name_add_cn(&c.rdns, "cn.example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "cn.example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "san.example.com"), 1);
}

static void test_cn_ignored_when_only_ip_san_present(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add(&c.san_entries, MPSSL_SAN_IP, V4_LOOPBACK, 4);
    name_add_cn(&c.rdns, "cn.example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "cn.example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 1);
}

static void test_email_and_uri_sans_do_not_disable_cn_fallback(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add_text(&c.san_entries, MPSSL_SAN_EMAIL, "admin@cn.example.com");
    san_add_text(&c.san_entries, MPSSL_SAN_URI, "https://cn.example.com/");
    name_add_cn(&c.rdns, "cn.example.com");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "cn.example.com"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "admin.example.com"), 0);
}

static void test_ip_literal_cn_never_matches_ip_host(void) {
    test_cert c = {0};
    name_add_cn(&c.rdns, "127.0.0.1");
    name_add_cn(&c.rdns, "::1");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::1"), 0);
}

static void test_ip_host_never_matches_dns_san_text(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "127.0.0.1");
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "::1");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::1"), 0);
}

static void test_dns_host_never_matches_ip_san(void) {
    test_cert c = {0};
    c.has_san = 1;
    /* 4 bytes that spell "a.bc" in ASCII, in case bytes were compared. */
    static const uint8_t ascii_bytes[4] = {'a', '.', 'b', 'c'};
    san_add(&c.san_entries, MPSSL_SAN_IP, ascii_bytes, 4);
    san_add(&c.san_entries, MPSSL_SAN_IP, V4_LOOPBACK, 4);
    name_add_cn(&c.rdns, "localhost");
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "a.bc"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "localhost"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "97.46.98.99"), 1);
}

static void test_ip_san_matches_same_family_and_bytes(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add(&c.san_entries, MPSSL_SAN_IP, V4_LOOPBACK, 4);
    san_add(&c.san_entries, MPSSL_SAN_IP, V6_LOOPBACK, 16);
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::1"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "0:0:0:0:0:0:0:1"), 1);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.2"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::2"), 0);
}

static void test_ip_san_family_mismatch_never_matches(void) {
    /* 16 bytes whose first four equal 127.0.0.1: a v4 host must not be
     * compared against a prefix of a v6 SAN, nor a v6 host against a
     * short SAN. */
    static const uint8_t v6_with_v4_prefix[16] = {127, 0, 0, 1};
    test_cert c = {0};
    c.has_san = 1;
    san_add(&c.san_entries, MPSSL_SAN_IP, v6_with_v4_prefix, 16);
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "7f00:1::"), 1);

    test_cert d = {0};
    d.has_san = 1;
    san_add(&d.san_entries, MPSSL_SAN_IP, V4_LOOPBACK, 4);
    x = cert_finish(&d);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::127.0.0.1"), 0);
}

static void test_v4_mapped_v6_host_does_not_match_v4_san(void) {
    test_cert c = {0};
    c.has_san = 1;
    san_add(&c.san_entries, MPSSL_SAN_IP, V4_LOOPBACK, 4);
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "::ffff:127.0.0.1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 1);
}

static void test_malformed_san_der_never_matches(void) {
    /* An entry whose length runs past the end of the GeneralNames. */
    test_cert c = {0};
    c.has_san = 1;
    san_add_text(&c.san_entries, MPSSL_SAN_DNS, "example.com");
    static const uint8_t overrun[] = {0x82, 0x20, 'x'};
    der_put(&c.san_entries, overrun, sizeof overrun);
    const mpssl_x509 *x = cert_finish(&c);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "example.com"), 0);

    /* The outer SEQUENCE claims more bytes than the blob holds. */
    test_cert d = {0};
    d.has_san = 1;
    san_add_text(&d.san_entries, MPSSL_SAN_DNS, "example.com");
    name_add_cn(&d.rdns, "example.com");
    cert_finish(&d);
    d.x509.san.len -= 3;
    CHECK_EQ_INT(mpssl_cert_matches_host(&d.x509, "example.com"), 0);

    /* Not a SEQUENCE at all. */
    static const uint8_t garbage[] = {0x04, 0x02, 'h', 'i'};
    d.x509.san = (mpssl_blob){garbage, sizeof garbage};
    CHECK_EQ_INT(mpssl_cert_matches_host(&d.x509, "example.com"), 0);
}

static void test_malformed_subject_never_matches(void) {
    test_cert c = {0};
    name_add_cn(&c.rdns, "example.com");
    cert_finish(&c);
    c.x509.subject.len -= 2; /* cut into the CN value */
    CHECK_EQ_INT(mpssl_cert_matches_host(&c.x509, "example.com"), 0);
}

static void test_cert_without_any_identity_matches_nothing(void) {
    test_cert c = {0};
    const mpssl_x509 *x = cert_finish(&c); /* empty subject, no SAN */
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, "127.0.0.1"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(NULL, "example.com"), 0);
    CHECK_EQ_INT(mpssl_cert_matches_host(x, NULL), 0);
}

int main(void) {
    RUN(test_ipv4_dotted_quads_parse_to_four_bytes);
    RUN(test_ipv6_full_compressed_and_mixed_forms_parse);
    RUN(test_malformed_ip_literals_are_not_ip);
    RUN(test_check_hostname_accepts_dns_names_and_ip_literals);
    RUN(test_check_hostname_rejects_malformed_names);
    RUN(test_check_hostname_enforces_label_and_total_lengths);
    RUN(test_exact_names_match_case_insensitively);
    RUN(test_one_trailing_dot_is_ignored_on_either_side);
    RUN(test_wildcard_matches_exactly_one_leftmost_label);
    RUN(test_partial_and_misplaced_wildcards_never_match);
    RUN(test_wildcard_needs_two_labels_after_it);
    RUN(test_empty_labels_never_match);
    RUN(test_idna_a_labels_match_exactly_and_under_wildcard);
    RUN(test_nul_and_non_ascii_patterns_never_match);
    RUN(test_dns_san_matches_dns_host);
    RUN(test_cn_used_only_when_cert_has_no_san);
    RUN(test_organization_attribute_is_never_an_identity);
    RUN(test_every_cn_is_tried);
    RUN(test_cn_ignored_when_dns_san_present);
    RUN(test_cn_ignored_when_only_ip_san_present);
    RUN(test_email_and_uri_sans_do_not_disable_cn_fallback);
    RUN(test_ip_literal_cn_never_matches_ip_host);
    RUN(test_ip_host_never_matches_dns_san_text);
    RUN(test_dns_host_never_matches_ip_san);
    RUN(test_ip_san_matches_same_family_and_bytes);
    RUN(test_ip_san_family_mismatch_never_matches);
    RUN(test_v4_mapped_v6_host_does_not_match_v4_san);
    RUN(test_malformed_san_der_never_matches);
    RUN(test_malformed_subject_never_matches);
    RUN(test_cert_without_any_identity_matches_nothing);
    return DONE();
}
