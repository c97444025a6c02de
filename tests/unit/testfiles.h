/*
 * testfiles.h - reading the generated test certificates (header-only, for
 * the C tests and the soak).  Blocks come from plain malloc, so recording
 * allocators installed with mpssl_set_allocator never see them.
 */
#ifndef MPSSL_TESTFILES_H
#define MPSSL_TESTFILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct file_data {
    uint8_t *data; /* NULL and len 0 when the file could not be read */
    size_t len;
} file_data;

/* dir/name, whole; prints why on failure and returns {NULL, 0}. */
static file_data read_test_file(const char *dir, const char *name) {
    char path[1024];
    file_data f = {NULL, 0};
    long size;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        printf("  cannot open %s\n", path);
        return f;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) > 0 &&
        fseek(fp, 0, SEEK_SET) == 0) {
        f.data = malloc((size_t)size);
        if (f.data && fread(f.data, 1, (size_t)size, fp) == (size_t)size) {
            f.len = (size_t)size;
        }
    }
    fclose(fp);
    if (f.len == 0) {
        printf("  cannot read %s\n", path);
        free(f.data);
        f.data = NULL;
    }
    return f;
}

#endif /* MPSSL_TESTFILES_H */
