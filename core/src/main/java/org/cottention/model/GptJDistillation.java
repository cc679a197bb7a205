package org.cottention.model;

import org.cottention.attention.AttnShape;
import org.cottention.attention.Heads;
import org.cottention.kernels.Ops;
import org.cottention.train.Batch;
import org.cottention.train.Distill;
import org.cottention.train.TrainableModel;

import java.util.Arrays;

/**
 * The causal-LM counterparts of {@link BertDistillation}: stage 1 trains each block's q/k/v projections and
 * norm_const so that its causal cosine attention reproduces the teacher's causal softmax attention output on the
 * teacher's ln_1 output (MSE over tokens), the rest frozen; stage 2 trains the whole student on KL(teacher || student)
 * of the next-token distributions at every position.
 */
public final class GptJDistillation {
    private GptJDistillation() {}

    /** Base of both objectives: trains the student's parameters, saves the student. */
    private abstract static class Objective extends DistillObjective {
        final GptJ teacher, student;

        Objective(GptJ teacher, GptJ student) {
            super(student.params, student::saveModel, student::flopsPerToken);
            if (teacher.cfg.nEmbd() != student.cfg.nEmbd() || teacher.cfg.nLayer() != student.cfg.nLayer() || teacher.cfg.vocabSize() != student.cfg.vocabSize())
                throw new IllegalArgumentException("teacher and student must have the same shape");
            this.teacher = teacher;
            this.student = student;
        }
    }

    public static TrainableModel attentionTransfer(GptJ teacher, GptJ student) {
        return new Objective(teacher, student) {
            @Override
            public boolean trainable(String p) {
                return p.contains(".attn.") && !p.contains("out_proj");
            }

            @Override
            double step(Batch batch, float gradScale, boolean train) {
                int b = batch.size(), t = batch.seqLen(), n = b * t, e = student.cfg.nEmbd(), layers = student.blocks.length;
                int[] mask = batch.attentionMask();
                GptJ.Acts ta = teacher.forward(b, t, batch.inputIds(), mask);
                int real = Distill.realRows(mask, n);
                AttnShape shape = new AttnShape(b, t, student.cfg.nHead(), student.cfg.headDim());
                float[] w = student.params.data, g = train ? student.params.grad() : null;
                float[] qkv = new float[n * 3 * e], att = new float[n * e], datt = train ? new float[n * e] : null, dqkv = train ? new float[n * 3 * e] : null;
                student.rotary.ensureCapacity(t);
                double scale = (double) gradScale / ((double) real * layers), loss = 0;
                for (int l = 0; l < layers; l++) {
                    GptJ.Block blk = student.blocks[l];
                    // student q|k|v on the teacher's ln_1 output of block l, rotary, causal cosine attention
                    blk.qkv().forward(w, ta.ln[l], 0, e, qkv, 0, 3 * e, n);
                    for (int off : new int[]{0, e}) student.rotary.forward(qkv, off, 3 * e, b, t, shape.heads(), shape.headDim(), 0);
                    blk.attention().forward(shape, new Heads(qkv, 0, 3 * e), new Heads(qkv, e, 3 * e), new Heads(qkv, 2 * e, 3 * e),
                            mask, student.normConst(blk), Heads.of(att, e));
                    if (train) Arrays.fill(datt, 0f);
                    loss += Distill.mse(att, 0, e, ta.att[l], 0, e, mask, n, e, datt, 0, e, scale);
                    if (!train) continue;
                    Arrays.fill(dqkv, 0f);
                    float[] dm = new float[student.cfg.nHead()];
                    blk.attention().backward(Heads.of(datt, e), new Heads(dqkv, 0, 3 * e), new Heads(dqkv, e, 3 * e), new Heads(dqkv, 2 * e, 3 * e), dm);
                    if (blk.normConst() != null) Ops.addInPlace(g, blk.normConst().offset(), dm, 0, dm.length);
                    for (int off : new int[]{0, e}) student.rotary.backward(dqkv, off, 3 * e, b, t, shape.heads(), shape.headDim(), 0);
                    blk.qkv().backward(w, g, ta.ln[l], 0, e, dqkv, 0, 3 * e, null, 0, e, n);
                }
                return loss / ((double) real * layers);
            }
        };
    }

    /** Stage 2: mean over real tokens of KL(teacher || student) of the next-token distributions (logits in row blocks). */
    public static TrainableModel endToEnd(GptJ teacher, GptJ student) {
        return new Objective(teacher, student) {
            @Override
            double step(Batch batch, float gradScale, boolean train) {
                int b = batch.size(), t = batch.seqLen(), n = b * t, e = student.cfg.nEmbd(), v = student.cfg.vocabSize();
                int[] ids = batch.inputIds(), mask = batch.attentionMask();
                float[] tl = teacher.forward(b, t, ids, mask).lnf;
                GptJ.Acts sa = student.forward(b, t, ids, mask);
                int real = Distill.realRows(mask, n), rows = Math.max(1, Math.min(n, (4 << 20) / v));
                float[] ls = new float[rows * v], lt = new float[rows * v], dlnf = train ? new float[n * e] : null;
                float[] w = student.params.data, g = train ? student.params.grad() : null;
                double sum = 0;
                for (int r0 = 0; r0 < n; r0 += rows) {
                    int r = Math.min(rows, n - r0);
                    student.lmHead.forward(w, sa.lnf, r0 * e, e, ls, 0, v, r);
                    teacher.lmHead.forward(teacher.params.data, tl, r0 * e, e, lt, 0, v, r);
                    int[] m = mask == null ? null : Arrays.copyOfRange(mask, r0, r0 + r);
                    sum += Distill.kl(ls, 0, lt, 0, m, r, v, train ? ls : null, 0, (double) gradScale / real);
                    if (train) student.lmHead.backward(w, g, sa.lnf, r0 * e, e, ls, 0, v, dlnf, r0 * e, e, r);
                }
                if (train) student.backward(b, t, ids, dlnf, sa);
                return sum / real;
            }
        };
    }

    /** Mean of the final (ln_f) hidden states over a text's tokens: the LM's "embedding" for the fidelity report. */
    static float[] embed(GptJ m, int[] ids) {
        int e = m.cfg.nEmbd(), t = ids.length;
        float[] h = m.forward(1, t, ids, null).lnf, v = new float[e];
        for (int r = 0; r < t; r++) Ops.addInPlace(v, 0, h, r * e, e);
        for (int j = 0; j < e; j++) v[j] /= t;
        return v;
    }
}
