/* Checkpoint files, format version 1: configuration, vocabulary and the
 * parameter buffer, little-endian, followed by an FNV-1a checksum of all
 * preceding bytes. Written atomically (temp file, fsync, rename); read into
 * memory and bounds-checked field by field before anything is trusted.
 *
 *   "LSTMLMCK" u32 version
 *   i32 V, hidden, layers, steps, batch, max_epoch, epochs
 *   f32 dropout, init, lr, decay, clip   u64 seed
 *   V x (u32 length, bytes)              vocabulary, id order
 *   u64 n_params, f32[n_params]          tensors in lm_params_layout order
 *   u64 fnv1a */
#include "internal.h"
#include "model_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CK_MAGIC "LSTMLMCK"
#define CK_VERSION 1u

_Static_assert(sizeof(float) == 4, "float must be IEEE binary32");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little-endian; add byte swaps");

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* A growable byte buffer for the writer. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int failed;
} wbuf;

static void put(wbuf *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) { b->failed = 1; return; }
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
/* The format is little-endian; so is every machine this builds for (checked). */
static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(wbuf *b, float v) { put(b, &v, 4); }

lm_status lm_checkpoint_save(const lm_model *m, const lm_vocab *v, const char *path, lm_error *err) {
    if (lm_vocab_size(v) != m->V)
        return lm_fail(err, LM_EARG, "vocabulary has %d words but the model %d", lm_vocab_size(v), m->V);
    const lm_config *c = &m->cfg;
    wbuf b = {0};
    put(&b, CK_MAGIC, 8);
    put_u32(&b, CK_VERSION);
    const int32_t ints[] = {m->V, c->hidden, c->layers, c->steps, c->batch, c->max_epoch, c->epochs};
    for (size_t i = 0; i < 7; i++) put_u32(&b, (uint32_t)ints[i]);
    const float floats[] = {c->dropout, c->init, c->lr, c->decay, c->clip};
    for (size_t i = 0; i < 5; i++) put_f32(&b, floats[i]);
    put_u64(&b, c->seed);
    for (int i = 0; i < m->V; i++) {
        const char *w = lm_vocab_word(v, i);
        put_u32(&b, (uint32_t)strlen(w));
        put(&b, w, strlen(w));
    }
    put_u64(&b, m->n_params);
    size_t at = b.n;
    put(&b, m->params, m->n_params * sizeof(float));  /* reserve, then download */
    if (!b.failed) m->be->download(b.p + at, m->params, m->n_params * sizeof(float));
    put_u64(&b, fnv1a(b.p, b.n));
    if (b.failed) { free(b.p); return lm_fail(err, LM_ENOMEM, "out of memory writing %s", path); }

    /* temp file in the same directory, fsync, rename: a crash keeps the old file */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    lm_status st = LM_OK;
    if (!tmp) { free(b.p); return lm_fail(err, LM_ENOMEM, "out of memory"); }
    snprintf(tmp, plen + 8, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { st = lm_fail(err, LM_EIO, "%s: cannot create: %s", tmp, strerror(errno)); goto done; }
    if (fwrite(b.p, 1, b.n, f) != b.n || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        st = lm_fail(err, LM_EIO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(f);
        remove(tmp);
        goto done;
    }
    if (fclose(f) != 0) { st = lm_fail(err, LM_EIO, "%s: close failed: %s", tmp, strerror(errno)); remove(tmp); goto done; }
    if (rename(tmp, path) != 0) { st = lm_fail(err, LM_EIO, "%s: rename failed: %s", path, strerror(errno)); remove(tmp); }
done:
    free(tmp);
    free(b.p);
    return st;
}

/* Bounds-checked reader over the file image. */
typedef struct {
    const unsigned char *p;
    size_t n, at;
} rbuf;

static int get(rbuf *r, void *dst, size_t n) {
    if (n > r->n - r->at) return 0;
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return 1;
}

lm_status lm_checkpoint_load(lm_model **out_m, lm_vocab **out_v, const char *path, int threads, lm_error *err) {
    *out_m = NULL, *out_v = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return lm_fail(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *img = NULL;
    size_t n = 0, cap = 0;
    lm_status st = LM_OK;
    char **words = NULL;
    uint32_t V = 0;
    lm_model *m = NULL;
    lm_vocab *v = NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *np = realloc(img, cap);
            if (!np) { fclose(f); free(img); return lm_fail(err, LM_ENOMEM, "%s: out of memory", path); }
            img = np;
        }
        size_t got = fread(img + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad_read = ferror(f);
    fclose(f);
    if (bad_read) { free(img); return lm_fail(err, LM_EIO, "%s: read error", path); }

    rbuf r = {img, n, 0};
    char magic[8];
    uint32_t version = 0;
    if (!get(&r, magic, 8) || memcmp(magic, CK_MAGIC, 8) != 0) {
        st = lm_fail(err, LM_EFORMAT, "%s: not an lstmlm checkpoint (bad magic)", path);
        goto done;
    }
    if (!get(&r, &version, 4) || version != CK_VERSION) {
        st = lm_fail(err, LM_EFORMAT, "%s: unsupported checkpoint version %u (this build reads %u)", path, version,
                     CK_VERSION);
        goto done;
    }
    uint64_t stored_sum = 0;
    if (n >= r.at + 8) memcpy(&stored_sum, img + n - 8, 8);
    if (n < r.at + 8 || fnv1a(img, n - 8) != stored_sum) {
        st = lm_fail(err, LM_EFORMAT, "%s: checksum mismatch (truncated or corrupted file)", path);
        goto done;
    }
    r.n = n - 8;  /* the checksum is not payload */
    int32_t ints[7];
    float floats[5];
    lm_config c;
    if (!get(&r, ints, sizeof ints) || !get(&r, floats, sizeof floats) || !get(&r, &c.seed, 8)) {
        st = lm_fail(err, LM_EFORMAT, "%s: truncated header", path);
        goto done;
    }
    V = (uint32_t)ints[0];
    c.hidden = ints[1], c.layers = ints[2], c.steps = ints[3], c.batch = ints[4], c.max_epoch = ints[5],
    c.epochs = ints[6];
    c.dropout = floats[0], c.init = floats[1], c.lr = floats[2], c.decay = floats[3], c.clip = floats[4];
    c.threads = threads;
    if ((st = lm_config_validate(&c, err)) != LM_OK || ints[0] < 2 || (size_t)V > r.n) {
        if (st == LM_OK) lm_fail(err, LM_EFORMAT, "%s: vocabulary size %d is impossible", path, ints[0]);
        else {
            lm_error inner = *err;
            lm_fail(err, LM_EFORMAT, "%s: bad configuration: %s", path, inner.msg);
        }
        st = LM_EFORMAT;
        goto done;
    }
    words = calloc(V, sizeof *words);
    if (!words) { st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path); goto done; }
    for (uint32_t i = 0; i < V; i++) {
        uint32_t len;
        if (!get(&r, &len, 4) || len == 0 || len > r.n - r.at) {
            st = lm_fail(err, LM_EFORMAT, "%s: vocabulary entry %u is truncated", path, i);
            goto done;
        }
        if (!(words[i] = malloc(len + 1))) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto done; }
        get(&r, words[i], len);
        words[i][len] = '\0';
        if (strlen(words[i]) != len) { st = lm_fail(err, LM_EFORMAT, "%s: NUL inside vocabulary entry %u", path, i); goto done; }
    }
    if ((st = lm_vocab_from_words(&v, (const char *const *)words, (int)V, err)) != LM_OK) {
        lm_error inner = *err;
        st = lm_fail(err, LM_EFORMAT, "%s: %s", path, inner.msg);
        goto done;
    }
    if ((st = lm_model_create(&m, &c, (int)V, err)) != LM_OK) goto done;
    uint64_t n_params;
    if (!get(&r, &n_params, 8) || n_params != m->n_params) {
        st = lm_fail(err, LM_EFORMAT, "%s: parameter count does not match the configuration", path);
        goto done;
    }
    if (r.n - r.at != n_params * sizeof(float)) {
        st = lm_fail(err, LM_EFORMAT, "%s: parameter data has %zu bytes, expected %zu", path, r.n - r.at,
                     (size_t)n_params * sizeof(float));
        goto done;
    }
    m->be->upload(m->params, img + r.at, n_params * sizeof(float));
done:
    if (words)
        for (uint32_t i = 0; i < V; i++) free(words[i]);
    free(words);
    free(img);
    if (st != LM_OK) {
        lm_model_free(m);
        lm_vocab_free(v);
        return st;
    }
    *out_m = m, *out_v = v;
    return LM_OK;
}
