package org.cottention.bench;

import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.GptJSession;
import org.cottention.generate.Sampler;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Decoding cost against context length: a model is brought to L tokens of context (a real chunkwise prefill for
 * cosine; for softmax a real prefill up to {@code realPrefillLimit}, beyond that a KV cache filled with random
 * entries, since decoding cost depends only on its length), then {@code tokens} greedy steps are timed one by one.
 * Heap is measured live (after a full GC) once the context is in place and again after decoding; {@code prefillBytes}
 * is what the prefill allocated (the session's state or KV cache and its segment buffers; measured as in
 * {@link AttentionBench}, an upper bound of what it holds at its peak).
 */
public final class DecodeBench {
    public record Result(String attention, int context, int tokens, double msPerToken, double minMsPerToken, long stateBytes,
                         long heapBytes, long heapAfterDecodeBytes, String prefill, double prefillMs,
                         long prefillBytes, long prefillPeakBytes) {}

    /** Prefill segment of the session (tokens per parallel forward). */
    static final int SEGMENT = 512;

    /** Untimed decoding steps before timing, so the first context measured is not the JIT's warm-up. */
    static final int WARMUP_STEPS = 96;

    private DecodeBench() {}

    public static Result run(GptJ model, int context, int tokens, int realPrefillLimit, long seed) {
        GptJConfig c = model.cfg;
        SplittableRandom r = new SplittableRandom(seed);
        GptJSession s = new GptJSession(model, SEGMENT);
        boolean synthetic = c.attentionType() == AttentionType.SOFTMAX && context > realPrefillLimit;
        int real = synthetic ? 1 : context;
        int[] prompt = new int[real];
        for (int i = 0; i < real; i++) prompt[i] = r.nextInt(c.vocabSize());
        // The last segment is fed apart: what the prefill holds at its peak is about what that segment allocates
        // (its activations, and softmax's scores against the whole cache) plus the state or KV cache it starts from.
        // The sum of every segment's allocation (prefillBytes) grows with the length even where the held memory does not.
        int head = real > SEGMENT ? (real - 1) / SEGMENT * SEGMENT : real;
        long a0 = AttentionBench.allocatedBytes(), t0 = System.nanoTime();
        float[] logits = s.prefill(new int[][]{Arrays.copyOf(prompt, head)});
        long aLast = AttentionBench.allocatedBytes(), heldBefore = s.stateBytes();
        if (head < real) logits = s.extend(new int[][]{Arrays.copyOfRange(prompt, head, real)});
        long lastSegment = AttentionBench.allocatedBytes() - aLast;
        if (synthetic) s.extendCacheSynthetic(context - real, seed);
        double prefillMs = (System.nanoTime() - t0) / 1e6;
        long prefillBytes = AttentionBench.allocatedBytes() - a0;
        long prefillPeak = head < real ? heldBefore + lastSegment : prefillBytes;
        for (int i = 0; i < WARMUP_STEPS; i++) logits = s.step(new int[]{Sampler.argmax(logits)});  // JIT warm-up, untimed
        long heap = liveHeap();
        double[] ms = new double[tokens];
        for (int i = 0; i < tokens; i++) {
            int next = Sampler.argmax(logits);
            long ts = System.nanoTime();
            logits = s.step(new int[]{next});
            ms[i] = (System.nanoTime() - ts) / 1e6;
        }
        long heapAfter = liveHeap();
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        return new Result(c.attentionType().configName(), context, tokens, sorted[tokens / 2], sorted[0], s.stateBytes(), heap, heapAfter,
                synthetic ? "synthetic" : "real", prefillMs, prefillBytes, prefillPeak);
    }

    /** Bytes of reachable heap objects: used heap right after a full collection. */
    public static long liveHeap() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 2; i++) System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }
}
