package org.cottention.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Machine;

/**
 * Small dense products for the chunkwise attention kernels (blocks of about 64 x 64), called per (batch, head) from
 * inside a parallel region. All products are the plain NN form {@code C[m,n] (+)= A[m,k] B[k,n]} on row-major strided
 * views; transposed operands are made explicit with {@link #transpose} first (a C x D copy costs 1/D of the product).
 * The register-blocked micro-kernel's shape follows the machine ({@link Machine#VECTOR_REGISTERS}): with 32 vector
 * registers (AVX-512, NEON) it holds a 4-row x 4-vector tile of C (16 accumulators + 4 loaded B vectors + 1
 * broadcast = 21 registers); with 16 (AVX2) that tile spills, so it holds 6 rows x 2 vectors (12 + 2 + 1 = 15), with
 * 4 x 2 tiles for the rows left over. A transposed A (the backward's P^T dO, dP^T Q, Q^T dO, V^T K) gets the 6-row
 * tile as well: its six broadcasts per k are adjacent floats of one stored row. Measured on AVX2 (Zen 3, 64^3, one
 * thread, medians of 20 rounds, the tile shapes interleaved in one run on a loaded machine): 4x4 14-25, 4x3 (exactly
 * 16 registers) 15-28, 4x2 16-30, 6x2 18-33 GFLOPS; 6x2 reading a strided A 16-28. Rows are visited in groups so that a
 * triangular A (zero above or below its diagonal) costs only the non-zero part. Every element of C is the same fixed-order sum over k whatever the tile
 * shape, so the shape does not change a bit of the products (except {@link #mmPlusLower}, which sums its two products
 * in one chain where it fuses them, with 32 registers, and in two where it does not).
 */
final class BlockMm {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int VL = F.length();
    /** 4 x 4 tiles (32 registers) or 6 x 2 tiles (16 registers). */
    static final boolean WIDE = Machine.VECTOR_REGISTERS >= 32;

    /** A is dense. */
    static final int FULL = 0;
    /** A[i,p] = 0 for p > i (lower triangular, diagonal included): row i needs p in [0, i]. */
    static final int A_LOWER = 1;
    /** A[i,p] = 0 for p < i (upper triangular, diagonal included): row i needs p in [i, k). */
    static final int A_UPPER = 2;

    private BlockMm() {}

    /**
     * C[m,n] = A[m,k] B[k,n] (accumulate = false) or C += A B (accumulate = true). {@code tri} says which part of A
     * may be non-zero (FULL, A_LOWER, A_UPPER); with a triangular A the rows of C still get every column.
     */
    static void mm(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                   float[] c, int cOff, int ldc, boolean accumulate, int tri) {
        mm(m, n, k, a, aOff, lda, 1, b, bOff, ldb, c, cOff, ldc, accumulate, tri);
    }

    /**
     * As {@link #mm} with A given transposed: the stored matrix is [k, m] (row stride lda) and the product uses its
     * transpose. Only A's elements are read one at a time (broadcast), so a transposed A costs nothing extra and needs
     * no copy; {@code tri} refers to the logical A (e.g. A_UPPER for the transpose of a lower-triangular matrix).
     */
    static void mmTransA(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                         float[] c, int cOff, int ldc, boolean accumulate, int tri) {
        mm(m, n, k, a, aOff, 1, lda, b, bOff, ldb, c, cOff, ldc, accumulate, tri);
    }

    /**
     * C[m, n] = A1[m, k1] B1[k1, n] + A2[m, k2] B2[k2, n] with A2 lower triangular (row i uses p <= i; A2 must hold
     * zeros above its diagonal, as {@link #keepLower} leaves it, since a row tile reads up to its last row's
     * diagonal): the chunk output {@code O = Q S + P V}, with 32 registers in one pass over C instead of two. All
     * row-major strided views.
     */
    static void mmPlusLower(int m, int n, int k1, float[] a1, int a1Off, int lda1, float[] b1, int b1Off, int ldb1,
                            int k2, float[] a2, int a2Off, int lda2, float[] b2, int b2Off, int ldb2,
                            float[] c, int cOff, int ldc) {
        // The fused tile needs 4 x 4 registers of C; with 16 registers the two products go one after the other (the
        // second adds into C: 12 vector loads and stores per 6 x 2 tile, against its 12 x k FMAs)
        if (!WIDE || n % (4 * VL) != 0) {
            mm(m, n, k1, a1, a1Off, lda1, b1, b1Off, ldb1, c, cOff, ldc, false, FULL);
            mm(m, n, k2, a2, a2Off, lda2, b2, b2Off, ldb2, c, cOff, ldc, true, A_LOWER);
            return;
        }
        int i = 0;
        for (; i + 4 <= m; i += 4)
            for (int j = 0; j < n; j += 4 * VL)
                tile4x4Sum(k1, a1, a1Off + i * lda1, lda1, b1, b1Off + j, ldb1, Math.min(k2, i + 4), a2, a2Off + i * lda2, lda2,
                        b2, b2Off + j, ldb2, c, cOff + i * ldc + j, ldc);
        for (; i < m; i++) {
            mm(1, n, k1, a1, a1Off + i * lda1, lda1, b1, b1Off, ldb1, c, cOff + i * ldc, ldc, false, FULL);
            mm(1, n, Math.min(k2, i + 1), a2, a2Off + i * lda2, lda2, b2, b2Off, ldb2, c, cOff + i * ldc, ldc, true, FULL);
        }
    }

    /** Rows c0..c0+3*ldc (4 vectors wide) = 4 rows of A1 x B1 over k1 + 4 rows of A2 x B2 over k2. */
    private static void tile4x4Sum(int k1, float[] a, int a0, int lda, float[] b, int bOff, int ldb,
                                   int k2, float[] e, int e0, int lde, float[] f, int fOff, int ldf, float[] c, int c0, int ldc) {
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        for (int pass = 0; pass < 2; pass++) {
            // pass 0: A1 B1 over k1; pass 1: A2 B2 over k2 (the same loop on the other operands)
            float[] x0 = pass == 0 ? a : e, y = pass == 0 ? b : f;
            int r0 = pass == 0 ? a0 : e0, ld = pass == 0 ? lda : lde, yOff = pass == 0 ? bOff : fOff, ldy = pass == 0 ? ldb : ldf;
            int r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld, kk = pass == 0 ? k1 : k2;
            for (int p = 0; p < kk; p++) {
                int bp = yOff + p * ldy;
                FloatVector b0 = FloatVector.fromArray(F, y, bp);
                FloatVector b1 = FloatVector.fromArray(F, y, bp + VL);
                FloatVector b2 = FloatVector.fromArray(F, y, bp + 2 * VL);
                FloatVector b3 = FloatVector.fromArray(F, y, bp + 3 * VL);
                FloatVector x = FloatVector.broadcast(F, x0[r0 + p]);
                s00 = b0.fma(x, s00); s01 = b1.fma(x, s01); s02 = b2.fma(x, s02); s03 = b3.fma(x, s03);
                x = FloatVector.broadcast(F, x0[r1 + p]);
                s10 = b0.fma(x, s10); s11 = b1.fma(x, s11); s12 = b2.fma(x, s12); s13 = b3.fma(x, s13);
                x = FloatVector.broadcast(F, x0[r2 + p]);
                s20 = b0.fma(x, s20); s21 = b1.fma(x, s21); s22 = b2.fma(x, s22); s23 = b3.fma(x, s23);
                x = FloatVector.broadcast(F, x0[r3 + p]);
                s30 = b0.fma(x, s30); s31 = b1.fma(x, s31); s32 = b2.fma(x, s32); s33 = b3.fma(x, s33);
            }
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        s00.intoArray(c, c0); s01.intoArray(c, c0 + VL); s02.intoArray(c, c0 + 2 * VL); s03.intoArray(c, c0 + 3 * VL);
        s10.intoArray(c, c1); s11.intoArray(c, c1 + VL); s12.intoArray(c, c1 + 2 * VL); s13.intoArray(c, c1 + 3 * VL);
        s20.intoArray(c, c2); s21.intoArray(c, c2 + VL); s22.intoArray(c, c2 + 2 * VL); s23.intoArray(c, c2 + 3 * VL);
        s30.intoArray(c, c3); s31.intoArray(c, c3 + VL); s32.intoArray(c, c3 + 2 * VL); s33.intoArray(c, c3 + 3 * VL);
    }

    /**
     * The causal part of a square product: C[i, j] = A[i, :] B[:, j] for j <= i, over an m x m block (A [m, k],
     * B [k, m]). Each group of rows stops at its diagonal rounded up to whole vectors, so about 5/8 of the dense
     * work is done for m = 64; what lies above the diagonal is left unspecified (callers zero it, {@link #keepLower}).
     */
    static void mmCausal(int m, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {
        int i = 0;
        if (!WIDE)
            for (; i + 6 <= m; i += 6)
                rows6(Math.min(m, roundUp(i + 6)), 0, k, a, aOff + i * lda, lda, 1, b, bOff, ldb, c, cOff + i * ldc, ldc, false);
        for (; i + 4 <= m; i += 4) rows4(i, Math.min(m, roundUp(i + 4)), 0, k, a, aOff, lda, 1, b, bOff, ldb, c, cOff, ldc, false);
        for (; i < m; i++) row1(i, Math.min(m, roundUp(i + 1)), 0, k, a, aOff, lda, 1, b, bOff, ldb, c, cOff, ldc, false);
    }

    private static int roundUp(int n) {
        return (n + VL - 1) / VL * VL;
    }

    /** General form: logical A(i, p) = a[aOff + i * ars + p * acs]. */
    private static void mm(int m, int n, int k, float[] a, int aOff, int ars, int acs, float[] b, int bOff, int ldb,
                           float[] c, int cOff, int ldc, boolean accumulate, int tri) {
        int i = 0;
        if (!WIDE) // 6-row tiles, A's rows contiguous or (a transposed A) its columns
            for (; i + 6 <= m; i += 6) {
                int kLo = tri == A_UPPER ? Math.min(i, k) : 0;
                int kHi = tri == A_LOWER ? Math.min(k, i + 6) : k;
                rows6(n, kLo, kHi, a, aOff + i * ars, ars, acs, b, bOff, ldb, c, cOff + i * ldc, ldc, accumulate);
            }
        for (; i + 4 <= m; i += 4) {
            int kLo = tri == A_UPPER ? Math.min(i, k) : 0;
            int kHi = tri == A_LOWER ? Math.min(k, i + 4) : k;
            rows4(i, n, kLo, kHi, a, aOff, ars, acs, b, bOff, ldb, c, cOff, ldc, accumulate);
        }
        for (; i < m; i++) {
            int kLo = tri == A_UPPER ? Math.min(i, k) : 0;
            int kHi = tri == A_LOWER ? Math.min(k, i + 1) : k;
            row1(i, n, kLo, kHi, a, aOff, ars, acs, b, bOff, ldb, c, cOff, ldc, accumulate);
        }
    }

    /** Rows i..i+3 of C over p in [kLo, kHi). */
    private static void rows4(int i, int n, int kLo, int kHi, float[] a, int aOff, int ars, int acs, float[] b, int bOff, int ldb,
                              float[] c, int cOff, int ldc, boolean accumulate) {
        int a0 = aOff + i * ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
        int c0 = cOff + i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        int j = 0;
        if (WIDE) {
            for (; j + 4 * VL <= n; j += 4 * VL) tile4x4(j, kLo, kHi, a, a0, acs, ars, b, bOff, ldb, c, c0, ldc, accumulate);
            if (j + 3 * VL <= n) {
                tile4x3(j, kLo, kHi, a, a0, acs, ars, b, bOff, ldb, c, c0, ldc, accumulate);
                j += 3 * VL;
            }
        }
        for (; j + 2 * VL <= n; j += 2 * VL) tile4x2(j, kLo, kHi, a, a0, acs, ars, b, bOff, ldb, c, c0, ldc, accumulate);
        for (; j + VL <= n; j += VL) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int p = kLo; p < kHi; p++) {
                FloatVector bv = FloatVector.fromArray(F, b, bOff + p * ldb + j);
                s0 = bv.fma(FloatVector.broadcast(F, a[a0 + p * acs]), s0);
                s1 = bv.fma(FloatVector.broadcast(F, a[a1 + p * acs]), s1);
                s2 = bv.fma(FloatVector.broadcast(F, a[a2 + p * acs]), s2);
                s3 = bv.fma(FloatVector.broadcast(F, a[a3 + p * acs]), s3);
            }
            store(s0, c, c0 + j, accumulate); store(s1, c, c1 + j, accumulate);
            store(s2, c, c2 + j, accumulate); store(s3, c, c3 + j, accumulate);
        }
        for (; j < n; j++) {
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int p = kLo; p < kHi; p++) {
                float bv = b[bOff + p * ldb + j];
                s0 += a[a0 + p * acs] * bv; s1 += a[a1 + p * acs] * bv; s2 += a[a2 + p * acs] * bv; s3 += a[a3 + p * acs] * bv;
            }
            if (accumulate) { c[c0 + j] += s0; c[c1 + j] += s1; c[c2 + j] += s2; c[c3 + j] += s3; }
            else { c[c0 + j] = s0; c[c1 + j] = s1; c[c2 + j] = s2; c[c3 + j] = s3; }
        }
    }

    /**
     * 4 rows x 4 vectors (16 accumulators, 4 loads and 4 broadcasts per 16 FMAs): the full-width tile. The tiles
     * start from zero and add C at the end (a start from C, vectors merged from two branches, ran 15% slower), and
     * their stores are written out: a helper taking a FloatVector that C2 leaves out of an inlining budget gets every
     * vector boxed on the heap.
     */
    private static void tile4x4(int j, int kLo, int kHi, float[] a, int a0, int acs, int ars, float[] b, int bOff, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        int a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
        for (int p = kLo; p < kHi; p++) {
            int bp = bOff + p * ldb + j;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + VL);
            FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * VL);
            FloatVector b3 = FloatVector.fromArray(F, b, bp + 3 * VL);
            FloatVector x = FloatVector.broadcast(F, a[a0 + p * acs]);
            s00 = b0.fma(x, s00); s01 = b1.fma(x, s01); s02 = b2.fma(x, s02); s03 = b3.fma(x, s03);
            x = FloatVector.broadcast(F, a[a1 + p * acs]);
            s10 = b0.fma(x, s10); s11 = b1.fma(x, s11); s12 = b2.fma(x, s12); s13 = b3.fma(x, s13);
            x = FloatVector.broadcast(F, a[a2 + p * acs]);
            s20 = b0.fma(x, s20); s21 = b1.fma(x, s21); s22 = b2.fma(x, s22); s23 = b3.fma(x, s23);
            x = FloatVector.broadcast(F, a[a3 + p * acs]);
            s30 = b0.fma(x, s30); s31 = b1.fma(x, s31); s32 = b2.fma(x, s32); s33 = b3.fma(x, s33);
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        if (accumulate) {
            s00.add(FloatVector.fromArray(F, c, c0 + j)).intoArray(c, c0 + j);
            s01.add(FloatVector.fromArray(F, c, c0 + j + VL)).intoArray(c, c0 + j + VL);
            s02.add(FloatVector.fromArray(F, c, c0 + j + 2 * VL)).intoArray(c, c0 + j + 2 * VL);
            s03.add(FloatVector.fromArray(F, c, c0 + j + 3 * VL)).intoArray(c, c0 + j + 3 * VL);
            s10.add(FloatVector.fromArray(F, c, c1 + j)).intoArray(c, c1 + j);
            s11.add(FloatVector.fromArray(F, c, c1 + j + VL)).intoArray(c, c1 + j + VL);
            s12.add(FloatVector.fromArray(F, c, c1 + j + 2 * VL)).intoArray(c, c1 + j + 2 * VL);
            s13.add(FloatVector.fromArray(F, c, c1 + j + 3 * VL)).intoArray(c, c1 + j + 3 * VL);
            s20.add(FloatVector.fromArray(F, c, c2 + j)).intoArray(c, c2 + j);
            s21.add(FloatVector.fromArray(F, c, c2 + j + VL)).intoArray(c, c2 + j + VL);
            s22.add(FloatVector.fromArray(F, c, c2 + j + 2 * VL)).intoArray(c, c2 + j + 2 * VL);
            s23.add(FloatVector.fromArray(F, c, c2 + j + 3 * VL)).intoArray(c, c2 + j + 3 * VL);
            s30.add(FloatVector.fromArray(F, c, c3 + j)).intoArray(c, c3 + j);
            s31.add(FloatVector.fromArray(F, c, c3 + j + VL)).intoArray(c, c3 + j + VL);
            s32.add(FloatVector.fromArray(F, c, c3 + j + 2 * VL)).intoArray(c, c3 + j + 2 * VL);
            s33.add(FloatVector.fromArray(F, c, c3 + j + 3 * VL)).intoArray(c, c3 + j + 3 * VL);
        } else {
            s00.intoArray(c, c0 + j); s01.intoArray(c, c0 + j + VL); s02.intoArray(c, c0 + j + 2 * VL); s03.intoArray(c, c0 + j + 3 * VL);
            s10.intoArray(c, c1 + j); s11.intoArray(c, c1 + j + VL); s12.intoArray(c, c1 + j + 2 * VL); s13.intoArray(c, c1 + j + 3 * VL);
            s20.intoArray(c, c2 + j); s21.intoArray(c, c2 + j + VL); s22.intoArray(c, c2 + j + 2 * VL); s23.intoArray(c, c2 + j + 3 * VL);
            s30.intoArray(c, c3 + j); s31.intoArray(c, c3 + j + VL); s32.intoArray(c, c3 + j + 2 * VL); s33.intoArray(c, c3 + j + 3 * VL);
        }
    }

    /** 4 rows x 3 vectors (12 accumulators): the causal products' row groups that end short of full width. */
    private static void tile4x3(int j, int kLo, int kHi, float[] a, int a0, int acs, int ars, float[] b, int bOff, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
        int a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
        for (int p = kLo; p < kHi; p++) {
            int bp = bOff + p * ldb + j;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + VL);
            FloatVector b2 = FloatVector.fromArray(F, b, bp + 2 * VL);
            FloatVector x = FloatVector.broadcast(F, a[a0 + p * acs]);
            s00 = b0.fma(x, s00); s01 = b1.fma(x, s01); s02 = b2.fma(x, s02);
            x = FloatVector.broadcast(F, a[a1 + p * acs]);
            s10 = b0.fma(x, s10); s11 = b1.fma(x, s11); s12 = b2.fma(x, s12);
            x = FloatVector.broadcast(F, a[a2 + p * acs]);
            s20 = b0.fma(x, s20); s21 = b1.fma(x, s21); s22 = b2.fma(x, s22);
            x = FloatVector.broadcast(F, a[a3 + p * acs]);
            s30 = b0.fma(x, s30); s31 = b1.fma(x, s31); s32 = b2.fma(x, s32);
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        if (accumulate) {
            s00.add(FloatVector.fromArray(F, c, c0 + j)).intoArray(c, c0 + j);
            s01.add(FloatVector.fromArray(F, c, c0 + j + VL)).intoArray(c, c0 + j + VL);
            s02.add(FloatVector.fromArray(F, c, c0 + j + 2 * VL)).intoArray(c, c0 + j + 2 * VL);
            s10.add(FloatVector.fromArray(F, c, c1 + j)).intoArray(c, c1 + j);
            s11.add(FloatVector.fromArray(F, c, c1 + j + VL)).intoArray(c, c1 + j + VL);
            s12.add(FloatVector.fromArray(F, c, c1 + j + 2 * VL)).intoArray(c, c1 + j + 2 * VL);
            s20.add(FloatVector.fromArray(F, c, c2 + j)).intoArray(c, c2 + j);
            s21.add(FloatVector.fromArray(F, c, c2 + j + VL)).intoArray(c, c2 + j + VL);
            s22.add(FloatVector.fromArray(F, c, c2 + j + 2 * VL)).intoArray(c, c2 + j + 2 * VL);
            s30.add(FloatVector.fromArray(F, c, c3 + j)).intoArray(c, c3 + j);
            s31.add(FloatVector.fromArray(F, c, c3 + j + VL)).intoArray(c, c3 + j + VL);
            s32.add(FloatVector.fromArray(F, c, c3 + j + 2 * VL)).intoArray(c, c3 + j + 2 * VL);
        } else {
            s00.intoArray(c, c0 + j); s01.intoArray(c, c0 + j + VL); s02.intoArray(c, c0 + j + 2 * VL); s10.intoArray(c, c1 + j);
            s11.intoArray(c, c1 + j + VL); s12.intoArray(c, c1 + j + 2 * VL); s20.intoArray(c, c2 + j); s21.intoArray(c, c2 + j + VL);
            s22.intoArray(c, c2 + j + 2 * VL); s30.intoArray(c, c3 + j); s31.intoArray(c, c3 + j + VL); s32.intoArray(c, c3 + j + 2 * VL);
        }
    }

    /** 4 rows x 2 vectors (8 accumulators). */
    private static void tile4x2(int j, int kLo, int kHi, float[] a, int a0, int acs, int ars, float[] b, int bOff, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        int a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
        for (int p = kLo; p < kHi; p++) {
            int bp = bOff + p * ldb + j;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + VL);
            FloatVector x = FloatVector.broadcast(F, a[a0 + p * acs]);
            s00 = b0.fma(x, s00); s01 = b1.fma(x, s01);
            x = FloatVector.broadcast(F, a[a1 + p * acs]);
            s10 = b0.fma(x, s10); s11 = b1.fma(x, s11);
            x = FloatVector.broadcast(F, a[a2 + p * acs]);
            s20 = b0.fma(x, s20); s21 = b1.fma(x, s21);
            x = FloatVector.broadcast(F, a[a3 + p * acs]);
            s30 = b0.fma(x, s30); s31 = b1.fma(x, s31);
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        if (accumulate) {
            s00.add(FloatVector.fromArray(F, c, c0 + j)).intoArray(c, c0 + j);
            s01.add(FloatVector.fromArray(F, c, c0 + j + VL)).intoArray(c, c0 + j + VL);
            s10.add(FloatVector.fromArray(F, c, c1 + j)).intoArray(c, c1 + j);
            s11.add(FloatVector.fromArray(F, c, c1 + j + VL)).intoArray(c, c1 + j + VL);
            s20.add(FloatVector.fromArray(F, c, c2 + j)).intoArray(c, c2 + j);
            s21.add(FloatVector.fromArray(F, c, c2 + j + VL)).intoArray(c, c2 + j + VL);
            s30.add(FloatVector.fromArray(F, c, c3 + j)).intoArray(c, c3 + j);
            s31.add(FloatVector.fromArray(F, c, c3 + j + VL)).intoArray(c, c3 + j + VL);
        } else {
            s00.intoArray(c, c0 + j); s01.intoArray(c, c0 + j + VL); s10.intoArray(c, c1 + j); s11.intoArray(c, c1 + j + VL);
            s20.intoArray(c, c2 + j); s21.intoArray(c, c2 + j + VL); s30.intoArray(c, c3 + j); s31.intoArray(c, c3 + j + VL);
        }
    }

    /**
     * Six rows of C (from c0, row stride ldc), columns [0, n), = A B over p in [kLo, kHi) with A(r, p) =
     * a[a0 + r * ars + p * acs]: rows contiguous (acs = 1) or, for a transposed A, the six rows' elements of one p
     * side by side (ars = 1). The 16-register tile: 6 x 2 vectors, then 6 x 1, then scalars, each element summed in
     * the same order as the other tiles do.
     */
    private static void rows6(int n, int kLo, int kHi, float[] a, int a0, int ars, int acs, float[] b, int bOff, int ldb,
                              float[] c, int c0, int ldc, boolean accumulate) {
        int j = 0;
        for (; j + 2 * VL <= n; j += 2 * VL) tile6x2(kLo, kHi, a, a0, ars, acs, b, bOff + j, ldb, c, c0 + j, ldc, accumulate);
        if (j + VL <= n) {
            tile6x1(kLo, kHi, a, a0, ars, acs, b, bOff + j, ldb, c, c0 + j, ldc, accumulate);
            j += VL;
        }
        for (; j < n; j++)
            for (int r = 0; r < 6; r++) {
                float s0 = 0;
                for (int p = kLo; p < kHi; p++) s0 += a[a0 + r * ars + p * acs] * b[bOff + p * ldb + j];
                if (accumulate) c[c0 + r * ldc + j] += s0; else c[c0 + r * ldc + j] = s0;
            }
    }

    /** 6 rows x 2 vectors: 12 accumulators + 2 loads + 1 broadcast fit 16 registers. */
    private static void tile6x2(int kLo, int kHi, float[] a, int a0, int ars, int acs, float[] b, int bOff, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
        FloatVector s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00;
        int r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        for (int p = kLo; p < kHi; p++) {
            int bp = bOff + p * ldb, ap = a0 + p * acs;
            FloatVector b0 = FloatVector.fromArray(F, b, bp);
            FloatVector b1 = FloatVector.fromArray(F, b, bp + VL);
            FloatVector x = FloatVector.broadcast(F, a[ap]);
            s00 = b0.fma(x, s00); s01 = b1.fma(x, s01);
            x = FloatVector.broadcast(F, a[ap + ars]);
            s10 = b0.fma(x, s10); s11 = b1.fma(x, s11);
            x = FloatVector.broadcast(F, a[ap + r2]);
            s20 = b0.fma(x, s20); s21 = b1.fma(x, s21);
            x = FloatVector.broadcast(F, a[ap + r3]);
            s30 = b0.fma(x, s30); s31 = b1.fma(x, s31);
            x = FloatVector.broadcast(F, a[ap + r4]);
            s40 = b0.fma(x, s40); s41 = b1.fma(x, s41);
            x = FloatVector.broadcast(F, a[ap + r5]);
            s50 = b0.fma(x, s50); s51 = b1.fma(x, s51);
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc;
        if (accumulate) {
            s00.add(FloatVector.fromArray(F, c, c0)).intoArray(c, c0);
            s01.add(FloatVector.fromArray(F, c, c0 + VL)).intoArray(c, c0 + VL);
            s10.add(FloatVector.fromArray(F, c, c1)).intoArray(c, c1);
            s11.add(FloatVector.fromArray(F, c, c1 + VL)).intoArray(c, c1 + VL);
            s20.add(FloatVector.fromArray(F, c, c2)).intoArray(c, c2);
            s21.add(FloatVector.fromArray(F, c, c2 + VL)).intoArray(c, c2 + VL);
            s30.add(FloatVector.fromArray(F, c, c3)).intoArray(c, c3);
            s31.add(FloatVector.fromArray(F, c, c3 + VL)).intoArray(c, c3 + VL);
            s40.add(FloatVector.fromArray(F, c, c4)).intoArray(c, c4);
            s41.add(FloatVector.fromArray(F, c, c4 + VL)).intoArray(c, c4 + VL);
            s50.add(FloatVector.fromArray(F, c, c5)).intoArray(c, c5);
            s51.add(FloatVector.fromArray(F, c, c5 + VL)).intoArray(c, c5 + VL);
        } else {
            s00.intoArray(c, c0); s01.intoArray(c, c0 + VL); s10.intoArray(c, c1); s11.intoArray(c, c1 + VL);
            s20.intoArray(c, c2); s21.intoArray(c, c2 + VL); s30.intoArray(c, c3); s31.intoArray(c, c3 + VL);
            s40.intoArray(c, c4); s41.intoArray(c, c4 + VL); s50.intoArray(c, c5); s51.intoArray(c, c5 + VL);
        }
    }

    /** 6 rows x 1 vector: the column left over by {@link #tile6x2}. */
    private static void tile6x1(int kLo, int kHi, float[] a, int a0, int ars, int acs, float[] b, int bOff, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
        int r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        for (int p = kLo; p < kHi; p++) {
            FloatVector bv = FloatVector.fromArray(F, b, bOff + p * ldb);
            int ap = a0 + p * acs;
            s0 = bv.fma(FloatVector.broadcast(F, a[ap]), s0);
            s1 = bv.fma(FloatVector.broadcast(F, a[ap + ars]), s1);
            s2 = bv.fma(FloatVector.broadcast(F, a[ap + r2]), s2);
            s3 = bv.fma(FloatVector.broadcast(F, a[ap + r3]), s3);
            s4 = bv.fma(FloatVector.broadcast(F, a[ap + r4]), s4);
            s5 = bv.fma(FloatVector.broadcast(F, a[ap + r5]), s5);
        }
        int c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc;
        if (accumulate) {
            s0.add(FloatVector.fromArray(F, c, c0)).intoArray(c, c0);
            s1.add(FloatVector.fromArray(F, c, c1)).intoArray(c, c1);
            s2.add(FloatVector.fromArray(F, c, c2)).intoArray(c, c2);
            s3.add(FloatVector.fromArray(F, c, c3)).intoArray(c, c3);
            s4.add(FloatVector.fromArray(F, c, c4)).intoArray(c, c4);
            s5.add(FloatVector.fromArray(F, c, c5)).intoArray(c, c5);
        } else {
            s0.intoArray(c, c0); s1.intoArray(c, c1); s2.intoArray(c, c2); s3.intoArray(c, c3); s4.intoArray(c, c4); s5.intoArray(c, c5);
        }
    }

    private static void row1(int i, int n, int kLo, int kHi, float[] a, int aOff, int ars, int acs, float[] b, int bOff, int ldb,
                             float[] c, int cOff, int ldc, boolean accumulate) {
        int a0 = aOff + i * ars, c0 = cOff + i * ldc;
        int j = 0;
        for (; j + VL <= n; j += VL) {
            FloatVector s0 = FloatVector.zero(F);
            for (int p = kLo; p < kHi; p++)
                s0 = FloatVector.fromArray(F, b, bOff + p * ldb + j).fma(FloatVector.broadcast(F, a[a0 + p * acs]), s0);
            store(s0, c, c0 + j, accumulate);
        }
        for (; j < n; j++) {
            float s0 = 0;
            for (int p = kLo; p < kHi; p++) s0 += a[a0 + p * acs] * b[bOff + p * ldb + j];
            if (accumulate) c[c0 + j] += s0; else c[c0 + j] = s0;
        }
    }

    private static void store(FloatVector s, float[] c, int at, boolean accumulate) {
        if (accumulate) s = s.add(FloatVector.fromArray(F, c, at));
        s.intoArray(c, at);
    }

    /** {@link #transpose}'s gather offsets l * lds, for the lds it last used on this thread. */
    private static final ThreadLocal<int[]> GATHER = ThreadLocal.withInitial(() -> new int[Math.max(2, VL)]);

    /**
     * dst[cols, rows] = src[rows, cols]^T (strided views). VL source rows at a time: each destination row gets one
     * vector gathered down a column of them (one gather instead of VL scalar loads and stores: 2.6x the scalar copy
     * at 64 x 64 on AVX-512, 1.9x on AVX2, Zen 5); rows left over go eight, then one, at a time.
     */
    static void transpose(int rows, int cols, float[] src, int sOff, int lds, float[] dst, int dOff, int ldd) {
        int r = 0;
        if (rows >= VL) {
            int[] down = GATHER.get(); // lane l reads source row r + l (kept per thread: the pipelines transpose per chunk and head)
            if (down[1] != lds) for (int l = 0; l < VL; l++) down[l] = l * lds;
            for (; r + VL <= rows; r += VL) {
                int s = sOff + r * lds;
                for (int c = 0; c < cols; c++) FloatVector.fromArray(F, src, s + c, down, 0).intoArray(dst, dOff + c * ldd + r);
            }
        }
        for (; r + 8 <= rows; r += 8) { // eight rows left: each destination row gets eight consecutive stores
            int s0 = sOff + r * lds, s1 = s0 + lds, s2 = s1 + lds, s3 = s2 + lds;
            int s4 = s3 + lds, s5 = s4 + lds, s6 = s5 + lds, s7 = s6 + lds;
            for (int c = 0; c < cols; c++) {
                int d = dOff + c * ldd + r;
                dst[d] = src[s0 + c]; dst[d + 1] = src[s1 + c]; dst[d + 2] = src[s2 + c]; dst[d + 3] = src[s3 + c];
                dst[d + 4] = src[s4 + c]; dst[d + 5] = src[s5 + c]; dst[d + 6] = src[s6 + c]; dst[d + 7] = src[s7 + c];
            }
        }
        for (; r < rows; r++) {
            int s = sOff + r * lds;
            for (int c = 0; c < cols; c++) dst[dOff + c * ldd + r] = src[s + c];
        }
    }

    /** Zeroes P[i, j] for j > i in the first n rows/cols of a square block (keeps the causal lower triangle). */
    static void keepLower(int n, float[] p, int off, int ld) {
        for (int i = 0; i < n - 1; i++) java.util.Arrays.fill(p, off + i * ld + i + 1, off + i * ld + n, 0f);
    }
}
