package org.cottention.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;

/**
 * A langchain4j {@link ChatModel} running a Cottention causal model in-process:
 * <pre>{@code
 * ChatModel model = CottentionChatModel.builder().modelPath("runs/tiny").temperature(0.0).maxTokens(64).build();
 * String answer = model.chat("Who is Ahab?");
 * }</pre>
 * Requests go to the model folder's shared {@link org.cottention.serve.InferenceEngine}, decoded together with every
 * other request on it in one batched step per token. Parameters: temperature, topP, topK, maxOutputTokens,
 * stopSequences (plus {@link CottentionChatRequestParameters}: sessionId, seed, repetitionPenalty); tools, JSON
 * response formats and frequency/presence penalties are refused with an {@code UnsupportedFeatureException}. The
 * response's metadata is a {@link CottentionChatResponseMetadata}: token usage, finish reason (STOP, LENGTH), and
 * what the session did.
 */
public class CottentionChatModel extends ChatModelBase implements ChatModel {
    private CottentionChatModel(Builder b) {
        super(b, "CottentionChatModel");
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        try {
            Prepared p = prepare(request, null);
            return chatResponse(engine.generate(p.request()), p.sessionId());
        } catch (RuntimeException e) {
            throw translate(e);
        }
    }

    public static class Builder extends ChatModelBuilder<Builder> {
        public CottentionChatModel build() {
            return new CottentionChatModel(this);
        }
    }
}
