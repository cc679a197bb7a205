package org.cottention.kernels;

import org.cottention.io.SafeTensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Off-heap BF16/F32 matmul against a scalar double reference, on sizes that are not multiples of the vector width. */
class SegmentMatmulTest {
    @ParameterizedTest
    @CsvSource({"1,1,1", "1,7,13", "1,33,65", "1,130,257", "2,5,3", "3,70,129", "16,65,31", "17,65,31", "5,129,1000"})
    void matchesScalarReference(int n, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(n * 1000L + rows * 10L + cols);
        int ldx = cols + 3, ldy = rows + 2;
        float[] x = new float[n * ldx];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] wf = new float[rows * cols];
        for (int i = 0; i < wf.length; i++) wf[i] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofShared()) {
            // odd byte offsets: mapped tensors need not be aligned
            MemorySegment bf = arena.allocate(2L * wf.length + 2).asSlice(2), f32 = arena.allocate(4L * wf.length + 2).asSlice(2);
            for (int i = 0; i < wf.length; i++) {
                bf.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, SafeTensors.toBf16(wf[i]));
                f32.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, wf[i]);
            }
            for (boolean bf16 : new boolean[]{true, false}) {
                float[] y = new float[n * ldy];
                java.util.Arrays.fill(y, 42f);  // gaps between rows stay untouched
                SegmentMatmul.matmulT(x, 0, ldx, n, bf16 ? bf : f32, bf16, rows, cols, y, 0, ldy);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < rows; j++) {
                        double want = 0, mag = 0;
                        for (int c = 0; c < cols; c++) {
                            float w = bf16 ? SegmentMatmul.bf16ToFloat(SafeTensors.toBf16(wf[j * cols + c])) : wf[j * cols + c];
                            want += (double) x[i * ldx + c] * w;
                            mag += Math.abs((double) x[i * ldx + c] * w);
                        }
                        assertEquals(want, y[i * ldy + j], 1e-5 * (mag + 1), (bf16 ? "bf16" : "f32") + " y[" + i + "," + j + "]");
                    }
                    for (int j = rows; j < ldy; j++) assertEquals(42f, y[i * ldy + j], "gap");
                    if (n <= SegmentMatmul.SMALL_N) { // batched decoding: each row bit-identical to that row alone
                        float[] alone = new float[rows];
                        SegmentMatmul.matmulT(x, i * ldx, ldx, 1, bf16 ? bf : f32, bf16, rows, cols, alone, 0, rows);
                        assertArrayEquals(alone, java.util.Arrays.copyOfRange(y, i * ldy, i * ldy + rows), "row " + i + " alone");
                    }
                }
            }
        }
    }

    /**
     * The matrix-vector pass reads several W rows side by side (ROWS_TOGETHER; for BF16 with the kernels that
     * BF16_UNROLLED picks); each row's result must be the bits the one-row product gives, for widths around the vector and unroll boundaries, at unaligned offsets.
     */
    @ParameterizedTest
    @CsvSource({"1", "7", "16", "31", "32", "33", "64", "65", "127", "257", "1000", "2048"})
    void rowsSideBySideGiveEachRowsBitsAlone(int cols) {
        SplittableRandom r = new SplittableRandom(cols);
        int rows = 4, xOff = 3;
        float[] x = new float[xOff + cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] xp = SegmentMatmul.evenOdd(x, xOff, cols);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment bf = arena.allocate(2L * rows * cols + 6).asSlice(6), f32 = arena.allocate(4L * rows * cols + 6).asSlice(6);
            for (int i = 0; i < rows * cols; i++) {
                float v = (float) (r.nextGaussian() * Math.exp(4 * r.nextGaussian())); // magnitudes that make rounding order show
                bf.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, SafeTensors.toBf16(v));
                f32.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, v);
            }
            float[] alone = new float[rows], f4 = new float[rows], b4 = new float[rows];
            for (int j = 0; j < rows; j++) alone[j] = SegmentMatmul.dotF32(x, xOff, f32, 4L * j * cols, cols);
            SegmentMatmul.dotF32Rows4(x, xOff, f32, 0, cols, f4, 0, new float[64]);
            assertArrayEquals(alone, f4, "f32, four rows");
            for (int j = 0; j < rows; j++) alone[j] = SegmentMatmul.dotBf16Pairs(xp, x, xOff, bf, 2L * j * cols, cols);
            SegmentMatmul.dotBf16PairsRows4(xp, x, xOff, bf, 0, cols, b4, 0, new float[64]);
            assertArrayEquals(alone, b4, "bf16, four rows");
        }
    }

    /**
     * The matrix-vector product reads four rows side by side, one from each quarter of a thread's rows (so each stream
     * walks consecutive rows): every output must still be its row's one-row bits, whatever the row count (quarters
     * and the leftover rows) and the thread count that sets the ranges (from 1001 rows of 67 the product splits).
     */
    @ParameterizedTest
    @CsvSource({"1", "3", "4", "5", "8", "13", "37", "130", "1001", "2003"})
    void everyRowOfTheProductHasItsOneRowBits(int rows) {
        SplittableRandom r = new SplittableRandom(rows);
        int cols = 67;
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        float[] xp = SegmentMatmul.evenOdd(x, 0, cols);
        int saved = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment bf = arena.allocate(2L * rows * cols), f32 = arena.allocate(4L * rows * cols);
            for (int i = 0; i < rows * cols; i++) {
                float v = (float) (r.nextGaussian() * Math.exp(4 * r.nextGaussian()));
                bf.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, SafeTensors.toBf16(v));
                f32.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, v);
            }
            float[] aloneF = new float[rows], aloneB = new float[rows];
            for (int j = 0; j < rows; j++) {
                aloneF[j] = SegmentMatmul.dotF32(x, 0, f32, 4L * j * cols, cols);
                aloneB[j] = SegmentMatmul.dotBf16Pairs(xp, x, 0, bf, 2L * j * cols, cols);
            }
            for (int threads : new int[]{1, 2, 3}) {
                Parallel.setThreads(threads);
                float[] yf = new float[rows], yb = new float[rows];
                SegmentMatmul.matmulT(x, 0, cols, 1, f32, false, rows, cols, yf, 0, rows);
                SegmentMatmul.matmulT(x, 0, cols, 1, bf, true, rows, cols, yb, 0, rows);
                assertArrayEquals(aloneF, yf, "f32, " + threads + " threads");
                assertArrayEquals(aloneB, yb, "bf16, " + threads + " threads");
            }
        } finally {
            Parallel.setThreads(saved);
        }
    }

    @ParameterizedTest
    @CsvSource({"0", "1", "-1", "3.14159", "-2.5e-30", "65504", "1e38"})
    void bf16WideningIsExact(float v) {
        short b = SafeTensors.toBf16(v);
        float w = SegmentMatmul.bf16ToFloat(b);
        assertEquals(Float.floatToRawIntBits(w) >>> 16, b & 0xffff);
        assertTrue(Math.abs(w - v) <= Math.abs(v) * 0x1p-8f);
    }
}
