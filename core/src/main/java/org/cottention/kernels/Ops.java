package org.cottention.kernels;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Elementwise kernels a transformer block needs (residual sums, bias add and its backward, scaling, copies), plus the
 * cheap argument checks every kernel in this package calls at entry. All arrays are flat float[] with an offset;
 * outputs may alias inputs exactly (same array, same offset) — never partially.
 */
public final class Ops {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Below this many elements a kernel runs on the calling thread: fan-out costs more than it saves. */
    static final int PARALLEL_MIN = 1 << 16;

    private Ops() {}

    // ---------------------------------------------------------------------------------------------- argument checks

    /** Throws unless {@code a[off .. off+len)} lies inside {@code a}. */
    static void requireRange(String name, float[] a, int off, long len) {
        if (a == null) throw new IllegalArgumentException(name + " is null");
        if (off < 0 || len < 0 || off + len > a.length)
            throw new IllegalArgumentException(name + ": need " + len + " elements from offset " + off
                    + " but the array has length " + a.length);
    }

    static void requireRange(String name, int[] a, int off, long len) {
        if (a == null) throw new IllegalArgumentException(name + " is null");
        if (off < 0 || len < 0 || off + len > a.length)
            throw new IllegalArgumentException(name + ": need " + len + " elements from offset " + off
                    + " but the array has length " + a.length);
    }

    static void requireRange(String name, double[] a, int off, long len) {
        if (a == null) throw new IllegalArgumentException(name + " is null");
        if (off < 0 || len < 0 || off + len > a.length)
            throw new IllegalArgumentException(name + ": need " + len + " elements from offset " + off
                    + " but the array has length " + a.length);
    }

    static void requireNonNegative(String name, int v) {
        if (v < 0) throw new IllegalArgumentException(name + " must be >= 0, got " + v);
    }

    static void requirePositive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    /** Rows per parallel task so that each task touches at least {@link #PARALLEL_MIN} elements. */
    static int rowGrain(int cols) {
        return Math.max(1, PARALLEL_MIN / Math.max(1, cols));
    }

    /** Elementwise body over [lo, hi). */
    private interface Span {
        void run(int lo, int hi);
    }

    /** Runs an elementwise body, split over threads when n is large. Each element is independent: bit-identical. */
    private static void elementwise(int n, Span body) {
        if (n < 2 * PARALLEL_MIN) body.run(0, n);
        else Parallel.forRange(n, PARALLEL_MIN, body::run);
    }

    // ---------------------------------------------------------------------------------------------- elementwise

    /** out = a + b, n elements. */
    public static void add(float[] out, int outOff, float[] a, int aOff, float[] b, int bOff, int n) {
        requireNonNegative("n", n);
        requireRange("out", out, outOff, n);
        requireRange("a", a, aOff, n);
        requireRange("b", b, bOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length())
                FloatVector.fromArray(S, a, aOff + i).add(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
            for (; i < hi; i++) out[outOff + i] = a[aOff + i] + b[bOff + i];
        });
    }

    /** out = a + b + c, n elements (summed left to right: (a + b) + c). The GPT-J parallel block's residual. */
    public static void add3(float[] out, int outOff, float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int n) {
        requireNonNegative("n", n);
        requireRange("out", out, outOff, n);
        requireRange("a", a, aOff, n);
        requireRange("b", b, bOff, n);
        requireRange("c", c, cOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length())
                FloatVector.fromArray(S, a, aOff + i).add(FloatVector.fromArray(S, b, bOff + i))
                        .add(FloatVector.fromArray(S, c, cOff + i)).intoArray(out, outOff + i);
            for (; i < hi; i++) out[outOff + i] = a[aOff + i] + b[bOff + i] + c[cOff + i];
        });
    }

    /** y += x, n elements (residual add; gradient accumulation). */
    public static void addInPlace(float[] y, int yOff, float[] x, int xOff, int n) {
        add(y, yOff, y, yOff, x, xOff, n);
    }

    /** y += alpha * x, n elements. Computed as fma(alpha, x, y), the same in vector body and scalar tail. */
    public static void axpy(float[] y, int yOff, float alpha, float[] x, int xOff, int n) {
        requireNonNegative("n", n);
        requireRange("y", y, yOff, n);
        requireRange("x", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            FloatVector va = FloatVector.broadcast(S, alpha);
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length())
                FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
            for (; i < hi; i++) y[yOff + i] = Math.fma(x[xOff + i], alpha, y[yOff + i]);
        });
    }

    /** out = alpha * x, n elements (out may be x: in place). */
    public static void scale(float[] out, int outOff, float[] x, int xOff, int n, float alpha) {
        requireNonNegative("n", n);
        requireRange("out", out, outOff, n);
        requireRange("x", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length())
                FloatVector.fromArray(S, x, xOff + i).mul(alpha).intoArray(out, outOff + i);
            for (; i < hi; i++) out[outOff + i] = x[xOff + i] * alpha;
        });
    }

    /** x *= alpha, n elements. */
    public static void scaleInPlace(float[] x, int xOff, int n, float alpha) {
        scale(x, xOff, x, xOff, n, alpha);
    }

    /** out = a * b (elementwise product), n elements. */
    public static void mul(float[] out, int outOff, float[] a, int aOff, float[] b, int bOff, int n) {
        requireNonNegative("n", n);
        requireRange("out", out, outOff, n);
        requireRange("a", a, aOff, n);
        requireRange("b", b, bOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length())
                FloatVector.fromArray(S, a, aOff + i).mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
            for (; i < hi; i++) out[outOff + i] = a[aOff + i] * b[bOff + i];
        });
    }

    /** dst = src, n elements (overlapping ranges allowed, as System.arraycopy). */
    public static void copy(float[] dst, int dstOff, float[] src, int srcOff, int n) {
        requireNonNegative("n", n);
        requireRange("dst", dst, dstOff, n);
        requireRange("src", src, srcOff, n);
        System.arraycopy(src, srcOff, dst, dstOff, n);
    }

    /** x[off .. off+n) = value. */
    public static void fill(float[] x, int off, int n, float value) {
        requireNonNegative("n", n);
        requireRange("x", x, off, n);
        java.util.Arrays.fill(x, off, off + n, value);
    }

    // ---------------------------------------------------------------------------------------------- rows x bias

    /** out[i, :] += bias[:] for out [n, c] (row stride c). */
    public static void biasAdd(float[] out, int outOff, float[] bias, int biasOff, int n, int c) {
        requireNonNegative("n", n);
        requireNonNegative("c", c);
        requireRange("out", out, outOff, (long) n * c);
        requireRange("bias", bias, biasOff, c);
        if (n == 0 || c == 0) return;
        Parallel.forRange(n, (long) n * c < 2 * PARALLEL_MIN ? n : rowGrain(c), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int o = outOff + r * c, j = 0;
                for (int up = S.loopBound(c); j < up; j += S.length())
                    FloatVector.fromArray(S, out, o + j).add(FloatVector.fromArray(S, bias, biasOff + j)).intoArray(out, o + j);
                for (; j < c; j++) out[o + j] += bias[biasOff + j];
            }
        });
    }

    /**
     * dbias[:] += sum over rows of dout[i, :], dout [n, c]. Parallel over column ranges, each column summed over rows
     * 0..n-1 in order, so the result is bit-identical for every thread count.
     */
    public static void biasBackward(float[] dbias, int dbiasOff, float[] dout, int doutOff, int n, int c) {
        requireNonNegative("n", n);
        requireNonNegative("c", c);
        requireRange("dout", dout, doutOff, (long) n * c);
        requireRange("dbias", dbias, dbiasOff, c);
        if (n == 0 || c == 0) return;
        columnRanges(n, c, (lo, hi) -> {
            for (int r = 0; r < n; r++) {
                int o = doutOff + r * c + lo, d = dbiasOff + lo, w = hi - lo, j = 0;
                for (int up = S.loopBound(w); j < up; j += S.length())
                    FloatVector.fromArray(S, dbias, d + j).add(FloatVector.fromArray(S, dout, o + j)).intoArray(dbias, d + j);
                for (; j < w; j++) dbias[d + j] += dout[o + j];
            }
        });
    }

    /**
     * Splits columns [0, c) of an [n, c] reduction into ranges (multiples of the vector length except the last) for
     * the threads; used by column-sum backward passes so each column's sum order never depends on the thread count.
     */
    static void columnRanges(int n, int c, Parallel.RangeBody body) {
        int lanes = S.length();
        int blocks = (c + lanes - 1) / lanes;
        boolean big = (long) n * c >= 2L * PARALLEL_MIN && blocks > 1;
        if (!big) {
            body.run(0, c);
            return;
        }
        Parallel.forRange(blocks, 1, (blo, bhi) -> body.run(blo * lanes, Math.min(c, bhi * lanes)));
    }

    // ---------------------------------------------------------------------------------------------- vector exp

    // Public so other kernels (softmax) can share it. The Vector API's EXP is not intrinsified on every JDK build (it can fall back to one Math.exp per lane, ~5 ns
    // per element), so the kernels use this one: exp(x) = 2^k * e^r with k = round(x / ln 2) and
    // r = x - k ln2 (ln2 split in two so k*LN2_HI is exact), |r| <= ln2/2, e^r by its Taylor polynomial to degree 7
    // (truncation error < 1e-8 relative); within a few float ulps of exp(x).
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693145751953125f;         // 12 significant bits: k * LN2_HI is exact
    private static final float LN2_LO = 1.428606820309417232e-6f;   // ln 2 - LN2_HI
    public static final float EXP_MIN = -87.33654f;                        // below: result 0 (e^x < smallest normal)
    static final float EXP_MAX = 88.0f;                             // above: clamped (callers never go there)

    /**
     * exp(x) per lane for x <= 88 (larger x is clamped to 88); lanes below -87.34 give 0 (not the subnormal
     * exp(x)); NaN lanes give NaN.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector k = roundToInt(xc.mul(LOG2E));
        FloatVector r = k.mul(-LN2_HI).add(xc);
        r = k.mul(-LN2_LO).add(r);
        FloatVector p = r.mul(1f / 5040f).add(1f / 720f);
        p = p.fma(r, FloatVector.broadcast(S, 1f / 120f));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 24f));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 6f));
        p = p.fma(r, FloatVector.broadcast(S, 0.5f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        // 2^k as float bits: (k + 127) << 23; k is in [-126, 127] after the clamps.
        IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0))
                .add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector scale = bits.reinterpretAsFloats();
        return p.mul(scale).blend(0f, x.compare(VectorOperators.LT, EXP_MIN));
    }

    /** Round to nearest integer (as float) by the 1.5 * 2^23 trick; valid for |v| < 2^22. */
    private static FloatVector roundToInt(FloatVector v) {
        final float magic = 12582912f; // 1.5 * 2^23
        return v.add(magic).sub(magic);
    }

    /** Scalar twin of {@link #exp(FloatVector)}, for loop tails: the same operations in the same order. */
    public static float exp(float x) {
        float xc = Math.min(Math.max(x, EXP_MIN), EXP_MAX);
        float k = (xc * LOG2E + 12582912f) - 12582912f;
        float r = k * -LN2_HI + xc;
        r = k * -LN2_LO + r;
        float p = r * (1f / 5040f) + (1f / 720f);
        p = Math.fma(p, r, 1f / 120f);
        p = Math.fma(p, r, 1f / 24f);
        p = Math.fma(p, r, 1f / 6f);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        float scale = Float.intBitsToFloat(((int) k + 127) << 23);
        return x < EXP_MIN ? 0f : p * scale;
    }

    // The same scheme in double (used where a float result must be right to the last bit or nearly: exact GELU).
    // ln 2 split as in fdlibm (LN2_HI_D has 32 trailing zero bits, so k * LN2_HI_D is exact); Taylor to degree 12
    // on |r| <= ln2/2 leaves a truncation error below 2e-16 relative.
    private static final double LOG2E_D = 1.4426950408889634;
    private static final double LN2_HI_D = 6.93147180369123816490e-01;
    private static final double LN2_LO_D = 1.90821492927058770002e-10;
    private static final double EXP_MIN_D = -708.0, EXP_MAX_D = 709.0;
    private static final double ROUND_D = 6755399441055744.0; // 1.5 * 2^52
    private static final double[] TAYLOR_D = new double[13];
    static {
        double f = 1;
        for (int i = 0; i <= 12; i++) {
            if (i > 0) f *= i;
            TAYLOR_D[i] = 1.0 / f;
        }
    }

    /** exp(x) per lane, relative error a few double ulps; lanes below -708 give 0, above 709 are clamped. */
    public static DoubleVector exp(DoubleVector x) {
        var sp = x.species();
        DoubleVector xc = x.max(EXP_MIN_D).min(EXP_MAX_D);
        DoubleVector k = xc.mul(LOG2E_D).add(ROUND_D).sub(ROUND_D);
        DoubleVector r = k.mul(-LN2_HI_D).add(xc);
        r = k.mul(-LN2_LO_D).add(r);
        DoubleVector p = DoubleVector.broadcast(sp, TAYLOR_D[12]);
        for (int i = 11; i >= 0; i--) p = p.fma(r, DoubleVector.broadcast(sp, TAYLOR_D[i]));
        LongVector bits = ((LongVector) k.convert(VectorOperators.D2L, 0)).add(1023).lanewise(VectorOperators.LSHL, 52);
        return p.mul(bits.reinterpretAsDoubles()).blend(0.0, x.compare(VectorOperators.LT, EXP_MIN_D));
    }

    /** Scalar twin of {@link #exp(DoubleVector)}: the same operations in the same order, bit for bit. */
    public static double exp(double x) {
        double xc = Math.min(Math.max(x, EXP_MIN_D), EXP_MAX_D);
        double k = (xc * LOG2E_D + ROUND_D) - ROUND_D;
        double r = k * -LN2_HI_D + xc;
        r = k * -LN2_LO_D + r;
        double p = TAYLOR_D[12];
        for (int i = 11; i >= 0; i--) p = Math.fma(p, r, TAYLOR_D[i]);
        return x < EXP_MIN_D ? 0.0 : p * Double.longBitsToDouble(((long) k + 1023) << 52);
    }

    /**
     * Sum of squares of n elements (for gradient norms). Fixed blocks of {@code SUMSQ_BLOCK} elements, each summed
     * in float vector lanes and widened to double, block sums added in block order: the result does not depend on
     * the thread count.
     */
    public static double sumOfSquares(float[] x, int off, int n) {
        requireNonNegative("n", n);
        requireRange("x", x, off, n);
        int blocks = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
        double[] partial = new double[blocks];
        Parallel.forRange(blocks, n < 2 * PARALLEL_MIN ? Math.max(1, blocks) : PARALLEL_MIN / SUMSQ_BLOCK, (lo, hi) -> {
            for (int b = lo; b < hi; b++) {
                int start = off + b * SUMSQ_BLOCK, len = Math.min(SUMSQ_BLOCK, n - b * SUMSQ_BLOCK);
                FloatVector acc = FloatVector.zero(S);
                int j = 0;
                for (int up = S.loopBound(len); j < up; j += S.length()) {
                    FloatVector v = FloatVector.fromArray(S, x, start + j);
                    acc = v.fma(v, acc);
                }
                double sum = Ops.sumLanes(acc);
                for (; j < len; j++) sum += (double) x[start + j] * x[start + j];
                partial[b] = sum;
            }
        });
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }

    private static final int SUMSQ_BLOCK = 1024;

    /**
     * Sum of a vector's lanes by a fixed pairwise tree: lane i is added to lane i xor n/2, then i xor n/4, and so on.
     * Not {@code reduceLanes(ADD)}: its floating-point order is unspecified and differs between interpreted and
     * compiled code, which breaks bit-identical results (across thread counts, and between a run and its
     * resumption). Not {@code toArray()} either: that allocates on every call (a row norm per token adds up to tens
     * of megabytes per attention call).
     */
    public static float sumLanes(FloatVector v) {
        if (v.species() != S) {
            float s = 0f;
            for (float x : v.toArray()) s += x;
            return s;
        }
        int n = S.length(); // a constant: the unused steps fold away
        if (n > 8) v = v.add(v.rearrange(F8));
        if (n > 4) v = v.add(v.rearrange(F4));
        if (n > 2) v = v.add(v.rearrange(F2));
        if (n > 1) v = v.add(v.rearrange(F1));
        if (n > 16) throw new IllegalStateException("vectors of " + n + " floats are not supported");
        return v.lane(0);
    }

    /**
     * {@link #sumLanes(FloatVector)} of the preferred species' lanes stored at a[off ..] (overwritten): the same
     * butterfly in scalar code, so the same bits. For kernels too big for C2 to inline the vector form into, where
     * handing it the accumulator would box the vector on the heap at every call.
     */
    public static float sumLanes(float[] a, int off) {
        for (int h = S.length() / 2; h >= 1; h /= 2)
            for (int i = 0; i < h; i++) a[off + i] += a[off + i + h]; // lane i + lane (i xor h), for the lanes still needed
        return a[off];
    }

    /** {@link #sumLanes(FloatVector)} for doubles. */
    public static double sumLanes(DoubleVector v) {
        if (v.species() != DS) {
            double s = 0;
            for (double x : v.toArray()) s += x;
            return s;
        }
        int n = DS.length();
        if (n > 4) v = v.add(v.rearrange(D4));
        if (n > 2) v = v.add(v.rearrange(D2));
        if (n > 1) v = v.add(v.rearrange(D1));
        if (n > 8) throw new IllegalStateException("vectors of " + n + " doubles are not supported");
        return v.lane(0);
    }

    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** Lane i -> lane i xor x (identity where x is not below the lane count). */
    private static final VectorShuffle<Float> F8 = xor(S, 8), F4 = xor(S, 4), F2 = xor(S, 2), F1 = xor(S, 1);
    private static final VectorShuffle<Double> D4 = xor(DS, 4), D2 = xor(DS, 2), D1 = xor(DS, 1);

    private static <E> VectorShuffle<E> xor(VectorSpecies<E> species, int x) {
        return VectorShuffle.fromOp(species, i -> x < species.length() ? i ^ x : i);
    }
}
