package org.cottention.langchain4j;

import java.util.List;

/**
 * Builder options of the generating models (chat, streaming chat, language): the default sampling parameters and
 * session of their requests. A chat request's own non-null parameters override them.
 */
public abstract class GenerationBuilder<B extends GenerationBuilder<B>> extends CottentionModelBuilder<B> {
    /** New tokens at most when neither the builder nor a request says. */
    public static final int DEFAULT_MAX_TOKENS = 256;

    private Double temperature, topP, repetitionPenalty;
    private Integer topK;
    private int maxTokens = DEFAULT_MAX_TOKENS;
    private List<String> stop = List.of();
    private Long seed;
    private String sessionId;

    /** Softmax temperature; 0 = greedy (deterministic). Default 1, as OpenAI's API. */
    public B temperature(Double temperature) {
        this.temperature = temperature;
        return self();
    }

    /** Nucleus sampling mass in (0, 1]; default 1 (off). */
    public B topP(Double topP) {
        this.topP = topP;
        return self();
    }

    /** Sample among the k most likely tokens only; default off. */
    public B topK(Integer topK) {
        this.topK = topK;
        return self();
    }

    /** New tokens at most per request (default {@value #DEFAULT_MAX_TOKENS}). */
    public B maxTokens(int maxTokens) {
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        this.maxTokens = maxTokens;
        return self();
    }

    /** Stop strings: generation ends before the first of them (chat models add the template's own). */
    public B stop(List<String> stop) {
        this.stop = stop == null ? List.of() : List.copyOf(stop);
        return self();
    }

    /** Sampling seed (default: a random one per request). */
    public B seed(Long seed) {
        this.seed = seed;
        return self();
    }

    /** CTRL-style penalty for tokens already in the sequence; default 1 (off). */
    public B repetitionPenalty(Double repetitionPenalty) {
        this.repetitionPenalty = repetitionPenalty;
        return self();
    }

    /**
     * Every request continues this conversation: its state is kept between requests and only the tokens it has not
     * seen are prefilled (a request can name another one in {@link CottentionChatRequestParameters#sessionId()}).
     */
    public B sessionId(String sessionId) {
        this.sessionId = sessionId;
        return self();
    }

    CottentionChatRequestParameters defaults(String modelName) {
        return CottentionChatRequestParameters.builder().modelName(modelName).temperature(temperature).topP(topP).topK(topK)
                .maxOutputTokens(maxTokens).stopSequences(stop).seed(seed).repetitionPenalty(repetitionPenalty).sessionId(sessionId).build();
    }
}
