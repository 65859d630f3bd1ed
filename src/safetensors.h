/* safetensors files: an 8-byte little-endian header length, a JSON header
 * (jansson) naming each tensor's dtype, shape and byte range, then the raw
 * little-endian tensor data. Dtypes F32 (every checkpoint tensor), I32 and
 * I64 (the frame datasets' labels and offsets). */
#ifndef LM_SAFETENSORS_H
#define LM_SAFETENSORS_H

#include "lstmlm.h"

#include <jansson.h>

#define LM_ST_MAX_DIMS 4

typedef enum { LM_ST_F32 = 0, LM_ST_I32, LM_ST_I64 } lm_st_dtype;

typedef struct {
    const char *name;
    const void *data;  /* host memory, little-endian elements of dtype */
    int ndim;
    size_t shape[LM_ST_MAX_DIMS];
    lm_st_dtype dtype;  /* 0 (F32) when not given */
} lm_st_tensor;

/* Write tensors and string metadata (meta: object of string values, may be
 * NULL) to `path` atomically: temp file, fsync, rename, fsync of the folder.
 * On error the previous file at `path` is untouched. */
lm_status lm_st_save(const char *path, const lm_st_tensor *tensors, int n, json_t *meta, lm_error *err);

typedef struct {
    char *name;
    lm_st_dtype dtype;
    int ndim;
    size_t shape[LM_ST_MAX_DIMS];
    size_t begin, end;  /* byte range in the data section */
} lm_st_entry;

typedef struct {
    unsigned char *image;       /* the whole file */
    size_t size;
    const unsigned char *data;  /* data section */
    size_t data_size;
    json_t *meta;               /* "__metadata__" object, or NULL */
    lm_st_entry *entries;
    int n;
} lm_st_file;

/* Read `path` and validate its structure: header length inside the file,
 * well-formed JSON without duplicate keys, string-valued metadata, dtypes F32,
 * I32 or I64 (users of a tensor check it has the dtype they expect),
 * shapes whose byte size equals the offsets' span, ranges inside the data
 * section, not overlapping and covering it exactly. On error nothing is kept. */
lm_status lm_st_load(lm_st_file *f, const char *path, lm_error *err);
/* The same checks over a file image already in memory (used by the fuzzer);
 * the image is borrowed, not freed by lm_st_free. */
lm_status lm_st_parse(lm_st_file *f, const unsigned char *image, size_t size, const char *what, lm_error *err);
void lm_st_free(lm_st_file *f);

const lm_st_entry *lm_st_find(const lm_st_file *f, const char *name);
/* A metadata string, or NULL. */
const char *lm_st_meta(const lm_st_file *f, const char *key);

/* lm_checkpoint_load over a file image in memory (for the fuzzer). */
lm_status lm_checkpoint_load_image(lm_model **m, lm_vocab **v, lm_train_state *ts, const unsigned char *image,
                                   size_t size, lm_error *err);

#endif
