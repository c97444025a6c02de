/*
 * errors.c - result classes, stable error names and their messages.
 *
 * The texts are plain English and name the reason; they never carry a
 * library's constant names.  Backend detail is appended by the connection
 * (mpssl_conn_error), in parentheses.
 */
#include "internal.h"

#include <errno.h>
#include <stddef.h>

typedef struct error_row {
    int code;
    const char *name;    /* module constant name, NULL for non-TLS codes */
    const char *message; /* plain English */
} error_row;

static const error_row error_table[] = {
    {MPSSL_ERR_CERT_UNTRUSTED, "ERR_CERT_UNTRUSTED",
     "certificate verify failed: certificate is not trusted"},
    {MPSSL_ERR_CERT_EXPIRED, "ERR_CERT_EXPIRED",
     "certificate verify failed: certificate has expired"},
    {MPSSL_ERR_CERT_NOT_YET_VALID, "ERR_CERT_NOT_YET_VALID",
     "certificate verify failed: certificate is not yet valid"},
    {MPSSL_ERR_HOSTNAME_MISMATCH, "ERR_HOSTNAME_MISMATCH",
     "certificate verify failed: certificate does not match the host name"},
    {MPSSL_ERR_NO_PEER_CERT, "ERR_NO_PEER_CERT",
     "certificate verify failed: peer did not send a certificate"},
    {MPSSL_ERR_CERT_INVALID, "ERR_CERT_INVALID",
     "certificate verify failed: certificate is invalid"},
    {MPSSL_ERR_PEER_ALERT, "ERR_PEER_ALERT", "peer sent a fatal alert"},
    {MPSSL_ERR_PROTOCOL, "ERR_PROTOCOL", "TLS protocol error"},
    {MPSSL_ERR_NO_SHARED_CIPHER, "ERR_NO_SHARED_CIPHER",
     "no shared cipher suite or protocol version with the peer"},
    {MPSSL_ERR_HANDSHAKE_EOF, "ERR_HANDSHAKE_EOF",
     "unexpected end of stream during the handshake"},
    {MPSSL_ERR_CLOSED, "ERR_CLOSED", "socket is closed"},
    {MPSSL_ERR_UNSUPPORTED, "ERR_UNSUPPORTED",
     "feature not supported by this TLS backend"},
    {MPSSL_ERR_CIPHER_LIST, "ERR_CIPHER_LIST", "invalid cipher suite list"},
    {MPSSL_ERR_INTERNAL, "ERR_INTERNAL", "internal TLS library error"},
    {MPSSL_WANT_READ, NULL, "operation would block waiting to read"},
    {MPSSL_WANT_WRITE, NULL, "operation would block waiting to write"},
    {MPSSL_EINVALID_CERT, NULL, "invalid cert"},
    {MPSSL_EINVALID_KEY, NULL, "invalid key"},
    {MPSSL_EENCRYPTED_KEY, NULL,
     "invalid key: encrypted private keys are not supported"},
    {MPSSL_EKEY_MISMATCH, NULL,
     "invalid key: private key does not match the certificate"},
    {MPSSL_EINVAL, NULL, "invalid value"},
    {MPSSL_ENEED_HOSTNAME, NULL, "CERT_REQUIRED requires server_hostname"},
    {MPSSL_EROLE_MISMATCH, NULL,
     "server_side does not match the context's protocol"},
    {MPSSL_EBAD_HOSTNAME, NULL, "invalid server_hostname"},
};

static const error_row *find_row(int code) {
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++) {
        if (error_table[i].code == code) {
            return &error_table[i];
        }
    }
    return NULL;
}

mpssl_result_class mpssl_result_class_of(long result) {
    if (result >= 0) {
        return MPSSL_CLASS_OK;
    }
    if (result >= -MPSSL_ERRNO_MAX) {
        return MPSSL_CLASS_ERRNO;
    }
    if (result == MPSSL_WANT_READ || result == MPSSL_WANT_WRITE) {
        return MPSSL_CLASS_WANT;
    }
    if (result <= MPSSL_ERR_FIRST && result >= MPSSL_ERR_LAST) {
        return MPSSL_CLASS_TLS;
    }
    if (result <= MPSSL_EINVALID_CERT && result >= MPSSL_EBAD_HOSTNAME) {
        return MPSSL_CLASS_VALUE;
    }
    /* Anything else escaping the core is a bug; report it as a TLS failure
     * rather than crash. */
    return MPSSL_CLASS_TLS;
}

int mpssl_result_is_transient(long result) {
    return result == -ETIMEDOUT || result == -EINTR;
}

const char *mpssl_strerror(int code) {
    const error_row *row = find_row(code);
    return row ? row->message : "unknown error";
}

const char *mpssl_error_name(int code) {
    const error_row *row = find_row(code);
    return row ? row->name : NULL;
}

/* TLS alert names (RFC 8446 section 6 and RFC 5246 section 7.2), for the
 * message of MPSSL_ERR_PEER_ALERT. */
static const struct {
    int number;
    const char *name;
} alert_names[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

const char *mpssl_alert_name(int alert) {
    for (size_t i = 0; i < sizeof alert_names / sizeof alert_names[0]; i++) {
        if (alert_names[i].number == alert) {
            return alert_names[i].name;
        }
    }
    return NULL;
}
