package org.cottention.kernels;

import static org.cottention.kernels.Ops.S;
import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;

/**
 * GPT-J rotary position embedding ("interleaved pairs") on the first {@code rotaryDim} components of every head:
 * with {@code inv_freq_i = base^(-2i/rotaryDim)} and angle {@code theta = p * inv_freq_i} at position p,
 * {@code y[2i] = x[2i] cos - x[2i+1] sin}, {@code y[2i+1] = x[2i+1] cos + x[2i] sin}; components from rotaryDim on
 * pass through. Works IN PLACE on a [b, t, h, d] view whose token rows are {@code rowStride} floats apart, element
 * (b, t, h, d) at {@code off + (b*T + t)*rowStride + h*D + d} — so q and k can be rotated inside a fused [B*T, 3E]
 * qkv buffer (call once with the q offset, once with the k offset).
 * <p>cos/sin tables are computed in double and stored as float for positions 0..capacity-1; they grow on demand
 * (thread-safe) when a call needs a larger position, up to {@link #TABLE_LIMIT} positions. Beyond that the angles of a
 * row are computed when it is rotated, so memory stays bounded however long a decoded sequence gets. The backward is the rotation by -theta, applied in place to the
 * gradient (dy becomes dx; not an accumulation).
 */
public final class Rotary {
    /**
     * For positions [0, capacity), interleaved like the pairs they rotate: cos[p*rotaryDim + 2i] =
     * cos[p*rotaryDim + 2i+1] = cos(theta_i), sin[p*rotaryDim + 2i] = -sin(theta_i), sin[p*rotaryDim + 2i+1] =
     * +sin(theta_i), so that y = x * cos + swapPairs(x) * sin, a shuffle and two multiplies per vector.
     * Immutable once published.
     */
    private record Tables(int capacity, float[] cos, float[] sin) {}

    /** Positions kept in tables at most; larger ones are computed per row (a few sin/cos per pair). */
    public static final int TABLE_LIMIT = 8192;
    private static final ThreadLocal<float[][]> ROW = new ThreadLocal<>();

    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(S, i -> i ^ 1);

    private final int rotaryDim;
    private final double base;
    private volatile Tables tables;

    /** Rotary embedding with base 10000 (GPT-J), tables pre-built for positions below {@code maxLen}. */
    public Rotary(int rotaryDim, int maxLen) {
        this(rotaryDim, maxLen, 10000.0);
    }

    public Rotary(int rotaryDim, int maxLen, double base) {
        if (rotaryDim < 2 || rotaryDim % 2 != 0)
            throw new IllegalArgumentException("rotaryDim must be even and >= 2, got " + rotaryDim);
        requireNonNegative("maxLen", maxLen);
        if (!(base > 1.0) || Double.isInfinite(base)) throw new IllegalArgumentException("base must be > 1, got " + base);
        this.rotaryDim = rotaryDim;
        this.base = base;
        this.tables = build(Math.max(1, maxLen));
    }

    public int rotaryDim() {
        return rotaryDim;
    }

    /** Positions 0..capacity()-1 have tables now; larger positions make the tables grow. */
    public int capacity() {
        return tables.capacity;
    }

    /** Makes sure positions below maxLen have tables (grows them, at least doubling, if needed). */
    public void ensureCapacity(int maxLen) {
        if (maxLen <= tables.capacity) return;
        synchronized (this) {
            Tables t = tables;
            if (maxLen <= t.capacity) return;
            // doubling, but not past TABLE_LIMIT unless asked for more explicitly
            long grown = Math.min(2L * t.capacity, Math.max(TABLE_LIMIT, maxLen));
            tables = build((int) Math.min(Integer.MAX_VALUE - 8L, Math.max(maxLen, grown)));
        }
    }

    private static float[][] rowScratch(int rd) {
        float[][] r = ROW.get();
        if (r == null || r[0].length < rd) ROW.set(r = new float[][]{new float[rd], new float[rd]});
        return r;
    }

    private Tables build(int capacity) {
        float[] cos = new float[capacity * rotaryDim], sin = new float[capacity * rotaryDim];
        for (int p = 0; p < capacity; p++) fillRow(p, cos, sin, p * rotaryDim);
        return new Tables(capacity, cos, sin);
    }

    /** cos/sin of position p for every pair, interleaved as in {@link Tables}, into cos/sin[off .. off+rotaryDim). */
    private void fillRow(int p, float[] cos, float[] sin, int off) {
        for (int i = 0; i < rotaryDim / 2; i++) {
            // The angle in double: formed in float (as p * inv_freq in float32) it would lose precision at large p.
            double a = p * Math.pow(base, -2.0 * i / rotaryDim);
            float c = (float) Math.cos(a), sn = (float) Math.sin(a);
            int o = off + 2 * i;
            cos[o] = c;
            cos[o + 1] = c;
            sin[o] = -sn;
            sin[o + 1] = sn;
        }
    }

    // ---------------------------------------------------------------------------------------------- public API

    /** Rotates x in place; token (b, t) has position {@code startPos + t}. */
    public void forward(float[] x, int off, int rowStride, int batch, int seq, int heads, int headDim, int startPos) {
        apply(x, off, rowStride, batch, seq, heads, headDim, null, 0, startPos, false);
    }

    /** Rotates x in place; token (b, t) has position {@code positions[posOff + b*seq + t]}. */
    public void forward(float[] x, int off, int rowStride, int batch, int seq, int heads, int headDim,
                        int[] positions, int posOff) {
        if (positions == null) throw new IllegalArgumentException("positions is null");
        apply(x, off, rowStride, batch, seq, heads, headDim, positions, posOff, 0, false);
    }

    /** Backward of {@link #forward(float[], int, int, int, int, int, int, int)}: dx = R(-theta) dy, in place on dy. */
    public void backward(float[] dy, int off, int rowStride, int batch, int seq, int heads, int headDim, int startPos) {
        apply(dy, off, rowStride, batch, seq, heads, headDim, null, 0, startPos, true);
    }

    /** Backward of the per-token-positions forward: dx = R(-theta) dy, in place on dy. */
    public void backward(float[] dy, int off, int rowStride, int batch, int seq, int heads, int headDim,
                         int[] positions, int posOff) {
        if (positions == null) throw new IllegalArgumentException("positions is null");
        apply(dy, off, rowStride, batch, seq, heads, headDim, positions, posOff, 0, true);
    }

    // ---------------------------------------------------------------------------------------------- kernel

    private void apply(float[] x, int off, int rowStride, int batch, int seq, int heads, int headDim,
                       int[] positions, int posOff, int startPos, boolean inverse) {
        requireNonNegative("batch", batch);
        requireNonNegative("seq", seq);
        Ops.requirePositive("heads", heads);
        Ops.requirePositive("headDim", headDim);
        if (rotaryDim > headDim)
            throw new IllegalArgumentException("rotaryDim " + rotaryDim + " exceeds headDim " + headDim);
        long rowWidth = (long) heads * headDim;
        if (rowStride < rowWidth)
            throw new IllegalArgumentException("rowStride " + rowStride + " is smaller than heads*headDim = " + rowWidth);
        long rows = (long) batch * seq;
        if (rows == 0) return;
        if (x == null) throw new IllegalArgumentException("x is null");
        if (off < 0 || off + (rows - 1) * rowStride + rowWidth > x.length)
            throw new IllegalArgumentException("x: a [" + batch + "," + seq + "," + heads + "," + headDim
                    + "] view with row stride " + rowStride + " from offset " + off + " needs "
                    + (off + (rows - 1) * rowStride + rowWidth) + " elements, the array has " + x.length);
        int maxPos;
        if (positions != null) {
            requireRange("positions", positions, posOff, rows);
            maxPos = -1;
            for (int i = 0; i < rows; i++) {
                int p = positions[posOff + i];
                if (p < 0) throw new IllegalArgumentException("positions[" + i + "] is negative: " + p);
                maxPos = Math.max(maxPos, p);
            }
        } else {
            requireNonNegative("startPos", startPos);
            if ((long) startPos + seq - 1 >= Integer.MAX_VALUE - 8)
                throw new IllegalArgumentException("startPos " + startPos + " + seq " + seq + " is too large");
            maxPos = startPos + seq - 1;
        }
        ensureCapacity(Math.min(maxPos + 1, Math.max(TABLE_LIMIT, tables.capacity)));
        Tables tb = tables;
        int nRows = (int) rows;
        int grain = Math.max(1, Ops.PARALLEL_MIN / Math.max(1, heads * rotaryDim));
        Parallel.forRange(nRows, nRows * (long) heads * rotaryDim < 2L * Ops.PARALLEL_MIN ? nRows : grain, (lo, hi) -> {
            for (int r = lo; r < hi; r++)
                rotateRow(tb, x, off + r * rowStride, heads, headDim, positions != null ? positions[posOff + r] : startPos + r % seq, inverse);
        });
    }

    /**
     * Rotates one token's row of heads in place, x[off + h*headDim + d] for position pos, as {@link #forward} does
     * (the same operations): for a kernel that builds q and k one row at a time.
     */
    public void forwardRow(float[] x, int off, int heads, int headDim, int pos) {
        if (pos < 0) throw new IllegalArgumentException("position is negative: " + pos);
        if (rotaryDim > headDim) throw new IllegalArgumentException("rotaryDim " + rotaryDim + " exceeds headDim " + headDim);
        if (pos >= tables.capacity) ensureCapacity(Math.min(pos + 1, Math.max(TABLE_LIMIT, tables.capacity)));
        rotateRow(tables, x, off, heads, headDim, pos, false);
    }

    private void rotateRow(Tables tb, float[] x, int rowOff, int heads, int headDim, int p, boolean inverse) {
        int rd = rotaryDim, step = S.length(), vecEnd = rd - rd % step; // step is even, so vectors never split a pair
        float[] cos = tb.cos, sin = tb.sin;
        int tOff = p * rd;
        if (p >= tb.capacity) {  // past the tables: this row's angles, laid out like one table row
            float[][] row = rowScratch(rd);
            fillRow(p, row[0], row[1], 0);
            cos = row[0];
            sin = row[1];
            tOff = 0;
        }
        for (int h = 0; h < heads; h++) {
            int o = rowOff + h * headDim;
            for (int j = 0; j < vecEnd; j += step) {
                FloatVector v = FloatVector.fromArray(S, x, o + j);
                FloatVector c = FloatVector.fromArray(S, cos, tOff + j), sn = FloatVector.fromArray(S, sin, tOff + j);
                FloatVector sw = v.rearrange(SWAP_PAIRS).mul(sn), vc = v.mul(c);
                (inverse ? vc.sub(sw) : vc.add(sw)).intoArray(x, o + j);
            }
            for (int j = vecEnd; j < rd; j += 2) {
                float x0 = x[o + j], x1 = x[o + j + 1];
                float c = cos[tOff + j], s0 = sin[tOff + j], s1 = sin[tOff + j + 1];
                x[o + j] = inverse ? x0 * c - x1 * s0 : x0 * c + x1 * s0;
                x[o + j + 1] = inverse ? x1 * c - x0 * s1 : x1 * c + x0 * s1;
            }
        }
    }
}
