/*
 * hostname.c - server identity checks (see hostname.h).
 *
 * Everything here works on bytes and ASCII rules only: no libc resolver
 * helpers (inet_pton, strcasecmp, locale-dependent tolower), so the core
 * behaves the same on bare metal as on a hosted system.
 */
#include "hostname.h"

#include <string.h>

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
#define IPV4_LEN 4
#define IPV6_LEN 16
#define IPV6_GROUPS 8

/* ------------------------------------------------------------------------ */
/* Character helpers (ASCII only, locale-independent)                       */
/* ------------------------------------------------------------------------ */

static int is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c) {
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static unsigned char ascii_lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int is_dns_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           c == '-' || c == '_';
}

static int ascii_equal_nocase(const uint8_t *a, const uint8_t *b, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* IP literals                                                              */
/* ------------------------------------------------------------------------ */

/* One decimal IPv4 part: 1..3 digits, no leading zero except a lone "0"
 * (a leading zero means octal to some parsers, so it is ambiguous). */
static int parse_ipv4_part(const char *s, size_t len, uint8_t *out) {
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) {
        return 0;
    }
    unsigned value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i])) {
            return 0;
        }
        value = value * 10 + (unsigned)(s[i] - '0');
    }
    if (value > 255) {
        return 0;
    }
    *out = (uint8_t)value;
    return 1;
}

/* Exactly four dot-separated parts filling s[0..len). */
static int parse_ipv4(const char *s, size_t len, uint8_t out[IPV4_LEN]) {
    size_t start = 0;
    int part = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            continue;
        }
        if (part == IPV4_LEN ||
            !parse_ipv4_part(s + start, i - start, &out[part])) {
            return 0;
        }
        part++;
        start = i + 1;
    }
    return part == IPV4_LEN;
}

/* One group of 1..4 hex digits. */
static int parse_ipv6_group(const char *s, size_t len, uint16_t *out) {
    if (len == 0 || len > 4) {
        return 0;
    }
    unsigned value = 0;
    for (size_t i = 0; i < len; i++) {
        int h = hex_value((unsigned char)s[i]);
        if (h < 0) {
            return 0;
        }
        value = (value << 4) | (unsigned)h;
    }
    *out = (uint16_t)value;
    return 1;
}

/*
 * RFC 4291 text: groups separated by ':', at most one "::" standing for one
 * or more zero groups, and optionally a dotted IPv4 tail worth two groups.
 */
static int parse_ipv6(const char *s, uint8_t out[IPV6_LEN]) {
    uint16_t groups[IPV6_GROUPS];
    int count = 0;
    int gap = -1; /* index of the group the "::" stands before */
    const char *p = s;

    if (p[0] == ':') {
        if (p[1] != ':') {
            return 0;
        }
        gap = 0;
        p += 2;
    }
    while (*p != '\0') {
        const char *end = p;
        int has_dot = 0;
        while (*end != '\0' && *end != ':') {
            has_dot |= (*end == '.');
            end++;
        }
        size_t len = (size_t)(end - p);
        if (has_dot) {
            /* The IPv4 tail must be last and leave room for two groups. */
            uint8_t v4[IPV4_LEN];
            if (*end != '\0' || count > IPV6_GROUPS - 2 ||
                !parse_ipv4(p, len, v4)) {
                return 0;
            }
            groups[count++] = (uint16_t)(v4[0] << 8 | v4[1]);
            groups[count++] = (uint16_t)(v4[2] << 8 | v4[3]);
            break;
        }
        if (count == IPV6_GROUPS || !parse_ipv6_group(p, len, &groups[count])) {
            return 0;
        }
        count++;
        if (*end == '\0') {
            break;
        }
        if (end[1] == ':') {
            if (gap >= 0) {
                return 0;
            }
            gap = count;
            p = end + 2;
        } else {
            p = end + 1;
            if (*p == '\0') {
                return 0; /* a single trailing ':' */
            }
        }
    }

    if (gap < 0 ? count != IPV6_GROUPS : count >= IPV6_GROUPS) {
        return 0;
    }
    int zeros = IPV6_GROUPS - count;
    for (int i = 0, g = 0; i < IPV6_GROUPS; i++) {
        uint16_t value = 0;
        if (gap >= 0 && i >= gap && i < gap + zeros) {
            value = 0;
        } else {
            value = groups[g++];
        }
        out[2 * i] = (uint8_t)(value >> 8);
        out[2 * i + 1] = (uint8_t)(value & 0xff);
    }
    return 1;
}

int mpssl_parse_ip(const char *s, uint8_t out[16]) {
    if (s == NULL) {
        return 0;
    }
    uint8_t buf[IPV6_LEN];
    if (strchr(s, ':') != NULL) {
        if (!parse_ipv6(s, buf)) {
            return 0;
        }
        memcpy(out, buf, IPV6_LEN);
        return IPV6_LEN;
    }
    if (!parse_ipv4(s, strlen(s), buf)) {
        return 0;
    }
    memcpy(out, buf, IPV4_LEN);
    return IPV4_LEN;
}

/* ------------------------------------------------------------------------ */
/* DNS names                                                                */
/* ------------------------------------------------------------------------ */

/* Drops one trailing dot: "example.com." and "example.com" are the same
 * absolute name. */
static size_t without_trailing_dot(const uint8_t *s, size_t len) {
    return (len > 0 && s[len - 1] == '.') ? len - 1 : len;
}

/* A DNS name (trailing dot already removed): labels of 1..63 allowed
 * characters, at most 253 bytes in all. */
static int dns_name_valid(const uint8_t *s, size_t len) {
    if (len == 0 || len > DNS_NAME_MAX) {
        return 0;
    }
    size_t label_len = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label_len == 0) {
                return 0;
            }
            label_len = 0;
        } else if (!is_dns_char(s[i]) || ++label_len > DNS_LABEL_MAX) {
            return 0;
        }
    }
    return label_len > 0;
}

int mpssl_check_hostname(const char *host) {
    uint8_t ip[IPV6_LEN];
    if (host == NULL) {
        return MPSSL_EBAD_HOSTNAME;
    }
    if (mpssl_parse_ip(host, ip) > 0) {
        return 0;
    }
    const uint8_t *name = (const uint8_t *)host;
    if (!dns_name_valid(name, without_trailing_dot(name, strlen(host)))) {
        return MPSSL_EBAD_HOSTNAME;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Pattern matching                                                         */
/* ------------------------------------------------------------------------ */

static size_t count_labels(const uint8_t *s, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) {
        n += (s[i] == '.');
    }
    return n;
}

/*
 * A pattern (trailing dot removed) is usable when it is non-empty ASCII
 * without NUL, has no empty label, and contains '*' only as the entire
 * left-most label.  *wildcard tells whether it starts with that label.
 * Anything else (partial wildcards such as "f*" or "xn--*", a '*' further
 * right) can never match: RFC 6125 leaves them to local policy and the
 * strict reading is the one every backend can share.
 */
static int pattern_usable(const uint8_t *p, size_t len, int *wildcard) {
    if (len == 0) {
        return 0;
    }
    size_t label_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '.') {
            if (p[i] == 0 || p[i] >= 0x80) {
                return 0;
            }
            continue;
        }
        size_t label_len = i - label_start;
        if (label_len == 0) {
            return 0;
        }
        const uint8_t *star = memchr(p + label_start, '*', label_len);
        if (star != NULL && (label_start != 0 || label_len != 1)) {
            return 0;
        }
        label_start = i + 1;
    }
    *wildcard = (p[0] == '*');
    return 1;
}

int mpssl_dns_pattern_matches(const uint8_t *pattern, size_t pattern_len,
                              const char *host) {
    if (pattern == NULL || host == NULL) {
        return 0;
    }
    const uint8_t *h = (const uint8_t *)host;
    size_t h_len = without_trailing_dot(h, strlen(host));
    size_t p_len = without_trailing_dot(pattern, pattern_len);
    int wildcard = 0;

    /* The host is validated too, so a host holding '*' or an empty label
     * can never be "matched" by a pattern that happens to equal it. */
    if (!dns_name_valid(h, h_len) ||
        !pattern_usable(pattern, p_len, &wildcard)) {
        return 0;
    }
    if (!wildcard) {
        return p_len == h_len && ascii_equal_nocase(pattern, h, h_len);
    }

    /* "*.a.b": the star stands for exactly one host label, and at least two
     * labels must follow it so "*.com" cannot claim a whole TLD. */
    size_t labels = count_labels(pattern, p_len);
    if (labels < 3 || count_labels(h, h_len) != labels) {
        return 0;
    }
    const uint8_t *h_rest = memchr(h, '.', h_len);
    size_t rest_len = h_len - (size_t)(h_rest - h);
    size_t p_rest_len = p_len - 1; /* pattern after the "*" */
    return rest_len == p_rest_len &&
           ascii_equal_nocase(pattern + 1, h_rest, rest_len);
}

/* ------------------------------------------------------------------------ */
/* Certificates                                                             */
/* ------------------------------------------------------------------------ */

enum { SCAN_MALFORMED = -1 };

/*
 * Walks every SAN entry.  Returns SCAN_MALFORMED if the GeneralNames do not
 * parse (even after a match: a certificate we cannot read names nobody),
 * else 1 on a match and 0 otherwise; *has_identity tells whether any DNS or
 * IP entry was present, which is what disables the CN fallback.
 */
static int scan_san(const mpssl_blob *san, const char *host, const uint8_t *ip,
                    int ip_len, int *has_identity) {
    size_t pos = 0;
    int matched = 0;
    mpssl_x509_san entry;

    *has_identity = 0;
    if (san->len == 0) {
        return 0;
    }
    for (;;) {
        size_t before = pos;
        int r = mpssl_x509_san_next(san, &pos, &entry);
        if (r < 0 || (r > 0 && pos <= before)) {
            return SCAN_MALFORMED; /* also guards against a stalled reader */
        }
        if (r == 0) {
            break;
        }
        if (entry.type == MPSSL_SAN_DNS) {
            *has_identity = 1;
            matched |=
                ip_len == 0 && mpssl_dns_pattern_matches(entry.value.data,
                                                         entry.value.len, host);
        } else if (entry.type == MPSSL_SAN_IP) {
            *has_identity = 1;
            matched |= ip_len > 0 && entry.value.len == (size_t)ip_len &&
                       memcmp(entry.value.data, ip, (size_t)ip_len) == 0;
        }
    }
    return matched;
}

/* The legacy fallback: every subject commonName, as a DNS pattern. */
static int scan_common_names(const mpssl_blob *subject, const char *host) {
    size_t pos = 0;
    int matched = 0;
    mpssl_x509_attr attr;

    if (subject->len == 0) {
        return 0;
    }
    for (;;) {
        size_t before = pos;
        int r = mpssl_x509_name_next(subject, &pos, &attr);
        if (r < 0 || (r > 0 && pos <= before)) {
            return SCAN_MALFORMED;
        }
        if (r == 0) {
            break;
        }
        if (attr.attr != NULL && strcmp(attr.attr, "commonName") == 0) {
            matched |= mpssl_dns_pattern_matches(attr.value.data,
                                                 attr.value.len, host);
        }
    }
    return matched;
}

int mpssl_cert_matches_host(const mpssl_x509 *cert, const char *host) {
    uint8_t ip[IPV6_LEN];
    int has_identity = 0;

    if (cert == NULL || host == NULL) {
        return 0;
    }
    int ip_len = mpssl_parse_ip(host, ip);
    int r = scan_san(&cert->san, host, ip, ip_len, &has_identity);
    if (r != 0) {
        return r > 0;
    }
    /* RFC 6125 6.4.4: the CN is a DNS name only and only a fallback. */
    if (has_identity || ip_len > 0) {
        return 0;
    }
    return scan_common_names(&cert->subject, host) > 0;
}
