/* Translation as language modelling: reading aligned pairs (layout, source
 * reversal, errors), length-bucketed padded batches giving exactly the loss of
 * unbatched evaluation, and beam search finding the same best translation as
 * brute-force enumeration on a model small enough to enumerate. */
#include "test_util.h"

#include <math.h>

static lm_vocab *pair_files(char src[64], char tgt[64], const char *s, const char *t) {
    write_temp(src, s, strlen(s));
    write_temp(tgt, t, strlen(t));
    lm_vocab *v;
    lm_error err;
    assert_int_equal(lm_pairs_vocab(&v, src, tgt, 1, &err), LM_OK);
    return v;
}

static void reading_pairs(void **state) {
    (void)state;
    char src[64], tgt[64];
    lm_vocab *v = pair_files(src, tgt, "a b c\nb\n", "x y\ny y z\n");
    assert_string_equal(lm_vocab_word(v, 0), "<eos>");
    assert_string_equal(lm_vocab_word(v, 1), "<sep>");
    assert_string_equal(lm_vocab_word(v, 2), "<unk>");
    lm_pairs p;
    lm_error err;
    assert_int_equal(lm_pairs_read(&p, src, tgt, v, 1, 100, &err), LM_OK);  /* reversed source */
    assert_int_equal(p.n, 2);
    assert_int_equal(p.src_len[0], 3);
    assert_int_equal(p.max_len, 3 + 1 + 2 + 1);
    assert_int_equal(p.target_words, (2 + 1) + (3 + 1));
    const int a = lm_vocab_find(v, "a"), b = lm_vocab_find(v, "b"), c = lm_vocab_find(v, "c"), x = lm_vocab_find(v, "x"),
              y = lm_vocab_find(v, "y");
    const int32_t first[] = {c, b, a, 1, x, y, 0};
    assert_memory_equal(p.ids, first, sizeof first);
    lm_pairs_free(&p);

    /* errors: line counts, empty lines, over-long pairs */
    char s2[64], t2[64];
    const char three[] = "a\nb\nc\n", holes[] = "x\n\ny\n";
    write_temp(s2, three, sizeof three - 1);
    write_temp(t2, holes, sizeof holes - 1);
    assert_int_equal(lm_pairs_read(&p, s2, tgt, v, 0, 100, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "aligned"));
    assert_int_equal(lm_pairs_read(&p, s2, t2, v, 0, 100, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, ":2: empty line"));
    assert_int_equal(lm_pairs_read(&p, src, tgt, v, 0, 6, &err), LM_EDATA);
    assert_non_null(strstr(err.msg, "longer than the limit"));
    assert_null(p.ids);
    lm_vocab_free(v);
    unlink(src), unlink(tgt), unlink(s2), unlink(t2);

    /* "<sep>" and "<eos>" written inside a line are words, read as <unk>:
     * no second separator, no target ended early */
    v = pair_files(src, tgt, "a <sep> b\n", "x <eos> y\n");
    assert_int_equal(lm_pairs_read(&p, src, tgt, v, 0, 100, &err), LM_OK);
    const int32_t ua = lm_vocab_find(v, "a"), ub = lm_vocab_find(v, "b"), ux = lm_vocab_find(v, "x"),
                  uy = lm_vocab_find(v, "y");
    const int32_t literal[] = {ua, 2, ub, 1, ux, 2, uy, 0};
    assert_memory_equal(p.ids, literal, sizeof literal);
    lm_pairs_free(&p);
    lm_config cfg = tiny_config(1, 4, 8, 1, 0.0f);
    cfg.task = LM_TASK_TRANSLATE;
    lm_model *m;
    assert_int_equal(lm_model_create(&m, &cfg, lm_vocab_size(v), &err), LM_OK);
    const int32_t typed[3] = {ua, 1, 0}, read_as[4] = {ua, 2, 2, 1};
    int32_t out[4];
    assert_int_equal(lm_pairs_source(m, v, typed, 3, out), 4);
    assert_memory_equal(out, read_as, sizeof read_as);
    lm_model_free(m);
    lm_vocab_free(v);
    unlink(src), unlink(tgt);
}

/* Random aligned corpus of n pairs over a few words. */
static lm_vocab *random_pairs(char src[64], char tgt[64], int n, uint64_t seed) {
    char *s = malloc(64 * (size_t)n), *t = malloc(64 * (size_t)n), *ps = s, *pt = t;
    for (int i = 0; i < n; i++) {
        int ls = 1 + (int)(test_rand(&seed) % 7), lt = 1 + (int)(test_rand(&seed) % 8);
        for (int k = 0; k < ls; k++) ps += sprintf(ps, "%ss%d", k ? " " : "", (int)(test_rand(&seed) % 9));
        for (int k = 0; k < lt; k++) pt += sprintf(pt, "%st%d", k ? " " : "", (int)(test_rand(&seed) % 9));
        *ps++ = '\n', *pt++ = '\n';
    }
    *ps = *pt = '\0';
    lm_vocab *v = pair_files(src, tgt, s, t);
    free(s), free(t);
    return v;
}

static lm_model *translation_model(int V, int batch, int steps, float init, uint64_t seed) {
    lm_config c = tiny_config(2, 10, steps, batch, 0.0f);
    c.task = LM_TASK_TRANSLATE;
    c.init = init;
    c.seed = seed;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    return m;
}

static int stop_after_two(void *user, size_t done, size_t total, const lm_run_stats *so_far) {
    (void)user, (void)total, (void)so_far;
    return done >= 2;
}

static void batching_equals_unbatched(void **state) {
    (void)state;
    char src[64], tgt[64];
    lm_vocab *v = random_pairs(src, tgt, 37, 5);
    lm_pairs p;
    lm_error err;
    assert_int_equal(lm_pairs_read(&p, src, tgt, v, 0, 64, &err), LM_OK);
    lm_model *m = translation_model(lm_vocab_size(v), 8, 20, 0.3f, 42);
    lm_run_stats batched, single;
    assert_int_equal(lm_pairs_evaluate(m, &p, 8, NULL, NULL, &batched, &err), LM_OK);
    assert_int_equal(lm_pairs_evaluate(m, &p, 1, NULL, NULL, &single, &err), LM_OK);
    /* a progress callback that says stop: LM_ESTOPPED, stats of the batches done */
    lm_run_stats cut;
    assert_int_equal(lm_pairs_evaluate(m, &p, 8, stop_after_two, NULL, &cut, &err), LM_ESTOPPED);
    assert_true(cut.words > 0 && cut.words < batched.words);
    assert_non_null(strstr(err.msg, "after 2 of 5 batches"));
    /* and by hand, pair by pair, straight from the layout */
    double by_hand = 0;
    size_t words = 0;
    for (size_t i = 0; i < p.n; i++) {
        const int32_t *seq = p.ids + p.start[i];
        const size_t len = p.start[i + 1] - p.start[i] - 1;
        int32_t y[64];
        for (size_t t = 0; t < len; t++) y[t] = t >= p.src_len[i] ? seq[t + 1] : -1, words += t >= p.src_len[i];
        lm_model_reset_state(m, 1);
        by_hand += lm_model_forward(m, seq, y, (int)len, 1, 0);
    }
    printf("  37 pairs: batched (8) nll %.9f, one by one %.9f, by hand %.9f; %zu target words\n", batched.nll,
           single.nll, by_hand, batched.words);
    assert_int_equal(batched.words, p.target_words);
    assert_int_equal(single.words, p.target_words);
    assert_int_equal(words, p.target_words);
    assert_true(fabs(batched.nll - by_hand) < 1e-5 * by_hand);
    assert_true(fabs(single.nll - by_hand) < 1e-5 * by_hand);
    /* an ensemble's members are checked as for text: one object is one state */
    lm_model *twice[2] = {m, m}, *hole[2] = {m, NULL};
    lm_run_stats ens;
    assert_int_equal(lm_pairs_evaluate_ensemble(twice, 2, &p, 8, NULL, &ens, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2 is model 1 again: load the file twice");
    assert_int_equal(lm_pairs_evaluate_ensemble(hole, 2, &p, 8, NULL, &ens, &err), LM_EARG);
    assert_string_equal(err.msg, "model 2 is NULL");
    /* a model of one word task refused by the other's functions, by name:
     * numbers from the wrong kind of model would look plausible */
    lm_tokens text = {p.ids, p.start[1], 0, 0, 0};
    lm_run_stats rs;
    assert_int_equal(lm_evaluate(m, &text, 1, 5, NULL, NULL, &rs, &err), LM_EARG);
    assert_string_equal(err.msg, "evaluation on text needs a language model of text; this one translates (source "
                                 "<sep> target)");
    lm_config lc = tiny_config(1, 8, 5, 2, 0.0f);
    lm_model *lm;
    assert_int_equal(lm_model_create(&lm, &lc, lm_vocab_size(v), &err), LM_OK);
    assert_int_equal(lm_pairs_evaluate(lm, &p, 8, NULL, NULL, &rs, &err), LM_EARG);
    assert_string_equal(err.msg, "evaluation needs a translation model; this one is a language model of text");
    lm_beam_opts bo = {2, 8, 0.0f};
    int32_t out[8], src3[3] = {3, 4, 3};
    size_t n_out;
    double logp;
    assert_int_equal(lm_translate(lm, src3, 3, &bo, out, 8, &n_out, &logp, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "needs a translation model"));
    lm_model_free(lm);

    /* Training on padded batches: padding must not change the gradient either.
     * One step on a batch equals the step computed on the same examples alone
     * when they have equal length; here just check it learns. */
    lm_run_stats e1, e2;
    m = (lm_model_free(m), translation_model(lm_vocab_size(v), 8, 20, 0.1f, 42));
    assert_int_equal(lm_pairs_evaluate(m, &p, 8, NULL, NULL, &e1, &err), LM_OK);
    for (int e = 0; e < 5; e++) assert_int_equal(lm_pairs_train_epoch(m, &p, 0.5f, e, NULL, NULL, &e2, &err), LM_OK);
    assert_int_equal(lm_pairs_evaluate(m, &p, 8, NULL, NULL, &e2, &err), LM_OK);
    printf("  perplexity before %.3f, after 5 epochs %.3f\n", lm_perplexity(&e1), lm_perplexity(&e2));
    assert_true(lm_perplexity(&e2) < lm_perplexity(&e1));
    lm_model_free(m);
    lm_pairs_free(&p);
    lm_vocab_free(v);
    unlink(src), unlink(tgt);
}

/* log p(words <eos> | src <sep>) by one forward with the source masked. */
static double sequence_logp(lm_model *m, const int32_t *src, int n_src, const int32_t *w, int k) {
    int32_t x[16], y[16];
    int T = 0;
    for (int i = 0; i < n_src; i++) x[T] = src[i], y[T++] = -1;
    y[T - 1] = k ? w[0] : 0;
    for (int i = 0; i < k; i++) x[T] = w[i], y[T++] = i + 1 < k ? w[i + 1] : 0;
    lm_model_reset_state(m, 1);
    return -lm_model_forward(m, x, y, T, 1, 0);
}

static void beam_search_is_exact(void **state) {
    (void)state;
    enum { V = 5, MAXLEN = 3 };
    const int32_t src[] = {3, 4, 3, 1};  /* words, then <sep> */
    const int32_t choices[] = {2, 3, 4};  /* every word except <eos> and <sep> */
    int nontrivial = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        lm_model *m = translation_model(V, 64, 8, 1.5f, seed);  /* peaked distributions */
        for (int a = 0; a < 3; a++) {
            const float alpha = a == 0 ? 0.0f : a == 1 ? 1.0f : 0.6f;
            /* brute force over every finished hypothesis of 0..MAXLEN-1 words */
            double best = -INFINITY, best_logp = 0;
            int32_t best_w[MAXLEN] = {0};
            int best_k = -1;
            for (int k = 0; k < MAXLEN; k++) {
                int total = 1;
                for (int i = 0; i < k; i++) total *= 3;
                for (int code = 0; code < total; code++) {
                    int32_t w[MAXLEN];
                    for (int i = 0, c = code; i < k; i++, c /= 3) w[i] = choices[c % 3];
                    double lp = sequence_logp(m, src, 4, w, k);
                    double score = alpha > 0 ? lp / pow(k ? k : 1, alpha) : lp;
                    if (score > best) best = score, best_logp = lp, best_k = k, memcpy(best_w, w, sizeof w);
                }
            }
            lm_beam_opts o = {27, MAXLEN, alpha};  /* wide enough to keep everything */
            int32_t out[8];
            size_t n;
            double lp;
            lm_error err;
            assert_int_equal(lm_translate(m, src, 4, &o, out, 8, &n, &lp, &err), LM_OK);
            if (n) printf("  seed %2d alpha %.1f: brute force %d words logp %.6f; beam %zu words logp %.6f\n",
                          (int)seed, alpha, best_k, best_logp, n, lp);
            assert_int_equal(n, best_k);
            assert_memory_equal(out, best_w, n * sizeof *out);
            assert_true(fabs(lp - best_logp) < 1e-4);
            nontrivial += n > 0;
        }
        /* Beam 1 is greedy: each word the argmax of the next-word distribution. */
        lm_beam_opts g = {1, 6, 0.0f};
        int32_t out[8], seq[16], dummy[16] = {0};
        size_t n;
        double lp;
        lm_error err;
        float z[V];
        assert_int_equal(lm_translate(m, src, 4, &g, out, 8, &n, &lp, &err), LM_OK);
        memcpy(seq, src, sizeof src);
        memcpy(seq + 4, out, n * sizeof *out);
        for (size_t i = 0; i <= n && i < 6; i++) {
            lm_model_reset_state(m, 1);
            lm_model_forward(m, seq, dummy, (int)(4 + i), 1, 0);
            lm_model_logits_row(m, 3 + i, z);
            int arg = 0;
            for (int j = 1; j < V; j++)
                if (j != 1 && z[j] > z[arg]) arg = j;
            assert_int_equal(arg, i < n ? out[i] : 0);
        }
        lm_model_free(m);
    }
    printf("  %d of 36 searches found a non-empty best translation\n", nontrivial);
    assert_true(nontrivial >= 6);  /* the check is not vacuous */
}

int main(void) {
    lm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reading_pairs),
        cmocka_unit_test(batching_equals_unbatched),
        cmocka_unit_test(beam_search_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
