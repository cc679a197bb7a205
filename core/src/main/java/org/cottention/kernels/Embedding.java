package org.cottention.kernels;

import static org.cottention.kernels.Ops.S;
import static org.cottention.kernels.Ops.requireNonNegative;
import static org.cottention.kernels.Ops.requireRange;

import jdk.incubator.vector.FloatVector;

/**
 * Embedding lookup: out [n, c] rows are rows of table [vocab, c] chosen by ids [n]; its backward scatter-adds into
 * dtable. Every id is checked before anything is written: an id < 0 or >= vocab is an IllegalArgumentException that
 * names the id and its position.
 */
public final class Embedding {
    private Embedding() {}

    /** out[i, :] = table[ids[i], :], out [n, c], table [vocab, c]. */
    public static void forward(float[] out, int outOff, float[] table, int tableOff, int[] ids, int idsOff,
                               int n, int vocab, int c) {
        check(out, outOff, "out", table, tableOff, "table", ids, idsOff, n, vocab, c);
        Parallel.forRange(n, (long) n * c < 2L * Ops.PARALLEL_MIN ? Math.max(1, n) : Ops.rowGrain(c), (lo, hi) -> {
            for (int i = lo; i < hi; i++)
                System.arraycopy(table, tableOff + ids[idsOff + i] * c, out, outOff + i * c, c);
        });
    }

    /** out[i, :] += table[ids[i], :] — for summing word, position and token-type embeddings (BERT). */
    public static void forwardAdd(float[] out, int outOff, float[] table, int tableOff, int[] ids, int idsOff,
                                  int n, int vocab, int c) {
        check(out, outOff, "out", table, tableOff, "table", ids, idsOff, n, vocab, c);
        Parallel.forRange(n, (long) n * c < 2L * Ops.PARALLEL_MIN ? Math.max(1, n) : Ops.rowGrain(c), (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int t = tableOff + ids[idsOff + i] * c, o = outOff + i * c, j = 0;
                for (int up = S.loopBound(c); j < up; j += S.length())
                    FloatVector.fromArray(S, out, o + j).add(FloatVector.fromArray(S, table, t + j)).intoArray(out, o + j);
                for (; j < c; j++) out[o + j] += table[t + j];
            }
        });
    }

    /**
     * dtable[ids[i], :] += dout[i, :] for i = 0..n-1 (ACCUMULATES). Parallel over column ranges; within a column the
     * rows are added in order i = 0..n-1, so the result is bit-identical for any thread count even with repeated ids.
     */
    public static void backward(float[] dtable, int dtableOff, float[] dout, int doutOff, int[] ids, int idsOff,
                                int n, int vocab, int c) {
        check(dout, doutOff, "dout", dtable, dtableOff, "dtable", ids, idsOff, n, vocab, c);
        if (n == 0 || c == 0) return;
        Ops.columnRanges(n, c, (lo, hi) -> {
            int w = hi - lo;
            for (int i = 0; i < n; i++) {
                int t = dtableOff + ids[idsOff + i] * c + lo, o = doutOff + i * c + lo, j = 0;
                for (int up = S.loopBound(w); j < up; j += S.length())
                    FloatVector.fromArray(S, dtable, t + j).add(FloatVector.fromArray(S, dout, o + j)).intoArray(dtable, t + j);
                for (; j < w; j++) dtable[t + j] += dout[o + j];
            }
        });
    }

    private static void check(float[] rows, int rowsOff, String rowsName, float[] table, int tableOff, String tableName,
                              int[] ids, int idsOff, int n, int vocab, int c) {
        requireNonNegative("n", n);
        Ops.requirePositive("vocab", vocab);
        requireNonNegative("c", c);
        requireRange(rowsName, rows, rowsOff, (long) n * c);
        requireRange(tableName, table, tableOff, (long) vocab * c);
        requireRange("ids", ids, idsOff, n);
        for (int i = 0; i < n; i++) {
            int id = ids[idsOff + i];
            if (id < 0 || id >= vocab)
                throw new IllegalArgumentException("unknown id " + id + " at position " + i + " (vocabulary size " + vocab + ")");
        }
    }
}
