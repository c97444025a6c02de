/*
 * transport.c - the byte streams a connection runs over.
 *
 * Two kinds:
 * - socket.socket instances: the fd is used directly with MSG_DONTWAIT, so
 *   the whole core call (crypto and waiting) runs with the GIL released and
 *   the Python-level blocking mode of the socket does not matter;
 * - any other stream object: its recv_into/send (or readinto/write) methods
 *   are called with the GIL held; None means "would block".
 * Waiting is poll() on the fd, bounded by the operation's deadline.
 */
#include "port.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
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

static int socket_wait(void *user, unsigned events) {
    return poll_fd(user, events);
}

/* ------------------------------------------------------------------------ */
/* Other stream objects: their methods, GIL held                            */
/* ------------------------------------------------------------------------ */

/* Keeps the exception for the method and tells the core "I/O error". */
static long stash_exception(port_transport *t) {
    PyObject *exc = port_fetch_exception();
    if (t->exc == NULL) {
        t->exc = exc;
    } else {
        Py_XDECREF(exc);
    }
    return -EIO;
}

/* A stream method's result: None -> would block, int -> count or -errno. */
static long stream_result(port_transport *t, PyObject *res, size_t len) {
    if (res == NULL) {
        return stash_exception(t);
    }
    if (res == Py_None) {
        Py_DECREF(res);
        return MPSSL_IO_WOULD_BLOCK;
    }
    long n = PyLong_AsLong(res);
    Py_DECREF(res);
    if (n == -1 && PyErr_Occurred()) {
        return stash_exception(t);
    }
    if (n < 0) {
        return n >= -MPSSL_ERRNO_MAX ? n : -EIO;
    }
    if ((size_t)n > len) {
        PyErr_SetString(PyExc_ValueError,
                        "stream returned more bytes than requested");
        return stash_exception(t);
    }
    return n;
}

/* Calls stream.<name>(memoryview over buf) and releases the view, so the
 * stream cannot keep a pointer into the core's buffer. */
static PyObject *call_with_view(port_transport *t, const char *name, char *buf,
                                size_t len, int flags) {
    if (len > PY_SSIZE_T_MAX) {
        len = PY_SSIZE_T_MAX;
    }
    PyObject *view = PyMemoryView_FromMemory(buf, (Py_ssize_t)len, flags);
    if (view == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethod(t->stream, name, "O", view);
    PyObject *failure = res == NULL ? port_fetch_exception() : NULL;
    PyObject *rel = PyObject_CallMethod(view, "release", NULL);
    Py_DECREF(view);
    if (rel == NULL) {
        /* Still exported by the stream: report it unless already failing. */
        if (failure != NULL) {
            PyErr_Clear();
        }
        Py_CLEAR(res);
    }
    Py_XDECREF(rel);
    port_restore_exception(failure);
    return res;
}

static long stream_recv(void *user, uint8_t *buf, size_t len) {
    port_transport *t = user;
    if (t->stream == NULL) {
        return -EBADF;
    }
    const char *name = t->use_recv_into ? "recv_into" : "readinto";
    PyObject *res = call_with_view(t, name, (char *)buf, len, PyBUF_WRITE);
    return stream_result(t, res, len);
}

static long stream_send(void *user, const uint8_t *buf, size_t len) {
    port_transport *t = user;
    if (t->stream == NULL) {
        return -EBADF;
    }
    const char *name = t->use_send ? "send" : "write";
    PyObject *res = call_with_view(t, name, (char *)buf, len, PyBUF_READ);
    long n = stream_result(t, res, len);
    /* "Never 0": a stream that accepted nothing would block. */
    return n == 0 && len > 0 ? MPSSL_IO_WOULD_BLOCK : n;
}

static int stream_wait(void *user, unsigned events) {
    port_transport *t = user;
    /* poll only; the GIL is held on this path, so let other threads run. */
    t->released = PyEval_SaveThread();
    int r = poll_fd(t, events);
    PyEval_RestoreThread(t->released);
    t->released = NULL;
    return r;
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
