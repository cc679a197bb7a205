package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.Heads;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class SelfAttentionTest {
    /**
     * backwardInto (what GPT-J's layers call, with no zeroing pass of their own) writes over whatever dq, dk, dv held
     * (here NaN) the gradients that backward adds into zeros, for every attention kind: causal cosine writes them
     * itself, the others are zeroed first. q|k|v are thirds of one [B*T, 3E] buffer, as in a layer; with padding.
     */
    @Test
    void backwardIntoWritesWhatBackwardAddsIntoZeros() {
        int B = 2, T = 37, H = 2, D = 8, E = H * D, n = B * T;
        AttnShape shape = new AttnShape(B, T, H, D);
        Random r = new Random(3);
        float[] qkv = new float[n * 3 * E], g = new float[n * E];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) r.nextGaussian();
        for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
        int[] mask = new int[n];
        Arrays.fill(mask, 1);
        for (int t = 0; t < 5; t++) mask[T + t] = 0; // the second row left-padded
        for (AttentionType type : new AttentionType[]{AttentionType.COSINE, AttentionType.SOFTMAX})
            for (boolean causal : new boolean[]{true, false}) {
                SelfAttention att = new SelfAttention(type, causal, 16);
                float[] m = {0.3f, -0.2f};
                att.forward(shape, new Heads(qkv, 0, 3 * E), new Heads(qkv, E, 3 * E), new Heads(qkv, 2 * E, 3 * E), mask, m, Heads.of(new float[n * E], E));
                float[] added = new float[n * 3 * E], written = new float[n * 3 * E], dm1 = new float[H], dm2 = new float[H];
                Arrays.fill(written, Float.NaN);
                att.backward(Heads.of(g, E), new Heads(added, 0, 3 * E), new Heads(added, E, 3 * E), new Heads(added, 2 * E, 3 * E), dm1);
                att.backwardInto(Heads.of(g, E), new Heads(written, 0, 3 * E), new Heads(written, E, 3 * E), new Heads(written, 2 * E, 3 * E), dm2, null);
                assertArrayEquals(added, written, type + (causal ? " causal" : " bidirectional") + ": dq|dk|dv");
                assertArrayEquals(dm1, dm2, type + (causal ? " causal" : " bidirectional") + ": dm");
            }
    }
}
