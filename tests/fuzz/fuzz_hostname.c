/*
 * fuzz_hostname.c - host-name and IP matching (core/hostname.h), checked
 * against independent statements of the rules.
 *
 * Input: byte 0 = mode (bit 0: the pattern bytes are a DER certificate),
 * bytes 1-2 = pattern length (little-endian, clamped), then the pattern,
 * then the host (up to its first NUL, as a C string would be).
 *
 * Invariants (abort on violation):
 *   - IP literals: mpssl_parse_ip agrees with glibc's inet_pton (which is
 *     as strict: dotted quads without leading zeros, RFC 4291 text), and
 *     the address printed by inet_ntop parses back to the same bytes;
 *   - mpssl_check_hostname accepts exactly IP literals and valid DNS names;
 *   - mpssl_dns_pattern_matches equals a reference matcher written from
 *     hostname.h's description (so a pattern holding NUL or a non-ASCII
 *     byte never matches, a wildcard never spans dots or claims a TLD);
 *     changing the host's letter case never changes the answer;
 *   - certificate mode: a match is explained by an IP SAN with the same
 *     bytes (IP host), or a DNS SAN / commonName that matches (DNS host),
 *     and the commonName only counts when there is no DNS or IP SAN.
 */
#include "hostname.h"
#include "mpssl.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX 1024
#define ITER_LIMIT 4096

static void require(int condition) {
    if (!condition)
        abort();
}

static unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int same_nocase(const uint8_t *a, const uint8_t *b, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

static size_t strip_dot(const uint8_t *s, size_t len) {
    return len > 0 && s[len - 1] == '.' ? len - 1 : len;
}

/* ------------------------------------------------------------------------ */
/* Reference rules                                                          */
/* ------------------------------------------------------------------------ */

/* Labels of 1..63 letters, digits, '-' or '_'; 1..253 bytes in all. */
static int ref_dns_name(const uint8_t *s, size_t len) {
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63)
            return 0;
    }
    return label > 0;
}

static size_t count_char(const uint8_t *s, size_t len, uint8_t c) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

/* The pattern side: non-empty ASCII without NUL, no empty label, '*' only
 * as the whole first label. */
static int ref_pattern_ok(const uint8_t *p, size_t len) {
    if (len == 0 || memchr(p, '\0', len))
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] >= 0x80)
            return 0;
        if (p[i] == '.' && (i == 0 || p[i - 1] == '.'))
            return 0;
        if (p[i] == '*' && !(i == 0 && (len == 1 || p[1] == '.')))
            return 0;
    }
    return p[len - 1] != '.';
}

static int ref_matches(const uint8_t *pattern, size_t plen, const char *host) {
    const uint8_t *h = (const uint8_t *)host;
    size_t hlen = strip_dot(h, strlen(host));

    plen = strip_dot(pattern, plen);
    if (!ref_dns_name(h, hlen) || !ref_pattern_ok(pattern, plen))
        return 0;
    if (pattern[0] != '*')
        return plen == hlen && same_nocase(pattern, h, hlen);
    /* "*.x.y": one whole host label, and at least two labels after it. */
    if (count_char(pattern, plen, '.') < 2)
        return 0;
    const uint8_t *dot = memchr(h, '.', hlen);
    if (dot == NULL || dot == h)
        return 0;
    size_t rest = hlen - (size_t)(dot - h);
    return rest == plen - 1 && same_nocase(dot, pattern + 1, rest);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

static void check_ip(const char *host) {
    uint8_t ours[16], theirs[16], again[16];
    char text[INET6_ADDRSTRLEN];
    int n = mpssl_parse_ip(host, ours);
    int v4 = inet_pton(AF_INET, host, theirs) == 1;
    int v6 = !v4 && inet_pton(AF_INET6, host, theirs) == 1;

    require(n == 0 || n == 4 || n == 16);
    require(n == (v4 ? 4 : v6 ? 16 : 0));
    if (n == 0)
        return;
    require(memcmp(ours, theirs, (size_t)n) == 0);
    require(inet_ntop(n == 4 ? AF_INET : AF_INET6, ours, text, sizeof text) !=
            NULL);
    require(mpssl_parse_ip(text, again) == n);
    require(memcmp(ours, again, (size_t)n) == 0);
}

static void check_hostname_rule(const char *host) {
    uint8_t ip[16];
    const uint8_t *h = (const uint8_t *)host;
    int valid = mpssl_parse_ip(host, ip) > 0 ||
                ref_dns_name(h, strip_dot(h, strlen(host)));

    require((mpssl_check_hostname(host) == 0) == valid);
}

static void check_pattern(const uint8_t *pattern, size_t plen,
                          const char *host) {
    char flipped[HOST_MAX];
    size_t hlen = strlen(host);
    int r = mpssl_dns_pattern_matches(pattern, plen, host);

    require(r == 0 || r == 1);
    require(r == ref_matches(pattern, plen, host));
    if (memchr(pattern, '\0', plen))
        require(r == 0);
    for (size_t i = 0; i <= hlen; i++) {
        unsigned char c = (unsigned char)host[i];
        flipped[i] = (char)(c >= 'a' && c <= 'z'   ? c - 'a' + 'A'
                            : c >= 'A' && c <= 'Z' ? c - 'A' + 'a'
                                                   : c);
    }
    require(mpssl_dns_pattern_matches(pattern, plen, flipped) == r);
}

/* What in the certificate names the host: 1 if something does. */
static int explained_by(const mpssl_x509 *cert, const char *host) {
    uint8_t ip[16];
    int ip_len = mpssl_parse_ip(host, ip), identity = 0, named = 0;
    size_t pos = 0;
    mpssl_x509_san san;
    mpssl_x509_attr attr;

    for (int i = 0;
         i < ITER_LIMIT && mpssl_x509_san_next(&cert->san, &pos, &san) == 1;
         i++) {
        if (san.type == MPSSL_SAN_IP) {
            identity = 1;
            named |= ip_len > 0 && san.value.len == (size_t)ip_len &&
                     memcmp(san.value.data, ip, san.value.len) == 0;
        } else if (san.type == MPSSL_SAN_DNS) {
            identity = 1;
            named |= ip_len == 0 && mpssl_dns_pattern_matches(
                                        san.value.data, san.value.len, host);
        }
    }
    if (named || identity || ip_len > 0)
        return named;
    pos = 0;
    for (int i = 0; i < ITER_LIMIT &&
                    mpssl_x509_name_next(&cert->subject, &pos, &attr) == 1;
         i++) {
        if (strcmp(attr.attr, "commonName") == 0)
            named |= mpssl_dns_pattern_matches(attr.value.data, attr.value.len,
                                               host);
    }
    return named;
}

static void check_cert(const uint8_t *der, size_t len, const char *host) {
    mpssl_x509 cert;

    if (mpssl_x509_parse(der, len, &cert) != 0)
        return;
    if (mpssl_cert_matches_host(&cert, host))
        require(explained_by(&cert, host));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char host[HOST_MAX];
    size_t plen, hlen;
    const uint8_t *pattern;

    if (size < 3)
        return 0;
    plen = (size_t)(data[1] | data[2] << 8);
    if (plen > size - 3)
        plen = size - 3;
    pattern = data + 3;
    hlen = size - 3 - plen;
    if (hlen > HOST_MAX - 1)
        hlen = HOST_MAX - 1;
    memcpy(host, pattern + plen, hlen);
    host[hlen] = '\0';

    check_ip(host);
    check_hostname_rule(host);
    if (data[0] & 1)
        check_cert(pattern, plen, host);
    else
        check_pattern(pattern, plen, host);
    return 0;
}
