package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class OpsTest {
    private static final int[] SIZES = {0, 1, 7, 17, 67, 1000};

    @Test
    void elementwiseOpsMatchScalarReferenceOnOffsetViews() {
        Random rnd = new Random(1);
        for (int n : SIZES) {
            int off = 3;
            float[] a = randn(rnd, n + 5, 1), b = randn(rnd, n + 5, 1), c = randn(rnd, n + 5, 1);
            float[] out = randn(rnd, n + 7, 1), before = out.clone();
            double[] e = new double[n];

            Ops.add(out, off, a, 1, b, 2, n);
            for (int i = 0; i < n; i++) e[i] = (double) a[1 + i] + b[2 + i];
            assertClose("add", e, out, off, 0, 1e-7);
            assertEquals(before[off - 1], out[off - 1]);
            assertEquals(before[off + n], out[off + n]);

            Ops.add3(out, off, a, 1, b, 2, c, 0, n);
            for (int i = 0; i < n; i++) e[i] = (double) a[1 + i] + b[2 + i] + c[i];
            assertClose("add3", e, out, off, 1e-6, 1e-6);

            float[] y = out.clone();
            Ops.addInPlace(y, off, a, 4, n);
            for (int i = 0; i < n; i++) e[i] = (double) out[off + i] + a[4 + i];
            assertClose("addInPlace", e, y, off, 0, 1e-7);

            y = out.clone();
            Ops.axpy(y, off, -0.37f, a, 4, n);
            for (int i = 0; i < n; i++) e[i] = out[off + i] - 0.37 * a[4 + i];
            assertClose("axpy", e, y, off, 1e-7, 1e-6);

            Ops.scale(y, off, a, 2, n, 1.5f);
            for (int i = 0; i < n; i++) e[i] = 1.5 * a[2 + i];
            assertClose("scale", e, y, off, 0, 1e-7);
            Ops.scaleInPlace(y, off, n, -2f);
            for (int i = 0; i < n; i++) e[i] *= -2;
            assertClose("scaleInPlace", e, y, off, 0, 1e-7);

            Ops.mul(y, off, a, 2, b, 1, n);
            for (int i = 0; i < n; i++) e[i] = (double) a[2 + i] * b[1 + i];
            assertClose("mul", e, y, off, 0, 1e-7);

            Ops.copy(y, off, c, 1, n);
            for (int i = 0; i < n; i++) assertEquals(c[1 + i], y[off + i]);
            Ops.fill(y, off, n, 4.25f);
            for (int i = 0; i < n; i++) assertEquals(4.25f, y[off + i]);

            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double) a[1 + i] * a[1 + i];
            assertEquals(ss, Ops.sumOfSquares(a, 1, n), 1e-6 * Math.max(1, ss));
        }
    }

    @Test
    void biasAddAndBackwardMatchReference() {
        Random rnd = new Random(2);
        for (int[] nc : new int[][] {{1, 1}, {1, 7}, {3, 17}, {5, 67}, {2, 0}, {0, 5}}) {
            int n = nc[0], c = nc[1];
            float[] x = randn(rnd, n * c + 2, 1), bias = randn(rnd, c + 1, 1);
            float[] orig = x.clone();
            Ops.biasAdd(x, 2, bias, 1, n, c);
            double[] e = new double[n * c];
            for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) e[i * c + j] = (double) orig[2 + i * c + j] + bias[1 + j];
            assertClose("biasAdd", e, x, 2, 0, 1e-7);

            float[] db = randn(rnd, c + 3, 1), db0 = db.clone();
            Ops.biasBackward(db, 3, orig, 2, n, c);
            double[] eb = new double[c];
            for (int j = 0; j < c; j++) {
                eb[j] = db0[3 + j];
                for (int i = 0; i < n; i++) eb[j] += orig[2 + i * c + j];
            }
            assertClose("biasBackward", eb, db, 3, 1e-6, 1e-6);
        }
    }

    @Test
    void largeInputsAreThreadCountIndependent() {
        Random rnd = new Random(3);
        int n = 301, c = 777;
        float[] a = randn(rnd, n * c, 1), b = randn(rnd, n * c, 1), bias = randn(rnd, c, 1);
        assertThreadIndependent(() -> {
            float[] out = new float[n * c], db = new float[c], y = b.clone();
            Ops.add3(out, 0, a, 0, b, 0, a, 0, n * c);
            Ops.biasAdd(out, 0, bias, 0, n, c);
            Ops.biasBackward(db, 0, out, 0, n, c);
            Ops.axpy(y, 0, 0.3f, a, 0, n * c);
            double ss = Ops.sumOfSquares(a, 3, n * c - 3);
            return new float[][] {out, db, y, {(float) ss, (float) (ss - (float) ss)}};
        });
    }

    /** sumLanes adds the lanes by a fixed pairwise tree (lane i with lane i xor n/2, ...), identically every time, vector or stored. */
    @Test
    void sumLanesFollowsTheFixedTree() {
        var sp = Ops.S;
        Random rnd = new Random(11);
        for (int trial = 0; trial < 200; trial++) {
            float[] x = new float[sp.length()];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3));
            float[] t = x.clone();
            for (int h = t.length / 2; h >= 1; h /= 2) {
                float[] next = new float[t.length];
                for (int i = 0; i < t.length; i++) next[i] = t[i] + t[i ^ h];
                t = next;
            }
            var v = jdk.incubator.vector.FloatVector.fromArray(sp, x, 0);
            assertEquals(Float.floatToIntBits(t[0]), Float.floatToIntBits(Ops.sumLanes(v)), "trial " + trial);
            float[] stored = new float[x.length + 3]; // the scalar form over stored lanes: the same bits
            System.arraycopy(x, 0, stored, 3, x.length);
            assertEquals(Float.floatToIntBits(t[0]), Float.floatToIntBits(Ops.sumLanes(stored, 3)), "stored lanes, trial " + trial);
        }
        double[] d = new double[jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED.length()];
        for (int i = 0; i < d.length; i++) d[i] = i + 1;
        assertEquals(d.length * (d.length + 1) / 2.0, Ops.sumLanes(jdk.incubator.vector.DoubleVector.fromArray(
                jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED, d, 0)));
    }

    @Test
    void badArgumentsNameTheArgument() {
        float[] a = new float[10];
        var e = assertThrows(IllegalArgumentException.class, () -> Ops.add(a, 0, a, 0, new float[5], 0, 10));
        assertTrue(e.getMessage().startsWith("b:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.copy(a, 5, a, 0, 6));
        assertTrue(e.getMessage().startsWith("dst:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.fill(a, 0, -1, 0f));
        assertTrue(e.getMessage().contains("n must be"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.biasAdd(a, 0, new float[3], 0, 2, 4));
        assertTrue(e.getMessage().startsWith("bias:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.biasBackward(a, 0, null, 0, 1, 4));
        assertTrue(e.getMessage().contains("dout is null"), e.getMessage());
    }

    @Test
    void vectorExpIsAccurateAndMatchesItsScalarTwinBitForBit() {
        var sp = Ops.S;
        int n = sp.length() * 4096;
        float[] x = new float[n], y = new float[n];
        Random rnd = new Random(4);
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextDouble() * 175 - 87);
        x[0] = 0f; x[1] = -87.3f; x[2] = 88f; x[3] = -1e-8f; x[4] = -100f; x[5] = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i += sp.length())
            Ops.exp(jdk.incubator.vector.FloatVector.fromArray(sp, x, i)).intoArray(y, i);
        double maxRel = 0;
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToIntBits(Ops.exp(x[i])), Float.floatToIntBits(y[i]), "lane value at " + x[i]);
            double e = Math.exp(x[i]);
            if (x[i] < Ops.EXP_MIN) assertEquals(0f, y[i]);
            else maxRel = Math.max(maxRel, Math.abs(y[i] - e) / e);
        }
        assertTrue(maxRel < 3e-7, "max relative error " + maxRel);
        assertTrue(Float.isNaN(Ops.exp(Float.NaN)));
    }

    @Test
    void doubleVectorExpIsAccurateAndMatchesItsScalarTwinBitForBit() {
        var sp = jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED;
        int n = sp.length() * 4096;
        double[] x = new double[n], y = new double[n];
        Random rnd = new Random(5);
        for (int i = 0; i < n; i++) x[i] = rnd.nextDouble() * 1400 - 705;
        x[0] = 0; x[1] = -707.9; x[2] = 709; x[3] = -1e-12; x[4] = -800; x[5] = 1e-300;
        for (int i = 0; i < n; i += sp.length())
            Ops.exp(jdk.incubator.vector.DoubleVector.fromArray(sp, x, i)).intoArray(y, i);
        double maxRel = 0;
        for (int i = 0; i < n; i++) {
            assertEquals(Double.doubleToLongBits(Ops.exp(x[i])), Double.doubleToLongBits(y[i]), "lane value at " + x[i]);
            if (x[i] < -708) assertEquals(0.0, y[i]);
            else maxRel = Math.max(maxRel, Math.abs(y[i] - StrictMath.exp(x[i])) / StrictMath.exp(x[i]));
        }
        assertTrue(maxRel < 2e-15, "max relative error " + maxRel);
    }
}
