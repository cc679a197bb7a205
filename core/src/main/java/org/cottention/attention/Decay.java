package org.cottention.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Ops;

/**
 * The decay of gated cosine attention inside one chunk (math doc §8.7), for {@link CosineCausal}: with a_t <= 0 the
 * log-decay of row t and b_i = a_{r0} + ... + a_{r0+i} its running sum from the chunk's start, the chunk uses
 * Lmask[i,j] = e^{b_i - b_j} (j <= i), the row factors e^{b_i} (queries against the carried-in state) and
 * e^{b_last - b_j} (keys into the carried-out state). Lmask is the outer product e^{b_i} e^{-b_j} where the chunk
 * decays by at most e^-40 (a multiply per entry, and more accurate than an exp of the float difference b_i - b_j),
 * else one exp per entry, whose exponent is <= 0: nothing overflows either way. With a = 0 every factor is exactly 1
 * and the products are those of the plain kernel, bit for bit.
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

    /**
     * Most decay within a chunk, -b_last, for which Lmask is formed as the outer product e^{b_i} e^{-b_j} instead of
     * one exp per entry: e^40 ~ 2e17 is far from overflow and e^-40 far from the subnormals, so each factor and their
     * product carry float32's relative error; a chunk that decays more than that (memories under a token or two)
     * takes the exps.
     */
    static final float FACTORED_LIMIT = 40f;

    /**
     * e[i] = e^{bb[i]}, w[i] = e^{bb[n-1] - bb[i]} (both in (0, 1]), and, when the chunk decays by at most
     * {@link #FACTORED_LIMIT}, u[i] = e^{-bb[i]} (>= 1), the column factors of Lmask. Returns whether u was filled.
     */
    static boolean rowFactors(float[] bb, int n, float[] e, float[] w, float[] u) {
        float last = bb[n - 1];
        for (int i = 0; i < n; i++) {
            e[i] = (float) Math.exp(bb[i]);
            w[i] = (float) Math.exp(last - bb[i]);
        }
        if (!(-last <= FACTORED_LIMIT)) return false;
        for (int i = 0; i < n; i++) u[i] = (float) Math.exp(-bb[i]);
        return true;
    }

    /** dst row i [cols] = f[i] * src row i, for n rows (src row stride lds, dst row stride ldd). */
    static void scaleRows(int n, int cols, float[] src, int sOff, int lds, float[] f, float[] dst, int dOff, int ldd) {
        for (int i = 0; i < n; i++) CosinePrep.scale(src, sOff + i * lds, f[i], dst, dOff + i * ldd, cols);
    }

    /**
     * P[i, j] *= Lmask[i, j] for j <= i, and P[i, j] = 0 above the diagonal (the first n rows and columns), with
     * Lmask[i, j] = e[i] * u[j] when u is not null (the factors of {@link #rowFactors}: a multiply per entry), else
     * e^{bb[i] - bb[j]}. Whole vectors up to the diagonal, the lanes past it set to 0: a row's last few entries in
     * scalar exps cost more than all its vector lanes, and vector and scalar exp give the same bits.
     *
     * <p>The two forms are two methods, each one plain loop: written as one loop that chooses its vector per
     * iteration, or as loops handing their vectors to a shared helper, they left vectors boxed on the heap under C2
     * (measured: several times slower, and allocating).
     */
    static void maskLower(int n, float[] p, int off, int ld, float[] bb, float[] e, float[] u) {
        if (u == null) {
            maskLowerExp(n, p, off, ld, bb);
            return;
        }
        for (int i = 0; i < n; i++) {
            int row = off + i * ld, j = 0;
            FloatVector ei = FloatVector.broadcast(F, e[i]);
            for (; j <= i && j + F.length() <= n; j += F.length()) // lanes j + l <= i kept
                FloatVector.fromArray(F, p, row + j).mul(FloatVector.fromArray(F, u, j).mul(ei)).blend(0f, F.indexInRange(j, i + 1).not())
                        .intoArray(p, row + j);
            for (; j <= i; j++) p[row + j] *= u[j] * e[i];
            java.util.Arrays.fill(p, row + j, row + n, 0f);
        }
    }

    /** {@link #maskLower} with one exp per entry. */
    private static void maskLowerExp(int n, float[] p, int off, int ld, float[] bb) {
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
     * both zero above the diagonal; Lmask, its two forms and the vectors as in {@link #maskLower}; colsum is left as it
     * is past the diagonal.
     */
    static void maskLowerPair(int n, float[] p, float[] dp, int off, int ld, float[] bb, float[] e, float[] u, float[] colsum) {
        if (u == null) {
            maskLowerPairExp(n, p, dp, off, ld, bb, colsum);
            return;
        }
        for (int i = 0; i < n; i++) {
            int row = off + i * ld, j = 0;
            FloatVector ei = FloatVector.broadcast(F, e[i]);
            for (; j <= i && j + F.length() <= n; j += F.length()) {
                VectorMask<Float> above = F.indexInRange(j, i + 1).not();
                FloatVector m = FloatVector.fromArray(F, u, j).mul(ei);
                FloatVector pv = FloatVector.fromArray(F, p, row + j).mul(m).blend(0f, above), dv = FloatVector.fromArray(F, dp, row + j);
                FloatVector cs = FloatVector.fromArray(F, colsum, j);
                pv.intoArray(p, row + j);
                dv.fma(pv, cs).blend(cs, above).intoArray(colsum, j);
                dv.mul(m).blend(0f, above).intoArray(dp, row + j);
            }
            for (; j <= i; j++) {
                float m = u[j] * e[i], pv = p[row + j] * m;
                p[row + j] = pv;
                colsum[j] = Math.fma(dp[row + j], pv, colsum[j]); // as the vector lanes
                dp[row + j] *= m;
            }
            java.util.Arrays.fill(p, row + j, row + n, 0f);
            java.util.Arrays.fill(dp, row + j, row + n, 0f);
        }
    }

    /** {@link #maskLowerPair} with one exp per entry. */
    private static void maskLowerPairExp(int n, float[] p, float[] dp, int off, int ld, float[] bb, float[] colsum) {
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
