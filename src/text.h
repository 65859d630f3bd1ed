/* Reading and validating a whitespace-tokenised text file: the step before
 * vocabulary lookup. */
#ifndef LM_TEXT_H
#define LM_TEXT_H

#include "lstmlm.h"

extern const char LM_EOS[];  /* "<eos>" */
extern const char LM_UNK[];  /* "<unk>" */

typedef struct {
    char *buf;           /* file contents; separators overwritten with NUL */
    const char **words;  /* (n) into buf, or LM_EOS at each line end */
    uint32_t *lines;     /* (n) 1-based line number of each word */
    size_t n;
} lm_text;

/* Read a whole file, NUL-terminated, rejecting NUL bytes and invalid UTF-8
 * (messages name the file and line). An empty file is returned as such. */
lm_status lm_text_load(const char *path, char **buf, size_t *len, lm_error *err);

/* Read `path`, reject empty files, NUL bytes, invalid UTF-8 and files with
 * no words (each error names the file and, where it applies, the line). */
lm_status lm_text_read(lm_text *t, const char *path, lm_error *err);
void lm_text_free(lm_text *t);

#endif
