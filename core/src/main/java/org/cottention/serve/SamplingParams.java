package org.cottention.serve;

import java.util.List;

/**
 * How one generation request samples and when it stops (OpenAI's fields, plus top-k and a repetition penalty).
 *
 * @param temperature       0 = greedy (argmax, deterministic); otherwise softmax temperature
 * @param topP              nucleus mass in (0, 1]; 1 = off
 * @param topK              keep the k most likely tokens; 0 = off
 * @param repetitionPenalty CTRL-style penalty for tokens already in the sequence; 1 = off
 * @param maxTokens         new tokens at most (>= 0; the engine refuses more than {@link EngineConfig#maxNewTokens()})
 * @param stop              stop strings: generation ends before the first occurrence of any, which is not returned
 * @param seed              sampling seed (choice i uses seed + i); null = a random seed
 * @param n                 completions for the one prompt (>= 1); the prompt is prefilled once
 * @param ignoreEos         keep generating past the end-of-text token
 */
public record SamplingParams(float temperature, float topP, int topK, float repetitionPenalty, int maxTokens,
                             List<String> stop, Long seed, int n, boolean ignoreEos) {
    public SamplingParams {
        if (!(temperature >= 0) || !Float.isFinite(temperature)) throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(repetitionPenalty > 0) || !Float.isFinite(repetitionPenalty)) throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
        if (maxTokens < 0) throw new IllegalArgumentException("max_tokens must be >= 0, got " + maxTokens);
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
        stop = stop == null ? List.of() : List.copyOf(stop);
        for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    }

    /** Greedy decoding of up to maxTokens tokens, no stop strings. */
    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0f, 1f, 0, 1f, maxTokens, List.of(), 0L, 1, false);
    }

    public SamplingParams withMaxTokens(int m) {
        return new SamplingParams(temperature, topP, topK, repetitionPenalty, m, stop, seed, n, ignoreEos);
    }

    public SamplingParams withStop(List<String> s) {
        return new SamplingParams(temperature, topP, topK, repetitionPenalty, maxTokens, s, seed, n, ignoreEos);
    }
}
