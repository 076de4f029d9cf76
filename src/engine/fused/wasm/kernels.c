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

/*
 * One tile: `rows` (1..MR, a compile-time constant at each call site, so unused accumulators
 * vanish) rows of A from `a` times one packed panel, into out (row stride ldo).
 */
static inline __attribute__((always_inline)) void tile(
    const u32 rows, const float *a, u32 ms, u32 ks, const float *panel, u32 k,
    float *out, u32 ldo, u32 cols) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const float *a0 = a, *a1 = a + ms, *a2 = a + 2 * ms, *a3 = a + 3 * ms;
  for (u32 p = 0; p < k; p++) {
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
 * out[i] (m x n, row-major, batch after batch) = A[i] x B[i] for i in [0, batch), where
 * A[i][r][p] = a[i * a_bs + r * a_ms + p * a_ks] and B[i][p][j] = b[i * b_bs + p * b_ks + j * b_js].
 * scratch holds k x round_up(n, 8) floats. Strides are in elements.
 */
__attribute__((export_name("batch_matmul")))
void batch_matmul(const float *a, const float *b, float *out, u32 batch, u32 m, u32 n, u32 k,
                  u32 a_bs, u32 a_ms, u32 a_ks, u32 b_bs, u32 b_ks, u32 b_js, float *scratch) {
  for (u32 i = 0; i < batch; i++) {
    /* A B shared by every batch (b_bs == 0) is packed once. */
    if (i == 0 || b_bs != 0) pack_b(b + i * b_bs, k, n, b_ks, b_js, scratch);
    const float *ai = a + i * a_bs;
    float *oi = out + i * m * n;
    for (u32 j0 = 0; j0 < n; j0 += NR) {
      const u32 cols = n - j0 < NR ? n - j0 : NR;
      const float *panel = scratch + j0 * k;
      u32 r = 0;
      for (; r + MR <= m; r += MR) tile(4, ai + r * a_ms, a_ms, a_ks, panel, k, oi + r * n + j0, n, cols);
      switch (m - r) {
        case 3: tile(3, ai + r * a_ms, a_ms, a_ks, panel, k, oi + r * n + j0, n, cols); break;
        case 2: tile(2, ai + r * a_ms, a_ms, a_ks, panel, k, oi + r * n + j0, n, cols); break;
        case 1: tile(1, ai + r * a_ms, a_ms, a_ks, panel, k, oi + r * n + j0, n, cols); break;
        default: break;
      }
    }
  }
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
 * below 1e-8 relative), times 2^n built in the exponent bits. Below -87.3 (2^n would leave the
 * normal range) the result is 0; above 88.7 it is infinity, like expf.
 */
static inline v128_t exp4(v128_t x) {
  const v128_t lo = splat(-87.3f);
  const v128_t xc = wasm_f32x4_pmax(wasm_f32x4_pmin(x, splat(88.7f)), lo);
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(xc, splat(1.44269504088896341f)));
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
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
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

/*
 * GrpoLayerNorm: each row of `width` floats, out = (x - mean) / sqrt(var + eps) * gain + bias,
 * mean and variance (biased) in two passes like tf.moments.
 */
__attribute__((export_name("layer_norm")))
void layer_norm(const float *x, const float *gain, const float *bias, float *out, u32 rows, u32 width, float eps) {
  const u32 body = width & ~3u;
  for (u32 row = 0; row < rows; row++) {
    const float *xr = x + row * width;
    float *o = out + row * width;
    /* Sums in order, one lane, like tfjs's Mean: a 4-lane sum would round differently, enough
       to move the model's logits by a few ulps (the normalise below is the costly part anyway). */
    float sum = 0.0f;
    for (u32 j = 0; j < width; j++) sum += xr[j];
    const float mean = sum / (float)width;
    const v128_t vmean = splat(mean);
    float sq = 0.0f;
    for (u32 j = 0; j < width; j++) sq += (xr[j] - mean) * (xr[j] - mean);
    /* A divide, not a multiply by 1 / sd: the ops' rounding, one step fewer. */
    const float sd = __builtin_sqrtf(sq / (float)width + eps);
    const v128_t vsd = splat(sd);
    for (u32 j = 0; j < body; j += 4) {
      const v128_t xhat = wasm_f32x4_div(wasm_f32x4_sub(wasm_v128_load(xr + j), vmean), vsd);
      wasm_v128_store(o + j, wasm_f32x4_add(wasm_f32x4_mul(xhat, wasm_v128_load(gain + j)), wasm_v128_load(bias + j)));
    }
    for (u32 j = body; j < width; j++) o[j] = (xr[j] - mean) / sd * gain[j] + bias[j];
  }
}

/*
 * GrpoMaskedSoftmax: scores [batch, heads, t, tk], mask [batch, 1, t, tk];
 * out = softmax(scores * scale + mask) over the last axis. out may be written before it is
 * read back (it holds the exponentials between the passes).
 */
__attribute__((export_name("masked_softmax")))
void masked_softmax(const float *scores, const float *mask, float *out, u32 batch, u32 heads, u32 t, u32 tk, float scale) {
  const u32 body = tk & ~3u, tail = tk - body;
  const v128_t vscale = splat(scale);
  for (u32 b = 0; b < batch; b++) {
    for (u32 h = 0; h < heads; h++) {
      for (u32 q = 0; q < t; q++) {
        const u32 row = (b * heads + h) * t + q;
        const float *s = scores + row * tk;
        const float *m = mask + (b * t + q) * tk;
        float *o = out + row * tk;
        /* Pass 1: the logits, written to out, and their maximum. */
        v128_t vmax = splat(-__builtin_inff());
        for (u32 j = 0; j < body; j += 4) {
          const v128_t l = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(s + j), vscale), wasm_v128_load(m + j));
          wasm_v128_store(o + j, l);
          vmax = wasm_f32x4_pmax(vmax, l);
        }
        float top = hmax(vmax);
        for (u32 j = body; j < tk; j++) {
          const float l = s[j] * scale + m[j];
          o[j] = l;
          top = l > top ? l : top;
        }
        /* Pass 2: exponentials and their sum. */
        const v128_t vtop = splat(top);
        v128_t acc = splat(0.0f);
        for (u32 j = 0; j < body; j += 4) {
          const v128_t e = exp4(wasm_f32x4_sub(wasm_v128_load(o + j), vtop));
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
        for (u32 j = body; j < tk; j++) o[j] *= wasm_f32x4_extract_lane(inv, 0);
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
