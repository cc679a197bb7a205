package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GeluTest {
    private static final MathContext MC = new MathContext(60);
    private static final BigDecimal PI = new BigDecimal(
            "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798");

    /** erf by its Maclaurin series in 60-digit decimal arithmetic: exact to far below double rounding for |z| <= 6. */
    static BigDecimal erfBig(double zd) {
        BigDecimal z = new BigDecimal(zd), z2 = z.multiply(z, MC), pow = z, sum = BigDecimal.ZERO;
        BigDecimal fact = BigDecimal.ONE;
        for (int n = 0; n < 400; n++) {
            if (n > 0) {
                pow = pow.multiply(z2, MC).negate();
                fact = fact.multiply(BigDecimal.valueOf(n));
            }
            BigDecimal term = pow.divide(fact.multiply(BigDecimal.valueOf(2L * n + 1)), MC);
            sum = sum.add(term, MC);
            if (term.abs().compareTo(new BigDecimal("1e-55")) < 0) break;
        }
        BigDecimal twoOverSqrtPi = new BigDecimal(2).divide(PI.sqrt(MC), MC);
        return sum.multiply(twoOverSqrtPi, MC);
    }

    @Test
    void erfAndErfcMatchHighPrecisionSeries() {
        double maxErf = 0, maxErfc = 0;
        for (double z = -6; z <= 6.0001; z += 0.0625) {
            double zz = z == 0 ? 1e-3 : z;
            BigDecimal e = erfBig(zz);
            double erf = e.doubleValue(), erfc = BigDecimal.ONE.subtract(e, MC).doubleValue();
            maxErf = Math.max(maxErf, Math.abs(Gelu.erf(zz) - erf) / Math.abs(erf));
            maxErfc = Math.max(maxErfc, Math.abs(Gelu.erfc(zz) - erfc) / Math.abs(erfc));
        }
        assertTrue(maxErf < 1e-13, "max relative erf error " + maxErf);
        assertTrue(maxErfc < 1e-12, "max relative erfc error " + maxErfc);
        assertEquals(0.0, Gelu.erf(0.0));
        assertEquals(1.0, Gelu.erf(40.0));
        assertEquals(-1.0, Gelu.erf(Double.NEGATIVE_INFINITY));
        assertEquals(2.088487583762545e-45, Gelu.erfc(10.0), 1e-13 * 2.088487583762545e-45);
        assertTrue(Double.isNaN(Gelu.erf(Double.NaN)));
    }

    static double geluTanhRef(double x) {
        // 0.5 x (1 + tanh(u)) written as x sigmoid(2u): the same function, without 1 + tanh cancelling to 0 in double.
        return x / (1 + Math.exp(-2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double geluErfRef(double x) {
        return 0.5 * x * BigDecimal.ONE.add(erfBig(x / Math.sqrt(2)), MC).doubleValue();
    }

    @Test
    void forwardMatchesReferenceIncludingInPlace() {
        Random rnd = new Random(21);
        for (int n : new int[] {1, 7, 17, 67, 300}) {
            float[] x = randn(rnd, n + 2, 3);
            if (n > 5) {
                x[3] = 0f;
                x[4] = -8f;
                x[5] = 9f;
            }
            double[] et = new double[n], ee = new double[n];
            for (int i = 0; i < n; i++) {
                et[i] = geluTanhRef(x[2 + i]);
                ee[i] = geluErfRef(x[2 + i]);
            }
            float[] out = new float[n + 1];
            Gelu.tanhForward(out, 1, x, 2, n);
            // Float rounding of u = K(x + 0.044715x^3) costs |2u| ulps relatively in the far negative tail, where gelu is tiny.
            assertClose("tanh n=" + n, et, out, 1, 1e-9, 1e-6);
            Gelu.erfForward(out, 1, x, 2, n);
            assertClose("erf n=" + n, ee, out, 1, 1e-30, 2e-7);
            float[] y = x.clone();
            Gelu.erfForward(y, 2, y, 2, n);
            for (int i = 0; i < n; i++) assertEquals(out[1 + i], y[2 + i]);
        }
    }

    @Test
    void backwardMatchesFiniteDifferencesAndAccumulates() {
        Random rnd = new Random(22);
        int n = 67;
        float[] x = randn(rnd, n, 2.5), g = randn(rnd, n, 1), dx = randn(rnd, n + 1, 1), dx0 = dx.clone();
        double h = 1e-5;
        double[] et = new double[n], ee = new double[n];
        for (int i = 0; i < n; i++) {
            double v = x[i];
            et[i] = dx0[1 + i] + g[i] * (geluTanhRef(v + h) - geluTanhRef(v - h)) / (2 * h);
            ee[i] = g[i] * (geluErfRef(v + h) - geluErfRef(v - h)) / (2 * h);
        }
        Gelu.tanhBackward(dx, 1, x, 0, g, 0, n);
        assertClose("tanh backward", et, dx, 1, 1e-7, 1e-6);
        float[] d = new float[n];
        Gelu.erfBackward(d, 0, x, 0, g, 0, n);
        assertClose("erf backward", ee, d, 0, 1e-7, 1e-6);
    }

    @Test
    void tanhGradientIsFiniteAndTinyFarInTheTails() {
        // vector lanes and the scalar tail (n = 19 is not a multiple of any vector width): from the region where the
        // old x e s^2 form overflowed (x below about -10, e = exp(-2u) near the float maximum) to the clamped
        // exponential, and the positive side, where the derivative is 1
        float[] x = {-9.5f, -10f, -10.2f, -10.5f, -11f, -12f, -15f, -20f, -40f, -100f, -1e4f, -3e4f, 10f, 12f, 20f, 40f, 1e3f, 1e4f, -10.3f};
        int n = x.length;
        float[] g = new float[n], dx = new float[n];
        java.util.Arrays.fill(g, 1f);
        Gelu.tanhBackward(dx, 0, x, 0, g, 0, n);
        for (int i = 0; i < n; i++) {
            assertTrue(Float.isFinite(dx[i]), "gelu'(" + x[i] + ") = " + dx[i]);
            // beyond the exponential's clamp (x below about -10.3) s stays at ~6e-39 rather than going to 0, so the
            // far tail gives ~|x|^3 * 1e-39 instead of 0: negligible against a derivative of order 1
            if (x[i] < 0) assertTrue(Math.abs(dx[i]) < 1e-20, "gelu'(" + x[i] + ") = " + dx[i]);
            else assertEquals(1f, dx[i], 1e-6f, "gelu'(" + x[i] + ")");
        }
        // the scalar twin (a call of one element) gives the same bits as the vector lanes
        for (int i = 0; i < n; i++) {
            float[] one = new float[1];
            Gelu.tanhBackward(one, 0, x, i, g, i, 1);
            assertEquals(Float.floatToIntBits(dx[i]), Float.floatToIntBits(one[0]), "x = " + x[i]);
        }
    }

    @Test
    void largeInputsAreThreadCountIndependent() {
        Random rnd = new Random(23);
        int n = 70_001; // > 2 grains, so it fans out; odd, so split points fall mid-vector
        float[] x = randn(rnd, n, 3), g = randn(rnd, n, 1);
        assertThreadIndependent(() -> {
            float[] a = new float[n], b = new float[n], da = new float[n], db = new float[n];
            Gelu.tanhForward(a, 0, x, 0, n);
            Gelu.erfForward(b, 0, x, 0, n);
            Gelu.tanhBackward(da, 0, x, 0, g, 0, n);
            Gelu.erfBackward(db, 0, x, 0, g, 0, n);
            return new float[][] {a, b, da, db};
        });
    }

    @Test
    void badArgumentsNameTheArgument() {
        var e = assertThrows(IllegalArgumentException.class, () -> Gelu.tanhForward(new float[3], 0, new float[4], 2, 3));
        assertTrue(e.getMessage().startsWith("x:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gelu.erfBackward(new float[3], 0, new float[3], 0, new float[2], 0, 3));
        assertTrue(e.getMessage().startsWith("dout:"), e.getMessage());
    }

    @Test
    void erfFormIsAccurateOnADenseGridIncludingTheTails() {
        // x in [-8, 8] step 1/64: x Phi(x) from the 80-digit series; the float kernel stays within 3e-7 relative
        // (a few float ulps; x Phi(x) spans 1e-15 .. 8 here, so this is a relative bound, not an absolute one).
        int n = 16 * 64 + 1;
        float[] x = new float[n], out = new float[n], d = new float[n], ones = new float[n];
        double[] e = new double[n], phiRef = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = -8f + i / 64f;
            phiRef[i] = 0.5 * BigDecimal.ONE.add(erfBig(x[i] / Math.sqrt(2)), MC).doubleValue();
            e[i] = x[i] * phiRef[i];
            ones[i] = 1f;
        }
        Gelu.erfForward(out, 0, x, 0, n);
        assertClose("gelu_erf", e, out, 0, 1e-37, 3e-7);
        // derivative Phi(x) + x phi(x), against the same reference
        Gelu.erfBackward(d, 0, x, 0, ones, 0, n);
        double[] ed = new double[n];
        for (int i = 0; i < n; i++) {
            double v = x[i];
            ed[i] = phiRef[i] + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
        }
        assertClose("gelu_erf'", ed, d, 0, 1e-12, 3e-7);
        // far tails: exactly x beyond +14, and a tiny negative (or zero) value below -14
        float[] far = {20f, 1e6f, -20f, -1e6f, Float.MAX_VALUE};
        float[] fo = new float[far.length];
        Gelu.erfForward(fo, 0, far, 0, far.length);
        assertEquals(20f, fo[0]);
        assertEquals(1e6f, fo[1]);
        assertTrue(fo[2] <= 0f && fo[2] > -1e-40f);
        assertTrue(fo[3] <= 0f && fo[3] > -1e-40f);
        assertEquals(Float.MAX_VALUE, fo[4]);
    }
}
