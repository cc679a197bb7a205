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
 * <p>Memory: Q, K, V exist a few chunks at a time, in step buffers. The context keeps the counts and the final state and
 * REFERENCES the caller's q, k, v, from which backward recomputes each chunk's Q, K, V bit for bit — so q, k and v must
 * not change between forward and backward (the models keep them as activations for their own backward). Or the caller
 * gives a {@link QkvSource} instead, which makes each row when it is prepared: gated attention's convolution (and
 * rotary) then run inside the pipeline, and the [B*T, 3E] rows after them are never stored.
 *
 * <p>Memory traffic decides the speed as much as the block products do: one head's 256-byte slice of every 2 KB row
 * of a [B,T,H,D] tensor defeats the hardware prefetcher, and read that way q, k, v cost as much as all the products.
 * So the forward is a pipeline over steps of a few chunks (about 1 MB of prepared rows), run by all threads together
 * ({@link Parallel#together}): at step s every thread normalises its share of the WHOLE rows (all heads) of step s's
 * chunks into a shared double buffer, and runs the block products of step s-1's chunks for its items (batch row, group
 * of up to {@link #MAX_GROUP} adjacent heads) — the two interleaved in small slices, so the prefetcher streams rows in
 * while the FMAs run — then all meet at a barrier. A thread done with its own units takes those left of the others'
 * ({@link StepClaims}: one head's products over the step, or one slice of rows, at a time), so a thread that stalls
 * on a shared host does not hold the others at the barrier; the per-head state lives in the pipeline, not the thread,
 * and the bits do not depend on who ran what. Backward is the same kind of pipeline, over the chunks in reverse, with
 * a third stage that takes each chunk's gradients back through the preprocessing, whole rows at a time.
 *
 * <p>Gated attention (math doc §8): with a per-head log-decay a_t <= 0 ({@code logDecay}), each chunk's products
 * carry the decay ({@link Decay}: Lmask, e^b, e^{b_last - b}), the carried state decays by e^{b_last} per chunk, and the
 * stabiliser divides by the decayed count z_t (a scan per head, float64) instead of c_t. The pipeline, the
 * preprocessing and the products are the same; without a decay (null) every line of the plain kernel runs unchanged,
 * and with a = 0 the gated products equal the plain ones bit for bit. A decayed state cannot be recovered backwards
 * (that would divide by e^{b_last}, which may underflow), so the gated forward keeps each chunk's incoming state
 * (float32, D x D per chunk and head: 1/3 of q, k, v for D = C = 64) for the backward.
 *
 * <p>Gradient convention: backward ADDS into dq, dk, dv (llm.c convention: zero them first) and adds into dm (and
 * into dLogDecay for gated attention); {@link #backwardInto} writes dq, dk, dv instead (what a layer wants: no zeroing
 * pass, and the backward does not read them back from memory).
 */
public final class CosineCausal {
    public static final int DEFAULT_CHUNK = 64;
    /** Most heads a thread owns in one work item; fewer when that would leave a thread without an item. */
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
        QkvSource source;    // or, instead of q, k, v, their rows on demand (same rule)
        int[] mask;          // [B*T] copy, or null = all tokens
        int[] count;         // [B*T] c_t including the carried-in count
        float[] a;           // [H] sigmoid(m)
        float[] negLnC;      // [B*T] -ln c_t where c_t > 1, else 0
        double[] sEnd;       // [B, H, D(key), D(value)] state after the last token (includes the carried-in state)
        float[] decay;       // gated: [B*T*H] log-decay a_t (0 at padding); null: no decay (the plain kernel)
        double[] z;          // gated: [B*T*H] decayed counts z_t
        double[] z0;         // gated: [B*H] carried-in z
        float[] negLnZ;      // gated: [B*T*H] -ln z_t where z_t > 1, else 0
        float[] states;      // gated: [B*H, chunks, D(key), D(value)] the state entering each chunk, float32

        /** True when the forward ran with a decay (gated attention). */
        public boolean gated() {
            return decay != null;
        }

        public AttnShape shape() {
            return shape;
        }

        /** Bytes held by this context (for memory reports; q, k, v belong to the caller). */
        public long bytes() {
            long n = 0;
            if (count != null) n += 4L * (count.length + negLnC.length);
            if (mask != null) n += 4L * mask.length;
            if (sEnd != null) n += 8L * sEnd.length;
            if (decay != null) n += 4L * decay.length + 8L * z.length + 4L * negLnZ.length + 4L * states.length + 8L * z0.length;
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
        return forward(reuse, shape, q, k, v, mask, m, null, out, chunk, init, fin);
    }

    /**
     * The forward pass of gated cosine attention (math doc §8.5-8.7), or of the plain one when {@code logDecay} is null.
     *
     * @param logDecay [B*T*H] (index (b*T + t)*H + h) the log-decay a_t <= 0 per token and head (values at padding
     *                 are ignored: a = 0 there), or null for no decay
     * @see #forward(Context, AttnShape, Heads, Heads, Heads, int[], float[], Heads, int, CosineState, CosineState)
     */
    public static Context forward(Context reuse, AttnShape shape, Heads q, Heads k, Heads v, int[] mask, float[] m, float[] logDecay,
                                  Heads out, int chunk, CosineState init, CosineState fin) {
        shape.checkForward(q, k, v, out, mask);
        return forward(reuse, shape, q, k, v, null, mask, m, logDecay, out, chunk, init, fin);
    }

    /**
     * The same forward with q|k|v read row by row from {@code rows} where the pipeline prepares them (and again in
     * the backward), never from a [B*T, 3E] buffer: the same bits as the materialised rows give.
     *
     * @see #forward(Context, AttnShape, Heads, Heads, Heads, int[], float[], float[], Heads, int, CosineState, CosineState)
     */
    public static Context forward(Context reuse, AttnShape shape, QkvSource rows, int[] mask, float[] m, float[] logDecay,
                                  Heads out, int chunk, CosineState init, CosineState fin) {
        if (rows == null) throw new IllegalArgumentException("rows is null");
        shape.check("out", out);
        shape.checkMask(mask);
        return forward(reuse, shape, null, null, null, rows, mask, m, logDecay, out, chunk, init, fin);
    }

    private static Context forward(Context reuse, AttnShape shape, Heads q, Heads k, Heads v, QkvSource rows, int[] mask, float[] m,
                                   float[] logDecay, Heads out, int chunk, CosineState init, CosineState fin) {
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
        ctx.source = rows;
        ctx.mask = mask == null ? null : mask.clone();
        ctx.count = CosinePrep.causalCounts(shape, mask, init == null ? null : init.count, ctx.count);
        ctx.negLnC = CosinePrep.negLogCounts(ctx.count, ctx.negLnC);
        ctx.a = new float[H];
        for (int h = 0; h < H; h++) ctx.a[h] = CosinePrep.sigmoid(m[h]);
        if (ctx.sEnd == null || ctx.sEnd.length != B * H * D * D) ctx.sEnd = new double[B * H * D * D];
        final double[] s0 = init == null ? null : init.s.clone(); // init may be fin: read it before anyone writes
        if (logDecay != null) decayedCounts(ctx, logDecay, init);
        else ctx.decay = null;

        ForwardPipeline pipeline = new ForwardPipeline(ctx, q, k, v, out, s0);
        Parallel.together(pipeline.groups.count(), pipeline::run);
        for (int bh = 0; bh < B * H; bh++) System.arraycopy(pipeline.sd[bh], 0, ctx.sEnd, bh * D * D, D * D);
        if (fin != null) {
            for (int bh = 0; bh < B * H; bh++) transposeState(ctx.sEnd, bh * D * D, fin.s, bh * D * D, D);
            for (int b = 0; b < B; b++) fin.count[b] = ctx.count[b * T + T - 1];
            if (ctx.decay != null)
                for (int b = 0; b < B; b++)
                    for (int h = 0; h < H; h++) fin.z[b * H + h] = ctx.z[(b * T + T - 1) * H + h];
        }
        return ctx;
    }

    /**
     * Gated forward's set-up: the decay (checked: finite and <= 0; zero at padding), the decayed counts
     * z_t = e^{a_t} z_{t-1} + mu_t per head (float64, from the carried-in z), their -ln for the stabiliser, and room
     * for the per-chunk states.
     */
    private static void decayedCounts(Context ctx, float[] logDecay, CosineState init) {
        AttnShape s = ctx.shape;
        final int B = s.batch(), T = s.seq(), H = s.heads(), D = s.headDim(), n = B * T * H;
        if (logDecay.length != n) throw new IllegalArgumentException("logDecay: length " + logDecay.length + " != B*T*H = " + n);
        ctx.decay = reuse(ctx.decay, n);
        ctx.z = ctx.z != null && ctx.z.length == n ? ctx.z : new double[n];
        ctx.negLnZ = reuse(ctx.negLnZ, n);
        ctx.z0 = init == null ? new double[B * H] : init.z.clone();
        int chunks = (T + ctx.chunk - 1) / ctx.chunk;
        ctx.states = reuse(ctx.states, Math.multiplyExact(B * H * chunks, D * D));
        for (int i = 0; i < n; i++) {
            float a = logDecay[i];
            if (!(a <= 0f) || a == Float.NEGATIVE_INFINITY)
                throw new IllegalArgumentException("logDecay: entry " + i + " is " + a + ", must be finite and <= 0");
            ctx.decay[i] = ctx.mask != null && ctx.mask[i / H] == 0 ? 0f : a;
        }
        // one scan per (batch row, head), the heads in parallel (an exp and a log per entry: serial, they cost as
        // much as a tenth of the gated forward at B = 1, H = 8)
        Parallel.forRange(B * H, 1, (lo, hi) -> {
            for (int bh = lo; bh < hi; bh++) {
                int b = bh / H, h = bh % H;
                double z = ctx.z0[bh];
                for (int t = 0; t < T; t++) {
                    int i = (b * T + t) * H + h;
                    if (ctx.mask == null || ctx.mask[b * T + t] != 0) z = Math.exp(ctx.decay[i]) * z + 1;
                    ctx.z[i] = z;
                    ctx.negLnZ[i] = z > 1 ? (float) -Math.log(z) : 0f;
                }
            }
        });
    }

    private static float[] reuse(float[] x, int n) {
        return x != null && x.length == n ? x : new float[n];
    }

    /**
     * What the forward and backward pipelines share: the sizes, the work items, the layout of the shared step buffers
     * and the preparation of whole rows. Chunks are visited in "positions" (the forward's order: pos = n; the
     * backward's: pos = nChunks - 1 - n); step s holds positions [s*per, (s+1)*per).
     */
    private abstract static class Pipeline {
        final Context ctx;
        final Heads q, k, v;
        final QkvSource source;   // instead of q, k, v when not null
        final Groups groups;
        final int B, T, H, D, E, C, nChunks, per, nSteps; // per = chunks per step
        final StepClaims claims;

        /** @param arrays how many [B, H, C, D] arrays one step's preparation fills (sizes the step to stepBytes) */
        Pipeline(Context ctx, Heads q, Heads k, Heads v, int arrays) {
            this.ctx = ctx;
            this.q = q;
            this.k = k;
            this.v = v;
            this.source = ctx.source;
            AttnShape s = ctx.shape;
            B = s.batch(); T = s.seq(); H = s.heads(); D = s.headDim(); E = s.width(); C = ctx.chunk;
            nChunks = (T + C - 1) / C;
            per = (int) Math.max(1, Math.min(nChunks, stepBytes / (4L * arrays * B * H * C * D)));
            nSteps = (nChunks + per - 1) / per;
            groups = Groups.of(s);
            claims = new StepClaims(groups.count());
        }

        /** The [3E] row a source writes, one per part (null without a source). */
        float[] sourceRow() {
            return source == null ? null : new float[3 * E];
        }

        /** Every part's list of heads (see {@link #headsOf}): what each owns, and what the others may take from it. */
        int[][] headLists(int parts) {
            int[][] lists = new int[parts][];
            for (int o = 0; o < parts; o++) lists[o] = headsOf(o, parts);
            return lists;
        }

        /** The stabiliser's -ln of row (b, t) of head h: the count's (given as nl) or, gated, the decayed count's. */
        float negLn(float nl, int b, int t, int h) {
            return ctx.negLnZ == null || ctx.decay == null ? nl : ctx.negLnZ[(b * T + t) * H + h];
        }

        /** A fresh step buffer of [B, H, per*C, D] floats (or [B, H, per*C] rows with width 1). */
        float[] stepBuffer(int width) {
            return new float[B * H * per * C * width];
        }

        /** Offset of position pos's rows of head (b, h) in a step buffer of row width D (the same in all of them). */
        int block(int pos, int b, int h) {
            return ((b * H + h) * per + pos % per) * C * D;
        }

        /** The same for a step buffer of one value per row (norms, value scales). */
        int rowBlock(int pos, int b, int h) {
            return ((b * H + h) * per + pos % per) * C;
        }

        /**
         * block(pos, b, h) = block(pos, b, 0) + h * headStride() (and rowBlock's with headStride() / D): the row loops
         * step through the heads by adding, since block's pos % per (a division) per row and head cost as much as
         * the row's own arithmetic.
         */
        int headStride() {
            return per * C * D;
        }

        /**
         * Start of slice {@code slice} of {@code slices} of this part's share of {@code rows} rows (the parts split the
         * rows evenly, each part's share is cut into slices to interleave with its products); slice = slices gives the
         * end of the share.
         */
        static int sliceStart(int rows, int part, int parts, int slice, int slices) {
            return sliceStart(rows, part, parts, slice, slices, 1);
        }

        /** The same with the inner slice boundaries rounded down to a multiple of {@code align} rows past the share's start. */
        static int sliceStart(int rows, int part, int parts, int slice, int slices, int align) {
            int lo = (int) ((long) rows * part / parts), hi = (int) ((long) rows * (part + 1) / parts);
            if (slice >= slices) return hi;
            int at = (int) ((long) (hi - lo) * slice / slices);
            return lo + at / align * align;
        }

        /** The heads (b*H + h) of this part's items, in item order: the index into the part's per-head state. */
        int[] headsOf(int part, int parts) {
            int n = 0;
            for (int w = part; w < groups.count(); w += parts) n += groups.end(w) - groups.first(w);
            int[] bh = new int[n];
            n = 0;
            for (int w = part; w < groups.count(); w += parts)
                for (int h = groups.first(w); h < groups.end(w); h++) bh[n++] = groups.batch(w) * H + h;
            return bh;
        }

        /**
         * Slice {@code slice} of {@code slices} of this part's share of chunk n's rows (over all batch rows), every
         * head, into position pos's blocks: qd = N(q), vd = v / max(c^a, 1) (rows of 0 at padding), and kd = N(k)
         * either row-major or, with kTransposed, as [D, C] per block (what Q K^T and K^T V read in the forward).
         * rq, rk, ig (when not null) get ||q||, ||k|| and the value scale per row. ks [C, E] holds the K rows before
         * their transposes (only with kTransposed; may be null otherwise); row [3E] is the calling thread's row from
         * the source (null without one). part is the share's owner, which need not be the calling thread.
         */
        void prepare(int n, int pos, int part, int parts, int slice, int slices, float[] qd, float[] kd, boolean kTransposed,
                     float[] vd, float[] rq, float[] rk, float[] ig, float[] ks, float[] row) {
            final int r0 = n * C, cn = Math.min(C, T - r0), rows = B * cn;
            // with kTransposed, slices of whole vectors of rows where it can: the K transposes then gather (BlockMm.transpose)
            final int align = kTransposed ? BlockMm.VL : 1;
            final int lo = sliceStart(rows, part, parts, slice, slices, align), hi = sliceStart(rows, part, parts, slice + 1, slices, align);
            final int hs = headStride(), hr = hs / D;
            // from a source: each row into one [3E] buffer, read through views of row stride 0 (at() = off + h*D)
            final Heads qx = row == null ? q : new Heads(row, 0, 0), kx = row == null ? k : new Heads(row, E, 0), vx = row == null ? v : new Heads(row, 2 * E, 0);
            for (int x0 = lo; x0 < hi; ) { // one batch row's stretch of the share at a time
                final int b = x0 / cn, i0 = x0 % cn, i1 = Math.min(cn, i0 + (hi - x0)), o0 = block(pos, b, 0), r0b = rowBlock(pos, b, 0);
                for (int i = i0; i < i1; i++) {
                    int t = r0 + i;
                    boolean pad = ctx.mask != null && ctx.mask[b * T + t] == 0;
                    float nl = ctx.negLnC[b * T + t];
                    if (row != null && !pad) source.row(b, t, row, 0);
                    for (int h = 0; h < H; h++) {
                        int o = o0 + h * hs + i * D, r = r0b + h * hr + i;
                        float nq = CosinePrep.normalizeRow(ctx.shape, qx, b, t, h, pad, qd, o);
                        float nk = kTransposed ? CosinePrep.normalizeRow(ctx.shape, kx, b, t, h, pad, ks, (i - i0) * E + h * D)
                                : CosinePrep.normalizeRow(ctx.shape, kx, b, t, h, pad, kd, o);
                        float inv = CosinePrep.scaleValueRow(ctx.shape, vx, b, t, h, pad, negLn(nl, b, t, h), ctx.a[h], vd, o);
                        if (rq != null) {
                            rq[r] = nq;
                            rk[r] = nk;
                            ig[r] = inv;
                        }
                    }
                }
                if (kTransposed)
                    for (int h = 0; h < H; h++) transpose(i1 - i0, D, ks, h * D, E, kd, o0 + h * hs + i0, C);
                x0 += i1 - i0;
            }
        }
    }

    /**
     * The forward (see the class comment). Step s: prepare the chunks of step s (this part's share of their rows,
     * every head) into buffer s % 2, interleaved with the products of step s-1's chunks from buffer (s-1) % 2 for
     * this part's items; then a barrier.
     */
    private static final class ForwardPipeline extends Pipeline {
        final Heads out;
        final double[] s0;
        final float[][] qb = new float[2][], kb = new float[2][], vb = new float[2][]; // [B, H, per*C, D]; kb: per chunk [D, C]
        final double[][] sd; // [B*H][D*D] S per head (key-first, float64): whichever part runs a head's chunk updates it
        final float[][] sf;  // its float32 copy for the block products

        ForwardPipeline(Context ctx, Heads q, Heads k, Heads v, Heads out, double[] s0) {
            super(ctx, q, k, v, 3);
            this.out = out;
            this.s0 = s0;
            sd = new double[B * H][D * D];
            sf = new float[B * H][D * D];
            for (int i = 0; i < 2; i++) {
                qb[i] = stepBuffer(D);
                kb[i] = stepBuffer(D);
                vb[i] = stepBuffer(D);
            }
        }

        void run(int part, int parts, Barrier barrier) {
            int[][] lists = headLists(parts);
            float[] p = new float[C * C];            // (Q_n K_n^T) .* M
            float[] kv = new float[D * D];           // K_n^T V_n
            float[] ks = new float[C * E];           // a chunk's K rows (all heads) before the per-head transposes
            float[] row = sourceRow();
            DecayScratch x = ctx.decay == null ? null : new DecayScratch(C, D);
            for (int bh : lists[part]) { // ready for any part by step 1, after step 0's barrier
                if (s0 != null) transposeState(s0, bh * D * D, sd[bh], 0, D); // value-first -> key-first
                toFloat(sd[bh], sf[bh]);
            }
            // Step s prepares chunks s*per.. while it runs the products of chunks (s-1)*per..: unit by unit, one head's
            // products then a slice of the rows (see StepClaims), so that the hardware prefetcher streams the next
            // rows in while the FMAs run.
            final int kinds = 1 + per;
            for (int step = 0; step <= nSteps; step++) {
                claims.clearNext(part, step);
                for (long u; (u = claims.next(step, part, parts, lists, kinds)) >= 0; ) {
                    int owner = StepClaims.owner(u), round = StepClaims.index(u) / kinds, kind = StepClaims.index(u) % kinds;
                    int[] heads = lists[owner];
                    if (kind == 0) { // one head's products over step s-1's chunks, in order (its state runs through them)
                        int bh = heads[round];
                        for (int idx = 0; step > 0 && idx < per; idx++) {
                            int nProd = (step - 1) * per + idx;
                            if (nProd >= nChunks) break; // past the end when per does not divide the chunks
                            if (x == null) productsHead(nProd, bh, sd[bh], sf[bh], p, kv);
                            else productsHeadDecayed(nProd, bh, sd[bh], sf[bh], p, kv, x);
                        }
                    } else if (step < nSteps) { // slice j of the owner's share of step s's rows: chunk j / heads, slice j % heads
                        int j = round * per + kind - 1, nPrep = step * per + j / heads.length;
                        if (nPrep < nChunks) prepare(nPrep, owner, parts, j % heads.length, heads.length, ks, row);
                    }
                }
                barrier.await();
            }
        }

        private void prepare(int n, int part, int parts, int slice, int slices, float[] ks, float[] row) {
            int buf = (n / per) % 2;
            prepare(n, n, part, parts, slice, slices, qb[buf], kb[buf], true, vb[buf], null, null, null, ks, row);
        }

        /**
         * Chunk n of head bh (batch row * H + head) from its step's buffer into out; s, f = its state. The
         * products write their rows of out in place: a compact [cn, g*D] block copied out afterwards was 8% of the
         * forward's profile samples (32 MB more through the cache at L = 16K, E = 512).
         */
        private void productsHead(int n, int bh, double[] s, float[] f, float[] p, float[] kv) {
            final int b = bh / H, h = bh % H;
            final int cn = Math.min(C, T - n * C), buf = (n / per) % 2, o = block(n, b, h);
            final float[] qh = qb[buf], kt = kb[buf], vs = vb[buf];
            mmCausal(cn, D, qh, o, D, kt, o, C, p, 0, C);
            keepLower(cn, p, 0, C);
            mmPlusLower(cn, D, D, qh, o, D, f, 0, D, cn, p, 0, C, vs, o, D, out.data(), out.at(T, D, b, n * C, h), out.rowStride()); // O = Q S + P V
            mm(D, D, cn, kt, o, C, vs, o, D, kv, 0, D, false, FULL);
            for (int i = 0; i < D * D; i++) {
                s[i] += kv[i];
                f[i] = (float) s[i];
            }
        }

        /**
         * {@link #productsHead} with the decay (math doc §8.7): P = (Q K^T) .* Lmask, O = (Q .* e^b) S + P V,
         * S' = e^{b_last} S + K^T (V .* e^{b_last - b}); keeps the incoming state (float32) for the backward.
         */
        private void productsHeadDecayed(int n, int bh, double[] s, float[] f, float[] p, float[] kv, DecayScratch x) {
            final int b = bh / H, h = bh % H;
            final int cn = Math.min(C, T - n * C), buf = (n / per) % 2, o = block(n, b, h);
            final float[] qh = qb[buf], kt = kb[buf], vs = vb[buf];
            Decay.cumulative(ctx.decay, (b * T + n * C) * H + h, H, cn, x.bb);
            boolean factored = Decay.rowFactors(x.bb, cn, x.e, x.w, x.u);
            mmCausal(cn, D, qh, o, D, kt, o, C, p, 0, C);
            Decay.maskLower(cn, p, 0, C, x.bb, x.e, factored ? x.u : null);
            Decay.scaleRows(cn, D, qh, o, D, x.e, x.qd, 0, D);
            mmPlusLower(cn, D, D, x.qd, 0, D, f, 0, D, cn, p, 0, C, vs, o, D, out.data(), out.at(T, D, b, n * C, h), out.rowStride()); // O = (Q .* e^b) S + P V
            Decay.scaleRows(cn, D, vs, o, D, x.w, x.vw, 0, D);
            mm(D, D, cn, kt, o, C, x.vw, 0, D, kv, 0, D, false, FULL);
            System.arraycopy(f, 0, ctx.states, (bh * nChunks + n) * D * D, D * D);
            double decay = Math.exp(x.bb[cn - 1]);
            for (int i = 0; i < D * D; i++) {
                s[i] = decay * s[i] + kv[i];
                f[i] = (float) s[i];
            }
        }
    }

    /**
     * Backward pass: dq, dk, dv [B,T,H,D] get the gradients ADDED (zero them first for plain gradients); dm [H] gets
     * sum over the batch of dL/dm added. No gradient flows into the carried-in state.
     */
    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm) {
        backward(ctx, dOut, dq, dk, dv, dm, null);
    }

    /**
     * {@link #backward(Context, Heads, Heads, Heads, Heads, float[])} that also ADDS dL/da into dLogDecay [B*T*H] for a
     * gated forward (0 at padding; may be null when that gradient is not wanted; must be null without a decay).
     */
    public static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm, float[] dLogDecay) {
        backward(ctx, dOut, dq, dk, dv, dm, dLogDecay, true);
    }

    /**
     * {@link #backward(Context, Heads, Heads, Heads, Heads, float[], float[])} that WRITES dq, dk, dv (0 at padding)
     * instead of adding into them: the bits that adding into zeroed buffers gives, without the caller's zeroing pass
     * and without reading them back (at long contexts the backward streams dq, dk, dv from memory). dm and dLogDecay
     * are still added into.
     */
    public static void backwardInto(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm, float[] dLogDecay) {
        backward(ctx, dOut, dq, dk, dv, dm, dLogDecay, false);
    }

    private static void backward(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, float[] dm, float[] dLogDecay, boolean add) {
        if (ctx == null || ctx.shape == null) throw new IllegalArgumentException("ctx: no forward pass recorded");
        AttnShape shape = ctx.shape;
        shape.checkBackward(dOut, dq, dk, dv);
        shape.checkStabiliser("dm", dm);
        final int B = shape.batch(), T = shape.seq(), H = shape.heads();
        if (dLogDecay != null && (ctx.decay == null || dLogDecay.length != B * T * H))
            throw new IllegalArgumentException(ctx.decay == null ? "dLogDecay given but the forward had no decay"
                    : "dLogDecay: length " + dLogDecay.length + " != B*T*H = " + B * T * H);
        BackwardPipeline pipeline = new BackwardPipeline(ctx, dOut, dq, dk, dv, add);
        Parallel.together(pipeline.groups.count(), pipeline::run);
        for (int h = 0; h < H; h++) { // in a fixed order, whatever the split over threads
            double s = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) s += pipeline.daRow[(b * H + h) * T + t];
            float a = ctx.a[h];
            dm[h] += (float) (a * (1.0 - a) * s);
        }
        if (ctx.decay != null) decayedCountsBackward(ctx, pipeline.daGate, pipeline.vdot, dLogDecay);
    }

    /**
     * Adds the stabiliser's path into dL/da (per (b, h), in a fixed order) and writes dL/da into dLogDecay: with
     * g_t = z_t^alpha, dL/dz_t = -alpha (dVt_t . vt_t) / z_t where z_t > 1; z_t = e^{a_t} z_{t-1} + mu_t, walked back
     * from the last token. da [B*H*T] holds the chunk products' part on entry.
     */
    private static void decayedCountsBackward(Context ctx, double[] da, double[] vdot, float[] dLogDecay) {
        AttnShape s = ctx.shape;
        final int B = s.batch(), T = s.seq(), H = s.heads();
        Parallel.forRange(B * H, 1, (lo, hi) -> {   // each (batch row, head) writes only its own entries
            for (int bh = lo; bh < hi; bh++) {
                int b = bh / H, h = bh % H;
                double alpha = ctx.a[h], carry = 0;
                for (int t = T - 1; t >= 0; t--) {
                    int i = (b * T + t) * H + h, r = bh * T + t;
                    if (ctx.mask != null && ctx.mask[b * T + t] == 0) continue; // z passes through; a is not a variable here
                    double z = ctx.z[i], gz = carry + (z > 1 ? -alpha * vdot[r] / z : 0);
                    double e = Math.exp(ctx.decay[i]), zPrev = t == 0 ? ctx.z0[bh] : ctx.z[i - H];
                    double g = da[r] + gz * e * zPrev;
                    carry = gz * e;
                    if (dLogDecay != null) dLogDecay[i] += (float) g;
                }
            }
        });
    }

    /**
     * The backward, chunks in reverse order, as a pipeline like the forward's. Step s: prepare step s+1's chunks
     * (Q, K, V recomputed from the inputs, and dO — whole rows) into prep buffer (s+1) % 3; run the products of step
     * s's chunks for this part's items (dQ, dK, dV of every head into gradient buffer s % 2); push step s-1's
     * gradients through the normalisation and value-scaling backward into dq, dk, dv, whole rows at a time (this
     * needs step s-1's prepared rows: hence three prep buffers); then a barrier.
     */
    private static final class BackwardPipeline extends Pipeline {
        final Heads dOut, dq, dk, dv;
        final boolean add;    // false: dq, dk, dv are written (the bits of adding into zeros), never read
        final double[] daRow; // [B, H, T] each row's part of dL/da, summed in a fixed order at the end
        final double[] daGate, vdot; // gated: [B, H, T] the products' part of dL/d(log-decay); dVt . vt per row
        final float[][] qb = new float[3][], kb = new float[3][], vb = new float[3][], gb = new float[3][]; // gb: dO
        final float[][] rqb = new float[3][], rkb = new float[3][], igb = new float[3][];
        final float[][] dqb = new float[2][], dkb = new float[2][], dvb = new float[2][];
        // per head (b*H + h), [D*D] each, updated by whichever part runs the head's chunk: S_{n+1}, then S_n
        // (value-first: S^T, float64); dS accumulated in float64; dS (key-first) in float32; and its transpose
        final double[][] sd, dsd;
        final float[][] dsf, dsfT;

        BackwardPipeline(Context ctx, Heads dOut, Heads dq, Heads dk, Heads dv, boolean add) {
            super(ctx, ctx.q, ctx.k, ctx.v, 4);
            sd = new double[B * H][D * D];
            dsd = new double[B * H][D * D];
            dsf = new float[B * H][D * D];
            dsfT = new float[B * H][D * D];
            this.add = add;
            this.dOut = dOut;
            this.dq = dq;
            this.dk = dk;
            this.dv = dv;
            daRow = new double[B * H * T];
            daGate = ctx.decay == null ? null : new double[B * H * T];
            vdot = ctx.decay == null ? null : new double[B * H * T];
            for (int i = 0; i < 3; i++) {
                qb[i] = stepBuffer(D);
                kb[i] = stepBuffer(D);
                vb[i] = stepBuffer(D);
                gb[i] = stepBuffer(D);
                rqb[i] = stepBuffer(1);
                rkb[i] = stepBuffer(1);
                igb[i] = stepBuffer(1);
            }
            for (int i = 0; i < 2; i++) {
                dqb[i] = stepBuffer(D);
                dkb[i] = stepBuffer(D);
                dvb[i] = stepBuffer(D);
            }
        }

        void run(int part, int parts, Barrier barrier) {
            int[][] lists = headLists(parts);
            Scratch x = new Scratch(C, D);
            DecayScratch y = ctx.decay == null ? null : new DecayScratch(C, D);
            float[] row = sourceRow();
            for (int bh : lists[part]) transposeState(ctx.sEnd, bh * D * D, sd[bh], 0, D); // ready by step 1's products
            // Step s: prepare step s's positions, run the products of step s-1's and take step s-2's gradients back
            // through the preprocessing: unit by unit, one head's products then a slice of each (see StepClaims).
            final int kinds = 1 + 2 * per;
            for (int step = 0; step <= nSteps + 1; step++) {
                claims.clearNext(part, step);
                for (long u; (u = claims.next(step, part, parts, lists, kinds)) >= 0; ) {
                    int owner = StepClaims.owner(u), round = StepClaims.index(u) / kinds, kind = StepClaims.index(u) % kinds;
                    int[] heads = lists[owner];
                    if (kind == 0) { // one head's products over step s-1's positions, in order (dS runs through them)
                        int bh = heads[round];
                        for (int idx = 0; step >= 1 && step <= nSteps && idx < per; idx++) {
                            int pProd = (step - 1) * per + idx;
                            if (pProd >= nChunks) break;
                            if (y == null) productsHead(pProd, bh, sd[bh], dsd[bh], dsf[bh], dsfT[bh], x);
                            else productsHeadDecayed(pProd, bh, dsd[bh], dsf[bh], dsfT[bh], x, y);
                        }
                    } else { // slice j of the owner's share of a step's rows: position j / heads, slice j % heads
                        boolean prep = kind <= per;
                        int j = round * per + kind - (prep ? 1 : 1 + per), at = j / heads.length, slice = j % heads.length;
                        int pos = (prep ? step : step - 2) * per + at;
                        if (prep && step < nSteps && pos < nChunks) prepare(pos, owner, parts, slice, heads.length, row);
                        else if (!prep && step >= 2 && pos < nChunks) preprocessingBackward(pos, owner, parts, slice, heads.length);
                    }
                }
                barrier.await();
            }
        }

        /** Scratch of one part's products. */
        private record Scratch(float[] sfT, float[] kt, float[] vt, float[] p, float[] dp, float[] kv, double[] db) {
            Scratch(int C, int D) {
                this(new float[D * D], new float[D * C], new float[D * C], new float[C * C], new float[C * C], new float[D * D], new double[C]);
            }
        }

        private int chunk(int pos) {
            return nChunks - 1 - pos;
        }

        /** Position pos's rows (part's share, slice of slices): Q, K, V with their norms and scales, and dO. */
        private void prepare(int pos, int part, int parts, int slice, int slices, float[] row) {
            int n = chunk(pos), buf = (pos / per) % 3;
            prepare(n, pos, part, parts, slice, slices, qb[buf], kb[buf], false, vb[buf], rqb[buf], rkb[buf], igb[buf], null, row);
            // dO rows, every head, for the same share
            final int r0 = n * C, cn = Math.min(C, T - r0), rows = B * cn;
            final int lo = sliceStart(rows, part, parts, slice, slices), hi = sliceStart(rows, part, parts, slice + 1, slices);
            final float[] g = gb[buf], src = dOut.data();
            final int hs = headStride();
            for (int x0 = lo; x0 < hi; x0++) {
                int b = x0 / cn, i = x0 % cn, o = dOut.at(T, D, b, r0 + i, 0), d = block(pos, b, 0) + i * D;
                for (int h = 0; h < H; h++, o += D, d += hs) System.arraycopy(src, o, g, d, D);
            }
        }

        /**
         * Chunk at position pos, head bh: recovers S_n^T from S_{n+1}^T (s, value-first), writes dQ, dK, dV of the chunk
         * into the gradient buffers and adds Q_n^T dO_n to dS.
         */
        private void productsHead(int pos, int bh, double[] s, double[] ds, float[] dsf, float[] dsfT, Scratch x) {
            final int n = chunk(pos), b = bh / H, h = bh % H;
            final int cn = Math.min(C, T - n * C), buf = (pos / per) % 3, o = block(pos, b, h), go = (pos / per) % 2;
            final float[] qh = qb[buf], kh = kb[buf], vs = vb[buf], dO = gb[buf];
            final float[] dqh = dqb[go], dkh = dkb[go], dvs = dvb[go];
            final float[] sfT = x.sfT, kt = x.kt, vt = x.vt, p = x.p, dp = x.dp, kv = x.kv;
            transpose(cn, D, kh, o, D, kt, 0, C);
            transpose(cn, D, vs, o, D, vt, 0, C);
            // S_n^T = S_{n+1}^T - V_n^T K_n (float64; the same bits as K^T V, transposed), and in float32 for dQ = dO S^T
            mmTransA(D, D, cn, vs, o, D, kh, o, D, kv, 0, D, false, FULL);
            for (int i = 0; i < D * D; i++) {
                double y = s[i] - kv[i];
                s[i] = y;
                sfT[i] = (float) y;
            }
            // P = (Q K^T) .* M, dP = (dO V^T) .* M (their transposes are read in place by mmTransA)
            mmCausal(cn, D, qh, o, D, kt, 0, C, p, 0, C);
            keepLower(cn, p, 0, C);
            mmCausal(cn, D, dO, o, D, vt, 0, C, dp, 0, C);
            keepLower(cn, dp, 0, C);
            // dQ = dO S^T + dP K ; dK = V dS^T + dP^T Q ; dV = K dS + P^T dO
            mmPlusLower(cn, D, D, dO, o, D, sfT, 0, D, cn, dp, 0, C, kh, o, D, dqh, o, D);
            mm(cn, D, D, vs, o, D, dsfT, 0, D, dkh, o, D, false, FULL);
            mmTransA(cn, D, cn, dp, 0, C, qh, o, D, dkh, o, D, true, A_UPPER);
            mm(cn, D, D, kh, o, D, dsf, 0, D, dvs, o, D, false, FULL);
            mmTransA(cn, D, cn, p, 0, C, dO, o, D, dvs, o, D, true, A_UPPER);
            // dS += Q_n^T dO_n
            mmTransA(D, D, cn, qh, o, D, dO, o, D, kv, 0, D, false, FULL);
            stateGradient(1.0, ds, kv, dsf, dsfT);
        }

        /**
         * dS <- decay * dS + kv in float64, then its float32 copy dsf and that copy's transpose dsfT (decay 1 for the
         * plain kernel: 1 * x is x exactly). Two passes, not one that also stores the transpose: a store 64 floats
         * apart per entry keeps the loop scalar, and cost 3x the whole update.
         */
        private void stateGradient(double decay, double[] ds, float[] kv, float[] dsf, float[] dsfT) {
            for (int i = 0; i < D * D; i++) {
                double v = decay * ds[i] + kv[i];
                ds[i] = v;
                dsf[i] = (float) v;
            }
            transpose(D, D, dsf, 0, D, dsfT, 0, D);
        }

        /**
         * {@link #productsHead} with the decay: the incoming state S is the one the forward kept; with
         * Lm = Lmask, e_i = e^{b_i}, w_j = e^{b_last - b_j}:
         * dQ = (dO .* e) S^T + (dP .* Lm) K; dK = (V .* w) dS^T + (dP .* Lm)^T Q; dV = (K .* w) dS + P^T dO;
         * dS <- e^{b_last} dS + (Q .* e)^T dO; and dL/db_i = Q_i . dQ_i (O_i is linear in Q_i and every term of it
         * scales with e^{b_i}) - sum_r dP_ri P_ri (b_i as the column) - w_i (dV_i^state . V_i) (b_i in the key
         * weight), plus for the last row sum_j w_j (dV_j^state . V_j) + e^{b_last} (S . dS); dL/da is the sum of
         * dL/db over the rows from a's row to the chunk's end.
         */
        private void productsHeadDecayed(int pos, int bh, double[] ds, float[] dsf, float[] dsfT, Scratch x, DecayScratch y) {
            final int n = chunk(pos), b = bh / H, h = bh % H;
            final int cn = Math.min(C, T - n * C), buf = (pos / per) % 3, o = block(pos, b, h), go = (pos / per) % 2;
            final float[] qh = qb[buf], kh = kb[buf], vs = vb[buf], dO = gb[buf];
            final float[] dqh = dqb[go], dkh = dkb[go], dvs = dvb[go];
            final float[] sfT = x.sfT, kt = x.kt, vt = x.vt, p = x.p, dp = x.dp, kv = x.kv, bb = y.bb, g = y.g;
            final int so = (bh * nChunks + n) * D * D;
            final float[] st = ctx.states;
            Decay.cumulative(ctx.decay, (b * T + n * C) * H + h, H, cn, bb);
            boolean factored = Decay.rowFactors(bb, cn, y.e, y.w, y.u);
            transpose(cn, D, kh, o, D, kt, 0, C);
            transpose(cn, D, vs, o, D, vt, 0, C);
            transpose(D, D, st, so, D, sfT, 0, D);
            mmCausal(cn, D, qh, o, D, kt, 0, C, p, 0, C);
            mmCausal(cn, D, dO, o, D, vt, 0, C, dp, 0, C);
            java.util.Arrays.fill(g, 0f);
            Decay.maskLowerPair(cn, p, dp, 0, C, bb, y.e, factored ? y.u : null, g);
            Decay.scaleRows(cn, D, dO, o, D, y.e, y.dod, 0, D);
            Decay.scaleRows(cn, D, qh, o, D, y.e, y.qd, 0, D);
            Decay.scaleRows(cn, D, kh, o, D, y.w, y.kw, 0, D);
            Decay.scaleRows(cn, D, vs, o, D, y.w, y.vw, 0, D);
            mmPlusLower(cn, D, D, y.dod, 0, D, sfT, 0, D, cn, dp, 0, C, kh, o, D, dqh, o, D);
            mm(cn, D, D, y.vw, 0, D, dsfT, 0, D, dkh, o, D, false, FULL);
            mmTransA(cn, D, cn, dp, 0, C, qh, o, D, dkh, o, D, true, A_UPPER);
            mm(cn, D, D, y.kw, 0, D, dsf, 0, D, dvs, o, D, false, FULL);
            // dL/db: the rows' terms (the key weights' from dV while it holds only the state part)
            double wuSum = 0, sdot = 0;
            for (int i = 0; i < cn; i++) {
                double wu = L2Norm.dot(dvs, o + i * D, vs, o + i * D, D);
                wuSum += wu;
                x.db[i] = L2Norm.dot(qh, o + i * D, dqh, o + i * D, D) - g[i] - wu;
            }
            mmTransA(cn, D, cn, p, 0, C, dO, o, D, dvs, o, D, true, A_UPPER);
            sdot = L2Norm.dot(st, so, dsf, 0, D * D);   // dsf = (float) ds: what this chunk's products used
            double decay = Math.exp(bb[cn - 1]);
            x.db[cn - 1] += wuSum + decay * sdot;
            double acc = 0;
            for (int i = cn - 1; i >= 0; i--) {
                acc += x.db[i];
                daGate[bh * T + n * C + i] = acc;
            }
            // dS <- e^{b_last} dS + (Q .* e)^T dO
            mmTransA(D, D, cn, y.qd, 0, D, dO, o, D, kv, 0, D, false, FULL);
            stateGradient(decay, ds, kv, dsf, dsfT);
        }

        /**
         * Slice {@code slice} of {@code slices} of part's share of position pos's rows, whole rows at a time: dQ, dK, dV
         * of every head through the normalisation and value-scaling backward into dq, dk, dv (added), and each row's
         * part of dL/da.
         */
        private void preprocessingBackward(int pos, int part, int parts, int slice, int slices) {
            final int n = chunk(pos), r0 = n * C, cn = Math.min(C, T - r0), rows = B * cn;
            final int buf = (pos / per) % 3, go = (pos / per) % 2;
            final int lo = sliceStart(rows, part, parts, slice, slices), hi = sliceStart(rows, part, parts, slice + 1, slices);
            final float[] qh = qb[buf], kh = kb[buf], vs = vb[buf], rq = rqb[buf], rk = rkb[buf], ig = igb[buf];
            final float[] dqh = dqb[go], dkh = dkb[go], dvs = dvb[go];
            final int hs = headStride(), hr = hs / D;
            for (int x0 = lo; x0 < hi; x0++) {
                int b = x0 / cn, i = x0 % cn, t = r0 + i;
                if (ctx.mask != null && ctx.mask[b * T + t] == 0) { // padding: no gradient (written as zeros)
                    if (!add) {
                        java.util.Arrays.fill(dq.data(), dq.at(T, D, b, t, 0), dq.at(T, D, b, t, 0) + E, 0f);
                        java.util.Arrays.fill(dk.data(), dk.at(T, D, b, t, 0), dk.at(T, D, b, t, 0) + E, 0f);
                        java.util.Arrays.fill(dv.data(), dv.at(T, D, b, t, 0), dv.at(T, D, b, t, 0) + E, 0f);
                    }
                    continue;
                }
                float nl = ctx.negLnC[b * T + t];
                int oq = dq.at(T, D, b, t, 0), ok = dk.at(T, D, b, t, 0), o = block(pos, b, 0) + i * D, r = rowBlock(pos, b, 0) + i;
                for (int h = 0; h < H; h++, oq += D, ok += D, o += hs, r += hr) {
                    L2Norm.backward(dqh, o, qh, o, rq[r], dq.data(), oq, D, 1f, add);
                    L2Norm.backward(dkh, o, kh, o, rk[r], dk.data(), ok, D, 1f, add);
                    if (vdot == null) daRow[(b * H + h) * T + t] = CosinePrep.valueRowBackward(ctx.shape, b, t, h, nl, ig[r], dvs, o, vs, o, dv, add);
                    else {
                        double dot = CosinePrep.valueRowBackwardDot(ctx.shape, b, t, h, ig[r], dvs, o, vs, o, dv, add);
                        float nz = negLn(nl, b, t, h);
                        daRow[(b * H + h) * T + t] = nz != 0f ? nz * dot : 0.0;
                        vdot[(b * H + h) * T + t] = dot;
                    }
                }
            }
        }
    }

    /**
     * One part's scratch for the decayed products: running log-decay, row factors (e^b, e^{b_last - b}, e^-b), column
     * sums, rows scaled by the factors.
     */
    private record DecayScratch(float[] bb, float[] e, float[] w, float[] u, float[] g, float[] qd, float[] vw, float[] kw, float[] dod) {
        DecayScratch(int C, int D) {
            this(new float[C], new float[C], new float[C], new float[C], new float[C], new float[C * D], new float[C * D], new float[C * D], new float[C * D]);
        }
    }

    /** The work items a thread owns: (batch row, group of adjacent heads), enough of them to keep every thread busy. */
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
