/*
 * context.c - the SSLContext type: configuration held in an mpssl_ctx.
 *
 * Certificates and keys are accepted as paths (str or os.PathLike, read
 * here) or as data (any bytes-like object); load_verify_locations' cafile
 * is always a path (bytes too) and its cadata always data.
 */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Data from a path or a buffer                                             */
/* ------------------------------------------------------------------------ */

/* Bytes handed to the core: either a borrowed buffer or a file's copy. */
typedef struct input_data {
    Py_buffer view; /* valid when view.obj != NULL */
    uint8_t *owned; /* file contents, wiped on release (may be a key) */
    size_t owned_len;
    const uint8_t *data;
    size_t len;
} input_data;

static void input_release(input_data *in) {
    if (in->view.obj != NULL) {
        PyBuffer_Release(&in->view);
    }
    if (in->owned != NULL) {
        explicit_bzero(in->owned, in->owned_len);
        PyMem_Free(in->owned);
        in->owned = NULL;
    }
}

static int read_file(PyObject *path_obj, input_data *in) {
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(path_obj, &encoded)) {
        return -1;
    }
    FILE *f = fopen(PyBytes_AS_STRING(encoded), "rb");
    if (f == NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_obj);
        Py_DECREF(encoded);
        return -1;
    }
    Py_DECREF(encoded);
    /* Unbuffered: stdio's own buffer would hold the key text and be freed
     * without being wiped. */
    setvbuf(f, NULL, _IONBF, 0);

    size_t cap = 4096, len = 0;
    uint8_t *buf = PyMem_Malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) {
            break;
        }
        uint8_t *bigger = PyMem_Malloc(cap * 2);
        if (bigger != NULL) {
            memcpy(bigger, buf, len);
        }
        explicit_bzero(buf, len); /* key material: no stale copies */
        PyMem_Free(buf);
        buf = bigger;
        cap *= 2;
    }
    int failed = buf == NULL ? ENOMEM : (ferror(f) ? EIO : 0);
    fclose(f);
    if (failed) {
        if (buf != NULL) {
            explicit_bzero(buf, len);
            PyMem_Free(buf);
        }
        port_raise_errno(failed);
        return -1;
    }
    in->owned = buf;
    in->owned_len = cap;
    in->data = buf;
    in->len = len;
    return 0;
}

/* A file named by obj: str, bytes or os.PathLike, as open() takes it.
 * 0, or -1 with an exception. */
static int input_get_path(PyObject *obj, input_data *in) {
    memset(in, 0, sizeof *in);
    return read_file(obj, in);
}

/*
 * obj is a str/os.PathLike path or bytes-like data; a str is data instead
 * when str_is_data (cadata).  0, or -1 with an exception.
 */
static int input_get(PyObject *obj, int str_is_data, input_data *in) {
    memset(in, 0, sizeof *in);
    if (PyUnicode_Check(obj)) {
        if (!str_is_data) {
            return read_file(obj, in);
        }
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
        if (s == NULL) {
            return -1;
        }
        in->data = (const uint8_t *)s; /* owned by obj, which outlives us */
        in->len = (size_t)n;
        return 0;
    }
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, &in->view, PyBUF_SIMPLE) < 0) {
            return -1;
        }
        in->data = in->view.buf;
        in->len = (size_t)in->view.len;
        return 0;
    }
    if (!str_is_data && PyObject_HasAttrString(obj, "__fspath__")) {
        PyObject *path = PyOS_FSPath(obj);
        if (path == NULL) {
            return -1;
        }
        int r = read_file(path, in);
        Py_DECREF(path);
        return r;
    }
    PyErr_Format(PyExc_TypeError,
                 str_is_data ? "expected str or bytes-like data, not %.100s"
                             : "expected a path or bytes-like data, not %.100s",
                 Py_TYPE(obj)->tp_name);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                             */
/* ------------------------------------------------------------------------ */

static PyObject *context_new(PyTypeObject *type, PyObject *args,
                             PyObject *kwargs) {
    PyObject *proto_obj;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "SSLContext() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O:SSLContext", &proto_obj)) {
        return NULL;
    }
    if (!PyLong_Check(proto_obj)) {
        PyErr_Format(PyExc_TypeError, "protocol must be an int, not %.100s",
                     Py_TYPE(proto_obj)->tp_name);
        return NULL;
    }
    int overflow;
    long protocol = PyLong_AsLongAndOverflow(proto_obj, &overflow);
    if (protocol == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || (protocol != MPSSL_PROTOCOL_TLS_CLIENT &&
                     protocol != MPSSL_PROTOCOL_TLS_SERVER)) {
        PyErr_SetString(PyExc_ValueError, "invalid protocol: expected "
                                          "PROTOCOL_TLS_CLIENT or "
                                          "PROTOCOL_TLS_SERVER");
        return NULL;
    }

    port_context *self = (port_context *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    int r = mpssl_ctx_new((int)protocol, &self->ctx);
    if (r < 0) {
        self->ctx = NULL;
        Py_DECREF(self);
        return port_raise(r, NULL);
    }
    return (PyObject *)self;
}

static void context_dealloc(port_context *self) {
    mpssl_ctx_unref(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------------ */
/* Attributes                                                               */
/* ------------------------------------------------------------------------ */

static PyObject *context_get_protocol(port_context *self, void *closure) {
    (void)closure;
    return PyLong_FromLong(mpssl_ctx_protocol(self->ctx));
}

static PyObject *context_get_verify_mode(port_context *self, void *closure) {
    (void)closure;
    return PyLong_FromLong(mpssl_ctx_verify_mode(self->ctx));
}

static int context_set_verify_mode(port_context *self, PyObject *value,
                                   void *closure) {
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete verify_mode");
        return -1;
    }
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "verify_mode must be an int, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow;
    long mode = PyLong_AsLongAndOverflow(value, &overflow);
    if (mode == -1 && PyErr_Occurred()) {
        return -1;
    }
    int r = overflow || mode < 0 || mode > 2
                ? MPSSL_EINVAL
                : mpssl_ctx_set_verify_mode(self->ctx, (int)mode);
    if (r < 0) {
        PyErr_SetString(PyExc_ValueError, "invalid verify_mode: expected "
                                          "CERT_NONE, CERT_OPTIONAL or "
                                          "CERT_REQUIRED");
        return -1;
    }
    return 0;
}

static PyGetSetDef context_getset[] = {
    {"protocol", (getter)context_get_protocol, NULL,
     "PROTOCOL_TLS_CLIENT or PROTOCOL_TLS_SERVER", NULL},
    {"verify_mode", (getter)context_get_verify_mode,
     (setter)context_set_verify_mode, "CERT_NONE/OPTIONAL/REQUIRED", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------------------------------ */
/* Certificates                                                             */
/* ------------------------------------------------------------------------ */

static PyObject *context_load_cert_chain(port_context *self, PyObject *args,
                                         PyObject *kwargs) {
    static char *kwlist[] = {"certfile", "keyfile", NULL};
    PyObject *cert_obj, *key_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:load_cert_chain",
                                     kwlist, &cert_obj, &key_obj)) {
        return NULL;
    }
    input_data cert, key;
    if (input_get(cert_obj, 0, &cert) < 0) {
        return NULL;
    }
    if (key_obj == Py_None) {
        key = cert; /* the key is read from the cert data (one PEM) */
        memset(&key.view, 0, sizeof key.view);
        key.owned = NULL;
    } else if (input_get(key_obj, 0, &key) < 0) {
        input_release(&cert);
        return NULL;
    }
    int r = mpssl_ctx_load_cert_chain(self->ctx, cert.data, cert.len, key.data,
                                      key.len);
    input_release(&key);
    input_release(&cert);
    if (r < 0) {
        return port_raise(r, NULL);
    }
    Py_RETURN_NONE;
}

static PyObject *context_load_verify_locations(port_context *self,
                                               PyObject *args,
                                               PyObject *kwargs) {
    static char *kwlist[] = {"cafile", "cadata", NULL};
    PyObject *cafile = Py_None, *cadata = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:load_verify_locations",
                                     kwlist, &cafile, &cadata)) {
        return NULL;
    }
    if ((cafile == Py_None) == (cadata == Py_None)) {
        PyErr_SetString(PyExc_TypeError,
                        "load_verify_locations takes exactly one of cafile "
                        "and cadata");
        return NULL;
    }
    input_data in;
    /* cafile is always a path, bytes included (as in CPython's ssl);
     * only cadata carries certificates. */
    int rc = cafile != Py_None ? input_get_path(cafile, &in)
                               : input_get(cadata, 1, &in);
    if (rc < 0) {
        return NULL;
    }
    int r = mpssl_ctx_load_verify_data(self->ctx, in.data, in.len);
    input_release(&in);
    if (r < 0) {
        return port_raise(r, NULL);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Cipher suites                                                            */
/* ------------------------------------------------------------------------ */

static PyObject *context_get_ciphers(port_context *self, PyObject *unused) {
    (void)unused;
    const uint16_t *ids;
    size_t n = mpssl_ctx_suites(self->ctx, &ids);
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < n; i++) {
        const char *name = mpssl_suite_name(ids[i]);
        PyObject *item = name != NULL ? PyUnicode_FromString(name)
                                      : PyUnicode_FromFormat("0x%04X", ids[i]);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(item);
    }
    return list;
}

static PyObject *cipher_list_error(const char *fmt, PyObject *name,
                                   const char *why) {
    PyObject *msg = name != NULL ? PyUnicode_FromFormat(fmt, name, why)
                                 : PyUnicode_FromString(fmt);
    if (msg == NULL) {
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8(msg);
    if (text != NULL) {
        port_raise_tls(MPSSL_ERR_CIPHER_LIST, text);
    }
    Py_DECREF(msg);
    return NULL;
}

/* Names -> ids.  0, or -1 with an exception. */
static int lookup_suites(PyObject *seq, uint16_t *ids, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "cipher suite names must be str, not %.100s",
                         Py_TYPE(item)->tp_name);
            return -1;
        }
        Py_ssize_t len;
        const char *name = PyUnicode_AsUTF8AndSize(item, &len);
        if (name == NULL) {
            return -1;
        }
        if (mpssl_suite_lookup(name, (size_t)len, &ids[i]) < 0) {
            cipher_list_error("unknown cipher suite '%U'", item, NULL);
            return -1;
        }
    }
    return 0;
}

static PyObject *context_set_ciphers(port_context *self, PyObject *ciphers) {
    if (!PyList_Check(ciphers) && !PyTuple_Check(ciphers)) {
        PyErr_Format(PyExc_TypeError,
                     "set_ciphers expects a list or tuple of str, not %.100s",
                     Py_TYPE(ciphers)->tp_name);
        return NULL;
    }
    PyObject *seq = PySequence_Fast(ciphers, "expected a list or tuple");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    uint16_t *ids = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *ids);
    PyObject *result = NULL;
    if (ids == NULL) {
        PyErr_NoMemory();
    } else if (n == 0) {
        cipher_list_error("empty cipher suite list", NULL, NULL);
    } else if (lookup_suites(seq, ids, n) == 0) {
        size_t bad = 0;
        int r = mpssl_ctx_set_suites(self->ctx, ids, (size_t)n, &bad);
        if (r == MPSSL_ERR_CIPHER_LIST && bad < (size_t)n) {
            cipher_list_error("cipher suite '%U' %s",
                              PySequence_Fast_GET_ITEM(seq, bad),
                              mpssl_suite_refusal(self->ctx, ids[bad]));
        } else if (r < 0) {
            port_raise(r, NULL);
        } else {
            result = Py_NewRef(Py_None);
        }
    }
    PyMem_Free(ids);
    Py_DECREF(seq);
    return result;
}

/* ------------------------------------------------------------------------ */
/* wrap_socket                                                              */
/* ------------------------------------------------------------------------ */

static PyObject *context_wrap_socket(port_context *self, PyObject *args,
                                     PyObject *kwargs) {
    static char *kwlist[] = {"sock", "server_side", "do_handshake_on_connect",
                             "server_hostname", NULL};
    PyObject *sock, *hostname = Py_None;
    int server_side = 0, do_handshake = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$ppO:wrap_socket", kwlist,
                                     &sock, &server_side, &do_handshake,
                                     &hostname)) {
        return NULL;
    }
    return port_socket_wrap(self, sock, server_side, do_handshake, hostname);
}

static PyMethodDef context_methods[] = {
    {"load_cert_chain", (PyCFunction)(void (*)(void))context_load_cert_chain,
     METH_VARARGS | METH_KEYWORDS,
     "load_cert_chain(certfile, keyfile=None): own certificate and key"},
    {"load_verify_locations",
     (PyCFunction)(void (*)(void))context_load_verify_locations,
     METH_VARARGS | METH_KEYWORDS,
     "load_verify_locations(cafile=None, cadata=None): trusted CAs"},
    {"get_ciphers", (PyCFunction)context_get_ciphers, METH_NOARGS,
     "the enabled cipher suites (IANA names) in preference order"},
    {"set_ciphers", (PyCFunction)context_set_ciphers, METH_O,
     "set_ciphers(list_of_names): enable exactly these suites"},
    {"wrap_socket", (PyCFunction)(void (*)(void))context_wrap_socket,
     METH_VARARGS | METH_KEYWORDS,
     "wrap_socket(sock, *, server_side=False, do_handshake_on_connect=True, "
     "server_hostname=None) -> SSLSocket"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject port_context_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ssl.SSLContext",
    .tp_basicsize = sizeof(port_context),
    .tp_dealloc = (destructor)context_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SSLContext(protocol): TLS configuration shared by sockets",
    .tp_methods = context_methods,
    .tp_getset = context_getset,
    .tp_new = context_new,
};
