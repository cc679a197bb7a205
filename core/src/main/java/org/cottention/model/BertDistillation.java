package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.Heads;
import org.cottention.kernels.Ops;
import org.cottention.train.Batch;
import org.cottention.train.Distill;
import org.cottention.train.TrainableModel;

import java.util.Arrays;

/**
 * The two objectives that turn a softmax BERT (the frozen teacher) into a cosine one (the student, which starts as its
 * copy), for the shared trainer:
 * <ol>
 * <li>{@link #attentionTransfer}: every layer's student attention (q, k, v projections and norm_const) sees the
 *     teacher's hidden state entering that layer and is trained so that its attention output matches the teacher's
 *     softmax attention output there (mean squared error over real tokens); layers are independent (each gets the
 *     teacher's input, not its own previous layer's output), everything else is frozen.</li>
 * <li>{@link #endToEnd}: the whole student against the teacher's final hidden states (mean squared error per token)
 *     plus its pooled sentence embeddings (1 - cosine), optionally its inner layers' outputs too, on unlabeled text.</li>
 * </ol>
 */
public final class BertDistillation {
    private BertDistillation() {}

    /** Base of both objectives: the student's parameters, FLOPs and saving. */
    private abstract static class Objective extends DistillObjective {
        final Bert teacher, student;

        Objective(Bert teacher, Bert student) {
            super(student.params, student::saveModel, student::encoderFlopsPerToken);
            if (teacher.cfg.hiddenSize() != student.cfg.hiddenSize() || teacher.cfg.numHiddenLayers() != student.cfg.numHiddenLayers() || teacher.cfg.vocabSize() != student.cfg.vocabSize())
                throw new IllegalArgumentException("teacher and student must have the same shape");
            this.teacher = teacher;
            this.student = student;
        }
    }

    /** Stage 1 (see the class comment). The loss is the mean over layers of the per-element MSE over real tokens. */
    public static TrainableModel attentionTransfer(Bert teacher, Bert student) {
        return new Objective(teacher, student) {
            @Override
            public boolean trainable(String p) {
                return p.contains(".attention.self.");
            }

            @Override
            double step(Batch batch, float gradScale, boolean train) {
                int b = batch.size(), t = batch.seqLen(), n = b * t, e = student.cfg.hiddenSize(), layers = student.layers.length;
                int[] mask = batch.attentionMask();
                Bert.Acts ta = teacher.forward(b, t, batch.inputIds(), mask, batch.tokenTypeIds());
                int real = Distill.realRows(mask, n);
                AttnShape shape = new AttnShape(b, t, student.cfg.numAttentionHeads(), student.cfg.headDim());
                float[] w = student.params.data, g = train ? student.params.grad() : null;
                float[] qkv = new float[n * 3 * e], att = new float[n * e], datt = train ? new float[n * e] : null, dqkv = train ? new float[n * 3 * e] : null;
                if (student.rotary != null) student.rotary.ensureCapacity(t);
                double scale = (double) gradScale / ((double) real * layers), loss = 0;
                for (int l = 0; l < layers; l++) {
                    Bert.Layer ly = student.layers[l];
                    // student q|k|v on the teacher's input to layer l; cosine attention               [n, 3E] -> [n, E]
                    ly.qkv().forward(w, ta.x[l], 0, e, qkv, 0, 3 * e, n);
                    if (student.rotary != null) rotate(student, qkv, shape, false);
                    ly.attention().forward(shape, new Heads(qkv, 0, 3 * e), new Heads(qkv, e, 3 * e), new Heads(qkv, 2 * e, 3 * e),
                            mask, student.normConst(ly), Heads.of(att, e));
                    if (train) Arrays.fill(datt, 0f);
                    loss += Distill.mse(att, 0, e, ta.att[l], 0, e, mask, n, e, datt, 0, e, scale);
                    if (!train) continue;
                    Arrays.fill(dqkv, 0f);
                    float[] dm = new float[student.cfg.numAttentionHeads()];
                    ly.attention().backward(Heads.of(datt, e), new Heads(dqkv, 0, 3 * e), new Heads(dqkv, e, 3 * e), new Heads(dqkv, 2 * e, 3 * e), dm);
                    if (ly.normConst() != null) Ops.addInPlace(g, ly.normConst().offset(), dm, 0, dm.length);
                    if (student.rotary != null) rotate(student, dqkv, shape, true);
                    ly.qkv().backward(w, g, ta.x[l], 0, e, dqkv, 0, 3 * e, null, 0, e, n);
                }
                return loss / ((double) real * layers);
            }
        };
    }

    private static void rotate(Bert m, float[] qkv, AttnShape s, boolean backward) {
        int e = m.cfg.hiddenSize();
        for (int off : new int[]{0, e}) {
            if (backward) m.rotary.backward(qkv, off, 3 * e, s.batch(), s.seq(), s.heads(), s.headDim(), 0);
            else m.rotary.forward(qkv, off, 3 * e, s.batch(), s.seq(), s.heads(), s.headDim(), 0);
        }
    }

    /**
     * Stage 2 (see the class comment): loss = mean over real tokens of the per-element MSE of the final hidden states
     * + {@code pooledWeight} x mean over sequences of (1 - cos) between the pooled embeddings (mean over real tokens, or
     * [CLS], before normalisation) + {@code layerWeight} x the mean over the inner layers' outputs (x[1] .. x[L-1]) of
     * their per-element MSE over real tokens. The inner term is a denser signal than the top alone: each block is
     * told where its own output strays, instead of learning it back through the blocks above.
     */
    public static TrainableModel endToEnd(Bert teacher, Bert student, Pooling.Mode pooling, double pooledWeight, double layerWeight) {
        if (!(pooledWeight >= 0) || !(layerWeight >= 0)) throw new IllegalArgumentException("loss weights must be >= 0, got pooled " + pooledWeight + ", layer " + layerWeight);
        return new Objective(teacher, student) {
            @Override
            double step(Batch batch, float gradScale, boolean train) {
                int b = batch.size(), t = batch.seqLen(), n = b * t, e = student.cfg.hiddenSize(), layers = student.layers.length;
                int[] ids = batch.inputIds(), mask = batch.attentionMask(), types = batch.tokenTypeIds();
                boolean inner = layerWeight > 0 && layers > 1;
                // the teacher keeps every layer's output only when the inner term reads them
                float[][] tx = inner ? teacher.forward(b, t, ids, mask, types).x : null;
                float[] ht = inner ? tx[layers] : teacher.encode(b, t, ids, mask, types);
                Bert.Acts sa = student.forward(b, t, ids, mask, types);
                float[] hs = sa.x[layers];
                int real = Distill.realRows(mask, n);
                float[] dTop = train ? new float[n * e] : null;
                double hidden = Distill.mse(hs, 0, e, ht, 0, e, mask, n, e, dTop, 0, e, (double) gradScale / real) / real;
                float[] ps = pool(hs, mask, b, t, e, pooling), pt = pool(ht, mask, b, t, e, pooling);
                float[] dp = train ? new float[b * e] : null;
                double pooled = Distill.cosine(ps, pt, b, e, dp, gradScale * pooledWeight / b) / b;
                double innerLoss = 0;
                float[][] dInner = inner && train ? new float[layers][] : null;
                if (inner) {
                    double scale = gradScale * layerWeight / ((double) real * (layers - 1));
                    for (int l = 1; l < layers; l++) {
                        if (dInner != null) dInner[l] = new float[n * e];
                        innerLoss += Distill.mse(sa.x[l], 0, e, tx[l], 0, e, mask, n, e, dInner == null ? null : dInner[l], 0, e, scale);
                    }
                    innerLoss /= (double) real * (layers - 1);
                }
                if (train) {
                    unpool(dp, dTop, mask, b, t, e, pooling);
                    student.backward(b, t, ids, types, dTop, dInner, sa);
                }
                return hidden + pooledWeight * pooled + layerWeight * innerLoss;
            }
        };
    }

    /** Pooled vectors [B, E] of hidden states [B*T, E]: mean over each sequence's real tokens, or its first ([CLS]) row. */
    static float[] pool(float[] h, int[] mask, int b, int t, int e, Pooling.Mode mode) {
        float[] p = new float[b * e];
        for (int i = 0; i < b; i++) {
            if (mode == Pooling.Mode.CLS) {
                System.arraycopy(h, i * t * e, p, i * e, e);
                continue;
            }
            int c = 0;
            for (int r = 0; r < t; r++) {
                if (mask != null && mask[i * t + r] == 0) continue;
                Ops.addInPlace(p, i * e, h, (i * t + r) * e, e);
                c++;
            }
            for (int j = 0; j < e; j++) p[i * e + j] /= Math.max(c, 1);
        }
        return p;
    }

    /** Adds d(loss)/d(hidden) of {@link #pool} into dh, given d(loss)/d(pooled). */
    static void unpool(float[] dp, float[] dh, int[] mask, int b, int t, int e, Pooling.Mode mode) {
        for (int i = 0; i < b; i++) {
            if (mode == Pooling.Mode.CLS) {
                Ops.addInPlace(dh, i * t * e, dp, i * e, e);
                continue;
            }
            int c = 0;
            for (int r = 0; r < t; r++) if (mask == null || mask[i * t + r] != 0) c++;
            for (int r = 0; r < t; r++) {
                if (mask != null && mask[i * t + r] == 0) continue;
                for (int j = 0; j < e; j++) dh[(i * t + r) * e + j] += dp[i * e + j] / Math.max(c, 1);
            }
        }
    }
}
