/*
 * capture_flights.c - seeds for the record targets: real handshakes
 * recorded through the configured backend.
 *
 * For every combination of RECORD_OPT_* a client and a server connection
 * (the same contexts the fuzz target builds, see record_setup.h) talk over
 * an in-memory pipe: handshake, one message each way, close_notify from the
 * server.  Everything the server sent becomes a seed for
 * fuzz_record_client, everything the client sent one for
 * fuzz_record_server, each behind the target's input header (once whole,
 * once with small chunks and would-blocks).
 *
 * Usage: capture_flights OUTDIR   (writes OUTDIR/record_{client,server}/)
 * Exit status 1 when a handshake that must work did not: the seeds would
 * then be worthless.
 */
#include "mpssl.h"
#include "record_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PUMP_LIMIT 100000

typedef struct byteq {
    uint8_t *data;
    size_t len, off, cap;
} byteq;

typedef struct end {
    byteq *in, *out;
} end;

static long q_recv(void *user, uint8_t *buf, size_t len) {
    end *e = user;
    size_t n = e->in->len - e->in->off;

    if (n == 0)
        return MPSSL_IO_WOULD_BLOCK;
    if (n > len)
        n = len;
    memcpy(buf, e->in->data + e->in->off, n);
    e->in->off += n;
    return (long)n;
}

static long q_send(void *user, const uint8_t *buf, size_t len) {
    byteq *q = ((end *)user)->out;

    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + len)
            cap *= 2;
        uint8_t *grown = realloc(q->data, cap);
        if (grown == NULL)
            return -ENOMEM;
        q->data = grown;
        q->cap = cap;
    }
    memcpy(q->data + q->len, buf, len);
    q->len += len;
    return (long)len;
}

static int is_want(long r) {
    return r == MPSSL_WANT_READ || r == MPSSL_WANT_WRITE;
}

static mpssl_conn *open_conn(int protocol, unsigned options, end *e) {
    mpssl_transport t = {e, q_recv, q_send, NULL};
    mpssl_ctx *ctx = record_ctx(protocol, options);
    mpssl_conn *conn = NULL;

    if (ctx == NULL)
        return NULL;
    /* Built right after the entropy restart, as in the fuzz target. */
    if (mpssl_conn_new(ctx, &t,
                       protocol == MPSSL_PROTOCOL_TLS_CLIENT ? RECORD_HOSTNAME
                                                             : NULL,
                       &conn) != 0)
        conn = NULL;
    mpssl_ctx_unref(ctx);
    if (conn)
        mpssl_conn_set_blocking(conn, 0);
    return conn;
}

/* Moves `message` from writer to reader; 1 when it arrived whole. */
static int send_message(mpssl_conn *writer, mpssl_conn *reader,
                        const char *message) {
    size_t len = strlen(message), got = 0;
    uint8_t buf[256];
    int written = 0;

    for (int i = 0; i < PUMP_LIMIT && got < len; i++) {
        if (!written) {
            long w = mpssl_conn_write(writer, (const uint8_t *)message, len);
            if (w == (long)len)
                written = 1;
            else if (!is_want(w))
                return 0;
        }
        long r = mpssl_conn_read(reader, buf, sizeof buf);
        if (r > 0)
            got += (size_t)r;
        else if (!is_want(r))
            return 0;
    }
    return got == len;
}

/* Handshake, a message each way, server close.  1 on success. */
static int converse(mpssl_conn *client, mpssl_conn *server) {
    int rc = MPSSL_WANT_READ, rs = MPSSL_WANT_READ;
    uint8_t byte;

    for (int i = 0; i < PUMP_LIMIT && (is_want(rc) || is_want(rs)); i++) {
        if (is_want(rc))
            rc = mpssl_conn_handshake(client);
        if (is_want(rs))
            rs = mpssl_conn_handshake(server);
    }
    if (rc != 0 || rs != 0) {
        fprintf(stderr, "capture: handshake failed: client %d, server %d\n", rc,
                rs);
        return 0;
    }
    if (!send_message(client, server, RECORD_CLIENT_MESSAGE) ||
        !send_message(server, client, RECORD_SERVER_MESSAGE)) {
        fprintf(stderr, "capture: message exchange failed\n");
        return 0;
    }
    mpssl_conn_close(server);
    (void)mpssl_conn_read(client, &byte, 1); /* sees close_notify */
    return 1;
}

static int write_seed(const char *dir, const char *name, const uint8_t hdr[3],
                      const byteq *q) {
    char path[4096];
    FILE *fp;
    int ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fp = fopen(path, "wb");
    if (fp == NULL) {
        perror(path);
        return 0;
    }
    ok = fwrite(hdr, 1, RECORD_HEADER_LEN, fp) == RECORD_HEADER_LEN &&
         fwrite(q->data, 1, q->len, fp) == q->len;
    return fclose(fp) == 0 && ok;
}

/* One conversation with `options`; its two flights as four seeds. */
static int capture(const char *client_dir, const char *server_dir,
                   unsigned options) {
    byteq c2s = {0}, s2c = {0};
    end client_end = {&s2c, &c2s}, server_end = {&c2s, &s2c};
    mpssl_conn *client =
        open_conn(MPSSL_PROTOCOL_TLS_CLIENT, options, &client_end);
    mpssl_conn *server =
        open_conn(MPSSL_PROTOCOL_TLS_SERVER, options, &server_end);
    int ok = client && server && converse(client, server);
    /* Whole flights, then 7-byte chunks with a would-block in 1/4 calls. */
    static const uint8_t pacing[2][2] = {{0, 0}, {7, 16}};

    for (int i = 0; ok && i < 2; i++) {
        uint8_t hdr[RECORD_HEADER_LEN] = {(uint8_t)options, pacing[i][0],
                                          pacing[i][1]};
        char name[64];
        snprintf(name, sizeof name, "capture-opt%u-%s", options,
                 i ? "chunked" : "whole");
        ok = write_seed(client_dir, name, hdr, &s2c) &&
             write_seed(server_dir, name, hdr, &c2s);
    }
    mpssl_conn_free(client);
    mpssl_conn_free(server);
    free(c2s.data);
    free(s2c.data);
    return ok;
}

int main(int argc, char **argv) {
    char client_dir[2048], server_dir[2048];
    int failures = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: capture_flights OUTDIR\n");
        return 2;
    }
    snprintf(client_dir, sizeof client_dir, "%s/record_client", argv[1]);
    snprintf(server_dir, sizeof server_dir, "%s/record_server", argv[1]);
    mkdir(argv[1], 0777);
    mkdir(client_dir, 0777);
    mkdir(server_dir, 0777);
    if (record_setup_platform() != 0 || mpssl_init() != 0)
        return 1;
    for (unsigned options = 0; options <= RECORD_OPT_ALL; options++) {
        if (!capture(client_dir, server_dir, options)) {
            fprintf(stderr, "capture: options %u failed\n", options);
            failures++;
        }
    }
    mpssl_deinit();
    return failures ? 1 : 0;
}
