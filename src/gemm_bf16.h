/* BF16 matrix products with FP32 accumulation, for CPUs with AVX512_BF16.
 * Operands stay FP32 in memory; they are rounded to BF16 (round to nearest
 * even) while being packed into panels, multiplied with vdpbf16ps (two
 * products per FP32 lane per instruction, twice the FP32 FMA rate) and
 * accumulated in FP32. Master weights never leave FP32.
 *
 * Workspace is kept between calls (grown, never shrunk): one caller thread at
 * a time; the functions open their own OpenMP regions or run inside the
 * caller's. Call nothing here unless lm_bf16_available() (lstmlm.h) is true:
 * this code is compiled for AVX-512 BF16. */
#ifndef LM_GEMM_BF16_H
#define LM_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

/* C (m,n) = alpha op(A) op(B) + beta C, row-major like cblas_sgemm;
 * op(A) is (m,k), op(B) is (k,n). beta == 0 never reads C. */
void lm_gemm_bf16(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* Pieces for callers that multiply by the same matrix many times (the
 * recurrence: one weight matrix, one small product per time step).
 * A packed right operand: op(B) (k, n) in panels of LM_BF16_NR columns. */
enum { LM_BF16_NR = 64 };
/* k is cut in blocks of LM_BF16_KC: 2048 holds every k of the presets but the
 * vocabulary's in one block, so each output tile is written once, its
 * accumulators held over the whole k (a 64-column panel of B, up to 256 KB,
 * sits in L2; the tile streams A). 256 (L1-sized panels) measured 7-10 %
 * slower in training: C re-read and re-written per block. */
#ifndef LM_BF16_KC
#define LM_BF16_KC 2048
#endif
/* AMX streams its operands through tile loads, one per tdpbf16ps: blocks of
 * 512 k keep a 32-row A block (32 KB) near L1 while the B panels pass. The
 * large preset's products of a window took 134-171 ms against 240-290 with
 * 2048 when the machine was quiet (its AMX peak above 4 TFLOP/s); medium's
 * the same within this machine's noise; 256 and 384 no better. */
#ifndef LM_BF16_KC_AMX
#define LM_BF16_KC_AMX 512
#endif
typedef struct {
    uint32_t *p;   /* panels: [ceil(n/NR)][ceil(k/2) padded to 16, zeros][NR] pairs of bf16 along k */
    int k, n;
    size_t cap;    /* allocated bytes */
} lm_bf16_b;

/* Pack op(B) (k, n) into pb, growing it as needed; 0 on allocation failure.
 * Single-threaded: the caller owns pb. */
int lm_bf16_pack_b(lm_bf16_b *pb, int trans_b, int k, int n, const float *B, int ldb);
/* The same in two parts, so that threads can pack a shared pb together:
 * room for op(B) (k, n) (0 on allocation failure), then panels [jp0, jp1)
 * (columns jp0 NR .. jp1 NR) of it, any thread, any order. */
int lm_bf16_b_reserve(lm_bf16_b *pb, int k, int n);
void lm_bf16_pack_b_panels(lm_bf16_b *pb, int trans_b, const float *B, int ldb, int jp0, int jp1);
/* The left operand A (m, k), row-major, packed for lm_bf16_mul into work
 * (lm_bf16_a_pairs(m, k) pairs, owned by the caller). */
size_t lm_bf16_a_pairs(int m, int k);
void lm_bf16_pack_a(uint32_t *work, int m, int k, const float *A, int lda);
/* C (m, n) = A times the packed B, or C += it when accumulate != 0.
 * Single-threaded: callers split the columns across threads themselves. */
void lm_bf16_mul(int m, const uint32_t *a_packed, const lm_bf16_b *pb, float *C, int ldc, int accumulate);
/* Only the columns of panels [jp0, jp1); C is still the product's column 0.
 * Each element's sum is the same whichever panels a call covers. */
void lm_bf16_mul_panels(int m, const uint32_t *a_packed, const lm_bf16_b *pb, int jp0, int jp1, float *C, int ldc,
                        int accumulate);
void lm_bf16_b_free(lm_bf16_b *pb);

/* Which kernel the products use: AMX tiles (tdpbf16ps, where the CPU has
 * AMX-BF16 and the kernel grants the process its tile state, unless the
 * environment sets LSTMLM_AMX=0) or vdpbf16ps. lm_bf16_use_amx(1 or 0)
 * switches between products (tests compare the two; 1 is refused where AMX is
 * unavailable), -1 only asks; it returns the previous (or current) choice.
 * Packed operands are laid out (and lm_bf16_a_pairs sized) for the kernel in
 * use when they were packed: do not switch while a packed A or B, or a size,
 * is in use. */
int lm_bf16_use_amx(int on);

/* GFLOP/s of a register-only loop of vdpbf16ps on every OpenMP thread: the
 * products' ceiling (best of reps). lm_bf16_peak_gflops (lstmlm.h) guards it. */
double lm_bf16_peak_gflops_impl(int reps);
/* The same for AMX's tdpbf16ps (0 where AMX is not in use). */
double lm_amx_peak_gflops_impl(int reps);

#endif
