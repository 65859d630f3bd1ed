/* Text files to word lists: whole-file read, byte-level validation (NUL,
 * UTF-8), splitting on ASCII white space, "<eos>" at every line end. */
#include "text.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char LM_EOS[] = "<eos>";
const char LM_UNK[] = "<unk>";

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return 0;
    if (len > left) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;  /* overlong */
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                          /* surrogate */
    if (cp > 0x10FFFF) return 0;
    return len;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static lm_status read_file(const char *path, char **out, size_t *len, lm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lm_fail(err, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    lm_status st = LM_OK;
    if (!buf) { st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path); goto done; }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { st = lm_fail(err, LM_ENOMEM, "%s: out of memory", path); goto done; }
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) st = lm_fail(err, LM_EIO, "%s: read error (is it a directory?)", path);
done:
    fclose(f);
    if (st != LM_OK) { free(buf); return st; }
    buf[n] = '\0';
    *out = buf, *len = n;
    return LM_OK;
}

lm_status lm_text_load(const char *path, char **out, size_t *out_len, lm_error *err) {
    char *buf = NULL;
    size_t len = 0;
    lm_status st = read_file(path, &buf, &len, err);
    if (st != LM_OK) return st;
    uint32_t line = 1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)buf[i];
        if (c == 0) { free(buf); return lm_fail(err, LM_EDATA, "%s:%u: NUL byte in text (binary file?)", path, line); }
        size_t sl = utf8_seq_len((const unsigned char *)buf + i, len - i);
        if (sl == 0) { free(buf); return lm_fail(err, LM_EDATA, "%s:%u: invalid UTF-8 at byte %zu", path, line, i); }
        line += c == '\n';
        i += sl;
    }
    *out = buf, *out_len = len;
    return LM_OK;
}

/* Bytes of the longest word accepted: far beyond any word of natural text,
 * and small enough that a vocabulary of such words stays within what a
 * checkpoint header can hold. */
#define MAX_WORD_BYTES 1024

lm_status lm_line_ids(const lm_vocab *v, const char *line, size_t len, int32_t *ids, size_t *n, size_t *n_oov,
                      unsigned char *is_oov, lm_error *err) {
    *n = 0, *n_oov = 0;
    const int unk = lm_vocab_find(v, LM_UNK);
    char word[MAX_WORD_BYTES + 1];
    for (size_t i = 0; i < len;) {
        if (line[i] == '\0') return lm_fail(err, LM_EDATA, "NUL byte at byte %zu (binary data?)", i);
        if (is_space(line[i]) || line[i] == '\n') { i++; continue; }
        size_t start = i;
        while (i < len && line[i] && !is_space(line[i]) && line[i] != '\n') {
            size_t sl = utf8_seq_len((const unsigned char *)line + i, len - i);
            if (sl == 0) return lm_fail(err, LM_EDATA, "invalid UTF-8 at byte %zu", i);
            i += sl;
        }
        if (i - start > MAX_WORD_BYTES)
            return lm_fail(err, LM_EDATA, "a word of %zu bytes at byte %zu (at most %d)", i - start, start, MAX_WORD_BYTES);
        memcpy(word, line + start, i - start);
        word[i - start] = '\0';
        int id = lm_vocab_find(v, word);
        if (id < 0) {
            if (unk < 0) return lm_fail(err, LM_EDATA, "word \"%.64s\" is not in the vocabulary (which has no <unk>)", word);
            id = unk, ++*n_oov;
        }
        if (is_oov) is_oov[*n] = id == unk && strcmp(word, LM_UNK) != 0;
        ids[(*n)++] = id;
    }
    return LM_OK;
}

lm_status lm_text_read(lm_text *t, const char *path, lm_error *err) {
    memset(t, 0, sizeof *t);
    char *buf = NULL;
    size_t len = 0;
    lm_status st = lm_text_load(path, &buf, &len, err);
    if (st != LM_OK) return st;
    if (len == 0) { free(buf); return lm_fail(err, LM_EDATA, "%s: file is empty", path); }

    /* Count words and lines (the bytes are known to be valid). */
    size_t n_words = 0, n_lines = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n') n_lines++, in_word = 0;
        else if (is_space(c)) in_word = 0;
        else if (!in_word) n_words++, in_word = 1;
    }
    if (n_words == 0) { free(buf); return lm_fail(err, LM_EDATA, "%s: no words (only white space)", path); }
    const int unterminated = buf[len - 1] != '\n';
    if (unterminated) n_lines++;  /* an unterminated last line still ends */

    size_t n = n_words + n_lines;
    t->words = malloc(n * sizeof *t->words);
    t->lines = malloc(n * sizeof *t->lines);
    if (!t->words || !t->lines) { free(buf); lm_text_free(t); return lm_fail(err, LM_ENOMEM, "%s: out of memory", path); }

    size_t k = 0;
    uint32_t line = 1;
    for (size_t i = 0; i < len;) {
        char c = buf[i];
        if (c == '\n') {
            buf[i++] = '\0';
            t->words[k] = LM_EOS, t->lines[k++] = line++;
        } else if (is_space(c)) {
            buf[i++] = '\0';
        } else {
            const size_t start = i;
            t->words[k] = buf + i, t->lines[k++] = line;
            while (i < len && buf[i] != '\n' && !is_space(buf[i])) i++;
            if (i - start > MAX_WORD_BYTES) {
                lm_text_free(t), free(buf);
                return lm_fail(err, LM_EDATA, "%s:%u: a word of %zu bytes (at most %d; binary data?)", path, line,
                               i - start, MAX_WORD_BYTES);
            }
        }
    }
    if (unterminated) t->words[k] = LM_EOS, t->lines[k++] = line;
    t->buf = buf;
    t->n = k;
    return LM_OK;
}

void lm_text_free(lm_text *t) {
    free(t->buf);
    free(t->words);
    free(t->lines);
    memset(t, 0, sizeof *t);
}
