package org.cottention.attention;

import org.cottention.io.SafeTensors;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reproduces ../shared/fixtures/attn_kernels (the authors' formulation, B=2, H=3, T=70, D=16, left/inner/right padding)
 * to 1e-5. The fixture is laid out (B, H, T, D); the attention API takes [B, T, H, D]: transposed here.
 */
class AttnFixtureTest {
    static SafeTensors st;
    static final int B = 2, H = 3, T = 70, D = 16, E = H * D, N = B * T * E;
    static float[] q, k, v, gOut, m;
    static int[] mask;

    @BeforeAll
    static void load() throws IOException {
        st = SafeTensors.open(Shared.fixture("attn_kernels", "kernels.safetensors"));
        q = toBthd(st.doubles("q"));
        k = toBthd(st.doubles("k"));
        v = toBthd(st.doubles("v"));
        gOut = toBthd(st.doubles("grad_out"));
        m = st.floats("norm_const");
        mask = new int[B * T];
        var seg = st.segment("attention_mask");
        for (int i = 0; i < B * T; i++) mask[i] = (int) seg.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
    }

    @AfterAll
    static void close() {
        st.close();
    }

    /** (B, H, T, D) -> [B, T, H, D]. */
    static float[] toBthd(double[] x) {
        float[] y = new float[N];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++)
                    for (int d = 0; d < D; d++) y[((b * T + t) * H + h) * D + d] = (float) x[((b * H + h) * T + t) * D + d];
        return y;
    }

    static void assertClose(String name, float[] ours, double tol) {
        float[] ref = toBthd(st.doubles(name));
        double err = TestData.maxAbsDiff(ours, ref);
        assertTrue(err <= tol, name + ": max |ours - fixture| = " + err);
    }

    static void assertClose(String name, float[] ours, double[] ref, double tol) {
        double err = TestData.maxAbsDiff(ours, ref);
        assertTrue(err <= tol, name + ": max |ours - fixture| = " + err);
    }

    static AttnShape shape() {
        return new AttnShape(B, T, H, D);
    }

    static Heads h(float[] x) {
        return Heads.of(x, E);
    }

    @Test
    void cosineCausal() {
        for (int chunk : new int[]{64, 16, 70}) {
            float[] out = new float[N], dq = new float[N], dk = new float[N], dv = new float[N], dm = new float[H];
            CosineState fin = new CosineState(B, H, D);
            CosineCausal.Context ctx = CosineCausal.forward(shape(), h(q), h(k), h(v), mask, m, h(out), chunk, null, fin);
            CosineCausal.backward(ctx, h(gOut), h(dq), h(dk), h(dv), dm);
            assertClose("cos_causal.out", out, 1e-5);
            assertClose("cos_causal.dq", dq, 1e-5);
            assertClose("cos_causal.dk", dk, 1e-5);
            assertClose("cos_causal.dv", dv, 1e-5);
            assertClose("cos_causal.dnorm_const", dm, st.doubles("cos_causal.dnorm_const"), 1e-5);
            double[] s = st.doubles("cos_causal.final_state_S_f64");
            double err = 0;
            for (int i = 0; i < s.length; i++) err = Math.max(err, Math.abs(s[i] - fin.s[i]));
            assertTrue(err <= 1e-5, "final_state_S: " + err);
        }
    }

    @Test
    void cosineRecurrent() {
        CosineState st1 = new CosineState(B, H, D);
        float[] out = new float[N], o = new float[B * E];
        int[] sm = new int[B];
        for (int t = 0; t < T; t++) {
            for (int b = 0; b < B; b++) sm[b] = mask[b * T + t];
            CosineRecurrent.step(st1, new Heads(q, t * E, T * E), new Heads(k, t * E, T * E), new Heads(v, t * E, T * E), sm, m, h(o));
            for (int b = 0; b < B; b++) System.arraycopy(o, b * E, out, (b * T + t) * E, E);
        }
        assertClose("cos_causal.out_recurrent_f32_fp64state", out, 1e-5);
        assertClose("cos_causal.out", out, 1e-5);
        double[] s = st.doubles("cos_causal.final_state_S_f64");
        double err = 0;
        for (int i = 0; i < s.length; i++) err = Math.max(err, Math.abs(s[i] - st1.s[i]));
        assertTrue(err <= 1e-5, "recurrent final state: " + err);
    }

    @Test
    void cosineBidir() {
        float[] out = new float[N], dq = new float[N], dk = new float[N], dv = new float[N], dm = new float[H];
        var ctx = CosineBidir.forward(shape(), h(q), h(k), h(v), mask, m, h(out));
        CosineBidir.backward(ctx, h(gOut), h(dq), h(dk), h(dv), dm);
        assertClose("cos_bidir.out", out, 1e-5);
        assertClose("cos_bidir.dq", dq, 1e-5);
        assertClose("cos_bidir.dk", dk, 1e-5);
        assertClose("cos_bidir.dv", dv, 1e-5);
        assertClose("cos_bidir.dnorm_const", dm, st.doubles("cos_bidir.dnorm_const"), 1e-5);
    }

    @Test
    void cosineQuadratic() {
        float[] out = new float[N], dq = new float[N], dk = new float[N], dv = new float[N], dm = new float[H];
        var ctx = CosineQuadratic.forward(shape(), h(q), h(k), h(v), mask, m, h(out));
        CosineQuadratic.backward(ctx, h(gOut), h(dq), h(dk), h(dv), dm);
        assertClose("cos_causal.out", out, 1e-5);
        assertClose("cos_causal.dq", dq, 1e-5);
        assertClose("cos_causal.dk", dk, 1e-5);
        assertClose("cos_causal.dv", dv, 1e-5);
        assertClose("cos_causal.dnorm_const", dm, st.doubles("cos_causal.dnorm_const"), 1e-5);
    }

    @Test
    void softmax() {
        for (boolean causal : new boolean[]{true, false})
            for (boolean flash : new boolean[]{false, true}) {
                String p = causal ? "softmax_causal" : "softmax_bidir";
                float[] out = new float[N], dq = new float[N], dk = new float[N], dv = new float[N];
                if (flash) {
                    var ctx = FlashAttention.forward(shape(), h(q), h(k), h(v), mask, causal, h(out));
                    FlashAttention.backward(ctx, h(gOut), h(dq), h(dk), h(dv));
                } else {
                    var ctx = SoftmaxAttention.forward(shape(), h(q), h(k), h(v), mask, causal, h(out));
                    SoftmaxAttention.backward(ctx, h(gOut), h(dq), h(dk), h(dv));
                }
                // every row, padding rows included: the HF mask convention is reproduced exactly
                assertClose(p + ".out", out, 1e-5);
                assertClose(p + ".dq", dq, 1e-5);
                assertClose(p + ".dk", dk, 1e-5);
                assertClose(p + ".dv", dv, 1e-5);
            }
    }
}
