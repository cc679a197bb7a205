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
 * <li>n = 1 (decoding): a matrix-vector product, parallel over output rows, streaming W once, four rows side by
 *     side ({@link #ROWS_TOGETHER}; BF16's kernels: {@link #BF16_UNROLLED}). BF16 lanes are widened to int and
 *     shifted left by 16: a bfloat16 is the top half of a float32, so this is exact.</li>
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
    /**
     * W rows one matrix-vector pass reads side by side (F32 and BF16; the four-row kernels are written for it). One
     * row at a time reads a single stream, and the products reached 0.6-0.85 of a plain streaming read; four
     * reached it (2-core Xeon, AVX-512: 15-18 GB/s against 10-13 for one row, 1024- and 4096-wide rows). F32: eight
     * accumulators, which fit AVX2's 16 registers too. The four rows come from the four quarters of a thread's rows,
     * so that each stream reads on into the next row: with four consecutive rows every stream jumped four rows (four
     * 4 KB pages for a 1024-wide F32 matrix) after each row, and read 5-8% slower from memory (256 MB, 2 threads),
     * 7-11% slower in bench scale's decoding.
     */
    static final int ROWS_TOGETHER = 4;
    /**
     * BF16 rows hold four accumulators each (even and odd lanes, two steps unrolled) with 32 vector registers: four
     * rows side by side take 16. With 16 registers a row holds two (even and odd, no unroll), so that four rows still
     * fit (8 accumulators, 2 x vectors, the loaded pair and a temporary). On Zen 4 at -XX:UseAVX=2 against one row
     * at a time (the four-accumulator row alone): the products alone over 256 MB of 8192-wide rows 0.54 -> 0.82-0.87
     * of a parallel read (2048-wide: no change shown), the 1.2B model's decoding steps 8% faster (medians, six
     * alternating runs).
     */
    static final boolean BF16_UNROLLED = Machine.VECTOR_REGISTERS >= 32;
    /**
     * Ranges of rows per thread in the matrix-vector path, handed out as threads come free. With one fixed range per
     * thread, 2-thread decoding spent 15% of its samples with one thread waiting for the other; 8 per thread decoded
     * the 300M model 17% faster than fixed halves (medians of 6 alternating runs, 2-core Xeon), and 4 or 16 less.
     */
    static final int RANGES_PER_THREAD = Integer.getInteger("cottention.matvec.ranges", 8);
    /** Rows of W widened at once for n > SMALL_N: 64 rows of a 4096-wide matrix is 1 MB of scratch. */
    private static final int BLOCK_ROWS = 64;
    /** Up to this many rows of x (batched decoding) take the matrix-vector path, one product per row. */
    public static final int SMALL_N = 16;

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
            // a few ranges per thread, handed out as threads come free: memory-bound ranges of equal size finish at
            // different times on a shared memory bus, and fixed halves left each thread waiting for the other
            final int grain = Math.max(1, 16384 / Math.max(1, cols * n)), ranges = Math.min(RANGES_PER_THREAD * Parallel.threads(), rows / grain);
            if (ranges <= 1) productRows(0, rows, x, xOff, ldx, n, xp, w, bf16, cols, y, yOff, ldy);
            else Parallel.forEachDynamic(ranges, c -> productRows((int) ((long) rows * c / ranges), (int) ((long) rows * (c + 1) / ranges),
                    x, xOff, ldx, n, xp, w, bf16, cols, y, yOff, ldy));
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

    /** Rows [lo, hi) of W against the n rows of x (the matrix-vector path of {@link #matmulT}). */
    private static void productRows(int lo, int hi, float[] x, int xOff, int ldx, int n, float[][] xp, MemorySegment w, boolean bf16,
                                    int cols, float[] y, int yOff, int ldy) {
        float[] lanes = new float[4 * F.length()]; // the rows' accumulators, summed in scalar code (see Ops.sumLanes)
        // four W rows per pass (ROWS_TOGETHER), one from each quarter of this range: each of the four streams walks its
        // quarter's rows in memory order, so it runs on into the next page instead of jumping 4 rows
        int q = (hi - lo) / ROWS_TOGETHER, j = lo + ROWS_TOGETHER * q;
        long rs = (long) q * cols * (bf16 ? 2 : 4);
        for (int i = lo; i < lo + q; i++) {
            for (int r = 0; r < n; r++) {
                int xr = xOff + r * ldx, yo = yOff + r * ldy + i;
                if (bf16) dotBf16PairsRows4(xp[r], x, xr, w, (long) i * cols * 2, rs, cols, y, yo, q, lanes);
                else dotF32Rows4(x, xr, w, (long) i * cols * 4, rs, cols, y, yo, q, lanes);
            }
        }
        for (; j < hi; j++) {
            for (int r = 0; r < n; r++) {
                int xr = xOff + r * ldx;
                y[yOff + r * ldy + j] = bf16 ? dotBf16Pairs(xp[r], x, xr, w, (long) j * cols * 2, cols) : dotF32(x, xr, w, (long) j * cols * 4, cols);
            }
        }
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
        if (!BF16_UNROLLED) return dotBf16PairsNarrow(xp, x, xOff, w, off, cols);
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
        return bf16Tail(Ops.sumLanes(e0.add(e1).add(o0.add(o1))), x, xOff, w, off, c, cols);
    }

    /** {@link #dotBf16Pairs} with 16 vector registers: one even and one odd accumulator, 2L weights per step. */
    private static float dotBf16PairsNarrow(float[] xp, float[] x, int xOff, MemorySegment w, long off, int cols) {
        int l = F.length();
        FloatVector e = FloatVector.zero(F), o = FloatVector.zero(F);
        int c = 0;
        for (int up = cols - 2 * l; c <= up; c += 2 * l) {
            IntVector pair = IntVector.fromMemorySegment(I, w, off + 2L * c, ByteOrder.LITTLE_ENDIAN);
            e = pair.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c), e);
            o = pair.and(0xffff0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xp, c + l), o);
        }
        return bf16Tail(Ops.sumLanes(e.add(o)), x, xOff, w, off, c, cols);
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
        return f32Tail(Ops.sumLanes(a0.add(a1)), x, xOff, w, off, c, cols);
    }

    /** {@link #dotF32Rows4(float[], int, MemorySegment, long, long, int, float[], int, int, float[])} of four consecutive rows into y[yo .. yo + 4). */
    static void dotF32Rows4(float[] x, int xOff, MemorySegment w, long off, int cols, float[] y, int yo, float[] lanes) {
        dotF32Rows4(x, xOff, w, off, 4L * cols, cols, y, yo, 1, lanes);
    }

    /**
     * {@link #dotF32} of four rows at byte offsets off, off + rs, off + 2 rs, off + 3 rs into y[yo], y[yo + ys],
     * y[yo + 2 ys], y[yo + 3 ys]: each row with its own two accumulators, the same operations in the same order as
     * alone, so the same bits.
     */
    static void dotF32Rows4(float[] x, int xOff, MemorySegment w, long off, long rs, int cols, float[] y, int yo, int ys, float[] lanes) {
        final long o1 = off + rs, o2 = o1 + rs, o3 = o2 + rs;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        final int step = F.length();
        int c = 0;
        for (int up = cols - 2 * step; c <= up; c += 2 * step) {
            FloatVector x0 = FloatVector.fromArray(F, x, xOff + c), x1 = FloatVector.fromArray(F, x, xOff + c + step);
            long p = 4L * c, q = 4L * (c + step);
            a0 = FloatVector.fromMemorySegment(F, w, off + p, ByteOrder.LITTLE_ENDIAN).fma(x0, a0);
            a1 = FloatVector.fromMemorySegment(F, w, off + q, ByteOrder.LITTLE_ENDIAN).fma(x1, a1);
            b0 = FloatVector.fromMemorySegment(F, w, o1 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, b0);
            b1 = FloatVector.fromMemorySegment(F, w, o1 + q, ByteOrder.LITTLE_ENDIAN).fma(x1, b1);
            c0 = FloatVector.fromMemorySegment(F, w, o2 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, c0);
            c1 = FloatVector.fromMemorySegment(F, w, o2 + q, ByteOrder.LITTLE_ENDIAN).fma(x1, c1);
            d0 = FloatVector.fromMemorySegment(F, w, o3 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, d0);
            d1 = FloatVector.fromMemorySegment(F, w, o3 + q, ByteOrder.LITTLE_ENDIAN).fma(x1, d1);
        }
        for (int up = F.loopBound(cols); c < up; c += step) {
            FloatVector x0 = FloatVector.fromArray(F, x, xOff + c);
            long p = 4L * c;
            a0 = FloatVector.fromMemorySegment(F, w, off + p, ByteOrder.LITTLE_ENDIAN).fma(x0, a0);
            b0 = FloatVector.fromMemorySegment(F, w, o1 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, b0);
            c0 = FloatVector.fromMemorySegment(F, w, o2 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, c0);
            d0 = FloatVector.fromMemorySegment(F, w, o3 + p, ByteOrder.LITTLE_ENDIAN).fma(x0, d0);
        }
        a0.add(a1).intoArray(lanes, 0);
        b0.add(b1).intoArray(lanes, step);
        c0.add(c1).intoArray(lanes, 2 * step);
        d0.add(d1).intoArray(lanes, 3 * step);
        finishRows4(lanes, step, false, x, xOff, w, off, rs, c, cols, y, yo, ys);
    }

    /**
     * The end of a four-row product: row i's stored accumulator lanes (lanes[i l ..]) summed in fixed order, plus its
     * scalar tail from column c, into y[yo + i ys] (rows rs bytes apart from byte off).
     */
    private static void finishRows4(float[] lanes, int l, boolean bf16, float[] x, int xOff, MemorySegment w, long off, long rs,
                                    int c, int cols, float[] y, int yo, int ys) {
        for (int i = 0; i < 4; i++) {
            float s = Ops.sumLanes(lanes, i * l);
            long o = off + i * rs;
            y[yo + i * ys] = bf16 ? bf16Tail(s, x, xOff, w, o, c, cols) : f32Tail(s, x, xOff, w, o, c, cols);
        }
    }

    /** s plus the scalar products of columns [c, cols) of the F32 row at byte off, in order. */
    private static float f32Tail(float s, float[] x, int xOff, MemorySegment w, long off, int c, int cols) {
        for (; c < cols; c++) s += x[xOff + c] * w.get(F32, off + 4L * c);
        return s;
    }

    /**
     * {@link #dotBf16Pairs} of four consecutive rows into y[yo .. yo + 4) (16 accumulators with 32 registers; with 16,
     * {@link #dotBf16PairsNarrowRows4}).
     * The rows are written out one by one on purpose: vectors kept in arrays, or handed to a helper, are boxed.
     */
    static void dotBf16PairsRows4(float[] xp, float[] x, int xOff, MemorySegment w, long off, int cols, float[] y, int yo, float[] lanes) {
        dotBf16PairsRows4(xp, x, xOff, w, off, 2L * cols, cols, y, yo, 1, lanes);
    }

    /** {@link #dotBf16PairsRows4(float[], float[], int, MemorySegment, long, int, float[], int, float[])} of rows rs bytes apart into y[yo + i ys]. */
    static void dotBf16PairsRows4(float[] xp, float[] x, int xOff, MemorySegment w, long off, long rs, int cols, float[] y, int yo, int ys,
                                  float[] lanes) {
        if (!BF16_UNROLLED) {
            dotBf16PairsNarrowRows4(xp, x, xOff, w, off, rs, cols, y, yo, ys, lanes);
            return;
        }
        final long o1 = off + rs, o2 = o1 + rs, o3 = o2 + rs;
        final int l = F.length();
        FloatVector ae0 = FloatVector.zero(F), ao0 = ae0, ae1 = ae0, ao1 = ae0, be0 = ae0, bo0 = ae0, be1 = ae0, bo1 = ae0;
        FloatVector ce0 = ae0, co0 = ae0, ce1 = ae0, co1 = ae0, de0 = ae0, do0 = ae0, de1 = ae0, do1 = ae0;
        int c = 0;
        for (int up = cols - 4 * l; c <= up; c += 4 * l) {
            FloatVector x0 = FloatVector.fromArray(F, xp, c), x1 = FloatVector.fromArray(F, xp, c + l);
            FloatVector x2 = FloatVector.fromArray(F, xp, c + 2 * l), x3 = FloatVector.fromArray(F, xp, c + 3 * l);
            long p = 2L * c, q = 2L * c + 4L * l;
            IntVector a = IntVector.fromMemorySegment(I, w, off + p, ByteOrder.LITTLE_ENDIAN), a2 = IntVector.fromMemorySegment(I, w, off + q, ByteOrder.LITTLE_ENDIAN);
            ae0 = a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ae0);
            ao0 = a.and(0xffff0000).reinterpretAsFloats().fma(x1, ao0);
            ae1 = a2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, ae1);
            ao1 = a2.and(0xffff0000).reinterpretAsFloats().fma(x3, ao1);
            IntVector b = IntVector.fromMemorySegment(I, w, o1 + p, ByteOrder.LITTLE_ENDIAN), b2 = IntVector.fromMemorySegment(I, w, o1 + q, ByteOrder.LITTLE_ENDIAN);
            be0 = b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, be0);
            bo0 = b.and(0xffff0000).reinterpretAsFloats().fma(x1, bo0);
            be1 = b2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, be1);
            bo1 = b2.and(0xffff0000).reinterpretAsFloats().fma(x3, bo1);
            IntVector cc = IntVector.fromMemorySegment(I, w, o2 + p, ByteOrder.LITTLE_ENDIAN), c2 = IntVector.fromMemorySegment(I, w, o2 + q, ByteOrder.LITTLE_ENDIAN);
            ce0 = cc.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ce0);
            co0 = cc.and(0xffff0000).reinterpretAsFloats().fma(x1, co0);
            ce1 = c2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, ce1);
            co1 = c2.and(0xffff0000).reinterpretAsFloats().fma(x3, co1);
            IntVector d = IntVector.fromMemorySegment(I, w, o3 + p, ByteOrder.LITTLE_ENDIAN), d2 = IntVector.fromMemorySegment(I, w, o3 + q, ByteOrder.LITTLE_ENDIAN);
            de0 = d.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, de0);
            do0 = d.and(0xffff0000).reinterpretAsFloats().fma(x1, do0);
            de1 = d2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, de1);
            do1 = d2.and(0xffff0000).reinterpretAsFloats().fma(x3, do1);
        }
        for (int up = cols - 2 * l; c <= up; c += 2 * l) {
            FloatVector x0 = FloatVector.fromArray(F, xp, c), x1 = FloatVector.fromArray(F, xp, c + l);
            long p = 2L * c;
            IntVector a = IntVector.fromMemorySegment(I, w, off + p, ByteOrder.LITTLE_ENDIAN), b = IntVector.fromMemorySegment(I, w, o1 + p, ByteOrder.LITTLE_ENDIAN);
            IntVector cc = IntVector.fromMemorySegment(I, w, o2 + p, ByteOrder.LITTLE_ENDIAN), d = IntVector.fromMemorySegment(I, w, o3 + p, ByteOrder.LITTLE_ENDIAN);
            ae0 = a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ae0);
            ao0 = a.and(0xffff0000).reinterpretAsFloats().fma(x1, ao0);
            be0 = b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, be0);
            bo0 = b.and(0xffff0000).reinterpretAsFloats().fma(x1, bo0);
            ce0 = cc.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ce0);
            co0 = cc.and(0xffff0000).reinterpretAsFloats().fma(x1, co0);
            de0 = d.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, de0);
            do0 = d.and(0xffff0000).reinterpretAsFloats().fma(x1, do0);
        }
        ae0.add(ae1).add(ao0.add(ao1)).intoArray(lanes, 0);
        be0.add(be1).add(bo0.add(bo1)).intoArray(lanes, l);
        ce0.add(ce1).add(co0.add(co1)).intoArray(lanes, 2 * l);
        de0.add(de1).add(do0.add(do1)).intoArray(lanes, 3 * l);
        finishRows4(lanes, l, true, x, xOff, w, off, rs, c, cols, y, yo, ys);
    }

    /** {@link #dotBf16PairsNarrow} of four rows rs bytes apart into y[yo + i ys] (8 accumulators: fits 16 registers). */
    private static void dotBf16PairsNarrowRows4(float[] xp, float[] x, int xOff, MemorySegment w, long off, long rs, int cols,
                                                float[] y, int yo, int ys, float[] lanes) {
        final long o1 = off + rs, o2 = o1 + rs, o3 = o2 + rs;
        final int l = F.length();
        FloatVector ae = FloatVector.zero(F), ao = ae, be = ae, bo = ae, ce = ae, co = ae, de = ae, dd = ae;
        int c = 0;
        for (int up = cols - 2 * l; c <= up; c += 2 * l) {
            FloatVector x0 = FloatVector.fromArray(F, xp, c), x1 = FloatVector.fromArray(F, xp, c + l);
            long p = 2L * c;
            IntVector a = IntVector.fromMemorySegment(I, w, off + p, ByteOrder.LITTLE_ENDIAN);
            ae = a.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ae);
            ao = a.and(0xffff0000).reinterpretAsFloats().fma(x1, ao);
            IntVector b = IntVector.fromMemorySegment(I, w, o1 + p, ByteOrder.LITTLE_ENDIAN);
            be = b.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, be);
            bo = b.and(0xffff0000).reinterpretAsFloats().fma(x1, bo);
            IntVector cc = IntVector.fromMemorySegment(I, w, o2 + p, ByteOrder.LITTLE_ENDIAN);
            ce = cc.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, ce);
            co = cc.and(0xffff0000).reinterpretAsFloats().fma(x1, co);
            IntVector d = IntVector.fromMemorySegment(I, w, o3 + p, ByteOrder.LITTLE_ENDIAN);
            de = d.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, de);
            dd = d.and(0xffff0000).reinterpretAsFloats().fma(x1, dd);
        }
        ae.add(ao).intoArray(lanes, 0);
        be.add(bo).intoArray(lanes, l);
        ce.add(co).intoArray(lanes, 2 * l);
        de.add(dd).intoArray(lanes, 3 * l);
        finishRows4(lanes, l, true, x, xOff, w, off, rs, c, cols, y, yo, ys);
    }

    /** s plus the scalar products of columns [c, cols) of the BF16 row at byte off, in order. */
    private static float bf16Tail(float s, float[] x, int xOff, MemorySegment w, long off, int c, int cols) {
        for (; c < cols; c++) s += x[xOff + c] * bf16ToFloat(w.get(BF16, off + 2L * c));
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
