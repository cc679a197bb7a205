package org.cottention.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Ops;

/**
 * The decay of gated cosine attention inside one chunk (math doc §8.7), for {@link CosineCausal}: with a_t <= 0 the
 * log-decay of row t and b_i = a_{r0} + ... + a_{r0+i} its running sum from the chunk's start, the chunk uses
 * Lmask[i,j] = e^{b_i - b_j} (j <= i), the row factors e^{b_i} (queries against the carried-in state) and
 * e^{b_last - b_j} (keys into the carried-out state). Every exponent is <= 0, so nothing overflows: e^{-b} is never
 * formed. With a = 0 every factor is exactly 1 and the products are those of the plain kernel, bit for bit.
 */
final class Decay {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private Decay() {}

    /** bb[i] = sum_{r <= i} a[aOff + r * stride] for i < n (summed in float64, rounded once). */
    static void cumulative(float[] a, int aOff, int stride, int n, float[] bb) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += a[aOff + i * stride];
            bb[i] = (float) s;
        }
    }

    /** e[i] = e^{bb[i]}, w[i] = e^{bb[n-1] - bb[i]} (both in (0, 1]). */
    static void rowFactors(float[] bb, int n, float[] e, float[] w) {
        float last = bb[n - 1];
        for (int i = 0; i < n; i++) {
            e[i] = (float) Math.exp(bb[i]);
            w[i] = (float) Math.exp(last - bb[i]);
        }
    }

    /** dst row i [cols] = f[i] * src row i, for n rows (src row stride lds, dst row stride ldd). */
    static void scaleRows(int n, int cols, float[] src, int sOff, int lds, float[] f, float[] dst, int dOff, int ldd) {
        for (int i = 0; i < n; i++) CosinePrep.scale(src, sOff + i * lds, f[i], dst, dOff + i * ldd, cols);
    }

    /**
     * P[i, j] *= e^{bb[i] - bb[j]} for j <= i, and P[i, j] = 0 above the diagonal (the first n rows and columns).
     * Whole vectors up to the diagonal, the lanes past it set to 0: a row's last few entries in scalar exps cost
     * more than all its vector lanes, and vector and scalar exp give the same bits.
     */
    static void maskLower(int n, float[] p, int off, int ld, float[] bb) {
        for (int i = 0; i < n; i++) {
            int row = off + i * ld, j = 0;
            FloatVector bi = FloatVector.broadcast(F, bb[i]);
            for (; j <= i && j + F.length() <= n; j += F.length()) {
                VectorMask<Float> below = F.indexInRange(j, i + 1); // lanes j + l <= i
                FloatVector m = Ops.exp(bi.sub(FloatVector.fromArray(F, bb, j)));
                FloatVector.fromArray(F, p, row + j).mul(m).blend(0f, below.not()).intoArray(p, row + j);
            }
            for (; j <= i; j++) p[row + j] *= exp(bb[i] - bb[j]);
            java.util.Arrays.fill(p, row + j, row + n, 0f);
        }
    }

    /**
     * The backward's masking of the raw products P = Q K^T and dP = dO V^T in one pass: P .*= Lmask, colsum[j] +=
     * sum_i dP[i, j] P[i, j] (with the masked P: the part of dL/db_j that b_j's column carries), then dP .*= Lmask;
     * both zero above the diagonal. Vectorised as {@link #maskLower}; colsum is left as it is past the diagonal.
     */
    static void maskLowerPair(int n, float[] p, float[] dp, int off, int ld, float[] bb, float[] colsum) {
        for (int i = 0; i < n; i++) {
            int row = off + i * ld, j = 0;
            FloatVector bi = FloatVector.broadcast(F, bb[i]);
            for (; j <= i && j + F.length() <= n; j += F.length()) {
                VectorMask<Float> above = F.indexInRange(j, i + 1).not();
                FloatVector m = Ops.exp(bi.sub(FloatVector.fromArray(F, bb, j)));
                FloatVector pv = FloatVector.fromArray(F, p, row + j).mul(m).blend(0f, above), dv = FloatVector.fromArray(F, dp, row + j);
                FloatVector cs = FloatVector.fromArray(F, colsum, j);
                pv.intoArray(p, row + j);
                dv.fma(pv, cs).blend(cs, above).intoArray(colsum, j);
                dv.mul(m).blend(0f, above).intoArray(dp, row + j);
            }
            for (; j <= i; j++) {
                float m = exp(bb[i] - bb[j]), pv = p[row + j] * m;
                p[row + j] = pv;
                colsum[j] = Math.fma(dp[row + j], pv, colsum[j]); // as the vector lanes
                dp[row + j] *= m;
            }
            java.util.Arrays.fill(p, row + j, row + n, 0f);
            java.util.Arrays.fill(dp, row + j, row + n, 0f);
        }
    }

    /** The scalar twin of the vector exp (loop tails get the same values as vector lanes). */
    private static float exp(float x) {
        return Ops.exp(x);
    }
}
