package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class EmbeddingTest {
    @Test
    void forwardForwardAddAndBackwardMatchReference() {
        Random rnd = new Random(41);
        for (int c : new int[] {1, 7, 17, 67}) {
            int vocab = 5, n = 9;
            int[] ids = {9, 9, 4, 0, 4, 4, 1, 3, 0, 2, 4}; // offset 2; repeated ids
            float[] table = randn(rnd, vocab * c + 3, 1), out = randn(rnd, n * c + 1, 1), out0 = out.clone();
            Embedding.forward(out, 1, table, 3, ids, 2, n, vocab, c);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < c; j++) assertEquals(table[3 + ids[2 + i] * c + j], out[1 + i * c + j]);
            assertEquals(out0[0], out[0]);

            float[] acc = out0.clone();
            Embedding.forwardAdd(acc, 1, table, 3, ids, 2, n, vocab, c);
            double[] e = new double[n * c];
            for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) e[i * c + j] = (double) out0[1 + i * c + j] + table[3 + ids[2 + i] * c + j];
            assertClose("forwardAdd", e, acc, 1, 0, 1e-7);

            float[] g = randn(rnd, n * c, 1), dt = randn(rnd, vocab * c + 2, 1), dt0 = dt.clone();
            Embedding.backward(dt, 2, g, 0, ids, 2, n, vocab, c);
            double[] et = toDouble(dt0, 2, vocab * c);
            for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) et[ids[2 + i] * c + j] += g[i * c + j];
            assertClose("backward", et, dt, 2, 1e-6, 1e-6);
        }
    }

    @Test
    void largeBackwardIsThreadCountIndependent() {
        Random rnd = new Random(42);
        int n = 600, c = 1000, vocab = 50;
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);
        float[] table = randn(rnd, vocab * c, 1), g = randn(rnd, n * c, 1);
        assertThreadIndependent(() -> {
            float[] out = new float[n * c], dt = new float[vocab * c];
            Embedding.forward(out, 0, table, 0, ids, 0, n, vocab, c);
            Embedding.backward(dt, 0, g, 0, ids, 0, n, vocab, c);
            return new float[][] {out, dt};
        });
    }

    @Test
    void unknownIdsAreRejectedBeforeAnythingIsWritten() {
        float[] table = new float[4 * 3], out = new float[2 * 3];
        java.util.Arrays.fill(out, 7f);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Embedding.forward(out, 0, table, 0, new int[] {1, 4}, 0, 2, 4, 3));
        assertTrue(e.getMessage().contains("id 4") && e.getMessage().contains("position 1"), e.getMessage());
        assertEquals(7f, out[0]);
        e = assertThrows(IllegalArgumentException.class,
                () -> Embedding.backward(table, 0, out, 0, new int[] {-1, 0}, 0, 2, 4, 3));
        assertTrue(e.getMessage().contains("id -1") && e.getMessage().contains("position 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Embedding.forward(out, 0, new float[11], 0, new int[] {1, 0}, 0, 2, 4, 3));
        assertTrue(e.getMessage().startsWith("table:"), e.getMessage());
    }
}
