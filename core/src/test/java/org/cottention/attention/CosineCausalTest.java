package org.cottention.attention;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Function;

import static org.cottention.attention.TestData.*;
import static org.junit.jupiter.api.Assertions.*;

class CosineCausalTest {

    record Case(int B, int T, int H, int D, float[] q, float[] k, float[] v, float[] m, int[] mask) {
        static Case random(long seed, int B, int T, int H, int D, int[] mask) {
            Random r = new Random(seed);
            int n = B * T * H * D;
            float[] m = new float[H];
            for (int h = 0; h < H; h++) m[h] = (float) (r.nextGaussian() * 0.8);
            return new Case(B, T, H, D, randn(r, n), randn(r, n), randn(r, n), m, mask);
        }

        AttnShape shape() {
            return new AttnShape(B, T, H, D);
        }

        Heads view(float[] x) {
            return Heads.of(x, H * D);
        }

        float[] forward(int chunk) {
            float[] out = new float[B * T * H * D];
            CosineCausal.forward(shape(), view(q), view(k), view(v), mask, m, view(out), chunk, null, null);
            return out;
        }

        double[] reference() {
            return CosineRef.causal(B, T, H, D, toDouble(q), toDouble(k), toDouble(v), mask, toDouble(m), null, null);
        }
    }

    @Test
    void chunkedMatchesQuadraticReferenceWithPadding() {
        int B = 4, T = 150, H = 2, D = 16;
        Case c = Case.random(1, B, T, H, D, mask(B, T, 0, 1, 2, 3));
        double[] ref = c.reference();
        for (int chunk : new int[]{1, 7, 16, 64, 150, 1000}) {
            double err = maxAbsDiff(c.forward(chunk), ref);
            assertTrue(err < 2e-5, "chunk " + chunk + ": max |chunked - reference| = " + err);
        }
    }

    /**
     * The forward pipeline splits rows over threads and heads into groups by thread count, and runs one step per
     * chunk when steps are small: none of that may change a bit of the result (forward or backward), across batch
     * rows with padding and a head count that does not divide into groups.
     */
    @Test
    void threadCountsAndPipelineStepsGiveBitIdenticalResults() {
        int B = 3, T = 100, H = 5, D = 12, chunk = 16;
        Case c = Case.random(21, B, T, H, D, mask(B, T, 0, 1, 2));
        Random r = new Random(22);
        float[] g = randn(r, B * T * H * D);
        int savedThreads = org.cottention.kernels.Parallel.threads(), savedStep = CosineCausal.stepBytes;
        float[][] first = null;
        try {
            for (int threads : new int[]{1, 2, 3})
                for (int step : new int[]{1, savedStep})
                    for (boolean othersFirst : new boolean[]{false, true}) {
                        org.cottention.kernels.Parallel.setThreads(threads);
                        CosineCausal.stepBytes = step;
                        StepClaims.othersFirst = othersFirst; // every unit run by a part that does not own it
                        float[] out = new float[B * T * H * D], dq = new float[out.length], dk = new float[out.length], dv = new float[out.length];
                        float[] dm = new float[H];
                        CosineCausal.Context ctx = CosineCausal.forward(c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), c.mask, c.m,
                                c.view(out), chunk, null, null);
                        CosineCausal.backward(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm);
                        float[][] now = {out, dq, dk, dv, dm};
                        if (first == null) {
                            first = now;
                            double err = maxAbsDiff(out, c.reference());
                            assertTrue(err < 2e-5, "max |chunked - reference| = " + err);
                        } else {
                            for (int i = 0; i < now.length; i++)
                                assertArrayEquals(first[i], now[i], "output " + i + " with " + threads + " threads, step bytes " + step
                                        + (othersFirst ? ", units taken by other parts first" : ""));
                        }
                    }
        } finally {
            org.cottention.kernels.Parallel.setThreads(savedThreads);
            CosineCausal.stepBytes = savedStep;
            StepClaims.othersFirst = false;
        }
    }

    /**
     * Random shapes (odd sizes, one-token sequences, more threads than heads, chunk larger or smaller than T, one
     * chunk per pipeline step or many), random padding: forward and every gradient equal the quadratic reference form.
     */
    @Test
    void randomShapesMatchTheQuadraticFormForwardAndBackward() {
        Random r = new Random(31);
        int savedThreads = org.cottention.kernels.Parallel.threads(), savedStep = CosineCausal.stepBytes;
        try {
            for (int trial = 0; trial < 24; trial++) {
                int B = 1 + r.nextInt(3), T = 1 + r.nextInt(70), H = 1 + r.nextInt(5), D = 1 + r.nextInt(17), chunk = 1 + r.nextInt(20);
                org.cottention.kernels.Parallel.setThreads(1 + r.nextInt(3));
                CosineCausal.stepBytes = r.nextBoolean() ? 1 : savedStep;
                int[] mask = new int[B * T];
                for (int i = 0; i < mask.length; i++) mask[i] = r.nextInt(5) == 0 ? 0 : 1;
                Case c = Case.random(100 + trial, B, T, H, D, mask);
                int n = B * T * H * D;
                float[] g = randn(r, n);
                float[] o1 = new float[n], o2 = new float[n], dq1 = new float[n], dk1 = new float[n], dv1 = new float[n], dm1 = new float[H];
                float[] dq2 = new float[n], dk2 = new float[n], dv2 = new float[n], dm2 = new float[H];
                CosineCausal.Context a = CosineCausal.forward(c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), mask, c.m, c.view(o1), chunk, null, null);
                CosineCausal.backward(a, c.view(g), c.view(dq1), c.view(dk1), c.view(dv1), dm1);
                CosineQuadratic.Context b = CosineQuadratic.forward(c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), mask, c.m, c.view(o2));
                CosineQuadratic.backward(b, c.view(g), c.view(dq2), c.view(dk2), c.view(dv2), dm2);
                String what = "trial " + trial + " B=" + B + " T=" + T + " H=" + H + " D=" + D + " chunk=" + chunk;
                assertTrue(maxAbsDiff(o1, o2) < 2e-5, what + ": out differs by " + maxAbsDiff(o1, o2));
                for (float[][] pair : new float[][][]{{dq1, dq2}, {dk1, dk2}, {dv1, dv2}, {dm1, dm2}})
                    assertTrue(maxAbsDiff(pair[0], pair[1]) < 1e-4, what + ": gradient differs by " + maxAbsDiff(pair[0], pair[1]));
            }
        } finally {
            org.cottention.kernels.Parallel.setThreads(savedThreads);
            CosineCausal.stepBytes = savedStep;
        }
    }

    @Test
    void longSequenceOddHeadDim() {
        int B = 1, T = 1100, H = 2, D = 20;
        Case c = Case.random(2, B, T, H, D, mask(B, T, 3));
        double err = maxAbsDiff(c.forward(64), c.reference());
        assertTrue(err < 2e-5, "max |chunked - reference| = " + err);
    }

    @Test
    void paddedRowsGiveZeroOutput() {
        int B = 2, T = 40, H = 1, D = 8;
        Case c = Case.random(3, B, T, H, D, mask(B, T, 1, 3));
        float[] out = c.forward(16);
        for (int i = 0; i < B * T; i++)
            if (c.mask[i] == 0) for (int d = 0; d < D; d++) assertEquals(0f, out[i * D + d]);
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        int B = 2, T = 13, H = 2, D = 5;
        Case c = Case.random(4, B, T, H, D, mask(B, T, 1, 3));
        Random r = new Random(9);
        float[] g = randn(r, B * T * H * D);
        for (int chunk : new int[]{4, 64}) {
            int n = B * T * H * D;
            float[] dq = new float[n], dk = new float[n], dv = new float[n], dm = new float[H];
            float[] out = new float[n];
            CosineCausal.Context ctx = CosineCausal.forward(c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), c.mask, c.m,
                    c.view(out), chunk, null, null);
            CosineCausal.backward(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm);
            double[] q = toDouble(c.q), k = toDouble(c.k), v = toDouble(c.v), m = toDouble(c.m);
            Function<double[][], Double> loss = x -> dot(CosineRef.causal(B, T, H, D, x[0], x[1], x[2], c.mask, x[3], null, null), g);
            double[][] all = {q, k, v, m};
            float[][] grads = {dq, dk, dv, dm};
            String[] names = {"dq", "dk", "dv", "dm"};
            for (int which = 0; which < 4; which++) {
                double[] fd = Fd.gradient(loss, all, which);
                double err = maxAbsDiff(grads[which], fd), scale = Math.max(1, maxAbs(fd));
                assertTrue(err < 2e-4 * scale, "chunk " + chunk + " " + names[which] + ": max |analytic - fd| = " + err + " (scale " + scale + ")");
            }
        }
    }

    @Test
    void gradientsAccumulate() {
        int B = 1, T = 9, H = 1, D = 4;
        Case c = Case.random(5, B, T, H, D, null);
        int n = B * T * H * D;
        float[] g = randn(new Random(1), n), out = new float[n];
        float[] dq = new float[n], dk = new float[n], dv = new float[n], dm = new float[H];
        CosineCausal.Context ctx = CosineCausal.forward(c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), null, c.m, c.view(out), 4, null, null);
        CosineCausal.backward(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm);
        float[] dq1 = dq.clone(), dm1 = dm.clone();
        CosineCausal.backward(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm);
        for (int i = 0; i < n; i++) assertEquals(2 * dq1[i], dq[i], 1e-6f * Math.abs(dq1[i]) + 1e-7f);
        assertEquals(2 * dm1[0], dm[0], 1e-6f * Math.abs(dm1[0]) + 1e-7f);
    }

    @Test
    void fusedQkvLayoutMatchesPlainLayout() {
        int B = 2, T = 30, H = 3, D = 8, E = H * D;
        Case c = Case.random(6, B, T, H, D, mask(B, T, 2, 3));
        float[] qkv = new float[B * T * 3 * E];
        for (int r = 0; r < B * T; r++) {
            System.arraycopy(c.q, r * E, qkv, r * 3 * E, E);
            System.arraycopy(c.k, r * E, qkv, r * 3 * E + E, E);
            System.arraycopy(c.v, r * E, qkv, r * 3 * E + 2 * E, E);
        }
        float[] out = new float[B * T * E];
        CosineCausal.forward(c.shape(), new Heads(qkv, 0, 3 * E), new Heads(qkv, E, 3 * E), new Heads(qkv, 2 * E, 3 * E),
                c.mask, c.m, Heads.of(out, E), 8, null, null);
        assertArrayEquals(c.forward(8), out, 0f);
    }

    @Test
    void prefillHandsStateOverToRecurrentStep() {
        // 10,000+ steps: chunkwise over the whole sequence vs a chunkwise prefill of 1000 tokens + 9,500 recurrent steps
        int B = 2, T = 10_500, H = 2, D = 16, E = H * D, pre = 1000;
        int[] mask = mask(B, T, 0, 3);
        Case c = Case.random(7, B, T, H, D, mask);
        float[] full = c.forward(64);
        CosineState st = new CosineState(B, H, D);
        // prefill: the first `pre` tokens of each row
        float[] pq = new float[B * pre * E], pk = new float[B * pre * E], pv = new float[B * pre * E], po = new float[B * pre * E];
        int[] pm = new int[B * pre];
        for (int b = 0; b < B; b++) {
            System.arraycopy(c.q, b * T * E, pq, b * pre * E, pre * E);
            System.arraycopy(c.k, b * T * E, pk, b * pre * E, pre * E);
            System.arraycopy(c.v, b * T * E, pv, b * pre * E, pre * E);
            System.arraycopy(mask, b * T, pm, b * pre, pre);
        }
        CosineCausal.forward(new AttnShape(B, pre, H, D), Heads.of(pq, E), Heads.of(pk, E), Heads.of(pv, E), pm, c.m,
                Heads.of(po, E), 64, null, st);
        double err = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < pre * E; i++) err = Math.max(err, Math.abs(po[b * pre * E + i] - full[b * T * E + i]));
        float[] o = new float[B * E];
        int[] sm = new int[B];
        for (int t = pre; t < T; t++) {
            for (int b = 0; b < B; b++) sm[b] = mask[b * T + t];
            // rows of batch b for token t live at (b*T + t)*E: a [B,1,H,D] view with row stride T*E
            CosineRecurrent.step(st, new Heads(c.q, t * E, T * E), new Heads(c.k, t * E, T * E), new Heads(c.v, t * E, T * E),
                    sm, c.m, Heads.of(o, E));
            for (int b = 0; b < B; b++)
                for (int i = 0; i < E; i++) err = Math.max(err, Math.abs(o[b * E + i] - full[(b * T + t) * E + i]));
        }
        assertTrue(err < 1e-5, "max |recurrent - chunkwise| over " + T + " tokens = " + err);
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int t = 0; t < T; t++) n += mask[b * T + t];
            assertEquals(n, st.count[b]);
        }
    }

    @Test
    void carriedInStateContinuesTheSequence() {
        int B = 2, T = 90, H = 2, D = 8, E = H * D, split = 37;
        int[] mask = mask(B, T, 1, 3);
        Case c = Case.random(8, B, T, H, D, mask);
        float[] full = c.forward(16);
        CosineState st = new CosineState(B, H, D);
        float[] o1 = new float[B * split * E], o2 = new float[B * (T - split) * E];
        Case a = slice(c, 0, split), b2 = slice(c, split, T);
        CosineCausal.forward(a.shape(), a.view(a.q), a.view(a.k), a.view(a.v), a.mask, a.m, a.view(o1), 16, null, st);
        CosineCausal.forward(b2.shape(), b2.view(b2.q), b2.view(b2.k), b2.view(b2.v), b2.mask, b2.m, b2.view(o2), 16, st, st);
        double err = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < E; i++) {
                    float x = t < split ? o1[(b * split + t) * E + i] : o2[(b * (T - split) + t - split) * E + i];
                    err = Math.max(err, Math.abs(x - full[(b * T + t) * E + i]));
                }
        assertTrue(err < 1e-5, "segments vs whole: " + err);
    }

    static Case slice(Case c, int t0, int t1) {
        int E = c.H * c.D, L = t1 - t0;
        float[] q = new float[c.B * L * E], k = q.clone(), v = q.clone();
        int[] mask = new int[c.B * L];
        for (int b = 0; b < c.B; b++) {
            System.arraycopy(c.q, (b * c.T + t0) * E, q, b * L * E, L * E);
            System.arraycopy(c.k, (b * c.T + t0) * E, k, b * L * E, L * E);
            System.arraycopy(c.v, (b * c.T + t0) * E, v, b * L * E, L * E);
            System.arraycopy(c.mask, b * c.T + t0, mask, b * L, L);
        }
        return new Case(c.B, L, c.H, c.D, q, k, v, c.m, mask);
    }

    @Test
    void badShapesNameTheArgument() {
        AttnShape s = new AttnShape(1, 4, 2, 3);
        float[] ok = new float[24], small = new float[23];
        float[] m = new float[2];
        var e = assertThrows(IllegalArgumentException.class, () ->
                CosineCausal.forward(s, Heads.of(ok, 6), Heads.of(small, 6), Heads.of(ok, 6), null, m, Heads.of(ok, 6), 64, null, null));
        assertTrue(e.getMessage().startsWith("k:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                CosineCausal.forward(s, Heads.of(ok, 6), Heads.of(ok, 6), Heads.of(ok, 6), new int[3], m, Heads.of(ok, 6), 64, null, null));
        assertTrue(e.getMessage().startsWith("mask:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                CosineCausal.forward(s, Heads.of(ok, 6), Heads.of(ok, 6), Heads.of(ok, 6), null, new float[3], Heads.of(ok, 6), 64, null, null));
        assertTrue(e.getMessage().startsWith("m:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                CosineCausal.forward(s, Heads.of(ok, 6), Heads.of(ok, 6), Heads.of(ok, 6), null, m, Heads.of(ok, 6), 0, null, null));
        assertTrue(e.getMessage().startsWith("chunk"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                CosineCausal.forward(s, Heads.of(ok, 6), Heads.of(ok, 6), Heads.of(ok, 6), null, m, Heads.of(ok, 6), 64, new CosineState(1, 2, 4), null));
        assertTrue(e.getMessage().startsWith("init:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new AttnShape(1, 0, 2, 3));
        assertTrue(e.getMessage().startsWith("seq"), e.getMessage());
    }
}
