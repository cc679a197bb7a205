package org.cottention.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;

import java.util.List;

/** Builder options of the chat models: the generation options, and langchain4j's chat model listeners. */
public abstract class ChatModelBuilder<B extends ChatModelBuilder<B>> extends GenerationBuilder<B> {
    List<ChatModelListener> listeners = List.of();

    /** Chat model listeners (request, response, error), as langchain4j's own models take them. */
    public B listeners(List<ChatModelListener> listeners) {
        this.listeners = listeners == null ? List.of() : List.copyOf(listeners);
        return self();
    }
}
