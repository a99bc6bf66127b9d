/* Compiled CPU kernels of spikeforge, built at install time (setup.py; optional: without a C compiler the
 * numba or pure-torch implementations serve). Loaded with ctypes by spikeforge/kernels/_clib.py, which
 * documents every function; the algorithms are stated in spikeforge/kernels/fast_lif.py (the LIF scan) and
 * spikeforge/kernels/event.py (event-driven synapses). Each function works on a disjoint range of neurons,
 * rows or input units, so Python threads can run ranges side by side (ctypes releases the GIL).
 *
 * Build flags (setup.py): -O3 -ffp-contract=off (no fused multiply-add: v* rounds exactly as in torch)
 * -fno-trapping-math (the compare v* >= theta becomes a select, so the loops vectorise). On x86-64 with GCC
 * the hot loops are compiled twice (AVX2 and baseline) and the CPU picks one at load time.
 */
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define SF_CLONES __attribute__((target_clones("avx2", "default")))
#define SF_X86_AVX2 1
#else
#define SF_CLONES
#define SF_X86_AVX2 0
#endif
#define SF_INLINE static inline __attribute__((always_inline))

/* Not a Python module: the symbol only lets setuptools build this file as an extension. */
void *PyInit__ckernels(void) { return 0; }

#define PI_ 3.14159265358979323846

/* ---- LIF scan: forward ------------------------------------------------------------------------------ */
#define LIF_FWD(T, S)                                                                                        \
    SF_INLINE void lif_fwd_body_##S(const T *restrict x, T *restrict v, const T *restrict lam,              \
                                    const T *restrict th, const int code, const T vr, T *restrict out,      \
                                    T *restrict vstar, const int save, int64_t steps, int64_t M,            \
                                    int64_t m0, int64_t m1) {                                                \
        for (int64_t t = 0; t < steps; ++t) {                                                                \
            const T *xt = x + t * M;                                                                         \
            T *ot = out + t * M;                                                                             \
            for (int64_t m = m0; m < m1; ++m) {                                                              \
                T vs = lam[m] * v[m] + xt[m];                                                                \
                int fire = vs >= th[m];                                                                      \
                if (save) vstar[t * M + m] = vs;                                                             \
                ot[m] = fire ? (T)1 : (T)0;                                                                  \
                if (code == 1) v[m] = fire ? vs - th[m] : vs;                                               \
                else if (code == 2) v[m] = fire ? vr : vs;                                                   \
                else v[m] = vs;                                                                              \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
    SF_CLONES void sf_lif_fwd_##S(const T *x, T *v, const T *lam, const T *th, int code, double v_reset,     \
                                  T *out, T *vstar, int save, int64_t steps, int64_t M, int64_t m0,          \
                                  int64_t m1) {                                                              \
        const T vr = (T)v_reset;                                                                             \
        /* constant arguments: each call below is its own branch-free loop */                                \
        if (save) {                                                                                          \
            if (code == 1) lif_fwd_body_##S(x, v, lam, th, 1, vr, out, vstar, 1, steps, M, m0, m1);          \
            else if (code == 2) lif_fwd_body_##S(x, v, lam, th, 2, vr, out, vstar, 1, steps, M, m0, m1);     \
            else lif_fwd_body_##S(x, v, lam, th, 0, vr, out, vstar, 1, steps, M, m0, m1);                    \
        } else {                                                                                             \
            if (code == 1) lif_fwd_body_##S(x, v, lam, th, 1, vr, out, 0, 0, steps, M, m0, m1);            \
            else if (code == 2) lif_fwd_body_##S(x, v, lam, th, 2, vr, out, 0, 0, steps, M, m0, m1);       \
            else lif_fwd_body_##S(x, v, lam, th, 0, vr, out, 0, 0, steps, M, m0, m1);                      \
        }                                                                                                    \
    }

/* ---- LIF scan: backward (reverse time; gx may be vstar itself: step t reads v*_t, v*_{t-1}, then writes
 * g*_t, so the loop over neurons carries no dependence -- hence ivdep) ---------------------------------- */
#define LIF_BWD(T, S)                                                                                        \
    SF_INLINE void lif_bwd_body_##S(const T *go, T *restrict gv, const T *vstar, const T *restrict v0,      \
                                    const T *restrict lam, const T *restrict th, const int code, const T vr, \
                                    const int detach, const int kind, const T sigma, const T *f_ext, T *gx,  \
                                    T *restrict acc_decay, T *restrict acc_theta, const int need_decay,      \
                                    const int need_theta, int64_t steps, int64_t M, int64_t m0, int64_t m1) {\
        const T one = 1, zero = 0;                                                                           \
        const T c_num = sigma / (T)PI_, sig2 = sigma * sigma;                                                \
        for (int64_t t = steps - 1; t >= 0; --t) {                                                           \
            const T *vt = vstar + t * M;                                                                     \
            const T *vp = vstar + (t > 0 ? t - 1 : 0) * M;                                                               \
            const T *gt = go + t * M;                                                                        \
            const T *ft = f_ext + (kind < 0 ? t * M : 0);                                                    \
            T *gxt = gx + t * M;                                                                             \
            _Pragma("GCC ivdep")                                                                             \
            for (int64_t m = m0; m < m1; ++m) {                                                              \
                const T vs = vt[m];                                                                          \
                const T thm = th[m];                                                                         \
                const T s = vs >= thm ? one : zero;                                                          \
                const T g = gv[m];                                                                           \
                const T z = vs - thm;                                                                        \
                T f;                                                                                         \
                if (kind == 0) f = zero;                                                                     \
                else if (kind == 2) f = c_num / (z * z + sig2);                                              \
                else f = ft[m];                                                                              \
                const T o = gt[m];                                                                           \
                T vprev = zero;                                                                              \
                if (need_decay) {                                                                            \
                    if (t == 0) vprev = v0[m];                                                               \
                    else {                                                                                   \
                        const T q = vp[m];                                                                   \
                        const T sp = q >= thm ? one : zero;                                                  \
                        if (code == 1) vprev = q - thm * sp;                                                 \
                        else if (code == 2) vprev = (one - sp) * q + sp * vr;                                \
                        else vprev = q;                                                                      \
                    }                                                                                        \
                }                                                                                            \
                T gvs, gs;                                                                                   \
                if (code == 1) {                                                                             \
                    gvs = g;                                                                                 \
                    gs = detach ? o : o - thm * g;                                                           \
                    if (need_theta) acc_theta[m] -= g * s + gs * f;                                          \
                } else if (code == 2) {                                                                      \
                    gvs = (one - s) * g;                                                                     \
                    gs = detach ? o : o + g * (vr - vs);                                                     \
                    if (need_theta) acc_theta[m] -= gs * f;                                                  \
                } else {                                                                                     \
                    gvs = g;                                                                                 \
                    gs = o;                                                                                  \
                    if (need_theta) acc_theta[m] -= gs * f;                                                  \
                }                                                                                            \
                gvs = gvs + gs * f;                                                                          \
                gxt[m] = gvs;                                                                                \
                if (need_decay) acc_decay[m] += vprev * gvs;                                                 \
                gv[m] = lam[m] * gvs;                                                                        \
            }                                                                                                \
        }                                                                                                    \
    }

/* The dispatcher passes every flag as a literal, so each combination compiles to its own loop. */
#define LIF_BWD_CALL(S, CODE, KIND, DET, ND, NT)                                                             \
    lif_bwd_body_##S(go, gv, vstar, v0, lam, th, CODE, vr, DET, KIND, sg, f_ext, gx, acc_decay, acc_theta,  \
                     ND, NT, steps, M, m0, m1)
#define LIF_BWD_FLAGS(S, CODE, KIND)                                                                         \
    do {                                                                                                     \
        if (need_decay || need_theta) LIF_BWD_CALL(S, CODE, KIND, detach, need_decay, need_theta);          \
        else if (detach) LIF_BWD_CALL(S, CODE, KIND, 1, 0, 0);                                               \
        else LIF_BWD_CALL(S, CODE, KIND, 0, 0, 0);                                                           \
    } while (0)
#define LIF_BWD_KIND(S, CODE)                                                                                \
    do {                                                                                                     \
        if (kind == 0) LIF_BWD_FLAGS(S, CODE, 0);                                                            \
        else if (kind == 2) LIF_BWD_FLAGS(S, CODE, 2);                                                       \
        else LIF_BWD_FLAGS(S, CODE, -1);                                                                     \
    } while (0)
#define LIF_BWD_API(T, S)                                                                                    \
    SF_CLONES void sf_lif_bwd_##S(const T *go, T *gv, const T *vstar, const T *v0, const T *lam, const T *th,\
                                  int code, double v_reset, int detach, int kind, double sigma,              \
                                  const T *f_ext, T *gx, T *acc_decay, T *acc_theta, int need_decay,         \
                                  int need_theta, int64_t steps, int64_t M, int64_t m0, int64_t m1) {        \
        const T vr = (T)v_reset, sg = (T)sigma;                                                              \
        if (code == 1) LIF_BWD_KIND(S, 1);                                                                   \
        else if (code == 2) LIF_BWD_KIND(S, 2);                                                              \
        else LIF_BWD_KIND(S, 0);                                                                             \
    }

/* ---- event-driven synapses ------------------------------------------------------------------------- */
#define EVENT(T, S)                                                                                          \
    /* One pass over rows r0 <= r < r1: counts[r + 1] = nnz(x[r]), the column indices of the events appended  \
     * to scratch (capacity min(max_events, (r1 - r0) * K) + K + 1: the branch-free compaction always writes, \
     * and advances only on an event). Returns the number of events, or -1 as soon as they exceed max_events  \
     * (the caller then takes the dense path); *other = 1 when some value is neither 0 nor 1 (graded). */     \
    static int64_t ev_compress_generic_##S(const T *restrict x, int64_t K, int64_t r0, int64_t r1,         \
                                           int64_t *restrict counts, int32_t *restrict scratch,               \
                                           uint8_t *restrict other, int64_t max_events) {                     \
        int64_t total = 0, odd = 0;                                                                          \
        for (int64_t r = r0; r < r1; ++r) {                                                                  \
            const T *xr = x + r * K;                                                                         \
            int32_t *ci = scratch + total;                                                                   \
            int64_t c = 0;                                                                                   \
            for (int64_t k = 0; k < K; ++k) {                                                                \
                const T v = xr[k];                                                                           \
                ci[c] = (int32_t)k;                                                                          \
                c += v != 0;                                                                                 \
                odd += (v != 0) & (v != 1); /* graded (or non-finite): the values are kept */                \
            }                                                                                                \
            counts[r + 1] = c;                                                                               \
            total += c;                                                                                      \
            if (total > max_events) return -1;                                                               \
        }                                                                                                    \
        *other = odd != 0;                                                                                   \
        return total;                                                                                        \
    }                                                                                                        \
    /* dst += sum over events p in [p, end) of a_p * src[idx[p]] (a_p = 1 when binary), four source rows per \
     * pass over dst: one load and store of dst per four rows read. The forward (rows of W^T into an output  \
     * row) and the weight gradient (rows of delta into a row of dW^T) are both this sum. */                 \
    SF_INLINE void sum_rows_##S(T *restrict dst, const T *src, int64_t N, const int32_t *idx, const T *vals, \
                                int binary, int64_t p, const int64_t end) {                                  \
        for (; p + 4 <= end; p += 4) {                                                                       \
            const T *restrict s0 = src + (int64_t)idx[p] * N, *restrict s1 = src + (int64_t)idx[p + 1] * N; \
            const T *restrict s2 = src + (int64_t)idx[p + 2] * N;                                            \
            const T *restrict s3 = src + (int64_t)idx[p + 3] * N;                                            \
            if (binary) {                                                                                    \
                for (int64_t n = 0; n < N; ++n) dst[n] += (s0[n] + s1[n]) + (s2[n] + s3[n]);                 \
            } else {                                                                                         \
                const T a0 = vals[p], a1 = vals[p + 1], a2 = vals[p + 2], a3 = vals[p + 3];                  \
                for (int64_t n = 0; n < N; ++n) dst[n] += (a0 * s0[n] + a1 * s1[n]) + (a2 * s2[n] + a3 * s3[n]);\
            }                                                                                                \
        }                                                                                                    \
        for (; p < end; ++p) {                                                                               \
            const T *s0 = src + (int64_t)idx[p] * N;                                                         \
            const T a0 = binary ? (T)1 : vals[p];                                                            \
            for (int64_t n = 0; n < N; ++n) dst[n] += a0 * s0[n];                                            \
        }                                                                                                    \
    }                                                                                                        \
    /* out[r] = b + sum over the row's events of x[r,k] * wt[k] */                                          \
    SF_CLONES void sf_ev_gather_##S(const int64_t *rowptr, const int32_t *colidx, const T *values,          \
                                    int binary, const T *wt, int64_t N, const T *bias, T *restrict out,      \
                                    int64_t r0, int64_t r1) {                                                \
        for (int64_t r = r0; r < r1; ++r) {                                                                  \
            T *restrict o = out + r * N;                                                                     \
            if (bias) memcpy(o, bias, (size_t)N * sizeof(T));                                                \
            else memset(o, 0, (size_t)N * sizeof(T));                                                        \
            sum_rows_##S(o, wt, N, colidx, values, binary, rowptr[r], rowptr[r + 1]);                        \
        }                                                                                                    \
    }                                                                                                        \
    /* the same events by column (counting sort); colptr [K+1] zeros on entry */                             \
    void sf_ev_to_columns_##S(const int64_t *rowptr, const int32_t *colidx, const T *values, int binary,    \
                              int64_t R, int64_t K, int64_t *colptr, int32_t *rowidx, T *cvalues,            \
                              int64_t *next) {                                                               \
        const int64_t nnz = rowptr[R];                                                                       \
        for (int64_t p = 0; p < nnz; ++p) colptr[colidx[p] + 1] += 1;                                        \
        for (int64_t k = 0; k < K; ++k) colptr[k + 1] += colptr[k];                                          \
        memcpy(next, colptr, (size_t)K * sizeof(int64_t));                                                   \
        for (int64_t r = 0; r < R; ++r)                                                                      \
            for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {                                            \
                const int64_t q = next[colidx[p]]++;                                                         \
                rowidx[q] = (int32_t)r;                                                                      \
                if (!binary) cvalues[q] = values[p];                                                         \
            }                                                                                                \
    }                                                                                                        \
    /* gwt[k] = sum over the column's events of x[r,k] * delta[r], for k0 <= k < k1 (written) */             \
    SF_CLONES void sf_ev_wgrad_##S(const int64_t *colptr, const int32_t *rowidx, const T *cvalues,          \
                                   int binary, const T *delta, int64_t N, T *restrict gwt, int64_t k0,       \
                                   int64_t k1) {                                                             \
        for (int64_t k = k0; k < k1; ++k) {                                                                  \
            T *restrict g = gwt + k * N;                                                                     \
            memset(g, 0, (size_t)N * sizeof(T));                                                             \
            sum_rows_##S(g, delta, N, rowidx, cvalues, binary, colptr[k], colptr[k + 1]);                    \
        }                                                                                                    \
    }

#if SF_X86_AVX2
#include <immintrin.h>
/* float32 compression with AVX2: 32 compares per step into one bit mask, then one store per event (the
 * events' positions from the mask's set bits) -- 1.6x the branch-free scalar loop measured here. */
__attribute__((target("avx2"))) static int64_t ev_compress_avx2_f32(const float *restrict x, int64_t K,
                                                                      int64_t r0, int64_t r1,
                                                                      int64_t *restrict counts,
                                                                      int32_t *restrict scratch,
                                                                      uint8_t *restrict other,
                                                                      int64_t max_events) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    int64_t total = 0;
    unsigned odd = 0;
    for (int64_t r = r0; r < r1; ++r) {
        const float *xr = x + r * K;
        int32_t *ci = scratch + total;
        int64_t c = 0, k0 = 0;
        for (; k0 + 32 <= K; k0 += 32) {
            unsigned m = 0;
            for (int q = 0; q < 4; ++q) {
                const __m256 v = _mm256_loadu_ps(xr + k0 + 8 * q);
                m |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ)) << (8 * q);
                odd |= (unsigned)_mm256_movemask_ps(
                    _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ), _mm256_cmp_ps(v, one, _CMP_NEQ_UQ)));
            }
            while (m) {
                ci[c++] = (int32_t)(k0 + __builtin_ctz(m));
                m &= m - 1;
            }
        }
        for (int64_t k = k0; k < K; ++k) {
            const float v = xr[k];
            ci[c] = (int32_t)k;
            c += v != 0;
            odd |= (v != 0) & (v != 1);
        }
        counts[r + 1] = c;
        total += c;
        if (total > max_events) return -1;
    }
    *other = odd != 0;
    return total;
}
#endif

LIF_FWD(float, f32)
LIF_FWD(double, f64)
LIF_BWD(float, f32)
LIF_BWD(double, f64)
LIF_BWD_API(float, f32)
LIF_BWD_API(double, f64)
EVENT(float, f32)
EVENT(double, f64)

int64_t sf_ev_compress_f32(const float *x, int64_t K, int64_t r0, int64_t r1, int64_t *counts, int32_t *scratch,
                           uint8_t *other, int64_t max_events) {
#if SF_X86_AVX2
    if (__builtin_cpu_supports("avx2"))
        return ev_compress_avx2_f32(x, K, r0, r1, counts, scratch, other, max_events);
#endif
    return ev_compress_generic_f32(x, K, r0, r1, counts, scratch, other, max_events);
}

int64_t sf_ev_compress_f64(const double *x, int64_t K, int64_t r0, int64_t r1, int64_t *counts,
                           int32_t *scratch, uint8_t *other, int64_t max_events) {
    return ev_compress_generic_f64(x, K, r0, r1, counts, scratch, other, max_events);
}

/* ABI version checked by the loader: bump when a signature changes. */
int sf_abi_version(void) { return 2; }
