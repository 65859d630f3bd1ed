/* Frame datasets: labelled feature vectors grouped in utterances, stored as a
 * safetensors file (docs/FORMAT.md, "Frame datasets"). One check, used by
 * the reader and the writer, establishes every invariant the frame model
 * relies on, so a file that loads can be used without further checks and a
 * file that is written can always be read back. */
#include "internal.h"
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DIM = 65536, MAX_CLASSES = 1 << 20, MAX_NAME = 256 };
#define FORMAT_NAME "lstmlm-frames"
#define FORMAT_VERSION "1"

void lm_frames_free(lm_frames *d) {
    if (!d) return;
    free(d->features), free(d->labels), free(d->offsets), free(d->provenance);
    if (d->class_names)
        for (int k = 0; k < d->n_classes; k++) free(d->class_names[k]);
    free(d->class_names);
    memset(d, 0, sizeof *d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every invariant of lm_frames; `what` names the file in messages. */
static lm_status check(const lm_frames *d, const char *what, lm_error *err) {
    if (d->dim < 1 || d->dim > MAX_DIM)
        return lm_fail(err, LM_EFORMAT, "%s: %d features per frame (expected 1..%d)", what, d->dim, MAX_DIM);
    if (d->n_classes < 2 || d->n_classes > MAX_CLASSES)
        return lm_fail(err, LM_EFORMAT, "%s: %d classes (expected 2..%d)", what, d->n_classes, MAX_CLASSES);
    if (d->n_utts < 1 || d->n_frames < 1) return lm_fail(err, LM_EFORMAT, "%s: no utterances", what);
    if (d->offsets[0] != 0) return lm_fail(err, LM_EFORMAT, "%s: offsets[0] is %lld, not 0", what, (long long)d->offsets[0]);
    for (size_t u = 0; u < d->n_utts; u++)
        if (d->offsets[u + 1] <= d->offsets[u])
            return lm_fail(err, LM_EFORMAT, "%s: utterance %zu is empty or its offsets decrease (%lld, %lld)", what, u,
                           (long long)d->offsets[u], (long long)d->offsets[u + 1]);
    if ((uint64_t)d->offsets[d->n_utts] != d->n_frames)
        return lm_fail(err, LM_EFORMAT, "%s: the last offset is %lld but there are %zu frames", what,
                       (long long)d->offsets[d->n_utts], d->n_frames);
    size_t u = 0;
    for (size_t f = 0; f < d->n_frames; f++) {
        while ((uint64_t)d->offsets[u + 1] <= f) u++;
        if (d->labels[f] < 0 || d->labels[f] >= d->n_classes)
            return lm_fail(err, LM_EFORMAT, "%s: utterance %zu, frame %zu: label %d outside 0..%d", what, u,
                           f - (size_t)d->offsets[u], d->labels[f], d->n_classes - 1);
        const float *x = d->features + f * (size_t)d->dim;
        for (int j = 0; j < d->dim; j++)
            if (!isfinite(x[j]))
                return lm_fail(err, LM_EFORMAT, "%s: utterance %zu, frame %zu: feature %d is not finite", what, u,
                               f - (size_t)d->offsets[u], j);
    }
    char **sorted = malloc((size_t)d->n_classes * sizeof *sorted);
    if (!sorted) return lm_fail(err, LM_ENOMEM, "out of memory");
    lm_status st = LM_OK;
    for (int k = 0; k < d->n_classes && st == LM_OK; k++) {
        const char *n = d->class_names[k];
        const size_t len = n ? strlen(n) : 0;
        if (len == 0 || len > MAX_NAME || strpbrk(n, " \t\n\r\v\f"))
            st = lm_fail(err, LM_EFORMAT, "%s: class %d has an empty name, one over %d bytes or one with white space",
                         what, k, MAX_NAME);
        sorted[k] = (char *)n;
    }
    if (st == LM_OK) {
        qsort(sorted, (size_t)d->n_classes, sizeof *sorted, cmp_str);
        for (int k = 1; k < d->n_classes && st == LM_OK; k++)
            if (strcmp(sorted[k - 1], sorted[k]) == 0)
                st = lm_fail(err, LM_EFORMAT, "%s: class name \"%.40s\" appears twice", what, sorted[k]);
    }
    free(sorted);
    return st;
}

/* The names in a space-separated list, or NULL (and *count = -1) if there
 * are not exactly `want` of them. */
static char **split_names(const char *list, int want) {
    char **names = calloc((size_t)want > 0 ? (size_t)want : 1, sizeof *names);
    if (!names) return NULL;
    int k = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if (k == want || (size_t)(e - p) > MAX_NAME || !(names[k] = strndup(p, (size_t)(e - p)))) {
            for (int i = 0; i < k; i++) free(names[i]);
            free(names);
            return NULL;
        }
        k++;
        p = e;
    }
    if (k != want) {
        for (int i = 0; i < k; i++) free(names[i]);
        free(names);
        return NULL;
    }
    return names;
}

lm_status lm_frames_load(lm_frames *d, const char *path, lm_error *err) {
    memset(d, 0, sizeof *d);
    lm_st_file f;
    lm_status st = lm_st_load(&f, path, err);
    if (st != LM_OK) return st;
    const char *format = lm_st_meta(&f, "format"), *version = lm_st_meta(&f, "version");
    const char *classes = lm_st_meta(&f, "classes"), *prov = lm_st_meta(&f, "provenance");
    const lm_st_entry *fe = lm_st_find(&f, "features"), *le = lm_st_find(&f, "labels"), *oe = lm_st_find(&f, "offsets");
    if (!format || strcmp(format, FORMAT_NAME) != 0) {
        st = lm_fail(err, LM_EFORMAT, "%s: not a frame dataset (metadata format is not \"" FORMAT_NAME "\")", path);
    } else if (!version || strcmp(version, FORMAT_VERSION) != 0) {
        st = lm_fail(err, LM_EFORMAT, "%s: frame dataset version %.16s; this build reads version " FORMAT_VERSION, path,
                     version ? version : "(none)");
    } else if (f.n != 3 || !fe || !le || !oe || fe->dtype != LM_ST_F32 || fe->ndim != 2 || le->dtype != LM_ST_I32 ||
               le->ndim != 1 || oe->dtype != LM_ST_I64 || oe->ndim != 1) {
        st = lm_fail(err, LM_EFORMAT,
                     "%s: expected exactly the tensors features F32 (frames, dim), labels I32 (frames) and "
                     "offsets I64 (utterances + 1)", path);
    } else if (le->shape[0] != fe->shape[0]) {
        st = lm_fail(err, LM_EFORMAT, "%s: %zu labels for %zu frames", path, le->shape[0], fe->shape[0]);
    } else if (oe->shape[0] < 2 || fe->shape[0] < 1) {
        st = lm_fail(err, LM_EFORMAT, "%s: no utterance (offsets hold %zu values, features %zu frames)", path,
                     oe->shape[0], fe->shape[0]);
    } else if (fe->shape[1] < 1 || fe->shape[1] > MAX_DIM) {
        st = lm_fail(err, LM_EFORMAT, "%s: %zu features per frame (expected 1..%d)", path, fe->shape[1], MAX_DIM);
    } else if (!classes) {
        st = lm_fail(err, LM_EFORMAT, "%s: no metadata \"classes\" (the class names)", path);
    }
    if (st == LM_OK) {
        int K = 0;  /* count the names first: the label check needs K */
        for (const char *p = classes; *p;) {
            while (*p == ' ') p++;
            if (*p) K++;
            while (*p && *p != ' ') p++;
            if (K > MAX_CLASSES) break;
        }
        d->dim = (int)fe->shape[1];
        d->n_classes = K;
        d->n_frames = fe->shape[0];
        d->n_utts = oe->shape[0] - 1;
        if (K < 2 || K > MAX_CLASSES) {
            st = lm_fail(err, LM_EFORMAT, "%s: %d class names (expected 2..%d)", path, K, MAX_CLASSES);
        } else if (!(d->class_names = split_names(classes, K))) {
            st = lm_fail(err, LM_EFORMAT, "%s: a class name is longer than %d bytes (or out of memory)", path, MAX_NAME);
        } else if (!(d->features = malloc(fe->end - fe->begin + 1)) || !(d->labels = malloc(le->end - le->begin + 1)) ||
                   !(d->offsets = malloc(oe->end - oe->begin + 1)) || !(d->provenance = strdup(prov ? prov : ""))) {
            st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path);
        } else {  /* copies: the file's byte ranges need not be aligned */
            memcpy(d->features, f.data + fe->begin, fe->end - fe->begin);
            memcpy(d->labels, f.data + le->begin, le->end - le->begin);
            memcpy(d->offsets, f.data + oe->begin, oe->end - oe->begin);
            st = check(d, path, err);
        }
    }
    lm_st_free(&f);
    if (st != LM_OK) {
        if (!d->class_names) d->n_classes = 0;
        lm_frames_free(d);
    }
    return st;
}

lm_status lm_frames_save(const lm_frames *d, const char *path, lm_error *err) {
    if (!d->features || !d->labels || !d->offsets || !d->class_names)
        return lm_fail(err, LM_EARG, "%s: incomplete frame dataset", path);
    lm_status st = check(d, path, err);
    if (st != LM_OK) return st;
    size_t len = 1;
    for (int k = 0; k < d->n_classes; k++) len += strlen(d->class_names[k]) + 1;
    char *list = malloc(len), *p = list;
    json_t *meta = json_object();
    if (!list || !meta) {
        free(list), json_decref(meta);
        return lm_fail(err, LM_ENOMEM, "out of memory");
    }
    for (int k = 0; k < d->n_classes; k++) p += sprintf(p, k ? " %s" : "%s", d->class_names[k]);
    *p = '\0';
    if (json_object_set_new(meta, "format", json_string(FORMAT_NAME)) || json_object_set_new(meta, "version", json_string(FORMAT_VERSION)) ||
        json_object_set_new(meta, "classes", json_string(list)) ||
        json_object_set_new(meta, "provenance", json_string(d->provenance ? d->provenance : ""))) {
        st = lm_fail(err, LM_EARG, "%s: class names or provenance are not valid UTF-8 (or out of memory)", path);
    } else {
        const lm_st_tensor t[3] = {
            {"offsets", d->offsets, 1, {d->n_utts + 1}, LM_ST_I64},
            {"features", d->features, 2, {d->n_frames, (size_t)d->dim}, LM_ST_F32},
            {"labels", d->labels, 1, {d->n_frames}, LM_ST_I32},
        };
        st = lm_st_save(path, t, 3, meta, err);
    }
    free(list);
    json_decref(meta);
    return st;
}
