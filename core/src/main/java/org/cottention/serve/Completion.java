package org.cottention.serve;

import java.util.List;

/**
 * The result of one request.
 *
 * @param choices       one per requested completion (index order)
 * @param promptTokens  tokens of the whole prompt (including those a session had seen already)
 * @param cachedTokens  prompt tokens not prefilled again because the session had them
 * @param session       the session's state after the request, or null without one
 * @param timing        when the request was submitted, its prompt was in, and it completed
 */
public record Completion(List<Choice> choices, int promptTokens, int cachedTokens, SessionInfo session, Timing timing) {
    /** Tokens generated over all choices. */
    public int completionTokens() {
        return choices.stream().mapToInt(c -> c.ids().length).sum();
    }

    /**
     * One completion.
     *
     * @param ids          the generated token ids (an end-of-text token excluded; tokens of a stop string included up
     *                     to where it was detected)
     * @param text         the generated text, cut before the first stop string
     * @param finishReason "stop" (end-of-text token or stop string), "length" (max_tokens) or "cancelled"
     * @param endOfText    it stopped at the end-of-text token (a "stop" that is not a stop string)
     * @param stateBytes   bytes of the sequence's decoding state when it finished (constant for cosine models, the
     *                     KV cache for softmax ones)
     */
    public record Choice(int index, int[] ids, String text, String finishReason, boolean endOfText, long stateBytes) {}

    /**
     * {@link System#nanoTime()} stamps of a request: submitted, prompt prefilled (its first token sampled), completed.
     * {@code prefilled} is 0 when it never got that far (cancelled while waiting).
     */
    public record Timing(long submitted, long prefilled, long finished) {
        public double prefillMs() {
            return prefilled == 0 ? 0 : (prefilled - submitted) / 1e6;
        }

        public double decodeMs() {
            return prefilled == 0 ? 0 : (finished - prefilled) / 1e6;
        }
    }

    /**
     * A session after the request: tokens seen, bytes of its state, and whether the request started it afresh
     * because the prompt did not extend what it had seen.
     */
    public record SessionInfo(long tokens, long stateBytes, boolean reset) {}
}
