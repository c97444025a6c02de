/*
 * check.h - a minimal table-driven unit-test harness (no dependencies).
 *
 * Each test file defines cases as functions named after the behaviour they
 * pin and lists them in main():
 *
 *     static void test_wildcard_never_spans_dots(void) {
 *         CHECK(!mpssl_dns_pattern_matches(...));
 *     }
 *     int main(void) { RUN(test_wildcard_never_spans_dots); return DONE(); }
 *
 * A case that needs a capability the configured backend lacks skips itself
 * with SKIP_UNLESS(condition, reason) before doing anything else.
 *
 * Output: one line per failed CHECK (file:line: expression), one per skipped
 * case with its reason, and a closing "N passed, N failed, N skipped" line
 * counting test functions; exit status 1 when any failed.
 */
#ifndef MPSSL_CHECK_H
#define MPSSL_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_in_test, check_skipped_in_test;
static int check_passed, check_failed, check_skipped;

#define CHECK(expr)                                                            \
    do {                                                                       \
        if (!(expr)) {                                                         \
            printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr);  \
            check_failed_in_test = 1;                                          \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        if (check_a_ != check_b_) {                                            \
            printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__,     \
                   __LINE__, #a, check_a_, #b, check_b_);                      \
            check_failed_in_test = 1;                                          \
        }                                                                      \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                     \
    do {                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                           \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {       \
            printf("  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,       \
                   __LINE__, #a, check_a_ ? check_a_ : "(null)",               \
                   check_b_ ? check_b_ : "(null)");                            \
            check_failed_in_test = 1;                                          \
        }                                                                      \
    } while (0)

#define SKIP_UNLESS(cond, reason)                                              \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("  skipped: %s\n", reason);                                 \
            check_skipped_in_test = 1;                                         \
            return;                                                            \
        }                                                                      \
    } while (0)

#define RUN(fn)                                                                \
    do {                                                                       \
        setvbuf(stdout, NULL, _IONBF, 0);                                      \
        check_failed_in_test = check_skipped_in_test = 0;                      \
        fn();                                                                  \
        if (check_skipped_in_test && !check_failed_in_test) {                  \
            printf("skip %s\n", #fn);                                          \
            check_skipped++;                                                   \
        } else if (check_failed_in_test) {                                     \
            printf("FAIL %s\n", #fn);                                          \
            check_failed++;                                                    \
        } else {                                                               \
            printf("ok   %s\n", #fn);                                          \
            check_passed++;                                                    \
        }                                                                      \
    } while (0)

#define DONE()                                                                 \
    (printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed,  \
            check_skipped),                                                    \
     check_failed ? 1 : 0)

#endif /* MPSSL_CHECK_H */
