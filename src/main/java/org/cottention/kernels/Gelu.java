package org.cottention.kernels;

import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

/**
 * GELU activations, elementwise over n floats, each with its backward.
 * <ul>
 *   <li>tanh form (HF {@code gelu_new}, GPT-J): {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}</li>
 *   <li>erf form (BERT's exact {@code gelu}): {@code x Phi(x) = 0.5 x erfc(-x / sqrt 2)}</li>
 * </ul>
 * Forward outputs may alias the input (in place). Backward ACCUMULATES: dx += gelu'(x) * dout.
 */
public final class Gelu {
    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);
    private static final double TANH_CUBIC = 0.044715;
    private static final double INV_SQRT_2 = 1.0 / Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    private Gelu() {}

    // ---------------------------------------------------------------------------------------------- tanh form

    /** out[i] = gelu_tanh(x[i]), n elements. */
    public static void tanhForward(float[] out, int outOff, float[] x, int xOff, int n) {
        check(out, outOff, "out", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            for (int i = lo; i < hi; i++) out[outOff + i] = (float) geluTanh(x[xOff + i]);
        });
    }

    /** dx[i] += gelu_tanh'(x[i]) * dout[i], n elements; x is the forward's input. */
    public static void tanhBackward(float[] dx, int dxOff, float[] x, int xOff, float[] dout, int doutOff, int n) {
        check(dx, dxOff, "dx", x, xOff, n);
        requireRange("dout", dout, doutOff, n);
        elementwise(n, (lo, hi) -> {
            for (int i = lo; i < hi; i++) dx[dxOff + i] += (float) (geluTanhDerivative(x[xOff + i]) * dout[doutOff + i]);
        });
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1.0 + Math.tanh(SQRT_2_OVER_PI * (x + TANH_CUBIC * x * x * x)));
    }

    static double geluTanhDerivative(double x) {
        double t = Math.tanh(SQRT_2_OVER_PI * (x + TANH_CUBIC * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * x * x);
    }

    // ---------------------------------------------------------------------------------------------- erf form

    /** out[i] = gelu_erf(x[i]) = x[i] Phi(x[i]), n elements. */
    public static void erfForward(float[] out, int outOff, float[] x, int xOff, int n) {
        check(out, outOff, "out", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                double v = x[xOff + i];
                out[outOff + i] = (float) (0.5 * v * erfc(-v * INV_SQRT_2));
            }
        });
    }

    /** dx[i] += gelu_erf'(x[i]) * dout[i] with gelu_erf'(x) = Phi(x) + x phi(x), n elements. */
    public static void erfBackward(float[] dx, int dxOff, float[] x, int xOff, float[] dout, int doutOff, int n) {
        check(dx, dxOff, "dx", x, xOff, n);
        requireRange("dout", dout, doutOff, n);
        elementwise(n, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                double v = x[xOff + i];
                double d = 0.5 * erfc(-v * INV_SQRT_2) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
                dx[dxOff + i] += (float) (d * dout[doutOff + i]);
            }
        });
    }

    /** The error function, accurate to about 1e-15 relative. */
    public static double erf(double z) {
        if (Double.isNaN(z)) return z;
        double a = Math.abs(z);
        double r = a < 2.5 ? erfSeries(a) : 1.0 - erfcContinuedFraction(a);
        return z < 0 ? -r : r;
    }

    /** The complementary error function 1 - erf(z), accurate to about 1e-14 relative (also where it is tiny). */
    public static double erfc(double z) {
        if (Double.isNaN(z)) return z;
        if (z < 0) return 2.0 - erfc(-z);
        return z < 2.5 ? 1.0 - erfSeries(z) : erfcContinuedFraction(z);
    }

    /**
     * erf(z) = 2/sqrt(pi) exp(-z^2) sum_n 2^n z^(2n+1) / (1*3*...*(2n+1)), for 0 <= z < 2.5. All terms are positive
     * (no cancellation); the term ratio 2z^2/(2n+3) drops below 1/2 after about 2z^2 terms.
     */
    private static double erfSeries(double z) {
        double z2 = z * z, term = z, sum = z;
        for (int n = 1; n < 200; n++) {
            term *= 2.0 * z2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        return 2.0 / Math.sqrt(Math.PI) * Math.exp(-z2) * sum;
    }

    /**
     * erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))), for z >= 2.5, evaluated
     * bottom-up from a fixed depth that is ample at z = 2.5 and more than enough beyond.
     */
    private static double erfcContinuedFraction(double z) {
        double f = z;
        for (int n = 120; n >= 1; n--) f = z + 0.5 * n / f;
        return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
    }

    // ---------------------------------------------------------------------------------------------- helpers

    private static void check(float[] out, int outOff, String outName, float[] x, int xOff, int n) {
        requireNonNegative("n", n);
        requireRange(outName, out, outOff, n);
        requireRange("x", x, xOff, n);
    }

    private interface Span {
        void run(int lo, int hi);
    }

    private static void elementwise(int n, Span body) {
        // GELU costs tens of flops per element, so fan out earlier than the plain elementwise ops do.
        int grain = Ops.PARALLEL_MIN / 8;
        if (n < 2 * grain) body.run(0, n);
        else Parallel.forRange(n, grain, body::run);
    }
}
