package org.cottention.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Decoding (segmented prefill, then recurrent steps or a KV cache) agrees with the full-sequence forward pass. */
class GptJSessionTest {
    @ParameterizedTest
    @EnumSource(AttentionType.class)
    void batchedDecodingMatchesTeacherForcing(AttentionType type) {
        GptJ m = new GptJ(GptJConfig.of(97, 64, 32, 2, 4, 64, 4, 96, type)).initialise(3);
        SplittableRandom r = new SplittableRandom(5);
        int[][] seqs = new int[3][];
        int[] promptLen = {5, 11, 1};
        int total = 20;
        for (int i = 0; i < 3; i++) {
            seqs[i] = new int[total];
            for (int t = 0; t < total; t++) seqs[i][t] = r.nextInt(97);
        }
        int[][] prompts = new int[3][];
        for (int i = 0; i < 3; i++) prompts[i] = java.util.Arrays.copyOf(seqs[i], promptLen[i]);
        GptJSession s = new GptJSession(m, 4);
        float[] logits = s.prefill(prompts);
        int[] fed = promptLen.clone();
        for (int step = 0; step < 8; step++) {
            for (int i = 0; i < 3; i++) {
                // reference: the whole sequence so far through the training forward pass, last position's logits
                float[] ref = m.logits(1, fed[i], java.util.Arrays.copyOf(seqs[i], fed[i]), null);
                double err = 0;
                for (int j = 0; j < 97; j++) err = Math.max(err, Math.abs(ref[(fed[i] - 1) * 97 + j] - logits[i * 97 + j]));
                assertTrue(err < 2e-5, type + " row " + i + " after " + fed[i] + " tokens: logits differ by " + err);
            }
            int[] next = new int[3];
            for (int i = 0; i < 3; i++) next[i] = seqs[i][fed[i]++];
            logits = s.step(next);
        }
        assertTrue(s.stateBytes() > 0);
    }
}
