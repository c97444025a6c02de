/*
 * errors.c - mapping mpssl results to Python exceptions.
 *
 * The contract has no SSLError: -errno becomes OSError(errno) (built through
 * OSError's constructor so CPython picks TimeoutError, ConnectionResetError,
 * ...), TLS codes become OSError(code, message), value errors ValueError.
 */
#include "port.h"

#include <errno.h>
#include <string.h>

PyObject *port_raise_errno(int err) {
    /* Calling OSError(errno, strerror) rather than PyErr_SetObject on a
     * tuple is what selects the errno-specific subclass. */
    PyObject *exc =
        PyObject_CallFunction(PyExc_OSError, "is", err, strerror(err));
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *port_raise_tls(int code, const char *message) {
    /* A negative errno never matches a subclass: plain OSError. */
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", code, message);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *raise_tls_result(int code, const mpssl_conn *conn) {
    char detail[256];

    /* The connection's message carries the alert name or library reason;
     * use it only when it describes this very failure. */
    if (conn != NULL && mpssl_conn_error(conn, detail, sizeof detail) == code &&
        detail[0] != '\0') {
        return port_raise_tls(code, detail);
    }
    return port_raise_tls(code, mpssl_strerror(code));
}

PyObject *port_raise(long result, const mpssl_conn *conn) {
    switch (mpssl_result_class_of(result)) {
    case MPSSL_CLASS_ERRNO:
        return port_raise_errno((int)-result);
    case MPSSL_CLASS_TLS:
        return raise_tls_result((int)result, conn);
    case MPSSL_CLASS_VALUE:
        PyErr_SetString(PyExc_ValueError, mpssl_strerror((int)result));
        return NULL;
    case MPSSL_CLASS_WANT:
        return port_raise_errno(EAGAIN);
    case MPSSL_CLASS_OK:
    default:
        break;
    }
    PyErr_Format(PyExc_SystemError, "unexpected mpssl result %ld", result);
    return NULL;
}

PyObject *port_fetch_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

void port_restore_exception(PyObject *exc) {
    if (exc == NULL) {
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
#endif
}
