package org.cottention.kernels;

import static org.cottention.kernels.Ops.S;
import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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

    // gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)), u = K (x + C x^3): the sigmoid form
    // keeps full relative accuracy where tanh(u) is near -1 (1 + tanh would cancel). With e = exp(-2u),
    // s = 1 / (1 + e): gelu' = s + 2 x s (1 - s) u' = s + x (e s) s (2K + 6KC x^2), using 1 - s = e s (no cancellation).
    // The product is taken as (e s) s, never x e s^2: far in the negative tail (x below about -10) e is near the float
    // maximum, x e overflows to -inf and s^2 underflows to 0, and -inf * 0 made the gradient NaN while every forward
    // value stayed finite (an MQAR training run diverged that way at step 2229). e s is at most 1.
    private static final float K = (float) SQRT_2_OVER_PI;
    private static final float M2K = (float) (-2 * SQRT_2_OVER_PI);
    private static final float M2KC = (float) (-2 * SQRT_2_OVER_PI * TANH_CUBIC);
    private static final float K2 = (float) (2 * SQRT_2_OVER_PI);
    private static final float K6C = (float) (6 * SQRT_2_OVER_PI * TANH_CUBIC);

    /** out[i] = gelu_tanh(x[i]), n elements. */
    public static void tanhForward(float[] out, int outOff, float[] x, int xOff, int n) {
        check(out, outOff, "out", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, xOff + i);
                FloatVector e = Ops.exp(v.mul(v).fma(M2KC, M2K).mul(v));
                v.div(e.add(1f)).intoArray(out, outOff + i);
            }
            for (; i < hi; i++) {
                float v = x[xOff + i];
                float e = Ops.exp(Math.fma(v * v, M2KC, M2K) * v);
                out[outOff + i] = v / (e + 1f);
            }
        });
    }

    /** dx[i] += gelu_tanh'(x[i]) * dout[i], n elements; x is the forward's input. */
    public static void tanhBackward(float[] dx, int dxOff, float[] x, int xOff, float[] dout, int doutOff, int n) {
        check(dx, dxOff, "dx", x, xOff, n);
        requireRange("dout", dout, doutOff, n);
        elementwise(n, (lo, hi) -> {
            int i = lo;
            for (int up = lo + S.loopBound(hi - lo); i < up; i += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, xOff + i), v2 = v.mul(v);
                FloatVector e = Ops.exp(v2.fma(M2KC, M2K).mul(v));
                FloatVector s = FloatVector.broadcast(S, 1f).div(e.add(1f));
                FloatVector d = v.mul(e.mul(s)).mul(s).mul(v2.fma(K6C, K2)).add(s);
                d.fma(FloatVector.fromArray(S, dout, doutOff + i), FloatVector.fromArray(S, dx, dxOff + i)).intoArray(dx, dxOff + i);
            }
            for (; i < hi; i++) {
                float v = x[xOff + i], v2 = v * v;
                float e = Ops.exp(Math.fma(v2, M2KC, M2K) * v);
                float s = 1f / (e + 1f);
                float d = v * (e * s) * s * Math.fma(v2, K6C, K2) + s;
                dx[dxOff + i] = Math.fma(d, dout[doutOff + i], dx[dxOff + i]);
            }
        });
    }

    // ---------------------------------------------------------------------------------------------- erf form

    // gelu_erf(x) = x Phi(x), Phi(x) = 0.5 erfc(a) for x < 0 and 1 - 0.5 erfc(a) for x >= 0, a = |x| / sqrt 2.
    // erfc(a) = t exp(-a^2) h(t) with t = 1 / (1 + a/2) (the substitution of Numerical Recipes' erfcc), where
    // h(t) = erfc(a) e^(a^2) / t is smooth and between 0.28 and 1. h is interpolated at class load by a Chebyshev
    // series on a in [0, A_MAX] (t in [T_MIN, 1]) from the exact erfc below; beyond A_MAX erfc(a) < 2e-45 counts
    // as 0. One exponential serves both Phi and the density phi (the JIT would not inline a second one, and a
    // vector crossing a call boundary is boxed: 20x slower).
    // Everything runs in double (float in, float out), so a^2 = x^2/2 is exact and the result
    // is within a few float ulps of x Phi(x); Chebyshev truncation error is far below that (checked in tests).
    private static final double A_MAX = 10.0;
    private static final double T_MIN = 1.0 / (1.0 + 0.5 * A_MAX);
    private static final int CHEB_N = 30;     // interpolation nodes
    private static final int CHEB_TERMS = 16; // terms kept: |c_k| < 1e-12 for k >= 16, and h >= 0.28
    private static final double[] CHEB = chebyshevFit();
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;

    /** Chebyshev coefficients of h on t in [T_MIN, 1], s = (2t - 1 - T_MIN) / (1 - T_MIN) in [-1, 1]. */
    private static double[] chebyshevFit() {
        double[] f = new double[CHEB_N], c = new double[CHEB_N];
        for (int j = 0; j < CHEB_N; j++) {
            double s = StrictMath.cos(Math.PI * (j + 0.5) / CHEB_N);
            double t = (s * (1 - T_MIN) + 1 + T_MIN) / 2;
            double a = 2 / t - 2;
            f[j] = erfcScaled(a) / t;
        }
        for (int k = 0; k < CHEB_N; k++) {
            double sum = 0;
            for (int j = 0; j < CHEB_N; j++) sum += f[j] * StrictMath.cos(Math.PI * k * (j + 0.5) / CHEB_N);
            c[k] = 2.0 * sum / CHEB_N;
        }
        c[0] /= 2;
        return java.util.Arrays.copyOf(c, CHEB_TERMS);
    }

    /** h(t) by Clenshaw's recurrence (scalar twin of {@link #chebyshev(DoubleVector)}). */
    private static double chebyshev(double t) {
        double s = (2 * t - 1 - T_MIN) / (1 - T_MIN), s2 = 2 * s, b1 = 0, b2 = 0;
        for (int k = CHEB_TERMS - 1; k >= 1; k--) {
            double b = Math.fma(s2, b1, CHEB[k] - b2);
            b2 = b1;
            b1 = b;
        }
        return Math.fma(s, b1, CHEB[0] - b2);
    }

    private static DoubleVector chebyshev(DoubleVector t) {
        DoubleVector s = t.mul(2).sub(1 + T_MIN).div(1 - T_MIN), s2 = s.mul(2);
        DoubleVector b1 = DoubleVector.zero(DS), b2 = DoubleVector.zero(DS);
        for (int k = CHEB_TERMS - 1; k >= 1; k--) {
            DoubleVector b = s2.fma(b1, DoubleVector.broadcast(DS, CHEB[k]).sub(b2));
            b2 = b1;
            b1 = b;
        }
        return s.fma(b1, DoubleVector.broadcast(DS, CHEB[0]).sub(b2));
    }

    /** Phi(x), or with derivative = true Phi(x) + x phi(x) (the derivative of x Phi(x)). Twin of the vector code. */
    private static double phiOrDerivative(double x, boolean derivative) {
        double a = Math.abs(x) * INV_SQRT_2, a2 = x * x * 0.5;
        double t = 1 / (1 + 0.5 * Math.min(a, A_MAX));
        double e = Ops.exp(-a2);
        double half = a > A_MAX ? 0 : 0.5 * t * e * chebyshev(t); // 0.5 erfc(a)
        double phi = x < 0 ? half : 1 - half;
        return derivative ? Math.fma(x * INV_SQRT_2PI, e, phi) : phi;
    }

    private static DoubleVector phiOrDerivative(DoubleVector x, boolean derivative) {
        DoubleVector a = x.abs().mul(INV_SQRT_2), a2 = x.mul(x).mul(0.5);
        DoubleVector t = DoubleVector.broadcast(DS, 1).div(a.min(A_MAX).mul(0.5).add(1));
        DoubleVector e = Ops.exp(a2.neg());
        DoubleVector half = t.mul(0.5).mul(e).mul(chebyshev(t)).blend(0, a.compare(VectorOperators.GT, A_MAX));
        DoubleVector phi = DoubleVector.broadcast(DS, 1).sub(half).blend(half, x.compare(VectorOperators.LT, 0));
        return derivative ? x.mul(INV_SQRT_2PI).fma(e, phi) : phi;
    }

    /** out[i] = gelu_erf(x[i]) = x[i] Phi(x[i]), n elements. */
    public static void erfForward(float[] out, int outOff, float[] x, int xOff, int n) {
        check(out, outOff, "out", x, xOff, n);
        elementwise(n, (lo, hi) -> {
            // Float <-> double through a small buffer: plain conversion loops the JIT vectorises, where the Vector
            // API's float-to-double reshaping was not intrinsified (boxed, ~10x slower).
            double[] buf = new double[BLOCK];
            for (int i0 = lo; i0 < hi; i0 += BLOCK) {
                int m = Math.min(BLOCK, hi - i0);
                for (int j = 0; j < m; j++) buf[j] = x[xOff + i0 + j];
                int j = 0;
                for (int up = DS.loopBound(m); j < up; j += DS.length()) {
                    DoubleVector v = DoubleVector.fromArray(DS, buf, j);
                    v.mul(phiOrDerivative(v, false)).intoArray(buf, j);
                }
                for (; j < m; j++) buf[j] = buf[j] * phiOrDerivative(buf[j], false);
                for (j = 0; j < m; j++) out[outOff + i0 + j] = (float) buf[j];
            }
        });
    }

    /** dx[i] += gelu_erf'(x[i]) * dout[i] with gelu_erf'(x) = Phi(x) + x phi(x), n elements. */
    public static void erfBackward(float[] dx, int dxOff, float[] x, int xOff, float[] dout, int doutOff, int n) {
        check(dx, dxOff, "dx", x, xOff, n);
        requireRange("dout", dout, doutOff, n);
        elementwise(n, (lo, hi) -> {
            double[] buf = new double[BLOCK];
            for (int i0 = lo; i0 < hi; i0 += BLOCK) {
                int m = Math.min(BLOCK, hi - i0);
                for (int j = 0; j < m; j++) buf[j] = x[xOff + i0 + j];
                int j = 0;
                for (int up = DS.loopBound(m); j < up; j += DS.length())
                    phiOrDerivative(DoubleVector.fromArray(DS, buf, j), true).intoArray(buf, j);
                for (; j < m; j++) buf[j] = phiOrDerivative(buf[j], true);
                for (j = 0; j < m; j++) {
                    int i = i0 + j;
                    dx[dxOff + i] = (float) Math.fma(buf[j], dout[doutOff + i], dx[dxOff + i]);
                }
            }
        });
    }

    private static final int BLOCK = 512;

    /**
     * erfc(z) e^(z^2) for z >= 0, without underflow for large z: from the series below 2.5, from the continued
     * fraction above.
     */
    static double erfcScaled(double z) {
        if (z < 2.5) return (1.0 - erfSeries(z)) * StrictMath.exp(z * z);
        double f = z;
        for (int n = 120; n >= 1; n--) f = z + 0.5 * n / f;
        return 1.0 / (Math.sqrt(Math.PI) * f);
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
        return 2.0 / Math.sqrt(Math.PI) * StrictMath.exp(-z2) * sum;
    }

    /**
     * erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))), for z >= 2.5, evaluated
     * bottom-up from a fixed depth that is ample at z = 2.5 and more than enough beyond.
     */
    private static double erfcContinuedFraction(double z) {
        double f = z;
        for (int n = 120; n >= 1; n--) f = z + 0.5 * n / f;
        return StrictMath.exp(-z * z) / (Math.sqrt(Math.PI) * f);
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
