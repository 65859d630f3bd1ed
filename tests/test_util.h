/* Helpers shared by the tests: tiny configurations, temporary files and
 * random token streams. Header-only, static, so each test is one program. */
#ifndef LM_TEST_UTIL_H
#define LM_TEST_UTIL_H

#include "lstmlm.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static inline lm_config tiny_config(int layers, int hidden, int steps, int batch, float dropout) {
    lm_config c = {.layers = layers, .hidden = hidden, .steps = steps, .batch = batch, .dropout = dropout,
                   .init = 0.5f, .lr = 1.0f, .max_epoch = 1, .epochs = 1, .decay = 2.0f, .clip = 5.0f,
                   .seed = 42, .threads = 1};
    return c;
}

/* This test program's own temporary folder, made on first use; the tests
 * remove their files, and the folder goes at exit. */
static char test_dir_path[32];
static inline void remove_test_dir(void) { rmdir(test_dir_path); }
static inline const char *test_dir(void) {
    if (!test_dir_path[0]) {
        snprintf(test_dir_path, sizeof test_dir_path, "/tmp/lstmlm_test_XXXXXX");
        assert_non_null(mkdtemp(test_dir_path));
        atexit(remove_test_dir);
    }
    return test_dir_path;
}
/* DIR/name in the test folder (buffer of 128 bytes from the caller). */
static inline const char *test_file(char path[128], const char *name) {
    snprintf(path, 128, "%s/%s", test_dir(), name);
    return path;
}

/* Write `len` bytes to a fresh temporary file; returns its path (static buffer
 * per call site is not enough, so the caller provides one of 64 bytes). */
static inline const char *write_temp(char path[64], const void *bytes, size_t len) {
    snprintf(path, 64, "%s/f_XXXXXX", test_dir());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    return path;
}

static inline uint64_t test_rand(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void random_tokens(int32_t *ids, size_t n, int V, uint64_t seed) {
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(test_rand(&seed) % (uint64_t)V);
}

/* Pointer to the tensor named `name` in the parameter buffer `base`. */
static inline float *tensor_ptr(lm_model *m, float *base, const char *name, size_t *size) {
    for (int i = 0; i < lm_model_num_tensors(m); i++) {
        const lm_tensor_info *t = lm_model_tensor(m, i);
        if (strcmp(t->name, name) == 0) {
            if (size) *size = t->size;
            return base + t->offset;
        }
    }
    return NULL;
}

#endif
