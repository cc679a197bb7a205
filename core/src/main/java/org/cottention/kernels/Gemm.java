package org.cottention.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM on row-major float arrays, BLAS sgemm semantics:
 * {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}, where op(X) is X or its transpose.
 * Each matrix is a strided view: element (r, c) of a stored matrix X lives at {@code x[xOff + r * ldx + c]}.
 * With transA the stored A is [k, m]; with transB the stored B is [n, k].
 * With beta == 0, C is overwritten (NaNs in C do not survive), as in BLAS.
 * Runs on {@link Parallel}'s threads; from inside a parallel region it runs on the calling thread only.
 *
 * <p>How (the Goto/BLIS scheme): op(B) is cut into KC x NC panels packed as NR-wide column strips, op(A) into
 * MC x KC blocks packed as MR-tall row strips, so the micro-kernel reads both operands contiguously whatever the
 * transposes were; the micro-kernel keeps an MR x NR tile of C in registers (MR * NR/16 FloatVectors) and does one
 * broadcast-FMA per A element. Edge tiles are zero-padded in the packed buffers and go through a small scratch
 * tile. A non-transposed A is read in place instead of packed where that measured faster (with 32 vector
 * registers always, with 16 only for blocks of a few strips: {@link #DIRECT_A_MAX_N}); the sums are the same.
 * Every C element is a fixed-order sum over k (per KC block, in order), independent of where its tile sits, so the
 * split across threads (of C's rows, or of a B panel's strips, tile aligned) does not change a single bit of the
 * result. With several threads, each B panel is packed once, by all threads together, and shared.
 * A single row or column (m == 1, decoding's x * W^T; or n == 1) takes a bandwidth-bound matrix-vector path instead,
 * and so do a few rows (2..{@value #SMALL_M}) times a transposed B (batched decoding's X * W^T): there each row's
 * result is bit-identical to that row multiplied alone.
 */
public final class Gemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Micro-tile: MR rows x NR columns of C held in registers (NR = 2 vectors). */
    static final int MR = 6; // the packing code and the kernels below are written out for 6
    static final int NR = 2 * L;
    /**
     * Cache blocking, measured on Zen 4 (32K L1d, 1M L2 per core) at 1024^3: an MC x KC block of A (192 KB) and a
     * KC x NR strip of B (64 KB) stream from L2, the KC x NC panel of B from L2/L3. KC = 512 beat 256 and 384 by
     * 4-9% (fewer passes over C); MC between 48 and 144 made no measurable difference. The system properties
     * cottention.gemm.kc/mc/nc/directA override them, for tuning only.
     */
    static final int KC = Integer.getInteger("cottention.gemm.kc", 512);
    static final int MC = roundUp(Integer.getInteger("cottention.gemm.mc", 96), MR);
    static final int NC = roundUp(Integer.getInteger("cottention.gemm.nc", 3072), NR);
    /** Below this many multiply-adds a call stays on one thread (fan-out costs more than it saves). */
    private static final long PARALLEL_MIN_WORK = 1L << 21;

    /** Per-thread packing buffers, grown on demand and kept: no large allocation per call. */
    private static final class Scratch {
        float[] a = new float[0];
        float[] b = new float[0];
        final float[] tile = new float[MR * NR];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Gemm() {}

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        check(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f) {
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        if (m == 1) {
            gemv(transB, n, k, alpha, a, aOff, transA ? lda : 1, b, bOff, ldb, beta, c, cOff, 1);
            return;
        }
        if (n == 1) { // C[m,1] = op(A) op(B)[:,0]: the same matrix-vector product with A as the matrix
            gemv(!transA, m, k, alpha, b, bOff, transB ? 1 : ldb, a, aOff, lda, beta, c, cOff, ldc);
            return;
        }
        if (!transA && transB && m <= SMALL_M) { // a few rows times a weight matrix: batched decoding
            smallM(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        long work = (long) m * n * k;
        int threads = Parallel.inRegion() ? 1 : Parallel.threads();
        if (threads <= 1 || work < PARALLEL_MIN_WORK) {
            serial(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        // One multi-threaded call at a time: its parties wait for each other at barriers, so two calls sharing the
        // pool could each hold a worker while waiting for a part queued behind the other's. A call made while
        // another is running uses its own thread only (same bits).
        if (!PARALLEL_BUSY.compareAndSet(false, true)) {
            serial(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        try {
            blockedParallel(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, threads);
        } finally {
            PARALLEL_BUSY.set(false);
        }
    }

    private static final java.util.concurrent.atomic.AtomicBoolean PARALLEL_BUSY = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Up to this many columns per macro-kernel, a non-transposed A is read in place instead of packed. With 32
     * vector registers that is every width: on Zen 4 (AVX-512), alternating both ways in one process, reading A in
     * place was 5-6% faster over the training model's shapes (4096 rows, widths 384-1536, where packing A is a large
     * share of the work) and 1-4% at 1024^3. With 16 (the same CPU at -XX:UseAVX=2) it was 6-8% slower there and
     * 9-17% at 1024^3, so only the small blocks, where packing would cost a third of the time.
     */
    static final int DIRECT_A_MAX_N = Integer.getInteger("cottention.gemm.directA",
            Machine.VECTOR_REGISTERS >= 32 ? Integer.MAX_VALUE : 4 * NR);

    /**
     * The multi-threaded blocked path: one parallel region per call, its parties stepping through the KC x NC panels
     * of B in lockstep (a spin barrier between phases, so a call of a few ms does not pay a pool hand-off per
     * panel). Per panel the parties first pack the panel together (each a range of its strips), then split C's
     * rows (or, when there are too few, the panel's strips) among them, each packing its own A blocks. So no operand
     * is packed twice, and the packed B panel is shared.
     */
    private static void blockedParallel(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                        float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                        float beta, float[] c, int cOff, int ldc, int threads) {
        Scratch s = SCRATCH.get();
        int kcMax = Math.min(KC, k);
        int ncMax = Math.min(NC, roundUp(n, NR));
        if (s.b.length < kcMax * ncMax) s.b = new float[kcMax * ncMax];
        float[] pb = s.b;
        int mStrips = (m + MR - 1) / MR;
        Parallel.together(threads, (me, parts, barrier) -> {
            for (int jc = 0; jc < n; jc += NC) {
                int nc = Math.min(NC, n - jc);
                int nStrips = (nc + NR - 1) / NR;
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = Math.min(KC, k - pc);
                    if (jc + pc > 0) barrier.await(); // everyone is done reading the previous panel
                    int s0 = share(nStrips, me, parts), s1 = share(nStrips, me + 1, parts);
                    if (s1 > s0) packB(transB, b, bOff, ldb, pc, jc + s0 * NR, kc, Math.min(nc, s1 * NR) - s0 * NR, pb, s0 * NR * kc);
                    barrier.await(); // the panel is complete
                    float betaHere = pc == 0 ? beta : 1f;
                    float[] pa = scratchA(kc, m);
                    float[] tile = SCRATCH.get().tile;
                    if (mStrips >= 2 * parts || nStrips < parts) {
                        int i0 = share(mStrips, me, parts) * MR, i1 = Math.min(m, share(mStrips, me + 1, parts) * MR);
                        for (int ic = i0; ic < i1; ic += MC) {
                            int mc = Math.min(MC, i1 - ic);
                            int aDirect = packAOrNot(transA, nc, a, aOff, lda, ic, pc, mc, kc, pa);
                            macroKernel(mc, nc, kc, alpha, pa, a, aDirect, lda, pb, 0, betaHere, c, cOff + ic * ldc + jc, ldc, tile);
                        }
                    } else {
                        int j0 = share(nStrips, me, parts) * NR, w = Math.min(nc, share(nStrips, me + 1, parts) * NR) - j0;
                        if (w <= 0) continue;
                        for (int ic = 0; ic < m; ic += MC) {
                            int mc = Math.min(MC, m - ic);
                            int aDirect = packAOrNot(transA, w, a, aOff, lda, ic, pc, mc, kc, pa);
                            macroKernel(mc, w, kc, alpha, pa, a, aDirect, lda, pb, j0 * kc, betaHere, c, cOff + ic * ldc + jc + j0, ldc, tile);
                        }
                    }
                }
            }
        });
    }

    /** Start of part {@code part} of {@code parts} of [0, n): the same split as {@link Parallel#forRange}. */
    private static int share(int n, int part, int parts) {
        return (int) ((long) n * part / parts);
    }

    /** This thread's A-block buffer, big enough for an MC x kc block. */
    private static float[] scratchA(int kc, int m) {
        Scratch t = SCRATCH.get();
        int need = kc * Math.min(MC, roundUp(m, MR));
        if (t.a.length < need) t.a = new float[need];
        return t.a;
    }

    /** C = A * B for contiguous row-major A[m,k], B[k,n], C[m,n]. */
    public static void matmul(float[] a, float[] b, float[] c, int m, int n, int k) {
        sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Blocked path

    private static void serial(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                               float beta, float[] c, int cOff, int ldc) {
        Scratch s = SCRATCH.get();
        int kcMax = Math.min(KC, k);
        int ncMax = Math.min(NC, roundUp(n, NR));
        int mcMax = Math.min(MC, roundUp(m, MR));
        if (s.b.length < kcMax * ncMax) s.b = new float[kcMax * ncMax];
        if (s.a.length < kcMax * mcMax) s.a = new float[kcMax * mcMax];
        float[] pa = s.a, pb = s.b, tile = s.tile;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                packB(transB, b, bOff, ldb, pc, jc, kc, nc, pb, 0);
                float betaHere = pc == 0 ? beta : 1f; // later KC blocks accumulate onto what the first wrote
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    int aDirect = packAOrNot(transA, nc, a, aOff, lda, ic, pc, mc, kc, pa);
                    macroKernel(mc, nc, kc, alpha, pa, a, aDirect, lda, pb, 0, betaHere, c, cOff + ic * ldc + jc, ldc, tile);
                }
            }
        }
    }

    /** Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-wide strips: strip s holds, for each p, NR consecutive columns. */
    private static void packB(boolean transB, float[] b, int bOff, int ldb, int pc, int jc, int kc, int nc, float[] pb, int pbOff) {
        for (int j0 = 0; j0 < nc; j0 += NR) {
            int w = Math.min(NR, nc - j0);
            int dst = pbOff + j0 * kc; // strip j0/NR starts at (j0/NR) * kc * NR
            if (!transB) {
                int src = bOff + pc * ldb + jc + j0;
                if (w == NR) {
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        FloatVector.fromArray(S, b, src).intoArray(pb, dst);
                        FloatVector.fromArray(S, b, src + L).intoArray(pb, dst + L);
                    }
                } else {
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        int j = 0;
                        for (; j < w; j++) pb[dst + j] = b[src + j];
                        for (; j < NR; j++) pb[dst + j] = 0f;
                    }
                }
            } else {
                // stored B is [n, k]: column j of op(B) is row j of B, contiguous in p. Done in chunks of 16 p so
                // the strip's lines being written (16 x 128 bytes) stay in L1 while the 32 rows are walked.
                for (int p0 = 0; p0 < kc; p0 += 16) {
                    int p1 = Math.min(kc, p0 + 16);
                    for (int j = 0; j < NR; j++) {
                        int d = dst + p0 * NR + j;
                        if (j < w) {
                            int src = bOff + (jc + j0 + j) * ldb + pc;
                            for (int p = p0; p < p1; p++, d += NR) pb[d] = b[src + p];
                        } else {
                            for (int p = p0; p < p1; p++, d += NR) pb[d] = 0f;
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs the A block for a macro-kernel over nc columns, or, for a non-transposed A feeding only a few B strips
     * (the small-matrix case, e.g. 64x64 per attention head, where packing A would cost a third of the time), packs
     * only a partial last strip and returns where the block starts in A for the kernel to read rows directly.
     * Returns -1 when everything was packed.
     */
    private static int packAOrNot(boolean transA, int nc, float[] a, int aOff, int lda, int ic, int pc, int mc, int kc, float[] pa) {
        if (transA || nc > DIRECT_A_MAX_N) {
            packA(transA, a, aOff, lda, ic, pc, mc, kc, pa);
            return -1;
        }
        int full = mc / MR * MR;
        if (full < mc) packA(false, a, aOff, lda, ic + full, pc, mc - full, kc, pa);
        return aOff + ic * lda + pc;
    }

    /** Packs op(A)[ic:ic+mc, pc:pc+kc] as MR-tall strips: strip s holds, for each p, MR consecutive rows. */
    private static void packA(boolean transA, float[] a, int aOff, int lda, int ic, int pc, int mc, int kc, float[] pa) {
        for (int i0 = 0; i0 < mc; i0 += MR) {
            int h = Math.min(MR, mc - i0);
            int dst = i0 * kc;
            if (transA) {
                // stored A is [k, m]: row p holds op(A)'s column p, contiguous in i
                int src = aOff + pc * lda + ic + i0;
                if (h == MR) {
                    for (int p = 0; p < kc; p++, src += lda, dst += MR) {
                        pa[dst] = a[src];
                        pa[dst + 1] = a[src + 1];
                        pa[dst + 2] = a[src + 2];
                        pa[dst + 3] = a[src + 3];
                        pa[dst + 4] = a[src + 4];
                        pa[dst + 5] = a[src + 5];
                    }
                } else {
                    for (int p = 0; p < kc; p++, src += lda, dst += MR) {
                        int i = 0;
                        for (; i < h; i++) pa[dst + i] = a[src + i];
                        for (; i < MR; i++) pa[dst + i] = 0f;
                    }
                }
            } else {
                for (int i = 0; i < MR; i++) {
                    if (i < h) {
                        int src = aOff + (ic + i0 + i) * lda + pc;
                        for (int p = 0, d = dst + i; p < kc; p++, d += MR) pa[d] = a[src + p];
                    } else {
                        for (int p = 0, d = dst + i; p < kc; p++, d += MR) pa[d] = 0f;
                    }
                }
            }
        }
    }

    /**
     * C[mc, nc] (at c[cOff]) = alpha * Ablock * Bpanel + beta * C over one KC block. A comes packed in pa, or, when
     * aDirect >= 0, straight from the caller's row-major A (element (0,0) at a[aDirect], row stride lda) with only a
     * partial last strip packed (at pa[0]).
     */
    private static void macroKernel(int mc, int nc, int kc, float alpha, float[] pa, float[] a, int aDirect, int lda,
                                    float[] pb, int pbOff, float beta, float[] c, int cOff, int ldc, float[] tile) {
        for (int j0 = 0; j0 < nc; j0 += NR) {
            int w = Math.min(NR, nc - j0);
            int bIdx = pbOff + j0 * kc;
            for (int i0 = 0; i0 < mc; i0 += MR) {
                int h = Math.min(MR, mc - i0);
                boolean rowsA = aDirect >= 0 && h == MR;
                int aIdx = aDirect >= 0 ? 0 : i0 * kc;
                int ci = cOff + i0 * ldc + j0;
                if (w == NR && h == MR) {
                    if (rowsA) kernelRowsA(kc, a, aDirect + i0 * lda, lda, pb, bIdx, alpha, beta, c, ci, ldc);
                    else kernel(kc, pa, aIdx, pb, bIdx, alpha, beta, c, ci, ldc);
                } else {
                    // partial tile: raw sums into scratch, then the same fma(acc, alpha, beta*c) in scalar form
                    if (rowsA) kernelRowsA(kc, a, aDirect + i0 * lda, lda, pb, bIdx, 1f, 0f, tile, 0, NR);
                    else kernel(kc, pa, aIdx, pb, bIdx, 1f, 0f, tile, 0, NR);
                    for (int i = 0; i < h; i++) {
                        for (int j = 0; j < w; j++) {
                            float acc = tile[i * NR + j];
                            int q = ci + i * ldc + j;
                            c[q] = beta == 0f ? acc * alpha : Math.fma(acc, alpha, beta * c[q]);
                        }
                    }
                }
            }
        }
    }

    /**
     * The micro-kernel: C[0:6, 0:32] (at c[ci], row stride ldc) = alpha * sum_p A[:,p] B[p,:] + beta * C, with A a
     * packed 6-tall strip and B a packed 32-wide strip. beta == 0 never reads C.
     */
    private static void kernel(int kc, float[] pa, int aIdx, float[] pb, int bIdx,
                               float alpha, float beta, float[] c, int ci, int ldc) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            int bi = bIdx + p * NR, ai = aIdx + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, pb, bi);
            FloatVector b1 = FloatVector.fromArray(S, pb, bi + L);
            FloatVector a0 = FloatVector.broadcast(S, pa[ai]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            FloatVector a1 = FloatVector.broadcast(S, pa[ai + 1]);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            FloatVector a2 = FloatVector.broadcast(S, pa[ai + 2]);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            FloatVector a3 = FloatVector.broadcast(S, pa[ai + 3]);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
            FloatVector a4 = FloatVector.broadcast(S, pa[ai + 4]);
            c40 = b0.fma(a4, c40);
            c41 = b1.fma(a4, c41);
            FloatVector a5 = FloatVector.broadcast(S, pa[ai + 5]);
            c50 = b0.fma(a5, c50);
            c51 = b1.fma(a5, c51);
        }
        // Written out rather than via a helper taking vectors: a FloatVector argument of a call that is not inlined
        // gets boxed, which made the beta != 0 path (every KC block after the first) 40x slower.
        if (beta == 0f) {
            c00.mul(alpha).intoArray(c, ci);
            c01.mul(alpha).intoArray(c, ci + L);
            c10.mul(alpha).intoArray(c, ci + ldc);
            c11.mul(alpha).intoArray(c, ci + ldc + L);
            c20.mul(alpha).intoArray(c, ci + 2 * ldc);
            c21.mul(alpha).intoArray(c, ci + 2 * ldc + L);
            c30.mul(alpha).intoArray(c, ci + 3 * ldc);
            c31.mul(alpha).intoArray(c, ci + 3 * ldc + L);
            c40.mul(alpha).intoArray(c, ci + 4 * ldc);
            c41.mul(alpha).intoArray(c, ci + 4 * ldc + L);
            c50.mul(alpha).intoArray(c, ci + 5 * ldc);
            c51.mul(alpha).intoArray(c, ci + 5 * ldc + L);
        } else {
            FloatVector va = FloatVector.broadcast(S, alpha);
            c00.fma(va, FloatVector.fromArray(S, c, ci).mul(beta)).intoArray(c, ci);
            c01.fma(va, FloatVector.fromArray(S, c, ci + L).mul(beta)).intoArray(c, ci + L);
            c10.fma(va, FloatVector.fromArray(S, c, ci + ldc).mul(beta)).intoArray(c, ci + ldc);
            c11.fma(va, FloatVector.fromArray(S, c, ci + ldc + L).mul(beta)).intoArray(c, ci + ldc + L);
            c20.fma(va, FloatVector.fromArray(S, c, ci + 2 * ldc).mul(beta)).intoArray(c, ci + 2 * ldc);
            c21.fma(va, FloatVector.fromArray(S, c, ci + 2 * ldc + L).mul(beta)).intoArray(c, ci + 2 * ldc + L);
            c30.fma(va, FloatVector.fromArray(S, c, ci + 3 * ldc).mul(beta)).intoArray(c, ci + 3 * ldc);
            c31.fma(va, FloatVector.fromArray(S, c, ci + 3 * ldc + L).mul(beta)).intoArray(c, ci + 3 * ldc + L);
            c40.fma(va, FloatVector.fromArray(S, c, ci + 4 * ldc).mul(beta)).intoArray(c, ci + 4 * ldc);
            c41.fma(va, FloatVector.fromArray(S, c, ci + 4 * ldc + L).mul(beta)).intoArray(c, ci + 4 * ldc + L);
            c50.fma(va, FloatVector.fromArray(S, c, ci + 5 * ldc).mul(beta)).intoArray(c, ci + 5 * ldc);
            c51.fma(va, FloatVector.fromArray(S, c, ci + 5 * ldc + L).mul(beta)).intoArray(c, ci + 5 * ldc + L);
        }
    }

    /**
     * The micro-kernel with A read in place: rows i of the 6-tall strip start at a[aRow + i * lda], contiguous in p
     * (so the loads stay free of bounds checks: each index is a loop-invariant base plus p). Same arithmetic, in the
     * same order, as {@link #kernel}.
     */
    private static void kernelRowsA(int kc, float[] a, int aRow, int lda, float[] pb, int bIdx,
                                    float alpha, float beta, float[] c, int ci, int ldc) {
        int r0 = aRow;
        int r1 = aRow + lda;
        int r2 = aRow + 2 * lda;
        int r3 = aRow + 3 * lda;
        int r4 = aRow + 4 * lda;
        int r5 = aRow + 5 * lda;
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            int bi = bIdx + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, pb, bi);
            FloatVector b1 = FloatVector.fromArray(S, pb, bi + L);
            FloatVector a0 = FloatVector.broadcast(S, a[r0 + p]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            FloatVector a1 = FloatVector.broadcast(S, a[r1 + p]);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            FloatVector a2 = FloatVector.broadcast(S, a[r2 + p]);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            FloatVector a3 = FloatVector.broadcast(S, a[r3 + p]);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
            FloatVector a4 = FloatVector.broadcast(S, a[r4 + p]);
            c40 = b0.fma(a4, c40);
            c41 = b1.fma(a4, c41);
            FloatVector a5 = FloatVector.broadcast(S, a[r5 + p]);
            c50 = b0.fma(a5, c50);
            c51 = b1.fma(a5, c51);
        }
        if (beta == 0f) {
            c00.mul(alpha).intoArray(c, ci);
            c01.mul(alpha).intoArray(c, ci + L);
            c10.mul(alpha).intoArray(c, ci + ldc);
            c11.mul(alpha).intoArray(c, ci + ldc + L);
            c20.mul(alpha).intoArray(c, ci + 2 * ldc);
            c21.mul(alpha).intoArray(c, ci + 2 * ldc + L);
            c30.mul(alpha).intoArray(c, ci + 3 * ldc);
            c31.mul(alpha).intoArray(c, ci + 3 * ldc + L);
            c40.mul(alpha).intoArray(c, ci + 4 * ldc);
            c41.mul(alpha).intoArray(c, ci + 4 * ldc + L);
            c50.mul(alpha).intoArray(c, ci + 5 * ldc);
            c51.mul(alpha).intoArray(c, ci + 5 * ldc + L);
        } else {
            FloatVector va = FloatVector.broadcast(S, alpha);
            c00.fma(va, FloatVector.fromArray(S, c, ci).mul(beta)).intoArray(c, ci);
            c01.fma(va, FloatVector.fromArray(S, c, ci + L).mul(beta)).intoArray(c, ci + L);
            c10.fma(va, FloatVector.fromArray(S, c, ci + ldc).mul(beta)).intoArray(c, ci + ldc);
            c11.fma(va, FloatVector.fromArray(S, c, ci + ldc + L).mul(beta)).intoArray(c, ci + ldc + L);
            c20.fma(va, FloatVector.fromArray(S, c, ci + 2 * ldc).mul(beta)).intoArray(c, ci + 2 * ldc);
            c21.fma(va, FloatVector.fromArray(S, c, ci + 2 * ldc + L).mul(beta)).intoArray(c, ci + 2 * ldc + L);
            c30.fma(va, FloatVector.fromArray(S, c, ci + 3 * ldc).mul(beta)).intoArray(c, ci + 3 * ldc);
            c31.fma(va, FloatVector.fromArray(S, c, ci + 3 * ldc + L).mul(beta)).intoArray(c, ci + 3 * ldc + L);
            c40.fma(va, FloatVector.fromArray(S, c, ci + 4 * ldc).mul(beta)).intoArray(c, ci + 4 * ldc);
            c41.fma(va, FloatVector.fromArray(S, c, ci + 4 * ldc + L).mul(beta)).intoArray(c, ci + 4 * ldc + L);
            c50.fma(va, FloatVector.fromArray(S, c, ci + 5 * ldc).mul(beta)).intoArray(c, ci + 5 * ldc);
            c51.fma(va, FloatVector.fromArray(S, c, ci + 5 * ldc + L).mul(beta)).intoArray(c, ci + 5 * ldc + L);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 2 <= m <= SMALL_M rows against a transposed B: C[m,n] = A[m,k] B^T with B a weight matrix [n, k]

    /** Up to this many rows of A take {@link #smallM} (with B transposed and A not). */
    static final int SMALL_M = 16;

    /**
     * A few rows (batched decoding: one row per sequence) times a stored [n, k] weight matrix. Bound by reading B,
     * like {@link #gemv}: parallel over B's rows (C's columns), and each pair of B rows is streamed from memory once
     * and then reused from L1 for every row of A. Each C element is computed with exactly {@link #gemv}'s arithmetic
     * for that row alone (lane-wise FMAs over k, the lanes summed in a fixed order, a scalar tail, then alpha/beta),
     * so a row's result is bit-identical whether it is multiplied alone (m == 1) or among others.
     */
    private static void smallM(int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                               float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        int grain = Math.max(8, (int) Math.min(Integer.MAX_VALUE, (1L << 16) / Math.max(1L, (long) k * m)));
        Parallel.forRange(n, grain, (lo, hi) -> {
            float[] lanes = SCRATCH.get().tile; // MR * NR >= 8 * L floats
            int j = lo;
            for (; j + 2 <= hi; j += 2) {
                int i = 0;
                for (; i + 4 <= m; i += 4)
                    dot4x2(k, a, aOff + i * lda, lda, b, bOff + j * ldb, ldb, alpha, beta, c, cOff + i * ldc + j, ldc, lanes);
                for (; i < m; i++) {
                    for (int jj = j; jj < j + 2; jj++) {
                        int ci = cOff + i * ldc + jj;
                        c[ci] = combine(dot(k, a, aOff + i * lda, b, bOff + jj * ldb, lanes), alpha, beta, c[ci]);
                    }
                }
            }
            for (; j < hi; j++) {
                for (int i = 0; i < m; i++) {
                    int ci = cOff + i * ldc + j;
                    c[ci] = combine(dot(k, a, aOff + i * lda, b, bOff + j * ldb, lanes), alpha, beta, c[ci]);
                }
            }
        });
    }

    /**
     * C[i0..i0+4, j..j+2] for rows x of A (x[xOff + i * lda]) and rows w of B (b[bOff + jj * ldb]): eight
     * accumulators, each B vector loaded once for the four rows. Per element the same sum as {@link #dot}.
     */
    private static void dot4x2(int k, float[] x, int xOff, int lda, float[] b, int bOff, int ldb,
                               float alpha, float beta, float[] c, int cOff, int ldc, float[] lanes) {
        int x0 = xOff, x1 = xOff + lda, x2 = xOff + 2 * lda, x3 = xOff + 3 * lda;
        int w0 = bOff, w1 = bOff + ldb;
        FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S);
        FloatVector s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
        FloatVector s20 = FloatVector.zero(S), s21 = FloatVector.zero(S);
        FloatVector s30 = FloatVector.zero(S), s31 = FloatVector.zero(S);
        int p = 0;
        for (int up = S.loopBound(k); p < up; p += L) {
            FloatVector b0 = FloatVector.fromArray(S, b, w0 + p);
            FloatVector b1 = FloatVector.fromArray(S, b, w1 + p);
            FloatVector v = FloatVector.fromArray(S, x, x0 + p);
            s00 = b0.fma(v, s00);
            s01 = b1.fma(v, s01);
            v = FloatVector.fromArray(S, x, x1 + p);
            s10 = b0.fma(v, s10);
            s11 = b1.fma(v, s11);
            v = FloatVector.fromArray(S, x, x2 + p);
            s20 = b0.fma(v, s20);
            s21 = b1.fma(v, s21);
            v = FloatVector.fromArray(S, x, x3 + p);
            s30 = b0.fma(v, s30);
            s31 = b1.fma(v, s31);
        }
        s00.intoArray(lanes, 0);
        s01.intoArray(lanes, L);
        s10.intoArray(lanes, 2 * L);
        s11.intoArray(lanes, 3 * L);
        s20.intoArray(lanes, 4 * L);
        s21.intoArray(lanes, 5 * L);
        s30.intoArray(lanes, 6 * L);
        s31.intoArray(lanes, 7 * L);
        for (int i = 0; i < 4; i++) {
            int xi = xOff + i * lda;
            for (int jj = 0; jj < 2; jj++) {
                float t = sumLanes(lanes, (2 * i + jj) * L);
                int wj = bOff + jj * ldb;
                for (int q = p; q < k; q++) t = Math.fma(b[wj + q], x[xi + q], t);
                int ci = cOff + i * ldc + jj;
                c[ci] = combine(t, alpha, beta, c[ci]);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // m == 1 (or n == 1): y[n] = alpha * x[k] * op(B)[k,n] + beta * y, memory bound on B

    /** x is read at x[xOff + p * incx], y written at y[yOff + j * incy]. */
    private static void gemv(boolean transB, int n, int k, float alpha, float[] x, int xOff, int incx,
                             float[] b, int bOff, int ldb, float beta, float[] y, int yOff, int incy) {
        float[] xs = x;
        int xo = xOff;
        if (incx != 1) { // x is a column of a stored matrix: gather it once
            xs = new float[k];
            for (int p = 0; p < k; p++) xs[p] = x[xOff + p * incx];
            xo = 0;
        }
        float[] xv = xs;
        int xvo = xo;
        int grain = Math.max(16, (int) Math.min(Integer.MAX_VALUE, (1L << 16) / Math.max(1, k)));
        if (transB) {
            // stored B is [n, k]: y[j] = dot(x, B row j); four rows at a time share the loads of x
            Parallel.forRange(n, grain, (lo, hi) -> {
                float[] lanes = SCRATCH.get().tile;
                int j = lo;
                for (; j + 4 <= hi; j += 4) dot4(k, xv, xvo, b, bOff + j * ldb, ldb, alpha, beta, y, yOff + j * incy, incy, lanes);
                for (; j < hi; j++) {
                    float s = dot(k, xv, xvo, b, bOff + j * ldb, lanes);
                    y[yOff + j * incy] = combine(s, alpha, beta, y[yOff + j * incy]);
                }
            });
        } else {
            // stored B is [k, n]: y += x[p] * B row p, over a column range per thread
            int strips = (n + L - 1) / L;
            Parallel.forRange(strips, Math.max(1, grain / L), (lo, hi) -> {
                int j0 = lo * L, j1 = Math.min(n, hi * L);
                float[] acc = new float[j1 - j0];
                for (int p = 0; p < k; p++) axpy(j1 - j0, xv[xvo + p], b, bOff + p * ldb + j0, acc, 0);
                for (int j = j0; j < j1; j++) y[yOff + j * incy] = combine(acc[j - j0], alpha, beta, y[yOff + j * incy]);
            });
        }
    }

    private static float combine(float acc, float alpha, float beta, float y) {
        return beta == 0f ? acc * alpha : Math.fma(acc, alpha, beta * y);
    }

    private static void dot4(int k, float[] x, int xOff, float[] b, int bOff, int ldb,
                             float alpha, float beta, float[] y, int yOff, int incy, float[] lanes) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        int p = 0;
        int r0 = bOff, r1 = bOff + ldb, r2 = bOff + 2 * ldb, r3 = bOff + 3 * ldb;
        for (int up = S.loopBound(k); p < up; p += L) {
            FloatVector xv = FloatVector.fromArray(S, x, xOff + p);
            s0 = FloatVector.fromArray(S, b, r0 + p).fma(xv, s0);
            s1 = FloatVector.fromArray(S, b, r1 + p).fma(xv, s1);
            s2 = FloatVector.fromArray(S, b, r2 + p).fma(xv, s2);
            s3 = FloatVector.fromArray(S, b, r3 + p).fma(xv, s3);
        }
        s0.intoArray(lanes, 0);
        s1.intoArray(lanes, L);
        s2.intoArray(lanes, 2 * L);
        s3.intoArray(lanes, 3 * L);
        float t0 = sumLanes(lanes, 0), t1 = sumLanes(lanes, L), t2 = sumLanes(lanes, 2 * L), t3 = sumLanes(lanes, 3 * L);
        for (; p < k; p++) {
            float xp = x[xOff + p];
            t0 = Math.fma(b[r0 + p], xp, t0);
            t1 = Math.fma(b[r1 + p], xp, t1);
            t2 = Math.fma(b[r2 + p], xp, t2);
            t3 = Math.fma(b[r3 + p], xp, t3);
        }
        y[yOff] = combine(t0, alpha, beta, y[yOff]);
        y[yOff + incy] = combine(t1, alpha, beta, y[yOff + incy]);
        y[yOff + 2 * incy] = combine(t2, alpha, beta, y[yOff + 2 * incy]);
        y[yOff + 3 * incy] = combine(t3, alpha, beta, y[yOff + 3 * incy]);
    }

    private static float dot(int n, float[] x, int xOff, float[] y, int yOff, float[] lanes) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S);
        for (int up = S.loopBound(n); j < up; j += L) {
            acc = FloatVector.fromArray(S, y, yOff + j).fma(FloatVector.fromArray(S, x, xOff + j), acc);
        }
        acc.intoArray(lanes, 0);
        float s = sumLanes(lanes, 0);
        for (; j < n; j++) s = Math.fma(y[yOff + j], x[xOff + j], s);
        return s;
    }

    /**
     * Sum of L lanes in a fixed order. Not reduceLanes(ADD): its float summation order is unspecified and does
     * differ between the interpreter and compiled code, which broke bit-identical results across thread counts.
     */
    private static float sumLanes(float[] lanes, int off) {
        float s = 0f;
        for (int i = 0; i < L; i++) s += lanes[off + i];
        return s;
    }

    private static void axpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff) {
        int j = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (int up = S.loopBound(n); j < up; j += L) {
            FloatVector.fromArray(S, x, xOff + j).fma(va, FloatVector.fromArray(S, y, yOff + j)).intoArray(y, yOff + j);
        }
        for (; j < n; j++) y[yOff + j] = Math.fma(x[xOff + j], alpha, y[yOff + j]);
    }

    /** C = beta * C (k == 0 or alpha == 0); beta == 0 writes zeros even over NaN. */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc) {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            if (beta == 0f) java.util.Arrays.fill(c, ci, ci + n, 0f);
            else for (int j = 0; j < n; j++) c[ci + j] *= beta;
        }
    }

    private static int roundUp(int x, int q) {
        return (x + q - 1) / q * q;
    }

    static void check(boolean transA, boolean transB, int m, int n, int k,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("gemm: negative size m=" + m + " n=" + n + " k=" + k);
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        view("A", a, aOff, lda, aRows, aCols);
        view("B", b, bOff, ldb, bRows, bCols);
        view("C", c, cOff, ldc, m, n);
    }

    private static void view(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows == 0 || cols == 0) return;
        if (x == null) throw new IllegalArgumentException("gemm: " + name + " is null");
        if (ld < cols) throw new IllegalArgumentException("gemm: leading dimension of " + name + " is " + ld + " < its " + cols + " columns");
        long last = (long) off + (long) (rows - 1) * ld + cols;
        if (off < 0 || last > x.length)
            throw new IllegalArgumentException("gemm: " + name + " view [" + rows + "x" + cols + ", ld " + ld + ", offset " + off
                    + "] needs " + last + " elements but the array has " + x.length);
    }
}
