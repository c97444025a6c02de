/*
 * hostname.h - server identity checks (RFC 6125 as the contract words it).
 *
 * The core, not the library, decides whether a certificate names the host,
 * so the answer is the same on every backend.
 */
#ifndef MPSSL_HOSTNAME_H
#define MPSSL_HOSTNAME_H

#include "mpssl.h"

/*
 * Parses an IP literal: dotted-quad IPv4 (exactly four decimal parts, no
 * leading zeros beyond a lone 0, each <= 255) or textual IPv6 (RFC 4291,
 * with "::" compression and an embedded IPv4 tail; no zone id, no
 * brackets).  Returns 4 or 16 and writes the address bytes to out, or 0
 * when s is not an IP literal.
 */
int mpssl_parse_ip(const char *s, uint8_t out[16]);

/*
 * Validates a server_hostname for use as SNI/reference identity: a DNS name
 * of ASCII letters, digits, '-', '_' and '.', labels of 1..63 bytes, total
 * <= 253 (a single trailing dot allowed), or an IP literal.  0 or
 * MPSSL_EBAD_HOSTNAME.  Ports convert internationalised names to A-labels
 * (IDNA) before calling.
 */
int mpssl_check_hostname(const char *host);

/*
 * Matches one DNS-ID pattern from a certificate against a DNS host name:
 * case-insensitive (ASCII), one trailing dot ignored on either side; a
 * wildcard only as the entire left-most label ("*.example.com"), matching
 * exactly one non-empty label, never across dots; no wildcard with fewer
 * than two labels after it ("*.com" never matches); a wildcard never
 * matches an IDNA A-label pattern ("*.xn--..." is fine, "xn--*" is not a
 * wildcard).  Patterns with NUL or non-ASCII bytes never match.  1 or 0.
 */
int mpssl_dns_pattern_matches(const uint8_t *pattern, size_t pattern_len,
                              const char *host);

/*
 * Does the parsed certificate name host?  host is a DNS name or an IP
 * literal (already checked by mpssl_check_hostname).
 * - IP literal: only IP-address SANs of the same family and bytes match.
 * - DNS name: DNS SANs via mpssl_dns_pattern_matches; the subject's
 *   commonName (each one, with the same rules) is consulted only when the
 *   certificate has no DNS and no IP SAN.
 * Returns 1 on a match, 0 otherwise (also for a malformed SAN or Name).
 */
int mpssl_cert_matches_host(const mpssl_x509 *cert, const char *host);

#endif /* MPSSL_HOSTNAME_H */
