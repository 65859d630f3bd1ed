/* BF16 matrix products (see gemm_bf16.h). GotoBLAS-style: K is cut in
 * blocks of KC; per block both operands are packed once (rounded to bf16,
 * pairs along k interleaved the way vdpbf16ps reads them), then a register
 * tile of MR rows x NR = 64 columns (4 zmm accumulators per row) sweeps the
 * output. The operand that is reused across the inner loop is the smaller
 * one, so it stays in L2 while the other streams through L1.
 *
 * Where the CPU has AMX (Intel since Sapphire Rapids) the same loops run a
 * tile kernel instead: tdpbf16ps multiplies a 16 x 32 by a 32 x 16 block in
 * one instruction, 16 times vdpbf16ps's work (measured here: 1.9-4.6
 * TFLOP/s on two cores against 0.16 for vdpbf16ps). B panels keep their
 * layout (a tile reads 16 of a panel's rows at its NR stride); A is packed
 * as rows of pairs, 32 rows to a block.
 *
 * This file is compiled with AVX-512 BF16 and AMX enabled whatever the
 * build's -march, so nothing in it may run before lm_bf16_available()
 * (config.c, compiled for the baseline CPU) says yes, and no tile
 * instruction before lm_amx_available() does. */
#include "gemm_bf16.h"
#include "internal.h"

#include <immintrin.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { NR = LM_BF16_NR, MR = 6, KC = LM_BF16_KC, MR_AMX = 32, KC_AMX = LM_BF16_KC_AMX };
/* AMX's k blocks, and the half blocks amx_panel sums by, are whole tiles. */
_Static_assert(LM_BF16_KC_AMX > 0 && LM_BF16_KC_AMX % 32 == 0, "LM_BF16_KC_AMX: a positive multiple of 32");

/* Pairs per packed panel row count, padded to whole AMX tiles (16 k-pairs);
 * the padding is zeros. One layout for both kernels: vdpbf16ps reads only
 * the first (kc + 1) / 2 rows of it. */
static inline int pairs_padded(int kc) { return ((kc + 1) / 2 + 15) & ~15; }

/* Which kernel the products use: AMX tiles where the CPU and the kernel
 * grant them (lm_amx_available), else vdpbf16ps. Read at each product's
 * start; lm_bf16_use_amx switches it between products. */
static atomic_int amx_state = -1;  /* -1: not decided yet */
static int amx_on(void) {
    int s = atomic_load_explicit(&amx_state, memory_order_relaxed);
    if (s < 0) {
        const char *env = getenv("LSTMLM_AMX");
        s = lm_amx_available() && !(env && env[0] == '0');
        atomic_store(&amx_state, s);
    }
    return s;
}
int lm_bf16_use_amx(int on) {
    const int was = amx_on();
    if (on >= 0) atomic_store(&amx_state, on && lm_amx_available());
    return was;
}


/* --------------------------------------------------------------- rounding */

/* Round to nearest even, as vcvtneps2bf16 does (inputs are finite here). */
static inline uint32_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
static inline uint32_t pair_of(float lo, float hi) { return bf16_bits(lo) | bf16_bits(hi) << 16; }

/* 16 pairs (lo[i], hi[i]) at once. vcvtne2ps2bf16 rounds to nearest even as
 * bf16_bits does (it also flushes denormals to zero, which bf16_bits keeps:
 * the only difference, and a harmless one); it packs hi's 16 values above
 * lo's, so a word shuffle interleaves them into pairs. */
static inline __m512i pairs16(__m512 lo, __m512 hi) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                                22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 16 pairs from 32 consecutive floats x[0..31]: (x[2i], x[2i+1]), which is
 * the order vcvtne2ps2bf16 already writes them in. */
static inline __m512i pairs_of_32(const float *x) {
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}

/* pairs of consecutive floats x[2p], x[2p+1] for p < P (x[2P-1] read only if
 * count is even): dst[p * stride] */
static void row_pairs(uint32_t *dst, size_t stride, const float *x, int count) {
    const int P = (count + 1) / 2;
    int p = 0;
    uint32_t tmp[16];
    for (; 2 * p + 32 <= count; p += 16) {
        const __m512i v = pairs_of_32(x + 2 * p);
        if (stride == 1) {
            _mm512_storeu_si512(dst + p, v);
        } else {
            _mm512_storeu_si512(tmp, v);
            for (int i = 0; i < 16; i++) dst[(size_t)(p + i) * stride] = tmp[i];
        }
    }
    for (; p < P; p++) dst[(size_t)p * stride] = pair_of(x[2 * p], 2 * p + 1 < count ? x[2 * p + 1] : 0.0f);
}

/* 16 x 16 transpose of 32-bit elements: r[i] lane j <-> r[j] lane i. */
static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* now r[4b + q] holds, in 128-bit lane L, row 4L.. of column group; fix the lanes */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* Sixteen columns whose k values are contiguous (col c at x + c ld): pairs
 * of 16 k-pairs per column, transposed so each k-pair's 16 columns are one
 * store: dst[p * NR + c]. */
static void pack_16_columns(uint32_t *dst, const float *x, int ld, int count) {
    int p = 0;
    for (; 2 * p + 32 <= count; p += 16) {
        __m512i r[16];
        for (int c = 0; c < 16; c++) r[c] = pairs_of_32(x + (size_t)c * ld + 2 * p);
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_storeu_si512(dst + (size_t)(p + i) * NR, r[i]);
    }
    if (2 * p < count)  /* the last k values, column by column */
        for (int c = 0; c < 16; c++) row_pairs(dst + (size_t)p * NR + c, NR, x + (size_t)c * ld + 2 * p, count - 2 * p);
}

/* Four full rows (row r at x + r ld) into one MR = 4 panel: dst[p * 4 + r].
 * 16 k-pairs per row at a time, interleaved in registers. */
static void pack_4_rows(uint32_t *dst, const float *x, int ld, int count) {
    int p = 0;
    for (; 2 * p + 32 <= count; p += 16) {
        __m512i r[4];
        for (int i = 0; i < 4; i++) r[i] = pairs_of_32(x + (size_t)i * ld + 2 * p);
        /* within each 128-bit lane L: u[q] = rows 0..3 of pair 4L + q */
        const __m512i t0 = _mm512_unpacklo_epi32(r[0], r[1]), t1 = _mm512_unpackhi_epi32(r[0], r[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(r[2], r[3]), t3 = _mm512_unpackhi_epi32(r[2], r[3]);
        const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
        const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
        /* output vector L holds pairs 4L..4L+3: lane L of u0, u1, u2, u3 */
        const __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
        const __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xee), v3 = _mm512_shuffle_i32x4(u2, u3, 0xee);
        _mm512_storeu_si512(dst + (size_t)p * 4, _mm512_shuffle_i32x4(v0, v1, 0x88));
        _mm512_storeu_si512(dst + (size_t)p * 4 + 16, _mm512_shuffle_i32x4(v0, v1, 0xdd));
        _mm512_storeu_si512(dst + (size_t)p * 4 + 32, _mm512_shuffle_i32x4(v2, v3, 0x88));
        _mm512_storeu_si512(dst + (size_t)p * 4 + 48, _mm512_shuffle_i32x4(v2, v3, 0xdd));
    }
    if (2 * p < count)
        for (int i = 0; i < 4; i++) row_pairs(dst + (size_t)p * 4 + i, 4, x + (size_t)i * ld + 2 * p, count - 2 * p);
}

/* ---------------------------------------------------------------- packing */

/* One panel of op(B) (rows k0..k0+kc, columns j0..j0+nr): dst[p][c], P x NR,
 * then zero rows up to pairs_padded(kc). */
static void pack_b_panel(uint32_t *dst, int tb, const float *B, int ldb, int k0, int kc, int j0, int nr) {
    const int P = (kc + 1) / 2;
    memset(dst + (size_t)P * NR, 0, (size_t)(pairs_padded(kc) - P) * NR * sizeof *dst);
    if (!tb) {  /* B(k, j) = B[k ldb + j]: rows k, k+1 side by side */
        for (int p = 0; p < P; p++) {
            const float *r0 = B + (size_t)(k0 + 2 * p) * ldb + j0;
            const int has1 = 2 * p + 1 < kc;
            for (int c = 0; c < NR; c += 16) {
                const int w = nr - c;
                const __mmask16 mk = w >= 16 ? 0xffff : w > 0 ? (__mmask16)((1u << w) - 1) : 0;
                __m512 x0 = _mm512_maskz_loadu_ps(mk, r0 + c);
                __m512 x1 = has1 ? _mm512_maskz_loadu_ps(mk, r0 + ldb + c) : _mm512_setzero_ps();
                _mm512_storeu_si512(dst + (size_t)p * NR + c, pairs16(x0, x1));
            }
        }
    } else {  /* B(k, j) = B[j ldb + k]: each column's k values are contiguous */
        int c = 0;
        for (; c + 16 <= nr; c += 16) pack_16_columns(dst + c, B + (size_t)(j0 + c) * ldb + k0, ldb, kc);
        for (; c < nr; c++) row_pairs(dst + c, NR, B + (size_t)(j0 + c) * ldb + k0, kc);
        for (c = nr; c < NR; c++)
            for (int p = 0; p < P; p++) dst[(size_t)p * NR + c] = 0;
    }
}

/* One panel of op(A) (rows i0..i0+mr, k0..k0+kc): dst[p][r], P x mrp. */
static void pack_a_panel(uint32_t *dst, int mrp, int ta, const float *A, int lda, int k0, int kc, int i0, int mr) {
    const int P = (kc + 1) / 2;
    if (!ta && mrp == 4 && mr == 4) {
        pack_4_rows(dst, A + (size_t)i0 * lda + k0, lda, kc);
    } else if (!ta) {  /* A(i, k) = A[i lda + k] */
        for (int r = 0; r < mr; r++) row_pairs(dst + r, (size_t)mrp, A + (size_t)(i0 + r) * lda + k0, kc);
        for (int r = mr; r < mrp; r++)
            for (int p = 0; p < P; p++) dst[(size_t)p * mrp + r] = 0;
    } else {    /* A(i, k) = A[k lda + i]: rows k, k+1 side by side, mrp <= 16 lanes */
        const __mmask16 in = (__mmask16)((1u << mr) - 1), out = (__mmask16)((1u << mrp) - 1);
        for (int p = 0; p < P; p++) {
            const float *r0 = A + (size_t)(k0 + 2 * p) * lda + i0;
            __m512 x0 = _mm512_maskz_loadu_ps(in, r0);
            __m512 x1 = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(in, r0 + lda) : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(dst + (size_t)p * mrp, out, pairs16(x0, x1));
        }
    }
}

/* AMX's left operand: rows of pairs along k, dst[r][p] with row stride Pp
 * (rows 0..mr of op(A) from row i0, k0..k0+kc), zeros past kc and in the
 * rows up to the next multiple of 16, which the tiles read whole. */
static void pack_a_amx(uint32_t *dst, int Pp, int ta, const float *A, int lda, int k0, int kc, int i0, int mr) {
    const int P = (kc + 1) / 2, rows = (mr + 15) & ~15;
    if (!ta) {  /* A(i, k) = A[i lda + k]: each row's pairs are consecutive floats */
        for (int r = 0; r < mr; r++) {
            row_pairs(dst + (size_t)r * Pp, 1, A + (size_t)(i0 + r) * lda + k0, kc);
            memset(dst + (size_t)r * Pp + P, 0, (size_t)(Pp - P) * sizeof *dst);
        }
        memset(dst + (size_t)mr * Pp, 0, (size_t)(rows - mr) * Pp * sizeof *dst);
        return;
    }
    /* A(i, k) = A[k lda + i]: rows k, k+1 give 16 rows' pairs p; 16 such
     * vectors transposed are 16 rows' pairs p0..p0+15 */
    for (int ib = 0; ib < mr; ib += 16) {
        const int w = mr - ib < 16 ? mr - ib : 16;
        const __mmask16 in = (__mmask16)((1u << w) - 1);
        for (int p0 = 0; p0 < Pp; p0 += 16) {
            __m512i r[16];
            for (int q = 0; q < 16; q++) {
                const int k = 2 * (p0 + q);
                if (k >= kc) { r[q] = _mm512_setzero_si512(); continue; }
                const float *x = A + (size_t)(k0 + k) * lda + i0 + ib;
                const __m512 x0 = _mm512_maskz_loadu_ps(in, x);
                const __m512 x1 = k + 1 < kc ? _mm512_maskz_loadu_ps(in, x + lda) : _mm512_setzero_ps();
                r[q] = pairs16(x0, x1);
            }
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_si512(dst + (size_t)(ib + i) * Pp + p0, r[i]);
        }
    }
}

/* ----------------------------------------------------------------- kernel */

/* Sixteen sums (w < 16: the first w) into c: alpha acc (mode 0), + beta c
 * (mode 1), + c (mode 2). Every kernel's epilogue. */
static inline void store_sums(float *c, __m512 acc, int w, float alpha, float beta, int mode) {
    const __mmask16 mk = w >= 16 ? 0xffff : (__mmask16)((1u << w) - 1);
    __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
    if (mode == 1) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mk, c), v);
    if (mode == 2) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, c));
    _mm512_mask_storeu_ps(c, mk, v);
}

/* rows x cols sums held in t (row stride ts) into C, as store_sums. */
static void sums_to_c(const float *t, int ts, float *C, int ldc, int rows, int cols, float alpha, float beta,
                      int mode) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j += 16)
            store_sums(C + (size_t)r * ldc + j, _mm512_load_ps(t + (size_t)r * ts + j), cols - j, alpha, beta, mode);
}

/* C[r][0..nr) for r < mr  =  alpha * sum_p a[p][r] . b[p][:]  (+ beta C, or + C).
 * mode 0: C = alpha acc; 1: C = alpha acc + beta C; 2: C += alpha acc.
 * MRc rows x NQ vectors of 16 columns: a panel's last, narrower tile skips
 * the all-padding vectors (the packed layout keeps its NR stride). */
static inline __attribute__((always_inline)) void kernel(const int MRc, const int NQ, int P, const uint32_t *a,
                                                         const uint32_t *b, float *C, int ldc, int mr, int nr,
                                                         float alpha, float beta, int mode) {
    __m512 acc[6][4];
    for (int r = 0; r < MRc; r++)
        for (int q = 0; q < NQ; q++) acc[r][q] = _mm512_setzero_ps();
    for (int p = 0; p < P; p++) {
        __m512bh bv[4];
        for (int q = 0; q < NQ; q++) bv[q] = (__m512bh)_mm512_loadu_si512(b + 16 * q);
        for (int r = 0; r < MRc; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
            for (int q = 0; q < NQ; q++) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], av, bv[q]);
        }
        a += MRc;
        b += NR;
    }
    for (int r = 0; r < MRc && r < mr; r++)
        for (int q = 0; q < NQ && 16 * q < nr; q++)
            store_sums(C + (size_t)r * ldc + 16 * q, acc[r][q], nr - 16 * q, alpha, beta, mode);
}

#define KERNEL(MRc, NQ)                                                                                      \
    static void kernel##MRc##_##NQ(int P, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr, int nr, \
                                   float alpha, float beta, int mode) {                                      \
        kernel(MRc, NQ, P, a, b, C, ldc, mr, nr, alpha, beta, mode);                                         \
    }
KERNEL(6, 1) KERNEL(6, 2) KERNEL(6, 3) KERNEL(6, 4)
KERNEL(4, 1) KERNEL(4, 2) KERNEL(4, 3) KERNEL(4, 4)
#undef KERNEL

typedef void kernel_fn(int P, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr, int nr, float alpha,
                       float beta, int mode);
static kernel_fn *const kernels6[4] = {kernel6_1, kernel6_2, kernel6_3, kernel6_4};
static kernel_fn *const kernels4[4] = {kernel4_1, kernel4_2, kernel4_3, kernel4_4};

/* The tile computing nr (> 0) columns of a panel. */
static inline void kernel6(int P, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr, int nr,
                           float alpha, float beta, int mode) {
    kernels6[nr >= NR ? 3 : (nr - 1) / 16](P, a, b, C, ldc, mr, nr, alpha, beta, mode);
}
static inline void kernel4(int P, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mr, int nr,
                           float alpha, float beta, int mode) {
    kernels4[nr >= NR ? 3 : (nr - 1) / 16](P, a, b, C, ldc, mr, nr, alpha, beta, mode);
}

/* ------------------------------------------------------------- AMX kernel */

/* Every tile 16 rows x 64 bytes: A tiles 16 rows x 16 k-pairs, B tiles 16
 * k-pairs x 16 columns (a panel's rows, read with its NR stride), C tiles
 * 16 x 16 FP32. Tile configuration is per thread, loaded once per thread. */
static void amx_config(void) {
    static _Thread_local int configured;
    if (configured) return;
    struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
    configured = 1;
}

/* A block of up to 32 rows (R2: rows 16..31 too) x 32 columns (C2: columns
 * 16..31 too): tiles 0-3 accumulate, 4-5 hold A, 6-7 B. a: packed rows
 * (stride as pairs), b: the panel at the block's first column. Epilogue:
 * sums_to_c. */
static inline __attribute__((always_inline)) void amx_tile(const int R2, const int C2, int Pp, const uint32_t *a,
                                                           int as, const uint32_t *b, float *C, int ldc, int mr,
                                                           int nr, float alpha, float beta, int mode) {
    /* A whole block with alpha 1 and no beta goes straight between C and the
     * accumulators (C += starts from C); others take the epilogue's road. */
    const size_t sc = (size_t)ldc * sizeof *C;
    const int direct = alpha == 1.0f && mode != 1 && mr >= (R2 ? 32 : 16) && nr >= (C2 ? 32 : 16);
    if (direct && mode == 2) {
        _tile_loadd(0, C, sc);
        if (C2) _tile_loadd(1, C + 16, sc);
        if (R2) _tile_loadd(2, C + 16 * (size_t)ldc, sc);
        if (R2 && C2) _tile_loadd(3, C + 16 * (size_t)ldc + 16, sc);
    } else {
        _tile_zero(0);
        if (C2) _tile_zero(1);
        if (R2) _tile_zero(2);
        if (R2 && C2) _tile_zero(3);
    }
    const size_t sa = (size_t)as * sizeof *a, sb = NR * sizeof *b;
    /* Software-pipelined: the next step's operand tile is loaded right after
     * its last reader of this step, so the load overlaps the products left. */
    const uint32_t *a1 = a + (size_t)16 * as;
    _tile_loadd(4, a, sa);
    _tile_loadd(6, b, sb);
    if (R2) _tile_loadd(5, a1, sa);
    if (C2) _tile_loadd(7, b + 16, sb);
    for (int p = 16;; p += 16) {
        const int more = p < Pp;
        const uint32_t *bn = b + (size_t)p * NR;
        _tile_dpbf16ps(0, 4, 6);
        if (C2) _tile_dpbf16ps(1, 4, 7);
        if (more) _tile_loadd(4, a + p, sa);
        if (R2) _tile_dpbf16ps(2, 5, 6);
        if (more) _tile_loadd(6, bn, sb);
        if (R2 && C2) _tile_dpbf16ps(3, 5, 7);
        if (!more) break;
        if (R2) _tile_loadd(5, a1 + p, sa);
        if (C2) _tile_loadd(7, bn + 16, sb);
    }
    if (direct) {
        _tile_stored(0, C, sc);
        if (C2) _tile_stored(1, C + 16, sc);
        if (R2) _tile_stored(2, C + 16 * (size_t)ldc, sc);
        if (R2 && C2) _tile_stored(3, C + 16 * (size_t)ldc + 16, sc);
        return;
    }
    float t[32][32] __attribute__((aligned(64)));
    _tile_stored(0, &t[0][0], 32 * sizeof(float));
    if (C2) _tile_stored(1, &t[0][16], 32 * sizeof(float));
    if (R2) _tile_stored(2, &t[16][0], 32 * sizeof(float));
    if (R2 && C2) _tile_stored(3, &t[16][16], 32 * sizeof(float));
    const int rows = R2 ? 32 : 16, cols = C2 ? 32 : 16;
    sums_to_c(&t[0][0], 32, C, ldc, mr < rows ? mr : rows, nr < cols ? nr : cols, alpha, beta, mode);
}

#define AMX_TILE(R2, C2)                                                                                     \
    static void amx_tile##R2##C2(int Pp, const uint32_t *a, int as, const uint32_t *b, float *C, int ldc, int mr, \
                                 int nr, float alpha, float beta, int mode) {                               \
        amx_tile(R2, C2, Pp, a, as, b, C, ldc, mr, nr, alpha, beta, mode);                                   \
    }
AMX_TILE(0, 0) AMX_TILE(0, 1) AMX_TILE(1, 0) AMX_TILE(1, 1)
#undef AMX_TILE

/* One 32-column half of a panel on the tile shape that covers it. */
static inline void amx_half(int Pp, const uint32_t *a, int as, const uint32_t *b, float *C, int ldc, int mr, int nr,
                            float alpha, float beta, int mode) {
    if (mr > 16) {
        if (nr > 16) amx_tile11(Pp, a, as, b, C, ldc, mr, nr, alpha, beta, mode);
        else amx_tile10(Pp, a, as, b, C, ldc, mr, nr, alpha, beta, mode);
    } else {
        if (nr > 16) amx_tile01(Pp, a, as, b, C, ldc, mr, nr, alpha, beta, mode);
        else amx_tile00(Pp, a, as, b, C, ldc, mr, nr, alpha, beta, mode);
    }
}

/* Rows [0, mr) (up to 32) x one panel's nr columns: two 32-column halves.
 * A k longer than a block (the recurrence's products, not packed in blocks)
 * goes block by block through a 32 x 64 sum in L1, so each block of A is
 * read from L2 once for both halves: the large preset's backward step
 * (k = 6000, 384 KB of A) read all of it twice per panel otherwise. */
static void amx_panel(int Pp, const uint32_t *a, int as, const uint32_t *b, float *C, int ldc, int mr, int nr,
                      float alpha, float beta, int mode) {
    enum { PB = KC_AMX / 2 };
    amx_config();
    if (Pp <= PB) {
        for (int h = 0; h < NR && h < nr; h += 32)
            amx_half(Pp, a, as, b + h, C + h, ldc, mr, nr - h, alpha, beta, mode);
        return;
    }
    float acc[32 * NR] __attribute__((aligned(64)));
    const int rows = mr > 16 ? 32 : 16;  /* whole tiles: the direct road into acc */
    for (int p0 = 0; p0 < Pp; p0 += PB) {
        const int pc = Pp - p0 < PB ? Pp - p0 : PB;
        for (int h = 0; h < NR && h < nr; h += 32)
            amx_half(pc, a + p0, as, b + (size_t)p0 * NR + h, acc + h, NR, rows, nr - h > 16 ? 32 : 16, 1.0f, 0.0f,
                     p0 ? 2 : 0);
    }
    sums_to_c(acc, NR, C, ldc, mr < 32 ? mr : 32, nr < NR ? nr : NR, alpha, beta, mode);
}

/* ------------------------------------------------------------- workspace */

enum { MAX_THREADS = 64 };
static struct {
    uint32_t *a, *b;
    float *c;  /* split-K partial sums */
    size_t acap, bcap, ccap;  /* bytes */
} ws[MAX_THREADS];  /* per OpenMP thread; reachable, so never reported as leaks */

/* ------------------------------------------------------------------- gemm */

static void gemm_fallback(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    /* k == 0, or no memory for the workspace: plain loops, same rounding. */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int q = 0; q < k; q++) {
                float a = ta ? A[(size_t)q * lda + i] : A[(size_t)i * lda + q];
                float b = tb ? B[(size_t)j * ldb + q] : B[(size_t)q * ldb + j];
                uint32_t ua = bf16_bits(a) << 16, ub = bf16_bits(b) << 16;
                float ra, rb;
                memcpy(&ra, &ua, sizeof ra);
                memcpy(&rb, &ub, sizeof rb);
                s += ra * rb;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = alpha * s + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

/* One thread's share: output panels [o0, o1) of the outer operand times every
 * panel of the inner one, over k values [kb, ke). The thread packs what it
 * needs itself: no barriers, so a core taken by another process stalls only
 * its own share. Buffers were reserved by the caller. */
static void gemm_share(int ta, int tb, int m, int n, int kb, int ke, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, int b_outer, int o0, int o1, int id,
                       int amx) {
    const int mr = amx ? MR_AMX : MR, mp = (m + mr - 1) / mr, np = (n + NR - 1) / NR;
    const int a0 = b_outer ? 0 : o0, a1 = b_outer ? mp : o1, b0 = b_outer ? o0 : 0, b1 = b_outer ? o1 : np;
    uint32_t *Ap = ws[id].a, *Bp = ws[id].b;
    const int KB = amx ? KC_AMX : KC;
    for (int k0 = kb; k0 < ke; k0 += KB) {
        const int kc = ke - k0 < KB ? ke - k0 : KB, P = (kc + 1) / 2, Pp = pairs_padded(kc);
        const int mode = k0 > kb ? 2 : beta == 0.0f ? 0 : 1;
        for (int ip = a0; ip < a1; ip++) {
            uint32_t *dst = Ap + (size_t)(ip - a0) * mr * Pp;
            const int rows = m - ip * mr < mr ? m - ip * mr : mr;
            if (amx) pack_a_amx(dst, Pp, ta, A, lda, k0, kc, ip * mr, rows);
            else pack_a_panel(dst, MR, ta, A, lda, k0, kc, ip * MR, rows);
        }
        for (int jp = b0; jp < b1; jp++)
            pack_b_panel(Bp + (size_t)(jp - b0) * NR * Pp, tb, B, ldb, k0, kc, jp * NR,
                         n - jp * NR < NR ? n - jp * NR : NR);
        for (int o = o0; o < o1; o++)      /* outer panel: stays in L1 */
            for (int i = b_outer ? a0 : b0; i < (b_outer ? a1 : b1); i++) {  /* inner: swept from L2 */
                const int ip = b_outer ? i : o, jp = b_outer ? o : i;
                const uint32_t *a = Ap + (size_t)(ip - a0) * mr * Pp, *b = Bp + (size_t)(jp - b0) * NR * Pp;
                float *c = C + (size_t)ip * mr * ldc + (size_t)jp * NR;
                if (amx) amx_panel(Pp, a, Pp, b, c, ldc, m - ip * mr, n - jp * NR, alpha, beta, mode);
                else kernel6(P, a, b, c, ldc, m - ip * MR, n - jp * NR, alpha, beta, mode);
            }
    }
}

void lm_gemm_bf16(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    if (m <= 0 || n <= 0) return;
    const int amx = amx_on(), mr = amx ? MR_AMX : MR;
    const int KB = amx ? KC_AMX : KC;
    const int mp = (m + mr - 1) / mr, np = (n + NR - 1) / NR, Pmax = pairs_padded(k < KB ? k : KB);
    /* The operand with fewer rows/columns is the inner one, swept for every outer panel. */
    const int b_outer = (size_t)mp * mr <= (size_t)np * NR;
    const int outer = b_outer ? np : mp;
    int nt = omp_get_max_threads() < MAX_THREADS ? omp_get_max_threads() : MAX_THREADS;
    if (2.0 * m * n * k <= 4e6) nt = 1;
    /* Long products of small matrices (k >> m, n: the backward of the output
     * layer) split k instead: every thread packs only its own k range, and the
     * partial sums are added at the end. Otherwise each thread takes whole
     * output panels and packs the inner operand itself. */
    const int split_k = nt > 1 && k >= 512 * nt && k >= 4 * (m < n ? m : n);
    if (!split_k && nt > outer) nt = outer;
    int ok = k > 0;
    for (int id = 0; ok && id < nt; id++) {
        /* thread 0 can hold everything: it works alone if the region gets fewer threads */
        const size_t share = split_k || id == 0 ? (size_t)outer : (size_t)(outer + nt - 1) / nt;
        const size_t a_pairs = (b_outer ? (size_t)mp : share) * mr * Pmax;
        const size_t b_pairs = (b_outer ? share : (size_t)np) * NR * Pmax;
        ok = (ws[id].a = lm_grow(ws[id].a, &ws[id].acap, a_pairs * sizeof *ws[id].a)) &&
             (ws[id].b = lm_grow(ws[id].b, &ws[id].bcap, b_pairs * sizeof *ws[id].b)) &&
             (!split_k || id == 0 ||
              (ws[id].c = lm_grow(ws[id].c, &ws[id].ccap, (size_t)m * n * sizeof *ws[id].c)));
    }
    if (!ok) {
        gemm_fallback(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_num_threads(), id = omp_get_thread_num();
        if (t != nt) {  /* fewer threads than reserved for (a nested call): thread 0 does it all */
            if (id == 0) gemm_share(ta, tb, m, n, 0, k, alpha, A, lda, B, ldb, beta, C, ldc, b_outer, 0, outer, 0, amx);
        } else if (split_k) {
            /* equal k ranges, whole cache lines of the k-contiguous operands */
            const int kb = (int)((long)k * id / t) / 16 * 16, ke = id == t - 1 ? k : (int)((long)k * (id + 1) / t) / 16 * 16;
            if (id == 0)
                gemm_share(ta, tb, m, n, kb, ke < k ? ke : k, alpha, A, lda, B, ldb, beta, C, ldc, b_outer, 0, outer, 0, amx);
            else
                gemm_share(ta, tb, m, n, kb, ke < k ? ke : k, alpha, A, lda, B, ldb, 0.0f, ws[id].c, n, b_outer, 0,
                           outer, id, amx);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int i = 0; i < m; i++)
                for (int s = 1; s < t; s++) {
                    float *c = C + (size_t)i * ldc;
                    const float *p = ws[s].c + (size_t)i * n;
                    for (int j = 0; j < n; j++) c[j] += p[j];
                }
        } else {
            const int o0 = (int)((long)outer * id / t), o1 = (int)((long)outer * (id + 1) / t);
            if (o1 > o0)
                gemm_share(ta, tb, m, n, 0, k, alpha, A, lda, B, ldb, beta, C, ldc, b_outer, o0, o1, id, amx);
        }
    }
}

/* ------------------------------------------------------- packed right side */

int lm_bf16_b_reserve(lm_bf16_b *pb, int k, int n) {
    const int np = (n + NR - 1) / NR;
    if (!(pb->p = lm_grow(pb->p, &pb->cap, (size_t)np * NR * pairs_padded(k) * sizeof *pb->p))) return 0;
    pb->k = k;
    pb->n = n;
    return 1;
}

void lm_bf16_pack_b_panels(lm_bf16_b *pb, int tb, const float *B, int ldb, int jp0, int jp1) {
    const int k = pb->k, n = pb->n, Pp = pairs_padded(k);
    for (int jp = jp0; jp < jp1; jp++)
        pack_b_panel(pb->p + (size_t)jp * NR * Pp, tb, B, ldb, 0, k, jp * NR, n - jp * NR < NR ? n - jp * NR : NR);
}

int lm_bf16_pack_b(lm_bf16_b *pb, int tb, int k, int n, const float *B, int ldb) {
    if (!lm_bf16_b_reserve(pb, k, n)) return 0;
    lm_bf16_pack_b_panels(pb, tb, B, ldb, 0, (n + NR - 1) / NR);
    return 1;
}

/* The per-step left operand: MR_SMALL-row panels for vdpbf16ps (a few rows,
 * so a short register tile), rows of pairs for AMX. */
enum { MR_SMALL = 4 };

size_t lm_bf16_a_pairs(int m, int k) {
    const size_t rows = amx_on() ? (size_t)(m + 15) / 16 * 16 : (size_t)(m + MR_SMALL - 1) / MR_SMALL * MR_SMALL;
    return rows * pairs_padded(k);
}

void lm_bf16_pack_a(uint32_t *work, int m, int k, const float *A, int lda) {
    const int Pp = pairs_padded(k);
    if (amx_on()) {
        pack_a_amx(work, Pp, 0, A, lda, 0, k, 0, m);
        return;
    }
    for (int ip = 0; ip * MR_SMALL < m; ip++)
        pack_a_panel(work + (size_t)ip * MR_SMALL * Pp, MR_SMALL, 0, A, lda, 0, k, ip * MR_SMALL,
                     m - ip * MR_SMALL < MR_SMALL ? m - ip * MR_SMALL : MR_SMALL);
}

void lm_bf16_mul_panels(int m, const uint32_t *a, const lm_bf16_b *pb, int jp0, int jp1, float *C, int ldc,
                        int accumulate) {
    const int P = (pb->k + 1) / 2, Pp = pairs_padded(pb->k), n = pb->n, mode = accumulate ? 2 : 0;
    if (amx_on()) {
        for (int jp = jp0; jp < jp1; jp++)
            for (int i0 = 0; i0 < m; i0 += MR_AMX)
                amx_panel(Pp, a + (size_t)i0 * Pp, Pp, pb->p + (size_t)jp * NR * Pp,
                          C + (size_t)i0 * ldc + (size_t)jp * NR, ldc, m - i0, n - jp * NR, 1.0f, 0.0f, mode);
        return;
    }
    const int mp = (m + MR_SMALL - 1) / MR_SMALL;
    for (int jp = jp0; jp < jp1; jp++)
        for (int ip = 0; ip < mp; ip++)
            kernel4(P, a + (size_t)ip * MR_SMALL * Pp, pb->p + (size_t)jp * NR * Pp,
                    C + (size_t)ip * MR_SMALL * ldc + (size_t)jp * NR, ldc, m - ip * MR_SMALL, n - jp * NR, 1.0f,
                    0.0f, mode);
}

void lm_bf16_mul(int m, const uint32_t *a, const lm_bf16_b *pb, float *C, int ldc, int accumulate) {
    lm_bf16_mul_panels(m, a, pb, 0, (pb->n + NR - 1) / NR, C, ldc, accumulate);
}

void lm_bf16_b_free(lm_bf16_b *pb) {
    free(pb->p);
    pb->p = NULL;
    pb->cap = 0;
}

/* ------------------------------------------------------------------ peak */

/* 24 independent accumulators (the products' register tile holds 24 too), so
 * the loop is bound by the instruction's throughput, not its latency. The
 * operands change nothing across iterations but the compiler cannot know
 * (asm barrier), and every accumulator is consumed at the end. */
double lm_bf16_peak_gflops_impl(int reps) {
    enum { ACC = 24, ITERS = 1 << 20 };
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double sink = 0, t0 = 0, t1 = 0;
        int nt = 1;
#pragma omp parallel reduction(+ : sink)
        {
            __m512 acc[ACC];
            for (int i = 0; i < ACC; i++) acc[i] = _mm512_setzero_ps();
            __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x00010001);
#pragma omp barrier
#pragma omp single
            { t0 = omp_get_wtime(); nt = omp_get_num_threads(); }
            for (int it = 0; it < ITERS; it++) {
                __asm__ volatile("" : "+v"(a), "+v"(b));
#pragma GCC unroll 24  /* all 24 in registers: a loop over a stack array would be latency bound */
                for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
            }
            float s = 0;
            for (int i = 0; i < ACC; i++) s += _mm512_reduce_add_ps(acc[i]);
            sink += s;
#pragma omp barrier
#pragma omp single
            t1 = omp_get_wtime();
        }
        /* 16 lanes x 2 multiply-adds x 2 FLOP per instruction */
        const double g = (double)nt * ITERS * ACC * 64.0 / (t1 - t0) / 1e9;
        if (g > best && sink == sink) best = g;
    }
    return best;
}

/* The same for AMX: four accumulator tiles, each tdpbf16ps 16 x 16 x 32
 * multiply-adds, operands loaded once; 0 where AMX is not in use. */
double lm_amx_peak_gflops_impl(int reps) {
    enum { ITERS = 1 << 16 };
    if (!amx_on()) return 0;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = 0, t1 = 0, sink = 0;
        int nt = 1;
#pragma omp parallel reduction(+ : sink)
        {
            amx_config();
            uint32_t ones[256] __attribute__((aligned(64)));
            float out[256] __attribute__((aligned(64)));
            for (int i = 0; i < 256; i++) ones[i] = 0x3f803f80u;  /* pairs of 1.0 */
            _tile_loadd(4, ones, 64);
            _tile_loadd(5, ones, 64);
            _tile_loadd(6, ones, 64);
            _tile_loadd(7, ones, 64);
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
#pragma omp barrier
#pragma omp single
            { t0 = omp_get_wtime(); nt = omp_get_num_threads(); }
            for (int it = 0; it < ITERS; it++) {
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, out, 64);
            sink += out[0];
#pragma omp barrier
#pragma omp single
            t1 = omp_get_wtime();
        }
        const double g = (double)nt * ITERS * 4 * 16384.0 / (t1 - t0) / 1e9;
        if (g > best && sink == sink) best = g;
    }
    return best;
}
