package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on row-major float arrays, BLAS sgemm semantics:
 * {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}, where op(X) is X or its transpose.
 * Each matrix is a strided view: element (r, c) of a stored matrix X lives at {@code x[xOff + r * ldx + c]}.
 * With transA the stored A is [k, m]; with transB the stored B is [n, k].
 * Runs on {@link Parallel}'s threads; from inside a parallel region it runs on the calling thread only.
 */
public final class Gemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Gemm() {}

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        check(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        if (m == 0 || n == 0) return;
        Parallel.forRange(m, Math.max(1, 32768 / Math.max(1, n * Math.max(1, k) / 64 + 1)), (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int ci = cOff + i * ldc;
                if (beta == 0f) java.util.Arrays.fill(c, ci, ci + n, 0f);
                else if (beta != 1f) for (int j = 0; j < n; j++) c[ci + j] *= beta;
                if (k == 0 || alpha == 0f) continue;
                if (!transB) {
                    for (int p = 0; p < k; p++) {
                        float aip = alpha * (transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]);
                        if (aip == 0f) continue;
                        axpy(n, aip, b, bOff + p * ldb, c, ci);
                    }
                } else {
                    for (int j = 0; j < n; j++) {
                        float s = transA ? dotStridedA(k, a, aOff + i, lda, b, bOff + j * ldb)
                                         : dot(k, a, aOff + i * lda, b, bOff + j * ldb);
                        c[ci + j] += alpha * s;
                    }
                }
            }
        });
    }

    /** C = A * B for contiguous row-major A[m,k], B[k,n], C[m,n]. */
    public static void matmul(float[] a, float[] b, float[] c, int m, int n, int k) {
        sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
    }

    private static void axpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff) {
        int j = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (int up = S.loopBound(n); j < up; j += S.length()) {
            FloatVector.fromArray(S, x, xOff + j).fma(va, FloatVector.fromArray(S, y, yOff + j)).intoArray(y, yOff + j);
        }
        for (; j < n; j++) y[yOff + j] += alpha * x[xOff + j];
    }

    private static float dot(int n, float[] x, int xOff, float[] y, int yOff) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S);
        for (int up = S.loopBound(n); j < up; j += S.length()) {
            acc = FloatVector.fromArray(S, x, xOff + j).fma(FloatVector.fromArray(S, y, yOff + j), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) s += x[xOff + j] * y[yOff + j];
        return s;
    }

    private static float dotStridedA(int n, float[] a, int aOff, int lda, float[] y, int yOff) {
        float s = 0f;
        for (int p = 0; p < n; p++) s += a[aOff + p * lda] * y[yOff + p];
        return s;
    }

    static void check(boolean transA, boolean transB, int m, int n, int k,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("gemm: negative size m=" + m + " n=" + n + " k=" + k);
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        view("A", a, aOff, lda, aRows, aCols);
        view("B", b, bOff, ldb, bRows, bCols);
        view("C", c, cOff, ldc, m, n);
    }

    private static void view(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows == 0 || cols == 0) return;
        if (x == null) throw new IllegalArgumentException("gemm: " + name + " is null");
        if (ld < cols) throw new IllegalArgumentException("gemm: leading dimension of " + name + " is " + ld + " < its " + cols + " columns");
        long last = (long) off + (long) (rows - 1) * ld + cols;
        if (off < 0 || last > x.length)
            throw new IllegalArgumentException("gemm: " + name + " view [" + rows + "x" + cols + ", ld " + ld + ", offset " + off
                    + "] needs " + last + " elements but the array has " + x.length);
    }
}
