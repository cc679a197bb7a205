package org.cottention.kernels;

import static org.cottention.kernels.OpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RotaryTest {
    /** Double reference on one head vector at position p (math doc §2 step 2). */
    static double[] rotate(double[] x, int rotaryDim, double p, double sign) {
        double[] y = x.clone();
        for (int i = 0; i < rotaryDim / 2; i++) {
            double th = sign * p * Math.pow(10000.0, -2.0 * i / rotaryDim);
            double c = Math.cos(th), s = Math.sin(th);
            y[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
            y[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
        }
        return y;
    }

    /** Checks buf (after the kernel) against orig rotated by the reference, and that nothing outside the view moved. */
    private static void check(float[] orig, float[] buf, int off, int stride, int b, int t, int h, int d, int rd,
                              int[] pos, double sign) {
        boolean[] inView = new boolean[buf.length];
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int hi = 0; hi < h; hi++) {
                    int o = off + (bi * t + ti) * stride + hi * d;
                    double[] y = rotate(toDouble(orig, o, d), rd, pos[bi * t + ti], sign);
                    assertClose("b" + bi + " t" + ti + " h" + hi, y, buf, o, 2e-6, 2e-6);
                    for (int k = 0; k < d; k++) inView[o + k] = true;
                }
        for (int i = 0; i < buf.length; i++) if (!inView[i]) assertEquals(orig[i], buf[i], "outside the view at " + i);
    }

    @Test
    void forwardAndBackwardMatchReferenceOnFusedQkvViews() {
        Random rnd = new Random(31);
        int[][] cases = { // batch, seq, heads, headDim, rotaryDim
                {1, 1, 1, 2, 2}, {2, 5, 3, 10, 6}, {1, 7, 2, 16, 16}, {3, 4, 4, 67 + 1, 64}};
        for (int[] cs : cases) {
            int b = cs[0], t = cs[1], h = cs[2], d = cs[3], rd = cs[4], e = h * d;
            int stride = 3 * e, off = e + 5; // the k part of a fused [B*T, 3E] qkv buffer, plus an offset
            float[] orig = randn(rnd, 5 + b * t * stride, 1);
            Rotary rot = new Rotary(rd, 2);
            for (int start : new int[] {0, 37, 900, Rotary.TABLE_LIMIT - 2, 70_000}) {
                int[] pos = new int[b * t];
                for (int i = 0; i < b * t; i++) pos[i] = start + i % t;
                float[] buf = orig.clone();
                rot.forward(buf, off, stride, b, t, h, d, start);
                check(orig, buf, off, stride, b, t, h, d, rd, pos, 1);
                float[] buf2 = orig.clone();
                rot.forward(buf2, off, stride, b, t, h, d, pos, 0);
                assertArrayEquals(buf, buf2, 0f);
                buf = orig.clone();
                rot.backward(buf, off, stride, b, t, h, d, start);
                check(orig, buf, off, stride, b, t, h, d, rd, pos, -1);
                buf2 = orig.clone();
                rot.backward(buf2, off, stride, b, t, h, d, pos, 0);
                assertArrayEquals(buf, buf2, 0f);
            }
            assertTrue(rot.capacity() >= 900 + t);
            assertTrue(rot.capacity() <= Rotary.TABLE_LIMIT, "tables stop growing at the limit: " + rot.capacity());
        }
    }

    @Test
    void backwardIsTheTransposeOfForward() {
        // <R x, y> = <x, R^T y> for random x, y, with arbitrary per-token positions.
        Random rnd = new Random(32);
        int b = 2, t = 3, h = 2, d = 12, rd = 8, n = b * t * h * d;
        float[] x = randn(rnd, n, 1), y = randn(rnd, n, 1);
        int[] pos = {5, 0, 17, 3, 3, 1000};
        Rotary rot = new Rotary(rd, 16);
        float[] rx = x.clone(), rty = y.clone();
        rot.forward(rx, 0, h * d, b, t, h, d, pos, 0);
        rot.backward(rty, 0, h * d, b, t, h, d, pos, 0);
        double l = 0, r = 0;
        for (int i = 0; i < n; i++) {
            l += (double) rx[i] * y[i];
            r += (double) x[i] * rty[i];
        }
        assertEquals(l, r, 1e-5);
    }

    @Test
    void largeInputsAreThreadCountIndependent() {
        Random rnd = new Random(33);
        int b = 2, t = 300, h = 16, d = 64;
        float[] x = randn(rnd, b * t * 3 * h * d, 1);
        Rotary rot = new Rotary(64, 1024);
        assertThreadIndependent(() -> {
            float[] y = x.clone();
            rot.forward(y, 0, 3 * h * d, b, t, h, d, 3);
            rot.forward(y, h * d, 3 * h * d, b, t, h, d, 3);
            return new float[][] {y};
        });
    }

    @Test
    void badArgumentsNameTheArgument() {
        assertThrows(IllegalArgumentException.class, () -> new Rotary(7, 10));
        Rotary rot = new Rotary(8, 10);
        float[] x = new float[2 * 16];
        var e = assertThrows(IllegalArgumentException.class, () -> rot.forward(x, 0, 6, 1, 2, 1, 6, 0));
        assertTrue(e.getMessage().contains("exceeds headDim"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> rot.forward(x, 0, 8, 1, 2, 2, 8, 0));
        assertTrue(e.getMessage().contains("rowStride"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> rot.forward(x, 1, 16, 1, 2, 2, 8, 0));
        assertTrue(e.getMessage().startsWith("x:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> rot.forward(x, 0, 16, 1, 2, 2, 8, new int[] {0, -1}, 0));
        assertTrue(e.getMessage().contains("positions[1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> rot.forward(x, 0, 16, 1, 2, 2, 8, -3));
        assertTrue(e.getMessage().contains("startPos"), e.getMessage());
    }
}
