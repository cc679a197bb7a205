package org.cottention.kernels;

import static org.cottention.kernels.Ops.S;
import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Layer normalisation over the last dimension of x [n, c]:
 * {@code out = (x - mean) * rstd * weight + bias}, {@code rstd = 1 / sqrt(var + eps)} with the biased variance
 * (PyTorch's nn.LayerNorm). Rows are independent and computed one per task, so results do not depend on the thread
 * count. Mean and variance use two passes over the row (no catastrophic cancellation).
 */
public final class LayerNorm {
    private LayerNorm() {}

    /**
     * out [n, c] = layernorm(x [n, c]) with weight [c], bias [c]. mean [n] and rstd [n] receive the per-row statistics
     * the backward needs; pass null for both at inference. out may be x (in place).
     */
    public static void forward(float[] out, int outOff, float[] mean, int meanOff, float[] rstd, int rstdOff,
                               float[] x, int xOff, float[] weight, int weightOff, float[] bias, int biasOff,
                               int n, int c, float eps) {
        requireNonNegative("n", n);
        Ops.requirePositive("c", c);
        long nc = (long) n * c;
        requireRange("out", out, outOff, nc);
        requireRange("x", x, xOff, nc);
        requireRange("weight", weight, weightOff, c);
        requireRange("bias", bias, biasOff, c);
        if ((mean == null) != (rstd == null)) throw new IllegalArgumentException("mean and rstd must both be given or both be null");
        if (mean != null) {
            requireRange("mean", mean, meanOff, n);
            requireRange("rstd", rstd, rstdOff, n);
        }
        if (!(eps >= 0f)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
        Parallel.forRange(n, nc < 2L * Ops.PARALLEL_MIN ? Math.max(1, n) : Ops.rowGrain(c), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int xo = xOff + r * c, oo = outOff + r * c;
                float m = sum(x, xo, c) / c;
                float v = sumSquaredDeviation(x, xo, c, m) / c;
                float s = (float) (1.0 / Math.sqrt((double) v + eps));
                if (mean != null) {
                    mean[meanOff + r] = m;
                    rstd[rstdOff + r] = s;
                }
                FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
                int j = 0;
                for (int up = S.loopBound(c); j < up; j += S.length()) {
                    FloatVector xh = FloatVector.fromArray(S, x, xo + j).sub(vm).mul(vs);
                    xh.fma(FloatVector.fromArray(S, weight, weightOff + j), FloatVector.fromArray(S, bias, biasOff + j))
                            .intoArray(out, oo + j);
                }
                for (; j < c; j++) {
                    float xh = (x[xo + j] - m) * s;
                    out[oo + j] = Math.fma(xh, weight[weightOff + j], bias[biasOff + j]);
                }
            }
        });
    }

    /**
     * Backward of {@link #forward}, ACCUMULATING: dx [n, c] += dL/dx, dweight [c] += dL/dweight, dbias [c] += dL/dbias,
     * given dout [n, c], the forward's input x, weight, and saved mean [n], rstd [n]. dweight and dbias may both be
     * null (frozen parameters). dx rows are parallel over rows; dweight/dbias are parallel over column ranges with
     * each column summed over rows 0..n-1 in order, so every output is bit-identical for any thread count.
     * dx must not alias dout or x.
     */
    public static void backward(float[] dx, int dxOff, float[] dweight, int dweightOff, float[] dbias, int dbiasOff,
                                float[] dout, int doutOff, float[] x, int xOff, float[] weight, int weightOff,
                                float[] mean, int meanOff, float[] rstd, int rstdOff, int n, int c) {
        requireNonNegative("n", n);
        Ops.requirePositive("c", c);
        long nc = (long) n * c;
        requireRange("dx", dx, dxOff, nc);
        requireRange("dout", dout, doutOff, nc);
        requireRange("x", x, xOff, nc);
        requireRange("weight", weight, weightOff, c);
        requireRange("mean", mean, meanOff, n);
        requireRange("rstd", rstd, rstdOff, n);
        if ((dweight == null) != (dbias == null)) throw new IllegalArgumentException("dweight and dbias must both be given or both be null");
        if (dweight != null) {
            requireRange("dweight", dweight, dweightOff, c);
            requireRange("dbias", dbias, dbiasOff, c);
        }
        if (n == 0) return;
        // dx: with xh = (x - mean) * rstd and g = dout * weight,
        // dx = rstd * (g - mean(g) - xh * mean(g * xh)).
        Parallel.forRange(n, nc < 2L * Ops.PARALLEL_MIN ? n : Ops.rowGrain(c), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int xo = xOff + r * c, go = doutOff + r * c, dxo = dxOff + r * c;
                float m = mean[meanOff + r], s = rstd[rstdOff + r];
                FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
                FloatVector accG = FloatVector.zero(S), accGx = FloatVector.zero(S);
                int j = 0;
                for (int up = S.loopBound(c); j < up; j += S.length()) {
                    FloatVector xh = FloatVector.fromArray(S, x, xo + j).sub(vm).mul(vs);
                    FloatVector g = FloatVector.fromArray(S, dout, go + j).mul(FloatVector.fromArray(S, weight, weightOff + j));
                    accG = accG.add(g);
                    accGx = g.fma(xh, accGx);
                }
                float sg = Ops.sumLanes(accG), sgx = Ops.sumLanes(accGx);
                for (int jj = j; jj < c; jj++) {
                    float xh = (x[xo + jj] - m) * s;
                    float g = dout[go + jj] * weight[weightOff + jj];
                    sg += g;
                    sgx = Math.fma(g, xh, sgx);
                }
                float mg = sg / c, mgx = sgx / c;
                FloatVector vmg = FloatVector.broadcast(S, mg), vmgx = FloatVector.broadcast(S, mgx);
                j = 0;
                for (int up = S.loopBound(c); j < up; j += S.length()) {
                    FloatVector xh = FloatVector.fromArray(S, x, xo + j).sub(vm).mul(vs);
                    FloatVector g = FloatVector.fromArray(S, dout, go + j).mul(FloatVector.fromArray(S, weight, weightOff + j));
                    g.sub(vmg).sub(xh.mul(vmgx)).fma(vs, FloatVector.fromArray(S, dx, dxo + j)).intoArray(dx, dxo + j);
                }
                for (; j < c; j++) {
                    float xh = (x[xo + j] - m) * s;
                    float g = dout[go + j] * weight[weightOff + j];
                    dx[dxo + j] = Math.fma(g - mg - xh * mgx, s, dx[dxo + j]);
                }
            }
        });
        if (dweight == null) return;
        Ops.columnRanges(n, c, (lo, hi) -> {
            int w = hi - lo;
            for (int r = 0; r < n; r++) {
                int xo = xOff + r * c + lo, go = doutOff + r * c + lo;
                float m = mean[meanOff + r], s = rstd[rstdOff + r];
                FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
                int j = 0;
                for (int up = S.loopBound(w); j < up; j += S.length()) {
                    FloatVector g = FloatVector.fromArray(S, dout, go + j);
                    FloatVector xh = FloatVector.fromArray(S, x, xo + j).sub(vm).mul(vs);
                    int wo = dweightOff + lo + j, bo = dbiasOff + lo + j;
                    g.fma(xh, FloatVector.fromArray(S, dweight, wo)).intoArray(dweight, wo);
                    g.add(FloatVector.fromArray(S, dbias, bo)).intoArray(dbias, bo);
                }
                for (; j < w; j++) {
                    float g = dout[go + j], xh = (x[xo + j] - m) * s;
                    dweight[dweightOff + lo + j] = Math.fma(g, xh, dweight[dweightOff + lo + j]);
                    dbias[dbiasOff + lo + j] += g;
                }
            }
        });
    }

    private static float sum(float[] x, int off, int c) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (int up = S.loopBound(c); j < up; j += S.length()) acc = acc.add(FloatVector.fromArray(S, x, off + j));
        float s = Ops.sumLanes(acc);
        for (; j < c; j++) s += x[off + j];
        return s;
    }

    private static float sumSquaredDeviation(float[] x, int off, int c, float m) {
        FloatVector acc = FloatVector.zero(S), vm = FloatVector.broadcast(S, m);
        int j = 0;
        for (int up = S.loopBound(c); j < up; j += S.length()) {
            FloatVector d = FloatVector.fromArray(S, x, off + j).sub(vm);
            acc = d.fma(d, acc);
        }
        float s = Ops.sumLanes(acc);
        for (; j < c; j++) {
            float d = x[off + j] - m;
            s = Math.fma(d, d, s);
        }
        return s;
    }
}
