/*
 * certdict.c - getpeercert()'s dict, built from the core's DER reader in
 * exactly the shape CPython's ssl module returns, so code written against
 * CPython reads it unchanged.
 */
#include "port.h"

#include <stdio.h>

static PyObject *blob_text(const mpssl_blob *b) {
    return PyUnicode_DecodeUTF8((const char *)b->data, (Py_ssize_t)b->len,
                                "replace");
}

/* Appends `item` (stolen) to `list`; -1 on failure. */
static int append_steal(PyObject *list, PyObject *item) {
    if (item == NULL) {
        return -1;
    }
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* Moves the attributes collected for one RDN into `rdns` as a tuple. */
static int flush_rdn(PyObject *rdns, PyObject **rdn) {
    if (*rdn == NULL) {
        return 0;
    }
    PyObject *t = PyList_AsTuple(*rdn);
    Py_CLEAR(*rdn);
    return append_steal(rdns, t);
}

/* ((('commonName', 'x'),), (('organizationName', 'y'),), ...): one inner
 * tuple per RDN, grouping multi-valued RDNs as CPython does. */
static PyObject *name_tuple(const mpssl_blob *name) {
    PyObject *rdns = PyList_New(0), *rdn = NULL;
    size_t pos = 0, current = 0;
    mpssl_x509_attr attr;
    int r;
    if (rdns == NULL) {
        return NULL;
    }
    while ((r = mpssl_x509_name_next(name, &pos, &attr)) == 1) {
        if (rdn != NULL && attr.rdn != current && flush_rdn(rdns, &rdn) < 0) {
            goto fail;
        }
        current = attr.rdn;
        if (rdn == NULL && (rdn = PyList_New(0)) == NULL) {
            goto fail;
        }
        PyObject *value = blob_text(&attr.value);
        if (value == NULL) {
            goto fail;
        }
        if (append_steal(rdn, Py_BuildValue("(sN)", attr.attr, value)) < 0) {
            goto fail;
        }
    }
    if (r < 0) {
        port_raise(r, NULL);
        goto fail;
    }
    if (flush_rdn(rdns, &rdn) < 0) {
        goto fail;
    }
    PyObject *t = PyList_AsTuple(rdns);
    Py_DECREF(rdns);
    return t;
fail:
    Py_XDECREF(rdn);
    Py_DECREF(rdns);
    return NULL;
}

/* i2a_ASN1_INTEGER's text: two uppercase hex digits per byte, "00" for 0. */
static PyObject *serial_text(const mpssl_blob *serial) {
    if (serial->len == 0) {
        return PyUnicode_FromString("00");
    }
    PyObject *s = PyUnicode_New((Py_ssize_t)serial->len * 2, 127);
    if (s == NULL) {
        return NULL;
    }
    static const char hex[] = "0123456789ABCDEF";
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (size_t i = 0; i < serial->len; i++) {
        out[2 * i] = (Py_UCS1)hex[serial->data[i] >> 4];
        out[2 * i + 1] = (Py_UCS1)hex[serial->data[i] & 15];
    }
    return s;
}

/* ASN1_TIME_print's text in the C locale: "Mar  5 12:00:00 2025 GMT". */
static PyObject *time_text(const mpssl_x509_time *t) {
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    const char *mon =
        t->month >= 1 && t->month <= 12 ? months[t->month - 1] : "???";
    char buf[64];
    snprintf(buf, sizeof buf, "%s %2d %02d:%02d:%02d %d GMT", mon, t->day,
             t->hour, t->minute, t->second, t->year);
    return PyUnicode_FromString(buf);
}

/* CPython's IP text: dotted IPv4; IPv6 as eight %X groups, no "::". */
static PyObject *ip_text(const mpssl_blob *ip) {
    const uint8_t *p = ip->data;
    char buf[64];
    if (ip->len == 4) {
        snprintf(buf, sizeof buf, "%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
    } else if (ip->len == 16) {
        int n = 0;
        for (int i = 0; i < 8; i++) {
            n += snprintf(buf + n, sizeof buf - (size_t)n, i ? ":%X" : "%X",
                          (unsigned)(p[2 * i] << 8 | p[2 * i + 1]));
        }
    } else {
        return PyUnicode_FromString("<invalid>");
    }
    return PyUnicode_FromString(buf);
}

/* (('DNS', 'a'), ('IP Address', '127.0.0.1'), ...) or NULL with no
 * exception when the certificate has no entry CPython would show. */
static PyObject *san_tuple(const mpssl_blob *san) {
    PyObject *list = PyList_New(0);
    size_t pos = 0;
    mpssl_x509_san entry;
    int r;
    if (list == NULL) {
        return NULL;
    }
    while ((r = mpssl_x509_san_next(san, &pos, &entry)) == 1) {
        const char *kind;
        PyObject *value;
        switch (entry.type) {
        case MPSSL_SAN_DNS:
            kind = "DNS";
            value = blob_text(&entry.value);
            break;
        case MPSSL_SAN_EMAIL:
            kind = "email";
            value = blob_text(&entry.value);
            break;
        case MPSSL_SAN_URI:
            kind = "URI";
            value = blob_text(&entry.value);
            break;
        case MPSSL_SAN_IP:
            kind = "IP Address";
            value = ip_text(&entry.value);
            break;
        default:
            continue; /* other GeneralName kinds are not reported */
        }
        if (value == NULL ||
            append_steal(list, Py_BuildValue("(sN)", kind, value)) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    if (r < 0) {
        Py_DECREF(list);
        return port_raise(r, NULL);
    }
    PyObject *t = PyList_AsTuple(list);
    Py_DECREF(list);
    return t;
}

/* dict[key] = value (stolen); -1 on failure. */
static int set_steal(PyObject *dict, const char *key, PyObject *value) {
    if (value == NULL) {
        return -1;
    }
    int r = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return r;
}

PyObject *port_cert_to_dict(const uint8_t *der, size_t len) {
    mpssl_x509 cert;
    int r = mpssl_x509_parse(der, len, &cert);
    if (r < 0) {
        return port_raise(r, NULL);
    }
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    /* Insertion order as CPython's _decode_certificate. */
    if (set_steal(d, "subject", name_tuple(&cert.subject)) < 0 ||
        set_steal(d, "issuer", name_tuple(&cert.issuer)) < 0 ||
        set_steal(d, "version", PyLong_FromLong(cert.version)) < 0 ||
        set_steal(d, "serialNumber", serial_text(&cert.serial)) < 0 ||
        set_steal(d, "notBefore", time_text(&cert.not_before)) < 0 ||
        set_steal(d, "notAfter", time_text(&cert.not_after)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    if (cert.san.len > 0) {
        PyObject *san = san_tuple(&cert.san);
        if (san == NULL ||
            (PyTuple_GET_SIZE(san) > 0 &&
             PyDict_SetItemString(d, "subjectAltName", san) < 0)) {
            Py_XDECREF(san);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(san);
    }
    return d;
}
