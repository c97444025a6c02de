/*
 * port.h - declarations shared by the files of the CPython port.
 *
 * The port builds the extension module `ssl` on top of core/mpssl.h only:
 *   module.c     module init, constants, ssl.wrap_socket()
 *   errors.c     mpssl results -> Python exceptions
 *   transport.c  mpssl_transport over a socket fd or a Python stream object
 *   context.c    the SSLContext type
 *   sslsocket.c  the SSLSocket type
 *   certdict.c   getpeercert()'s dict, in CPython's shape
 */
#ifndef MPSSL_PORT_H
#define MPSSL_PORT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mpssl.h"

/* ------------------------------------------------------------------------ */
/* errors.c                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Sets the Python exception for a negative, non-WANT result and returns
 * NULL.  conn (may be NULL) supplies the detailed message of its sticky
 * failure when that failure is `result`.  A WANT result becomes
 * OSError(EAGAIN) for callers that cannot return None.
 */
PyObject *port_raise(long result, const mpssl_conn *conn);

/* OSError(errno, strerror(errno)), so CPython picks the subclass
 * (TimeoutError, ConnectionResetError, ...).  Returns NULL. */
PyObject *port_raise_errno(int err);

/* OSError(code, message) for a TLS-class code.  Returns NULL. */
PyObject *port_raise_tls(int code, const char *message);

/* The pending exception as one object (NULL if none); clears it. */
PyObject *port_fetch_exception(void);
/* Raises exc again (steals the reference). */
void port_restore_exception(PyObject *exc);

/* ------------------------------------------------------------------------ */
/* transport.c                                                              */
/* ------------------------------------------------------------------------ */

/*
 * State behind mpssl_transport.user.  Lives inside the SSLSocket object so
 * its address is stable for the connection's lifetime.
 */
typedef struct port_transport {
    PyObject *stream;  /* borrowed from the SSLSocket (it holds the ref) */
    int fd;            /* the fd for send/recv (socket) or poll (stream) */
    int is_socket;     /* fast path: fd used directly, GIL released */
    int use_recv_into; /* stream: recv_into (1) or readinto (0) */
    int use_send;      /* stream: send (1) or write (0) */
    int has_deadline;  /* per-operation deadline active */
    double deadline;   /* CLOCK_MONOTONIC seconds */
    PyThreadState *released; /* non-NULL while the GIL is released */
    PyObject *exc; /* exception raised under a core call, re-raised after */
} port_transport;

/*
 * Prepares t for `stream` and fills *out.  Decides the fast path (a
 * socket.socket instance), the methods to call otherwise, and whether the
 * stream can be waited on.  0, or -1 with a Python exception set.
 */
int port_transport_init(port_transport *t, PyObject *stream,
                        mpssl_transport *out);

/* Sets the deadline of the next operation: timeout < 0 means none. */
void port_transport_set_timeout(port_transport *t, double timeout);

/* The type of socket.socket (from _socket), loaded at module init. */
int port_transport_module_init(void);

/* ------------------------------------------------------------------------ */
/* context.c / sslsocket.c / certdict.c                                     */
/* ------------------------------------------------------------------------ */

typedef struct port_context {
    PyObject_HEAD mpssl_ctx *ctx;
} port_context;

extern PyTypeObject port_context_type;
extern PyTypeObject port_socket_type;

/* Creates an SSLSocket (context.wrap_socket's work).  New reference. */
PyObject *port_socket_wrap(port_context *ctx, PyObject *sock, int server_side,
                           int do_handshake, PyObject *server_hostname);

/* getpeercert()'s dict for a verified DER certificate.  New reference. */
PyObject *port_cert_to_dict(const uint8_t *der, size_t len);

#endif /* MPSSL_PORT_H */
