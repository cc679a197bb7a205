package org.cottention.train;

/**
 * Deterministic training batches: {@code batch(i)} depends only on i (and the source's seed), so a resumed run sees
 * exactly the batches an uninterrupted run would, with no iterator state to checkpoint.
 */
public interface BatchSource {
    /** The i-th micro-batch (0-based over the whole run: step * accumulation + micro). */
    Batch batch(long index);

    /** Micro-batches per pass over the training data. */
    long batchesPerEpoch();
}
