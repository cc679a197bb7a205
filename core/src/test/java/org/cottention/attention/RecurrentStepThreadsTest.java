package org.cottention.attention;

import org.cottention.kernels.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The recurrent step splits its heads over the threads once they hold enough state (8 heads of D = 64 make two
 * groups): every output and every state entry is the same, bit for bit, at any thread count, plain and gated.
 */
class RecurrentStepThreadsTest {
    @Test
    void aStepOverManyHeadsIsTheSameAtAnyThreadCount() {
        int B = 2, H = 8, D = 64, E = H * D, steps = 5;
        for (boolean gated : new boolean[]{false, true}) {
            CosineState s1 = new CosineState(B, H, D), s2 = new CosineState(B, H, D);
            float[][] one = run(1, s1, E, steps, gated), two = run(2, s2, E, steps, gated);
            for (int k = 0; k < one.length; k++)
                assertArrayEquals(one[k], two[k], 0f, (gated ? "gated" : "plain") + ": output of step " + k + " differs at 2 threads");
            assertArrayEquals(s1.s, s2.s, 0.0, (gated ? "gated" : "plain") + ": the state differs at 2 threads");
            assertArrayEquals(s1.z, s2.z, 0.0);
        }
    }

    /** `steps` steps from the fresh state st (left in it); returns each step's output. */
    private static float[][] run(int threads, CosineState st, int E, int steps, boolean gated) {
        int B = st.batch, H = st.heads;
        int saved = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            Random r = new Random(5);
            float[] m = new float[H];
            for (int h = 0; h < H; h++) m[h] = (float) r.nextGaussian();
            float[][] outs = new float[steps][];
            for (int s = 0; s < steps; s++) {
                float[] q = rand(r, B * E), k = rand(r, B * E), v = rand(r, B * E), o = new float[B * E], a = null;
                if (gated) {
                    a = new float[B * H];
                    for (int i = 0; i < a.length; i++) a[i] = (float) -Math.abs(0.3 * r.nextGaussian());
                }
                CosineRecurrent.step(st, Heads.of(q, E), Heads.of(k, E), Heads.of(v, E), null, m, a, Heads.of(o, E));
                outs[s] = o;
            }
            return outs;
        } finally {
            Parallel.setThreads(saved);
        }
    }

    private static float[] rand(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
