package org.cottention.model;

import org.cottention.train.Batch;
import org.cottention.train.TrainableModel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Finite differences for the variants the fixture does not cover: softmax attention, rotary positions, the NSP,
 * classification and regression heads, linearize's distillation objectives. Every parameter tensor is probed at a few random elements.
 */
class BertGradientTest {
    static Bert tiny(AttentionType attn, boolean rotary, Bert.HeadSet heads, List<String> labels, boolean regression) {
        BertConfig c = new BertConfig(23, 16, 2, 2, 24, 12, 2, 1e-12f, "gelu", 0, attn, rotary, rotary ? 6 : 8, labels, regression);
        Bert m = new Bert(c, heads).initialise(3);
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < m.params.size(); i++) m.params.data[i] += (float) (r.nextGaussian() * 0.15);
        return m;
    }

    static Batch batch(Bert m, boolean nsp) {
        int b = 3, t = 9, n = b * t;
        SplittableRandom r = new SplittableRandom(5);
        int[] ids = new int[n], mask = new int[n], types = new int[n];
        int[] targets = new int[nsp ? n + b : n];
        int[] lens = {9, 6, 4};
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) {
                int k = i * t + j;
                boolean real = j < lens[i];
                ids[k] = real ? 1 + r.nextInt(22) : 0;
                mask[k] = real ? 1 : 0;
                types[k] = j >= lens[i] / 2 ? 1 : 0;
                targets[k] = real && r.nextInt(3) == 0 ? r.nextInt(23) : -100;
            }
        if (nsp) for (int i = 0; i < b; i++) targets[n + i] = i % 2;
        return new Batch(b, t, ids, mask, types, targets, null);
    }

    static void check(Bert m, TrainableModel obj, Batch batch) {
        m.params.zeroGrad();
        obj.trainStep(batch, 1f);
        float[] g = m.params.grad().clone();
        SplittableRandom r = new SplittableRandom(7);
        double eps = 2e-3;
        for (Params.View v : m.params.views()) {
            for (int probe = 0; probe < 3; probe++) {
                int i = v.offset() + r.nextInt(v.size());
                float keep = m.params.data[i];
                m.params.data[i] = (float) (keep + eps);
                double up = obj.trainStep(batch, 0f).mean();
                m.params.data[i] = (float) (keep - eps);
                double down = obj.trainStep(batch, 0f).mean();
                m.params.data[i] = keep;
                double fd = (up - down) / (2 * eps);
                assertEquals(fd, g[i], 2e-3 + 2e-2 * Math.abs(fd), v.name() + "[" + (i - v.offset()) + "]");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"SOFTMAX,false", "SOFTMAX,true", "COSINE,true"})
    void pretrainingMlmAndNsp(AttentionType attn, boolean rotary) {
        Bert m = tiny(attn, rotary, Bert.HeadSet.PRETRAINING, List.of(), false);
        check(m, m.mlmObjective(), batch(m, true));
    }

    @ParameterizedTest
    @CsvSource({"COSINE,false,false", "SOFTMAX,true,false", "COSINE,true,true"})
    void classificationAndRegression(AttentionType attn, boolean rotary, boolean regression) {
        Bert m = tiny(attn, rotary, Bert.HeadSet.CLASSIFIER, regression ? List.of() : List.of("a", "b", "c"), regression);
        Batch mlm = batch(m, false);
        Batch b = new Batch(mlm.size(), mlm.seqLen(), mlm.inputIds(), mlm.attentionMask(), mlm.tokenTypeIds(),
                regression ? null : new int[]{2, 0, 1}, regression ? new float[]{0.5f, -1f, 2f} : null);
        check(m, m.classifierObjective(), b);
    }

    /** Linearize's objectives: a cosine student against a softmax teacher; stage 2 with the pooled and inner-layer terms. */
    @ParameterizedTest
    @CsvSource({"MEAN,0", "CLS,0.7"})
    void distillation(Pooling.Mode pooling, double layerWeight) {
        Bert teacher = tiny(AttentionType.SOFTMAX, false, Bert.HeadSet.ENCODER, List.of(), false);
        Bert student = tiny(AttentionType.COSINE, false, Bert.HeadSet.ENCODER, List.of(), false);
        Batch b = batch(student, false);
        check(student, BertDistillation.endToEnd(teacher, student, pooling, 2.0, layerWeight), b);
        check(student, BertDistillation.attentionTransfer(teacher, student), b);
    }
}
