/*
 * module.c - the `ssl` extension module: constants, types, wrap_socket().
 */
#include "port.h"

#include <string.h>

/*
 * ssl.wrap_socket(sock, server_side=False, key=None, cert=None,
 *                 cert_reqs=CERT_NONE, cadata=None, server_hostname=None,
 *                 do_handshake=True)
 * Built from the SSLContext methods so both paths behave identically.
 */
static PyObject *call_method(PyObject *obj, const char *name, PyObject *args,
                             PyObject *kwargs) {
    PyObject *method = PyObject_GetAttrString(obj, name);
    if (method == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_Call(method, args, kwargs);
    Py_DECREF(method);
    return res;
}

static int configure_context(PyObject *ctx, PyObject *key, PyObject *cert,
                             PyObject *cert_reqs, PyObject *cadata) {
    PyObject *res;
    if (key != Py_None || cert != Py_None) {
        if (key == Py_None || cert == Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "wrap_socket needs both key and cert, or neither");
            return -1;
        }
        res = PyObject_CallMethod(ctx, "load_cert_chain", "OO", cert, key);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
    }
    if (cadata != Py_None) {
        res = PyObject_CallMethod(ctx, "load_verify_locations", "OO", Py_None,
                                  cadata);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
    }
    return PyObject_SetAttrString(ctx, "verify_mode", cert_reqs);
}

static PyObject *module_wrap_socket(PyObject *module, PyObject *args,
                                    PyObject *kwargs) {
    (void)module;
    static char *kwlist[] = {
        "sock",   "server_side",     "key",          "cert", "cert_reqs",
        "cadata", "server_hostname", "do_handshake", NULL};
    PyObject *sock, *key = Py_None, *cert = Py_None, *cadata = Py_None;
    PyObject *hostname = Py_None, *cert_reqs = NULL;
    int server_side = 0, do_handshake = 1;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O|pOOOOOp:wrap_socket", kwlist, &sock, &server_side,
            &key, &cert, &cert_reqs, &cadata, &hostname, &do_handshake)) {
        return NULL;
    }
    PyObject *none_mode = NULL;
    if (cert_reqs == NULL) {
        cert_reqs = none_mode = PyLong_FromLong(MPSSL_CERT_NONE);
        if (cert_reqs == NULL) {
            return NULL;
        }
    }
    PyObject *ctx = PyObject_CallFunction(
        (PyObject *)&port_context_type, "i",
        server_side ? MPSSL_PROTOCOL_TLS_SERVER : MPSSL_PROTOCOL_TLS_CLIENT);
    PyObject *res = NULL;
    if (ctx != NULL &&
        configure_context(ctx, key, cert, cert_reqs, cadata) == 0) {
        PyObject *wrap_args = PyTuple_Pack(1, sock);
        PyObject *wrap_kwargs = Py_BuildValue(
            "{s:O,s:O,s:O}", "server_side", server_side ? Py_True : Py_False,
            "server_hostname", hostname, "do_handshake_on_connect",
            do_handshake ? Py_True : Py_False);
        if (wrap_args != NULL && wrap_kwargs != NULL) {
            res = call_method(ctx, "wrap_socket", wrap_args, wrap_kwargs);
        }
        Py_XDECREF(wrap_args);
        Py_XDECREF(wrap_kwargs);
    }
    Py_XDECREF(ctx);
    Py_XDECREF(none_mode);
    return res;
}

static PyMethodDef module_methods[] = {
    {"wrap_socket", (PyCFunction)(void (*)(void))module_wrap_socket,
     METH_VARARGS | METH_KEYWORDS,
     "wrap_socket(sock, server_side=False, key=None, cert=None, "
     "cert_reqs=CERT_NONE, cadata=None, server_hostname=None, "
     "do_handshake=True) -> SSLSocket"},
    {NULL, NULL, 0, NULL},
};

static void module_free(void *module) {
    (void)module;
    mpssl_deinit();
}

static struct PyModuleDef ssl_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ssl",
    .m_doc = "TLS for sockets and streams (mpssl, MicroPython-style API)",
    .m_size = -1,
    .m_methods = module_methods,
    .m_free = module_free,
};

static int add_int(PyObject *m, const char *name, long value) {
    return PyModule_AddIntConstant(m, name, value);
}

static int add_constants(PyObject *m) {
    if (add_int(m, "PROTOCOL_TLS_CLIENT", MPSSL_PROTOCOL_TLS_CLIENT) < 0 ||
        add_int(m, "PROTOCOL_TLS_SERVER", MPSSL_PROTOCOL_TLS_SERVER) < 0 ||
        add_int(m, "CERT_NONE", MPSSL_CERT_NONE) < 0 ||
        add_int(m, "CERT_OPTIONAL", MPSSL_CERT_OPTIONAL) < 0 ||
        add_int(m, "CERT_REQUIRED", MPSSL_CERT_REQUIRED) < 0) {
        return -1;
    }
    /* Codes run downwards from ERR_FIRST (-1001) to ERR_LAST. */
    for (int code = MPSSL_ERR_FIRST; code >= MPSSL_ERR_LAST; code--) {
        const char *name = mpssl_error_name(code);
        if (name != NULL && add_int(m, name, code) < 0) {
            return -1;
        }
    }

    const char *backend = mpssl_backend_name();
    const char *version = mpssl_backend_version();
    if (PyModule_AddStringConstant(m, "BACKEND", backend) < 0 ||
        PyModule_AddStringConstant(m, "BACKEND_VERSION", version) < 0) {
        return -1;
    }
    /* Feature flags tests rely on: present only on their own backend. */
    if (strcmp(backend, "openssl") == 0 &&
        PyModule_AddStringConstant(m, "OPENSSL_VERSION", version) < 0) {
        return -1;
    }
    if (strcmp(backend, "mbedtls") == 0 &&
        PyModule_AddStringConstant(m, "MBEDTLS_VERSION", version) < 0) {
        return -1;
    }
    PyObject *tls13 = PyBool_FromLong(mpssl_backend_caps() & MPSSL_CAP_TLS13);
    return PyModule_AddObject(m, "HAS_TLSv1_3", tls13) < 0 ? -1 : 0;
}

static int add_type(PyObject *m, const char *name, PyTypeObject *type) {
    if (PyType_Ready(type) < 0) {
        return -1;
    }
    Py_INCREF(type);
    if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit_ssl(void) {
    if (port_transport_module_init() < 0) {
        return NULL;
    }
    int r = mpssl_init();
    if (r < 0) {
        return port_raise(r, NULL);
    }
    PyObject *m = PyModule_Create(&ssl_module);
    if (m == NULL) {
        mpssl_deinit();
        return NULL;
    }
    if (add_constants(m) < 0 ||
        add_type(m, "SSLContext", &port_context_type) < 0 ||
        add_type(m, "SSLSocket", &port_socket_type) < 0) {
        Py_DECREF(m); /* m_free undoes mpssl_init */
        return NULL;
    }
    return m;
}
