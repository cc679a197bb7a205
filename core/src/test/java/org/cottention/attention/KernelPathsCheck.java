package org.cottention.attention;

import org.cottention.kernels.Gemm;
import org.cottention.kernels.Machine;
import org.cottention.kernels.SegmentMatmul;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.zip.CRC32;

import static org.cottention.attention.TestData.*;

/**
 * Runs the hand-tiled kernels (BlockMm's products, the causal cosine pipeline forward and backward, GEMM, the segment
 * matmul, gated attention's convolution) in this JVM and prints one line per result: {@code name maxError crc}.
 * {@link KernelPathsTest} starts it in JVMs with other code paths (-XX:UseAVX, -XX:MaxVectorSize, the register count)
 * and compares the lines.
 *
 * <p>Each check runs {@code REPS} times so that the later rounds run C2's compiled code (the first ones the
 * interpreter's and C1's): every round must give the same bits as the first, and the error is the largest over rounds.
 * Errors are against double-precision references, relative to the size of the terms summed.
 */
final class KernelPathsCheck {
    static final int REPS = Integer.getInteger("reps", 5);
    /** Whether this round also computes the references (the first and the last: the others only compare bits). */
    private static boolean withRef;

    /** Products whose every element is one fixed-order sum: the tile shape must not change them. */
    private static final int[][] SHAPES = { // m, n, k
            {64, 64, 64}, {13, 64, 64}, {64, 32, 40}, {48, 16, 7}, {6, 16, 5}, {67, 80, 33}, {10, 13, 7}, {1, 8, 3}, {5, 30, 64}};

    public static void main(String[] args) {
        System.out.println("isa " + Machine.isa() + " registers " + Machine.VECTOR_REGISTERS);
        Check products = new Check("blockmm"), wide = new Check("blockmmAllWidths"), fused = new Check("mmPlusLower");
        Check attn = new Check("cosineCausal"), gemm = new Check("gemm"), seg = new Check("segmentMatmul"), conv = new Check("qkvConv");
        for (int rep = 0; rep < REPS; rep++) {
            withRef = rep == 0 || rep == REPS - 1;
            products.start(); wide.start(); fused.start(); attn.start(); gemm.start(); seg.start(); conv.start();
            Random r = new Random(7);
            for (int[] s : SHAPES) blockProducts(r, s[0], s[1], s[2], products, s[1] % 16 == 0 && s[0] % 16 == 0 ? wide : null, fused);
            attention(r, attn);
            gemm(r, gemm);
            segment(r, seg);
            convolution(r, conv);
            products.end(); wide.end(); fused.end(); attn.end(); gemm.end(); seg.end(); conv.end();
        }
        for (Check c : new Check[]{products, wide, fused, attn, gemm, seg, conv}) System.out.println(c);
    }

    /** Max relative error over rounds, the CRC of the first round's bits, and whether every round gave those bits. */
    static final class Check {
        final String name;
        double err;
        long first = -1;
        boolean stable = true;
        CRC32 crc;

        Check(String name) { this.name = name; }

        void start() { crc = new CRC32(); }

        void end() {
            long v = crc.getValue();
            if (first == -1) first = v;
            else if (v != first) stable = false;
        }

        void add(float[] x, int off, int len, double[] ref, double[] mag) {
            for (int i = 0; i < len; i++) {
                int bits = Float.floatToRawIntBits(x[off + i]);
                crc.update(bits); crc.update(bits >>> 8); crc.update(bits >>> 16); crc.update(bits >>> 24);
                if (ref != null && withRef) {
                    double e = Math.abs(x[off + i] - ref[i]) / (mag[i] + 1e-6);
                    if (e > 1e-3 && err <= 1e-3 && System.getProperty("debug") != null) new Throwable(name + " " + i + " " + x[off + i] + " " + ref[i]).printStackTrace();
                    err = Math.max(err, e);
                }
            }
        }

        @Override
        public String toString() {
            return name + " " + err + " " + Long.toHexString(first) + (stable ? "" : " UNSTABLE");
        }
    }

    /** A [m, k] (and its stored transpose), B [k, n]: mm for each triangle and accumulate, mmTransA, mmCausal, fused. */
    private static void blockProducts(Random r, int m, int n, int k, Check c, Check allWidths, Check fused) {
        int lda = k + 3, ldb = n + 1, ldc = n + 2;
        float[] dense = randn(r, m * lda), b = randn(r, k * ldb);
        for (int tri : new int[]{BlockMm.FULL, BlockMm.A_LOWER, BlockMm.A_UPPER}) {
            // a triangular A holds zeros outside its triangle (the tiles read up to their last row's diagonal)
            float[] a = dense.clone(), at = new float[k * (m + 1)];
            for (int i = 0; i < m; i++)
                for (int p = 0; p < k; p++) {
                    if (tri == BlockMm.A_LOWER && p > i || tri == BlockMm.A_UPPER && p < i) a[i * lda + p] = 0;
                    at[p * (m + 1) + i] = a[i * lda + p];
                }
            for (boolean acc : new boolean[]{false, true})
                for (boolean trans : new boolean[]{false, true}) {
                    float[] out = randn(r, m * ldc);
                    double[] ref = new double[m * n], mag = new double[m * n];
                    for (int i = 0; i < (withRef ? m : 0); i++)
                        for (int j = 0; j < n; j++) {
                            int lo = tri == BlockMm.A_UPPER ? i : 0, hi = tri == BlockMm.A_LOWER ? Math.min(k, i + 1) : k;
                            double s = acc ? out[i * ldc + j] : 0, g = Math.abs(s);
                            for (int p = lo; p < hi; p++) {
                                s += (double) a[i * lda + p] * b[p * ldb + j];
                                g += Math.abs((double) a[i * lda + p] * b[p * ldb + j]);
                            }
                            ref[i * n + j] = s;
                            mag[i * n + j] = g;
                        }
                    if (trans) BlockMm.mmTransA(m, n, k, at, 0, m + 1, b, 0, ldb, out, 0, ldc, acc, tri);
                    else BlockMm.mm(m, n, k, a, 0, lda, b, 0, ldb, out, 0, ldc, acc, tri);
                    for (int i = 0; i < m; i++) {
                        c.add(out, i * ldc, n, slice(ref, i * n, n), slice(mag, i * n, n));
                        if (allWidths != null) allWidths.add(out, i * ldc, n, null, null);
                    }
                }
        }
        float[] a = dense;
        // Q K^T below the diagonal: square m x m with B = [k, m]
        float[] bt = randn(r, k * m), p = new float[m * m];
        BlockMm.mmCausal(m, k, a, 0, lda, bt, 0, m, p, 0, m);
        BlockMm.keepLower(m, p, 0, m);
        for (int i = 0; i < m; i++) {
            double[] ref = new double[m], mag = new double[m];
            for (int j = 0; j <= (withRef ? i : -1); j++)
                for (int q = 0; q < k; q++) {
                    ref[j] += (double) a[i * lda + q] * bt[q * m + j];
                    mag[j] += Math.abs((double) a[i * lda + q] * bt[q * m + j]);
                }
            c.add(p, i * m, m, ref, mag);
            if (allWidths != null) allWidths.add(p, i * m, m, null, null);
        }
        // fused O = A B + P B2 with P = the lower triangle just computed (m x m), B2 [m, n]
        float[] b2 = randn(r, m * n), o = new float[m * n];
        BlockMm.mmPlusLower(m, n, k, a, 0, lda, b, 0, ldb, m, p, 0, m, b2, 0, n, o, 0, n);
        for (int i = 0; i < m; i++) {
            double[] ref = new double[n], mag = new double[n];
            for (int j = 0; j < (withRef ? n : 0); j++) {
                for (int q = 0; q < k; q++) { ref[j] += (double) a[i * lda + q] * b[q * ldb + j]; mag[j] += Math.abs((double) a[i * lda + q] * b[q * ldb + j]); }
                for (int q = 0; q <= i; q++) { ref[j] += (double) p[i * m + q] * b2[q * n + j]; mag[j] += Math.abs((double) p[i * m + q] * b2[q * n + j]); }
            }
            fused.add(o, i * n, n, ref, mag);
        }
    }

    /** The pipeline forward and backward (B 2, T 100 with padding, H 3, D 64 and D 20) against the quadratic form. */
    private static void attention(Random r, Check c) {
        for (int D : new int[]{64, 20}) {
            int B = 2, T = 100, H = 3, n = B * T * H * D;
            AttnShape shape = new AttnShape(B, T, H, D);
            float[] q = randn(r, n), k = randn(r, n), v = randn(r, n), g = randn(r, n), m = {0.3f, -0.5f, 1.1f};
            int[] mask = mask(B, T, 0, 3);
            float[] o1 = new float[n], dq1 = new float[n], dk1 = new float[n], dv1 = new float[n], dm1 = new float[H];
            float[] o2 = new float[n], dq2 = new float[n], dk2 = new float[n], dv2 = new float[n], dm2 = new float[H];
            Heads hq = Heads.of(q, H * D), hk = Heads.of(k, H * D), hv = Heads.of(v, H * D);
            CosineCausal.Context ctx = CosineCausal.forward(shape, hq, hk, hv, mask, m, Heads.of(o1, H * D), 64, null, null);
            CosineCausal.backward(ctx, Heads.of(g, H * D), Heads.of(dq1, H * D), Heads.of(dk1, H * D), Heads.of(dv1, H * D), dm1);
            if (withRef) {
                CosineQuadratic.Context qc = CosineQuadratic.forward(shape, hq, hk, hv, mask, m, Heads.of(o2, H * D));
                CosineQuadratic.backward(qc, Heads.of(g, H * D), Heads.of(dq2, H * D), Heads.of(dk2, H * D), Heads.of(dv2, H * D), dm2);
            }
            for (float[][] pair : new float[][][]{{o1, o2}, {dq1, dq2}, {dk1, dk2}, {dv1, dv2}, {dm1, dm2}}) {
                double scale = 1e-6;
                for (float x : pair[1]) scale = Math.max(scale, Math.abs(x));
                double[] ref = toDouble(pair[1]), mag = new double[ref.length];
                java.util.Arrays.fill(mag, scale);
                c.add(pair[0], 0, pair[0].length, ref, mag);
            }
        }
    }

    /**
     * Gated attention's convolution over time (widths 2 and 3, padding inside rows, a channel count with a scalar tail
     * at every width): its forward, and its in-place backward (whose width-2 rows go two at a time) against the one
     * into zeros, as the "reference" (error 0: the same bits). Every operation is per element, so the bits are the
     * same on every path.
     */
    private static void convolution(Random r, Check c) {
        int B = 2, T = 150, ch = 125;
        int[] mask = mask(B, T, 0, 3);
        for (int w : new int[]{2, 3}) {
            float[] u = randn(r, B * T * ch), wt = randn(r, ch * w), g = randn(r, B * T * ch), out = new float[u.length];
            QkvConv.forward(B, T, ch, w, u, 0, ch, wt, 0, mask, null, out, 0, ch, null);
            c.add(out, 0, out.length, null, null);
            float[] du = new float[u.length], dw = new float[wt.length], inPlace = g.clone(), dw2 = new float[wt.length];
            QkvConv.backward(B, T, ch, w, u, 0, ch, wt, 0, mask, null, g, 0, ch, du, 0, ch, dw, 0);
            QkvConv.backwardInPlace(B, T, ch, w, u, 0, ch, wt, 0, mask, null, inPlace, 0, ch, dw2, 0);
            for (float[][] pair : new float[][][]{{inPlace, du}, {dw2, dw}}) {
                double[] mag = new double[pair[1].length];
                java.util.Arrays.fill(mag, 1.0);
                c.add(pair[0], 0, pair[0].length, toDouble(pair[1]), mag);
            }
        }
    }

    private static void gemm(Random r, Check c) {
        for (int[] s : new int[][]{{67, 45, 130}, {128, 96, 64}, {1, 70, 33}}) {
            int m = s[0], n = s[1], k = s[2];
            float[] a = randn(r, m * k), b = randn(r, k * n), out = new float[m * n];
            Gemm.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, out, 0, n);
            double[] ref = new double[m * n], mag = new double[m * n];
            for (int i = 0; i < (withRef ? m : 0); i++)
                for (int j = 0; j < n; j++)
                    for (int p = 0; p < k; p++) {
                        ref[i * n + j] += (double) a[i * k + p] * b[p * n + j];
                        mag[i * n + j] += Math.abs((double) a[i * k + p] * b[p * n + j]);
                    }
            c.add(out, 0, out.length, ref, mag);
        }
    }

    private static void segment(Random r, Check c) {
        int rows = 70, cols = 129;
        float[] w = randn(r, rows * cols);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment f32 = arena.allocate(4L * w.length), bf = arena.allocate(2L * w.length);
            for (int i = 0; i < w.length; i++) {
                f32.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, w[i]);
                bf.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, bf16(w[i]));
            }
            for (int n : new int[]{1, 3})
                for (boolean bf16 : new boolean[]{false, true}) {
                    float[] x = randn(r, n * cols), y = new float[n * rows];
                    SegmentMatmul.matmulT(x, 0, cols, n, bf16 ? bf : f32, bf16, rows, cols, y, 0, rows);
                    // rows are read four side by side; each must give the bits of its row multiplied alone, on this
                    // path's kernels too (16 registers: the narrow BF16 rows)
                    long eb = bf16 ? 2 : 4;
                    float[] alone = new float[1];
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < rows; j++) {
                            MemorySegment row = (bf16 ? bf : f32).asSlice(eb * j * cols, eb * cols);
                            SegmentMatmul.matmulT(x, i * cols, cols, 1, row, bf16, 1, cols, alone, 0, 1);
                            if (Float.floatToRawIntBits(alone[0]) != Float.floatToRawIntBits(y[i * rows + j]))
                                throw new IllegalStateException("segment matmul " + (bf16 ? "bf16" : "f32") + " row " + j + " of x row " + i
                                        + ": " + y[i * rows + j] + " side by side, " + alone[0] + " alone");
                        }
                    double[] ref = new double[n * rows], mag = new double[n * rows];
                    for (int i = 0; i < (withRef ? n : 0); i++)
                        for (int j = 0; j < rows; j++)
                            for (int p = 0; p < cols; p++) {
                                double wv = bf16 ? SegmentMatmul.bf16ToFloat(bf16(w[j * cols + p])) : w[j * cols + p];
                                ref[i * rows + j] += x[i * cols + p] * wv;
                                mag[i * rows + j] += Math.abs(x[i * cols + p] * wv);
                            }
                    c.add(y, 0, y.length, ref, mag);
                }
        }
    }

    /** bfloat16 by truncation (any bfloat16 will do as test data). */
    private static short bf16(float x) {
        return (short) (Float.floatToRawIntBits(x) >>> 16);
    }

    private static double[] slice(double[] x, int off, int len) {
        return java.util.Arrays.copyOfRange(x, off, off + len);
    }
}
