package org.cottention.attention;

import org.cottention.kernels.Parallel;

import static org.cottention.attention.BlockMm.A_LOWER;
import static org.cottention.attention.BlockMm.A_UPPER;
import static org.cottention.attention.BlockMm.FULL;
import static org.cottention.attention.BlockMm.keepLower;
import static org.cottention.attention.BlockMm.mm;
import static org.cottention.attention.BlockMm.mmTransA;
import static org.cottention.attention.BlockMm.transpose;

/**
 * Causal cosine attention (math doc §2), computed in the chunkwise-parallel form (§4) with linear memory, forward and
 * backward, batched over (batch, head) with padding masks and the learned stabiliser m.
 *
 * <p>Per head, with Q = mu N(q), K = mu N(k), V = mu v / max(c_t^a, 1) stored [T, D] contiguous, and chunks of C rows:
 * {@code P = (Q_n K_n^T) .* M; O_n = Q_n S_n + P V_n; S_{n+1} = S_n + K_n^T V_n}. The running state S (key index first
 * inside this class) is accumulated in float64 and rounded to float32 for the block products, so the state does not
 * drift however long the sequence; backward walks the chunks in reverse and recovers S_n = S_{n+1} - K_n^T V_n (in
 * float64) instead of storing the states.
 *
 * <p>Gradient convention: backward ADDS into dq, dk, dv (llm.c convention: zero them first) and adds into dm.
 * The caller must leave the context untouched between forward and backward; q, k, v themselves are not needed.
 */
public final class CosineCausal {
    public static final int DEFAULT_CHUNK = 64;

    private CosineCausal() {}

    /** What backward needs: normalised Q, K and scaled V per head, their norms, the counts and the final state. */
    public static final class Context {
        AttnShape shape;
        int chunk;
        int[] mask;          // [B*T] copy, or null = all tokens
        int[] count;         // [B*T] c_t including the carried-in count
        float[] a;           // [H] sigmoid(m)
        float[] qh, kh, vs;  // [B, H, T, D]
        float[] rq, rk;      // [B, H, T] norms of the raw q, k rows
        float[] invG;        // [B, H, T] mu_t / max(c_t^a, 1)
        float[] negLnC;      // [B*T] -ln c_t where c_t > 1, else 0
        double[] sEnd;       // [B, H, D(key), D(value)] state after the last token (includes the carried-in state)

        public AttnShape shape() {
            return shape;
        }

        /** Bytes held by this context (for memory reports). */
        public long bytes() {
            long n = 0;
            if (qh != null) n += 4L * (qh.length + kh.length + vs.length + rq.length + rk.length + invG.length);
            if (count != null) n += 4L * count.length;
            if (mask != null) n += 4L * mask.length;
            if (sEnd != null) n += 8L * sEnd.length;
            return n;
        }

        void ensure(AttnShape s) {
            int n = s.batch() * s.heads() * s.seq() * s.headDim(), r = s.batch() * s.heads() * s.seq();
            int st = s.batch() * s.heads() * s.headDim() * s.headDim();
            if (qh == null || qh.length != n) { qh = new float[n]; kh = new float[n]; vs = new float[n]; }
            if (rq == null || rq.length != r) { rq = new float[r]; rk = new float[r]; invG = new float[r]; }
            if (sEnd == null || sEnd.length != st) sEnd = new double[st];
            shape = s;
        }
    }

    /** {@link #forward(Context, AttnShape, Heads, Heads, Heads, int[], float[], Heads, int, CosineState, CosineState)} with a fresh context. */
    public static Context forward(AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out,
                                  int chunk, CosineState init, CosineState fin) {
        return forward(null, shape, q, k, v, mask, m, out, chunk, init, fin);
    }

    /**
     * Forward pass. out [B,T,H,D] is overwritten (rows at padding get 0).
     *
     * @param reuse a context from an earlier call whose buffers are reused when the sizes match (may be null)
     * @param mask  [B*T], 1 = token, 0 = padding; null = all tokens
     * @param m     [H] raw stabiliser values (norm_const); a = sigmoid(m)
     * @param chunk chunk size C (64 is a good default); C >= T gives the quadratic form
     * @param init  carried-in state and counts from a previous segment (not modified), or null for a fresh sequence
     * @param fin   if not null, receives the state and counts after the last token (may be the same object as init)
     * @return the context for {@link #backward}
     */
    public static Context forward(Context reuse, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, Heads out,
                                  int chunk, CosineState init, CosineState fin) {
        shape.checkForward(q, k, v, out, mask);
        shape.checkStabiliser("m", m);
        if (chunk < 1) throw new IllegalArgumentException("chunk must be >= 1, got " + chunk);
        if (init != null) init.checkMatches("init", shape);
        if (fin != null) fin.checkMatches("fin", shape);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim();
        final int C = Math.min(chunk, T);
        Context ctx = reuse != null ? reuse : new Context();
        ctx.ensure(shape);
        ctx.chunk = C;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.count = CosinePrep.causalCounts(shape, mask, init == null ? null : init.count, ctx.count);
        ctx.negLnC = CosinePrep.negLogCounts(ctx.count, ctx.negLnC);
        ctx.a = new float[H];
        for (int h = 0; h < H; h++) ctx.a[h] = CosinePrep.sigmoid(m[h]);
        final double[] s0 = init == null ? null : init.s.clone(); // init may be fin: read it before anyone writes

        Parallel.forEachDynamic(B * H, bh -> {
            int b = bh / H, h = bh % H;
            int base = bh * T * D;
            double[] sd = new double[D * D];
            if (s0 != null) transposeState(s0, bh * D * D, sd, 0, D); // value-first -> key-first
            // each chunk's rows are normalised and scaled just before its products, while they are still in cache
            forwardHead(T, D, C, ctx.qh, ctx.kh, ctx.vs, base, sd, out.data(), out.at(T, D, b, 0, h), out.rowStride(),
                    (t0, t1) -> {
                        CosinePrep.normalizeRows(shape, q, b, h, ctx.mask, t0, t1, ctx.qh, base, ctx.rq, bh * T);
                        CosinePrep.normalizeRows(shape, k, b, h, ctx.mask, t0, t1, ctx.kh, base, ctx.rk, bh * T);
                        CosinePrep.scaleValueRows(shape, v, b, h, ctx.mask, ctx.negLnC, ctx.a[h], t0, t1, ctx.invG, bh * T, ctx.vs, base);
                    });
            System.arraycopy(sd, 0, ctx.sEnd, bh * D * D, D * D);
        });
        if (fin != null) {
            for (int bh = 0; bh < B * H; bh++) transposeState(ctx.sEnd, bh * D * D, fin.s, bh * D * D, D);
            for (int b = 0; b < B; b++) fin.count[b] = ctx.count[b * T + T - 1];
        }
        return ctx;
    }

    /**
     * One head: O = chunkwise causal attention of (Q, K, V) [T, D] at off; sd = S (key-first, float64) in and out.
     * {@code prep.run(t0, t1)} fills rows [t0, t1) of Q, K, V just before chunk [t0, t1) is used.
     */
    static void forwardHead(int T, int D, int C, float[] qh, float[] kh, float[] vs, int off, double[] sd,
                            float[] out, int outOff, int ldo, Parallel.RangeBody prep) {
        float[] sf = new float[D * D];       // float32 copy of S for the block products
        float[] kt = new float[D * C];       // K_n^T
        float[] p = new float[C * C];        // (Q_n K_n^T) .* M
        float[] kv = new float[D * D];       // K_n^T V_n
        toFloat(sd, sf);
        for (int r0 = 0; r0 < T; r0 += C) {
            int cn = Math.min(C, T - r0);
            int qo = off + r0 * D;
            prep.run(r0, r0 + cn);
            transpose(cn, D, kh, qo, D, kt, 0, C);
            mm(cn, cn, D, qh, qo, D, kt, 0, C, p, 0, C, false, FULL);
            keepLower(cn, p, 0, C);
            int oo = outOff + r0 * ldo;
            mm(cn, D, D, qh, qo, D, sf, 0, D, out, oo, ldo, false, FULL);
            mm(cn, D, cn, p, 0, C, vs, qo, D, out, oo, ldo, true, A_LOWER);
            mm(D, D, cn, kt, 0, C, vs, qo, D, kv, 0, D, false, FULL);
            for (int i = 0; i < D * D; i++) {
                sd[i] += kv[i];
                sf[i] = (float) sd[i];
            }
        }
    }

    /**
     * Backward pass: dq, dk, dv [B,T,H,D] get the gradients ADDED (zero them first for plain gradients); dm [H] gets
     * sum over the batch of dL/dm added. No gradient flows into the carried-in state.
     */
    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        shape.checkStabiliser("dm", dm);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim(), C = ctx.chunk;
        double[] da = new double[B * H];
        Parallel.forEachDynamic(B * H, bh -> da[bh] = backwardHead(ctx, bh / H, bh % H, dOut, dq, dk, dv));
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += da[b * H + h];
            float a = ctx.a[h];
            dm[h] += (float) (a * (1.0 - a) * s);
        }
    }

    /**
     * One head (b, h), chunks in reverse order. Each chunk's gradients of (Q, K, V) go through the normalisation and
     * value-scaling backward at once, so no [T, D] gradient buffer is needed. Returns this head's part of dL/da.
     */
    static double backwardHead(Context ctx, int b, int h, Heads dOutV, Heads dq, Heads dk, Heads dv) {
        AttnShape shape = ctx.shape;
        final int T = shape.seq(), H = shape.heads(), D = shape.headDim(), C = ctx.chunk;
        final int bh = b * H + h, off = bh * T * D;
        final float[] qh = ctx.qh, kh = ctx.kh, vs = ctx.vs, dO = dOutV.data();
        final int dOff = dOutV.at(T, D, b, 0, h), ldo = dOutV.rowStride();
        double[] sd = new double[D * D];  // S_{n+1}, then S_n (key-first, float64)
        System.arraycopy(ctx.sEnd, bh * D * D, sd, 0, D * D);
        float[] sfT = new float[D * D];   // S_n^T (value-first), float32
        float[] dsf = new float[D * D];   // dS (key-first), float32
        float[] dsfT = new float[D * D];  // dS^T
        double[] dsd = new double[D * D]; // dS accumulated in float64
        float[] kt = new float[D * C], vt = new float[D * C];
        float[] p = new float[C * C], dp = new float[C * C];
        float[] kv = new float[D * D];
        float[] dqh = new float[C * D], dkh = new float[C * D], dvs = new float[C * D];
        double da = 0;
        int nChunks = (T + C - 1) / C;
        for (int n = nChunks - 1; n >= 0; n--) {
            int r0 = n * C, cn = Math.min(C, T - r0);
            int o = off + r0 * D, go = dOff + r0 * ldo;
            transpose(cn, D, kh, o, D, kt, 0, C);
            transpose(cn, D, vs, o, D, vt, 0, C);
            // S_n = S_{n+1} - K_n^T V_n (float64), and its float32 transpose for dQ = dO S^T
            mm(D, D, cn, kt, 0, C, vs, o, D, kv, 0, D, false, FULL);
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) {
                    double x = sd[i * D + j] - kv[i * D + j];
                    sd[i * D + j] = x;
                    sfT[j * D + i] = (float) x;
                }
            // P = (Q K^T) .* M, dP = (dO V^T) .* M (their transposes are read in place by mmTransA)
            mm(cn, cn, D, qh, o, D, kt, 0, C, p, 0, C, false, FULL);
            keepLower(cn, p, 0, C);
            mm(cn, cn, D, dO, go, ldo, vt, 0, C, dp, 0, C, false, FULL);
            keepLower(cn, dp, 0, C);
            // dQ = dO S^T + dP K ; dK = V dS^T + dP^T Q ; dV = K dS + P^T dO
            mm(cn, D, D, dO, go, ldo, sfT, 0, D, dqh, 0, D, false, FULL);
            mm(cn, D, cn, dp, 0, C, kh, o, D, dqh, 0, D, true, A_LOWER);
            mm(cn, D, D, vs, o, D, dsfT, 0, D, dkh, 0, D, false, FULL);
            mmTransA(cn, D, cn, dp, 0, C, qh, o, D, dkh, 0, D, true, A_UPPER);
            mm(cn, D, D, kh, o, D, dsf, 0, D, dvs, 0, D, false, FULL);
            mmTransA(cn, D, cn, p, 0, C, dO, go, ldo, dvs, 0, D, true, A_UPPER);
            // dS += Q_n^T dO_n
            mmTransA(D, D, cn, qh, o, D, dO, go, ldo, kv, 0, D, false, FULL);
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) {
                    double x = dsd[i * D + j] + kv[i * D + j];
                    dsd[i * D + j] = x;
                    dsf[i * D + j] = (float) x;
                    dsfT[j * D + i] = (float) x;
                }
            // through the normalisation and the value scaling, into the caller's gradients
            CosinePrep.normalizeBackward(shape, b, h, ctx.mask, r0, r0 + cn, dqh, 0, qh, off, ctx.rq, bh * T, dq);
            CosinePrep.normalizeBackward(shape, b, h, ctx.mask, r0, r0 + cn, dkh, 0, kh, off, ctx.rk, bh * T, dk);
            da += CosinePrep.valuesBackward(shape, b, h, ctx.mask, ctx.negLnC, ctx.invG, bh * T, r0, r0 + cn, dvs, 0, vs, off, dv);
        }
        return da;
    }

    static void transposeState(double[] src, int sOff, double[] dst, int dOff, int D) {
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) dst[dOff + j * D + i] = src[sOff + i * D + j];
    }

    private static void toFloat(double[] src, float[] dst) {
        for (int i = 0; i < dst.length; i++) dst[i] = (float) src[i];
    }
}
