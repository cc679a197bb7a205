package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise L2 normalisation N(x) = x / max(||x||_2, eps) with eps = 1e-12 (torch.nn.functional.normalize), and its
 * backward. Forward returns the norm r so that backward needs only the normalised row and r.
 */
public final class L2Norm {
    public static final float EPS = 1e-12f;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private L2Norm() {}

    /** y[0..n) = scale * x / max(||x||, eps); returns ||x||. y may alias x. */
    public static float forward(float[] x, int xOff, float[] y, int yOff, int n, float scale) {
        float r = (float) Math.sqrt(sumSquares(x, xOff, n));
        float f = scale / Math.max(r, EPS);
        int j = 0;
        for (int up = F.loopBound(n); j < up; j += F.length())
            FloatVector.fromArray(F, x, xOff + j).mul(f).intoArray(y, yOff + j);
        for (; j < n; j++) y[yOff + j] = x[xOff + j] * f;
        return r;
    }

    /**
     * dx += scale * dN(x)^T dy, given u = N(x) (the forward output with scale 1) and r = ||x||:
     * (dy - (dy.u) u) / r when r >= eps, dy / eps otherwise (there N is linear).
     */
    public static void backward(float[] dy, int dyOff, float[] u, int uOff, float r, float[] dx, int dxOff, int n, float scale) {
        backward(dy, dyOff, u, uOff, r, dx, dxOff, n, scale, true);
    }

    /**
     * {@link #backward} that writes dx = scale * dN(x)^T dy instead of adding (add = false): the bits that adding into
     * a zeroed dx gives, without reading dx (a kernel's memory traffic when dx streams from memory).
     */
    public static void backward(float[] dy, int dyOff, float[] u, int uOff, float r, float[] dx, int dxOff, int n, float scale, boolean add) {
        if (r < EPS) {
            float f = scale / EPS;
            for (int j = 0; j < n; j++) dx[dxOff + j] = (add ? dx[dxOff + j] : 0f) + f * dy[dyOff + j];
            return;
        }
        float dot = dot(dy, dyOff, u, uOff, n);
        float f = scale / r;
        int j = 0;
        FloatVector vf = FloatVector.broadcast(F, f), vd = FloatVector.broadcast(F, -dot * f);
        for (int up = F.loopBound(n); j < up; j += F.length()) {
            FloatVector g = FloatVector.fromArray(F, dy, dyOff + j).mul(vf);
            g = FloatVector.fromArray(F, u, uOff + j).fma(vd, g);
            (add ? g.add(FloatVector.fromArray(F, dx, dxOff + j)) : g.add(0f)).intoArray(dx, dxOff + j);
        }
        for (; j < n; j++) dx[dxOff + j] = (add ? dx[dxOff + j] : 0f) + (f * dy[dyOff + j] - dot * f * u[uOff + j]);
    }

    /** Row-wise forward over rows [rows, n] (strided); norms[normOff + i] = ||x_i||. */
    public static void forwardRows(int rows, int n, float[] x, int xOff, int ldx, float[] y, int yOff, int ldy,
                                   float[] norms, int normOff) {
        for (int i = 0; i < rows; i++) norms[normOff + i] = forward(x, xOff + i * ldx, y, yOff + i * ldy, n, 1f);
    }

    /** Row-wise backward: dx_i += dN(x_i)^T dy_i. */
    public static void backwardRows(int rows, int n, float[] dy, int dyOff, int lddy, float[] u, int uOff, int ldu,
                                    float[] norms, int normOff, float[] dx, int dxOff, int lddx) {
        for (int i = 0; i < rows; i++)
            backward(dy, dyOff + i * lddy, u, uOff + i * ldu, norms[normOff + i], dx, dxOff + i * lddx, n, 1f);
    }

    static float sumSquares(float[] x, int off, int n) {
        int j = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int up = F.loopBound(n); j < up; j += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, off + j);
            acc = v.fma(v, acc);
        }
        float s = Ops.sumLanes(acc);
        for (; j < n; j++) s += x[off + j] * x[off + j];
        return s;
    }

    /** x . y over n elements (vectorised). */
    public static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        int j = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int up = F.loopBound(n); j < up; j += F.length())
            acc = FloatVector.fromArray(F, x, xOff + j).fma(FloatVector.fromArray(F, y, yOff + j), acc);
        float s = Ops.sumLanes(acc);
        for (; j < n; j++) s += x[xOff + j] * y[yOff + j];
        return s;
    }
}
