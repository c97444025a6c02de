/*
 * sslsocket.c - the SSLSocket type: a TLS connection over a stream.
 *
 * Every I/O method runs one "operation": compute the deadline from the
 * socket's timeout, run the core call (with the GIL released on the socket
 * fast path), then map the result.  Because the GIL is released, a
 * per-object `busy` flag serialises operations as mpssl.h requires; it is
 * only read and written with the GIL held.
 */
#include "port.h"

#include <stdio.h>

#include <errno.h>
#include <string.h>
#include <structmember.h>
#include <sys/socket.h>

typedef struct port_socket {
    PyObject_HEAD PyObject *context; /* the SSLContext */
    PyObject *stream;          /* the wrapped socket/stream; NULL once closed */
    PyObject *server_hostname; /* str or None */
    int server_side;
    mpssl_conn *conn;
    port_transport t;
    double timeout; /* recorded for stream objects: -1 none, 0 non-blocking */
    int closed;
    int busy;          /* an operation is running (maybe in another thread) */
    int close_pending; /* close() came during an operation */
    int owns_stream;   /* closing closes the stream (not after a failed wrap) */
    uint8_t *unread;   /* plaintext an interrupted read had taken (see
                          keep_unread), served first by the next read */
    size_t unread_len;
} port_socket;

/* recv(n) returns what one read gives: never more than this is allocated,
 * whatever n says. */
#define RECV_MAX ((size_t)65536)

/* Largest single core read/write: keeps counts well inside a long. */
#define CHUNK_MAX ((size_t)1 << 30)

static PyObject *raise_closed(void) {
    return port_raise_tls(MPSSL_ERR_CLOSED, mpssl_strerror(MPSSL_ERR_CLOSED));
}

static PyObject *raise_busy(void) {
    return port_raise_tls(EBUSY, "SSLSocket is in use by another thread");
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                  */
/* ------------------------------------------------------------------------ */

/* Releases the TLS state and closes the stream exactly once.  -1 when the
 * stream's close() raised (exception set). */
/*
 * The wrapped socket's descriptor, re-read before each use: if the
 * application closed that socket behind our back and the number now belongs
 * to another connection, our bytes (a close_notify, say) must never reach
 * it.  1 when the descriptor is still the one we wrapped.
 */
static int fd_still_ours(port_socket *self) {
    if (!self->t.is_socket || self->stream == NULL) {
        return 1;
    }
    PyObject *res = PyObject_CallMethod(self->stream, "fileno", NULL);
    long fd = res != NULL ? PyLong_AsLong(res) : -1;
    Py_XDECREF(res);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return fd == self->t.fd;
}

static int close_now(port_socket *self) {
    self->closed = 1;
    self->close_pending = 0;
    PyMem_RawFree(self->unread);
    self->unread = NULL;
    self->unread_len = 0;
    if (!fd_still_ours(self)) {
        self->t.fd = -1; /* nothing more goes out through a reused number */
    }
    if (self->conn != NULL) {
        /* close_notify: one attempt that never blocks. */
        mpssl_conn_set_blocking(self->conn, 0);
        mpssl_conn_close(self->conn);
        mpssl_conn_free(self->conn);
        self->conn = NULL;
    }
    Py_CLEAR(self->t.exc); /* a failed close_notify is not reported */
    PyObject *stream = self->stream;
    self->stream = NULL;
    self->t.stream = NULL;
    self->t.fd = -1;
    int r = 0;
    if (stream != NULL && self->owns_stream) {
        PyObject *res = PyObject_CallMethod(stream, "close", NULL);
        r = res == NULL ? -1 : 0;
        Py_XDECREF(res);
    }
    Py_XDECREF(stream);
    return r;
}

static PyObject *sslsocket_close(port_socket *self, PyObject *unused) {
    (void)unused;
    if (self->closed) {
        Py_RETURN_NONE;
    }
    if (self->busy) {
        /* Wake the other thread out of poll()/recv; it closes on return. */
        if (self->t.is_socket && self->t.fd >= 0) {
            shutdown(self->t.fd, SHUT_RDWR);
        }
        self->close_pending = 1;
        Py_RETURN_NONE;
    }
    if (close_now(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

/* The timeout governing the next operation: -1 none, 0 non-blocking. */
static int current_timeout(port_socket *self, double *out) {
    if (!self->t.is_socket) {
        *out = self->timeout;
        return 0;
    }
    PyObject *res = PyObject_CallMethod(self->stream, "gettimeout", NULL);
    if (res == NULL) {
        return -1;
    }
    *out = res == Py_None ? -1.0 : PyFloat_AsDouble(res);
    Py_DECREF(res);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

typedef long (*op_fn)(mpssl_conn *conn, void *arg);

/*
 * Runs fn as one operation.  force_blocking: wait even on a non-blocking
 * socket (the handshake inside wrap_socket must complete).  Returns the
 * core's result; *failed is set when a Python exception is pending
 * (stored from the stream or a signal handler, or mapped from the result).
 * WANT results are returned with *failed == 0.
 */
static long run_op(port_socket *self, op_fn fn, void *arg, int force_blocking,
                   int *failed) {
    *failed = 1;
    if (self->closed) {
        raise_closed();
        return MPSSL_ERR_CLOSED;
    }
    if (self->busy) {
        raise_busy();
        return -EBUSY;
    }
    if (!fd_still_ours(self)) {
        port_raise_tls(EBADF, "the wrapped socket was closed or replaced");
        return -EBADF;
    }
    self->busy = 1;
    double timeout;
    if (current_timeout(self, &timeout) < 0) {
        self->busy = 0;
        return -EINVAL;
    }
    int blocking = timeout != 0 || force_blocking;
    mpssl_conn_set_blocking(self->conn, blocking);
    port_transport_set_timeout(&self->t, timeout > 0 ? timeout : -1);

    long r;
    /* Crypto runs without the GIL where the backend allows connections in
     * parallel threads; otherwise only the waits release it. */
    if (self->t.is_socket && (mpssl_backend_caps() & MPSSL_CAP_THREADS)) {
        self->t.released = PyEval_SaveThread();
        r = fn(self->conn, arg);
        PyEval_RestoreThread(self->t.released);
        self->t.released = NULL;
    } else {
        r = fn(self->conn, arg);
    }
    self->busy = 0;

    PyObject *exc = self->t.exc;
    self->t.exc = NULL;
    if (exc != NULL) {
        port_restore_exception(exc); /* the stream's or a handler's own */
    } else if (r < 0 && mpssl_result_class_of(r) != MPSSL_CLASS_WANT) {
        port_raise(r, self->conn);
    } else {
        *failed = 0;
    }
    if (self->close_pending) {
        PyObject *pending = port_fetch_exception();
        if (close_now(self) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        port_restore_exception(pending);
    }
    return r;
}

static long op_handshake(mpssl_conn *conn, void *arg) {
    (void)arg;
    return mpssl_conn_handshake(conn);
}

typedef struct io_req {
    uint8_t *buf;
    size_t len;   /* buffer size (or its capacity when growable) */
    size_t limit; /* stop after this many bytes; SIZE_MAX: until EOF */
    size_t total;
    int growable; /* buf is PyMem_Raw memory that may be enlarged */
    int line;     /* stop after b'\n' */
} io_req;

/*
 * Serves plaintext kept by keep_unread into q (up to its room, and only
 * through the first newline for readline).  Returns the bytes served.
 */
static size_t serve_unread(port_socket *self, io_req *q) {
    if (self->unread_len == 0) {
        return 0;
    }
    size_t room = q->len - q->total;
    if (q->limit != 0 && q->limit - q->total < room) {
        room = q->limit - q->total;
    }
    size_t n = self->unread_len < room ? self->unread_len : room;
    if (q->line) {
        uint8_t *nl = memchr(self->unread, '\n', n);
        n = nl != NULL ? (size_t)(nl - self->unread) + 1 : n;
    }
    if (n == 0) {
        return 0;
    }
    memcpy(q->buf + q->total, self->unread, n);
    q->total += n;
    self->unread_len -= n;
    memmove(self->unread, self->unread + n, self->unread_len);
    if (self->unread_len == 0) {
        PyMem_RawFree(self->unread);
        self->unread = NULL;
    }
    return n;
}

/*
 * An exception (a timeout, a signal handler's) interrupted a read that had
 * already taken q->total bytes from the connection: keep them, ahead of
 * anything kept before, so the exception loses no data.  0, or -1 with
 * MemoryError set.
 */
static int keep_unread(port_socket *self, const io_req *q) {
    if (q->total == 0) {
        return 0;
    }
    uint8_t *kept = PyMem_RawMalloc(q->total + self->unread_len);
    if (kept == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(kept, q->buf, q->total);
    if (self->unread_len > 0) {
        memcpy(kept + q->total, self->unread, self->unread_len);
    }
    PyMem_RawFree(self->unread);
    self->unread = kept;
    self->unread_len += q->total;
    return 0;
}

/* True when what serve_unread gave already answers the request. */
static int served_enough(const io_req *q, int fill) {
    if (q->total == 0) {
        return 0;
    }
    if (!fill || (q->line && q->buf[q->total - 1] == '\n')) {
        return 1;
    }
    return q->total == (q->limit != 0 ? q->limit : q->len);
}

static long op_read_once(mpssl_conn *conn, void *arg) {
    io_req *q = arg;
    size_t len = q->len < CHUNK_MAX ? q->len : CHUNK_MAX;
    return mpssl_conn_read(conn, q->buf, len);
}

static int grow(io_req *q) {
    size_t cap = q->len * 2;
    if (cap > q->limit) {
        cap = q->limit;
    }
    uint8_t *bigger = PyMem_RawRealloc(q->buf, cap);
    if (bigger == NULL) {
        return -1;
    }
    q->buf = bigger;
    q->len = cap;
    return 0;
}

/*
 * Reads until limit bytes, EOF, would-block (non-blocking), a failure, or
 * (line) a newline.  Bytes read before a stop are returned; a failure after
 * some bytes is sticky in the core and raised by the next call.
 */
static long op_read_fill(mpssl_conn *conn, void *arg) {
    io_req *q = arg;
    long r = 0;
    while (q->total < q->limit) {
        if (q->total == q->len && (!q->growable || grow(q) < 0)) {
            r = q->growable ? -ENOMEM : 0;
            break;
        }
        size_t room = q->line ? 1 : q->len - q->total;
        r = mpssl_conn_read(conn, q->buf + q->total,
                            room < CHUNK_MAX ? room : CHUNK_MAX);
        if (r <= 0) {
            break;
        }
        q->total += (size_t)r;
        if (q->line && q->buf[q->total - 1] == '\n') {
            break;
        }
    }
    /* A timeout or an interrupt is raised even after progress; the caller
     * keeps the bytes for the next read.  EOF, would-block and sticky
     * failures return what was read (a failure resurfaces next call). */
    if (mpssl_result_is_transient(r)) {
        return r;
    }
    return q->total > 0 ? (long)q->total : r;
}

static long op_write_once(mpssl_conn *conn, void *arg) {
    io_req *q = arg;
    size_t len = q->len < CHUNK_MAX ? q->len : CHUNK_MAX;
    return mpssl_conn_write(conn, q->buf, len);
}

/* Writes everything (a blocking connection writes all in one call; a
 * non-blocking one stops at would-block and reports what it wrote). */
static long op_write_all(mpssl_conn *conn, void *arg) {
    io_req *q = arg;
    long r = 0;
    while (q->total < q->len) {
        size_t room = q->len - q->total;
        r = mpssl_conn_write(conn, q->buf + q->total,
                             room < CHUNK_MAX ? room : CHUNK_MAX);
        if (r <= 0) {
            break;
        }
        q->total += (size_t)r;
    }
    /* Only would-block may end a write with a partial count; a timeout or
     * failure is raised (as CPython's sendall does). */
    if (r < 0 && r != MPSSL_WANT_READ && r != MPSSL_WANT_WRITE) {
        return r;
    }
    return q->total > 0 ? (long)q->total : r;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/* read()/readline(): into growable memory, then bytes. */
static PyObject *read_bytes(port_socket *self, Py_ssize_t n, int line) {
    io_req q = {0};
    q.limit = n < 0 ? SIZE_MAX : (size_t)n;
    if (q.limit == 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    q.len = q.limit < 16384 ? q.limit : 16384;
    q.growable = 1;
    q.line = line;
    q.buf = PyMem_RawMalloc(q.len);
    if (q.buf == NULL) {
        return port_raise_errno(ENOMEM);
    }
    int failed = 0;
    long r;
    if (self->closed || !(serve_unread(self, &q), served_enough(&q, 1))) {
        r = run_op(self, op_read_fill, &q, 0, &failed);
    } else {
        r = (long)q.total;
    }
    if (failed && keep_unread(self, &q) < 0) {
        PyErr_Clear(); /* the first exception matters more */
    }
    PyObject *res = NULL;
    if (!failed) {
        res =
            (r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE) && q.total == 0
                ? Py_NewRef(Py_None)
                : PyBytes_FromStringAndSize((char *)q.buf, (Py_ssize_t)q.total);
    }
    PyMem_RawFree(q.buf);
    return res;
}

static PyObject *sslsocket_read(port_socket *self, PyObject *args) {
    Py_ssize_t n = -1;
    if (!PyArg_ParseTuple(args, "|n:read", &n)) {
        return NULL;
    }
    return read_bytes(self, n, 0);
}

static PyObject *sslsocket_readline(port_socket *self, PyObject *args) {
    Py_ssize_t limit = -1;
    if (!PyArg_ParseTuple(args, "|n:readline", &limit)) {
        return NULL;
    }
    return read_bytes(self, limit, 1);
}

static PyObject *sslsocket_recv(port_socket *self, PyObject *args) {
    Py_ssize_t n;
    int flags = 0;
    if (!PyArg_ParseTuple(args, "n|i:recv", &n, &flags)) {
        return NULL;
    }
    if (flags != 0 || n < 0) {
        PyErr_SetString(PyExc_ValueError, flags != 0
                                              ? "non-zero flags not allowed"
                                              : "negative buffersize in recv");
        return NULL;
    }
    size_t size = (size_t)n < RECV_MAX ? (size_t)n : RECV_MAX;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (bytes == NULL || n == 0) {
        return bytes;
    }
    /* The bytes object is private until returned: safe to fill unlocked. */
    io_req q = {.buf = (uint8_t *)PyBytes_AS_STRING(bytes), .len = size};
    int failed = 0;
    long r = self->closed || serve_unread(self, &q) == 0
                 ? run_op(self, op_read_once, &q, 0, &failed)
                 : (long)q.total;
    if (failed || r < 0) {
        Py_DECREF(bytes);
        return failed ? NULL : Py_NewRef(Py_None);
    }
    if ((size_t)r < size && _PyBytes_Resize(&bytes, r) < 0) {
        return NULL;
    }
    return bytes;
}

/* readinto/recv_into: fill (readinto) or one read (recv_into). */
static PyObject *read_into(port_socket *self, PyObject *target, Py_ssize_t n,
                           int fill) {
    Py_buffer view;
    if (PyObject_GetBuffer(target, &view, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (n < 0 || n > view.len) {
        if (n > view.len) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "nbytes is greater than the "
                                              "length of the buffer");
            return NULL;
        }
        n = view.len;
    }
    PyObject *res = NULL;
    if (n == 0) {
        res = PyLong_FromLong(0);
    } else {
        io_req q = {.buf = view.buf, .len = (size_t)n, .limit = (size_t)n};
        int failed = 0;
        long r;
        if (self->closed ||
            !(serve_unread(self, &q), served_enough(&q, fill))) {
            r = run_op(self, fill ? op_read_fill : op_read_once, &q, 0,
                       &failed);
        } else {
            r = (long)q.total;
        }
        if (failed && fill && keep_unread(self, &q) < 0) {
            PyErr_Clear(); /* the first exception matters more */
        }
        if (!failed) {
            res = r < 0 && q.total == 0
                      ? Py_NewRef(Py_None)
                      : PyLong_FromSize_t(q.total > 0 ? q.total : (size_t)r);
        }
    }
    PyBuffer_Release(&view);
    return res;
}

static PyObject *sslsocket_readinto(port_socket *self, PyObject *args) {
    PyObject *buf;
    Py_ssize_t n = -1;
    if (!PyArg_ParseTuple(args, "O|n:readinto", &buf, &n)) {
        return NULL;
    }
    return read_into(self, buf, n, 1);
}

static PyObject *sslsocket_recv_into(port_socket *self, PyObject *args,
                                     PyObject *kwargs) {
    static char *kwlist[] = {"buffer", "nbytes", "flags", NULL};
    PyObject *buf;
    Py_ssize_t n = 0;
    int flags = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|ni:recv_into", kwlist,
                                     &buf, &n, &flags)) {
        return NULL;
    }
    if (flags != 0 || n < 0) {
        PyErr_SetString(PyExc_ValueError, flags != 0
                                              ? "non-zero flags not allowed"
                                              : "negative nbytes in recv_into");
        return NULL;
    }
    return read_into(self, buf, n == 0 ? -1 : n, 0);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

enum write_kind { WRITE_ALL_COUNT, WRITE_ONCE, WRITE_ALL_NONE };

static PyObject *write_buffer(port_socket *self, PyObject *data,
                              enum write_kind kind) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    io_req q = {.buf = view.buf, .len = (size_t)view.len};
    PyObject *res = NULL;
    int failed = 0;
    long r = 0;
    if (q.len > 0) {
        r = run_op(self, kind == WRITE_ONCE ? op_write_once : op_write_all, &q,
                   0, &failed);
    } else if (self->closed) {
        raise_closed();
        failed = 1;
    }
    if (failed) {
        /* exception already set: a timeout or failure, even after progress */
    } else if (r < 0) {
        /* would block with nothing written */
        res = kind == WRITE_ALL_NONE ? port_raise_errno(EAGAIN)
                                     : Py_NewRef(Py_None);
    } else if (kind == WRITE_ALL_NONE) {
        res = q.total == q.len ? Py_NewRef(Py_None) : port_raise_errno(EAGAIN);
    } else {
        res = PyLong_FromLong(r);
    }
    PyBuffer_Release(&view);
    return res;
}

static PyObject *sslsocket_write(port_socket *self, PyObject *data) {
    return write_buffer(self, data, WRITE_ALL_COUNT);
}

/* send(data[, flags]) and sendall(data[, flags]): socket signatures, but
 * TLS has no use for flags, so only 0 is accepted. */
static PyObject *send_with_flags(port_socket *self, PyObject *args,
                                 const char *format, enum write_kind kind) {
    PyObject *data;
    int flags = 0;
    if (!PyArg_ParseTuple(args, format, &data, &flags)) {
        return NULL;
    }
    if (flags != 0) {
        PyErr_SetString(PyExc_ValueError, "non-zero flags not allowed");
        return NULL;
    }
    return write_buffer(self, data, kind);
}

static PyObject *sslsocket_send(port_socket *self, PyObject *args) {
    return send_with_flags(self, args, "O|i:send", WRITE_ONCE);
}

static PyObject *sslsocket_sendall(port_socket *self, PyObject *args) {
    return send_with_flags(self, args, "O|i:sendall", WRITE_ALL_NONE);
}

/* ------------------------------------------------------------------------ */
/* Handshake and blocking mode                                              */
/* ------------------------------------------------------------------------ */

static PyObject *sslsocket_do_handshake(port_socket *self, PyObject *unused) {
    (void)unused;
    int failed;
    long r = run_op(self, op_handshake, NULL, 0, &failed);
    if (failed) {
        return NULL;
    }
    return r < 0 ? Py_NewRef(Py_None) : Py_NewRef(Py_True);
}

/* Forwards name(arg) to the stream when it has that method. */
static PyObject *forward(port_socket *self, const char *name, PyObject *arg) {
    if (!self->t.is_socket && !PyObject_HasAttrString(self->stream, name)) {
        Py_RETURN_NONE;
    }
    return PyObject_CallMethod(self->stream, name, "O", arg);
}

static PyObject *sslsocket_setblocking(port_socket *self, PyObject *flag) {
    if (self->closed) {
        Py_RETURN_NONE;
    }
    int blocking = PyObject_IsTrue(flag);
    if (blocking < 0) {
        return NULL;
    }
    self->timeout = blocking ? -1.0 : 0.0;
    return forward(self, "setblocking", flag);
}

static PyObject *sslsocket_settimeout(port_socket *self, PyObject *value) {
    if (self->closed) {
        Py_RETURN_NONE;
    }
    double timeout = -1.0;
    if (value != Py_None) {
        timeout = PyFloat_AsDouble(value);
        if (timeout == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        if (timeout < 0) {
            PyErr_SetString(PyExc_ValueError, "Timeout value out of range");
            return NULL;
        }
    }
    self->timeout = timeout;
    return forward(self, "settimeout", value);
}

static PyObject *sslsocket_gettimeout(port_socket *self, PyObject *unused) {
    (void)unused;
    if (self->closed) {
        Py_RETURN_NONE;
    }
    if (self->t.is_socket) {
        return PyObject_CallMethod(self->stream, "gettimeout", NULL);
    }
    return self->timeout < 0 ? Py_NewRef(Py_None)
                             : PyFloat_FromDouble(self->timeout);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

/* Queries touch the connection too, so they respect the busy guard. */
static int query_allowed(port_socket *self) {
    if (self->busy) {
        raise_busy();
        return 0;
    }
    return 1;
}

static const char *version_text(int version) {
    return version == MPSSL_TLS1_3 ? "TLSv1.3" : "TLSv1.2";
}

/* The negotiated suite and version: 1 when known, 0 when not (before the
 * handshake, after close), -1 with an exception set. */
static int negotiated(port_socket *self, uint16_t *id, int *version) {
    if (self->closed) {
        return 0;
    }
    if (!query_allowed(self)) {
        return -1;
    }
    return mpssl_conn_cipher(self->conn, id, version) == 0;
}

static PyObject *sslsocket_cipher(port_socket *self, PyObject *unused) {
    (void)unused;
    uint16_t id;
    int version;
    int known = negotiated(self, &id, &version);
    if (known <= 0) {
        return known < 0 ? NULL : Py_NewRef(Py_None);
    }
    const char *name = mpssl_suite_name(id);
    if (name == NULL) {
        return Py_BuildValue("(Ns)", PyUnicode_FromFormat("0x%04X", id),
                             version_text(version));
    }
    return Py_BuildValue("(ss)", name, version_text(version));
}

static PyObject *sslsocket_version(port_socket *self, PyObject *unused) {
    (void)unused;
    uint16_t id;
    int version;
    int known = negotiated(self, &id, &version);
    if (known <= 0) {
        return known < 0 ? NULL : Py_NewRef(Py_None);
    }
    return PyUnicode_FromString(version_text(version));
}

static PyObject *sslsocket_getpeercert(port_socket *self, PyObject *args,
                                       PyObject *kwargs) {
    static char *kwlist[] = {"binary_form", NULL};
    int binary = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:getpeercert", kwlist,
                                     &binary)) {
        return NULL;
    }
    if (self->closed) {
        return raise_closed();
    }
    if (!query_allowed(self)) {
        return NULL;
    }
    const uint8_t *der;
    size_t len;
    if (!mpssl_conn_handshake_done(self->conn) ||
        mpssl_conn_peer_cert(self->conn, &der, &len) < 0) {
        Py_RETURN_NONE;
    }
    if (binary) {
        return PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)len);
    }
    /* As CPython: an unvalidated certificate gives an empty dict. */
    if (mpssl_conn_verify_result(self->conn) != 0) {
        return PyDict_New();
    }
    return port_cert_to_dict(der, len);
}

static PyObject *sslsocket_verify_result(port_socket *self, PyObject *unused) {
    (void)unused;
    if (self->closed) {
        return raise_closed();
    }
    if (!query_allowed(self)) {
        return NULL;
    }
    int r = mpssl_conn_verify_result(self->conn);
    if (r == MPSSL_VERIFY_NOT_DONE) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(r);
}

static PyObject *sslsocket_pending(port_socket *self, PyObject *unused) {
    (void)unused;
    if (self->closed) {
        return PyLong_FromLong(0);
    }
    if (!query_allowed(self)) {
        return NULL;
    }
    return PyLong_FromSize_t(self->unread_len + mpssl_conn_pending(self->conn));
}

/* -1 after close and after a fatal error: the contract wants polling to
 * report "invalid" then and never block, and select()/poll() refuse a
 * negative descriptor at once (the kernel's view of a dead session's socket
 * could keep a poller waiting forever). */
static PyObject *sslsocket_fileno(port_socket *self, PyObject *unused) {
    (void)unused;
    /* While another thread is inside an operation (GIL released) the
     * connection is not ours to read: its descriptor is. */
    int failed = !self->closed && !self->busy && self->conn != NULL &&
                 mpssl_conn_error(self->conn, NULL, 0) != 0;
    return PyLong_FromLong(self->closed || failed ? -1 : self->t.fd);
}

static PyObject *sslsocket_enter(port_socket *self, PyObject *unused) {
    (void)unused;
    return Py_NewRef((PyObject *)self);
}

static PyObject *sslsocket_exit(port_socket *self, PyObject *args) {
    (void)args;
    return sslsocket_close(self, NULL);
}

static PyObject *get_server_side(port_socket *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(self->server_side);
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                 */
/* ------------------------------------------------------------------------ */

static int sslsocket_traverse(port_socket *self, visitproc visit, void *arg) {
    Py_VISIT(self->context);
    Py_VISIT(self->stream);
    Py_VISIT(self->server_hostname);
    Py_VISIT(self->t.exc);
    return 0;
}

static int sslsocket_clear(port_socket *self) {
    if (self->conn != NULL) {
        /* The stream may be half torn down by the collector: no I/O, and
         * never on an fd that may already belong to someone else. */
        self->t.stream = NULL;
        self->t.fd = -1;
        mpssl_conn_free(self->conn);
        self->conn = NULL;
    }
    Py_CLEAR(self->context);
    Py_CLEAR(self->stream);
    Py_CLEAR(self->server_hostname);
    Py_CLEAR(self->t.exc);
    return 0;
}

/* Unclosed sockets are closed when collected, never raising. */
static void sslsocket_finalize(port_socket *self) {
    if (self->closed) {
        return;
    }
    PyObject *pending = port_fetch_exception();
    if (close_now(self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    port_restore_exception(pending);
}

static void sslsocket_dealloc(port_socket *self) {
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    sslsocket_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

/* server_hostname -> bytes for the core (*wire, NULL for None) and the
 * attribute value (*text).  0, or -1 with an exception. */
static int convert_hostname(PyObject *name, PyObject **wire, PyObject **text) {
    *wire = NULL;
    *text = Py_NewRef(name);
    if (name == Py_None) {
        return 0;
    }
    if (PyUnicode_Check(name)) {
        *wire = PyUnicode_IS_ASCII(name)
                    ? PyUnicode_AsASCIIString(name)
                    : PyUnicode_AsEncodedString(name, "idna", NULL);
    } else if (PyBytes_Check(name)) {
        *wire = Py_NewRef(name);
        Py_SETREF(*text,
                  PyUnicode_DecodeASCII(PyBytes_AS_STRING(name),
                                        PyBytes_GET_SIZE(name), "strict"));
    } else {
        PyErr_Format(PyExc_TypeError,
                     "server_hostname must be str or bytes, not %.100s",
                     Py_TYPE(name)->tp_name);
    }
    if (*wire != NULL && *text != NULL &&
        strlen(PyBytes_AS_STRING(*wire)) != (size_t)PyBytes_GET_SIZE(*wire)) {
        PyErr_SetString(PyExc_ValueError,
                        "server_hostname must not contain NUL bytes");
        Py_CLEAR(*wire);
    }
    if (*wire == NULL || *text == NULL) {
        Py_CLEAR(*wire);
        Py_CLEAR(*text);
        return -1;
    }
    return 0;
}

/* The handshake inside wrap_socket completes even on a non-blocking socket
 * (waiting with poll, never spinning).  A stream that cannot be waited on
 * may leave it pending; later reads and writes continue it. */
/* A refused configuration names the backend's reason (a key its security
 * policy rejects, say) instead of a bare "internal error". */
static void raise_conn_new_failure(long r, const mpssl_ctx *ctx) {
    const char *why = mpssl_ctx_build_error(ctx);
    if (mpssl_result_class_of(r) == MPSSL_CLASS_TLS && why[0] != '\0') {
        char message[256];
        snprintf(message, sizeof message, "%s (%s: %s)", mpssl_strerror((int)r),
                 mpssl_backend_name(), why);
        port_raise_tls((int)r, message);
        return;
    }
    port_raise(r, NULL);
}

static int initial_handshake(port_socket *self) {
    int failed;
    run_op(self, op_handshake, NULL, 1, &failed);
    return failed ? -1 : 0;
}

PyObject *port_socket_wrap(port_context *ctx, PyObject *sock, int server_side,
                           int do_handshake, PyObject *server_hostname) {
    int protocol = mpssl_ctx_protocol(ctx->ctx);
    if (server_side != (protocol == MPSSL_PROTOCOL_TLS_SERVER)) {
        return port_raise(MPSSL_EROLE_MISMATCH, NULL);
    }
    PyObject *wire, *text;
    if (convert_hostname(server_hostname, &wire, &text) < 0) {
        return NULL;
    }
    port_socket *self = PyObject_GC_New(port_socket, &port_socket_type);
    if (self == NULL) {
        Py_XDECREF(wire);
        Py_DECREF(text);
        return NULL;
    }
    self->context = Py_NewRef((PyObject *)ctx);
    self->stream = Py_NewRef(sock);
    self->server_hostname = text;
    self->server_side = server_side;
    self->conn = NULL;
    memset(&self->t, 0, sizeof self->t);
    self->t.fd = -1;
    self->timeout = -1.0;
    self->closed = 0;
    self->busy = 0;
    self->close_pending = 0;
    self->owns_stream = 0; /* until wrapping succeeded */
    self->unread = NULL;
    self->unread_len = 0;
    PyObject_GC_Track(self);

    mpssl_transport transport;
    int r = port_transport_init(&self->t, sock, &transport);
    if (r == 0) {
        /* A server has no use for the name (the reference ignores it). */
        const char *host =
            wire != NULL && !server_side ? PyBytes_AS_STRING(wire) : NULL;
        r = mpssl_conn_new(ctx->ctx, &transport, host, &self->conn);
        if (r < 0) {
            self->conn = NULL;
            raise_conn_new_failure(r, ctx->ctx);
        }
    }
    Py_XDECREF(wire);
    if (r < 0 || (do_handshake && initial_handshake(self) < 0)) {
        /* The caller keeps its socket open (reference behaviour). */
        Py_DECREF(self);
        return NULL;
    }
    self->owns_stream = 1;
    return (PyObject *)self;
}

/* ------------------------------------------------------------------------ */
/* Type                                                                     */
/* ------------------------------------------------------------------------ */

#define NOARGS(name, fn, doc)                                                  \
    { name, (PyCFunction)(fn), METH_NOARGS, doc }
#define VARARGS(name, fn, doc)                                                 \
    { name, (PyCFunction)(fn), METH_VARARGS, doc }
#define KWARGS(name, fn, doc)                                                  \
    {                                                                          \
        name, (PyCFunction)(void (*)(void))(fn), METH_VARARGS | METH_KEYWORDS, \
            doc                                                                \
    }

static PyMethodDef sslsocket_methods[] = {
    VARARGS("read", sslsocket_read,
            "read(n=-1): n bytes (fewer at EOF); all until EOF if n < 0"),
    VARARGS("readinto", sslsocket_readinto, "readinto(buf[, n]) -> count"),
    VARARGS("readline", sslsocket_readline,
            "readline(limit=-1): bytes up to and including b'\\n'"),
    VARARGS("recv", sslsocket_recv, "recv(n): as soon as any bytes arrive"),
    KWARGS("recv_into", sslsocket_recv_into, "recv_into(buf[, n]) -> count"),
    {"write", (PyCFunction)sslsocket_write, METH_O,
     "write(buf): all of it when blocking; count or None otherwise"},
    VARARGS("send", sslsocket_send, "send(buf) -> count written"),
    VARARGS("sendall", sslsocket_sendall, "sendall(buf): write everything"),
    {"setblocking", (PyCFunction)sslsocket_setblocking, METH_O,
     "setblocking(flag)"},
    {"settimeout", (PyCFunction)sslsocket_settimeout, METH_O,
     "settimeout(seconds or None)"},
    NOARGS("gettimeout", sslsocket_gettimeout, "the timeout, or None"),
    NOARGS("do_handshake", sslsocket_do_handshake,
           "complete the handshake: True, or None if it would block"),
    NOARGS("cipher", sslsocket_cipher, "(suite name, version) or None"),
    NOARGS("version", sslsocket_version, "'TLSv1.2', 'TLSv1.3' or None"),
    KWARGS("getpeercert", sslsocket_getpeercert,
           "getpeercert(binary_form=False): the peer's certificate"),
    NOARGS("verify_result", sslsocket_verify_result,
           "None if not verified, 0 if verified, else the ERR_* code"),
    NOARGS("pending", sslsocket_pending, "buffered plaintext bytes"),
    NOARGS("fileno", sslsocket_fileno,
           "the underlying fd; -1 after close or a fatal error"),
    NOARGS("close", sslsocket_close, "send close_notify and close"),
    NOARGS("__enter__", sslsocket_enter, NULL),
    VARARGS("__exit__", sslsocket_exit, NULL),
    {NULL, NULL, 0, NULL},
};

static PyMemberDef sslsocket_members[] = {
    {"context", T_OBJECT, offsetof(port_socket, context), READONLY,
     "the SSLContext"},
    {"server_hostname", T_OBJECT, offsetof(port_socket, server_hostname),
     READONLY, "the server name given to wrap_socket, or None"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef sslsocket_getset[] = {
    {"server_side", (getter)get_server_side, NULL, "True on a server", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject port_socket_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ssl.SSLSocket",
    .tp_basicsize = sizeof(port_socket),
    .tp_dealloc = (destructor)sslsocket_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A TLS connection over a socket or stream (SSLContext."
              "wrap_socket creates it)",
    .tp_traverse = (traverseproc)sslsocket_traverse,
    .tp_clear = (inquiry)sslsocket_clear,
    .tp_methods = sslsocket_methods,
    .tp_members = sslsocket_members,
    .tp_getset = sslsocket_getset,
    .tp_finalize = (destructor)sslsocket_finalize,
};
