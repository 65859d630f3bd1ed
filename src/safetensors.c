/* safetensors reader and writer. The reader trusts nothing: every length,
 * offset and shape is checked against the file before any tensor is used. */
#include "safetensors.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20)  /* the reference implementation's limit */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors is little-endian; add byte swaps");

/* fsync the folder holding `path`, so a rename survives a crash. */
static void sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

static const char *const dtype_names[] = {[LM_ST_F32] = "F32", [LM_ST_I32] = "I32", [LM_ST_I64] = "I64"};
static size_t dtype_size(lm_st_dtype d) { return d == LM_ST_I64 ? 8 : 4; }

lm_status lm_st_save(const char *path, const lm_st_tensor *t, int n, json_t *meta, lm_error *err) {
    json_t *hdr = json_object();
    if (!hdr) return lm_fail(err, LM_ENOMEM, "out of memory");
    if (meta) json_object_set(hdr, "__metadata__", meta);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d]));
            count *= t[i].shape[d];
        }
        const size_t bytes = dtype_size(t[i].dtype) * count;
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype_names[t[i].dtype], "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + bytes));
        if (!e || json_object_set_new(hdr, t[i].name, e) != 0) {
            json_decref(hdr);
            return lm_fail(err, LM_ENOMEM, "out of memory building the header of %s", path);
        }
        off += bytes;
    }
    char *text = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    if (!text) return lm_fail(err, LM_ENOMEM, "out of memory");
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;  /* data starts 8-byte aligned */

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    lm_status st = LM_OK;
    FILE *f = NULL;
    if (!tmp) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
    if (padded > MAX_HEADER) {  /* the reader's limit: such a file could never be read back */
        st = lm_fail(err, LM_EARG, "%s: header of %zu bytes exceeds the %u bytes a reader accepts", path, padded,
                     MAX_HEADER);
        goto done;
    }
    /* A unique temporary name: two writers of one path never share it. */
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0 || fchmod(fd, 0644) != 0 || !(f = fdopen(fd, "wb"))) {
        st = lm_fail(err, LM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd), remove(tmp);
        goto done;
    }
    uint64_t hl = padded;
    int ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(text, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= t[i].shape[d];
        ok = fwrite(t[i].data, dtype_size(t[i].dtype), count, f) == count;
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        st = lm_fail(err, LM_EIO, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = lm_fail(err, LM_EIO, "%s: rename failed: %s", path, strerror(errno));
        remove(tmp);
        goto done;
    }
    sync_dir(path);
done:
    free(tmp);
    free(text);
    return st;
}

static int by_begin(const void *a, const void *b) {
    const lm_st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

lm_status lm_st_parse(lm_st_file *f, const unsigned char *image, size_t size, const char *what, lm_error *err) {
    memset(f, 0, sizeof *f);
    uint64_t hl;
    if (size < 8) return lm_fail(err, LM_EFORMAT, "%s: not a safetensors file (only %zu bytes)", what, size);
    memcpy(&hl, image, 8);
    if (hl < 2 || hl > MAX_HEADER || hl > size - 8)
        return lm_fail(err, LM_EFORMAT, "%s: not a safetensors file (header length %llu does not fit its %zu bytes)", what,
                       (unsigned long long)hl, size);
    json_error_t jerr;
    json_t *hdr = json_loadb((const char *)image + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!hdr) return lm_fail(err, LM_EFORMAT, "%s: header is not valid JSON: %s", what, jerr.text);
    lm_status st = LM_OK;
    if (!json_is_object(hdr)) { st = lm_fail(err, LM_EFORMAT, "%s: header is not a JSON object", what); goto fail; }
    f->data = image + 8 + hl;
    f->data_size = size - 8 - (size_t)hl;
    f->entries = calloc(json_object_size(hdr) + 1, sizeof *f->entries);
    if (!f->entries) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto fail; }

    const char *key;
    json_t *val;
    json_object_foreach(hdr, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) { st = lm_fail(err, LM_EFORMAT, "%s: __metadata__ is not an object", what); goto fail; }
            json_object_foreach(val, mk, mv) if (!json_is_string(mv)) {
                st = lm_fail(err, LM_EFORMAT, "%s: metadata \"%.40s\" is not a string", what, mk);
                goto fail;
            }
            f->meta = json_incref(val);
            continue;
        }
        json_t *dtype = json_object_get(val, "dtype"), *shape = json_object_get(val, "shape"),
               *offs = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs) ||
            json_array_size(offs) != 2) {
            st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" lacks dtype, shape or data_offsets", what, key);
            goto fail;
        }
        lm_st_entry *e = &f->entries[f->n];
        int known = 0;
        for (int d = 0; d < 3; d++)
            if (strcmp(json_string_value(dtype), dtype_names[d]) == 0) e->dtype = (lm_st_dtype)d, known = 1;
        if (!known) {
            st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" has dtype %.16s, expected F32, I32 or I64", what, key,
                         json_string_value(dtype));
            goto fail;
        }
        e->ndim = (int)json_array_size(shape);
        if (e->ndim > LM_ST_MAX_DIMS) { st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" has too many dimensions", what, key); goto fail; }
        size_t bytes = dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++) {
            json_t *s = json_array_get(shape, (size_t)d);
            json_int_t v = json_is_integer(s) ? json_integer_value(s) : -1;
            if (v < 0 || (v && bytes > (SIZE_MAX / 2) / (size_t)v)) {
                st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" has an impossible shape", what, key);
                goto fail;
            }
            e->shape[d] = (size_t)v;
            bytes *= (size_t)v;
        }
        json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
        json_int_t bv = json_is_integer(b) ? json_integer_value(b) : -1, ev = json_is_integer(en) ? json_integer_value(en) : -1;
        if (bv < 0 || ev < bv || (uint64_t)ev > f->data_size || (size_t)(ev - bv) != bytes) {
            st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" has data_offsets outside the file or not matching its shape",
                         what, key);
            goto fail;
        }
        e->begin = (size_t)bv, e->end = (size_t)ev;
        if (!(e->name = strdup(key))) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto fail; }
        f->n++;
    }
    /* Ranges must tile the data section: no overlap, no hole. */
    lm_st_entry *sorted = malloc((size_t)(f->n + 1) * sizeof *sorted);
    if (!sorted) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto fail; }
    memcpy(sorted, f->entries, (size_t)f->n * sizeof *sorted);
    qsort(sorted, (size_t)f->n, sizeof *sorted, by_begin);
    size_t at = 0;
    for (int i = 0; i < f->n && st == LM_OK; i++) {
        if (sorted[i].begin != at)
            st = lm_fail(err, LM_EFORMAT, "%s: tensor \"%.40s\" %s another tensor's bytes", what, sorted[i].name,
                         sorted[i].begin < at ? "overlaps" : "leaves a gap before");
        at = sorted[i].end;
    }
    free(sorted);
    if (st == LM_OK && at != f->data_size)
        st = lm_fail(err, LM_EFORMAT, "%s: %zu bytes of data are not covered by any tensor", what, f->data_size - at);
    if (st != LM_OK) goto fail;
    json_decref(hdr);
    return LM_OK;
fail:
    json_decref(hdr);
    lm_st_free(f);
    return st;
}

lm_status lm_st_load(lm_st_file *f, const char *path, lm_error *err) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return lm_fail(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *img = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *np = realloc(img, cap);
            if (!np) { fclose(fp); free(img); return lm_fail(err, LM_ENOMEM, "%s: out of memory", path); }
            img = np;
        }
        size_t got = fread(img + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) { free(img); return lm_fail(err, LM_EIO, "%s: read error (is it a directory?)", path); }
    lm_status st = lm_st_parse(f, img, n, path, err);
    if (st != LM_OK) { free(img); return st; }
    f->image = img, f->size = n;
    return LM_OK;
}

void lm_st_free(lm_st_file *f) {
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    json_decref(f->meta);
    free(f->image);
    memset(f, 0, sizeof *f);
}

const lm_st_entry *lm_st_find(const lm_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
    return NULL;
}

const char *lm_st_meta(const lm_st_file *f, const char *key) {
    return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}
