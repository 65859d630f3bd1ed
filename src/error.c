/* Error messages, aligned allocation and the clock: the small utilities every
 * module of the library uses. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

lm_status lm_fail(lm_error *err, lm_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* Messages quote paths, words and parser text from files that may be
         * forged: no control byte (a terminal escape, a newline) gets out. */
        for (char *c = err->msg; *c; c++)
            if (lm_control_byte(*c)) *c = '?';
    }
    return status;
}

void *lm_alloc(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void *lm_grow(void *p, size_t *cap, size_t bytes) {
    if (bytes <= *cap) return p;
    free(p);
    p = lm_alloc(bytes);
    *cap = p ? bytes : 0;
    return p;
}

double lm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
