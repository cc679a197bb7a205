package org.cottention.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;

import java.util.List;

/** What the chat and the streaming chat model say about themselves to langchain4j: default parameters, listeners, provider. */
abstract class ChatModelBase extends CottentionGenerativeModel {
    private final List<ChatModelListener> listeners;

    ChatModelBase(ChatModelBuilder<?> b, String model) {
        super(b, model);
        this.listeners = b.listeners;
    }

    /** The builder's parameters; langchain4j merges each request's non-null ones over them. */
    public ChatRequestParameters defaultRequestParameters() {
        return defaults;
    }

    public List<ChatModelListener> listeners() {
        return listeners;
    }

    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }
}
