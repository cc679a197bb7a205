package org.cottention.model;

import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The gate projection against the general GEMM, on shapes off the vector width and the four-head groups. */
class GateProjectionTest {
    @Test
    void matchesGemmForwardAndBackwardAndIsThreadIndependent() {
        for (int[] s : new int[][]{{1, 8, 1}, {7, 13, 3}, {300, 64, 8}, {513, 100, 5}}) {
            int n = s[0], E = s[1], H = s[2], ldx = E + 3, lddx = E + 1;
            Random r = new Random(n + E + H);
            float[] x = rand(r, n * ldx), w = rand(r, H * E + H), d = rand(r, n * H), dx0 = rand(r, n * lddx);
            float[] logit = new float[n * H], ref = new float[n * H];
            GateProjection.forward(x, 0, ldx, w, 0, H * E, logit, n, E, H);
            Gemm.sgemm(false, true, n, H, E, 1f, x, 0, ldx, w, 0, E, 0f, ref, 0, H);
            for (int i = 0; i < n; i++) for (int h = 0; h < H; h++) ref[i * H + h] += w[H * E + h];
            assertClose(ref, logit, 1e-5f);
            float[] dx = dx0.clone(), g = new float[H * E + H], dxRef = dx0.clone(), gRef = new float[H * E + H];
            GateProjection.backward(x, 0, ldx, w, 0, d, dx, 0, lddx, g, 0, H * E, n, E, H);
            Gemm.sgemm(false, false, n, E, H, 1f, d, 0, H, w, 0, E, 1f, dxRef, 0, lddx);
            Gemm.sgemm(true, false, H, E, n, 1f, d, 0, H, x, 0, ldx, 1f, gRef, 0, E);
            for (int i = 0; i < n; i++) for (int h = 0; h < H; h++) gRef[H * E + h] += d[i * H + h];
            assertClose(dxRef, dx, 1e-5f);
            assertClose(gRef, g, 1e-4f);
            // the same rows, the same arithmetic, lanes summed in a fixed order: the same bits on one thread and
            // on all, and in every round (the first rounds run interpreted, later ones compiled by C1, then C2)
            int t = Parallel.threads();
            try {
                for (int round = 0; round < 40; round++) {
                    Parallel.setThreads(round % 2 == 0 ? 1 : t);
                    float[] dx1 = dx0.clone(), g1 = new float[H * E + H], logit1 = new float[n * H];
                    GateProjection.forward(x, 0, ldx, w, 0, H * E, logit1, n, E, H);
                    GateProjection.backward(x, 0, ldx, w, 0, d, dx1, 0, lddx, g1, 0, H * E, n, E, H);
                    assertArrayEquals(logit, logit1, "round " + round);
                    assertArrayEquals(dx, dx1, "round " + round);
                    assertArrayEquals(g, g1, "round " + round);
                }
            } finally {
                Parallel.setThreads(t);
            }
        }
    }

    private static void assertClose(float[] want, float[] got, float tol) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), "index " + i);
    }

    private static float[] rand(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
