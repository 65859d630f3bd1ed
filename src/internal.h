/* Helpers shared by the library's modules: error reporting and checked
 * allocation. Nothing here is part of the public API. */
#ifndef LM_INTERNAL_H
#define LM_INTERNAL_H

#include "lstmlm.h"
#include <stddef.h>

/* Format a message into err (if not NULL) and return status. */
lm_status lm_fail(lm_error *err, lm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 64-byte aligned, zeroed allocation; NULL on failure. Free with free(). */
void *lm_alloc(size_t bytes);

/* Monotonic wall-clock seconds. */
double lm_now(void);

#endif
