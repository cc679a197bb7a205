package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
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

    /** Sum of squares of n elements, accumulated in double (for gradient norms). Serial, so deterministic. */
    public static double sumOfSquares(float[] x, int off, int n) {
        requireNonNegative("n", n);
        requireRange("x", x, off, n);
        double s = 0;
        for (int i = 0; i < n; i++) {
            double v = x[off + i];
            s += v * v;
        }
        return s;
    }
}
