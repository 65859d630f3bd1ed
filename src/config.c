/* Hyperparameters: the paper's three presets, range checks, the learning-rate
 * schedule, and the thread settings of the runtime. */
#define _DEFAULT_SOURCE  /* syscall (the AMX permission request) */
#include "internal.h"
#include "gemm_bf16.h"

#include <cblas.h>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

lm_status lm_config_preset(lm_config *cfg, const char *name, lm_error *err) {
    /* layers hidden steps batch dropout init lr max_epoch epochs decay clip (SPEC.md section 2) */
    static const struct {
        const char *name;
        lm_config cfg;
    } presets[] = {
        {"small", {2, 200, 20, 20, 0.0f, 0.1f, 1.0f, 4, 13, 2.0f, 5.0f, 1, 2, LM_TASK_LM, 0, 0, 0, 0}},
        {"medium", {2, 650, 35, 20, 0.5f, 0.05f, 1.0f, 6, 39, 1.2f, 5.0f, 1, 2, LM_TASK_LM, 0, 0, 0, 0}},
        {"large", {2, 1500, 35, 20, 0.65f, 0.04f, 1.0f, 14, 55, 1.15f, 10.0f, 1, 2, LM_TASK_LM, 0, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (strcmp(name, presets[i].name) == 0) {
            *cfg = presets[i].cfg;
            return LM_OK;
        }
    return lm_fail(err, LM_EARG, "unknown preset \"%s\" (choose small, medium or large)", name);
}

lm_status lm_config_validate(const lm_config *c, lm_error *err) {
    if (c->layers < 1 || c->layers > 8) return lm_fail(err, LM_EARG, "layers must be 1..8 (got %d)", c->layers);
    if (c->hidden < 1 || c->hidden > 16384) return lm_fail(err, LM_EARG, "hidden must be 1..16384 (got %d)", c->hidden);
    if (c->steps < 1 || c->steps > 10000) return lm_fail(err, LM_EARG, "steps must be 1..10000 (got %d)", c->steps);
    if (c->batch < 1 || c->batch > 10000) return lm_fail(err, LM_EARG, "batch must be 1..10000 (got %d)", c->batch);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return lm_fail(err, LM_EARG, "dropout must be in [0, 1) (got %g)", c->dropout);
    if (!(c->init > 0.0f && c->init <= 10.0f)) return lm_fail(err, LM_EARG, "init must be in (0, 10] (got %g)", c->init);
    if (!(c->lr > 0.0f && isfinite(c->lr))) return lm_fail(err, LM_EARG, "lr must be positive (got %g)", c->lr);
    if (c->max_epoch < 0) return lm_fail(err, LM_EARG, "max-epoch must be >= 0 (got %d)", c->max_epoch);
    if (c->epochs < 1) return lm_fail(err, LM_EARG, "epochs must be >= 1 (got %d)", c->epochs);
    if (!(c->decay >= 1.0f && isfinite(c->decay))) return lm_fail(err, LM_EARG, "decay must be >= 1 (got %g)", c->decay);
    if (!(c->clip >= 0.0f && isfinite(c->clip))) return lm_fail(err, LM_EARG, "clip must be >= 0, 0 = off (got %g)", c->clip);
    if (c->threads < 0 || c->threads > 1024) return lm_fail(err, LM_EARG, "threads must be 0..1024 (got %d)", c->threads);
    if (c->task < LM_TASK_LM || c->task > LM_TASK_CAPTION) return lm_fail(err, LM_EARG, "unknown task %d", c->task);
    if (c->task == LM_TASK_FRAMES || c->task == LM_TASK_CAPTION ? c->input_dim < 1 || c->input_dim > 65536
                                                                : c->input_dim != 0)
        return lm_fail(err, LM_EARG, "input_dim must be 1..65536 for frames and captions and 0 otherwise (got %d)",
                       c->input_dim);
    if (c->delay < 0 || c->delay > 1000 || (c->delay && c->task != LM_TASK_FRAMES))
        return lm_fail(err, LM_EARG, "delay must be 0..1000, and 0 except for frames (got %d)", c->delay);
    if (c->bf16 && !lm_bf16_available())
        return lm_fail(err, LM_EARG, "bf16: this CPU lacks AVX512_BF16 (leave bf16 off)");
    return LM_OK;
}

float lm_config_lr_at(const lm_config *c, int epoch) {
    int over = epoch - c->max_epoch;
    return over > 0 ? (float)(c->lr / pow(c->decay, over)) : c->lr;
}

void lm_set_threads(int threads) {
    if (threads <= 0) return;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
}

const char *lm_blas_kernel(void) { return openblas_get_corename(); }

/* Here, not in gemm_bf16.c: that file is compiled for AVX-512 and must not
 * run on a CPU that lacks it, not even to ask. */
int lm_bf16_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") ? 1 : 0;
    }
    return cached;
}

double lm_bf16_peak_gflops(int reps) { return lm_bf16_available() ? lm_bf16_peak_gflops_impl(reps) : 0.0; }

/* AMX needs the CPU (CPUID leaf 7: AMX-BF16 EDX bit 22, AMX-TILE bit 24) and
 * the kernel's permission for the 8 KiB tile state, asked once per process
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, number 18). */
int lm_amx_available(void) {
    static int cached = -1;
    if (cached < 0) {
        int ok = 0;
#if defined(__x86_64__) && defined(__linux__)
        unsigned a, b, c, d;
        if (lm_bf16_available() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1u) && (d >> 24 & 1u))
            ok = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#endif
        cached = ok;
    }
    return cached;
}

const char *lm_bf16_kernel(void) {
    if (!lm_bf16_available()) return NULL;
    return lm_bf16_use_amx(-1) ? "amx" : "avx512bf16";
}

double lm_amx_peak_gflops(int reps) { return lm_bf16_available() ? lm_amx_peak_gflops_impl(reps) : 0.0; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lm_sgemm_gflops(int size, int reps) {
    const size_t n = (size_t)size;
    float *a = lm_alloc(n * n * sizeof *a), *b = lm_alloc(n * n * sizeof *b), *c = lm_alloc(n * n * sizeof *c);
    double rates[64], r = 0;
    if (reps > 64) reps = 64;
    if (a && b && c && reps > 0) {
        for (size_t i = 0; i < n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 7);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a, size, b, size, 0.0f, c, size);
        for (int k = 0; k < reps; k++) {
            double t0 = lm_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a, size, b, size, 0.0f, c,
                        size);
            rates[k] = 2.0 * (double)n * n * n / (lm_now() - t0) / 1e9;
        }
        qsort(rates, (size_t)reps, sizeof *rates, cmp_double);
        r = rates[reps / 2];
    }
    free(a), free(b), free(c);
    return r;
}
