/*
 * test_pem.c - PEM/DER sniffing, certificate lists and private keys
 * (core/pem.c).
 *
 * The vectors below were generated once with the openssl CLI (OpenSSL 3.0)
 * and are embedded as text and bytes.  They are parsing-only vectors: they
 * are never used for verification or a handshake, so their dates do not
 * matter.
 *
 *   CA_PEM/CA_DER, INT_PEM/INT_DER, LEAF_PEM: a 3-certificate EC chain
 *   RSA1_PEM/RSA1_DER:   1024-bit RSA key, PKCS#1 (openssl rsa -traditional)
 *   EC_PEM:              `openssl ecparam -genkey` output: an EC PARAMETERS
 *                        block, then the SEC1 key; EC_DER is the key alone
 *   P8_PEM/P8_DER:       that EC key as unencrypted PKCS#8
 *   P8ENC_PEM/P8ENC_DER: openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:x
 *   RSAENC_PEM:          openssl rsa -aes128 -traditional (Proc-Type header)
 */
#include "pem.h"

#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CA_PEM                                                                 \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIIBozCCAUmgAwIBAgIFAIut8A0wCgYIKoZIzj0EAwIwKDEWMBQGA1UEAwwNbXBz\n"       \
    "c2wgdGVzdCBDQTEOMAwGA1UECgwFbXBzc2wwHhcNMjYxMTI0MjMxODM4WhcNMzYx\n"       \
    "MTIxMjMxODM4WjAoMRYwFAYDVQQDDA1tcHNzbCB0ZXN0IENBMQ4wDAYDVQQKDAVt\n"       \
    "cHNzbDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH3Wy8P1ruQe4wRYun8Q7nuf\n"       \
    "FUBF2vwZwaCz4g4lh56mnM7edMGBR53U+ZMIvKNLRp16srKdTDASqMs891i1PrKj\n"       \
    "YDBeMB0GA1UdDgQWBBR1WbfmGZ2ozVUH9Vk2OMPW8Ud2VDAfBgNVHSMEGDAWgBR1\n"       \
    "WbfmGZ2ozVUH9Vk2OMPW8Ud2VDAPBgNVHRMBAf8EBTADAQH/MAsGA1UdDwQEAwIB\n"       \
    "BjAKBggqhkjOPQQDAgNIADBFAiEAtRmHLuzGuBtiG60XgOYGl9vcsvo2Q8exx2w0\n"       \
    "Pj+2skgCIDyQExtHJ8obuxPQct8JN/RSQmPvxqiljIKa5HdFIOwH\n"                   \
    "-----END CERTIFICATE-----\n"

#define INT_PEM                                                                \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIIBmzCCAUCgAwIBAgIBAjAKBggqhkjOPQQDAjAoMRYwFAYDVQQDDA1tcHNzbCB0\n"       \
    "ZXN0IENBMQ4wDAYDVQQKDAVtcHNzbDAeFw0yNjExMjQyMzE4MzhaFw0zNjExMjEy\n"       \
    "MzE4MzhaMC0xGzAZBgNVBAMMEm1wc3NsIGludGVybWVkaWF0ZTEOMAwGA1UECgwF\n"       \
    "bXBzc2wwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATKSQaopy2MERPwpQuGrdCY\n"       \
    "jSNWMdNahEWZ/IZO/wdWKinpS70YBDd/j+xU2iscalnz/50YlKP3buHaDcvux4bm\n"       \
    "o1YwVDASBgNVHRMBAf8ECDAGAQH/AgEAMB0GA1UdDgQWBBR9KWmXfOjc+HMeAuV4\n"       \
    "HSd8pW6FOjAfBgNVHSMEGDAWgBR1WbfmGZ2ozVUH9Vk2OMPW8Ud2VDAKBggqhkjO\n"       \
    "PQQDAgNJADBGAiEAuXAl2PMtOlVVleGZ4rtYz7DWkhbtYimZgTDghEdNLvMCIQC6\n"       \
    "6LWocJg9Og/5GvPoKN1nsX0dzP6R2nJ+qjZLXqAJeg==\n"                           \
    "-----END CERTIFICATE-----\n"

#define LEAF_PEM                                                               \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIICXzCCAgWgAwIBAgICAQIwCgYIKoZIzj0EAwIwLTEbMBkGA1UEAwwSbXBzc2wg\n"       \
    "aW50ZXJtZWRpYXRlMQ4wDAYDVQQKDAVtcHNzbDAeFw0yNjExMjQyMzE4NDNaFw0y\n"       \
    "NzExMjQyMzE4NDNaMIGNMQswCQYDVQQGEwJOTDEOMAwGA1UECgwFbXBzc2wxJTAK\n"       \
    "BgNVBAsMA2RldjAXBgNVBAMMEGxlYWYuZXhhbXBsZS5jb20xEDAOBgQqAwQFDAZj\n"       \
    "dXN0b20xHDAaBgkqhkiG9w0BCQEWDXhAZXhhbXBsZS5jb20xFzAVBgoJkiaJk/Is\n"       \
    "ZAEZFgdleGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEuMknnAkAgAos\n"       \
    "VDamxlNvKSIbqiatjo0+b3k18DdB5c2M+ZnYRUXDaiCbtFHseTyJkadvB4SYYsal\n"       \
    "G1UIVlDR5KOBszCBsDAJBgNVHRMEAjAAMGMGA1UdEQRcMFqCC2V4YW1wbGUuY29t\n"       \
    "gg0qLmV4YW1wbGUub3JnhwR/AAABhxAAAAAAAAAAAAAAAAAAAAABgQ1hQGV4YW1w\n"       \
    "bGUuY29thhVodHRwczovL2V4YW1wbGUuY29tL3gwHQYDVR0OBBYEFIB1iqXZ7Tw0\n"       \
    "PDMY6R5qWrwVUfwyMB8GA1UdIwQYMBaAFH0paZd86Nz4cx4C5XgdJ3ylboU6MAoG\n"       \
    "CCqGSM49BAMCA0gAMEUCIGW8DNsj0fVYs3pKcxcUQfpTf9DEHn85t9m+6kBmnyHX\n"       \
    "AiEAw6xpU05F0zG7RLcHKCwwxXj0yG8q9VVXyWwJPQjX/xM=\n"                       \
    "-----END CERTIFICATE-----\n"

#include "test_vectors.h" /* CA_DER */

static const uint8_t INT_DER[415] = {
    0x30, 0x82, 0x01, 0x9b, 0x30, 0x82, 0x01, 0x40, 0xa0, 0x03, 0x02, 0x01,
    0x02, 0x02, 0x01, 0x02, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x04, 0x03, 0x02, 0x30, 0x28, 0x31, 0x16, 0x30, 0x14, 0x06, 0x03,
    0x55, 0x04, 0x03, 0x0c, 0x0d, 0x6d, 0x70, 0x73, 0x73, 0x6c, 0x20, 0x74,
    0x65, 0x73, 0x74, 0x20, 0x43, 0x41, 0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03,
    0x55, 0x04, 0x0a, 0x0c, 0x05, 0x6d, 0x70, 0x73, 0x73, 0x6c, 0x30, 0x1e,
    0x17, 0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x34, 0x32, 0x33, 0x31, 0x38,
    0x33, 0x38, 0x5a, 0x17, 0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x31, 0x32,
    0x33, 0x31, 0x38, 0x33, 0x38, 0x5a, 0x30, 0x2d, 0x31, 0x1b, 0x30, 0x19,
    0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x12, 0x6d, 0x70, 0x73, 0x73, 0x6c,
    0x20, 0x69, 0x6e, 0x74, 0x65, 0x72, 0x6d, 0x65, 0x64, 0x69, 0x61, 0x74,
    0x65, 0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x05,
    0x6d, 0x70, 0x73, 0x73, 0x6c, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0xca, 0x49, 0x06, 0xa8,
    0xa7, 0x2d, 0x8c, 0x11, 0x13, 0xf0, 0xa5, 0x0b, 0x86, 0xad, 0xd0, 0x98,
    0x8d, 0x23, 0x56, 0x31, 0xd3, 0x5a, 0x84, 0x45, 0x99, 0xfc, 0x86, 0x4e,
    0xff, 0x07, 0x56, 0x2a, 0x29, 0xe9, 0x4b, 0xbd, 0x18, 0x04, 0x37, 0x7f,
    0x8f, 0xec, 0x54, 0xda, 0x2b, 0x1c, 0x6a, 0x59, 0xf3, 0xff, 0x9d, 0x18,
    0x94, 0xa3, 0xf7, 0x6e, 0xe1, 0xda, 0x0d, 0xcb, 0xee, 0xc7, 0x86, 0xe6,
    0xa3, 0x56, 0x30, 0x54, 0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01,
    0x01, 0xff, 0x04, 0x08, 0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00,
    0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0x7d,
    0x29, 0x69, 0x97, 0x7c, 0xe8, 0xdc, 0xf8, 0x73, 0x1e, 0x02, 0xe5, 0x78,
    0x1d, 0x27, 0x7c, 0xa5, 0x6e, 0x85, 0x3a, 0x30, 0x1f, 0x06, 0x03, 0x55,
    0x1d, 0x23, 0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0x75, 0x59, 0xb7, 0xe6,
    0x19, 0x9d, 0xa8, 0xcd, 0x55, 0x07, 0xf5, 0x59, 0x36, 0x38, 0xc3, 0xd6,
    0xf1, 0x47, 0x76, 0x54, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x04, 0x03, 0x02, 0x03, 0x49, 0x00, 0x30, 0x46, 0x02, 0x21, 0x00,
    0xb9, 0x70, 0x25, 0xd8, 0xf3, 0x2d, 0x3a, 0x55, 0x55, 0x95, 0xe1, 0x99,
    0xe2, 0xbb, 0x58, 0xcf, 0xb0, 0xd6, 0x92, 0x16, 0xed, 0x62, 0x29, 0x99,
    0x81, 0x30, 0xe0, 0x84, 0x47, 0x4d, 0x2e, 0xf3, 0x02, 0x21, 0x00, 0xba,
    0xe8, 0xb5, 0xa8, 0x70, 0x98, 0x3d, 0x3a, 0x0f, 0xf9, 0x1a, 0xf3, 0xe8,
    0x28, 0xdd, 0x67, 0xb1, 0x7d, 0x1d, 0xcc, 0xfe, 0x91, 0xda, 0x72, 0x7e,
    0xaa, 0x36, 0x4b, 0x5e, 0xa0, 0x09, 0x7a,
};

#define RSA1_PEM                                                               \
    "-----BEGIN RSA PRIVATE KEY-----\n"                                        \
    "MIICXQIBAAKBgQDfesnjjB2HfC7K3Lmo1E5U5cmu5C06y7EmMfbux4CAcCKgSNAE\n"       \
    "nuh6Iuj3u/kUo86IeA6eyZ86khcjnJdVdDRO393/4LJ/uaSl4PkjzjPbh8d4jMOg\n"       \
    "lapq1QixMAzg1XLzZsvYoEg7u3XSwazYQJJmE9uV5InPXbIEFN+44fZYPwIDAQAB\n"       \
    "AoGBAKEfFAOcd4XBALN9o9WXC8qlyVzwYbOsO9I/37qT14/CSRSqql9Kem3kUXaa\n"       \
    "7Z/14ef+NvxAfS5rOYeRVIJlv3ds6Ed3XLsiNdd9QWcuFzWM2jpC1x6ebOEb7jzc\n"       \
    "oTPaLTUK1CC1IYSSzmrJjz1pr/Oe1xAYmNtDWY/24e6t9EPBAkEA/emkuALFtp7s\n"       \
    "YXK+09f1w6oaQybYM5oUgxPZJh5NYTeYeUrDrCR8YhIMv83SIXsmUaFs8hEeE/7S\n"       \
    "ANeChFbhEQJBAOFRGWW2rj0kKhxLirjwp+GnoR46gNtzf+/OwxEEsIqJktHNFoHZ\n"       \
    "8fkeFuiqozSi3RI29VDIXAHzU5/AcrN4pE8CQFYxRPguAL3Abw+ZawvwqH3WNXoM\n"       \
    "KqJBsKraRwF4kd3piHnMFmZOMGb+J5PIo4c4DcbyHFCD3Qj+nH0qqySPdXECQHq7\n"       \
    "xXzdZM4TTAj7sUYKeTh3KlGgBp8DrFYBp8o2ZsAgLmSwNaloAeH0XQBCKwK6EHgi\n"       \
    "jcCCU3QQiqXDm/ddKQsCQQC8P8HqYUrArRydJ7+Qvu7+UAJEWJMl9kTpDc3dfjGR\n"       \
    "8lxvm3O5Bi8oRZ1XVkWu8UoSi0dAS6+KF8h9fPwK44YJ\n"                           \
    "-----END RSA PRIVATE KEY-----\n"

static const uint8_t RSA1_DER[609] = {
    0x30, 0x82, 0x02, 0x5d, 0x02, 0x01, 0x00, 0x02, 0x81, 0x81, 0x00, 0xdf,
    0x7a, 0xc9, 0xe3, 0x8c, 0x1d, 0x87, 0x7c, 0x2e, 0xca, 0xdc, 0xb9, 0xa8,
    0xd4, 0x4e, 0x54, 0xe5, 0xc9, 0xae, 0xe4, 0x2d, 0x3a, 0xcb, 0xb1, 0x26,
    0x31, 0xf6, 0xee, 0xc7, 0x80, 0x80, 0x70, 0x22, 0xa0, 0x48, 0xd0, 0x04,
    0x9e, 0xe8, 0x7a, 0x22, 0xe8, 0xf7, 0xbb, 0xf9, 0x14, 0xa3, 0xce, 0x88,
    0x78, 0x0e, 0x9e, 0xc9, 0x9f, 0x3a, 0x92, 0x17, 0x23, 0x9c, 0x97, 0x55,
    0x74, 0x34, 0x4e, 0xdf, 0xdd, 0xff, 0xe0, 0xb2, 0x7f, 0xb9, 0xa4, 0xa5,
    0xe0, 0xf9, 0x23, 0xce, 0x33, 0xdb, 0x87, 0xc7, 0x78, 0x8c, 0xc3, 0xa0,
    0x95, 0xaa, 0x6a, 0xd5, 0x08, 0xb1, 0x30, 0x0c, 0xe0, 0xd5, 0x72, 0xf3,
    0x66, 0xcb, 0xd8, 0xa0, 0x48, 0x3b, 0xbb, 0x75, 0xd2, 0xc1, 0xac, 0xd8,
    0x40, 0x92, 0x66, 0x13, 0xdb, 0x95, 0xe4, 0x89, 0xcf, 0x5d, 0xb2, 0x04,
    0x14, 0xdf, 0xb8, 0xe1, 0xf6, 0x58, 0x3f, 0x02, 0x03, 0x01, 0x00, 0x01,
    0x02, 0x81, 0x81, 0x00, 0xa1, 0x1f, 0x14, 0x03, 0x9c, 0x77, 0x85, 0xc1,
    0x00, 0xb3, 0x7d, 0xa3, 0xd5, 0x97, 0x0b, 0xca, 0xa5, 0xc9, 0x5c, 0xf0,
    0x61, 0xb3, 0xac, 0x3b, 0xd2, 0x3f, 0xdf, 0xba, 0x93, 0xd7, 0x8f, 0xc2,
    0x49, 0x14, 0xaa, 0xaa, 0x5f, 0x4a, 0x7a, 0x6d, 0xe4, 0x51, 0x76, 0x9a,
    0xed, 0x9f, 0xf5, 0xe1, 0xe7, 0xfe, 0x36, 0xfc, 0x40, 0x7d, 0x2e, 0x6b,
    0x39, 0x87, 0x91, 0x54, 0x82, 0x65, 0xbf, 0x77, 0x6c, 0xe8, 0x47, 0x77,
    0x5c, 0xbb, 0x22, 0x35, 0xd7, 0x7d, 0x41, 0x67, 0x2e, 0x17, 0x35, 0x8c,
    0xda, 0x3a, 0x42, 0xd7, 0x1e, 0x9e, 0x6c, 0xe1, 0x1b, 0xee, 0x3c, 0xdc,
    0xa1, 0x33, 0xda, 0x2d, 0x35, 0x0a, 0xd4, 0x20, 0xb5, 0x21, 0x84, 0x92,
    0xce, 0x6a, 0xc9, 0x8f, 0x3d, 0x69, 0xaf, 0xf3, 0x9e, 0xd7, 0x10, 0x18,
    0x98, 0xdb, 0x43, 0x59, 0x8f, 0xf6, 0xe1, 0xee, 0xad, 0xf4, 0x43, 0xc1,
    0x02, 0x41, 0x00, 0xfd, 0xe9, 0xa4, 0xb8, 0x02, 0xc5, 0xb6, 0x9e, 0xec,
    0x61, 0x72, 0xbe, 0xd3, 0xd7, 0xf5, 0xc3, 0xaa, 0x1a, 0x43, 0x26, 0xd8,
    0x33, 0x9a, 0x14, 0x83, 0x13, 0xd9, 0x26, 0x1e, 0x4d, 0x61, 0x37, 0x98,
    0x79, 0x4a, 0xc3, 0xac, 0x24, 0x7c, 0x62, 0x12, 0x0c, 0xbf, 0xcd, 0xd2,
    0x21, 0x7b, 0x26, 0x51, 0xa1, 0x6c, 0xf2, 0x11, 0x1e, 0x13, 0xfe, 0xd2,
    0x00, 0xd7, 0x82, 0x84, 0x56, 0xe1, 0x11, 0x02, 0x41, 0x00, 0xe1, 0x51,
    0x19, 0x65, 0xb6, 0xae, 0x3d, 0x24, 0x2a, 0x1c, 0x4b, 0x8a, 0xb8, 0xf0,
    0xa7, 0xe1, 0xa7, 0xa1, 0x1e, 0x3a, 0x80, 0xdb, 0x73, 0x7f, 0xef, 0xce,
    0xc3, 0x11, 0x04, 0xb0, 0x8a, 0x89, 0x92, 0xd1, 0xcd, 0x16, 0x81, 0xd9,
    0xf1, 0xf9, 0x1e, 0x16, 0xe8, 0xaa, 0xa3, 0x34, 0xa2, 0xdd, 0x12, 0x36,
    0xf5, 0x50, 0xc8, 0x5c, 0x01, 0xf3, 0x53, 0x9f, 0xc0, 0x72, 0xb3, 0x78,
    0xa4, 0x4f, 0x02, 0x40, 0x56, 0x31, 0x44, 0xf8, 0x2e, 0x00, 0xbd, 0xc0,
    0x6f, 0x0f, 0x99, 0x6b, 0x0b, 0xf0, 0xa8, 0x7d, 0xd6, 0x35, 0x7a, 0x0c,
    0x2a, 0xa2, 0x41, 0xb0, 0xaa, 0xda, 0x47, 0x01, 0x78, 0x91, 0xdd, 0xe9,
    0x88, 0x79, 0xcc, 0x16, 0x66, 0x4e, 0x30, 0x66, 0xfe, 0x27, 0x93, 0xc8,
    0xa3, 0x87, 0x38, 0x0d, 0xc6, 0xf2, 0x1c, 0x50, 0x83, 0xdd, 0x08, 0xfe,
    0x9c, 0x7d, 0x2a, 0xab, 0x24, 0x8f, 0x75, 0x71, 0x02, 0x40, 0x7a, 0xbb,
    0xc5, 0x7c, 0xdd, 0x64, 0xce, 0x13, 0x4c, 0x08, 0xfb, 0xb1, 0x46, 0x0a,
    0x79, 0x38, 0x77, 0x2a, 0x51, 0xa0, 0x06, 0x9f, 0x03, 0xac, 0x56, 0x01,
    0xa7, 0xca, 0x36, 0x66, 0xc0, 0x20, 0x2e, 0x64, 0xb0, 0x35, 0xa9, 0x68,
    0x01, 0xe1, 0xf4, 0x5d, 0x00, 0x42, 0x2b, 0x02, 0xba, 0x10, 0x78, 0x22,
    0x8d, 0xc0, 0x82, 0x53, 0x74, 0x10, 0x8a, 0xa5, 0xc3, 0x9b, 0xf7, 0x5d,
    0x29, 0x0b, 0x02, 0x41, 0x00, 0xbc, 0x3f, 0xc1, 0xea, 0x61, 0x4a, 0xc0,
    0xad, 0x1c, 0x9d, 0x27, 0xbf, 0x90, 0xbe, 0xee, 0xfe, 0x50, 0x02, 0x44,
    0x58, 0x93, 0x25, 0xf6, 0x44, 0xe9, 0x0d, 0xcd, 0xdd, 0x7e, 0x31, 0x91,
    0xf2, 0x5c, 0x6f, 0x9b, 0x73, 0xb9, 0x06, 0x2f, 0x28, 0x45, 0x9d, 0x57,
    0x56, 0x45, 0xae, 0xf1, 0x4a, 0x12, 0x8b, 0x47, 0x40, 0x4b, 0xaf, 0x8a,
    0x17, 0xc8, 0x7d, 0x7c, 0xfc, 0x0a, 0xe3, 0x86, 0x09,
};

#define EC_PEM                                                                 \
    "-----BEGIN EC PARAMETERS-----\n"                                          \
    "BggqhkjOPQMBBw==\n"                                                       \
    "-----END EC PARAMETERS-----\n"                                            \
    "-----BEGIN EC PRIVATE KEY-----\n"                                         \
    "MHcCAQEEINEa1FNWPQAc9j7MjOWC4Gq7gsQwF6X4YzHXDLSZznosoAoGCCqGSM49\n"       \
    "AwEHoUQDQgAEzxGwmOCCX9Mc4d3kCPSSquU6EVbP8rVnFkyCGDhu5iRpf33EsGuT\n"       \
    "1dmN93jUjCNJer0wD0ECV7kWr9F0MISyWw==\n"                                   \
    "-----END EC PRIVATE KEY-----\n"

static const uint8_t EC_DER[121] = {
    0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0xd1, 0x1a, 0xd4, 0x53,
    0x56, 0x3d, 0x00, 0x1c, 0xf6, 0x3e, 0xcc, 0x8c, 0xe5, 0x82, 0xe0,
    0x6a, 0xbb, 0x82, 0xc4, 0x30, 0x17, 0xa5, 0xf8, 0x63, 0x31, 0xd7,
    0x0c, 0xb4, 0x99, 0xce, 0x7a, 0x2c, 0xa0, 0x0a, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42,
    0x00, 0x04, 0xcf, 0x11, 0xb0, 0x98, 0xe0, 0x82, 0x5f, 0xd3, 0x1c,
    0xe1, 0xdd, 0xe4, 0x08, 0xf4, 0x92, 0xaa, 0xe5, 0x3a, 0x11, 0x56,
    0xcf, 0xf2, 0xb5, 0x67, 0x16, 0x4c, 0x82, 0x18, 0x38, 0x6e, 0xe6,
    0x24, 0x69, 0x7f, 0x7d, 0xc4, 0xb0, 0x6b, 0x93, 0xd5, 0xd9, 0x8d,
    0xf7, 0x78, 0xd4, 0x8c, 0x23, 0x49, 0x7a, 0xbd, 0x30, 0x0f, 0x41,
    0x02, 0x57, 0xb9, 0x16, 0xaf, 0xd1, 0x74, 0x30, 0x84, 0xb2, 0x5b,
};

#define P8_PEM                                                                 \
    "-----BEGIN PRIVATE KEY-----\n"                                            \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0RrUU1Y9ABz2PsyM\n"       \
    "5YLgaruCxDAXpfhjMdcMtJnOeiyhRANCAATPEbCY4IJf0xzh3eQI9JKq5ToRVs/y\n"       \
    "tWcWTIIYOG7mJGl/fcSwa5PV2Y33eNSMI0l6vTAPQQJXuRav0XQwhLJb\n"               \
    "-----END PRIVATE KEY-----\n"

static const uint8_t P8_DER[138] = {
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
    0xd1, 0x1a, 0xd4, 0x53, 0x56, 0x3d, 0x00, 0x1c, 0xf6, 0x3e, 0xcc, 0x8c,
    0xe5, 0x82, 0xe0, 0x6a, 0xbb, 0x82, 0xc4, 0x30, 0x17, 0xa5, 0xf8, 0x63,
    0x31, 0xd7, 0x0c, 0xb4, 0x99, 0xce, 0x7a, 0x2c, 0xa1, 0x44, 0x03, 0x42,
    0x00, 0x04, 0xcf, 0x11, 0xb0, 0x98, 0xe0, 0x82, 0x5f, 0xd3, 0x1c, 0xe1,
    0xdd, 0xe4, 0x08, 0xf4, 0x92, 0xaa, 0xe5, 0x3a, 0x11, 0x56, 0xcf, 0xf2,
    0xb5, 0x67, 0x16, 0x4c, 0x82, 0x18, 0x38, 0x6e, 0xe6, 0x24, 0x69, 0x7f,
    0x7d, 0xc4, 0xb0, 0x6b, 0x93, 0xd5, 0xd9, 0x8d, 0xf7, 0x78, 0xd4, 0x8c,
    0x23, 0x49, 0x7a, 0xbd, 0x30, 0x0f, 0x41, 0x02, 0x57, 0xb9, 0x16, 0xaf,
    0xd1, 0x74, 0x30, 0x84, 0xb2, 0x5b,
};

#define P8ENC_PEM                                                              \
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"                                  \
    "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAi1IED+b809pgICCAAw\n"       \
    "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEBjA6yRh24c49Tuxx5PA/lwEgZBs\n"       \
    "ebSjUN/5LYt7n+1rDG2xdvLWFtI5qCQu0BzQUAT3uC1GsZvr0flDCqjehWHuVZm6\n"       \
    "oWTr9zljEIBNHM3mK+/kJRg5Qc8hmxlpcyjxHPAFfmORuLvC3SlyS6ZAtkhqDfla\n"       \
    "qxFS12j+f+TdQA2pnYO+XdIHXzDPghtHZO/HG8f04Fd9lqDa9kVapWHyhaIYDP8=\n"       \
    "-----END ENCRYPTED PRIVATE KEY-----\n"

static const uint8_t P8ENC_DER[239] = {
    0x30, 0x81, 0xec, 0x30, 0x57, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
    0x0d, 0x01, 0x05, 0x0d, 0x30, 0x4a, 0x30, 0x29, 0x06, 0x09, 0x2a, 0x86,
    0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c, 0x30, 0x1c, 0x04, 0x08, 0xd4,
    0xb8, 0xf1, 0xee, 0x0a, 0xc4, 0x83, 0x79, 0x02, 0x02, 0x08, 0x00, 0x30,
    0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09, 0x05,
    0x00, 0x30, 0x1d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
    0x01, 0x2a, 0x04, 0x10, 0x21, 0xfb, 0x80, 0x40, 0x07, 0x7c, 0xdd, 0x3b,
    0x27, 0xb6, 0xb8, 0x54, 0xf1, 0x2f, 0x98, 0x57, 0x04, 0x81, 0x90, 0x45,
    0x8d, 0x82, 0x44, 0xfe, 0x33, 0x65, 0x5c, 0x9e, 0xee, 0x09, 0x5a, 0x7e,
    0x30, 0x7b, 0x8d, 0x25, 0xf8, 0x09, 0xee, 0x9d, 0x29, 0x5e, 0xe2, 0xfd,
    0xbb, 0x69, 0xeb, 0x3c, 0x66, 0x8b, 0x16, 0x9d, 0x61, 0xc1, 0x59, 0xc8,
    0x2d, 0xd9, 0x85, 0x2a, 0x15, 0xcd, 0x13, 0x58, 0x86, 0x26, 0xf7, 0x63,
    0xd7, 0x90, 0xbd, 0x75, 0xf2, 0x69, 0x80, 0xa0, 0xbc, 0xb9, 0xba, 0xb7,
    0x52, 0x92, 0x40, 0xf0, 0x91, 0x31, 0x7d, 0x68, 0x8c, 0xf2, 0x5c, 0x4c,
    0x1f, 0x50, 0x9e, 0xc9, 0x53, 0x2d, 0xef, 0x30, 0x5b, 0x75, 0x89, 0x36,
    0x5b, 0x19, 0x8c, 0xf0, 0xbf, 0x1b, 0x7e, 0x20, 0x8e, 0x89, 0xee, 0x77,
    0xf6, 0x7c, 0x13, 0x2a, 0xb6, 0x84, 0x28, 0xaf, 0xad, 0xb3, 0x27, 0x8a,
    0xce, 0xdd, 0xd5, 0xc1, 0x84, 0xc5, 0x6a, 0xca, 0x94, 0x19, 0xc3, 0x58,
    0x06, 0x6c, 0x82, 0x48, 0x36, 0xa5, 0xc3, 0x08, 0xa8, 0x04, 0xe2, 0x3c,
    0x96, 0xf5, 0xa7, 0x18, 0x37, 0xbe, 0xa6, 0x76, 0x57, 0x0b, 0x56,
};

#define RSAENC_PEM                                                             \
    "-----BEGIN RSA PRIVATE KEY-----\n"                                        \
    "Proc-Type: 4,ENCRYPTED\n"                                                 \
    "DEK-Info: AES-128-CBC,3E0DF405DBAC065B966F815390197B7D\n"                 \
    "\n"                                                                       \
    "lwkevyd6Ua6EfKKSBwbPYnb/vD+KRlJm8sYhokIn14M7qD//ztDalkwLqJJ9MPlG\n"       \
    "Y+d3bb1DfZj8zJr2hwxnSjBCkHaggETdveUg8gKwKzEiVegEA2mD3VJiOyHvwvgO\n"       \
    "7savr47oAMvxn4wOJaz8jrC27+1H4uZLjoFRLo+XJ15NFrtpsiJCDMPq61ZdiZok\n"       \
    "8xuHwdXux0oq4HNzeI8t4Vl/WjUMb2tcLPL77XsjFoFx5Nvi4a+JocJsrC5neRcs\n"       \
    "FVwDa3eD/Vq7RD7aAqJmdouYi9LXMuX8iyYmdkrvxps5sPr6Cvy9G3+Zbgp1egtc\n"       \
    "7bBtGiYeokV6zraShH7j10317g6I+QbHgBA6S8OenwU9mUfD0Ye9NApXKDDTFKJi\n"       \
    "IjYFKcenqwBD4Y7IRu7mjpz81at1SKTy/aTUVII6/SHa/oSqBEuww7UJOBSv8nHy\n"       \
    "VnWNsyzXgvYE/hp6zWV/7lXbyid2dmvk59rNqJdtwX70grB/Q/1bXXdHc/pZ0iR1\n"       \
    "yXDb5L+nWiJmkPkXCEv+O07wk9F2eH+L8qD4WibaLJyVJyeIFgQRoV2siwUOVdDu\n"       \
    "mZluWnKNcXOgW6QrAXSn7DsOo00SKlMzovs/7htQIhd/GcfCq0k4vsGz2A/gIshM\n"       \
    "1LvM3xsC5eYyMz6h8F12EI0Ece8laz+0X34HnGSvji1FGjXxL5Peb/ggJrZsCwO5\n"       \
    "aYAfZSUFVBJb+R+FCiRS66qMNi2vLYYjuuYvRq+9uSEt94zbxB81CJ6cAddoqsRz\n"       \
    "rFxI1tisxxCpwcWkMx1rqaONr4GB9Zjw0PTG5BfsnV7eFu3rUtLBY8ZDP2o/TXv+\n"       \
    "-----END RSA PRIVATE KEY-----\n"

/* ------------------------------------------------------------------------ */

#define TEXT(s) (const uint8_t *)(s), strlen(s)

static int blob_equals(const mpssl_blob *b, const uint8_t *want, size_t n) {
    return b->len == n && memcmp(b->data, want, n) == 0;
}

/* A heap copy with every "\n" turned into "\r\n". */
static uint8_t *to_crlf(const char *text, size_t *len) {
    size_t n = strlen(text);
    uint8_t *out = malloc(2 * n + 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n') {
            out[w++] = '\r';
        }
        out[w++] = (uint8_t)text[i];
    }
    *len = w;
    return out;
}

/* A heap copy of text with the first occurrence of `from` replaced. */
static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    size_t n = strlen(text), f = strlen(from), t = strlen(to);
    char *out = malloc(n - f + t + 1);
    if (!at) {
        memcpy(out, text, n + 1);
        return out;
    }
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    memcpy(out + head, to, t);
    memcpy(out + head + t, at + f, n - head - f + 1);
    return out;
}

static void test_looks_like_pem_finds_begin_anywhere(void) {
    CHECK(mpssl_looks_like_pem(TEXT(CA_PEM)));
    CHECK(mpssl_looks_like_pem(TEXT("junk\n-----BEGIN X-----\n")));
    CHECK(!mpssl_looks_like_pem(CA_DER, sizeof CA_DER));
    CHECK(!mpssl_looks_like_pem(TEXT("-----BEGIN")));
    CHECK(!mpssl_looks_like_pem(NULL, 0));
}

static void test_single_pem_certificate_decodes_to_its_der(void) {
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(CA_PEM), &list), 0);
    CHECK_EQ_INT(list.n, 1);
    CHECK(blob_equals(&list.items[0], CA_DER, sizeof CA_DER));
    mpssl_der_list_free(&list);
    CHECK(list.items == NULL);
    CHECK_EQ_INT(list.n, 0);
}

static void test_pem_chain_of_three_keeps_order(void) {
    static const char chain[] = LEAF_PEM INT_PEM CA_PEM;
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(chain), &list), 0);
    CHECK_EQ_INT(list.n, 3);
    if (list.n == 3) {
        CHECK(blob_equals(&list.items[1], INT_DER, sizeof INT_DER));
        CHECK(blob_equals(&list.items[2], CA_DER, sizeof CA_DER));
        CHECK(!blob_equals(&list.items[0], CA_DER, sizeof CA_DER));
    }
    mpssl_der_list_free(&list);
}

static void test_crlf_pem_is_accepted(void) {
    size_t len;
    uint8_t *crlf = to_crlf(INT_PEM CA_PEM, &len);
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(crlf, len, &list), 0);
    CHECK_EQ_INT(list.n, 2);
    if (list.n == 2) {
        CHECK(blob_equals(&list.items[0], INT_DER, sizeof INT_DER));
    }
    mpssl_der_list_free(&list);
    free(crlf);
}

static void test_text_around_pem_blocks_is_ignored(void) {
    static const char text[] = "subject=CN = mpssl test CA\n"
                               "issuer: whatever: with colons\n" CA_PEM
                               "\nsome trailing notes\n" INT_PEM "bye";
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(text), &list), 0);
    CHECK_EQ_INT(list.n, 2);
    mpssl_der_list_free(&list);
}

static void test_trailing_nul_after_pem_is_tolerated(void) {
    mpssl_der_list list;
    /* sizeof includes the string's NUL, as a MicroPython caller passes it */
    CHECK_EQ_INT(
        mpssl_load_certs((const uint8_t *)CA_PEM, sizeof CA_PEM, &list), 0);
    CHECK_EQ_INT(list.n, 1);
    mpssl_der_list_free(&list);
    uint8_t *key;
    size_t key_len;
    mpssl_key_type type;
    CHECK_EQ_INT(mpssl_load_key((const uint8_t *)P8_PEM, sizeof P8_PEM, &key,
                                &key_len, &type),
                 0);
    CHECK_EQ_INT(type, MPSSL_KEY_PKCS8);
    mpssl_free_secret(key, key_len);
}

static void test_single_der_certificate_is_accepted(void) {
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(CA_DER, sizeof CA_DER, &list), 0);
    CHECK_EQ_INT(list.n, 1);
    CHECK(blob_equals(&list.items[0], CA_DER, sizeof CA_DER));
    /* The list owns a copy, not a pointer into the caller's data. */
    CHECK(list.items[0].data != CA_DER);
    mpssl_der_list_free(&list);
}

static void test_concatenated_der_certificates_are_all_taken(void) {
    uint8_t both[sizeof INT_DER + sizeof CA_DER];
    memcpy(both, INT_DER, sizeof INT_DER);
    memcpy(both + sizeof INT_DER, CA_DER, sizeof CA_DER);
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(both, sizeof both, &list), 0);
    CHECK_EQ_INT(list.n, 2);
    if (list.n == 2) {
        CHECK(blob_equals(&list.items[0], INT_DER, sizeof INT_DER));
        CHECK(blob_equals(&list.items[1], CA_DER, sizeof CA_DER));
    }
    mpssl_der_list_free(&list);
    /* Second one cut short: the whole call fails. */
    CHECK_EQ_INT(mpssl_load_certs(both, sizeof both - 1, &list),
                 MPSSL_EINVALID_CERT);
}

static void test_garbage_is_not_a_certificate(void) {
    static const uint8_t zeros[16];
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT("hello world"), &list),
                 MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(mpssl_load_certs(zeros, sizeof zeros, &list),
                 MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(mpssl_load_certs(NULL, 0, &list), MPSSL_EINVALID_CERT);
    /* A well-formed SEQUENCE that is no certificate. */
    CHECK_EQ_INT(mpssl_load_certs(EC_DER, sizeof EC_DER, &list),
                 MPSSL_EINVALID_CERT);
}

static void test_truncated_pem_without_end_line_is_rejected(void) {
    const char *end = strstr(CA_PEM, "-----END");
    mpssl_der_list list;
    CHECK(end != NULL);
    CHECK_EQ_INT(mpssl_load_certs((const uint8_t *)CA_PEM,
                                  (size_t)(end - CA_PEM), &list),
                 MPSSL_EINVALID_CERT);
    /* A good block followed by a truncated one: nothing is returned. */
    static const char text[] = CA_PEM "-----BEGIN CERTIFICATE-----\nMIIB\n";
    CHECK_EQ_INT(mpssl_load_certs(TEXT(text), &list), MPSSL_EINVALID_CERT);
}

static void test_truncated_der_is_rejected(void) {
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(CA_DER, sizeof CA_DER - 1, &list),
                 MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(mpssl_load_certs(CA_DER, 3, &list), MPSSL_EINVALID_CERT);
}

static void test_invalid_base64_character_is_rejected(void) {
    /* Replace the body's second line start with a non-base64 character. */
    char *bad = replace(CA_PEM, "-----\nMII", "-----\nMI*");
    mpssl_der_list list;
    CHECK(strcmp(bad, CA_PEM) != 0);
    CHECK_EQ_INT(mpssl_load_certs(TEXT(bad), &list), MPSSL_EINVALID_CERT);
    free(bad);
}

/* Decodes a one-block PEM with the given body: the pem_next result, and
 * the decoded bytes in *out (freed by the caller) on success. */
static int decode_body(const char *body, mpssl_pem_block *out) {
    char text[256];
    snprintf(text, sizeof text, "-----BEGIN X-----\n%s\n-----END X-----\n",
             body);
    size_t pos = 0;
    return mpssl_pem_next(TEXT(text), &pos, out);
}

static void test_base64_padding_is_checked_strictly(void) {
    mpssl_pem_block b;
    CHECK_EQ_INT(decode_body("QUJD", &b), 1);
    CHECK(b.der_len == 3 && memcmp(b.der, "ABC", 3) == 0);
    mpssl_free(b.der);
    CHECK_EQ_INT(decode_body("QUI=", &b), 1);
    CHECK(b.der_len == 2 && memcmp(b.der, "AB", 2) == 0);
    mpssl_free(b.der);
    CHECK_EQ_INT(decode_body("QQ==", &b), 1);
    CHECK(b.der_len == 1 && b.der[0] == 'A');
    CHECK_EQ_INT(b.kind, MPSSL_PEM_OTHER);
    mpssl_free(b.der);
    CHECK_EQ_INT(decode_body("Q U\tJ\r\nD", &b), 1); /* inner whitespace */
    CHECK(b.der_len == 3 && memcmp(b.der, "ABC", 3) == 0);
    mpssl_free(b.der);
    CHECK_EQ_INT(decode_body("QQ=", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("QUJ", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("Q===", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("====", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("QQ==QUJD", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("QU=D", &b), MPSSL_EINVALID_CERT);
    CHECK_EQ_INT(decode_body("", &b), MPSSL_EINVALID_CERT);
}

static void test_end_label_must_match_begin_label(void) {
    static const char text[] = "-----BEGIN CERTIFICATE-----\nQUJD\n"
                               "-----END PRIVATE KEY-----\n";
    mpssl_pem_block b;
    size_t pos = 0;
    CHECK_EQ_INT(mpssl_pem_next(TEXT(text), &pos, &b), MPSSL_EINVALID_CERT);
}

static void test_pem_next_reports_kinds_and_advances(void) {
    static const char text[] =
        "-----BEGIN X509 CERTIFICATE-----\nQUJD\n"
        "-----END X509 CERTIFICATE-----\n" EC_PEM RSAENC_PEM P8ENC_PEM RSA1_PEM
            P8_PEM;
    static const mpssl_pem_kind want[] = {
        MPSSL_PEM_CERTIFICATE,   MPSSL_PEM_OTHER,         MPSSL_PEM_EC_KEY,
        MPSSL_PEM_ENCRYPTED_KEY, MPSSL_PEM_ENCRYPTED_KEY, MPSSL_PEM_RSA_KEY,
        MPSSL_PEM_PKCS8_KEY,
    };
    size_t pos = 0, n = 0;
    mpssl_pem_block b;
    int r;
    while ((r = mpssl_pem_next(TEXT(text), &pos, &b)) == 1 && n < 10) {
        if (n < sizeof want / sizeof want[0]) {
            CHECK_EQ_INT(b.kind, want[n]);
        }
        n++;
        mpssl_free(b.der);
    }
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(n, sizeof want / sizeof want[0]);
    CHECK_EQ_INT(pos, strlen(text));
}

static void test_pem_with_only_a_key_has_no_certificate(void) {
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(RSA1_PEM), &list), MPSSL_EINVALID_CERT);
}

static void test_key_blocks_between_certificates_are_skipped(void) {
    static const char text[] = RSA1_PEM INT_PEM EC_PEM CA_PEM;
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(text), &list), 0);
    CHECK_EQ_INT(list.n, 2);
    mpssl_der_list_free(&list);
}

static void test_certificate_block_that_fails_to_parse_fails_the_call(void) {
    /* A well-formed PEM block labelled CERTIFICATE that holds a key. */
    char *text = replace(P8_PEM, "PRIVATE KEY", "CERTIFICATE");
    char *both = replace(text, "PRIVATE KEY", "CERTIFICATE");
    mpssl_der_list list;
    CHECK_EQ_INT(mpssl_load_certs(TEXT(both), &list), MPSSL_EINVALID_CERT);
    free(text);
    free(both);
}

/* Loads a key and checks its type and DER bytes. */
static void check_key(const uint8_t *data, size_t len, mpssl_key_type want,
                      const uint8_t *want_der, size_t want_len) {
    uint8_t *der = NULL;
    size_t der_len = 0;
    mpssl_key_type type = 0;
    CHECK_EQ_INT(mpssl_load_key(data, len, &der, &der_len, &type), 0);
    CHECK_EQ_INT(type, want);
    CHECK(der_len == want_len && memcmp(der, want_der, want_len) == 0);
    CHECK(der != want_der);
    mpssl_free_secret(der, der_len);
}

static void test_rsa_pkcs1_key_loads_from_pem_and_der(void) {
    check_key(TEXT(RSA1_PEM), MPSSL_KEY_RSA, RSA1_DER, sizeof RSA1_DER);
    check_key(RSA1_DER, sizeof RSA1_DER, MPSSL_KEY_RSA, RSA1_DER,
              sizeof RSA1_DER);
}

static void test_ec_sec1_key_loads_after_ec_parameters(void) {
    check_key(TEXT(EC_PEM), MPSSL_KEY_EC, EC_DER, sizeof EC_DER);
    check_key(EC_DER, sizeof EC_DER, MPSSL_KEY_EC, EC_DER, sizeof EC_DER);
}

static void test_pkcs8_key_loads_from_pem_and_der(void) {
    check_key(TEXT(P8_PEM), MPSSL_KEY_PKCS8, P8_DER, sizeof P8_DER);
    check_key(P8_DER, sizeof P8_DER, MPSSL_KEY_PKCS8, P8_DER, sizeof P8_DER);
}

static void test_key_after_certificates_is_found(void) {
    static const char text[] = CA_PEM INT_PEM P8_PEM RSA1_PEM;
    check_key(TEXT(text), MPSSL_KEY_PKCS8, P8_DER, sizeof P8_DER);
}

static void test_encrypted_keys_are_reported_as_encrypted(void) {
    uint8_t *der;
    size_t der_len;
    mpssl_key_type type;
    CHECK_EQ_INT(mpssl_load_key(TEXT(P8ENC_PEM), &der, &der_len, &type),
                 MPSSL_EENCRYPTED_KEY);
    CHECK_EQ_INT(
        mpssl_load_key(P8ENC_DER, sizeof P8ENC_DER, &der, &der_len, &type),
        MPSSL_EENCRYPTED_KEY);
    CHECK_EQ_INT(mpssl_load_key(TEXT(RSAENC_PEM), &der, &der_len, &type),
                 MPSSL_EENCRYPTED_KEY);
    /* Encrypted PKCS#8 bytes under a plain "PRIVATE KEY" label. */
    char *relabelled =
        replace(P8ENC_PEM, "ENCRYPTED PRIVATE KEY", "PRIVATE KEY");
    char *both = replace(relabelled, "ENCRYPTED PRIVATE KEY", "PRIVATE KEY");
    CHECK_EQ_INT(mpssl_load_key(TEXT(both), &der, &der_len, &type),
                 MPSSL_EENCRYPTED_KEY);
    free(relabelled);
    free(both);
}

static void test_garbage_and_mislabelled_keys_are_invalid(void) {
    uint8_t *der;
    size_t der_len;
    mpssl_key_type type;
    uint8_t longer[sizeof RSA1_DER + 1];
    CHECK_EQ_INT(mpssl_load_key(TEXT("not a key"), &der, &der_len, &type),
                 MPSSL_EINVALID_KEY);
    CHECK_EQ_INT(mpssl_load_key(NULL, 0, &der, &der_len, &type),
                 MPSSL_EINVALID_KEY);
    CHECK_EQ_INT(mpssl_load_key(TEXT(CA_PEM), &der, &der_len, &type),
                 MPSSL_EINVALID_KEY); /* no key block at all */
    CHECK_EQ_INT(mpssl_load_key(CA_DER, sizeof CA_DER, &der, &der_len, &type),
                 MPSSL_EINVALID_KEY); /* a certificate is no key */
    memcpy(longer, RSA1_DER, sizeof RSA1_DER);
    longer[sizeof RSA1_DER] = 0;
    CHECK_EQ_INT(mpssl_load_key(longer, sizeof longer, &der, &der_len, &type),
                 MPSSL_EINVALID_KEY); /* not exactly one element */
    CHECK_EQ_INT(
        mpssl_load_key(RSA1_DER, sizeof RSA1_DER - 1, &der, &der_len, &type),
        MPSSL_EINVALID_KEY);
    char *a = replace(RSA1_PEM, "RSA PRIVATE KEY", "EC PRIVATE KEY");
    char *b = replace(a, "RSA PRIVATE KEY", "EC PRIVATE KEY");
    CHECK_EQ_INT(mpssl_load_key(TEXT(b), &der, &der_len, &type),
                 MPSSL_EINVALID_KEY); /* label and content disagree */
    free(a);
    free(b);
}

static void test_der_key_type_classifies_each_format(void) {
    mpssl_key_type type;
    CHECK_EQ_INT(mpssl_der_key_type(RSA1_DER, sizeof RSA1_DER, &type), 0);
    CHECK_EQ_INT(type, MPSSL_KEY_RSA);
    CHECK_EQ_INT(mpssl_der_key_type(EC_DER, sizeof EC_DER, &type), 0);
    CHECK_EQ_INT(type, MPSSL_KEY_EC);
    CHECK_EQ_INT(mpssl_der_key_type(P8_DER, sizeof P8_DER, &type), 0);
    CHECK_EQ_INT(type, MPSSL_KEY_PKCS8);
    CHECK_EQ_INT(mpssl_der_key_type(P8ENC_DER, sizeof P8ENC_DER, &type),
                 MPSSL_EENCRYPTED_KEY);
    static const uint8_t version_2[] = {0x30, 0x05, 0x02, 0x01,
                                        0x02, 0x04, 0x00};
    CHECK_EQ_INT(mpssl_der_key_type(version_2, sizeof version_2, &type),
                 MPSSL_EINVALID_KEY);
}

static void test_der_next_walks_sequences_only(void) {
    static const uint8_t data[] = {0x30, 0x00, 0x30, 0x01, 0x05, 0x02, 0x00};
    mpssl_blob b;
    size_t pos = 0;
    CHECK_EQ_INT(mpssl_der_next(data, sizeof data, &pos, &b), 1);
    CHECK(b.data == data && b.len == 2);
    CHECK_EQ_INT(mpssl_der_next(data, sizeof data, &pos, &b), 1);
    CHECK(b.data == data + 2 && b.len == 3);
    CHECK_EQ_INT(mpssl_der_next(data, sizeof data, &pos, &b),
                 MPSSL_EINVALID_CERT); /* INTEGER, not SEQUENCE */
    pos = sizeof data;
    CHECK_EQ_INT(mpssl_der_next(data, sizeof data, &pos, &b), 0);
}

/* Allocator that fails once `budget` allocations have been made. */
static long alloc_budget;
static void *counting_alloc(size_t n) {
    return alloc_budget-- > 0 ? malloc(n) : NULL;
}
static void *counting_realloc(void *p, size_t n) {
    return alloc_budget-- > 0 ? realloc(p, n) : NULL;
}

static void test_allocation_failures_return_enomem_without_leaks(void) {
    static const char chain[] = LEAF_PEM EC_PEM INT_PEM CA_PEM;
    const mpssl_allocator failing = {counting_alloc, counting_realloc, free};
    int certs_ok = 0, key_ok = 0;
    mpssl_set_allocator(&failing);
    for (long budget = 0; budget < 64 && !(certs_ok && key_ok); budget++) {
        mpssl_der_list list;
        uint8_t *der;
        size_t der_len;
        mpssl_key_type type;
        alloc_budget = budget;
        int r = mpssl_load_certs(TEXT(chain), &list);
        CHECK(r == 0 || r == -ENOMEM);
        if (r == 0) {
            certs_ok = 1;
            CHECK_EQ_INT(list.n, 3);
            mpssl_der_list_free(&list);
        }
        alloc_budget = budget;
        r = mpssl_load_key(TEXT(chain), &der, &der_len, &type);
        CHECK(r == 0 || r == -ENOMEM);
        if (r == 0) {
            key_ok = 1;
            mpssl_free_secret(der, der_len);
        }
    }
    mpssl_set_allocator(NULL);
    CHECK(certs_ok && key_ok);
}

/* Every prefix of a PEM chain, in its own heap buffer for ASan: either an
 * error or (once the first block is complete) a shorter list. */
static void test_every_truncation_of_pem_is_safe(void) {
    static const char chain[] = INT_PEM CA_PEM P8_PEM;
    size_t total = strlen(chain);
    for (size_t n = 0; n <= total; n++) {
        uint8_t *buf = malloc(n ? n : 1);
        memcpy(buf, chain, n);
        mpssl_der_list list;
        int r = mpssl_load_certs(buf, n, &list);
        CHECK(r == 0 || r == MPSSL_EINVALID_CERT);
        if (r == 0) {
            CHECK(list.n >= 1 && list.n <= 2);
            mpssl_der_list_free(&list);
        }
        uint8_t *der;
        size_t der_len;
        mpssl_key_type type;
        r = mpssl_load_key(buf, n, &der, &der_len, &type);
        CHECK(r == 0 || r == MPSSL_EINVALID_KEY);
        if (r == 0) {
            mpssl_free_secret(der, der_len);
        }
        free(buf);
    }
}

static void test_every_truncation_of_der_key_is_rejected(void) {
    for (size_t n = 0; n < sizeof EC_DER; n++) {
        uint8_t *buf = malloc(n ? n : 1);
        uint8_t *der;
        size_t der_len;
        mpssl_key_type type;
        memcpy(buf, EC_DER, n);
        CHECK_EQ_INT(mpssl_load_key(buf, n, &der, &der_len, &type),
                     MPSSL_EINVALID_KEY);
        free(buf);
    }
}

int main(void) {
    RUN(test_looks_like_pem_finds_begin_anywhere);
    RUN(test_single_pem_certificate_decodes_to_its_der);
    RUN(test_pem_chain_of_three_keeps_order);
    RUN(test_crlf_pem_is_accepted);
    RUN(test_text_around_pem_blocks_is_ignored);
    RUN(test_trailing_nul_after_pem_is_tolerated);
    RUN(test_single_der_certificate_is_accepted);
    RUN(test_concatenated_der_certificates_are_all_taken);
    RUN(test_garbage_is_not_a_certificate);
    RUN(test_truncated_pem_without_end_line_is_rejected);
    RUN(test_truncated_der_is_rejected);
    RUN(test_invalid_base64_character_is_rejected);
    RUN(test_base64_padding_is_checked_strictly);
    RUN(test_end_label_must_match_begin_label);
    RUN(test_pem_next_reports_kinds_and_advances);
    RUN(test_pem_with_only_a_key_has_no_certificate);
    RUN(test_key_blocks_between_certificates_are_skipped);
    RUN(test_certificate_block_that_fails_to_parse_fails_the_call);
    RUN(test_rsa_pkcs1_key_loads_from_pem_and_der);
    RUN(test_ec_sec1_key_loads_after_ec_parameters);
    RUN(test_pkcs8_key_loads_from_pem_and_der);
    RUN(test_key_after_certificates_is_found);
    RUN(test_encrypted_keys_are_reported_as_encrypted);
    RUN(test_garbage_and_mislabelled_keys_are_invalid);
    RUN(test_der_key_type_classifies_each_format);
    RUN(test_der_next_walks_sequences_only);
    RUN(test_allocation_failures_return_enomem_without_leaks);
    RUN(test_every_truncation_of_pem_is_safe);
    RUN(test_every_truncation_of_der_key_is_rejected);
    return DONE();
}
