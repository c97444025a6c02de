/*
 * transport.c - the byte streams a connection runs over.
 *
 * Two kinds:
 * - socket.socket instances: the fd is used directly with MSG_DONTWAIT, so
 *   the whole core call (crypto and waiting) runs with the GIL released and
 *   the Python-level blocking mode of the socket does not matter;
 * - any other stream object: its recv_into/send (or readinto/write) methods
 *   are called with the GIL held, on private copies of the data; None
 *   means "would block".
 * Waiting is poll() on the fd, bounded by the operation's deadline.
 */
#include "port.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static PyObject *socket_type; /* _socket.socket */

int port_transport_module_init(void) {
    PyObject *mod = PyImport_ImportModule("_socket");
    if (mod == NULL) {
        return -1;
    }
    socket_type = PyObject_GetAttrString(mod, "socket");
    Py_DECREF(mod);
    return socket_type == NULL ? -1 : 0;
}

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void port_transport_set_timeout(port_transport *t, double timeout) {
    t->has_deadline = timeout >= 0;
    t->deadline = t->has_deadline ? monotonic_now() + timeout : 0.0;
}

/* poll()'s timeout for the time left: -1 for none, 0 when expired. */
static int remaining_ms(const port_transport *t) {
    if (!t->has_deadline) {
        return -1;
    }
    double left = t->deadline - monotonic_now();
    if (left <= 0) {
        return 0;
    }
    double ms = left * 1000.0 + 0.999; /* round up: never wake early */
    return ms >= (double)INT_MAX ? INT_MAX : (int)ms;
}

/*
 * A signal interrupted poll(): run Python's handlers.  Returns -1 when one
 * raised; the exception is kept in t->exc for the method to re-raise.
 */
static int check_signals(port_transport *t) {
    PyThreadState *released = t->released;
    if (released != NULL) {
        PyEval_RestoreThread(released);
    }
    int failed = PyErr_CheckSignals() < 0;
    if (failed && t->exc == NULL) {
        t->exc = port_fetch_exception();
    }
    if (released != NULL) {
        t->released = PyEval_SaveThread();
    }
    return failed ? -1 : 0;
}

static int poll_fd(port_transport *t, unsigned events) {
    struct pollfd p = {.fd = t->fd, .events = 0, .revents = 0};
    if (events & MPSSL_POLL_RD) {
        p.events |= POLLIN;
    }
    if (events & MPSSL_POLL_WR) {
        p.events |= POLLOUT;
    }
    /* Bounded by the deadline, or by the signals that can end it. */
    for (;;) {
        int ms = remaining_ms(t);
        if (ms == 0 && t->has_deadline) {
            return -ETIMEDOUT;
        }
        int n = poll(&p, 1, ms);
        if (n > 0) {
            return 0; /* ready, or an error the next recv/send reports */
        }
        if (n < 0) {
            if (errno != EINTR) {
                return -errno;
            }
            if (check_signals(t) < 0) {
                return -EINTR;
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* socket.socket: the fd directly                                           */
/* ------------------------------------------------------------------------ */

static long socket_recv(void *user, uint8_t *buf, size_t len) {
    port_transport *t = user;
    for (;;) {
        ssize_t n = recv(t->fd, buf, len, MSG_DONTWAIT);
        if (n >= 0) {
            return (long)n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return MPSSL_IO_WOULD_BLOCK;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static long socket_send(void *user, const uint8_t *buf, size_t len) {
    port_transport *t = user;
    for (;;) {
        ssize_t n = send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            return (long)n;
        }
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            return MPSSL_IO_WOULD_BLOCK;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

/* Waits on the fd with the GIL released: it is already released when the
 * whole operation runs without it (see sslsocket.c), else only here. */
static int wait_without_gil(port_transport *t, unsigned events) {
    if (t->released != NULL) {
        return poll_fd(t, events);
    }
    t->released = PyEval_SaveThread();
    int r = poll_fd(t, events);
    PyEval_RestoreThread(t->released);
    t->released = NULL;
    return r;
}

static int socket_wait(void *user, unsigned events) {
    return wait_without_gil(user, events);
}

/* ------------------------------------------------------------------------ */
/* Other stream objects: their methods, GIL held                            */
/* ------------------------------------------------------------------------ */

static int is_transient_errno(long err) {
    return err == ETIMEDOUT || err == EAGAIN || err == EWOULDBLOCK ||
           err == EINTR;
}

/* An OSError's errno attribute, or 0 when it has none (OSError("text")). */
static long oserror_errno(PyObject *exc) {
    PyObject *attr = PyObject_GetAttrString(exc, "errno");
    long err = 0;
    if (attr != NULL && PyLong_Check(attr)) {
        err = PyLong_AsLong(attr);
    }
    Py_XDECREF(attr);
    PyErr_Clear();
    return err;
}

/* The errno an OSError raised without one stands for, by its class. */
static long errno_of_class(PyObject *exc) {
    static const struct {
        PyObject **type;
        long err;
    } classes[] = {
        {&PyExc_TimeoutError, ETIMEDOUT},
        {&PyExc_BlockingIOError, EAGAIN},
        {&PyExc_InterruptedError, EINTR},
        {&PyExc_ConnectionResetError, ECONNRESET},
        {&PyExc_ConnectionAbortedError, ECONNABORTED},
        {&PyExc_ConnectionRefusedError, ECONNREFUSED},
        {&PyExc_BrokenPipeError, EPIPE},
    };
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        if (PyErr_GivenExceptionMatches(exc, *classes[i].type)) {
            return classes[i].err;
        }
    }
    return EIO;
}

/*
 * What an exception from a stream method means to the core.  A method that
 * raised transferred nothing, so a timeout, would-block, interrupt or any
 * non-OSError exception (KeyboardInterrupt, a bug in the stream) is
 * transient: -EINTR leaves the connection usable once the method has
 * re-raised the exception.  Any other OSError is the transport failing:
 * its own -errno, which the core keeps as the sticky error.
 */
static long exception_result(PyObject *exc) {
    if (exc == NULL || !PyErr_GivenExceptionMatches(exc, PyExc_OSError)) {
        return -EINTR;
    }
    long err = oserror_errno(exc);
    if (err <= 0 || err > MPSSL_ERRNO_MAX) {
        err = errno_of_class(exc);
    }
    return is_transient_errno(err) ? -EINTR : -err;
}

/* The first exception of an operation is the one its method re-raises. */
static void keep_exception(port_transport *t, PyObject *exc) {
    if (t->exc == NULL) {
        t->exc = exc;
    } else {
        Py_XDECREF(exc);
    }
}

/* Keeps the pending exception and returns what it means to the core. */
static long stash_exception(port_transport *t) {
    PyObject *exc = port_fetch_exception();
    long r = exception_result(exc);
    keep_exception(t, exc);
    return r;
}

/* Our own buffer could not be allocated: nothing was transferred, so the
 * connection survives; the method raises OSError(ENOMEM). */
static long no_memory(port_transport *t) {
    PyErr_Clear();
    port_raise_errno(ENOMEM);
    keep_exception(t, port_fetch_exception());
    return -EINTR;
}

/*
 * A stream that breaks the protocol (a count outside [0, len], a result
 * that is neither an int nor None) may have transferred anything: the
 * connection cannot continue, -EIO.  The method raises OSError(EIO, why)
 * (TypeError for a wrong result type) and later I/O OSError(EIO).
 */
static long bad_count(port_transport *t, const char *name, PyObject *count,
                      size_t len) {
    PyObject *msg = PyUnicode_FromFormat(
        "stream %s() returned %R for a buffer of %zu bytes", name, count, len);
    PyObject *exc = NULL;
    if (msg != NULL) {
        exc = PyObject_CallFunction(PyExc_OSError, "iO", EIO, msg);
        Py_DECREF(msg);
    }
    keep_exception(t, exc != NULL ? exc : port_fetch_exception());
    return -EIO;
}

static long bad_result_type(port_transport *t, const char *name,
                            PyObject *res) {
    PyErr_Format(PyExc_TypeError,
                 "stream %s() returned %.100s, expected an int or None", name,
                 Py_TYPE(res)->tp_name);
    keep_exception(t, port_fetch_exception());
    return -EIO;
}

/*
 * Calls stream.<name>(arg) and checks its result: None -> would block, an
 * int in [0, len] -> that count.  Everything else is turned into what the
 * core expects (see stash_exception, bad_count and bad_result_type).
 */
static long call_stream(port_transport *t, const char *name, PyObject *arg,
                        size_t len) {
    PyObject *res = PyObject_CallMethod(t->stream, name, "O", arg);
    if (res == NULL) {
        return stash_exception(t);
    }
    if (res == Py_None) {
        Py_DECREF(res);
        return MPSSL_IO_WOULD_BLOCK;
    }
    long r;
    if (!PyLong_Check(res)) {
        r = bad_result_type(t, name, res);
    } else {
        int overflow;
        long n = PyLong_AsLongAndOverflow(res, &overflow);
        r = !overflow && n >= 0 && (size_t)n <= len
                ? n
                : bad_count(t, name, res, len);
    }
    Py_DECREF(res);
    return r;
}

/* A stream method after one already raised in this operation: report
 * "interrupted" rather than call it again with the error unreported. */
static int stream_unusable(const port_transport *t) {
    return t->stream == NULL || t->exc != NULL;
}

/*
 * The stream reads into a scratch bytearray, copied out afterwards: the
 * core's buffer (often the TLS library's own) is never exposed, since a
 * stream could keep a view or slice of it past this call.
 */
static long stream_recv(void *user, uint8_t *buf, size_t len) {
    port_transport *t = user;
    if (stream_unusable(t)) {
        return t->stream == NULL ? -EBADF : -EINTR;
    }
    if (len > PY_SSIZE_T_MAX) {
        len = PY_SSIZE_T_MAX;
    }
    PyObject *scratch = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (scratch == NULL) {
        return no_memory(t);
    }
    memset(PyByteArray_AS_STRING(scratch), 0, len); /* no stale heap bytes */
    const char *name = t->use_recv_into ? "recv_into" : "readinto";
    long n = call_stream(t, name, scratch, len);
    /* The stream may have resized the bytearray: never copy past its end. */
    size_t size = (size_t)PyByteArray_GET_SIZE(scratch);
    if (n > 0 && (size_t)n > size) {
        PyObject *count = PyLong_FromLong(n);
        n = count != NULL ? bad_count(t, name, count, size) : no_memory(t);
        Py_XDECREF(count);
    }
    if (n > 0) {
        memcpy(buf, PyByteArray_AS_STRING(scratch), (size_t)n);
    }
    Py_DECREF(scratch);
    return n;
}

/* The stream gets its own immutable copy of the bytes to send. */
static long stream_send(void *user, const uint8_t *buf, size_t len) {
    port_transport *t = user;
    if (stream_unusable(t)) {
        return t->stream == NULL ? -EBADF : -EINTR;
    }
    if (len > PY_SSIZE_T_MAX) {
        len = PY_SSIZE_T_MAX;
    }
    PyObject *copy =
        PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
    if (copy == NULL) {
        return no_memory(t);
    }
    long n = call_stream(t, t->use_send ? "send" : "write", copy, len);
    Py_DECREF(copy);
    /* "Never 0": a stream that accepted nothing would block. */
    return n == 0 && len > 0 ? MPSSL_IO_WOULD_BLOCK : n;
}

static int stream_wait(void *user, unsigned events) {
    port_transport *t = user;
    if (t->exc != NULL) {
        return -EINTR; /* the operation ends to re-raise the exception */
    }
    return wait_without_gil(t, events);
}

/* The stream's fd when it has a working fileno(), else -1. */
static int stream_fileno(PyObject *stream) {
    if (!PyObject_HasAttrString(stream, "fileno")) {
        return -1;
    }
    PyObject *res = PyObject_CallMethod(stream, "fileno", NULL);
    int fd = -1;
    if (res != NULL && PyLong_Check(res)) {
        long v = PyLong_AsLong(res);
        if (v >= 0 && v <= INT_MAX) {
            fd = (int)v;
        }
    }
    Py_XDECREF(res);
    PyErr_Clear();
    return fd < 0 ? -1 : fd;
}

static int init_socket(port_transport *t, PyObject *sock,
                       mpssl_transport *out) {
    PyObject *res = PyObject_CallMethod(sock, "fileno", NULL);
    if (res == NULL) {
        return -1;
    }
    long fd = PyLong_AsLong(res);
    Py_DECREF(res);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < 0 || fd > INT_MAX) {
        port_raise_errno(EBADF);
        return -1;
    }
    t->fd = (int)fd;
    t->is_socket = 1;
    out->recv = socket_recv;
    out->send = socket_send;
    out->wait = socket_wait;
    return 0;
}

static int init_stream(port_transport *t, PyObject *stream,
                       mpssl_transport *out) {
    t->use_recv_into = PyObject_HasAttrString(stream, "recv_into");
    t->use_send = PyObject_HasAttrString(stream, "send");
    if ((!t->use_recv_into && !PyObject_HasAttrString(stream, "readinto")) ||
        (!t->use_send && !PyObject_HasAttrString(stream, "write"))) {
        PyErr_Format(PyExc_TypeError,
                     "expected a socket or a stream with recv_into/send or "
                     "readinto/write, not %.100s",
                     Py_TYPE(stream)->tp_name);
        return -1;
    }
    t->fd = stream_fileno(stream);
    out->recv = stream_recv;
    out->send = stream_send;
    /* Without an fd there is nothing to wait on: would-block surfaces as
     * None even in blocking mode. */
    out->wait = t->fd >= 0 ? stream_wait : NULL;
    return 0;
}

int port_transport_init(port_transport *t, PyObject *stream,
                        mpssl_transport *out) {
    t->stream = stream;
    t->fd = -1;
    t->is_socket = 0;
    t->has_deadline = 0;
    t->released = NULL;
    t->exc = NULL;
    out->user = t;

    int is_socket = PyObject_IsInstance(stream, socket_type);
    if (is_socket < 0) {
        return -1;
    }
    return is_socket ? init_socket(t, stream, out)
                     : init_stream(t, stream, out);
}
