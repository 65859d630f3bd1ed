/* Feature files: one fixed-size vector per item (an image's CNN features, a
 * speaker embedding...), the conditioning input of a caption model, stored
 * as a safetensors file (docs/FORMAT.md, "Feature files"). The reader checks
 * everything the model relies on: shape, finite values, names. */
#include "internal.h"
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DIM = 65536 };
#define FORMAT_NAME "lstmlm-features"
#define FORMAT_VERSION "1"

void lm_features_free(lm_features *f) {
    if (!f) return;
    free(f->data), free(f->names), free(f->provenance);
    memset(f, 0, sizeof *f);
}

/* Every invariant of lm_features; `what` names the file in messages. */
static lm_status check(const lm_features *f, const char *what, lm_error *err) {
    if (f->dim < 1 || f->dim > MAX_DIM)
        return lm_fail(err, LM_EFORMAT, "%s: %d features per item (expected 1..%d)", what, f->dim, MAX_DIM);
    if (f->n < 1) return lm_fail(err, LM_EFORMAT, "%s: no items", what);
    for (size_t i = 0; i < f->n; i++)
        for (int j = 0; j < f->dim; j++)
            if (!isfinite(f->data[i * (size_t)f->dim + j]))
                return lm_fail(err, LM_EFORMAT, "%s: item %zu: feature %d is not finite", what, i, j);
    if (f->names) {  /* one line per item */
        size_t lines = 1;
        for (const char *p = f->names; *p; p++) lines += *p == '\n';
        if (lines != f->n)
            return lm_fail(err, LM_EFORMAT, "%s: %zu item names for %zu items", what, lines, f->n);
    }
    return LM_OK;
}

lm_status lm_features_load(lm_features *out, const char *path, lm_error *err) {
    memset(out, 0, sizeof *out);
    lm_st_file f;
    lm_status st = lm_st_load(&f, path, err);
    if (st != LM_OK) return st;
    const char *format = lm_st_meta(&f, "format"), *version = lm_st_meta(&f, "version");
    const char *names = lm_st_meta(&f, "names"), *prov = lm_st_meta(&f, "provenance");
    const lm_st_entry *fe = lm_st_find(&f, "features");
    if (!format || strcmp(format, FORMAT_NAME) != 0) {
        st = lm_fail(err, LM_EFORMAT, "%s: not a feature file (metadata format is not \"" FORMAT_NAME "\")", path);
    } else if (!version || strcmp(version, FORMAT_VERSION) != 0) {
        st = lm_fail(err, LM_EFORMAT, "%s: feature file version %.16s; this build reads version " FORMAT_VERSION, path,
                     version ? version : "(none)");
    } else if (f.n != 1 || !fe || fe->dtype != LM_ST_F32 || fe->ndim != 2) {
        st = lm_fail(err, LM_EFORMAT, "%s: expected exactly one tensor, features F32 (items, dim)", path);
    } else if (fe->shape[0] < 1 || fe->shape[1] < 1 || fe->shape[1] > MAX_DIM) {
        st = lm_fail(err, LM_EFORMAT, "%s: features of shape (%zu, %zu): expected items >= 1 and dim 1..%d", path,
                     fe->shape[0], fe->shape[1], MAX_DIM);
    } else if (!(out->data = malloc(fe->end - fe->begin + 1)) || !(out->provenance = strdup(prov ? prov : "")) ||
               (names && !(out->names = strdup(names)))) {
        st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path);
    } else {  /* a copy: the file's byte range need not be aligned */
        memcpy(out->data, f.data + fe->begin, fe->end - fe->begin);
        out->n = fe->shape[0];
        out->dim = (int)fe->shape[1];
        st = check(out, path, err);
    }
    lm_st_free(&f);
    if (st != LM_OK) lm_features_free(out);
    return st;
}

lm_status lm_features_save(const lm_features *f, const char *path, lm_error *err) {
    if (!f->data) return lm_fail(err, LM_EARG, "%s: no features", path);
    lm_status st = check(f, path, err);
    if (st != LM_OK) return st;
    json_t *meta = json_object();
    if (!meta) return lm_fail(err, LM_ENOMEM, "out of memory");
    if (json_object_set_new(meta, "format", json_string(FORMAT_NAME)) ||
        json_object_set_new(meta, "version", json_string(FORMAT_VERSION)) ||
        json_object_set_new(meta, "provenance", json_string(f->provenance ? f->provenance : "")) ||
        (f->names && json_object_set_new(meta, "names", json_string(f->names)))) {
        st = lm_fail(err, LM_EARG, "%s: names or provenance are not valid UTF-8 (or out of memory)", path);
    } else {
        const lm_st_tensor t[1] = {{"features", f->data, 2, {f->n, (size_t)f->dim}, LM_ST_F32}};
        st = lm_st_save(path, t, 1, meta, err);
    }
    json_decref(meta);
    return st;
}
