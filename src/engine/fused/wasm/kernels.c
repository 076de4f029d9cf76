/*
 * A batched float32 matmul for tfjs's wasm backend, in WebAssembly SIMD (simd128).
 *
 * tfjs-wasm sends every batched or transposed matmul to a plain scalar loop (about 3 GFLOP/s);
 * the model's attention is exactly that: [batch x heads] small products of 44 x 32 by 32 x 44
 * and their transposed gradients. This kernel computes out[b] = A[b] x B[b] for any strides,
 * so one routine covers all four transpose combinations and batch broadcasting (a batch
 * stride of 0 reuses one matrix for every batch). At 40-60 GFLOP/s it also beats tfjs's
 * XNNPACK path (about 45) on the plain 2-D products, so it takes those too.
 *
 * Memory: the module imports tfjs's own WebAssembly.Memory, so tensors are read and written in
 * place; pointers are byte offsets in that memory. The module must not have data or a shadow
 * stack of its own (both would land inside tfjs's heap): scripts/build-wasm-kernels.sh checks
 * the binary for that. The caller passes a scratch buffer, allocated from tfjs's heap.
 *
 * Method: B is packed into column panels of NR = 8 (K x 8 floats each, zero-padded past N), so
 * the inner loop loads two vectors per k whatever B's layout; A is read in place, one scalar
 * per row per k, broadcast to a vector with load32_splat (any stride is as cheap). A 4 x 8
 * tile of the output lives in eight vector accumulators across the whole k loop. Sums run in k
 * order, so the result is deterministic.
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define MR 4
#define NR 8

typedef uint32_t u32;

/* The transpose of the 4 x 4 block in rows v0..v3: c[j] = (v0[j], v1[j], v2[j], v3[j]). */
static inline void transpose4(v128_t v0, v128_t v1, v128_t v2, v128_t v3, v128_t *c0, v128_t *c1, v128_t *c2, v128_t *c3) {
  const v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
  const v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
  *c0 = wasm_i64x2_shuffle(t0, t2, 0, 2);
  *c1 = wasm_i64x2_shuffle(t0, t2, 1, 3);
  *c2 = wasm_i64x2_shuffle(t1, t3, 0, 2);
  *c3 = wasm_i64x2_shuffle(t1, t3, 1, 3);
}

/* Pack B[k][j] = b[k * ks + j * js] for j in [0, n) into panels of NR columns. */
static void pack_b(const float *b, u32 k, u32 n, u32 ks, u32 js, float *packed) {
  for (u32 j0 = 0; j0 < n; j0 += NR) {
    const u32 cols = n - j0 < NR ? n - j0 : NR;
    float *panel = packed + j0 * k;
    if (js == 1 && cols == NR) {
      /* Rows of B are contiguous (B not transposed): two vector copies per k. */
      for (u32 p = 0; p < k; p++) {
        const float *src = b + p * ks + j0;
        wasm_v128_store(panel + p * NR, wasm_v128_load(src));
        wasm_v128_store(panel + p * NR + 4, wasm_v128_load(src + 4));
      }
    } else if (ks == 1 && cols == NR && (k & 3) == 0) {
      /* Columns of B are contiguous (B transposed, as q kᵀ reads k): 4 x 4 blocks, transposed. */
      const float *c = b + j0 * js;
      for (u32 p = 0; p < k; p += 4) {
        v128_t t[8];
        transpose4(wasm_v128_load(c + p), wasm_v128_load(c + js + p), wasm_v128_load(c + 2 * js + p), wasm_v128_load(c + 3 * js + p), &t[0], &t[1], &t[2], &t[3]);
        transpose4(wasm_v128_load(c + 4 * js + p), wasm_v128_load(c + 5 * js + p), wasm_v128_load(c + 6 * js + p), wasm_v128_load(c + 7 * js + p), &t[4], &t[5], &t[6], &t[7]);
        for (u32 q = 0; q < 4; q++) {
          wasm_v128_store(panel + (p + q) * NR, t[q]);
          wasm_v128_store(panel + (p + q) * NR + 4, t[4 + q]);
        }
      }
    } else {
      for (u32 p = 0; p < k; p++) {
        float *dst = panel + p * NR;
        u32 c = 0;
        for (; c < cols; c++) dst[c] = b[p * ks + (j0 + c) * js];
        for (; c < NR; c++) dst[c] = 0.0f;
      }
    }
  }
}

/* Writes the first `cols` lanes of a row of NR values (the last panel of an N that is not a multiple of 8). */
static inline void store_row(float *dst, v128_t lo, v128_t hi, u32 cols) {
  if (cols == NR) {
    wasm_v128_store(dst, lo);
    wasm_v128_store(dst + 4, hi);
    return;
  }
  if (cols >= 4) {
    wasm_v128_store(dst, lo);
    dst += 4;
    cols -= 4;
    lo = hi;
  }
  if (cols >= 1) dst[0] = wasm_f32x4_extract_lane(lo, 0);
  if (cols >= 2) dst[1] = wasm_f32x4_extract_lane(lo, 1);
  if (cols >= 3) dst[2] = wasm_f32x4_extract_lane(lo, 2);
}

/* Reads the first `cols` lanes of a row of NR values back into two vectors (zeros past cols). */
static inline __attribute__((always_inline)) void load_row(const float *src, v128_t *lo, v128_t *hi, u32 cols) {
  if (cols == NR) {
    *lo = wasm_v128_load(src);
    *hi = wasm_v128_load(src + 4);
    return;
  }
#define LANE(c) (cols > (c) ? src[c] : 0.0f)
  *lo = wasm_f32x4_make(LANE(0), LANE(1), LANE(2), LANE(3));
  *hi = wasm_f32x4_make(LANE(4), LANE(5), LANE(6), 0.0f);
#undef LANE
}

/*
 * One tile: `rows` (1..MR, a compile-time constant at each call site, so unused accumulators
 * vanish) rows of A from `a` times one packed panel of `depth` steps of k, into out (row stride
 * ldo), adding to what out holds when `carry` (the sums of the earlier k-chunks).
 */
static inline __attribute__((always_inline)) void tile(
    const u32 rows, const float *a, u32 ms, u32 ks, const float *panel, u32 depth, u32 carry,
    float *out, u32 ldo, u32 cols) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (carry) {
    /* Carry on from the sums of the earlier k-chunks: the same additions in the same order. */
    load_row(out, &c00, &c01, cols);
    if (rows > 1) load_row(out + ldo, &c10, &c11, cols);
    if (rows > 2) load_row(out + 2 * ldo, &c20, &c21, cols);
    if (rows > 3) load_row(out + 3 * ldo, &c30, &c31, cols);
  }
  const float *a0 = a, *a1 = a + ms, *a2 = a + 2 * ms, *a3 = a + 3 * ms;
  for (u32 p = 0; p < depth; p++) {
    const v128_t b0 = wasm_v128_load(panel + p * NR);
    const v128_t b1 = wasm_v128_load(panel + p * NR + 4);
    const u32 off = p * ks;
    const v128_t x0 = wasm_v128_load32_splat(a0 + off);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, b1));
    if (rows > 1) {
      const v128_t x1 = wasm_v128_load32_splat(a1 + off);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, b0));
      c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, b1));
    }
    if (rows > 2) {
      const v128_t x2 = wasm_v128_load32_splat(a2 + off);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x2, b0));
      c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x2, b1));
    }
    if (rows > 3) {
      const v128_t x3 = wasm_v128_load32_splat(a3 + off);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x3, b0));
      c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x3, b1));
    }
  }
  store_row(out, c00, c01, cols);
  if (rows > 1) store_row(out + ldo, c10, c11, cols);
  if (rows > 2) store_row(out + 2 * ldo, c20, c21, cols);
  if (rows > 3) store_row(out + 3 * ldo, c30, c31, cols);
}

/*
 * Steps of k per pass: 256 x 8 floats of a panel (8 KiB) stay in L1 while a tile walks them, and
 * a chunk of B packed for up to 512 columns (512 KiB) stays in L2 while every row tile uses it.
 */
#define KC 256

/*
 * What a product may leave out, for attention under a mask (the attention kernels below): lim[i]
 * is one past query i's last visible key, and what lies beyond is zero or never read.
 * - LIMIT_COLS: out's rows are queries and its columns keys (scores, dP): a row tile computes
 *   only the column panels its rows see (the rest of out is left unwritten);
 * - LIMIT_K_END: out's rows are queries and k runs over keys (P V, dS K): a row tile sums k only
 *   below its rows' limits, where A (P or dS) is zero;
 * - LIMIT_K_START: out's rows are keys and k runs over queries (P^T dO, dS^T Q): a tile of keys
 *   from r on sums from the first query that sees key r, the earlier rows of A^T being zero.
 * Adding a zero product leaves a sum as it was, so the results are the same in every bit.
 */
enum { LIMIT_NONE, LIMIT_COLS, LIMIT_K_END, LIMIT_K_START };
typedef struct { const u32 *lim; u32 mode; } limits;
static const limits NO_LIMITS = { 0, LIMIT_NONE };

/* A tile as tile() computes it, within the limits for rows [r, r + rows) and panel j0. */
static inline __attribute__((always_inline)) void limited_tile(
    const u32 rows, limits l, u32 r, u32 j0, const float *a, u32 ms, u32 ks, const float *panel, u32 depth, u32 carry,
    float *out, u32 ldo, u32 cols) {
  u32 k0 = 0, k1 = depth;
  if (l.mode == LIMIT_COLS || l.mode == LIMIT_K_END) {
    u32 end = 0;
    for (u32 i = r; i < r + rows; i++) end = l.lim[i] > end ? l.lim[i] : end;
    if (l.mode == LIMIT_COLS && j0 >= end) return;
    if (l.mode == LIMIT_K_END && end < depth) k1 = end;
  } else if (l.mode == LIMIT_K_START) {
    while (k0 < depth && l.lim[k0] <= r) k0++;
  }
  tile(rows, a + k0 * ks, ms, ks, panel + k0 * NR, k1 - k0, carry, out, ldo, cols);
}

/*
 * out[i] = A[i] x B[i] for i in [0, batch), where A[i][r][p] = a[i * a_bs + r * a_ms + p * a_ks],
 * B[i][p][j] = b[i * b_bs + p * b_ks + j * b_js] and out[i][r][j] = out[i * o_bs + r * o_ms + j]
 * (rows of out contiguous, anywhere). scratch holds min(k, KC) x round_up(n, 8) floats. Strides
 * are in elements.
 */
static inline __attribute__((always_inline)) void matmul_body(
    const float *a, const float *b, float *out, u32 batch, u32 m, u32 n, u32 k,
    u32 a_bs, u32 a_ms, u32 a_ks, u32 b_bs, u32 b_ks, u32 b_js, u32 o_bs, u32 o_ms, float *scratch, limits l) {
  const u32 chunked = k > KC;
  /* Limits on k assume one pass over it. */
  if (chunked && l.mode != LIMIT_COLS) l = NO_LIMITS;
  for (u32 i = 0; i < batch; i++) {
    const float *ai = a + i * a_bs;
    const float *bi = b + i * b_bs;
    float *oi = out + i * o_bs;
    /* k in chunks of KC, each packed just before its use, so that the part of a panel a tile
     * walks stays in L1 and the packed chunk in L2 (a weight gradient sums over all 1,376 tokens
     * of a micro-batch, 5,504 of a whole batch: B packed whole was megabytes, written to memory
     * and read back by every row tile). */
    for (u32 p0 = 0; p0 < k; p0 += KC) {
      const u32 depth = k - p0 < KC ? k - p0 : KC;
      /* A B shared by every batch (b_bs == 0) that fits one chunk is packed once. */
      if (chunked || i == 0 || b_bs != 0) pack_b(bi + p0 * b_ks, depth, n, b_ks, b_js, scratch);
      const float *ap = ai + p0 * a_ks;
      for (u32 j0 = 0; j0 < n; j0 += NR) {
        const u32 cols = n - j0 < NR ? n - j0 : NR;
        const float *panel = scratch + j0 * depth;
        float *oj = oi + j0;
        u32 r = 0;
        for (; r + MR <= m; r += MR) limited_tile(4, l, r, j0, ap + r * a_ms, a_ms, a_ks, panel, depth, p0 > 0, oj + r * o_ms, o_ms, cols);
        switch (m - r) {
          case 3: limited_tile(3, l, r, j0, ap + r * a_ms, a_ms, a_ks, panel, depth, p0 > 0, oj + r * o_ms, o_ms, cols); break;
          case 2: limited_tile(2, l, r, j0, ap + r * a_ms, a_ms, a_ks, panel, depth, p0 > 0, oj + r * o_ms, o_ms, cols); break;
          case 1: limited_tile(1, l, r, j0, ap + r * a_ms, a_ms, a_ks, panel, depth, p0 > 0, oj + r * o_ms, o_ms, cols); break;
          default: break;
        }
      }
    }
  }
}

/*
 * Two copies of the loops: with NO_LIMITS, a constant, the compiler drops the limits' branches,
 * so the model's large products run the code they ran before limits existed (with them in, the
 * products came out 2-6% slower, the tile compiled differently).
 */
static void matmul_strided(const float *a, const float *b, float *out, u32 batch, u32 m, u32 n, u32 k,
                           u32 a_bs, u32 a_ms, u32 a_ks, u32 b_bs, u32 b_ks, u32 b_js, u32 o_bs, u32 o_ms, float *scratch) {
  matmul_body(a, b, out, batch, m, n, k, a_bs, a_ms, a_ks, b_bs, b_ks, b_js, o_bs, o_ms, scratch, NO_LIMITS);
}

static void matmul_limited(const float *a, const float *b, float *out, u32 batch, u32 m, u32 n, u32 k,
                           u32 a_bs, u32 a_ms, u32 a_ks, u32 b_bs, u32 b_ks, u32 b_js, u32 o_bs, u32 o_ms, float *scratch, limits l) {
  matmul_body(a, b, out, batch, m, n, k, a_bs, a_ms, a_ks, b_bs, b_ks, b_js, o_bs, o_ms, scratch, l);
}

/*
 * batch_matmul: matmul_strided itself. out's strides are arguments so that a helper thread can
 * compute a run of columns of a dense output (matmul-split.ts): o_bs = m * n and o_ms = n for
 * the whole product.
 */
__attribute__((export_name("batch_matmul")))
void batch_matmul(const float *a, const float *b, float *out, u32 batch, u32 m, u32 n, u32 k,
                  u32 a_bs, u32 a_ms, u32 a_ks, u32 b_bs, u32 b_ks, u32 b_js, u32 o_bs, u32 o_ms, float *scratch) {
  matmul_strided(a, b, out, batch, m, n, k, a_bs, a_ms, a_ks, b_bs, b_ks, b_js, o_bs, o_ms, scratch);
}

/*
 * The fused kernels of src/engine/fused (layer-norm.ts, masked-softmax.ts, bias-gelu.ts) for the
 * wasm backend: each one pass over its rows in place of 3-8 tfjs kernels. cpu-kernels.ts is the
 * reference for what each computes. Rows need no alignment (v128 loads may be unaligned).
 */

static inline v128_t splat(float x) { return wasm_f32x4_splat(x); }

static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) +
         wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

static inline float hmax(v128_t v) {
  const float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  const float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  const float ab = a > b ? a : b, cd = c > d ? c : d;
  return ab > cd ? ab : cd;
}

/*
 * exp(x) on four lanes, without libm (the module is -nostdlib): x = n ln2 + r with |r| <= ln2/2
 * (ln2 split in two for an exact reduction), exp(r) by its Taylor series to r^7 (truncation
 * below 1e-8 relative), times 2^n built in the exponent bits. Below EXP_ZERO (2^n would leave
 * the normal range) the result is 0; above 88.7 it is infinity, like expf.
 *
 * n is rounded by adding ROUNDER (1.5 x 2^23): the sum's last bit is worth 1, so the add rounds
 * x log2(e) to the nearest integer (ties to even, as f32x4.nearest), and the sum's low bits are
 * n itself, shifted straight into an exponent. f32x4.nearest and i32x4.trunc_sat_f32x4_s did
 * the same in about ten x64 instructions (the saturating conversion is a sequence in V8); the
 * values are bit for bit the same.
 */
#define EXP_ZERO (-87.3f)
#define ROUNDER 12582912.0f
static inline v128_t exp4(v128_t x) {
  const v128_t lo = splat(EXP_ZERO);
  const v128_t xc = wasm_f32x4_pmax(wasm_f32x4_pmin(x, splat(88.7f)), lo);
  const v128_t shifted = wasm_f32x4_add(wasm_f32x4_mul(xc, splat(1.44269504088896341f)), splat(ROUNDER));
  const v128_t n = wasm_f32x4_sub(shifted, splat(ROUNDER));
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, splat(-2.12194440e-4f)));
  v128_t p = splat(1.0f / 5040.0f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f / 720.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f / 120.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f / 24.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f / 6.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.0f));
  /* ROUNDER's bits are 0x4B400000 + n; shifted left by 23 its own bits leave, n + 127 stays. */
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(shifted, wasm_i32x4_splat(127)), 23);
  const v128_t y = wasm_f32x4_mul(p, scale);
  return wasm_v128_andnot(y, wasm_f32x4_lt(x, lo));
}

/* Lanes [0, count) of p (count < 4), the rest 0: the tail of a row that is not a multiple of 4. */
static inline v128_t load_tail(const float *p, u32 count) {
  v128_t v = wasm_f32x4_splat(0.0f);
  if (count > 0) v = wasm_f32x4_replace_lane(v, 0, p[0]);
  if (count > 1) v = wasm_f32x4_replace_lane(v, 1, p[1]);
  if (count > 2) v = wasm_f32x4_replace_lane(v, 2, p[2]);
  return v;
}

static inline void store_tail(float *p, v128_t v, u32 count) {
  if (count > 0) p[0] = wasm_f32x4_extract_lane(v, 0);
  if (count > 1) p[1] = wasm_f32x4_extract_lane(v, 1);
  if (count > 2) p[2] = wasm_f32x4_extract_lane(v, 2);
}

/* One row of layer norm's output from its mean and standard deviation. A divide, not a multiply
   by 1 / sd: the ops' rounding, one step fewer. */
static inline void normalise_row(const float *xr, const float *gain, const float *bias, float *o, u32 width, float mean, float sd) {
  const u32 body = width & ~3u;
  const v128_t vmean = splat(mean), vsd = splat(sd);
  for (u32 j = 0; j < body; j += 4) {
    const v128_t xhat = wasm_f32x4_div(wasm_f32x4_sub(wasm_v128_load(xr + j), vmean), vsd);
    wasm_v128_store(o + j, wasm_f32x4_add(wasm_f32x4_mul(xhat, wasm_v128_load(gain + j)), wasm_v128_load(bias + j)));
  }
  for (u32 j = body; j < width; j++) o[j] = (xr[j] - mean) / sd * gain[j] + bias[j];
}

static v128_t four_row_sums(const float *x, u32 n, v128_t centre, int squares);

/*
 * GrpoLayerNorm: each row of `width` floats, out = (x - mean) / sqrt(var + eps) * gain + bias,
 * mean and variance (biased) in two passes like tf.moments. The sums run in column order, one
 * chain per row, like tfjs's Mean (a 4-lane sum of one row would round differently, enough to
 * move the model's logits by a few ulps); four rows share each add (four_row_sums), so the
 * floats are those of a one-row loop.
 */
__attribute__((export_name("layer_norm")))
void layer_norm(const float *x, const float *gain, const float *bias, float *out, u32 rows, u32 width, float eps) {
  const v128_t vwidth = splat((float)width), veps = splat(eps);
  u32 row = 0;
  for (; row + 4 <= rows; row += 4) {
    const float *xr = x + row * width;
    float *o = out + row * width;
    const v128_t mean = wasm_f32x4_div(four_row_sums(xr, width, splat(0.0f), 0), vwidth);
    const v128_t sd = wasm_f32x4_sqrt(wasm_f32x4_add(wasm_f32x4_div(four_row_sums(xr, width, mean, 1), vwidth), veps));
    normalise_row(xr, gain, bias, o, width, wasm_f32x4_extract_lane(mean, 0), wasm_f32x4_extract_lane(sd, 0));
    normalise_row(xr + width, gain, bias, o + width, width, wasm_f32x4_extract_lane(mean, 1), wasm_f32x4_extract_lane(sd, 1));
    normalise_row(xr + 2 * width, gain, bias, o + 2 * width, width, wasm_f32x4_extract_lane(mean, 2), wasm_f32x4_extract_lane(sd, 2));
    normalise_row(xr + 3 * width, gain, bias, o + 3 * width, width, wasm_f32x4_extract_lane(mean, 3), wasm_f32x4_extract_lane(sd, 3));
  }
  for (; row < rows; row++) {
    const float *xr = x + row * width;
    float sum = 0.0f;
    for (u32 j = 0; j < width; j++) sum += xr[j];
    const float mean = sum / (float)width;
    float sq = 0.0f;
    for (u32 j = 0; j < width; j++) sq += (xr[j] - mean) * (xr[j] - mean);
    normalise_row(xr, gain, bias, out + row * width, width, mean, __builtin_sqrtf(sq / (float)width + eps));
  }
}

/*
 * One row: softmax(s * scale + m) over its first len of tk keys, zeros after them (the caller
 * knows those keys are masked: their weights would be exactly 0). o may be s: it is written
 * before it is read back (it holds the exponentials between the passes).
 */
static void softmax_row(const float *s, const float *m, float *o, u32 tk, u32 len, float scale) {
  const u32 body = len & ~3u, tail = len - body;
  const v128_t vscale = splat(scale);
        /* Pass 1: the logits, written to out, and their maximum. */
        v128_t vmax = splat(-__builtin_inff());
        for (u32 j = 0; j < body; j += 4) {
          const v128_t l = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(s + j), vscale), wasm_v128_load(m + j));
          wasm_v128_store(o + j, l);
          vmax = wasm_f32x4_pmax(vmax, l);
        }
        float top = hmax(vmax);
        for (u32 j = body; j < len; j++) {
          const float l = s[j] * scale + m[j];
          o[j] = l;
          top = l > top ? l : top;
        }
        /* Pass 2: exponentials and their sum. Four keys all below EXP_ZERO of the maximum (masked
           ones: a causal row is half masked) are the zeros exp4 would give, without computing it. */
        const v128_t vtop = splat(top), vzero = splat(EXP_ZERO);
        v128_t acc = splat(0.0f);
        for (u32 j = 0; j < body; j += 4) {
          const v128_t x = wasm_f32x4_sub(wasm_v128_load(o + j), vtop);
          const v128_t e = wasm_i32x4_all_true(wasm_f32x4_lt(x, vzero)) ? splat(0.0f) : exp4(x);
          wasm_v128_store(o + j, e);
          acc = wasm_f32x4_add(acc, e);
        }
        if (tail) {
          const v128_t e = exp4(wasm_f32x4_sub(load_tail(o + body, tail), vtop));
          store_tail(o + body, e, tail);
          /* The unused lanes computed exp(0 - top); leave them out of the sum. */
          acc = wasm_f32x4_add(acc, load_tail(o + body, tail));
        }
        /* Pass 3: normalise. */
        const v128_t inv = splat(1.0f / hsum(acc));
        for (u32 j = 0; j < body; j += 4) wasm_v128_store(o + j, wasm_f32x4_mul(wasm_v128_load(o + j), inv));
        for (u32 j = body; j < len; j++) o[j] *= wasm_f32x4_extract_lane(inv, 0);
        for (u32 j = len; j < tk; j++) o[j] = 0.0f;
}

/*
 * GrpoMaskedSoftmax: scores [batch, heads, t, tk], mask [batch, 1, t, tk];
 * out = softmax(scores * scale + mask) over the last axis. out may be scores.
 */
__attribute__((export_name("masked_softmax")))
void masked_softmax(const float *scores, const float *mask, float *out, u32 batch, u32 heads, u32 t, u32 tk, float scale) {
  for (u32 b = 0; b < batch; b++) {
    for (u32 h = 0; h < heads; h++) {
      for (u32 q = 0; q < t; q++) {
        const u32 row = (b * heads + h) * t + q;
        softmax_row(scores + row * tk, mask + (b * t + q) * tk, out + row * tk, tk, tk, scale);
      }
    }
  }
}

/* GrpoBiasGelu: x [rows, width], bias [width]; z = x + bias, out = z / (1 + exp(-slope z)). */
__attribute__((export_name("bias_gelu")))
void bias_gelu(const float *x, const float *bias, float *out, u32 rows, u32 width, float slope) {
  const u32 body = width & ~3u, tail = width - body;
  const v128_t neg = splat(-slope), one = splat(1.0f);
  for (u32 row = 0; row < rows; row++) {
    const float *xr = x + row * width;
    float *o = out + row * width;
    for (u32 j = 0; j < body; j += 4) {
      const v128_t z = wasm_f32x4_add(wasm_v128_load(xr + j), wasm_v128_load(bias + j));
      wasm_v128_store(o + j, wasm_f32x4_div(z, wasm_f32x4_add(one, exp4(wasm_f32x4_mul(neg, z)))));
    }
    if (tail) {
      const v128_t z = wasm_f32x4_add(load_tail(xr + body, tail), load_tail(bias + body, tail));
      store_tail(o + body, wasm_f32x4_div(z, wasm_f32x4_add(one, exp4(wasm_f32x4_mul(neg, z)))), tail);
    }
  }
}

/*
 * Two of tfjs-wasm's own kernels, for the shapes where they are slow (wasm-replacements.ts):
 * SplitV, which tfjs-wasm does with one JavaScript typed-array copy per row of each output, and
 * Sum, which it does by transposing the reduced axes last (bias and gain gradients: leading
 * axes) and then summing each row with one chain of scalar adds.
 */

/*
 * out[r * out_stride + j] = x[r * stride + j] for r in [0, rows), j in [0, width): `width` floats
 * of each of `rows` rows `stride` floats apart, to rows `out_stride` apart (a slice cut along one
 * axis, or one input's part of every row of a concatenation).
 */
__attribute__((export_name("copy_rows_to")))
void copy_rows_to(const float *x, float *out, u32 rows, u32 stride, u32 out_stride, u32 width) {
  for (u32 r = 0; r < rows; r++) {
    const float *src = x + r * stride;
    float *dst = out + r * out_stride;
    u32 j = 0;
    for (; j + 16 <= width; j += 16) {
      const v128_t v0 = wasm_v128_load(src + j), v1 = wasm_v128_load(src + j + 4);
      const v128_t v2 = wasm_v128_load(src + j + 8), v3 = wasm_v128_load(src + j + 12);
      wasm_v128_store(dst + j, v0);
      wasm_v128_store(dst + j + 4, v1);
      wasm_v128_store(dst + j + 8, v2);
      wasm_v128_store(dst + j + 12, v3);
    }
    for (; j + 4 <= width; j += 4) wasm_v128_store(dst + j, wasm_v128_load(src + j));
    for (; j < width; j++) dst[j] = src[j];
  }
}

/*
 * out[r * width + j] = a[r * width + j] + b[r * b_stride + j] for r in [0, rows), j in [0, width):
 * a sum of two [rows, width] tensors (b_stride = width), or of one and a row [width] added to
 * every row (b_stride = 0). One IEEE addition per value, so the result is tfjs's Add, bit for bit.
 */
__attribute__((export_name("add_rows")))
void add_rows(const float *a, const float *b, float *out, u32 rows, u32 width, u32 b_stride) {
  for (u32 r = 0; r < rows; r++) {
    const float *ar = a + r * width, *br = b + r * b_stride;
    float *o = out + r * width;
    u32 j = 0;
    for (; j + 8 <= width; j += 8) {
      wasm_v128_store(o + j, wasm_f32x4_add(wasm_v128_load(ar + j), wasm_v128_load(br + j)));
      wasm_v128_store(o + j + 4, wasm_f32x4_add(wasm_v128_load(ar + j + 4), wasm_v128_load(br + j + 4)));
    }
    for (; j + 4 <= width; j += 4) wasm_v128_store(o + j, wasm_f32x4_add(wasm_v128_load(ar + j), wasm_v128_load(br + j)));
    for (; j < width; j++) o[j] = ar[j] + br[j];
  }
}

/* Rows per block of column_sum: about 32 kB of x, which stays in L1 while each strip of columns reads it. */
#define SUM_BLOCK_FLOATS 8192u

/*
 * out[o * n + j] = the sum of x[(o * rows + r) * n + j] over r in [0, rows), for o in [0, outer):
 * the column sums of `outer` matrices of rows x n (a sum over leading axes has outer = 1, over
 * middle ones outer > 1). Each column is summed in row order from 0, as tfjs sums a row after
 * its transpose, so the result is deterministic and tfjs's. Rows go in blocks; a strip of 32
 * columns is summed over a block in eight vector accumulators, which start from out (0 on the
 * first block).
 */
__attribute__((export_name("column_sum")))
void column_sum(const float *x, float *out, u32 outer, u32 rows, u32 n) {
  u32 block = SUM_BLOCK_FLOATS / n;
  if (block == 0) block = 1;
  for (u32 o = 0; o < outer; o++, x += rows * n, out += n) {
    for (u32 r0 = 0; r0 < rows; r0 += block) {
      const u32 r1 = rows - r0 < block ? rows : r0 + block;
      const int first = r0 == 0;
      u32 j = 0;
      for (; j + 32 <= n; j += 32) {
        float *s = out + j;
        v128_t a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        if (!first) {
          a0 = wasm_v128_load(s), a1 = wasm_v128_load(s + 4), a2 = wasm_v128_load(s + 8), a3 = wasm_v128_load(s + 12);
          a4 = wasm_v128_load(s + 16), a5 = wasm_v128_load(s + 20), a6 = wasm_v128_load(s + 24), a7 = wasm_v128_load(s + 28);
        }
        for (u32 r = r0; r < r1; r++) {
          const float *p = x + r * n + j;
          a0 = wasm_f32x4_add(a0, wasm_v128_load(p));
          a1 = wasm_f32x4_add(a1, wasm_v128_load(p + 4));
          a2 = wasm_f32x4_add(a2, wasm_v128_load(p + 8));
          a3 = wasm_f32x4_add(a3, wasm_v128_load(p + 12));
          a4 = wasm_f32x4_add(a4, wasm_v128_load(p + 16));
          a5 = wasm_f32x4_add(a5, wasm_v128_load(p + 20));
          a6 = wasm_f32x4_add(a6, wasm_v128_load(p + 24));
          a7 = wasm_f32x4_add(a7, wasm_v128_load(p + 28));
        }
        wasm_v128_store(s, a0), wasm_v128_store(s + 4, a1), wasm_v128_store(s + 8, a2), wasm_v128_store(s + 12, a3);
        wasm_v128_store(s + 16, a4), wasm_v128_store(s + 20, a5), wasm_v128_store(s + 24, a6), wasm_v128_store(s + 28, a7);
      }
      for (; j + 4 <= n; j += 4) {
        v128_t a = first ? splat(0.0f) : wasm_v128_load(out + j);
        for (u32 r = r0; r < r1; r++) a = wasm_f32x4_add(a, wasm_v128_load(x + r * n + j));
        wasm_v128_store(out + j, a);
      }
      for (; j < n; j++) {
        float a = first ? 0.0f : out[j];
        for (u32 r = r0; r < r1; r++) a += x[r * n + j];
        out[j] = a;
      }
    }
  }
}

/*
 * Lane i: the sum over j in [0, n) of x[i * n + j], or with `squares` of (x[i * n + j] - centre_i)^2,
 * in column order from 0: the floats a one-lane loop over each row gives. One row's sum is a
 * chain of dependent adds; here lane i carries row i, fed the 4 x 4 blocks transposed, so four
 * rows advance per add.
 */
static v128_t four_row_sums(const float *x, u32 n, v128_t centre, int squares) {
  const u32 body = n & ~3u;
  const float *x0 = x, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
  v128_t acc = splat(0.0f), c[4];
  for (u32 j = 0; j < body; j += 4) {
    transpose4(wasm_v128_load(x0 + j), wasm_v128_load(x1 + j), wasm_v128_load(x2 + j), wasm_v128_load(x3 + j), &c[0], &c[1], &c[2], &c[3]);
    for (u32 k = 0; k < 4; k++) {
      const v128_t d = wasm_f32x4_sub(c[k], centre);
      acc = wasm_f32x4_add(acc, squares ? wasm_f32x4_mul(d, d) : c[k]);
    }
  }
  for (u32 j = body; j < n; j++) {
    const v128_t v = wasm_f32x4_make(x0[j], x1[j], x2[j], x3[j]), d = wasm_f32x4_sub(v, centre);
    acc = wasm_f32x4_add(acc, squares ? wasm_f32x4_mul(d, d) : v);
  }
  return acc;
}

/* out[r] = the sum of x[r * n + j] over j in [0, n): the row sums of a rows x n matrix, like tfjs's Sum. */
__attribute__((export_name("row_sum")))
void row_sum(const float *x, float *out, u32 rows, u32 n) {
  u32 r = 0;
  for (; r + 4 <= rows; r += 4) wasm_v128_store(out + r, four_row_sums(x + r * n, n, splat(0.0f), 0));
  for (; r < rows; r++) {
    float a = 0.0f;
    for (u32 j = 0; j < n; j++) a += x[r * n + j];
    out[r] = a;
  }
}

/*
 * The decode step's attention (decode-attention.ts, cpu-kernels.ts for reference): one new
 * token per row against the KV cache, which holds [batch, heads, rows, hd] floats.
 */

/* The dot product of n floats. */
static inline float dot(const float *a, const float *b, u32 n) {
  v128_t acc = splat(0.0f);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  float s = hsum(acc);
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

/* o[i] += w * v[i] for i in [0, n). */
static inline void add_scaled(float *o, const float *v, float w, u32 n) {
  const v128_t vw = splat(w);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(o + i, wasm_f32x4_add(wasm_v128_load(o + i), wasm_f32x4_mul(vw, wasm_v128_load(v + i))));
  for (; i < n; i++) o[i] += w * v[i];
}

/*
 * GrpoAppendHeads: out [batch, heads, rows + 1, hd] is each head's `rows` cached rows of
 * `past`, then this token's row of that head from qkv [batch, 1, 3 * heads * hd] (its part-th
 * third: 1 for keys, 2 for values).
 */
__attribute__((export_name("append_heads")))
void append_heads(const float *past, const float *qkv, float *out, u32 batch, u32 heads, u32 rows, u32 hd, u32 part) {
  const u32 d = heads * hd;
  for (u32 b = 0; b < batch; b++) {
    for (u32 h = 0; h < heads; h++) {
      const u32 bh = b * heads + h;
      copy_rows_to(past + bh * rows * hd, out + bh * (rows + 1) * hd, 1, 0, 0, rows * hd);
      copy_rows_to(qkv + b * 3 * d + part * d + h * hd, out + (bh * (rows + 1) + rows) * hd, 1, 0, 0, hd);
    }
  }
}

/*
 * GrpoDecodeAttention: out [batch, 1, heads * hd], for each row and head
 * softmax(q . keys * scale + mask) . values, with q in qkv [batch, 1, 3 * heads * hd] and the
 * mask [batch, mask_width] shared by the heads, of which the first tk columns are read (the
 * device loop passes the mask of every key it will have). Without scratch memory the scores are computed twice:
 * once for their maximum, then four keys at a time for their exponentials, each key's value row
 * added into out with its weight as it goes; out is divided by the weights' sum at the end.
 */
__attribute__((export_name("decode_attention")))
void decode_attention(const float *qkv, const float *keys, const float *values, const float *mask, float *out,
                      u32 batch, u32 heads, u32 tk, u32 mask_width, u32 hd, float scale) {
  const u32 d = heads * hd;
  for (u32 b = 0; b < batch; b++) {
    const float *m = mask + b * mask_width;
    for (u32 h = 0; h < heads; h++) {
      const float *q = qkv + b * 3 * d + h * hd;
      const float *k = keys + (b * heads + h) * tk * hd;
      const float *v = values + (b * heads + h) * tk * hd;
      float *o = out + b * d + h * hd;
      float top = -__builtin_inff();
      for (u32 t = 0; t < tk; t++) {
        const float x = dot(q, k + t * hd, hd) * scale + m[t];
        top = x > top ? x : top;
      }
      for (u32 i = 0; i < hd; i++) o[i] = 0.0f;
      v128_t total = splat(0.0f);
      for (u32 t = 0; t < tk; t += 4) {
        /* Lanes past the last key hold -inf, whose exponential exp4 makes 0. */
        v128_t x = splat(-__builtin_inff());
        x = wasm_f32x4_replace_lane(x, 0, dot(q, k + t * hd, hd) * scale + m[t]);
        if (t + 1 < tk) x = wasm_f32x4_replace_lane(x, 1, dot(q, k + (t + 1) * hd, hd) * scale + m[t + 1]);
        if (t + 2 < tk) x = wasm_f32x4_replace_lane(x, 2, dot(q, k + (t + 2) * hd, hd) * scale + m[t + 2]);
        if (t + 3 < tk) x = wasm_f32x4_replace_lane(x, 3, dot(q, k + (t + 3) * hd, hd) * scale + m[t + 3]);
        const v128_t e = exp4(wasm_f32x4_sub(x, splat(top)));
        total = wasm_f32x4_add(total, e);
        add_scaled(o, v + t * hd, wasm_f32x4_extract_lane(e, 0), hd);
        if (t + 1 < tk) add_scaled(o, v + (t + 1) * hd, wasm_f32x4_extract_lane(e, 1), hd);
        if (t + 2 < tk) add_scaled(o, v + (t + 2) * hd, wasm_f32x4_extract_lane(e, 2), hd);
        if (t + 3 < tk) add_scaled(o, v + (t + 3) * hd, wasm_f32x4_extract_lane(e, 3), hd);
      }
      const float inv = 1.0f / hsum(total);
      for (u32 i = 0; i < hd; i++) o[i] *= inv;
    }
  }
}

/*
 * Backward passes of the fused kernels (layer-norm.ts and bias-gelu.ts give the formulas; the
 * JavaScript versions in cpu-kernels.ts are the reference). Each recomputes what its forward
 * kernel did not keep (mean and rstd, or z and s) from the saved inputs.
 */

/* Lanes [0, count) of p, count <= 4 (a whole vector, or a row's tail); the rest 0. */
static inline v128_t load_lanes(const float *p, u32 count) {
  return count == 4 ? wasm_v128_load(p) : load_tail(p, count);
}

static inline void store_lanes(float *p, v128_t v, u32 count) {
  if (count == 4) wasm_v128_store(p, v);
  else store_tail(p, v, count);
}

/* All ones in lanes [0, count), zeros above. */
static inline v128_t lane_mask(u32 count) {
  return wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat((int32_t)count));
}

/*
 * A row's mean and 1 / sqrt(variance + eps), summed four lanes at a time: the backward passes
 * need them to float32 rounding, not in the forward kernel's exact order.
 */
static inline void row_moments(const float *xr, u32 width, float eps, float *mean, float *rstd) {
  v128_t sum = splat(0.0f);
  for (u32 j = 0; j < width; j += 4) sum = wasm_f32x4_add(sum, load_lanes(xr + j, width - j < 4 ? width - j : 4));
  const float m = hsum(sum) / (float)width;
  const v128_t vm = splat(m);
  v128_t sq = splat(0.0f);
  for (u32 j = 0; j < width; j += 4) {
    const u32 lanes = width - j < 4 ? width - j : 4;
    /* A lane past the row loads 0, whose (0 - mean)^2 is masked out. */
    const v128_t d = wasm_v128_and(wasm_f32x4_sub(load_lanes(xr + j, lanes), vm), lane_mask(lanes));
    sq = wasm_f32x4_add(sq, wasm_f32x4_mul(d, d));
  }
  *mean = m;
  *rstd = 1.0f / __builtin_sqrtf(hsum(sq) / (float)width + eps);
}

/*
 * GrpoLayerNormGrad: dx for each row, rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 * with xhat = (x - mean) * rstd and dxhat = dy * gain. Lanes past the row read 0 for dy, so
 * they add nothing to either mean.
 */
__attribute__((export_name("layer_norm_grad")))
void layer_norm_grad(const float *x, const float *gain, const float *dy, float *out, u32 rows, u32 width, float eps) {
  for (u32 row = 0; row < rows; row++) {
    const float *xr = x + row * width, *dr = dy + row * width;
    float *o = out + row * width;
    float mean, rstd;
    row_moments(xr, width, eps, &mean, &rstd);
    const v128_t vm = splat(mean), vr = splat(rstd);
    v128_t va = splat(0.0f), vb = splat(0.0f);
    for (u32 j = 0; j < width; j += 4) {
      const u32 lanes = width - j < 4 ? width - j : 4;
      const v128_t dxhat = wasm_f32x4_mul(load_lanes(dr + j, lanes), load_lanes(gain + j, lanes));
      const v128_t xhat = wasm_f32x4_mul(wasm_f32x4_sub(load_lanes(xr + j, lanes), vm), vr);
      va = wasm_f32x4_add(va, dxhat);
      vb = wasm_f32x4_add(vb, wasm_f32x4_mul(dxhat, xhat));
    }
    const v128_t a = splat(hsum(va) / (float)width), b = splat(hsum(vb) / (float)width);
    for (u32 j = 0; j < width; j += 4) {
      const u32 lanes = width - j < 4 ? width - j : 4;
      const v128_t dxhat = wasm_f32x4_mul(load_lanes(dr + j, lanes), load_lanes(gain + j, lanes));
      const v128_t xhat = wasm_f32x4_mul(wasm_f32x4_sub(load_lanes(xr + j, lanes), vm), vr);
      store_lanes(o + j, wasm_f32x4_mul(vr, wasm_f32x4_sub(wasm_f32x4_sub(dxhat, a), wasm_f32x4_mul(xhat, b))), lanes);
    }
  }
}

/* GrpoLayerNormGainGrad: out [width] = the sum over rows of dy * xhat. */
__attribute__((export_name("layer_norm_gain_grad")))
void layer_norm_gain_grad(const float *x, const float *dy, float *out, u32 rows, u32 width, float eps) {
  for (u32 j = 0; j < width; j++) out[j] = 0.0f;
  for (u32 row = 0; row < rows; row++) {
    const float *xr = x + row * width, *dr = dy + row * width;
    float mean, rstd;
    row_moments(xr, width, eps, &mean, &rstd);
    const v128_t vm = splat(mean), vr = splat(rstd);
    for (u32 j = 0; j < width; j += 4) {
      const u32 lanes = width - j < 4 ? width - j : 4;
      const v128_t xhat = wasm_f32x4_mul(wasm_f32x4_sub(load_lanes(xr + j, lanes), vm), vr);
      store_lanes(out + j, wasm_f32x4_add(load_lanes(out + j, lanes), wasm_f32x4_mul(load_lanes(dr + j, lanes), xhat)), lanes);
    }
  }
}

/* GrpoBiasGeluGrad: with z = x + bias and s = 1 / (1 + exp(-slope z)), dx = dy (s + slope z s (1 - s)). */
__attribute__((export_name("bias_gelu_grad")))
void bias_gelu_grad(const float *x, const float *bias, const float *dy, float *out, u32 rows, u32 width, float slope) {
  const v128_t vslope = splat(slope), neg = splat(-slope), one = splat(1.0f);
  for (u32 row = 0; row < rows; row++) {
    const float *xr = x + row * width, *dr = dy + row * width;
    float *o = out + row * width;
    for (u32 j = 0; j < width; j += 4) {
      const u32 lanes = width - j < 4 ? width - j : 4;
      const v128_t z = wasm_f32x4_add(load_lanes(xr + j, lanes), load_lanes(bias + j, lanes));
      const v128_t s = wasm_f32x4_div(one, wasm_f32x4_add(one, exp4(wasm_f32x4_mul(neg, z))));
      const v128_t slopeZ = wasm_f32x4_mul(vslope, z);
      const v128_t dz = wasm_f32x4_add(s, wasm_f32x4_mul(slopeZ, wasm_f32x4_mul(s, wasm_f32x4_sub(one, s))));
      store_lanes(o + j, wasm_f32x4_mul(load_lanes(dr + j, lanes), dz), lanes);
    }
  }
}

/* GrpoAdamMoment: out = moment * beta + g * rest (squared: g * g * rest), rest = 1 - beta in float32. */
__attribute__((export_name("adam_moment")))
void adam_moment(const float *moment, const float *grad, float *out, u32 n, float beta, float rest, u32 squared) {
  const v128_t vb = splat(beta), vr = splat(rest);
  for (u32 i = 0; i < n; i += 4) {
    const u32 lanes = n - i < 4 ? n - i : 4;
    v128_t g = load_lanes(grad + i, lanes);
    if (squared) g = wasm_f32x4_mul(g, g);
    store_lanes(out + i, wasm_f32x4_add(wasm_f32x4_mul(load_lanes(moment + i, lanes), vb), wasm_f32x4_mul(g, vr)), lanes);
  }
}

/* GrpoAdamWStep: out = p * keep - m / (sqrt(v) / sqrtBc2 + eps) * stepSize. */
__attribute__((export_name("adamw_step")))
void adamw_step(const float *param, const float *m, const float *v, float *out, u32 n, float keep, float step_size, float sqrt_bc2, float eps) {
  const v128_t vk = splat(keep), vs = splat(step_size), vc = splat(sqrt_bc2), ve = splat(eps);
  for (u32 i = 0; i < n; i += 4) {
    const u32 lanes = n - i < 4 ? n - i : 4;
    const v128_t denom = wasm_f32x4_add(wasm_f32x4_div(wasm_f32x4_sqrt(load_lanes(v + i, lanes)), vc), ve);
    const v128_t update = wasm_f32x4_mul(wasm_f32x4_div(load_lanes(m + i, lanes), denom), vs);
    store_lanes(out + i, wasm_f32x4_sub(wasm_f32x4_mul(load_lanes(param + i, lanes), vk), update), lanes);
  }
}

/*
 * Attention over whole sequences (attention.ts; cpu-kernels.ts is the reference), read straight
 * out of qkv [batch, t, 3 * heads * hd] (each row q, k, v side by side, head h at column h * hd of
 * its third) and written in the layouts the model reads, so that no split, transpose or concat
 * runs around it. The queries are the last tq of the t tokens (tq = t but for the shared-prompt
 * forward's rows, shared-prompt.ts); every token is a key. The products are matmul_strided on
 * strided views of the tensors; the caller gives the scratch (sizes in wasm-fused-kernels.ts).
 */

/*
 * Under a causal mask a query's later keys are all masked (about a third of a completion row's
 * keys): the products leave them out (LIMIT_* above), from each query row's limit, one past its
 * last visible key. The probabilities come from the mask: a key whose bias is at or below
 * MASK_FLOOR is masked (MASKED is -1e9; a score would have to reach 1e5 for its weight not to be
 * exactly 0). The other kernels take the limits from P, the last nonzero weight of any head.
 * Each kernel's scratch begins with the limits (LIMIT_FLOATS), one u32 per query row.
 */
#define MASK_FLOOR (-1e6f)
#define LIMIT_FLOATS(tq) (((tq) + 3u) & ~3u)

/* lim[i]: one past the last key that row i of mask [tq, t] shows; t for a row that shows none (softmax gives it uniform weights). */
static void limits_from_mask(const float *mask, u32 tq, u32 t, u32 *lim) {
  for (u32 i = 0; i < tq; i++) {
    const float *m = mask + i * t;
    u32 j = t;
    while (j > 0 && m[j - 1] <= MASK_FLOOR) j--;
    lim[i] = j ? j : t;
  }
}

/* lim[i]: one past the last key with a nonzero weight in row i of any head's P [heads, tq, t] (a row of P sums to 1). */
static void limits_from_probs(const float *p, u32 heads, u32 tq, u32 t, u32 *lim) {
  for (u32 i = 0; i < tq; i++) {
    u32 end = 1;
    for (u32 h = 0; h < heads; h++) {
      const float *r = p + (h * tq + i) * t;
      u32 j = t;
      while (j > end && r[j - 1] == 0.0f) j--;
      end = j;
    }
    lim[i] = end;
  }
}

/* GrpoAttentionProbs: out [batch, heads, tq, t] = softmax(q k^T * scale + mask), mask [batch, 1, tq, t]. */
__attribute__((export_name("attention_probs")))
void attention_probs(const float *qkv, const float *mask, float *out, u32 batch, u32 heads, u32 t, u32 tq, u32 hd, float scale, float *scratch) {
  const u32 d = heads * hd, row = 3 * d;
  u32 *lim = (u32 *)scratch;
  float *pack = scratch + LIMIT_FLOATS(tq);
  for (u32 b = 0; b < batch; b++) {
    const float *x = qkv + b * t * row, *m = mask + b * tq * t;
    float *o = out + b * heads * tq * t;
    limits_from_mask(m, tq, t, lim);
    matmul_limited(x + (t - tq) * row, x + d, o, heads, tq, t, hd, hd, row, 1, hd, 1, row, tq * t, t, pack, (limits){ lim, LIMIT_COLS });
    for (u32 h = 0; h < heads; h++) {
      for (u32 i = 0; i < tq; i++) softmax_row(o + (h * tq + i) * t, m + i * t, o + (h * tq + i) * t, t, lim[i], scale);
    }
  }
}

/* GrpoAttentionValues: out [batch, tq, heads * hd], each head's probabilities [tq, t] times its values. */
__attribute__((export_name("attention_values")))
void attention_values(const float *probs, const float *qkv, float *out, u32 batch, u32 heads, u32 t, u32 tq, u32 hd, float *scratch) {
  const u32 d = heads * hd, row = 3 * d;
  u32 *lim = (u32 *)scratch;
  float *pack = scratch + LIMIT_FLOATS(tq);
  for (u32 b = 0; b < batch; b++) {
    const float *p = probs + b * heads * tq * t;
    limits_from_probs(p, heads, tq, t, lim);
    matmul_limited(p, qkv + b * t * row + 2 * d, out + b * tq * d, heads, tq, hd, t,
                   tq * t, t, 1, hd, row, 1, hd, d, pack, (limits){ lim, LIMIT_K_END });
  }
}

/*
 * Softmax's backward pass on rows of t, in place, times the scores' scale: ds = p * (ds - sum(p * ds)) * scale.
 * Row r is query r % tq; past its limit p is 0, ds is not read (dP was not computed there) and 0 is written.
 */
static void softmax_grad_rows(const float *p, float *ds, u32 rows, u32 tq, u32 t, const u32 *lim, float scale) {
  const v128_t vscale = splat(scale);
  for (u32 r = 0; r < rows; r++) {
    const float *pr = p + r * t;
    float *g = ds + r * t;
    const u32 len = lim[r % tq];
    v128_t acc = splat(0.0f);
    for (u32 j = 0; j < len; j += 4) {
      const u32 lanes = len - j < 4 ? len - j : 4;
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(load_lanes(pr + j, lanes), load_lanes(g + j, lanes)));
    }
    const v128_t c = splat(hsum(acc));
    for (u32 j = 0; j < len; j += 4) {
      const u32 lanes = len - j < 4 ? len - j : 4;
      const v128_t y = wasm_f32x4_mul(load_lanes(pr + j, lanes), wasm_f32x4_sub(load_lanes(g + j, lanes), c));
      store_lanes(g + j, wasm_f32x4_mul(y, vscale), lanes);
    }
    for (u32 j = len; j < t; j++) g[j] = 0.0f;
  }
}

/*
 * GrpoAttentionGrad: dqkv [batch, t, 3 * heads * hd] from dy [batch, tq, heads * hd] (the gradient
 * of attention_values' output), qkv and the probabilities P. Per head, with dO its part of dy:
 * dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(P * dP)) * scale, dQ = dS K, dK = dS^T Q.
 * The t - tq tokens that are not queries get dQ = 0.
 * scratch: heads * tq * t floats for dS, the limits, then the products' packing.
 */
__attribute__((export_name("attention_grad")))
void attention_grad(const float *dy, const float *qkv, const float *probs, float *out, u32 batch, u32 heads, u32 t, u32 tq, u32 hd,
                    float scale, float *scratch) {
  const u32 d = heads * hd, row = 3 * d, tt = tq * t, first = t - tq;
  float *ds = scratch, *pack = scratch + heads * tt + LIMIT_FLOATS(tq);
  u32 *lim = (u32 *)(scratch + heads * tt);
  const limits by_query = { lim, LIMIT_K_END }, by_key = { lim, LIMIT_K_START }, visible = { lim, LIMIT_COLS };
  for (u32 b = 0; b < batch; b++) {
    const float *x = qkv + b * t * row, *g = dy + b * tq * d, *p = probs + b * heads * tt;
    float *o = out + b * t * row;
    limits_from_probs(p, heads, tq, t, lim);
    matmul_limited(p, g, o + 2 * d, heads, t, hd, tq, tt, 1, t, hd, d, 1, hd, row, pack, by_key);             /* dV = P^T dO */
    matmul_limited(g, x + 2 * d, ds, heads, tq, t, hd, hd, d, 1, hd, 1, row, tt, t, pack, visible);           /* dP = dO V^T */
    softmax_grad_rows(p, ds, heads * tq, tq, t, lim, scale);                                                   /* dS */
    for (u32 r = 0; r < first; r++) for (u32 j = 0; j < d; j++) o[r * row + j] = 0.0f;
    matmul_limited(ds, x + d, o + first * row, heads, tq, hd, t, tt, t, 1, hd, row, 1, hd, row, pack, by_query); /* dQ = dS K */
    matmul_limited(ds, x + first * row, o + d, heads, t, hd, tq, tt, 1, t, hd, row, 1, hd, row, pack, by_key);   /* dK = dS^T Q */
  }
}

/*
 * What the trainers read off the logits (token-stats.ts; cpu-kernels.ts is the reference): per
 * row of v logits with maximum m and Z = sum of exp(l - m), the target's log-probability, its
 * gradient and the entropy. Targets arrive as floats.
 */

/*
 * log(x) for a positive normal x (here Z, between 1 and v), without libm: x = 2^e f with f in
 * [sqrt(1/2), sqrt(2)), log f = 2 atanh((f - 1) / (f + 1)) by its odd series to s^9 (|s| <= 0.172,
 * truncation below 1e-8), plus e ln 2.
 */
static inline float log_positive(float x) {
  union { float f; u32 i; } u = { x };
  int e = (int)((u.i >> 23) & 0xffu) - 127;
  u.i = (u.i & 0x007fffffu) | 0x3f800000u;
  float f = u.f;
  if (f > 1.41421356f) {
    f *= 0.5f;
    e += 1;
  }
  const float s = (f - 1.0f) / (f + 1.0f), s2 = s * s;
  const float series = s * (2.0f + s2 * (2.0f / 3.0f + s2 * (2.0f / 5.0f + s2 * (2.0f / 7.0f + s2 * (2.0f / 9.0f)))));
  return (float)e * 0.693147180559945f + series;
}

/* A row's maximum m and Z = sum of exp(l - m); lanes past the row count as -inf and 0. */
static inline void softmax_terms(const float *l, u32 v, float *max, float *z) {
  const v128_t minus_inf = splat(-__builtin_inff());
  v128_t vmax = minus_inf;
  for (u32 j = 0; j < v; j += 4) {
    const u32 lanes = v - j < 4 ? v - j : 4;
    vmax = wasm_f32x4_pmax(vmax, wasm_v128_bitselect(load_lanes(l + j, lanes), minus_inf, lane_mask(lanes)));
  }
  const float m = hmax(vmax);
  const v128_t vm = splat(m);
  v128_t acc = splat(0.0f);
  for (u32 j = 0; j < v; j += 4) {
    const u32 lanes = v - j < 4 ? v - j : 4;
    acc = wasm_f32x4_add(acc, wasm_v128_and(exp4(wasm_f32x4_sub(load_lanes(l + j, lanes), vm)), lane_mask(lanes)));
  }
  *max = m;
  *z = hsum(acc);
}

/* GrpoTokenLogProbs: out[r] = l[t] - m - log Z for each row's target t. */
__attribute__((export_name("token_logprobs")))
void token_logprobs(const float *logits, const float *targets, float *out, u32 rows, u32 v) {
  for (u32 r = 0; r < rows; r++) {
    const float *l = logits + r * v;
    float m, z;
    softmax_terms(l, v, &m, &z);
    out[r] = l[(u32)targets[r]] - m - log_positive(z);
  }
}

/* GrpoTokenLogProbsGrad: out[r][j] = dy[r] * ((j == t) - exp(l[j] - m) / Z). */
__attribute__((export_name("token_logprobs_grad")))
void token_logprobs_grad(const float *logits, const float *targets, const float *dy, float *out, u32 rows, u32 v) {
  for (u32 r = 0; r < rows; r++) {
    const float *l = logits + r * v;
    float *o = out + r * v;
    float m, z;
    softmax_terms(l, v, &m, &z);
    const v128_t vm = splat(m), scale = splat(-dy[r] / z);
    for (u32 j = 0; j < v; j += 4) {
      const u32 lanes = v - j < 4 ? v - j : 4;
      store_lanes(o + j, wasm_f32x4_mul(exp4(wasm_f32x4_sub(load_lanes(l + j, lanes), vm)), scale), lanes);
    }
    o[(u32)targets[r]] += dy[r];
  }
}

/* GrpoTokenEntropy: out[r] = log Z - sum of exp(l - m) (l - m) / Z. */
__attribute__((export_name("token_entropy")))
void token_entropy(const float *logits, float *out, u32 rows, u32 v) {
  for (u32 r = 0; r < rows; r++) {
    const float *l = logits + r * v;
    float m, z;
    softmax_terms(l, v, &m, &z);
    const v128_t vm = splat(m);
    v128_t acc = splat(0.0f);
    for (u32 j = 0; j < v; j += 4) {
      const u32 lanes = v - j < 4 ? v - j : 4;
      const v128_t x = wasm_f32x4_sub(load_lanes(l + j, lanes), vm);
      acc = wasm_f32x4_add(acc, wasm_v128_and(wasm_f32x4_mul(exp4(x), x), lane_mask(lanes)));
    }
    out[r] = log_positive(z) - hsum(acc) / z;
  }
}
