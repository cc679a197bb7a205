package org.cottention.attention;

import org.cottention.kernels.Ops;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.L2Norm;
import org.cottention.kernels.Parallel;

/**
 * The recurrent (RNN) form of causal cosine attention (math doc §2): one token for each of B batch rows, per layer.
 * {@code c += mu; S += v' k'^T; o = S q'} with q' = mu N(q), k' = mu N(k), v' = mu v / max(c^a, 1); the state S is
 * float64 ({@link CosineState}), so time and memory per token do not depend on how many tokens came before.
 * Agrees with {@link CosineCausal} (a prefill there hands its final state over to this step).
 */
public final class CosineRecurrent {
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;

    private CosineRecurrent() {}

    /**
     * One decoding step for all B rows and H heads: updates {@code state} (S and counts) and writes the attention
     * output for the token.
     *
     * @param q,k,v,out [B, 1, H, D] views (row b at off + b*rowStride); out is overwritten (0 for a padding token)
     * @param mask      [B] (1 = token, 0 = padding: state and count unchanged), or null = all tokens
     * @param m         [H] raw stabiliser values (norm_const)
     */
    public static void step(CosineState state, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out) {
        step(state, q, k, v, mask, m, null, out);
    }

    /**
     * The step of gated cosine attention (math doc §8.8): with a = logDecay[b*H + h] <= 0,
     * {@code z = e^a z + mu; S = e^a S + v' k'^T; o = S q'} and v' = mu v / max(z, 1)^sigmoid(m) (state.z, float64).
     * logDecay null: the plain step.
     */
    public static void step(CosineState state, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] logDecay, Heads out) {
        if (state == null) throw new IllegalArgumentException("state is null");
        final int B = state.batch, H = state.heads, D = state.headDim;
        AttnShape shape = new AttnShape(B, 1, H, D);
        shape.checkForward(q, k, v, out, mask);
        shape.checkStabiliser("m", m);
        if (logDecay != null) {
            if (logDecay.length != B * H) throw new IllegalArgumentException("logDecay: length " + logDecay.length + " != B*H = " + B * H);
            for (int i = 0; i < logDecay.length; i++)
                if (!(logDecay[i] <= 0f) || logDecay[i] == Float.NEGATIVE_INFINITY)
                    throw new IllegalArgumentException("logDecay: entry " + i + " is " + logDecay[i] + ", must be finite and <= 0");
        }
        for (int b = 0; b < B; b++) {
            if (mask != null && mask[b] == 0) continue;
            state.count[b]++;
            if (logDecay != null)
                for (int h = 0; h < H; h++) state.z[b * H + h] = Math.exp(logDecay[b * H + h]) * state.z[b * H + h] + 1;
        }
        // Each (b, h) costs about 4 D^2 flops and reads and writes its D x D float64 state. In decoding the weights
        // stream through every cache between two steps, so the states come from memory: 512 KB per layer for 16
        // heads of 64, which JFR put at about 7% of a 300M model's decoding on 2 threads when one thread did it while
        // the other waited (1.5% faster decoding over the threads, paired in one process). Groups of heads holding at
        // least 128 KB of state go to the threads; a small model's layer still runs serially.
        int grain = Math.max(1, (1 << 17) / (8 * D * D));
        Parallel.forRange(B * H, grain, (lo, hi) -> {
            float[] w = state.work;
            double[] dw = state.dwork;
            for (int bh = lo; bh < hi; bh++) {
                int qo = bh * 3 * D, ko = qo + D, vso = ko + D, qdo = bh * 2 * D, kdo = qdo + D;
                int b = bh / H, h = bh % H;
                int oo = out.at(1, D, b, 0, h);
                if (mask != null && mask[b] == 0) {
                    java.util.Arrays.fill(out.data(), oo, oo + D, 0f);
                    continue;
                }
                L2Norm.forward(q.data(), q.at(1, D, b, 0, h), w, qo, D, 1f);
                L2Norm.forward(k.data(), k.at(1, D, b, 0, h), w, ko, D, 1f);
                float nl = logDecay == null ? CosinePrep.negLogCount(state.count[b])
                        : state.z[bh] > 1 ? (float) -Math.log(state.z[bh]) : 0f;
                float inv = CosinePrep.invDivisor(nl, CosinePrep.sigmoid(m[h]));
                double decay = logDecay == null ? 1.0 : Math.exp(logDecay[bh]);
                int vo = v.at(1, D, b, 0, h);
                for (int d = 0; d < D; d++) {
                    w[vso + d] = v.data()[vo + d] * inv;
                    dw[qdo + d] = w[qo + d];
                    dw[kdo + d] = w[ko + d];
                }
                updateAndRead(state.s, bh * D * D, D, decay, dw, qdo, kdo, w, vso, out.data(), oo);
            }
        });
    }

    /**
     * S[i,:] = decay S[i,:] + vs[i] * kh (rank-1 update, value index first) then o[i] = S[i,:] . qh, row by row in
     * float64 (decay = 1: the plain update, the same bits).
     */
    private static void updateAndRead(double[] s, int sOff, int D, double decay, double[] dw, int qo, int ko, float[] w, int vo,
                                      float[] out, int oOff) {
        int up = DS.loopBound(D);
        for (int i = 0; i < D; i++) {
            int row = sOff + i * D;
            double vi = w[vo + i];
            DoubleVector vv = DoubleVector.broadcast(DS, vi);
            DoubleVector acc = DoubleVector.zero(DS);
            int j = 0;
            for (; j < up; j += DS.length()) {
                DoubleVector kv = DoubleVector.fromArray(DS, dw, ko + j);
                DoubleVector sv = kv.fma(vv, DoubleVector.fromArray(DS, s, row + j).mul(decay));
                sv.intoArray(s, row + j);
                acc = sv.fma(DoubleVector.fromArray(DS, dw, qo + j), acc);
            }
            double o = Ops.sumLanes(acc);
            for (; j < D; j++) {
                double x = decay * s[row + j] + vi * dw[ko + j];
                s[row + j] = x;
                o += x * dw[qo + j];
            }
            out[oOff + i] = (float) o;
        }
    }
}
