package org.cottention.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import org.cottention.serve.Generation;
import org.cottention.serve.GenerationListener;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A langchain4j {@link StreamingChatModel} running a Cottention causal model in-process (the same options,
 * parameters and metadata as {@link CottentionChatModel}). {@code onPartialResponse} gets each token's text as it is
 * decoded (whole characters; text that may begin a stop string is held back until it is known not to), then
 * {@code onCompleteResponse} the whole response; a refused or failed request goes to {@code onError}, never thrown.
 * The handler runs on a thread of its own per request (never on the engine's decoding thread, so a slow handler
 * does not hold up the other sequences of the batch). {@link StreamingHandle#cancel()} (from the partial response's
 * context) stops the generation at the next step; no further callbacks follow. A handler that throws cancels the
 * generation and gets {@code onError}.
 */
public class CottentionStreamingChatModel extends ChatModelBase implements StreamingChatModel {
    private CottentionStreamingChatModel(Builder b) {
        super(b, "CottentionStreamingChatModel");
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Stream s = new Stream(handler);
        try {
            Prepared p = prepare(request, s);
            s.gen = engine.submit(p.request());
            if (s.cancelled.get()) s.gen.cancel();
            s.gen.result().whenComplete((c, err) -> {
                if (err != null) s.fail(translate(err));
                else s.deliver(() -> handler.onCompleteResponse(chatResponse(c, p.sessionId())));
                s.relay.shutdown();
            });
        } catch (RuntimeException e) {
            s.fail(translate(e));
            s.relay.shutdown();
        }
    }

    /** One request's stream: engine callbacks handed, in order, to a thread that calls the handler. */
    private static final class Stream implements GenerationListener, StreamingHandle {
        final StreamingChatResponseHandler handler;
        final ExecutorService relay = Executors.newSingleThreadExecutor(Thread.ofVirtual().name("cottention-stream").factory());
        final AtomicBoolean cancelled = new AtomicBoolean(), failed = new AtomicBoolean();
        final PartialResponseContext context = new PartialResponseContext(this);
        volatile Generation gen;

        Stream(StreamingChatResponseHandler handler) {
            this.handler = handler;
        }

        @Override
        public void onText(int choice, String delta) {
            deliver(() -> handler.onPartialResponse(new PartialResponse(delta), context));
        }

        /** Runs a handler callback on the relay thread unless the stream was cancelled or failed; a throwing handler fails it. */
        void deliver(Runnable callback) {
            relay.execute(() -> {
                if (cancelled.get() || failed.get()) return;
                try {
                    callback.run();
                } catch (RuntimeException e) {
                    cancel();
                    if (failed.compareAndSet(false, true)) handler.onError(e);
                }
            });
        }

        void fail(Throwable t) {
            relay.execute(() -> {
                if (!cancelled.get() && failed.compareAndSet(false, true)) handler.onError(t);
            });
        }

        @Override
        public void cancel() {
            cancelled.set(true);
            Generation g = gen;
            if (g != null) g.cancel();
        }

        @Override
        public boolean isCancelled() {
            return cancelled.get();
        }
    }

    public static class Builder extends ChatModelBuilder<Builder> {
        public CottentionStreamingChatModel build() {
            return new CottentionStreamingChatModel(this);
        }
    }
}
