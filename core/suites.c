/*
 * suites.c - the IANA cipher-suite table, name lookup and default policy.
 *
 * How the table was derived (Debian bookworm, re-derive when a library is
 * upgraded): the union of the suite ids that
 *   - OpenSSL 3.0 lists for `openssl ciphers -V 'ALL:COMPLEMENTOFALL:
 *     @SECLEVEL=0'` and `openssl ciphers -V -s -tls1_3`,
 *   - GnuTLS 3.7.9 lists in `gnutls-cli --list`,
 *   - mbedTLS 2.28 and 3.6 define in ssl_ciphersuites.h (every one of them
 *     has an implementation row in the library's ssl_ciphersuites.c),
 *   - BearSSL 0.6 defines in bearssl_ssl.h,
 * named from the IANA TLS Cipher Suites registry, minus:
 *   - signalling values (0x0000, 0x00FF, 0x5600), which are not suites;
 *   - BearSSL's static DH_DSS / DH_RSA constants: the header defines them
 *     for reference only, BearSSL has no finite-field DH, and no other
 *     library implements them;
 *   - GnuTLS's 0x0066 (a pre-standard DHE-DSS RC4 suite with no IANA name)
 *     and mbedTLS's 0xC0FF (EC J-PAKE, a private-use id): neither has an
 *     IANA name to report.
 *
 * Flags follow the suite name: FORBIDDEN for NULL encryption, anonymous
 * key exchange, export, RC4, DES, 3DES, IDEA and MD5 MACs; NEEDS_PSK for
 * PSK, DHE_PSK, ECDHE_PSK, RSA_PSK and SRP.  ECDSA and RSA_AUTH describe the
 * server's key: static ECDH_RSA needs an EC key too (only its issuer signs
 * with RSA), so it carries ECDSA.  DSS, PSK-only, GOST and TLS 1.3 suites
 * carry neither.
 */
#include "suites.h"

#include "mpssl.h"

#include <string.h>

/* Short local spellings so that each row fits on a line. */
#define T13 MPSSL_SUITE_TLS13
#define BAN MPSSL_SUITE_FORBIDDEN
#define PSK MPSSL_SUITE_NEEDS_PSK
#define AEAD MPSSL_SUITE_AEAD
#define PFS MPSSL_SUITE_PFS
#define ECDSA MPSSL_SUITE_ECDSA
#define RSA MPSSL_SUITE_RSA_AUTH

/*
 * Sorted by id (the unit test checks it; mpssl_suite_find relies on it).
 * The alias column holds mbedTLS's own name where it is not the mechanical
 * '_' -> '-' spelling of the IANA name.
 */
static const mpssl_suite_info suite_table[] = {
    {0x0001, "TLS_RSA_WITH_NULL_MD5", NULL, BAN | RSA},
    {0x0002, "TLS_RSA_WITH_NULL_SHA", NULL, BAN | RSA},
    {0x0004, "TLS_RSA_WITH_RC4_128_MD5", NULL, BAN | RSA},
    {0x0005, "TLS_RSA_WITH_RC4_128_SHA", NULL, BAN | RSA},
    {0x0009, "TLS_RSA_WITH_DES_CBC_SHA", NULL, BAN | RSA},
    {0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | RSA},
    {0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PFS},
    {0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", NULL, BAN | PFS | RSA},
    {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PFS | RSA},
    {0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", NULL, BAN},
    {0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", NULL, BAN},
    {0x002C, "TLS_PSK_WITH_NULL_SHA", NULL, BAN | PSK},
    {0x002D, "TLS_DHE_PSK_WITH_NULL_SHA", NULL, BAN | PSK | PFS},
    {0x002E, "TLS_RSA_PSK_WITH_NULL_SHA", NULL, BAN | PSK | RSA},
    {0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", NULL, RSA},
    {0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", NULL, PFS},
    {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", NULL, PFS | RSA},
    {0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", NULL, BAN},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", NULL, RSA},
    {0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", NULL, PFS},
    {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", NULL, PFS | RSA},
    {0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA", NULL, BAN},
    {0x003B, "TLS_RSA_WITH_NULL_SHA256", NULL, BAN | RSA},
    {0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", NULL, RSA},
    {0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", NULL, RSA},
    {0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", NULL, PFS},
    {0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", NULL, RSA},
    {0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", NULL, PFS},
    {0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", NULL, PFS | RSA},
    {0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", NULL, BAN},
    {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", NULL, PFS | RSA},
    {0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", NULL, PFS},
    {0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", NULL, PFS | RSA},
    {0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256", NULL, BAN},
    {0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256", NULL, BAN},
    {0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", NULL, RSA},
    {0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", NULL, PFS},
    {0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", NULL, PFS | RSA},
    {0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", NULL, BAN},
    {0x008A, "TLS_PSK_WITH_RC4_128_SHA", NULL, BAN | PSK},
    {0x008B, "TLS_PSK_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK},
    {0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA", NULL, PSK},
    {0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA", NULL, PSK},
    {0x008E, "TLS_DHE_PSK_WITH_RC4_128_SHA", NULL, BAN | PSK | PFS},
    {0x008F, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK | PFS},
    {0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA", NULL, PSK | PFS},
    {0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA", NULL, PSK | PFS},
    {0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA", NULL, BAN | PSK | RSA},
    {0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK | RSA},
    {0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA", NULL, PSK | RSA},
    {0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA", NULL, PSK | RSA},
    {0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", NULL, AEAD | RSA},
    {0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", NULL, AEAD | RSA},
    {0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", NULL, AEAD | PFS | RSA},
    {0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", NULL, AEAD | PFS | RSA},
    {0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", NULL, AEAD | PFS},
    {0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", NULL, AEAD | PFS},
    {0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", NULL, BAN | AEAD},
    {0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384", NULL, BAN | AEAD},
    {0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", NULL, PSK | AEAD},
    {0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384", NULL, PSK | AEAD},
    {0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", NULL, PSK | AEAD | PFS},
    {0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", NULL, PSK | AEAD | PFS},
    {0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", NULL, PSK | AEAD | RSA},
    {0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384", NULL, PSK | AEAD | RSA},
    {0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256", NULL, PSK},
    {0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384", NULL, PSK},
    {0x00B0, "TLS_PSK_WITH_NULL_SHA256", NULL, BAN | PSK},
    {0x00B1, "TLS_PSK_WITH_NULL_SHA384", NULL, BAN | PSK},
    {0x00B2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256", NULL, PSK | PFS},
    {0x00B3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", NULL, PSK | PFS},
    {0x00B4, "TLS_DHE_PSK_WITH_NULL_SHA256", NULL, BAN | PSK | PFS},
    {0x00B5, "TLS_DHE_PSK_WITH_NULL_SHA384", NULL, BAN | PSK | PFS},
    {0x00B6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256", NULL, PSK | RSA},
    {0x00B7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384", NULL, PSK | RSA},
    {0x00B8, "TLS_RSA_PSK_WITH_NULL_SHA256", NULL, BAN | PSK | RSA},
    {0x00B9, "TLS_RSA_PSK_WITH_NULL_SHA384", NULL, BAN | PSK | RSA},
    {0x00BA, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, RSA},
    {0x00BD, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256", NULL, PFS},
    {0x00BE, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, PFS | RSA},
    {0x00BF, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256", NULL, BAN},
    {0x00C0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", NULL, RSA},
    {0x00C3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256", NULL, PFS},
    {0x00C4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", NULL, PFS | RSA},
    {0x00C5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256", NULL, BAN},
    {0x1301, "TLS_AES_128_GCM_SHA256", NULL, T13 | AEAD | PFS},
    {0x1302, "TLS_AES_256_GCM_SHA384", NULL, T13 | AEAD | PFS},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", NULL, T13 | AEAD | PFS},
    {0x1304, "TLS_AES_128_CCM_SHA256", NULL, T13 | AEAD | PFS},
    {0x1305, "TLS_AES_128_CCM_8_SHA256", NULL, T13 | AEAD | PFS},
    {0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", NULL, BAN | ECDSA},
    {0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", NULL, BAN | ECDSA},
    {0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | ECDSA},
    {0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", NULL, ECDSA},
    {0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", NULL, ECDSA},
    {0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", NULL, BAN | PFS | ECDSA},
    {0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", NULL, BAN | PFS | ECDSA},
    {0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PFS | ECDSA},
    {0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", NULL, PFS | ECDSA},
    {0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", NULL, PFS | ECDSA},
    {0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA", NULL, BAN | ECDSA},
    {0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA", NULL, BAN | ECDSA},
    {0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | ECDSA},
    {0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", NULL, ECDSA},
    {0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", NULL, ECDSA},
    {0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA", NULL, BAN | PFS | RSA},
    {0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", NULL, BAN | PFS | RSA},
    {0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PFS | RSA},
    {0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", NULL, PFS | RSA},
    {0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", NULL, PFS | RSA},
    {0xC015, "TLS_ECDH_anon_WITH_NULL_SHA", NULL, BAN},
    {0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA", NULL, BAN},
    {0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA", NULL, BAN},
    {0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", NULL, BAN},
    {0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", NULL, BAN},
    {0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK},
    {0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK | RSA},
    {0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK},
    {0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA", NULL, PSK},
    {0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", NULL, PSK | RSA},
    {0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA", NULL, PSK},
    {0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA", NULL, PSK},
    {0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA", NULL, PSK | RSA},
    {0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA", NULL, PSK},
    {0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", NULL, PFS | ECDSA},
    {0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", NULL, PFS | ECDSA},
    {0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", NULL, ECDSA},
    {0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", NULL, ECDSA},
    {0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", NULL, PFS | RSA},
    {0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", NULL, PFS | RSA},
    {0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", NULL, ECDSA},
    {0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", NULL, ECDSA},
    {0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NULL,
     AEAD | PFS | ECDSA},
    {0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", NULL,
     AEAD | PFS | ECDSA},
    {0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL, AEAD | PFS | RSA},
    {0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", NULL, AEAD | PFS | RSA},
    {0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA", NULL, BAN | PSK | PFS},
    {0xC034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA", NULL, BAN | PSK | PFS},
    {0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", NULL, PSK | PFS},
    {0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", NULL, PSK | PFS},
    {0xC037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", NULL, PSK | PFS},
    {0xC038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384", NULL, PSK | PFS},
    {0xC039, "TLS_ECDHE_PSK_WITH_NULL_SHA", NULL, BAN | PSK | PFS},
    {0xC03A, "TLS_ECDHE_PSK_WITH_NULL_SHA256", NULL, BAN | PSK | PFS},
    {0xC03B, "TLS_ECDHE_PSK_WITH_NULL_SHA384", NULL, BAN | PSK | PFS},
    {0xC03C, "TLS_RSA_WITH_ARIA_128_CBC_SHA256", NULL, RSA},
    {0xC03D, "TLS_RSA_WITH_ARIA_256_CBC_SHA384", NULL, RSA},
    {0xC044, "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256", NULL, PFS | RSA},
    {0xC045, "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384", NULL, PFS | RSA},
    {0xC048, "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256", NULL, PFS | ECDSA},
    {0xC049, "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384", NULL, PFS | ECDSA},
    {0xC04A, "TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256", NULL, ECDSA},
    {0xC04B, "TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384", NULL, ECDSA},
    {0xC04C, "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256", NULL, PFS | RSA},
    {0xC04D, "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384", NULL, PFS | RSA},
    {0xC04E, "TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256", NULL, ECDSA},
    {0xC04F, "TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384", NULL, ECDSA},
    {0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | RSA},
    {0xC051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | RSA},
    {0xC052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | PFS | RSA},
    {0xC053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | PFS | RSA},
    {0xC056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | PFS},
    {0xC057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | PFS},
    {0xC05C, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", NULL,
     AEAD | PFS | ECDSA},
    {0xC05D, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384", NULL,
     AEAD | PFS | ECDSA},
    {0xC05E, "TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC05F, "TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | PFS | RSA},
    {0xC061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | PFS | RSA},
    {0xC062, "TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC063, "TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC064, "TLS_PSK_WITH_ARIA_128_CBC_SHA256", NULL, PSK},
    {0xC065, "TLS_PSK_WITH_ARIA_256_CBC_SHA384", NULL, PSK},
    {0xC066, "TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256", NULL, PSK | PFS},
    {0xC067, "TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384", NULL, PSK | PFS},
    {0xC068, "TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256", NULL, PSK | RSA},
    {0xC069, "TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384", NULL, PSK | RSA},
    {0xC06A, "TLS_PSK_WITH_ARIA_128_GCM_SHA256", NULL, PSK | AEAD},
    {0xC06B, "TLS_PSK_WITH_ARIA_256_GCM_SHA384", NULL, PSK | AEAD},
    {0xC06C, "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256", NULL, PSK | AEAD | PFS},
    {0xC06D, "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384", NULL, PSK | AEAD | PFS},
    {0xC06E, "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256", NULL, PSK | AEAD | RSA},
    {0xC06F, "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384", NULL, PSK | AEAD | RSA},
    {0xC070, "TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256", NULL, PSK | PFS},
    {0xC071, "TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384", NULL, PSK | PFS},
    {0xC072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, PFS | ECDSA},
    {0xC073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", NULL, PFS | ECDSA},
    {0xC074, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, ECDSA},
    {0xC075, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", NULL, ECDSA},
    {0xC076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, PFS | RSA},
    {0xC077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384", NULL, PFS | RSA},
    {0xC078, "TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256", NULL, ECDSA},
    {0xC079, "TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384", NULL, ECDSA},
    {0xC07A, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256", NULL, AEAD | RSA},
    {0xC07B, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384", NULL, AEAD | RSA},
    {0xC07C, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", NULL,
     AEAD | PFS | RSA},
    {0xC07D, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", NULL,
     AEAD | PFS | RSA},
    {0xC080, "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256", NULL, AEAD | PFS},
    {0xC081, "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384", NULL, AEAD | PFS},
    {0xC084, "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256", NULL, BAN | AEAD},
    {0xC085, "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384", NULL, BAN | AEAD},
    {0xC086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", NULL,
     AEAD | PFS | ECDSA},
    {0xC087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", NULL,
     AEAD | PFS | ECDSA},
    {0xC088, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC089, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC08A, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", NULL,
     AEAD | PFS | RSA},
    {0xC08B, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", NULL,
     AEAD | PFS | RSA},
    {0xC08C, "TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256", NULL, AEAD | ECDSA},
    {0xC08D, "TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384", NULL, AEAD | ECDSA},
    {0xC08E, "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256", NULL, PSK | AEAD},
    {0xC08F, "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384", NULL, PSK | AEAD},
    {0xC090, "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256", NULL,
     PSK | AEAD | PFS},
    {0xC091, "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384", NULL,
     PSK | AEAD | PFS},
    {0xC092, "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256", NULL,
     PSK | AEAD | RSA},
    {0xC093, "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384", NULL,
     PSK | AEAD | RSA},
    {0xC094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256", NULL, PSK},
    {0xC095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384", NULL, PSK},
    {0xC096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", NULL, PSK | PFS},
    {0xC097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", NULL, PSK | PFS},
    {0xC098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256", NULL, PSK | RSA},
    {0xC099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384", NULL, PSK | RSA},
    {0xC09A, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", NULL, PSK | PFS},
    {0xC09B, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", NULL, PSK | PFS},
    {0xC09C, "TLS_RSA_WITH_AES_128_CCM", NULL, AEAD | RSA},
    {0xC09D, "TLS_RSA_WITH_AES_256_CCM", NULL, AEAD | RSA},
    {0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", NULL, AEAD | PFS | RSA},
    {0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", NULL, AEAD | PFS | RSA},
    {0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", NULL, AEAD | RSA},
    {0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", NULL, AEAD | RSA},
    {0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", NULL, AEAD | PFS | RSA},
    {0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", NULL, AEAD | PFS | RSA},
    {0xC0A4, "TLS_PSK_WITH_AES_128_CCM", NULL, PSK | AEAD},
    {0xC0A5, "TLS_PSK_WITH_AES_256_CCM", NULL, PSK | AEAD},
    {0xC0A6, "TLS_DHE_PSK_WITH_AES_128_CCM", NULL, PSK | AEAD | PFS},
    {0xC0A7, "TLS_DHE_PSK_WITH_AES_256_CCM", NULL, PSK | AEAD | PFS},
    {0xC0A8, "TLS_PSK_WITH_AES_128_CCM_8", NULL, PSK | AEAD},
    {0xC0A9, "TLS_PSK_WITH_AES_256_CCM_8", NULL, PSK | AEAD},
    {0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8", "TLS-DHE-PSK-WITH-AES-128-CCM-8",
     PSK | AEAD | PFS},
    {0xC0AB, "TLS_PSK_DHE_WITH_AES_256_CCM_8", "TLS-DHE-PSK-WITH-AES-256-CCM-8",
     PSK | AEAD | PFS},
    {0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", NULL, AEAD | PFS | ECDSA},
    {0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", NULL, AEAD | PFS | ECDSA},
    {0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", NULL, AEAD | PFS | ECDSA},
    {0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", NULL, AEAD | PFS | ECDSA},
    {0xC102, "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT", NULL, 0},
    {0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", NULL,
     AEAD | PFS | RSA},
    {0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", NULL,
     AEAD | PFS | ECDSA},
    {0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", NULL,
     AEAD | PFS | RSA},
    {0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", NULL, PSK | AEAD},
    {0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", NULL,
     PSK | AEAD | PFS},
    {0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256", NULL,
     PSK | AEAD | PFS},
    {0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256", NULL,
     PSK | AEAD | RSA},
};

#undef T13
#undef BAN
#undef PSK
#undef AEAD
#undef PFS
#undef ECDSA
#undef RSA

#define SUITE_COUNT (sizeof suite_table / sizeof suite_table[0])

/* Longer than any name in the table; longer input cannot match and is
 * rejected before it is scanned. */
#define SUITE_NAME_MAX 64

/*
 * The default preference order.  Rationale, applied the same way in every
 * group: forward secrecy and AEAD first; within a group the ECDSA suites
 * before the RSA ones (suites.h), and per certificate type AES-128-GCM,
 * then AES-256-GCM, then ChaCha20-Poly1305, the same order as the TLS 1.3
 * list (AES-128 is no weaker in practice and is faster; hardware AES is
 * common, ChaCha20 stays as the fallback for peers without it).  CBC comes
 * last, SHA-2 MACs before SHA-1.  TLS 1.3 CCM suites, plain-RSA key
 * exchange, Camellia, ARIA and static ECDH are allowed but never default.
 */
/* clang-format off */
static const uint16_t default_order[] = {
    /* TLS 1.3 */
    0x1301, 0x1302, 0x1303,
    /* ECDHE-ECDSA AEAD, then ECDHE-RSA AEAD */
    0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8,
    /* DHE-RSA AEAD */
    0x009E, 0x009F, 0xCCAA,
    /* ECDHE CBC with SHA-2 */
    0xC023, 0xC024, 0xC027, 0xC028,
    /* ECDHE CBC with SHA-1 */
    0xC009, 0xC00A, 0xC013, 0xC014,
};
/* clang-format on */

const mpssl_suite_info *mpssl_suite_table(size_t *n) {
    if (n) {
        *n = SUITE_COUNT;
    }
    return suite_table;
}

const mpssl_suite_info *mpssl_suite_find(uint16_t id) {
    size_t lo = 0, hi = SUITE_COUNT;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (suite_table[mid].id == id) {
            return &suite_table[mid];
        }
        if (suite_table[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/*
 * 1 when name[0..len) equals ref case-insensitively, where each '_' of ref
 * must appear as sep in name.  ref is NUL-terminated.
 */
static int equals_with_sep(const char *name, size_t len, const char *ref,
                           char sep) {
    size_t i;

    for (i = 0; i < len; i++) {
        char want = ref[i] == '_' ? sep : ascii_upper(ref[i]);
        if (ref[i] == '\0' || ascii_upper(name[i]) != want) {
            return 0;
        }
    }
    return ref[len] == '\0';
}

static int has_prefix(const char *name, size_t len, const char *prefix) {
    size_t n = strlen(prefix);

    return len >= n && equals_with_sep(name, n, prefix, '_');
}

/*
 * IANA names never contain '-' and mbedTLS names never contain '_', so a
 * name is in exactly one spelling; one that mixes them matches nothing.
 */
static char separator_of(const char *name, size_t len) {
    int underscore = memchr(name, '_', len) != NULL;
    int dash = memchr(name, '-', len) != NULL;

    if (underscore && dash) {
        return '\0';
    }
    return dash ? '-' : '_';
}

static int row_matches(const mpssl_suite_info *row, const char *name,
                       size_t len, char sep) {
    if (equals_with_sep(name, len, row->iana, sep)) {
        return 1;
    }
    if (row->alias && equals_with_sep(name, len, row->alias, '-')) {
        return 1;
    }
    /* mbedTLS 3.x spells TLS 1.3 suites "TLS1-3-<rest of the IANA name>". */
    if (sep == '-' && (row->flags & MPSSL_SUITE_TLS13) &&
        has_prefix(name, len, "TLS1-3-")) {
        return equals_with_sep(name + 7, len - 7, row->iana + 4, '-');
    }
    return 0;
}

const mpssl_suite_info *mpssl_suite_find_name(const char *name, size_t len) {
    size_t i;
    char sep;

    if (!name || len == 0 || len > SUITE_NAME_MAX ||
        memchr(name, '\0', len) != NULL) {
        return NULL;
    }
    sep = separator_of(name, len);
    if (sep == '\0') {
        return NULL;
    }
    for (i = 0; i < SUITE_COUNT; i++) {
        if (row_matches(&suite_table[i], name, len, sep)) {
            return &suite_table[i];
        }
    }
    return NULL;
}

int mpssl_suite_allowed(uint16_t id) {
    const mpssl_suite_info *row = mpssl_suite_find(id);

    return row != NULL &&
           (row->flags & (MPSSL_SUITE_FORBIDDEN | MPSSL_SUITE_NEEDS_PSK)) == 0;
}

static int contains_id(const uint16_t *ids, size_t n, uint16_t id) {
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id) {
            return 1;
        }
    }
    return 0;
}

size_t mpssl_suite_defaults(const uint16_t *supported, size_t n_supported,
                            uint16_t *out, size_t cap) {
    size_t i, n = 0;

    if (!supported || !out) {
        return 0;
    }
    for (i = 0; i < sizeof default_order / sizeof default_order[0]; i++) {
        uint16_t id = default_order[i];
        if (n == cap) {
            break;
        }
        /* The allowed() check guards against a future edit of the order
         * slipping in a suite the policy forbids. */
        if (mpssl_suite_allowed(id) &&
            contains_id(supported, n_supported, id)) {
            out[n++] = id;
        }
    }
    return n;
}

const char *mpssl_suite_name(uint16_t id) {
    const mpssl_suite_info *row = mpssl_suite_find(id);

    return row ? row->iana : NULL;
}

int mpssl_suite_lookup(const char *name, size_t len, uint16_t *id) {
    const mpssl_suite_info *row = mpssl_suite_find_name(name, len);

    if (!row) {
        return MPSSL_ERR_CIPHER_LIST;
    }
    if (id) {
        *id = row->id;
    }
    return 0;
}
