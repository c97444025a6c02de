/*
 * alloc.c - the platform hooks: allocator, entropy and time, and the core
 * services backends reach them through.
 */
#include "internal.h" /* mpssl_platform_hooks; includes backend.h */

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#if defined(__linux__)
#include <sys/random.h>
#endif

static void *default_alloc(size_t size) {
    return malloc(size);
}
static void *default_realloc(void *ptr, size_t size) {
    return realloc(ptr, size);
}
static void default_free(void *ptr) {
    free(ptr);
}

static mpssl_allocator allocator = {default_alloc, default_realloc,
                                    default_free};
static mpssl_platform platform;

void mpssl_set_allocator(const mpssl_allocator *a) {
    if (a && a->alloc && a->realloc && a->free) {
        allocator = *a;
    } else {
        allocator =
            (mpssl_allocator){default_alloc, default_realloc, default_free};
    }
}

void mpssl_set_platform(const mpssl_platform *p) {
    if (p) {
        platform = *p;
    } else {
        platform = (mpssl_platform){0};
    }
}

const mpssl_platform *mpssl_platform_hooks(void) {
    return &platform;
}

void *mpssl_alloc(size_t size) {
    return allocator.alloc(size ? size : 1);
}

void *mpssl_realloc(void *ptr, size_t size) {
    return allocator.realloc(ptr, size ? size : 1);
}

void mpssl_free(void *ptr) {
    if (ptr) {
        allocator.free(ptr);
    }
}

void mpssl_free_secret(void *ptr, size_t len) {
    if (!ptr) {
        return;
    }
    /* A volatile pointer keeps the compiler from eliding the wipe of memory
     * that is about to be freed. */
    volatile uint8_t *p = ptr;
    while (len--) {
        *p++ = 0;
    }
    mpssl_free(ptr);
}

/* The OS's entropy: getrandom() where Linux has it, else nothing (a bare
 * metal port must set the platform hook). */
static int os_entropy(uint8_t *buf, size_t len) {
#if defined(__linux__)
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -EIO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
#else
    (void)buf;
    (void)len;
    return -EIO;
#endif
}

int mpssl_entropy(uint8_t *buf, size_t len) {
    if (platform.entropy) {
        return platform.entropy(platform.entropy_ctx, buf, len) == 0 ? 0 : -EIO;
    }
    return os_entropy(buf, len);
}

int64_t mpssl_unix_time(void) {
    if (platform.unix_time) {
        return platform.unix_time();
    }
    time_t now = time(NULL);
    return now == (time_t)-1 ? -1 : (int64_t)now;
}
