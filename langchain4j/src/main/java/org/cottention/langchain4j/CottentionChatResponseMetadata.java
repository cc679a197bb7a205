package org.cottention.langchain4j;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;

import java.util.Objects;

/**
 * langchain4j's response metadata (id, model name, token usage, finish reason) plus what a session did: how many
 * prompt tokens it already had (not prefilled again), its tokens and state bytes after the request, and whether the
 * prompt did not extend its history so it started afresh. The session fields are null for a one-off request.
 */
public class CottentionChatResponseMetadata extends ChatResponseMetadata {
    private final int cachedTokens;
    private final String sessionId;
    private final Long sessionTokens;
    private final Long sessionStateBytes;
    private final Boolean sessionReset;

    protected CottentionChatResponseMetadata(Builder builder) {
        super(builder);
        this.cachedTokens = builder.cachedTokens;
        this.sessionId = builder.sessionId;
        this.sessionTokens = builder.sessionTokens;
        this.sessionStateBytes = builder.sessionStateBytes;
        this.sessionReset = builder.sessionReset;
    }

    /** Prompt tokens the session had seen already, so not prefilled again (0 without a session). */
    public int cachedTokens() {
        return cachedTokens;
    }

    public String sessionId() {
        return sessionId;
    }

    /** Tokens the session has seen after this request (its prompts and completions). */
    public Long sessionTokens() {
        return sessionTokens;
    }

    /** Bytes of the session's state (constant for cosine models, whatever the history's length). */
    public Long sessionStateBytes() {
        return sessionStateBytes;
    }

    /** True when the prompt did not extend what the session had seen, so it was prefilled whole. */
    public Boolean sessionReset() {
        return sessionReset;
    }

    @Override
    public Builder toBuilder() {
        Builder b = builder();
        toBuilder(b);
        return b.cachedTokens(cachedTokens).sessionId(sessionId).sessionTokens(sessionTokens)
                .sessionStateBytes(sessionStateBytes).sessionReset(sessionReset);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CottentionChatResponseMetadata c && super.equals(o) && cachedTokens == c.cachedTokens
                && Objects.equals(sessionId, c.sessionId) && Objects.equals(sessionTokens, c.sessionTokens)
                && Objects.equals(sessionStateBytes, c.sessionStateBytes) && Objects.equals(sessionReset, c.sessionReset);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), cachedTokens, sessionId, sessionTokens, sessionStateBytes, sessionReset);
    }

    @Override
    public String toString() {
        return "CottentionChatResponseMetadata{" + super.toString() + ", cachedTokens=" + cachedTokens + ", sessionId=" + sessionId
                + ", sessionTokens=" + sessionTokens + ", sessionStateBytes=" + sessionStateBytes + ", sessionReset=" + sessionReset + "}";
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends ChatResponseMetadata.Builder<Builder> {
        private int cachedTokens;
        private String sessionId;
        private Long sessionTokens;
        private Long sessionStateBytes;
        private Boolean sessionReset;

        public Builder cachedTokens(int cachedTokens) {
            this.cachedTokens = cachedTokens;
            return this;
        }

        public Builder sessionId(String sessionId) {
            this.sessionId = sessionId;
            return this;
        }

        public Builder sessionTokens(Long sessionTokens) {
            this.sessionTokens = sessionTokens;
            return this;
        }

        public Builder sessionStateBytes(Long sessionStateBytes) {
            this.sessionStateBytes = sessionStateBytes;
            return this;
        }

        public Builder sessionReset(Boolean sessionReset) {
            this.sessionReset = sessionReset;
            return this;
        }

        @Override
        public CottentionChatResponseMetadata build() {
            return new CottentionChatResponseMetadata(this);
        }
    }
}
