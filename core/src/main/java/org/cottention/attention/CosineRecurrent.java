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
        if (state == null) throw new IllegalArgumentException("state is null");
        final int B = state.batch, H = state.heads, D = state.headDim;
        AttnShape shape = new AttnShape(B, 1, H, D);
        shape.checkForward(q, k, v, out, mask);
        shape.checkStabiliser("m", m);
        for (int b = 0; b < B; b++) if (mask == null || mask[b] == 1) state.count[b]++;
        // Each (b, h) costs about 4 D^2 flops, a few microseconds at most: waking another thread costs about as much,
        // so only hand out groups of heads worth at least ~256K flops (one layer of a small model runs serially).
        int grain = Math.max(1, (1 << 18) / (4 * D * D));
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
                float inv = CosinePrep.invDivisor(CosinePrep.negLogCount(state.count[b]), CosinePrep.sigmoid(m[h]));
                int vo = v.at(1, D, b, 0, h);
                for (int d = 0; d < D; d++) {
                    w[vso + d] = v.data()[vo + d] * inv;
                    dw[qdo + d] = w[qo + d];
                    dw[kdo + d] = w[ko + d];
                }
                updateAndRead(state.s, bh * D * D, D, dw, qdo, kdo, w, vso, out.data(), oo);
            }
        });
    }

    /** S[i,:] += vs[i] * kh (rank-1 update, value index first) then o[i] = S[i,:] . qh, row by row in float64. */
    private static void updateAndRead(double[] s, int sOff, int D, double[] dw, int qo, int ko, float[] w, int vo,
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
                DoubleVector sv = kv.fma(vv, DoubleVector.fromArray(DS, s, row + j));
                sv.intoArray(s, row + j);
                acc = sv.fma(DoubleVector.fromArray(DS, dw, qo + j), acc);
            }
            double o = Ops.sumLanes(acc);
            for (; j < D; j++) {
                double x = s[row + j] + vi * dw[ko + j];
                s[row + j] = x;
                o += x * dw[qo + j];
            }
            out[oOff + i] = (float) o;
        }
    }
}
