package org.cottention.serve;

import org.cottention.model.AttentionType;
import org.cottention.model.WeightStorage;

/**
 * How an {@link InferenceEngine} loads and schedules.
 *
 * @param attention     attention override (null: the model's own)
 * @param storage       where weight matrices live (heap, mapped, bf16)
 * @param maxBatch      sequences decoded together in one batched step at most; more wait their turn
 * @param maxQueued     requests waiting or running at most; beyond that {@link EngineException.QueueFull}
 * @param maxNewTokens  the largest max_tokens a request may ask for
 * @param prefillSegment prompt tokens per parallel prefill segment
 * @param prefillBudget prompt tokens prefilled between two decoding steps at most (a long prompt is prefilled over
 *                      several steps, so sequences already decoding are not stalled by it)
 */
public record EngineConfig(AttentionType attention, WeightStorage storage, int maxBatch, int maxQueued, int maxNewTokens,
                           int prefillSegment, int prefillBudget) {
    public EngineConfig {
        if (storage == null) storage = WeightStorage.HEAP;
        if (maxBatch < 1 || maxQueued < 1 || maxNewTokens < 1 || prefillSegment < 1 || prefillBudget < 1)
            throw new IllegalArgumentException("engine limits must be >= 1");
    }

    public static EngineConfig defaults() {
        return new EngineConfig(null, WeightStorage.HEAP, 64, 256, 16384, 512, 1024);
    }

    public EngineConfig withMaxBatch(int b) {
        return new EngineConfig(attention, storage, b, maxQueued, maxNewTokens, prefillSegment, prefillBudget);
    }

    public EngineConfig withMaxQueued(int q) {
        return new EngineConfig(attention, storage, maxBatch, q, maxNewTokens, prefillSegment, prefillBudget);
    }

    public EngineConfig withAttention(AttentionType a) {
        return new EngineConfig(a, storage, maxBatch, maxQueued, maxNewTokens, prefillSegment, prefillBudget);
    }

    public EngineConfig withStorage(WeightStorage s) {
        return new EngineConfig(attention, s, maxBatch, maxQueued, maxNewTokens, prefillSegment, prefillBudget);
    }
}
