package org.cottention.attention;

import org.cottention.kernels.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Function;

import static org.cottention.attention.TestData.*;
import static org.junit.jupiter.api.Assertions.*;

/** Gated cosine attention (math doc §8): the chunkwise kernel with a decay, its recurrent step and the q/k/v convolution. */
class GatedCosineTest {

    /** A case with random q, k, v, m and a log-decay spread over several time scales (a in [-1.5, -0.001]). */
    record Case(int B, int T, int H, int D, float[] q, float[] k, float[] v, float[] m, float[] a, int[] mask) {
        static Case random(long seed, int B, int T, int H, int D, int[] mask) {
            Random r = new Random(seed);
            int n = B * T * H * D;
            float[] m = new float[H], a = new float[B * T * H];
            for (int h = 0; h < H; h++) m[h] = (float) (r.nextGaussian() * 0.8);
            for (int i = 0; i < a.length; i++) a[i] = (float) -Math.exp(-7 + 7 * r.nextDouble());
            return new Case(B, T, H, D, randn(r, n), randn(r, n), randn(r, n), m, a, mask);
        }

        AttnShape shape() {
            return new AttnShape(B, T, H, D);
        }

        Heads view(float[] x) {
            return Heads.of(x, H * D);
        }

        float[] forward(int chunk, float[] decay) {
            float[] out = new float[B * T * H * D];
            CosineCausal.forward(null, shape(), view(q), view(k), view(v), mask, m, decay, view(out), chunk, null, null);
            return out;
        }

        double[] reference() {
            return CosineRef.gated(B, T, H, D, toDouble(q), toDouble(k), toDouble(v), mask, toDouble(m), toDouble(a), null, null);
        }
    }

    @Test
    void chunkedMatchesQuadraticFormWithPaddingLeftRightInner() {
        int B = 4, T = 150, H = 3, D = 16;
        Case c = Case.random(1, B, T, H, D, mask(B, T, 0, 1, 2, 3));
        double[] ref = c.reference();
        for (int chunk : new int[]{1, 7, 16, 64, 150, 1000}) {
            double err = maxAbsDiff(c.forward(chunk, c.a), ref);
            assertTrue(err < 2e-5, "chunk " + chunk + ": max |chunked - reference| = " + err);
        }
    }

    @Test
    void longSequenceNotAMultipleOfTheChunk() {
        int B = 1, T = 1100, H = 2, D = 20;
        Case c = Case.random(2, B, T, H, D, mask(B, T, 3));
        double err = maxAbsDiff(c.forward(64, c.a), c.reference());
        assertTrue(err < 2e-5, "max |chunked - reference| = " + err);
    }

    /** Strong decays (a down to -30 per token: e^{b} underflows inside a chunk) stay finite and exact. */
    @Test
    void strongDecaysNeitherOverflowNorLoseAccuracy() {
        int B = 1, T = 200, H = 2, D = 8;
        Case c = Case.random(3, B, T, H, D, null);
        Random r = new Random(4);
        for (int i = 0; i < c.a.length; i++) c.a[i] = (float) -(r.nextDouble() * 30);
        float[] out = c.forward(64, c.a);
        for (float x : out) assertTrue(Float.isFinite(x));
        assertTrue(maxAbsDiff(out, c.reference()) < 2e-5);
    }

    /** With a = 0 the gated kernel is the plain one, bit for bit: forward and every gradient, with padding. */
    @Test
    void zeroDecayIsExactlyPlainCosine() {
        int B = 3, T = 140, H = 3, D = 16, n = B * T * H * D;
        Case c = Case.random(5, B, T, H, D, mask(B, T, 1, 2, 3));
        float[] zero = new float[B * T * H], g = randn(new Random(6), n);
        float[][] plain = run(c, null, g, 32), gated = run(c, zero, g, 32);
        String[] names = {"out", "dq", "dk", "dv", "dm"};
        for (int i = 0; i < names.length; i++) assertArrayEquals(plain[i], gated[i], 0f, names[i]);
    }

    /**
     * backwardInto writes dq, dk, dv over whatever they held (here NaN) with the bits that backward adds into zeros,
     * zeros at padding included; dm and dLogDecay are still added into. Plain and gated, 1 and 2 threads.
     */
    @Test
    void backwardIntoWritesTheBitsOfAddingIntoZeros() {
        int B = 3, T = 150, H = 3, D = 16, n = B * T * H * D;
        Case c = Case.random(21, B, T, H, D, mask(B, T, 1, 2, 3));
        float[] g = randn(new Random(22), n), decay = new float[B * T * H];
        Random r = new Random(23);
        for (int i = 0; i < decay.length; i++) decay[i] = (float) -(r.nextDouble() * 0.2);
        int saved = Parallel.threads();
        try {
            for (int threads : new int[]{1, 2})
                for (float[] a : new float[][]{null, decay}) {
                    Parallel.setThreads(threads);
                    float[][] added = run(c, a, g, 32);
                    float[] dq = new float[n], dk = new float[n], dv = new float[n], dm = {1f, 2f, 3f};
                    java.util.Arrays.fill(dq, Float.NaN);
                    java.util.Arrays.fill(dk, Float.NaN);
                    java.util.Arrays.fill(dv, Float.NaN);
                    float[] da = a == null ? null : new float[a.length];
                    CosineCausal.Context ctx = CosineCausal.forward(null, c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), c.mask, c.m, a,
                            c.view(new float[n]), 32, null, null);
                    CosineCausal.backwardInto(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm, da);
                    String at = (a == null ? "plain" : "gated") + ", " + threads + " threads";
                    assertArrayEquals(added[1], dq, "dq, " + at);
                    assertArrayEquals(added[2], dk, "dk, " + at);
                    assertArrayEquals(added[3], dv, "dv, " + at);
                    for (int h = 0; h < H; h++) assertEquals(h + 1 + added[4][h], dm[h], "dm added into, " + at);
                    if (a != null) assertArrayEquals(added[5], da, "dLogDecay, " + at);
                }
        } finally {
            Parallel.setThreads(saved);
        }
    }

    /** out, dq, dk, dv, dm (and dLogDecay when decay is given). */
    static float[][] run(Case c, float[] decay, float[] g, int chunk) {
        int n = c.B * c.T * c.H * c.D;
        float[] out = new float[n], dq = new float[n], dk = new float[n], dv = new float[n], dm = new float[c.H];
        float[] da = decay == null ? null : new float[decay.length];
        CosineCausal.Context ctx = CosineCausal.forward(null, c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), c.mask, c.m, decay,
                c.view(out), chunk, null, null);
        assertEquals(decay != null, ctx.gated());
        CosineCausal.backward(ctx, c.view(g), c.view(dq), c.view(dk), c.view(dv), dm, da);
        return da == null ? new float[][]{out, dq, dk, dv, dm} : new float[][]{out, dq, dk, dv, dm, da};
    }

    @Test
    void threadCountsAndPipelineStepsGiveBitIdenticalResults() {
        int B = 3, T = 100, H = 5, D = 12;
        Case c = Case.random(7, B, T, H, D, mask(B, T, 0, 1, 3));
        float[] g = randn(new Random(8), B * T * H * D);
        int savedThreads = Parallel.threads(), savedStep = CosineCausal.stepBytes;
        float[][] first = null;
        try {
            for (int threads : new int[]{1, 2, 3})
                for (int step : new int[]{1, savedStep})
                    for (boolean othersFirst : new boolean[]{false, true}) {
                        Parallel.setThreads(threads);
                        CosineCausal.stepBytes = step;
                        StepClaims.othersFirst = othersFirst; // every unit run by a part that does not own it
                        float[][] now = run(c, c.a, g, 16);
                        if (first == null) first = now;
                        else for (int i = 0; i < now.length; i++)
                            assertArrayEquals(first[i], now[i], "output " + i + ", " + threads + " threads" + (othersFirst ? ", others first" : ""));
                    }
        } finally {
            Parallel.setThreads(savedThreads);
            CosineCausal.stepBytes = savedStep;
            StepClaims.othersFirst = false;
        }
    }

    /** Every gradient of sum(out * g) — q, k, v, m and the log-decay — against central differences of the reference. */
    @Test
    void gradientsMatchFiniteDifferences() {
        int B = 2, T = 13, H = 2, D = 5;
        Case c = Case.random(9, B, T, H, D, mask(B, T, 1, 3));
        float[] g = randn(new Random(10), B * T * H * D);
        double[] q = toDouble(c.q), k = toDouble(c.k), v = toDouble(c.v), m = toDouble(c.m), a = toDouble(c.a);
        Function<double[][], Double> loss = x -> dot(CosineRef.gated(B, T, H, D, x[0], x[1], x[2], c.mask, x[3], x[4], null, null), g);
        double[][] all = {q, k, v, m, a};
        String[] names = {"dq", "dk", "dv", "dm", "dLogDecay"};
        double[][] fd = new double[5][];
        for (int which = 0; which < 5; which++) fd[which] = Fd.gradient(loss, all, which);
        for (int chunk : new int[]{1, 4, 64}) {
            float[][] r = run(c, c.a, g, chunk);
            for (int which = 0; which < 5; which++) {
                double err = maxAbsDiff(r[which + 1], fd[which]), scale = Math.max(1, maxAbs(fd[which]));
                assertTrue(err < 2e-4 * scale, "chunk " + chunk + " " + names[which] + ": max |analytic - fd| = " + err + " (scale " + scale + ")");
            }
        }
        // the decay at padding is not a variable: its gradient is 0 there
        float[] da = run(c, c.a, g, 4)[5];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                if (c.mask[b * T + t] == 0) for (int h = 0; h < H; h++) assertEquals(0f, da[(b * T + t) * H + h]);
    }

    /** 10,000+ steps: a chunkwise prefill of 1000 tokens handing S and z to the recurrent step vs the whole sequence. */
    @Test
    void prefillHandsStateOverToTenThousandRecurrentSteps() {
        int B = 2, T = 10_500, H = 2, D = 16, E = H * D, pre = 1000;
        int[] mask = mask(B, T, 0, 3);
        Case c = Case.random(11, B, T, H, D, mask);
        float[] full = c.forward(64, c.a);
        CosineState st = new CosineState(B, H, D);
        Case p = slice(c, 0, pre);
        float[] po = new float[B * pre * E];
        CosineCausal.forward(null, p.shape(), p.view(p.q), p.view(p.k), p.view(p.v), p.mask, p.m, p.a, p.view(po), 64, null, st);
        double err = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < pre * E; i++) err = Math.max(err, Math.abs(po[b * pre * E + i] - full[b * T * E + i]));
        float[] o = new float[B * E], a = new float[B * H];
        int[] sm = new int[B];
        for (int t = pre; t < T; t++) {
            for (int b = 0; b < B; b++) {
                sm[b] = mask[b * T + t];
                for (int h = 0; h < H; h++) a[b * H + h] = c.a[(b * T + t) * H + h];
            }
            CosineRecurrent.step(st, new Heads(c.q, t * E, T * E), new Heads(c.k, t * E, T * E), new Heads(c.v, t * E, T * E),
                    sm, c.m, a, Heads.of(o, E));
            for (int b = 0; b < B; b++)
                for (int i = 0; i < E; i++) err = Math.max(err, Math.abs(o[b * E + i] - full[(b * T + t) * E + i]));
        }
        assertTrue(err < 1e-5, "max |recurrent - chunkwise| over " + T + " tokens = " + err);
        CosineState whole = new CosineState(B, H, D);
        CosineCausal.forward(null, c.shape(), c.view(c.q), c.view(c.k), c.view(c.v), mask, c.m, c.a, c.view(new float[full.length]), 64, null, whole);
        for (int i = 0; i < st.z.length; i++) assertEquals(whole.z[i], st.z[i], 1e-9 * whole.z[i], "z");
        for (int i = 0; i < st.s.length; i++) assertEquals(whole.s[i], st.s[i], 1e-5, "S");
    }

    @Test
    void carriedInStateContinuesTheSequence() {
        int B = 2, T = 90, H = 2, D = 8, E = H * D, split = 37;
        Case c = Case.random(12, B, T, H, D, mask(B, T, 1, 3));
        float[] full = c.forward(16, c.a);
        CosineState st = new CosineState(B, H, D);
        Case x = slice(c, 0, split), y = slice(c, split, T);
        float[] o1 = new float[B * split * E], o2 = new float[B * (T - split) * E];
        CosineCausal.forward(null, x.shape(), x.view(x.q), x.view(x.k), x.view(x.v), x.mask, x.m, x.a, x.view(o1), 16, null, st);
        CosineCausal.forward(null, y.shape(), y.view(y.q), y.view(y.k), y.view(y.v), y.mask, y.m, y.a, y.view(o2), 16, st, st);
        double err = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < E; i++) {
                    float v = t < split ? o1[(b * split + t) * E + i] : o2[(b * (T - split) + t - split) * E + i];
                    err = Math.max(err, Math.abs(v - full[(b * T + t) * E + i]));
                }
        assertTrue(err < 1e-5, "segments vs whole: " + err);
    }

    static Case slice(Case c, int t0, int t1) {
        int E = c.H * c.D, L = t1 - t0;
        float[] q = new float[c.B * L * E], k = q.clone(), v = q.clone(), a = new float[c.B * L * c.H];
        int[] mask = new int[c.B * L];
        for (int b = 0; b < c.B; b++) {
            System.arraycopy(c.q, (b * c.T + t0) * E, q, b * L * E, L * E);
            System.arraycopy(c.k, (b * c.T + t0) * E, k, b * L * E, L * E);
            System.arraycopy(c.v, (b * c.T + t0) * E, v, b * L * E, L * E);
            System.arraycopy(c.a, (b * c.T + t0) * c.H, a, b * L * c.H, L * c.H);
            System.arraycopy(c.mask, b * c.T + t0, mask, b * L, L);
        }
        return new Case(c.B, L, c.H, c.D, q, k, v, c.m, a, mask);
    }

    @Test
    void positiveOrNonFiniteDecayIsRejected() {
        AttnShape s = new AttnShape(1, 4, 2, 3);
        float[] ok = new float[24], m = new float[2];
        for (float bad : new float[]{0.5f, Float.NaN, Float.NEGATIVE_INFINITY}) {
            float[] a = new float[8];
            a[3] = bad;
            var e = assertThrows(IllegalArgumentException.class, () -> CosineCausal.forward(null, s, Heads.of(ok, 6), Heads.of(ok, 6),
                    Heads.of(ok, 6), null, m, a, Heads.of(ok, 6), 64, null, null));
            assertTrue(e.getMessage().startsWith("logDecay: entry 3"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> CosineCausal.forward(null, s, Heads.of(ok, 6), Heads.of(ok, 6),
                Heads.of(ok, 6), null, m, new float[7], Heads.of(ok, 6), 64, null, null));
        assertTrue(e.getMessage().startsWith("logDecay: length"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ convolution

    @Test
    void convolutionMatchesItsFormulaAndItsGradientsTheirFiniteDifferences() {
        int B = 3, T = 11, ch = 21, w = 3;   // 21 channels: vector body and scalar tail
        int[] mask = mask(B, T, 1, 2, 3);
        Random r = new Random(13);
        float[] u = randn(r, B * T * ch), wt = randn(r, ch * w), tail = randn(r, B * (w - 1) * ch), g = randn(r, B * T * ch);
        float[] out = new float[B * T * ch], tailOut = new float[tail.length];
        QkvConv.forward(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, out, 0, ch, tailOut);
        double[] ref = CosineRef.conv(B, T, ch, w, toDouble(u), toDouble(wt), mask, toDouble(tail));
        assertTrue(maxAbsDiff(out, ref) < 1e-5, "conv forward: " + maxAbsDiff(out, ref));
        float[] du = new float[u.length], dw = new float[wt.length];
        QkvConv.backward(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, g, 0, ch, du, 0, ch, dw, 0);
        double[] td = toDouble(tail);
        Function<double[][], Double> loss = x -> dot(CosineRef.conv(B, T, ch, w, x[0], x[1], mask, td), g);
        double[][] all = {toDouble(u), toDouble(wt)};
        assertTrue(maxAbsDiff(du, Fd.gradient(loss, all, 0)) < 1e-4, "du");
        assertTrue(maxAbsDiff(dw, Fd.gradient(loss, all, 1)) < 1e-4, "dW");
        for (int i = 0; i < B * T; i++) if (mask[i] == 0) for (int c = 0; c < ch; c++) assertEquals(0f, du[i * ch + c]);
    }

    @Test
    void identityConvolutionIsExactAndSegmentsHandTheTailOver() {
        int B = 2, T = 30, ch = 40, w = 2, split = 13;
        int[] mask = mask(B, T, 1, 3);
        Random r = new Random(14);
        float[] u = randn(r, B * T * ch), id = new float[ch * w], wt = randn(r, ch * w);
        for (int c = 0; c < ch; c++) id[c * w + w - 1] = 1f;
        float[] out = new float[u.length];
        QkvConv.forward(B, T, ch, w, u, 0, ch, id, 0, mask, null, out, 0, ch, null);
        for (int i = 0; i < B * T; i++)
            for (int c = 0; c < ch; c++) assertEquals(mask[i] == 0 ? 0f : u[i * ch + c], out[i * ch + c]);
        // two segments with the tail carried over = the whole
        QkvConv.forward(B, T, ch, w, u, 0, ch, wt, 0, mask, null, out, 0, ch, null);
        float[] tail = new float[B * (w - 1) * ch], o1 = new float[B * split * ch], o2 = new float[B * (T - split) * ch];
        float[] u1 = new float[o1.length], u2 = new float[o2.length];
        int[] m1 = new int[B * split], m2 = new int[B * (T - split)];
        for (int b = 0; b < B; b++) {
            System.arraycopy(u, b * T * ch, u1, b * split * ch, split * ch);
            System.arraycopy(u, (b * T + split) * ch, u2, b * (T - split) * ch, (T - split) * ch);
            System.arraycopy(mask, b * T, m1, b * split, split);
            System.arraycopy(mask, b * T + split, m2, b * (T - split), T - split);
        }
        QkvConv.forward(B, split, ch, w, u1, 0, ch, wt, 0, m1, null, o1, 0, ch, tail);
        QkvConv.forward(B, T - split, ch, w, u2, 0, ch, wt, 0, m2, tail, o2, 0, ch, tail);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int c = 0; c < ch; c++) {
                    float x = t < split ? o1[(b * split + t) * ch + c] : o2[(b * (T - split) + t - split) * ch + c];
                    assertEquals(out[(b * T + t) * ch + c], x, "b " + b + " t " + t + " c " + c);
                }
    }

    /**
     * The in-place backward (dU written over dOut) gives the bits backward adds into a zeroed dU, and the same dW: widths
     * 2 and 3, every padding kind, rows crossing the 64-row work items (whose first rows another thread may overwrite),
     * a carried-in tail, a channel count with a scalar tail, 1 to 3 threads.
     */
    @Test
    void inPlaceConvolutionBackwardEqualsTheOneIntoZeros() {
        int B = 4, T = 200, ch = 21;
        int[] mask = mask(B, T, 0, 1, 2, 3);
        Random r = new Random(16);
        int saved = Parallel.threads();
        try {
            for (int w : new int[]{2, 3})
                for (int threads : new int[]{1, 2, 3}) {
                    Parallel.setThreads(threads);
                    float[] u = randn(r, B * T * ch), wt = randn(r, ch * w), tail = randn(r, B * (w - 1) * ch), g = randn(r, B * T * ch);
                    float[] du = new float[u.length], dw = new float[wt.length], dw2 = new float[wt.length], gi = g.clone();
                    QkvConv.backward(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, g, 0, ch, du, 0, ch, dw, 0);
                    QkvConv.backwardInPlace(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, gi, 0, ch, dw2, 0);
                    assertArrayEquals(du, gi, "dU, width " + w + ", " + threads + " threads");
                    assertArrayEquals(dw, dw2, "dW, width " + w + ", " + threads + " threads");
                }
        } finally {
            Parallel.setThreads(saved);
        }
        float[] x = new float[T * ch];
        assertThrows(IllegalArgumentException.class, () -> QkvConv.backward(1, T, ch, 2, x, 0, ch, new float[2 * ch], 0, null, null,
                x, 0, ch, x, 0, ch, new float[2 * ch], 0));
    }

    /** The convolution splits rows over threads in fixed blocks: any thread count gives the same bits. */
    @Test
    void convolutionIsBitIdenticalAcrossThreadCounts() {
        int B = 2, T = 300, ch = 24, w = 2;
        int[] mask = mask(B, T, 3, 1);
        Random r = new Random(15);
        float[] u = randn(r, B * T * ch), wt = randn(r, ch * w), g = randn(r, B * T * ch);
        int saved = Parallel.threads();
        float[][] first = null;
        try {
            for (int threads : new int[]{1, 2, 3}) {
                Parallel.setThreads(threads);
                float[] out = new float[u.length], du = new float[u.length], dw = new float[wt.length];
                QkvConv.forward(B, T, ch, w, u, 0, ch, wt, 0, mask, null, out, 0, ch, null);
                QkvConv.backward(B, T, ch, w, u, 0, ch, wt, 0, mask, null, g, 0, ch, du, 0, ch, dw, 0);
                float[][] now = {out, du, dw};
                if (first == null) first = now;
                else for (int i = 0; i < 3; i++) assertArrayEquals(first[i], now[i], "output " + i + ", " + threads + " threads");
            }
        } finally {
            Parallel.setThreads(saved);
        }
    }

    /**
     * q|k|v made row by row inside the kernel ({@link QkvConv#rows}, what a gated layer trains with) give the same bits
     * as the materialised convolution: output, every gradient (dU through the convolution's backward, dW, dm, dL/da),
     * for widths 2 and 3, every padding kind, with and without a carried-in tail, 1 and 2 threads, one-chunk and
     * default pipeline steps, a plain (no decay) and a gated forward.
     */
    @Test
    void rowsOnDemandGiveTheMaterialisedBits() {
        int B = 4, T = 130, H = 3, D = 16, E = H * D, ch = 3 * E, n = B * T;
        int[] mask = mask(B, T, 0, 1, 2, 3);
        Random r = new Random(21);
        float[] m = {0.3f, -0.5f, 1.1f}, a = new float[n * H], g = randn(r, n * E);
        for (int i = 0; i < a.length; i++) a[i] = (float) -Math.exp(-7 + 7 * r.nextDouble());
        AttnShape shape = new AttnShape(B, T, H, D);
        int savedThreads = Parallel.threads(), savedStep = CosineCausal.stepBytes;
        try {
            for (int w : new int[]{2, 3})
                for (boolean withTail : new boolean[]{false, true})
                    for (float[] decay : new float[][]{null, a})
                        for (int threads : new int[]{1, 2})
                            for (int step : new int[]{1, savedStep}) {
                                Parallel.setThreads(threads);
                                CosineCausal.stepBytes = step;
                                StepClaims.othersFirst = threads > 1 && step == 1; // the source's rows made on a part that does not own them
                                float[] u = randn(r, n * ch), wt = randn(r, ch * w), tail = withTail ? randn(r, B * (w - 1) * ch) : null;
                                float[][] fused = new float[5][], stored = new float[5][];
                                for (boolean onDemand : new boolean[]{false, true}) {
                                    float[] out = new float[n * E], d = new float[n * ch], dw = new float[wt.length], dm = new float[H];
                                    float[] da = decay == null ? null : new float[decay.length];
                                    CosineCausal.Context ctx;
                                    if (onDemand)
                                        ctx = CosineCausal.forward(null, shape, QkvConv.rows(B, T, ch, w, u, 0, ch, wt, 0, mask, tail), mask, m, decay,
                                                Heads.of(out, E), 16, null, null);
                                    else {
                                        float[] qkv = new float[n * ch];
                                        QkvConv.forward(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, qkv, 0, ch, null);
                                        ctx = CosineCausal.forward(null, shape, new Heads(qkv, 0, ch), new Heads(qkv, E, ch), new Heads(qkv, 2 * E, ch),
                                                mask, m, decay, Heads.of(out, E), 16, null, null);
                                    }
                                    CosineCausal.backward(ctx, Heads.of(g, E), new Heads(d, 0, ch), new Heads(d, E, ch), new Heads(d, 2 * E, ch), dm, da);
                                    QkvConv.backwardInPlace(B, T, ch, w, u, 0, ch, wt, 0, mask, tail, d, 0, ch, dw, 0);
                                    float[][] res = onDemand ? fused : stored;
                                    res[0] = out; res[1] = d; res[2] = dw; res[3] = dm; res[4] = da == null ? new float[0] : da;
                                }
                                String what = "width " + w + (withTail ? ", tail" : "") + (decay == null ? ", plain" : ", gated") + ", " + threads + " threads, step " + step;
                                for (int i = 0; i < 5; i++) assertArrayEquals(stored[i], fused[i], "output " + i + ", " + what);
                            }
        } finally {
            Parallel.setThreads(savedThreads);
            CosineCausal.stepBytes = savedStep;
            StepClaims.othersFirst = false;
        }
    }
}
