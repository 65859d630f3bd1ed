/* The streaming scoring API (lm_state): its log-probabilities equal the
 * training forward's on the same words (an independent path: the model's
 * window buffers, T > 1), a batch of states equals the states stepped one by
 * one, copies and clones continue identically, the distribution and top-k
 * agree with the single-word calls, states step correctly from several
 * threads at once, and bad arguments are refused without a crash. */
#include "test_util.h"

#include <math.h>
#include <pthread.h>

enum { V = 23, EOS = 4 };

static lm_vocab *vocab(void) {
    const char *words[V];
    static char names[V][8];
    for (int i = 0; i < V; i++) snprintf(names[i], sizeof names[i], "w%d", i), words[i] = names[i];
    words[EOS] = "<eos>";
    words[7] = "<unk>";
    lm_vocab *v;
    lm_error err;
    assert_int_equal(lm_vocab_from_words(&v, words, V, &err), LM_OK);
    return v;
}

static lm_model *model(int layers, int hidden, uint64_t seed) {
    lm_config c = tiny_config(layers, hidden, 5, 2, 0.0f);
    c.seed = seed;
    lm_model *m;
    lm_error err;
    assert_int_equal(lm_model_create(&m, &c, V, &err), LM_OK);
    return m;
}

static const int32_t words[] = {3, 9, 9, 1, 22, EOS, 0, 5, 17, 2, 11, EOS, 6};
enum { N = sizeof words / sizeof *words };

/* log P(words[i] | <eos> words[0..i)) from the model's own forward over the
 * whole stream (one window, state from zero). */
static void reference(lm_model *m, double *lp) {
    int32_t x[N], y[N];
    x[0] = EOS;
    for (int i = 0; i < N; i++) y[i] = words[i], x[i] = i ? words[i - 1] : EOS;
    lm_error err;
    assert_int_equal(lm_model_reserve(m, N, 1, 0, &err), LM_OK);
    lm_model_reset_state(m, 1);
    lm_model_forward(m, x, y, N, 1, 0);
    const double *row = lm_model_row_nll(m);
    for (int i = 0; i < N; i++) lp[i] = -row[i];
}

static void steps_match_the_training_forward(void **unused) {
    (void)unused;
    for (int L = 1; L <= 3; L++) {
        lm_model *m = model(L, 10 + L, 3 + (uint64_t)L);
        lm_vocab *v = vocab();
        double want[N], got[N], total;
        reference(m, want);
        lm_state *s;
        lm_error err;
        assert_int_equal(lm_state_create(&s, m, v, &err), LM_OK);
        for (int i = 0; i < N; i++) {
            assert_int_equal(lm_state_step(s, words[i], &got[i], &err), LM_OK);
            assert_true(fabs(got[i] - want[i]) < 1e-5);
            assert_true(got[i] < 0);
        }
        /* lm_state_score from a reset is the same sum; end adds <eos> */
        lm_state_reset(s);
        double per[N + 1];
        assert_int_equal(lm_state_score(s, words, N, 0, per, &total, &err), LM_OK);
        double sum = 0;
        for (int i = 0; i < N; i++) sum += want[i], assert_true(fabs(per[i] - want[i]) < 1e-5);
        assert_true(fabs(total - sum) < 1e-4);
        /* a bad id anywhere: refused, and the state has read nothing */
        lm_state_reset(s);
        int32_t bad[3] = {words[0], words[1], 1 << 20};
        assert_int_equal(lm_state_score(s, bad, 3, 0, NULL, &total, &err), LM_EARG);
        double first;
        assert_int_equal(lm_state_step(s, words[0], &first, &err), LM_OK);
        assert_true(fabs(first - want[0]) < 1e-5);
        lm_state_free(s);
        lm_vocab_free(v);
        lm_model_free(m);
    }
}

static void batch_equals_single_steps_and_clones_continue(void **unused) {
    (void)unused;
    lm_model *m = model(2, 16, 9);
    lm_vocab *v = vocab();
    lm_error err;
    enum { B = 5 };
    lm_state *a[B], *b[B];
    for (int r = 0; r < B; r++) {
        assert_int_equal(lm_state_create(&a[r], m, v, &err), LM_OK);
        assert_int_equal(lm_state_create(&b[r], m, v, &err), LM_OK);
    }
    for (int t = 0; t < 8; t++) {
        int32_t w[B];
        double lb[B];
        for (int r = 0; r < B; r++) w[r] = (int32_t)((t * 7 + r * 5) % V);
        assert_int_equal(lm_state_step_batch(b, B, w, lb, &err), LM_OK);
        for (int r = 0; r < B; r++) {
            double la;
            assert_int_equal(lm_state_step(a[r], w[r], &la, &err), LM_OK);
            assert_true(fabs(la - lb[r]) < 1e-5);
        }
    }
    /* a clone and a copy continue as the original; the original is untouched */
    lm_state *c;
    assert_int_equal(lm_state_clone(&c, a[0], &err), LM_OK);
    assert_int_equal(lm_state_copy(b[1], a[0], &err), LM_OK);
    double x, y, z;
    assert_int_equal(lm_state_step(a[0], 12, &x, &err), LM_OK);
    assert_int_equal(lm_state_step(c, 12, &y, &err), LM_OK);
    assert_int_equal(lm_state_step(b[1], 12, &z, &err), LM_OK);
    assert_true(x == y && y == z);
    /* advancing without a probability reaches the same state */
    assert_int_equal(lm_state_step(a[2], 3, NULL, &err), LM_OK);
    assert_int_equal(lm_state_step(b[2], 3, &x, &err), LM_OK);
    assert_int_equal(lm_state_logprob(a[2], 8, &x, &err), LM_OK);
    assert_int_equal(lm_state_logprob(b[2], 8, &y, &err), LM_OK);
    assert_true(fabs(x - y) < 1e-6);
    /* reset = a fresh state */
    lm_state *fresh;
    assert_int_equal(lm_state_create(&fresh, m, v, &err), LM_OK);
    lm_state_reset(a[3]);
    assert_int_equal(lm_state_logprob(a[3], 5, &x, &err), LM_OK);
    assert_int_equal(lm_state_logprob(fresh, 5, &y, &err), LM_OK);
    assert_true(x == y);
    /* sentences of different lengths scored together = one by one */
    const int32_t s0[] = {1, 2, 3}, s2[] = {9, 9, 9, 9, 9, 1}, *sents[3] = {s0, NULL, s2};
    const size_t lens[3] = {3, 0, 6};
    double totals[3], per1[7], *per[3] = {NULL, NULL, per1};
    /* in batches of two (sorted by length: the empty one with the short one) */
    assert_int_equal(lm_score_sentences(m, v, 2, 3, sents, lens, totals, per, &err), LM_OK);
    for (int r = 0; r < 3; r++) {
        double one, each[7];
        lm_state_reset(fresh);
        assert_int_equal(lm_state_score(fresh, sents[r], lens[r], 1, each, &one, &err), LM_OK);
        assert_true(fabs(one - totals[r]) < 1e-5);
        if (r == 2)
            for (int i = 0; i < 7; i++) assert_true(fabs(each[i] - per1[i]) < 1e-5);
    }
    /* long sentences of many lengths, batch 3: several windows, the ended
     * sentences leaving the batch between them */
    enum { S = 11 };
    int32_t *many[S];
    size_t mlen[S];
    double mt[S];
    for (int i = 0; i < S; i++) {
        mlen[i] = (size_t)((i * 37) % 120);
        many[i] = malloc((mlen[i] + 1) * sizeof **many);
        for (size_t k = 0; k < mlen[i]; k++) many[i][k] = (int32_t)((i * 7 + k * 3) % V);
    }
    assert_int_equal(lm_score_sentences(m, v, 3, S, (const int32_t *const *)many, mlen, mt, NULL, &err), LM_OK);
    for (int i = 0; i < S; i++) {
        double one;
        lm_state_reset(fresh);
        assert_int_equal(lm_state_score(fresh, many[i], mlen[i], 1, NULL, &one, &err), LM_OK);
        assert_true(fabs(one - mt[i]) < 1e-4);
        free(many[i]);
    }
    lm_state_free(fresh), lm_state_free(c);
    for (int r = 0; r < B; r++) lm_state_free(a[r]), lm_state_free(b[r]);
    lm_vocab_free(v);
    lm_model_free(m);
}

static void distribution_and_topk_agree(void **unused) {
    (void)unused;
    lm_model *m = model(2, 12, 4);
    lm_vocab *v = vocab();
    lm_error err;
    lm_state *s;
    assert_int_equal(lm_state_create(&s, m, v, &err), LM_OK);
    assert_int_equal(lm_state_step(s, 3, NULL, &err), LM_OK);
    float d[V];
    assert_int_equal(lm_state_distribution(s, d, &err), LM_OK);
    double total = 0;
    for (int w = 0; w < V; w++) {
        double lp;
        assert_int_equal(lm_state_logprob(s, w, &lp, &err), LM_OK);
        assert_true(fabs(lp - d[w]) < 1e-5);
        total += exp(d[w]);
    }
    assert_true(fabs(total - 1.0) < 1e-5);
    int32_t ids[V];
    float lp[V];
    assert_int_equal(lm_state_topk(s, V, ids, lp, &err), LM_OK);
    unsigned char seen[V] = {0};
    for (int i = 0; i < V; i++) {
        assert_true(lp[i] == d[ids[i]]);
        if (i) assert_true(lp[i] <= lp[i - 1]);
        seen[ids[i]]++;
    }
    for (int w = 0; w < V; w++) assert_int_equal(seen[w], 1);
    int32_t top3[3];
    float l3[3];
    assert_int_equal(lm_state_topk(s, 3, top3, l3, &err), LM_OK);
    assert_memory_equal(top3, ids, sizeof top3);
    /* the distribution asked for first is the one the step scores with */
    double stepped;
    assert_int_equal(lm_state_step(s, ids[0], &stepped, &err), LM_OK);
    assert_true(fabs(stepped - lp[0]) < 1e-6);
    lm_state_free(s);
    lm_vocab_free(v);
    lm_model_free(m);
}

typedef struct {
    lm_model *m;
    lm_vocab *v;
    double sum;
    int ok;
} job;

static void *score_many(void *arg) {
    job *j = arg;
    lm_state *s;
    lm_error err;
    j->ok = lm_state_create(&s, j->m, j->v, &err) == LM_OK;
    j->sum = 0;
    for (int rep = 0; j->ok && rep < 50; rep++) {
        double t;
        lm_state_reset(s);
        j->ok = lm_state_score(s, words, N, 1, NULL, &t, &err) == LM_OK;
        j->sum += t;
    }
    if (j->ok) lm_state_free(s);
    return NULL;
}

static void threads_share_one_model(void **unused) {
    (void)unused;
    for (int bf16 = 0; bf16 <= lm_bf16_available(); bf16++) {
        lm_model *m = model(2, 64, 5);
        lm_vocab *v = vocab();
        lm_error err;
        assert_int_equal(lm_model_set_bf16(m, bf16, &err), LM_OK);
        job alone = {m, v, 0, 0};
        score_many(&alone);
        assert_true(alone.ok);
        enum { K = 4 };
        job jobs[K];
        pthread_t th[K];
        for (int k = 0; k < K; k++) jobs[k] = (job){m, v, 0, 0};
        for (int k = 0; k < K; k++) assert_int_equal(pthread_create(&th[k], NULL, score_many, &jobs[k]), 0);
        for (int k = 0; k < K; k++) assert_int_equal(pthread_join(th[k], NULL), 0);
        for (int k = 0; k < K; k++) {
            assert_true(jobs[k].ok);
            assert_true(fabs(jobs[k].sum - alone.sum) <= 1e-9 * fabs(alone.sum));  /* same kernels, same sums */
        }
        lm_vocab_free(v);
        lm_model_free(m);
    }
}

static void bad_arguments_are_refused(void **unused) {
    (void)unused;
    lm_model *m = model(1, 8, 2), *m2 = model(1, 8, 3);
    lm_vocab *v = vocab();
    lm_error err;
    lm_state *s = NULL, *t = NULL, *u = NULL;
    assert_int_equal(lm_state_create(NULL, m, v, &err), LM_EARG);
    assert_int_equal(lm_state_create(&s, NULL, v, &err), LM_EARG);
    assert_null(s);
    assert_int_equal(lm_state_create(&s, m, NULL, &err), LM_EARG);
    /* a vocabulary of another size, one without <eos> */
    const char *few[] = {"a", "b", "<eos>"};
    lm_vocab *small;
    assert_int_equal(lm_vocab_from_words(&small, few, 3, &err), LM_OK);
    assert_int_equal(lm_state_create(&s, m, small, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "3 words"));
    lm_vocab_free(small);
    const char *no_eos[V];
    static char names[V][8];
    for (int i = 0; i < V; i++) snprintf(names[i], 8, "x%d", i), no_eos[i] = names[i];
    assert_int_equal(lm_vocab_from_words(&small, no_eos, V, &err), LM_OK);
    assert_int_equal(lm_state_create(&s, m, small, &err), LM_EARG);
    assert_non_null(strstr(err.msg, "<eos>"));
    lm_vocab_free(small);

    assert_int_equal(lm_state_create(&s, m, v, &err), LM_OK);
    assert_int_equal(lm_state_create(&t, m, v, &err), LM_OK);
    assert_int_equal(lm_state_create(&u, m2, v, &err), LM_OK);
    double lp;
    assert_int_equal(lm_state_step(s, V, &lp, &err), LM_EARG);
    assert_int_equal(lm_state_step(s, -1, &lp, &err), LM_EARG);
    assert_int_equal(lm_state_logprob(s, 1, NULL, &err), LM_EARG);
    assert_int_equal(lm_state_step(NULL, 1, &lp, &err), LM_EARG);
    int32_t ids[2];
    float l[2];
    assert_int_equal(lm_state_topk(s, 0, ids, l, &err), LM_EARG);
    assert_int_equal(lm_state_topk(s, V + 1, ids, l, &err), LM_EARG);
    lm_state *two[2] = {s, u}, *same[2] = {s, s};
    const int32_t w2[2] = {1, 2};
    double l2[2];
    assert_int_equal(lm_state_step_batch(two, 2, w2, l2, &err), LM_EARG);
    assert_int_equal(lm_state_step_batch(same, 2, w2, l2, &err), LM_EARG);
    assert_int_equal(lm_state_step_batch(two, -1, w2, l2, &err), LM_EARG);
    assert_int_equal(lm_state_step_batch(two, 0, w2, l2, &err), LM_OK);
    assert_int_equal(lm_state_copy(s, u, &err), LM_EARG);
    assert_int_equal(lm_state_clone(NULL, s, &err), LM_EARG);
    /* refused calls left the state as it was */
    assert_int_equal(lm_state_logprob(s, 1, &lp, &err), LM_OK);
    double fresh;
    assert_int_equal(lm_state_logprob(t, 1, &fresh, &err), LM_OK);
    assert_true(lp == fresh);
    lm_state_free(s), lm_state_free(t), lm_state_free(u);
    lm_state_free(NULL);
    lm_state_reset(NULL);

    /* a frame classifier is not a language model */
    lm_config c = tiny_config(1, 8, 5, 2, 0.0f);
    c.task = LM_TASK_FRAMES, c.input_dim = 3;
    lm_model *fm;
    assert_int_equal(lm_model_create(&fm, &c, V, &err), LM_OK);
    assert_int_equal(lm_state_create(&s, fm, v, &err), LM_EARG);
    lm_model_free(fm);
    lm_vocab_free(v);
    lm_model_free(m), lm_model_free(m2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steps_match_the_training_forward),
        cmocka_unit_test(batch_equals_single_steps_and_clones_continue),
        cmocka_unit_test(distribution_and_topk_agree),
        cmocka_unit_test(threads_share_one_model),
        cmocka_unit_test(bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
