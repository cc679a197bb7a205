package org.cottention.train;

import org.cottention.model.Params;

import java.io.IOException;
import java.nio.file.Path;

/** What the shared {@link Trainer} needs from a model (GPT causal LM, BERT MLM, BERT classifier). */
public interface TrainableModel {
    Params params();

    /**
     * Forward and backward on one micro-batch: adds {@code gradScale * d(meanLoss)/d(param)} to params().grad()
     * and returns the mean loss of the batch (and over how many targets it was taken).
     */
    Loss trainStep(Batch batch, float gradScale);

    /** Forward only: the summed loss and the number of targets, for validation. */
    Loss evaluate(Batch batch);

    /** Forward FLOPs per input token for one training step (forward + backward = 3x), for model FLOP utilisation. */
    double flopsPerToken(int seqLen);

    /**
     * Whether the optimizer updates this parameter: false freezes it (no step, no weight decay), e.g. everything but
     * the attention projections while distillation transfers attention. Gradients of frozen parameters are ignored.
     */
    default boolean trainable(String parameter) {
        return true;
    }

    /** Writes config.json and model.safetensors (and nothing else) into dir, each file atomically. */
    void saveModel(Path dir) throws IOException;

    /** Mean loss {@code sum / count}, kept as both so validation can sum over batches. */
    record Loss(double sum, long count) {
        public double mean() {
            return count == 0 ? Double.NaN : sum / count;
        }

        public Loss plus(Loss o) {
            return new Loss(sum + o.sum, count + o.count);
        }
    }
}
