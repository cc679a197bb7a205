package org.cottention.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;

import java.util.Objects;
import java.util.function.BiFunction;

/**
 * langchain4j's common request parameters plus Cottention's own: the session a request continues, a sampling seed
 * and a repetition penalty. Pass them in a {@code ChatRequest} to set them per request; a model's builder sets the
 * defaults ({@code sessionId}, {@code seed}, ...), which a request's non-null values override.
 */
public class CottentionChatRequestParameters extends DefaultChatRequestParameters {
    private final String sessionId;
    private final Long seed;
    private final Double repetitionPenalty;

    protected CottentionChatRequestParameters(Builder builder) {
        super(builder);
        this.sessionId = builder.sessionId;
        this.seed = builder.seed;
        this.repetitionPenalty = builder.repetitionPenalty;
    }

    /** The conversation to continue (only the tokens it has not seen are prefilled), or null for a one-off request. */
    public String sessionId() {
        return sessionId;
    }

    /** Sampling seed (null: a random one). With the same seed, prompt and parameters the output is the same. */
    public Long seed() {
        return seed;
    }

    /** CTRL-style penalty for tokens already in the sequence (null or 1: off). */
    public Double repetitionPenalty() {
        return repetitionPenalty;
    }

    @Override
    public ChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CottentionChatRequestParameters c && super.equals(o) && Objects.equals(sessionId, c.sessionId)
                && Objects.equals(seed, c.seed) && Objects.equals(repetitionPenalty, c.repetitionPenalty);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), sessionId, seed, repetitionPenalty);
    }

    @Override
    public String toString() {
        return "CottentionChatRequestParameters{" + super.toString() + ", sessionId=" + sessionId + ", seed=" + seed
                + ", repetitionPenalty=" + repetitionPenalty + "}";
    }

    /**
     * For {@code AiServices.builder(...).chatRequestTransformer(...)}: each request continues the session named after
     * its {@code @MemoryId} (the memory id's {@code toString()}), so one chat model serves every user of an AI service
     * with a session per chat memory. A request's own {@code sessionId} is replaced; without a memory id it is unchanged.
     */
    public static BiFunction<ChatRequest, Object, ChatRequest> sessionPerMemoryId() {
        return (request, memoryId) -> memoryId == null ? request : request.toBuilder()
                .parameters(builder().overrideWith(request.parameters()).sessionId(String.valueOf(memoryId)).build()).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private String sessionId;
        private Long seed;
        private Double repetitionPenalty;

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof CottentionChatRequestParameters c) {
                if (c.sessionId != null) sessionId = c.sessionId;
                if (c.seed != null) seed = c.seed;
                if (c.repetitionPenalty != null) repetitionPenalty = c.repetitionPenalty;
            }
            return this;
        }

        public Builder sessionId(String sessionId) {
            this.sessionId = sessionId;
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder repetitionPenalty(Double repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            return this;
        }

        @Override
        public CottentionChatRequestParameters build() {
            return new CottentionChatRequestParameters(this);
        }
    }
}
