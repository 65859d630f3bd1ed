/* Corpus BLEU-4 against hand-worked examples and against the values Moses'
 * multi-bleu.perl prints for the same files (run once, by hand, outside the
 * repository: BLEU x 100 with 6 decimals and the four precisions). */
#include "test_util.h"

#include <math.h>
#include <sys/resource.h>

static void check(const char *const *hyp, const char *const *ref, size_t n, double bleu100, const double p100[4],
                  double bp) {
    lm_bleu b;
    lm_error err;
    assert_int_equal(lm_bleu_lines(&b, hyp, ref, n, &err), LM_OK);
    printf("  BLEU %.6f (expected %.6f), p = %.4f/%.4f/%.4f/%.4f, BP %.6f\n", 100 * b.bleu, bleu100,
           100 * b.precision[0], 100 * b.precision[1], 100 * b.precision[2], 100 * b.precision[3], b.brevity_penalty);
    assert_true(fabs(100 * b.bleu - bleu100) < 5e-6);
    for (int k = 0; k < 4; k++) assert_true(fabs(100 * b.precision[k] - p100[k]) < 5e-4);
    assert_true(fabs(b.brevity_penalty - bp) < 5e-6);
}

static void hand_worked(void **state) {
    (void)state;
    /* identical: every precision 1, no penalty */
    const char *same[] = {"the cat sat on the mat"};
    check(same, same, 1, 100.0, (const double[]){100, 100, 100, 100}, 1.0);
    /* c=6, r=7: p = 5/6, 4/5, 3/4, 2/3; BP = exp(1 - 7/6); BLEU = BP (1/3)^(1/4) */
    const char *h[] = {"a b c d e f"}, *r[] = {"a b c d e g h"};
    check(h, r, 1, 100 * exp(-1.0 / 6) * pow(1.0 / 3, 0.25), (const double[]){500.0 / 6, 80, 75, 200.0 / 3},
          exp(-1.0 / 6));
    /* clipping: "the" x7 against a reference holding it twice; no bigram matches, BLEU 0 */
    const char *h2[] = {"the the the the the the the"}, *r2[] = {"the cat is on the mat"};
    check(h2, r2, 1, 0.0, (const double[]){200.0 / 7, 0, 0, 0}, 1.0);
    /* longer than the reference: no brevity penalty */
    const char *h3[] = {"a b c d e f g"}, *r3[] = {"a b c d e"};
    check(h3, r3, 1, 100 * pow(5.0 / 7 * 4.0 / 6 * 3.0 / 5 * 2.0 / 4, 0.25), (const double[]){500.0 / 7, 400.0 / 6, 60, 50},
          1.0);
    /* every white space byte separates tokens, as Perl's split does: \f and \v too */
    const char *h4[] = {"the\fcat\vsat on\tthe mat"};
    check(h4, same, 1, 100.0, (const double[]){100, 100, 100, 100}, 1.0);
}

static void agrees_with_multi_bleu(void **state) {
    (void)state;
    const char *r[] = {"the cat is on the mat", "there is a cat on the mat today", "it is raining cats and dogs outside"};
    const char *h[] = {"the cat the cat on the mat", "there is cat on mat today", "it is raining cats and dogs"};
    check(h, r, 3, 46.458349, (const double[]){89.4737, 68.75, 38.4615, 30.0}, 0.900088);
    const char *r3[] = {"un homme en t-shirt rouge fait du vélo .", "deux chiens jouent dans la neige .",
                        "une femme lit un livre sur un banc .", "un enfant saute dans une piscine ."};
    const char *h3[] = {"un homme en chemise rouge fait du vélo .", "deux chiens jouent dans la neige blanche .",
                        "une femme lit sur un banc .", "un garçon saute dans la piscine bleue ."};
    check(h3, r3, 4, 51.517152, (const double[]){84.375, 60.7143, 45.8333, 30.0}, 1.0);
}

/* Per-sentence counts add up to the corpus figure; the bootstrap brackets it,
 * a system never beats itself, and a perfect system beats a poor one in every
 * resample. */
static void bootstrap(void **state) {
    (void)state;
    const char *r[] = {"un homme en t-shirt rouge fait du vélo .", "deux chiens jouent dans la neige .",
                       "une femme lit un livre sur un banc .", "un enfant saute dans une piscine .",
                       "the cat is on the mat", "there is a cat on the mat today"};
    const char *h[] = {"un homme en chemise rouge fait du vélo .", "deux chiens jouent dans la neige blanche .",
                       "une femme lit sur un banc .", "un garçon saute dans la piscine bleue .",
                       "the cat the cat on the mat", "there is cat on mat today"};
    enum { N = 6 };
    lm_bleu per[N], sum, corpus, perfect[N];
    lm_error err;
    assert_int_equal(lm_bleu_sentences(per, h, r, N, &err), LM_OK);
    assert_int_equal(lm_bleu_lines(&corpus, h, r, N, &err), LM_OK);
    lm_bleu_sum(&sum, per, N);
    assert_true(sum.bleu == corpus.bleu);

    lm_bleu_resampled self, vs;
    assert_int_equal(lm_bleu_bootstrap(per, per, N, 500, 7, &self, &err), LM_OK);
    printf("  BLEU %.2f, 95%% interval %.2f .. %.2f\n", 100 * corpus.bleu, 100 * self.lo, 100 * self.hi);
    assert_true(self.lo <= corpus.bleu && corpus.bleu <= self.hi && self.lo < self.hi);
    assert_true(self.win == 0.0 && self.diff_lo == 0.0 && self.diff_hi == 0.0);
    assert_int_equal(lm_bleu_sentences(perfect, r, r, N, &err), LM_OK);
    assert_int_equal(lm_bleu_bootstrap(perfect, per, N, 500, 7, &vs, &err), LM_OK);
    assert_true(vs.win == 1.0 && vs.diff_lo > 0 && vs.lo == 1.0 && vs.hi == 1.0);
    assert_int_equal(lm_bleu_bootstrap(per, NULL, 0, 10, 7, &vs, &err), LM_EARG);
}

static void files_and_errors(void **state) {
    (void)state;
    char hp[64], rp[64], short_ref[64], empty_ref[64];
    const char hyp[] = "a b c d e f\n\n", ref[] = "a b c d e g h\nx y\n", one[] = "a b c d e g h\n",
               holes[] = "a b\n\n";
    write_temp(hp, hyp, sizeof hyp - 1);
    write_temp(rp, ref, sizeof ref - 1);
    write_temp(short_ref, one, sizeof one - 1);
    write_temp(empty_ref, holes, sizeof holes - 1);
    lm_bleu b;
    lm_error err;
    assert_int_equal(lm_bleu_files(&b, hp, rp, &err), LM_OK);  /* an empty hypothesis line is allowed */
    assert_int_equal(b.hyp_len, 6);
    assert_int_equal(b.ref_len, 9);
    assert_int_equal(lm_bleu_files(&b, hp, short_ref, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "lines"));
    assert_int_equal(lm_bleu_files(&b, hp, empty_ref, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "line 2 is empty"));
    assert_int_equal(lm_bleu_files(&b, hp, "/nonexistent", &err), LM_EIO);
    unlink(hp), unlink(rp), unlink(short_ref), unlink(empty_ref);
}

/* One pair of 2 MB lines costs memory in proportion to its tokens, not ~270
 * bytes per byte as when one n-gram table for all four orders was sized from
 * the bytes (550 MB here). Hypothesis == reference of T tokens: every
 * precision 1 and exactly T - n + 1 n-grams of order n. */
static void long_line_memory(void **state) {
    (void)state;
    enum { LEN = 2000000 };
    const size_t T = LEN / 4;  /* 3-letter tokens and a space: 36^3 kinds, mostly distinct n-grams */
    const char kinds[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char *line = malloc(LEN);
    assert_non_null(line);
    uint64_t seed = 11;
    for (size_t i = 0; i < T; i++) {
        const uint64_t r = test_rand(&seed);
        line[4 * i] = kinds[r % 36], line[4 * i + 1] = kinds[r / 36 % 36], line[4 * i + 2] = kinds[r / 1296 % 36];
        line[4 * i + 3] = ' ';
    }
    line[LEN - 1] = '\0';
    struct rusage before, after;
    assert_int_equal(getrusage(RUSAGE_SELF, &before), 0);
    const char *h[] = {line};
    lm_bleu b;
    lm_error err;
    assert_int_equal(lm_bleu_lines(&b, h, h, 1, &err), LM_OK);
    assert_int_equal(getrusage(RUSAGE_SELF, &after), 0);
    const long grew_kb = after.ru_maxrss - before.ru_maxrss;  /* Linux: kilobytes */
    printf("  %d-byte line, %zu tokens: peak resident memory grew by %ld kB (%.1f x the line)\n", LEN, T, grew_kb,
           1024.0 * (double)grew_kb / LEN);
    assert_true(1024.0 * (double)grew_kb < 30.0 * LEN);
    assert_true(b.bleu == 1.0 && b.brevity_penalty == 1.0);
    assert_int_equal(b.hyp_len, T);
    assert_int_equal(b.ref_len, T);
    for (int n = 1; n <= 4; n++) {
        assert_int_equal(b.totals[n - 1], T - (size_t)n + 1);
        assert_int_equal(b.matches[n - 1], T - (size_t)n + 1);
    }
    free(line);
}

/* Several references, worked by hand with multi-bleu.perl's rules:
 * A: hyp "the the the cat", refs "the cat" and "the the dog": "the" clips at
 *    2 (ref 2 holds it twice), "cat" at 1 (ref 1): 3/4; bigrams "the the"
 *    (x2, ref 2 holds one) and "the cat" (ref 1): 2/3; trigrams 0/2, 4-grams
 *    0/1; closest reference length 3 (diffs 2 and 1).
 * B: hyp "a b c d", refs "a b c" and "a b c d e": every n-gram is in ref 2:
 *    4/4, 3/3, 2/2, 1/1; both references are 1 away: the shorter (3) counts,
 *    so BP = 1 (the longer would give exp(1 - 5/4)).
 * A and B: 7/8, 5/6, 2/4, 1/2, hyp 8, ref 6: BLEU 65.341892. */
static void multiple_references(void **state) {
    (void)state;
    const char *hyp[] = {"the the the cat", "a b c d"};
    const char *r1[] = {"the cat", "a b c"}, *r2[] = {"the the dog", "a b c d e"};
    const char *const *refs[] = {r1, r2}, *const *swapped[] = {r2, r1};
    lm_bleu per[2], b;
    lm_error err;
    assert_int_equal(lm_bleu_sentences_multi(per, hyp, refs, 2, 2, &err), LM_OK);
    const size_t want_m[2][4] = {{3, 2, 0, 0}, {4, 3, 2, 1}}, want_t[2][4] = {{4, 3, 2, 1}, {4, 3, 2, 1}};
    for (int s = 0; s < 2; s++) {
        for (int g = 0; g < 4; g++) {
            assert_int_equal(per[s].matches[g], want_m[s][g]);
            assert_int_equal(per[s].totals[g], want_t[s][g]);
        }
        assert_int_equal(per[s].hyp_len, 4);
        assert_int_equal(per[s].ref_len, 3);
    }
    assert_int_equal(lm_bleu_lines_multi(&b, hyp + 1, (const char *const *[]){r1 + 1, r2 + 1}, 2, 1, &err), LM_OK);
    assert_float_equal(b.brevity_penalty, 1.0, 1e-12);
    assert_float_equal(100 * b.bleu, 100.0, 1e-9);
    for (int order = 0; order < 2; order++) {  /* the reference order does not matter */
        assert_int_equal(lm_bleu_lines_multi(&b, hyp, order ? swapped : refs, 2, 2, &err), LM_OK);
        printf("  2 references: BLEU %.6f (expected 65.341892), ref_len %zu\n", 100 * b.bleu, b.ref_len);
        assert_float_equal(100 * b.bleu, 65.341891762864, 1e-6);
        assert_int_equal(b.ref_len, 6);
    }
    /* one reference through the multi-reference path: as the single-reference one */
    lm_bleu one;
    assert_int_equal(lm_bleu_lines(&one, hyp, r2, 2, &err), LM_OK);
    assert_int_equal(lm_bleu_lines_multi(&b, hyp, (const char *const *[]){r2}, 1, 2, &err), LM_OK);
    assert_memory_equal(&one, &b, sizeof b);
    /* an empty reference line among several, and a reference count out of range */
    const char *holes[] = {"the cat", ""};
    assert_int_equal(lm_bleu_lines_multi(&b, hyp, (const char *const *[]){r1, holes}, 2, 2, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "line 2 is empty"));
    assert_int_equal(lm_bleu_lines_multi(&b, hyp, refs, 0, 2, &err), LM_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_line_memory),  /* first: the peak so far is the baseline */
        cmocka_unit_test(hand_worked),
        cmocka_unit_test(agrees_with_multi_bleu),
        cmocka_unit_test(files_and_errors),
        cmocka_unit_test(multiple_references),
        cmocka_unit_test(bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
