package org.cottention.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class GemmTest {
    private static final int SAVED_THREADS = Parallel.threads();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(SAVED_THREADS);
    }

    /** A strided problem: stored A, B, C with leading dimensions larger than needed, nonzero offsets, sentinels around. */
    private record Problem(boolean tA, boolean tB, int m, int n, int k, float[] a, int aOff, int lda,
                           float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {
        static Problem random(boolean tA, boolean tB, int m, int n, int k, int pad, long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            int aRows = tA ? k : m, aCols = tA ? m : k, bRows = tB ? n : k, bCols = tB ? k : n;
            int lda = aCols + pad, ldb = bCols + 2 * pad, ldc = n + pad;
            int aOff = pad * 3, bOff = pad * 5 + 1, cOff = pad * 7;
            float[] a = fill(r, aOff + aRows * lda + pad), b = fill(r, bOff + bRows * ldb + pad), c = fill(r, cOff + m * ldc + pad);
            return new Problem(tA, tB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        }

        void run(float alpha, float beta, float[] cOut) {
            Gemm.sgemm(tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, cOut, cOff, ldc);
        }

        float a(int i, int p) { return tA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]; }

        float b(int p, int j) { return tB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]; }

        /** Checks cOut against a double reference computed from c (the input C); entries outside the view unchanged. */
        void verify(float alpha, float beta, float[] cOut, String what) {
            boolean[] inView = new boolean[c.length];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    int q = cOff + i * ldc + j;
                    inView[q] = true;
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++) {
                        double t = (double) a(i, p) * b(p, j);
                        s += t;
                        abs += Math.abs(t);
                    }
                    double cin = beta == 0f ? 0 : (double) beta * c[q];
                    double want = alpha * s + cin;
                    double tol = (k + 4) * 1.2e-7 * (Math.abs(alpha) * abs + Math.abs(cin)) + 1e-30;
                    if (!(Math.abs(cOut[q] - want) <= tol))
                        fail(what + ": C[" + i + "," + j + "] = " + cOut[q] + ", want " + want + " (tol " + tol + ")");
                }
            }
            for (int q = 0; q < c.length; q++)
                if (!inView[q] && Float.floatToRawIntBits(cOut[q]) != Float.floatToRawIntBits(c[q]))
                    fail(what + ": element " + q + " outside the C view was changed");
        }
    }

    private static float[] fill(SplittableRandom r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) (r.nextDouble() * 2 - 1);
        return x;
    }

    private static final int[][] SHAPES = {
        {1, 1, 1}, {1, 131, 67}, {1, 33, 700}, {67, 1, 29}, {300, 1, 70}, {67, 131, 29}, {7, 33, 5}, {6, 32, 16}, {5, 31, 17},
        {13, 40, 530}, {64, 64, 64}, {100, 70, 1100}, {2, 3, 1}, {150, 97, 3}
    };
    private static final float[][] ALPHA_BETA = {{1f, 0f}, {0.5f, 2f}, {-1.5f, 1f}, {2f, -0.25f}};

    @Test
    void matchesDoubleReferenceOnAwkwardShapesAllTransposesAndStrides() {
        long seed = 1;
        for (int[] s : SHAPES) {
            for (int t = 0; t < 4; t++) {
                boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
                for (int pad : new int[] {0, 3}) {
                    Problem pr = Problem.random(tA, tB, s[0], s[1], s[2], pad, seed++);
                    for (float[] ab : ALPHA_BETA) {
                        float[] out = pr.c.clone();
                        pr.run(ab[0], ab[1], out);
                        pr.verify(ab[0], ab[1], out, String.format("m=%d n=%d k=%d tA=%b tB=%b pad=%d alpha=%s beta=%s",
                                s[0], s[1], s[2], tA, tB, pad, ab[0], ab[1]));
                    }
                }
            }
        }
    }

    @Test
    void betaZeroOverwritesNaNInC() {
        for (int[] s : new int[][] {{67, 131, 29}, {1, 50, 40}, {9, 9, 600}, {4, 5, 0}}) {
            for (int t = 0; t < 4; t++) {
                Problem pr = Problem.random((t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 2, 7 + t);
                float[] out = pr.c.clone();
                for (int i = 0; i < pr.m; i++) Arrays.fill(out, pr.cOff + i * pr.ldc, pr.cOff + i * pr.ldc + pr.n, Float.NaN);
                pr.run(1.25f, 0f, out);
                pr.verify(1.25f, 0f, out, "NaN in C, beta=0, m=" + s[0] + " n=" + s[1] + " k=" + s[2]);
            }
        }
    }

    @Test
    void kZeroAndAlphaZeroOnlyScaleC() {
        Problem pr = Problem.random(false, true, 5, 7, 0, 1, 3);
        float[] out = pr.c.clone();
        pr.run(3f, 0.5f, out);
        pr.verify(3f, 0.5f, out, "k=0");
        Problem q = Problem.random(true, false, 5, 7, 9, 1, 4);
        float[] out2 = q.c.clone();
        q.run(0f, -2f, out2);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 7; j++) assertEquals(-2f * q.c[q.cOff + i * q.ldc + j], out2[q.cOff + i * q.ldc + j]);
    }

    @Test
    void emptyShapesAreNoOps() {
        float[] c = {1f, 2f};
        Gemm.sgemm(false, false, 0, 2, 3, 1f, new float[0], 0, 3, new float[6], 0, 2, 0f, c, 0, 2);
        Gemm.sgemm(false, false, 1, 0, 3, 1f, new float[3], 0, 3, new float[0], 0, 0, 0f, c, 0, 0);
        assertArrayEquals(new float[] {1f, 2f}, c);
    }

    @Test
    void matmulIsPlainProduct() {
        float[] a = {1, 2, 3, 4, 5, 6};          // [2, 3]
        float[] b = {7, 8, 9, 10, 11, 12};       // [3, 2]
        float[] c = {Float.NaN, 0, 0, 0};
        Gemm.matmul(a, b, c, 2, 2, 3);
        assertArrayEquals(new float[] {58, 64, 139, 154}, c);
    }

    @Test
    void multiThreadedIsBitIdenticalToSingleThreaded() {
        int[][] shapes = {{150, 260, 300}, {300, 90, 200}, {1, 3000, 700}, {1, 5000, 300}, {97, 1000, 40}, {3001, 1, 500}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                Problem pr = Problem.random((t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1, 11 + t);
                Parallel.setThreads(1);
                float[] one = pr.c.clone();
                pr.run(0.75f, 0.5f, one);
                for (int threads : new int[] {2, 3}) {
                    Parallel.setThreads(threads);
                    float[] many = pr.c.clone();
                    pr.run(0.75f, 0.5f, many);
                    assertArrayEquals(one, many, "threads=" + threads + " m=" + s[0] + " n=" + s[1] + " k=" + s[2] + " t=" + t);
                }
                if (t == 0) pr.verify(0.75f, 0.5f, one, "large m=" + s[0] + " n=" + s[1] + " k=" + s[2]);
            }
        }
    }

    /**
     * Batched decoding's X[m,k] W^T for 2 <= m <= 16: each row of C is bit-identical to that row multiplied alone
     * (m == 1, the GEMV path), with odd n and k tails, strides, alpha/beta, 1 and 2 threads; and right (reference).
     */
    @Test
    void smallBatchRowsAreBitIdenticalToEachRowAlone() {
        int[][] nk = {{131, 67}, {33, 700}, {1, 5}, {2, 8}, {7, 3}, {1152, 384}, {97, 1537}, {8192, 384}};
        for (int threads : new int[] {1, 2}) {
            Parallel.setThreads(threads);
            for (int m : new int[] {2, 3, 4, 5, 7, 8, 11, 15, 16}) {
                for (int[] s : nk) {
                    for (float[] ab : new float[][] {{1f, 0f}, {0.5f, 2f}}) {
                        Problem pr = Problem.random(false, true, m, s[0], s[1], 3, 1000L * m + s[0] + s[1]);
                        float[] batched = pr.c.clone();
                        pr.run(ab[0], ab[1], batched);
                        String what = "threads=" + threads + " m=" + m + " n=" + s[0] + " k=" + s[1] + " beta=" + ab[1];
                        if (s[0] * s[1] < 100_000) pr.verify(ab[0], ab[1], batched, what);
                        for (int i = 0; i < m; i++) {
                            float[] alone = pr.c.clone();
                            int row = pr.cOff + i * pr.ldc;
                            Gemm.sgemm(false, true, 1, s[0], s[1], ab[0], pr.a, pr.aOff + i * pr.lda, pr.lda, pr.b, pr.bOff, pr.ldb,
                                    ab[1], alone, row, pr.ldc);
                            assertArrayEquals(Arrays.copyOfRange(alone, row, row + s[0]), Arrays.copyOfRange(batched, row, row + s[0]),
                                    what + " row " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void callsFromInsideAParallelRegionRunOnTheCallingThreadAndAgree() {
        Parallel.setThreads(2);
        int heads = 6, d = 64;
        Problem[] ps = new Problem[heads];
        float[][] outs = new float[heads][];
        for (int h = 0; h < heads; h++) {
            ps[h] = Problem.random(h % 2 == 0, h % 3 == 0, d, d, d, 0, 100 + h);
            outs[h] = ps[h].c.clone();
        }
        Parallel.forEach(heads, h -> {
            assertTrue(Parallel.inRegion());
            ps[h].run(1f, 0f, outs[h]);
        });
        for (int h = 0; h < heads; h++) {
            float[] serial = ps[h].c.clone();
            ps[h].run(1f, 0f, serial);
            assertArrayEquals(serial, outs[h], "head " + h);
        }
    }

    @Test
    void badArgumentsThrowNamingTheProblem() {
        float[] a = new float[12], b = new float[12], c = new float[12];
        assertMessage("negative size", () -> Gemm.sgemm(false, false, -1, 3, 4, 1f, a, 0, 4, b, 0, 3, 0f, c, 0, 3));
        assertMessage("negative size", () -> Gemm.sgemm(false, false, 3, 3, -4, 1f, a, 0, 4, b, 0, 3, 0f, c, 0, 3));
        assertMessage("leading dimension of A", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, a, 0, 3, b, 0, 3, 0f, c, 0, 3));
        assertMessage("leading dimension of B", () -> Gemm.sgemm(false, true, 3, 3, 4, 1f, a, 0, 4, b, 0, 3, 0f, c, 0, 3));
        assertMessage("leading dimension of C", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, a, 0, 4, b, 0, 3, 0f, c, 0, 2));
        assertMessage("A view", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, a, 1, 4, b, 0, 3, 0f, c, 0, 3));
        assertMessage("B view", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, a, 0, 4, new float[11], 0, 3, 0f, c, 0, 3));
        assertMessage("C view", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, a, 0, 4, b, 0, 3, 0f, new float[8], 0, 3));
        assertMessage("A view", () -> Gemm.sgemm(true, false, 3, 3, 4, 1f, a, -1, 3, b, 0, 3, 0f, c, 0, 3));
        assertMessage("A is null", () -> Gemm.sgemm(false, false, 3, 3, 4, 1f, null, 0, 4, b, 0, 3, 0f, c, 0, 3));
        assertMessage("C view", () -> Gemm.matmul(a, b, new float[5], 2, 3, 4));
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should mention '" + part + "'");
    }
}
