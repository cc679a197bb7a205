package org.cottention.attention;

import org.cottention.kernels.L2Norm;
import org.cottention.kernels.Parallel;
import org.cottention.kernels.Parallel.Barrier;

import static org.cottention.attention.BlockMm.A_LOWER;
import static org.cottention.attention.BlockMm.A_UPPER;
import static org.cottention.attention.BlockMm.FULL;
import static org.cottention.attention.BlockMm.keepLower;
import static org.cottention.attention.BlockMm.mm;
import static org.cottention.attention.BlockMm.mmCausal;
import static org.cottention.attention.BlockMm.mmPlusLower;
import static org.cottention.attention.BlockMm.mmTransA;
import static org.cottention.attention.BlockMm.transpose;

/**
 * Causal cosine attention (math doc §2), computed in the chunkwise-parallel form (§4) with linear memory, forward and
 * backward, batched over (batch, head) with padding masks and the learned stabiliser m.
 *
 * <p>Per head, with Q = mu N(q), K = mu N(k), V = mu v / max(c_t^a, 1) and chunks of C rows:
 * {@code P = (Q_n K_n^T) .* M; O_n = Q_n S_n + P V_n; S_{n+1} = S_n + K_n^T V_n}. The running state S (key index first
 * inside this class) is accumulated in float64 and rounded to float32 for the block products, so the state does not
 * drift however long the sequence; backward walks the chunks in reverse and recovers S_n = S_{n+1} - K_n^T V_n (in
 * float64) instead of storing the states.
 *
 * <p>Memory: Q, K, V exist a chunk at a time, in scratch. The context keeps the counts and the final state and
 * REFERENCES the caller's q, k, v, from which backward recomputes each chunk's Q, K, V bit for bit — so q, k and v must
 * not change between forward and backward (the models keep them as activations for their own backward).
 *
 * <p>Memory traffic decides the speed as much as the block products do: one head's 256-byte slice of every 2 KB row
 * of a [B,T,H,D] tensor defeats the hardware prefetcher, and read that way q, k, v cost as much as all the products.
 * So the forward is a pipeline over steps of a few chunks (about 1 MB of prepared rows), run by all threads together
 * ({@link Parallel#together}): at step s every thread normalises its share of the WHOLE rows (all heads) of step s's
 * chunks into a shared double buffer, and runs the block products of step s-1's chunks for its items (batch row, group
 * of up to {@link #MAX_GROUP} adjacent heads) — the two interleaved in small slices, so the prefetcher streams rows in
 * while the FMAs run — then all meet at a barrier. Backward (2.5x the arithmetic) works per item, reading the group's
 * adjacent slices row by row.
 *
 * <p>Gradient convention: backward ADDS into dq, dk, dv (llm.c convention: zero them first) and adds into dm.
 */
public final class CosineCausal {
    public static final int DEFAULT_CHUNK = 64;
    /** Most heads one work item holds (backward keeps about 100 KB of chunk scratch per head, which should stay in L2). */
    static final int MAX_GROUP = 4;
    /**
     * Bytes of one prepared pipeline step (Q, K, V of every head, 1 MB: about L2) — big enough that steps and their
     * barriers are few, small enough to stay in cache; tests lower it to run many steps.
     */
    static int stepBytes = Integer.getInteger("cottention.cosine.stepBytes", 1 << 20);

    private CosineCausal() {}

    /** What backward needs: the inputs (referenced), the counts, the stabiliser and the final state. */
    public static final class Context {
        AttnShape shape;
        int chunk;
        Heads q, k, v;       // the caller's inputs: must be unchanged when backward runs
        int[] mask;          // [B*T] copy, or null = all tokens
        int[] count;         // [B*T] c_t including the carried-in count
        float[] a;           // [H] sigmoid(m)
        float[] negLnC;      // [B*T] -ln c_t where c_t > 1, else 0
        double[] sEnd;       // [B, H, D(key), D(value)] state after the last token (includes the carried-in state)

        public AttnShape shape() {
            return shape;
        }

        /** Bytes held by this context (for memory reports; q, k, v belong to the caller). */
        public long bytes() {
            long n = 0;
            if (count != null) n += 4L * (count.length + negLnC.length);
            if (mask != null) n += 4L * mask.length;
            if (sEnd != null) n += 8L * sEnd.length;
            return n;
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
        ctx.shape = shape;
        ctx.chunk = C;
        ctx.q = q;
        ctx.k = k;
        ctx.v = v;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.count = CosinePrep.causalCounts(shape, mask, init == null ? null : init.count, ctx.count);
        ctx.negLnC = CosinePrep.negLogCounts(ctx.count, ctx.negLnC);
        ctx.a = new float[H];
        for (int h = 0; h < H; h++) ctx.a[h] = CosinePrep.sigmoid(m[h]);
        if (ctx.sEnd == null || ctx.sEnd.length != B * H * D * D) ctx.sEnd = new double[B * H * D * D];
        final double[] s0 = init == null ? null : init.s.clone(); // init may be fin: read it before anyone writes

        ForwardPipeline pipeline = new ForwardPipeline(ctx, q, k, v, out, s0);
        Parallel.together(pipeline.groups.count(), pipeline::run);
        if (fin != null) {
            for (int bh = 0; bh < B * H; bh++) transposeState(ctx.sEnd, bh * D * D, fin.s, bh * D * D, D);
            for (int b = 0; b < B; b++) fin.count[b] = ctx.count[b * T + T - 1];
        }
        return ctx;
    }

    /**
     * The forward as a pipeline (see the class comment). Step s: prepare the chunks of step s (this part's share of
     * their rows, every head) into buffer s % 2, interleaved with the products of step s-1's chunks from buffer
     * (s-1) % 2 for this part's items; then a barrier.
     */
    private static final class ForwardPipeline {
        final Context ctx;
        final Heads q, k, v, out;
        final double[] s0;
        final Groups groups;
        final int B, T, H, D, E, C, nChunks, per, nSteps; // per = chunks per step
        final float[][] qb = new float[2][], kb = new float[2][], vb = new float[2][]; // [B, H, per*C, D]; kb: per chunk [D, C]

        ForwardPipeline(Context ctx, Heads q, Heads k, Heads v, Heads out, double[] s0) {
            this.ctx = ctx;
            this.q = q;
            this.k = k;
            this.v = v;
            this.out = out;
            this.s0 = s0;
            AttnShape s = ctx.shape;
            B = s.batch(); T = s.seq(); H = s.heads(); D = s.headDim(); E = s.width(); C = ctx.chunk;
            nChunks = (T + C - 1) / C;
            per = (int) Math.max(1, Math.min(nChunks, stepBytes / (12L * B * H * C * D)));
            nSteps = (nChunks + per - 1) / per;
            groups = Groups.of(s);
            for (int i = 0; i < 2; i++) {
                qb[i] = new float[B * H * per * C * D];
                kb[i] = new float[B * H * per * C * D];
                vb[i] = new float[B * H * per * C * D];
            }
        }

        void run(int part, int parts, Barrier barrier) {
            int mine = (groups.count() - part + parts - 1) / parts; // items part, part + parts, ...
            double[][] sd = new double[mine * H][];  // S per head of my items (key-first, float64)
            float[][] sf = new float[mine * H][];    // its float32 copy for the block products
            float[] p = new float[C * C];            // (Q_n K_n^T) .* M
            float[] kv = new float[D * D];           // K_n^T V_n
            float[] oc = new float[C * groups.size() * D]; // an item's O_n [cn, g*D]
            float[] ks = new float[C * E];           // a chunk's K rows (all heads) before the per-head transposes
            for (int m = 0; m < mine; m++) {
                int w = part + m * parts, b = groups.batch(w), h0 = groups.first(w);
                for (int j = 0; j < groups.end(w) - h0; j++) {
                    double[] st = sd[m * H + j] = new double[D * D];
                    if (s0 != null) transposeState(s0, (b * H + h0 + j) * D * D, st, 0, D); // value-first -> key-first
                    toFloat(st, sf[m * H + j] = new float[D * D]);
                }
            }
            // Step s prepares chunks s*per.. while it runs the products of chunks (s-1)*per..; the two are interleaved
            // in small slices so that the hardware prefetcher streams the next rows in while the FMAs run.
            for (int step = 0; step <= nSteps; step++) {
                for (int idx = 0; idx < per; idx++) {
                    int nPrep = step < nSteps ? step * per + idx : nChunks, nProd = step > 0 ? (step - 1) * per + idx : nChunks;
                    int slices = 0, slice = 0;
                    if (nProd < nChunks) for (int m = 0; m < mine; m++) slices += groups.end(part + m * parts) - groups.first(part + m * parts);
                    if (slices == 0) {
                        if (nPrep < nChunks) prepare(nPrep, part, parts, 0, 1, ks);
                        continue;
                    }
                    for (int m = 0; m < mine; m++) {
                        int w = part + m * parts;
                        for (int j = 0; j < groups.end(w) - groups.first(w); j++) {
                            productsHead(nProd, w, j, sd[m * H + j], sf[m * H + j], p, kv, oc);
                            if (nPrep < nChunks) prepare(nPrep, part, parts, slice++, slices, ks);
                        }
                        writeOut(nProd, w, oc);
                    }
                }
                barrier.await();
            }
            for (int m = 0; m < mine; m++) {
                int w = part + m * parts, b = groups.batch(w), h0 = groups.first(w);
                for (int j = 0; j < groups.end(w) - h0; j++)
                    System.arraycopy(sd[m * H + j], 0, ctx.sEnd, (b * H + h0 + j) * D * D, D * D);
            }
        }

        /** Offset of chunk n's rows of head (b, h) in its step's buffer (the same in qb, kb, vb). */
        private int block(int n, int b, int h) {
            return ((b * H + h) * per + n % per) * C * D;
        }

        /**
         * Slice {@code slice} of {@code slices} of this part's share of chunk n's rows (over all batch rows), every
         * head, into buffer (n / per) % 2.
         */
        private void prepare(int n, int part, int parts, int slice, int slices, float[] ks) {
            final int r0 = n * C, cn = Math.min(C, T - r0), rows = B * cn, buf = (n / per) % 2;
            final int sLo = (int) ((long) rows * part / parts), sHi = (int) ((long) rows * (part + 1) / parts);
            final int lo = sLo + (int) ((long) (sHi - sLo) * slice / slices), hi = sLo + (int) ((long) (sHi - sLo) * (slice + 1) / slices);
            final float[] qd = qb[buf], kd = kb[buf], vd = vb[buf];
            for (int x0 = lo; x0 < hi; ) { // one batch row's stretch of the share at a time
                final int b = x0 / cn, i0 = x0 % cn, i1 = Math.min(cn, i0 + (hi - x0));
                for (int i = i0; i < i1; i++) {
                    int t = r0 + i;
                    boolean pad = ctx.mask != null && ctx.mask[b * T + t] == 0;
                    float nl = ctx.negLnC[b * T + t];
                    int oq = q.at(T, D, b, t, 0), ok = k.at(T, D, b, t, 0), ov = v.at(T, D, b, t, 0);
                    int ko = (i - i0) * E;
                    for (int h = 0; h < H; h++, oq += D, ok += D, ov += D, ko += D) {
                        int o = block(n, b, h) + i * D;
                        if (pad) {
                            java.util.Arrays.fill(qd, o, o + D, 0f);
                            java.util.Arrays.fill(ks, ko, ko + D, 0f);
                            java.util.Arrays.fill(vd, o, o + D, 0f);
                            continue;
                        }
                        L2Norm.forward(q.data(), oq, qd, o, D, 1f);
                        L2Norm.forward(k.data(), ok, ks, ko, D, 1f);
                        // c^a = exp(a ln c) >= 1 for c >= 1, so 1 / max(c^a, 1) = exp(-a ln c) (= 1 for c <= 1)
                        CosinePrep.scale(v.data(), ov, CosinePrep.invDivisor(nl, ctx.a[h]), vd, o, D);
                    }
                }
                for (int h = 0; h < H; h++) transpose(i1 - i0, D, ks, h * D, E, kd, block(n, b, h) + i0, C);
                x0 += i1 - i0;
            }
        }

        /** Chunk n of head j of item w (batch row, head group) from its step's buffer into oc; s, f = its state. */
        private void productsHead(int n, int w, int j, double[] s, float[] f, float[] p, float[] kv, float[] oc) {
            final int b = groups.batch(w), h0 = groups.first(w), ldo = (groups.end(w) - h0) * D;
            final int cn = Math.min(C, T - n * C), buf = (n / per) % 2, o = block(n, b, h0 + j);
            final float[] qh = qb[buf], kt = kb[buf], vs = vb[buf];
            mmCausal(cn, D, qh, o, D, kt, o, C, p, 0, C);
            keepLower(cn, p, 0, C);
            mmPlusLower(cn, D, D, qh, o, D, f, 0, D, cn, p, 0, C, vs, o, D, oc, j * D, ldo); // O = Q S + P V
            mm(D, D, cn, kt, o, C, vs, o, D, kv, 0, D, false, FULL);
            for (int i = 0; i < D * D; i++) {
                s[i] += kv[i];
                f[i] = (float) s[i];
            }
        }

        /** Item w's output rows of chunk n, from oc [cn, g*D], each row's g slices in one piece. */
        private void writeOut(int n, int w, float[] oc) {
            final int b = groups.batch(w), h0 = groups.first(w), ldo = (groups.end(w) - h0) * D;
            final int r0 = n * C, cn = Math.min(C, T - r0);
            float[] od = out.data();
            for (int i = 0; i < cn; i++) System.arraycopy(oc, i * ldo, od, out.at(T, D, b, r0 + i, h0), ldo);
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
        final int B = shape.batch(), H = shape.heads();
        double[] da = new double[B * H];
        Groups groups = Groups.of(shape);
        Parallel.forEachDynamic(groups.count(), w ->
                backwardGroup(ctx, groups.batch(w), groups.first(w), groups.end(w), dOut, dq, dk, dv, da));
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += da[b * H + h];
            float a = ctx.a[h];
            dm[h] += (float) (a * (1.0 - a) * s);
        }
    }

    /**
     * Heads [h0, h1) of batch row b, chunks in reverse order. Each chunk's gradients of (Q, K, V) go through the
     * normalisation and value-scaling backward at once, so no [T, D] gradient buffer is needed. Each head's part of
     * dL/da goes to da[b*H + h].
     */
    private static void backwardGroup(Context ctx, int b, int h0, int h1, Heads dOut, Heads dq, Heads dk, Heads dv, double[] da) {
        AttnShape shape = ctx.shape;
        final int T = shape.seq(), H = shape.heads(), D = shape.headDim(), C = ctx.chunk, g = h1 - h0, ld = g * D;
        ChunkRows rows = new ChunkRows(g, C, D);
        double[][] sd = new double[g][];      // S_{n+1}, then S_n (key-first, float64)
        double[][] dsd = new double[g][D * D]; // dS accumulated in float64
        float[][] dsf = new float[g][D * D];  // dS (key-first), float32
        float[][] dsfT = new float[g][D * D]; // dS^T
        for (int j = 0; j < g; j++) {
            int at = (b * H + h0 + j) * D * D;
            sd[j] = java.util.Arrays.copyOfRange(ctx.sEnd, at, at + D * D);
        }
        float[] sfT = new float[D * D];       // S_n^T (value-first), float32
        float[] kt = new float[D * C], vt = new float[D * C];
        float[] p = new float[C * C], dp = new float[C * C];
        float[] kv = new float[D * D];
        float[] dO = new float[C * ld];       // the group's dO rows [cn, g*D]
        float[] dqh = new float[C * ld], dkh = new float[C * ld], dvs = new float[C * ld];
        final float[] dOutData = dOut.data();
        int nChunks = (T + C - 1) / C;
        for (int n = nChunks - 1; n >= 0; n--) {
            int r0 = n * C, cn = Math.min(C, T - r0);
            rows.load(ctx, b, h0, r0, cn, false);
            for (int i = 0; i < cn; i++) System.arraycopy(dOutData, dOut.at(T, D, b, r0 + i, h0), dO, i * ld, ld);
            for (int j = 0; j < g; j++) {
                float[] qh = rows.q[j], kh = rows.k[j], vs = rows.v[j];
                double[] s = sd[j], ds = dsd[j];
                int go = j * D;
                transpose(cn, D, kh, 0, D, kt, 0, C);
                transpose(cn, D, vs, 0, D, vt, 0, C);
                // S_n = S_{n+1} - K_n^T V_n (float64), and its float32 transpose for dQ = dO S^T
                mm(D, D, cn, kt, 0, C, vs, 0, D, kv, 0, D, false, FULL);
                for (int i = 0; i < D; i++)
                    for (int c = 0; c < D; c++) {
                        double x = s[i * D + c] - kv[i * D + c];
                        s[i * D + c] = x;
                        sfT[c * D + i] = (float) x;
                    }
                // P = (Q K^T) .* M, dP = (dO V^T) .* M (their transposes are read in place by mmTransA)
                mmCausal(cn, D, qh, 0, D, kt, 0, C, p, 0, C);
                keepLower(cn, p, 0, C);
                mmCausal(cn, D, dO, go, ld, vt, 0, C, dp, 0, C);
                keepLower(cn, dp, 0, C);
                // dQ = dO S^T + dP K ; dK = V dS^T + dP^T Q ; dV = K dS + P^T dO
                mm(cn, D, D, dO, go, ld, sfT, 0, D, dqh, go, ld, false, FULL);
                mm(cn, D, cn, dp, 0, C, kh, 0, D, dqh, go, ld, true, A_LOWER);
                mm(cn, D, D, vs, 0, D, dsfT[j], 0, D, dkh, go, ld, false, FULL);
                mmTransA(cn, D, cn, dp, 0, C, qh, 0, D, dkh, go, ld, true, A_UPPER);
                mm(cn, D, D, kh, 0, D, dsf[j], 0, D, dvs, go, ld, false, FULL);
                mmTransA(cn, D, cn, p, 0, C, dO, go, ld, dvs, go, ld, true, A_UPPER);
                // dS += Q_n^T dO_n
                mmTransA(D, D, cn, qh, 0, D, dO, go, ld, kv, 0, D, false, FULL);
                float[] f = dsf[j], fT = dsfT[j];
                for (int i = 0; i < D; i++)
                    for (int c = 0; c < D; c++) {
                        double x = ds[i * D + c] + kv[i * D + c];
                        ds[i * D + c] = x;
                        f[i * D + c] = (float) x;
                        fT[c * D + i] = (float) x;
                    }
            }
            da(rows.backward(ctx, b, h0, r0, cn, dqh, dkh, dvs, ld, dq, dk, dv), da, b * H + h0);
        }
    }

    private static void da(double[] chunkDa, double[] da, int at) {
        for (int j = 0; j < chunkDa.length; j++) da[at + j] += chunkDa[j];
    }

    /**
     * One chunk of rows of a head group, prepared as the products need them: Q = mu N(q), K = mu N(k) (row-major, or
     * transposed [D, C] for the forward's Q K^T and K^T V), V = mu v / max(c^a, 1); plus what the backward of that
     * preprocessing needs (norms, value scales).
     */
    private static final class ChunkRows {
        final int g, C, D;
        final float[][] q, k, v;  // [g][C*D] ([g][D*C] for k transposed)
        final float[] rq, rk, ig; // [g*C] ||q_t||, ||k_t||, mu_t / max(c_t^a, 1)
        final float[] row;        // [D] one normalised k row on its way into the transposed layout
        final double[] da;        // [g] the chunk's part of dL/da per head

        ChunkRows(int g, int C, int D) {
            this.g = g;
            this.C = C;
            this.D = D;
            q = new float[g][C * D];
            k = new float[g][C * D];
            v = new float[g][C * D];
            rq = new float[g * C];
            rk = new float[g * C];
            ig = new float[g * C];
            row = new float[D];
            da = new double[g];
        }

        /** Rows [r0, r0 + cn) of heads [h0, h0 + g) of batch row b, one row at a time (its g slices are adjacent). */
        void load(Context ctx, int b, int h0, int r0, int cn, boolean kTransposed) {
            final int T = ctx.shape.seq();
            final float[] xq = ctx.q.data(), xk = ctx.k.data(), xv = ctx.v.data();
            for (int i = 0; i < cn; i++) {
                int t = r0 + i;
                boolean pad = ctx.mask != null && ctx.mask[b * T + t] == 0;
                float nl = ctx.negLnC[b * T + t];
                int oq = ctx.q.at(T, D, b, t, h0), ok = ctx.k.at(T, D, b, t, h0), ov = ctx.v.at(T, D, b, t, h0);
                for (int j = 0; j < g; j++, oq += D, ok += D, ov += D) {
                    int o = i * D, r = j * C + i;
                    if (pad) {
                        java.util.Arrays.fill(q[j], o, o + D, 0f);
                        java.util.Arrays.fill(v[j], o, o + D, 0f);
                        if (kTransposed) for (int d = 0; d < D; d++) k[j][d * C + i] = 0f;
                        else java.util.Arrays.fill(k[j], o, o + D, 0f);
                        rq[r] = 0f;
                        rk[r] = 0f;
                        ig[r] = 0f;
                        continue;
                    }
                    rq[r] = L2Norm.forward(xq, oq, q[j], o, D, 1f);
                    if (kTransposed) {
                        rk[r] = L2Norm.forward(xk, ok, row, 0, D, 1f);
                        float[] kt = k[j];
                        for (int d = 0; d < D; d++) kt[d * C + i] = row[d];
                    } else {
                        rk[r] = L2Norm.forward(xk, ok, k[j], o, D, 1f);
                    }
                    // c^a = exp(a ln c) >= 1 for c >= 1, so 1 / max(c^a, 1) = exp(-a ln c) (= 1 for c <= 1)
                    float inv = CosinePrep.invDivisor(nl, ctx.a[h0 + j]);
                    ig[r] = inv;
                    CosinePrep.scale(xv, ov, inv, v[j], o, D);
                }
            }
        }

        /**
         * The chunk's dQ, dK, dV (group layout [cn, g*D], row stride ld) through the preprocessing backward into the
         * caller's dq, dk, dv (added), row by row; returns the chunk's part of dL/da per head.
         */
        double[] backward(Context ctx, int b, int h0, int r0, int cn, float[] dqh, float[] dkh, float[] dvs, int ld,
                          Heads dq, Heads dk, Heads dv) {
            final int T = ctx.shape.seq();
            java.util.Arrays.fill(da, 0.0);
            for (int i = 0; i < cn; i++) {
                int t = r0 + i;
                if (ctx.mask != null && ctx.mask[b * T + t] == 0) continue;
                float nl = ctx.negLnC[b * T + t];
                int oq = dq.at(T, D, b, t, h0), ok = dk.at(T, D, b, t, h0), ov = dv.at(T, D, b, t, h0);
                for (int j = 0; j < g; j++, oq += D, ok += D, ov += D) {
                    int o = i * ld + j * D, u = i * D, r = j * C + i;
                    L2Norm.backward(dqh, o, q[j], u, rq[r], dq.data(), oq, D, 1f);
                    L2Norm.backward(dkh, o, k[j], u, rk[r], dk.data(), ok, D, 1f);
                    CosinePrep.axpy(ig[r], dvs, o, dv.data(), ov, D);
                    if (nl != 0f) da[j] += nl * (double) L2Norm.dot(dvs, o, v[j], u, D);
                }
            }
            return da;
        }
    }

    /** The work items: (batch row, group of adjacent heads), enough of them to keep every thread busy. */
    private record Groups(int heads, int size, int perRow, int count) {
        static Groups of(AttnShape s) {
            int H = s.heads(), size = Math.min(MAX_GROUP, H);
            while (size > 1 && s.batch() * ceilDiv(H, size) < Parallel.threads()) size--;
            int perRow = ceilDiv(H, size);
            return new Groups(H, size, perRow, s.batch() * perRow);
        }

        int batch(int w) { return w / perRow; }

        int first(int w) { return (w % perRow) * size; }

        int end(int w) { return Math.min(heads, first(w) + size); }

        private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }
    }

    static void transposeState(double[] src, int sOff, double[] dst, int dOff, int D) {
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) dst[dOff + j * D + i] = src[sOff + i * D + j];
    }

    private static void toFloat(double[] src, float[] dst) {
        for (int i = 0; i < dst.length; i++) dst[i] = (float) src[i];
    }
}
