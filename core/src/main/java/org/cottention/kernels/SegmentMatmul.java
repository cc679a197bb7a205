package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * y[n, rows] = x[n, cols] W^T with W a row-major [rows, cols] matrix stored outside the heap (a memory-mapped
 * checkpoint or an off-heap copy) in BF16 or F32, computing in F32. Used for inference with weights that stay in
 * their file's format: BF16 halves the bytes read per token, and decoding one token is bound by those bytes.
 * <ul>
 * <li>n = 1 (decoding): a matrix-vector product, parallel over output rows, streaming W once. BF16 lanes are
 *     widened to int and shifted left by 16: a bfloat16 is the top half of a float32, so this is exact.</li>
 * <li>2 <= n <= {@value #SMALL_N} (batched decoding): the same matrix-vector product per row of x, each W row
 *     streamed once for all of them, so a sequence's result does not depend on the others in its batch.</li>
 * <li>n > {@value #SMALL_N} (prefill): row blocks of W are widened into a float scratch block and multiplied with
 *     {@link Gemm#sgemm}, so the expensive part runs at GEMM speed and the conversion is amortised over n rows.</li>
 * </ul>
 */
public final class SegmentMatmul {
    private SegmentMatmul() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    // as many short lanes as float lanes: half the bits
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Rows of W widened at once for n > SMALL_N: 64 rows of a 4096-wide matrix is 1 MB of scratch. */
    private static final int BLOCK_ROWS = 64;
    /** Up to this many rows of x (batched decoding) take the matrix-vector path, one product per row. */
    static final int SMALL_N = 16;

    /** bfloat16 bits to float32 (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /**
     * y[r * ldy + yOff + j] = sum_c x[r * ldx + xOff + c] * W[j, c] for r < n, j < rows.
     *
     * @param bf16 true when W holds bfloat16 (2 bytes per element), false for float32 (4 bytes)
     */
    public static void matmulT(float[] x, int xOff, int ldx, int n, MemorySegment w, boolean bf16, int rows, int cols,
                               float[] y, int yOff, int ldy) {
        long need = (long) rows * cols * (bf16 ? 2 : 4);
        if (w.byteSize() < need)
            throw new IllegalArgumentException("weight segment holds " + w.byteSize() + " bytes, [" + rows + ", " + cols + "] needs " + need);
        if (n <= 0) return;
        Ops.requireRange("x", x, xOff, (long) (n - 1) * ldx + cols);
        Ops.requireRange("y", y, yOff, (long) (n - 1) * ldy + rows);
        if (n <= SMALL_N) {
            // one matrix-vector product per row of x, W row j read from memory once for all of them (then from L1);
            // each row's result is bit-identical to that row computed alone
            float[][] xp = new float[n][];
            if (bf16) for (int r = 0; r < n; r++) xp[r] = evenOdd(x, xOff + r * ldx, cols);
            Parallel.forRange(rows, Math.max(1, 16384 / Math.max(1, cols * n)), (lo, hi) -> {
                for (int j = lo; j < hi; j++) {
                    for (int r = 0; r < n; r++) {
                        int xr = xOff + r * ldx;
                        y[yOff + r * ldy + j] = bf16 ? dotBf16Pairs(xp[r], x, xr, w, (long) j * cols * 2, cols) : dotF32(x, xr, w, (long) j * cols * 4, cols);
                    }
                }
            });
            return;
        }
        int blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
        Parallel.forRange(blocks, 1, (lo, hi) -> {
            float[] scratch = new float[BLOCK_ROWS * cols];
            for (int b = lo; b < hi; b++) {
                int r0 = b * BLOCK_ROWS, br = Math.min(BLOCK_ROWS, rows - r0);
                widen(w, bf16, (long) r0 * cols, scratch, 0, br * cols);
                // nested inside the parallel region, sgemm runs on this thread
                Gemm.sgemm(false, true, n, br, cols, 1f, x, xOff, ldx, scratch, 0, cols, 0f, y, yOff + r0, ldy);
            }
        });
    }

    /** count elements of W from element index {@code from}, widened into out[outOff..outOff+count). */
    public static void widen(MemorySegment w, boolean bf16, long from, float[] out, int outOff, int count) {
        if (!bf16) {
            MemorySegment.copy(w, F32, from * 4, out, outOff, count);
            return;
        }
        int i = 0;
        long base = from * 2;
        for (int up = F.loopBound(count); i < up; i += F.length()) {
            bf16Vector(w, base + 2L * i).intoArray(out, outOff + i);
        }
        for (; i < count; i++) out[outOff + i] = bf16ToFloat(w.get(BF16, base + 2L * i));
    }

    private static FloatVector bf16Vector(MemorySegment w, long byteOff) {
        ShortVector s = ShortVector.fromMemorySegment(S, w, byteOff, ByteOrder.LITTLE_ENDIAN);
        IntVector wide = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);  // sign-extended: the shift drops those bits
        return wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * x rearranged for {@link #dotBf16Pairs}: per block of 2L elements (L float lanes), the L even-indexed ones, then
     * the L odd-indexed ones. Built once per matrix-vector product.
     */
    static float[] evenOdd(float[] x, int xOff, int cols) {
        int l = F.length(), blocks = cols / (2 * l);
        float[] xp = new float[blocks * 2 * l];
        for (int b = 0; b < blocks; b++) {
            for (int i = 0; i < l; i++) {
                xp[b * 2 * l + i] = x[xOff + b * 2 * l + 2 * i];
                xp[b * 2 * l + l + i] = x[xOff + b * 2 * l + 2 * i + 1];
            }
        }
        return xp;
    }

    /**
     * sum_c x[c] W[row, c] for a BF16 row, reading 2L bfloat16 values as L ints: the low half of each int (an even
     * element) shifted up 16 is that element as a float, the high half with the low 16 bits cleared is the odd one.
     * Two cheap lane-wise ops per 2L weights and no cross-lane widening, so the loop keeps up with memory.
     */
    static float dotBf16Pairs(float[] xp, float[] x, int xOff, MemorySegment w, long off, int cols) {
        int l = F.length();
        FloatVector e0 = FloatVector.zero(F), o0 = FloatVector.zero(F), e1 = FloatVector.zero(F), o1 = FloatVector.zero(F);
        int c = 0;
        for (int up = cols - 4 * l; c <= up; c += 4 * l) {
            IntVector p0 = IntVector.fromMemorySegment(I, w, off + 2L * c, ByteOrder.LITTLE_ENDIAN);
            IntVector p1 = IntVector.fromMemorySegment(I, w, off + 2L * c + 4L * l, ByteOrder.LITTLE_ENDIAN);
            e0 = p0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c), e0);
            o0 = p0.and(0xffff0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c + l), o0);
            e1 = p1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c + 2 * l), e1);
            o1 = p1.and(0xffff0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c + 3 * l), o1);
        }
        for (int up = cols - 2 * l; c <= up; c += 2 * l) {
            IntVector pair = IntVector.fromMemorySegment(I, w, off + 2L * c, ByteOrder.LITTLE_ENDIAN);
            e0 = pair.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c), e0);
            o0 = pair.and(0xffff0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c + l), o0);
        }
        FloatVector even = e0.add(e1), odd = o0.add(o1);
        float s = Ops.sumLanes(even.add(odd));
        for (; c < cols; c++) s += x[xOff + c] * bf16ToFloat(w.get(BF16, off + 2L * c));
        return s;
    }

    /** sum_c x[c] W[row, c] for an F32 row at byte {@code off}: two accumulators to hide the FMA latency, fixed lane order. */
    static float dotF32(float[] x, int xOff, MemorySegment w, long off, int cols) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        int step = F.length(), c = 0;
        for (int up = cols - 2 * step; c <= up; c += 2 * step) {
            a0 = FloatVector.fromMemorySegment(F, w, off + 4L * c, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = FloatVector.fromMemorySegment(F, w, off + 4L * (c + step), ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + c + step), a1);
        }
        for (int up = F.loopBound(cols); c < up; c += step)
            a0 = FloatVector.fromMemorySegment(F, w, off + 4L * c, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        float s = Ops.sumLanes(a0.add(a1));
        for (; c < cols; c++) s += x[xOff + c] * w.get(F32, off + 4L * c);
        return s;
    }

    /** Embedding lookup from an off-heap table [vocab, e]: out[i, :] = table[ids[i], :] widened to float. */
    public static void gatherRows(float[] out, int outOff, MemorySegment table, boolean bf16, int[] ids, int idsOff, int n, int vocab, int e) {
        for (int i = 0; i < n; i++) {
            int id = ids[idsOff + i];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocab);
            widen(table, bf16, (long) id * e, out, outOff + i * e, e);
        }
    }
}
