package org.cottention.langchain4j;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** CottentionStreamingChatModel: a partial response per token, then the whole response; errors through onError; cancellation. */
class CottentionStreamingChatModelTest {
    @TempDir
    static Path tmp;
    static CottentionChatModel chat;
    static CottentionStreamingChatModel streaming;

    @BeforeAll
    static void load() throws Exception {
        Path dir = TinyModels.gpt(tmp.resolve("gpt"), org.cottention.model.AttentionType.COSINE, 1);
        chat = CottentionChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(16).build();
        streaming = CottentionStreamingChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(16).build();
    }

    @AfterAll
    static void close() {
        streaming.close();
        chat.close();
    }

    /** Collects one streamed request's callbacks. */
    static class Collector implements StreamingChatResponseHandler {
        final List<String> partials = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        volatile int callbacksAfterEnd;

        @Override
        public void onPartialResponse(String text) {
            if (done.isDone()) callbacksAfterEnd++;
            threads.add(Thread.currentThread());
            partials.add(text);
        }

        @Override
        public void onCompleteResponse(ChatResponse r) {
            if (!done.complete(r)) callbacksAfterEnd++;
        }

        @Override
        public void onError(Throwable t) {
            if (!done.completeExceptionally(t)) callbacksAfterEnd++;
        }

        ChatResponse get() throws Exception {
            return done.get(30, TimeUnit.SECONDS);
        }

        Throwable error() {
            try {
                done.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                return e.getCause();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            throw new AssertionError("expected onError, got a response");
        }
    }

    @Test
    void partialsPerTokenThenTheWholeResponse() throws Exception {
        UserMessage q = UserMessage.from("Call me Ishmael.");
        ChatResponse ref = chat.chat(q);
        Collector c = new Collector();
        streaming.chat(List.of(q), c);
        ChatResponse r = c.get();
        assertEquals(ref.aiMessage().text(), r.aiMessage().text());
        assertEquals(r.aiMessage().text(), String.join("", c.partials));
        assertTrue(c.partials.size() > 1 && c.partials.size() <= r.tokenUsage().outputTokenCount(),
                c.partials.size() + " partials for " + r.tokenUsage().outputTokenCount() + " tokens");
        assertEquals(ref.tokenUsage(), r.tokenUsage());
        assertEquals(ref.finishReason(), r.finishReason());
        assertInstanceOf(CottentionChatResponseMetadata.class, r.metadata());
        for (Thread t : c.threads) assertFalse(t.getName().startsWith("cottention-decoder"), "handlers never run on the decoding thread");
        assertEquals(0, c.callbacksAfterEnd);
    }

    @Test
    void errorsGoToOnErrorNotThrown() {
        Collector bad = new Collector();
        streaming.chat(ChatRequest.builder().messages(UserMessage.from("hi")).temperature(-2.0).build(), bad);
        assertInstanceOf(InvalidRequestException.class, bad.error());
        Collector tools = new Collector();
        streaming.chat(ChatRequest.builder().messages(UserMessage.from("hi")).toolSpecifications(
                dev.langchain4j.agent.tool.ToolSpecification.builder().name("t").build()).build(), tools);
        assertInstanceOf(UnsupportedFeatureException.class, tools.error());
        // a handler that throws: the generation stops and the handler hears of it once
        Collector throwing = new Collector() {
            @Override
            public void onPartialResponse(String text) {
                throw new IllegalStateException("handler broke");
            }
        };
        streaming.chat(List.of(UserMessage.from("The whale")), throwing);
        assertEquals("handler broke", throwing.error().getMessage());
    }

    @Test
    void cancellingFromThePartialResponseStopsTheGeneration() throws Exception {
        CompletableFuture<Void> cancelled = new CompletableFuture<>();
        List<String> seen = new CopyOnWriteArrayList<>();
        CompletableFuture<Object> end = new CompletableFuture<>();
        try (CottentionStreamingChatModel longer = CottentionStreamingChatModel.builder().engine(streaming.engine()).temperature(0.0).maxTokens(4000).build()) {
            long before = longer.engine().stats().generatedTokens();
            longer.chat(ChatRequest.builder().messages(UserMessage.from("The whale")).build(), new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                    seen.add(partial.text());
                    context.streamingHandle().cancel();
                    cancelled.complete(null);
                }

                @Override
                public void onCompleteResponse(ChatResponse r) {
                    end.complete(r);
                }

                @Override
                public void onError(Throwable t) {
                    end.complete(t);
                }
            });
            cancelled.get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (longer.engine().stats().active() > 0 && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(0, longer.engine().stats().active(), "the cancelled sequence left the batch");
            assertTrue(longer.engine().stats().generatedTokens() - before < 4000, "stopped before max tokens");
            Thread.sleep(50);
            assertFalse(end.isDone(), "no callbacks after cancel");
            assertEquals(1, seen.size());
        }
    }

    interface Assistant {
        TokenStream chat(String message);
    }

    @Test
    void anAiServicesTokenStream() throws Exception {
        Assistant a = AiServices.builder(Assistant.class).streamingChatModel(streaming).build();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        StringBuilder sb = new StringBuilder();
        a.chat("Call me Ishmael.").onPartialResponse(sb::append).onCompleteResponse(done::complete).onError(done::completeExceptionally).start();
        ChatResponse r = done.get(30, TimeUnit.SECONDS);
        assertEquals(chat.chat(UserMessage.from("Call me Ishmael.")).aiMessage().text(), r.aiMessage().text());
        assertEquals(r.aiMessage().text(), sb.toString());
    }
}
