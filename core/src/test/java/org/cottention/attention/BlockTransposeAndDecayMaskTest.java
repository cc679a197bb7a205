package org.cottention.attention;

import org.cottention.kernels.Ops;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The chunk kernels' small helpers against scalar loops, bit for bit: {@link BlockMm#transpose} (gathered vectors of
 * rows, then eight rows, then one) and the decay's masks {@link Decay#maskLower} / {@link Decay#maskLowerPair} (whole
 * vectors up to the diagonal: the same bits as one scalar exp, or one product of the factors e^{b_i} e^{-b_j}, per
 * entry, since the vector exp and its scalar twin agree).
 */
class BlockTransposeAndDecayMaskTest {
    @Test
    void transposeIsAnExactCopyForEveryRowCount() {
        Random r = new Random(3);
        for (int rows : new int[]{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 67})
            for (int cols : new int[]{1, 5, 64}) {
                int lds = cols + 3, ldd = rows + 2;
                int sOff = 4;
                float[] src = new float[sOff + rows * lds], dst = new float[cols * ldd + 5];
                for (int i = 0; i < src.length; i++) src[i] = r.nextFloat();
                java.util.Arrays.fill(dst, -7f);
                BlockMm.transpose(rows, cols, src, sOff, lds, dst, 5, ldd);
                for (int c = 0; c < cols; c++)
                    for (int i = 0; i < ldd; i++) {
                        float want = i < rows ? src[sOff + i * lds + c] : -7f; // the padding of each row untouched
                        assertEquals(want, dst[5 + c * ldd + i], "rows " + rows + " cols " + cols + " at (" + c + ", " + i + ")");
                    }
            }
    }

    @Test
    void masksMatchTheirScalarLoopBitForBitAndLmaskToRounding() {
        Random r = new Random(5);
        for (int n : new int[]{1, 7, 16, 17, 37, 64})
            for (double scale : new double[]{0, 0.05, 3, 30}) { // no decay, mild, strong, underflowing inside the chunk
                int ld = n + 3;
                float[] bb = new float[n];
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s -= scale * r.nextDouble();
                    bb[i] = (float) s;
                }
                float[] p = randn(r, n * ld), dp = randn(r, n * ld), colsum = randn(r, n);
                float[] p1 = p.clone(), p2 = p.clone(), dp2 = dp.clone(), colsum2 = colsum.clone();
                float[] e = new float[n], w = new float[n], u = new float[n];
                boolean factored = Decay.rowFactors(bb, n, e, w, u);
                assertEquals(-bb[n - 1] <= Decay.FACTORED_LIMIT, factored, "factored, scale " + scale);
                for (int i = 0; i < n; i++) { // float32's rounding, and 1 exactly without a decay
                    double ei = Math.exp(bb[i]), wi = Math.exp((double) (bb[n - 1] - bb[i]));
                    assertEquals(ei, e[i], 3e-7 * ei + 2e-38, where(n, scale) + " e[" + i + "]");
                    assertEquals(wi, w[i], 3e-7 * wi + 2e-38, where(n, scale) + " w[" + i + "]");
                    if (factored) assertEquals(1 / ei, u[i], 3e-7 / ei, where(n, scale) + " u[" + i + "]");
                    if (scale == 0) assertEquals(1f, e[i] * w[i] * (factored ? u[i] : 1f), where(n, scale) + " factors at a = 0");
                }
                Decay.maskLower(n, p1, 0, ld, bb, e, factored ? u : null);
                Decay.maskLowerPair(n, p2, dp2, 0, ld, bb, e, factored ? u : null, colsum2);
                // the scalar loop: row by row, so colsum's multiply-adds come in the same order
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        int at = i * ld + j;
                        if (j > i) {
                            p[at] = 0f;
                            dp[at] = 0f;
                            continue;
                        }
                        float m = factored ? u[j] * e[i] : Ops.exp(bb[i] - bb[j]), pv = p[at] * m;
                        // either form is Lmask to float32's rounding (the exps also round bb[i] - bb[j] to a float first, and give 0
                        // below e^-87.3)
                        double want = Math.exp((double) bb[i] - bb[j]), rel = factored ? 7e-7 : 4e-7 + 1.2e-7 * Math.abs(bb[n - 1]);
                        assertEquals(want, m, rel * want + 2e-38, where(n, scale) + " Lmask (" + i + ", " + j + ")");
                        p[at] = pv;
                        colsum[j] = Math.fma(dp[at], pv, colsum[j]);
                        dp[at] *= m;
                    }
                String where = where(n, scale);
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        int at = i * ld + j;
                        assertEquals(Float.floatToRawIntBits(p[at]), Float.floatToRawIntBits(p1[at]), where + " maskLower (" + i + ", " + j + ")");
                        assertEquals(Float.floatToRawIntBits(p[at]), Float.floatToRawIntBits(p2[at]), where + " maskLowerPair P (" + i + ", " + j + ")");
                        assertEquals(Float.floatToRawIntBits(dp[at]), Float.floatToRawIntBits(dp2[at]), where + " maskLowerPair dP (" + i + ", " + j + ")");
                    }
                for (int j = 0; j < n; j++)
                    assertEquals(Float.floatToRawIntBits(colsum[j]), Float.floatToRawIntBits(colsum2[j]), where + " colsum " + j);
            }
    }

    private static String where(int n, double scale) {
        return "n " + n + " scale " + scale;
    }

    private static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
