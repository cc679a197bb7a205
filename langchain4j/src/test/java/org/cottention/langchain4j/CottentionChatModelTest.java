package org.cottention.langchain4j;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import org.cottention.model.AttentionType;
import org.cottention.serve.ChatTemplate;
import org.cottention.serve.Completion;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** CottentionChatModel and CottentionLanguageModel: parameters and metadata mapped as langchain4j defines them, AiServices, sessions. */
class CottentionChatModelTest {
    @TempDir
    static Path tmp;
    static Path dir;
    static CottentionChatModel greedy;

    @BeforeAll
    static void load() throws Exception {
        dir = TinyModels.gpt(tmp.resolve("gpt"), AttentionType.COSINE, 1);
        greedy = CottentionChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(12).threads(2).build();
        assertEquals(2, org.cottention.kernels.Parallel.threads());
    }

    @AfterAll
    static void close() {
        greedy.close();
    }

    /** What the engine answers for these messages rendered by the model's template (the reference). */
    static Completion direct(InferenceEngine e, List<ChatMessage> messages, SamplingParams p) {
        List<ChatTemplate.Message> ms = CottentionGenerativeModel.messages(messages);
        List<String> stop = new ArrayList<>(e.template().stop());
        stop.addAll(p.stop());
        return e.generate(InferenceEngine.Request.text(e.template().render(ms, true), null, p.withStop(stop), null));
    }

    @Test
    void answersAsTheEngineDoesWithUsageAndFinishReason() {
        List<ChatMessage> msgs = List.of(SystemMessage.from("You talk about whales."), UserMessage.from("Call me Ishmael."));
        ChatResponse r = greedy.chat(msgs);
        Completion ref = direct(greedy.engine(), msgs, SamplingParams.greedy(12));
        assertEquals(ref.choices().getFirst().text(), r.aiMessage().text());
        assertEquals(ref.promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(ref.completionTokens(), r.tokenUsage().outputTokenCount());
        assertEquals(ref.promptTokens() + ref.completionTokens(), r.tokenUsage().totalTokenCount());
        assertEquals(ref.choices().getFirst().finishReason().equals("length") ? FinishReason.LENGTH : FinishReason.STOP, r.finishReason());
        assertEquals(dir.getFileName().toString(), r.metadata().modelName());
        assertNotNull(r.metadata().id());
        CottentionChatResponseMetadata md = assertInstanceOf(CottentionChatResponseMetadata.class, r.metadata());
        assertNull(md.sessionId());
        assertEquals(0, md.cachedTokens());
    }

    @Test
    void requestParametersOverrideTheBuilderAndMapFaithfully() {
        UserMessage q = UserMessage.from("The whale");
        // maxOutputTokens: 3 tokens and LENGTH (unless the model ends its text first)
        ChatResponse r3 = greedy.chat(ChatRequest.builder().messages(q).maxOutputTokens(3).build());
        Completion ref3 = direct(greedy.engine(), List.of(q), SamplingParams.greedy(3));
        assertEquals(ref3.choices().getFirst().text(), r3.aiMessage().text());
        assertEquals(ref3.completionTokens(), r3.tokenUsage().outputTokenCount());
        assertTrue(r3.tokenUsage().outputTokenCount() <= 3);
        // stopSequences: cut before the first occurrence of a string the greedy answer contains
        ChatResponse full = greedy.chat(ChatRequest.builder().messages(q).maxOutputTokens(24).build());
        String text = full.aiMessage().text();
        assertTrue(text.length() >= 4, "the tiny model says something: '" + text + "'");
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        ChatResponse cut = greedy.chat(ChatRequest.builder().messages(q).maxOutputTokens(24).stopSequences(List.of(stop)).build());
        assertEquals(text.substring(0, text.indexOf(stop)), cut.aiMessage().text());
        assertEquals(FinishReason.STOP, cut.finishReason());
        // the builder's stop strings hold unless a request gives its own
        try (CottentionChatModel stopping = CottentionChatModel.builder().engine(greedy.engine()).temperature(0.0).stop(List.of(stop)).build()) {
            assertEquals(cut.aiMessage().text(), stopping.chat(ChatRequest.builder().messages(q).maxOutputTokens(24).build()).aiMessage().text());
        }
        // temperature, topP, seed: sampled, reproducible with a seed, the same as the engine with the same settings
        ChatRequestParameters sampled = CottentionChatRequestParameters.builder().temperature(1.2).topP(0.9).maxOutputTokens(16).seed(42L).build();
        ChatResponse a = greedy.chat(ChatRequest.builder().messages(q).parameters(sampled).build());
        ChatResponse b = greedy.chat(ChatRequest.builder().messages(q).parameters(sampled).build());
        assertEquals(a.aiMessage().text(), b.aiMessage().text());
        Completion ref = direct(greedy.engine(), List.of(q), new SamplingParams(1.2f, 0.9f, 0, 1f, 16, List.of(), 42L, 1, false));
        assertEquals(ref.choices().getFirst().text(), a.aiMessage().text());
        assertNotEquals(full.aiMessage().text(), a.aiMessage().text(), "temperature 1.2 is not greedy");
    }

    @Test
    void unsupportedAndInvalidRequestsAreRefusedClearly() {
        UserMessage q = UserMessage.from("hi");
        ToolSpecification tool = ToolSpecification.builder().name("weather").description("the weather").build();
        assertThrows(UnsupportedFeatureException.class, () -> greedy.chat(ChatRequest.builder().messages(q).toolSpecifications(tool).build()));
        assertThrows(UnsupportedFeatureException.class, () -> greedy.chat(ChatRequest.builder().messages(q).frequencyPenalty(0.5).build()));
        InvalidRequestException t = assertThrows(InvalidRequestException.class, () -> greedy.chat(ChatRequest.builder().messages(q).temperature(-1.0).build()));
        assertTrue(t.getMessage().contains("temperature"), t.getMessage());
        InvalidRequestException m = assertThrows(InvalidRequestException.class,
                () -> greedy.chat(ChatRequest.builder().messages(q).maxOutputTokens(1_000_000).build()));
        assertTrue(m.getMessage().contains("max_tokens"), m.getMessage());
        assertThrows(InvalidRequestException.class, () -> greedy.chat(ChatRequest.builder().messages(q).modelName("gpt-4o").build()));
        IllegalArgumentException enc = assertThrows(IllegalArgumentException.class, () -> CottentionEmbeddingModel.builder().modelPath(dir).build());
        assertTrue(enc.getMessage().contains("encoder"), enc.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CottentionChatModel.builder().modelPath(tmp.resolve("nowhere")).build());
    }

    @Test
    void modelsOnOneFolderShareOneEngine() {
        try (CottentionStreamingChatModel s = CottentionStreamingChatModel.builder().modelPath(dir).build();
             CottentionLanguageModel l = CottentionLanguageModel.builder().modelPath(dir.resolve(".")).build()) {
            assertSame(greedy.engine(), s.engine());
            assertSame(greedy.engine(), l.engine());
        }
        assertFalse(greedy.chat(UserMessage.from("still there?")).aiMessage().text() == null, "closing the others left the engine open");
    }

    interface Assistant {
        String chat(String message);
    }

    @Test
    void anAiServicesInterfaceAnswersFromOurModel() {
        Assistant assistant = AiServices.builder(Assistant.class).chatModel(greedy).build();
        String answer = assistant.chat("Who is Captain Ahab?");
        Completion ref = direct(greedy.engine(), List.of(UserMessage.from("Who is Captain Ahab?")), SamplingParams.greedy(12));
        assertEquals(ref.choices().getFirst().text(), answer);
    }

    @Test
    void aSessionWithChatMemoryPrefillsOnlyTheNewTokens() {
        try (CottentionChatModel model = CottentionChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(8).sessionId("ishmael").build()) {
            InferenceEngine e = model.engine();
            Assistant assistant = AiServices.builder(Assistant.class).chatModel(model).chatMemory(MessageWindowChatMemory.withMaxMessages(20)).build();
            String a1 = assistant.chat("Call me Ishmael.");
            long seen = model.session("ishmael").orElseThrow().tokens();
            InferenceEngine.Stats before = e.stats();
            String a2 = assistant.chat("Some years ago?");
            InferenceEngine.Stats after = e.stats();
            // the second turn had the first (prompt and answer) already: cached, not prefilled again
            assertEquals(seen, after.cachedTokens() - before.cachedTokens());
            long fresh = (after.promptTokens() - before.promptTokens()) - seen;
            long prefilled = after.prefillTokens() - before.prefillTokens();
            assertTrue(prefilled >= fresh && prefilled <= fresh + 8, "prefilled " + prefilled + " tokens for " + fresh + " new prompt tokens");
            // and the answer is what the whole conversation prompted at once gives: the first prompt's tokens, the first
            // answer's tokens as they were generated (re-tokenising their text may differ), the new text's tokens
            ChatTemplate t = e.template();
            List<ChatTemplate.Message> first = List.of(new ChatTemplate.Message("user", "Call me Ishmael."));
            String p1 = t.render(first, true);
            Completion c1 = direct(e, List.of(UserMessage.from("Call me Ishmael.")), SamplingParams.greedy(8));
            assertEquals(c1.choices().getFirst().text(), a1);
            List<ChatMessage> history = List.of(UserMessage.from("Call me Ishmael."), AiMessage.from(a1), UserMessage.from("Some years ago?"));
            String p2 = t.render(CottentionGenerativeModel.messages(history), true);
            int[] ids = java.util.stream.Stream.of(e.encode(p1), c1.choices().getFirst().ids(), e.encode(p2.substring(p1.length() + a1.length())))
                    .flatMapToInt(java.util.stream.IntStream::of).toArray();
            assertEquals(ids.length, after.promptTokens() - before.promptTokens());
            Completion oneShot = e.generate(InferenceEngine.Request.ids(ids, null, SamplingParams.greedy(8).withStop(t.stop()), null));
            assertEquals(oneShot.choices().getFirst().text(), a2);
        }
    }

    interface Users {
        String chat(@dev.langchain4j.service.MemoryId String user, @dev.langchain4j.service.UserMessage String message);
    }

    /** AiServices' @MemoryId selects the session: each user's second turn has that user's first one cached. */
    @Test
    void aMemoryIdIsASession() {
        try (CottentionChatModel model = CottentionChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(8).build()) {
            InferenceEngine e = model.engine();
            Users users = AiServices.builder(Users.class).chatModel(model)
                    .chatMemoryProvider(id -> MessageWindowChatMemory.withMaxMessages(20))
                    .chatRequestTransformer(CottentionChatRequestParameters.sessionPerMemoryId()).build();
            users.chat("ahab", "Call me Ishmael.");
            users.chat("starbuck", "The whale is white.");
            long ahab = model.session("ahab").orElseThrow().tokens(), starbuck = model.session("starbuck").orElseThrow().tokens();
            assertTrue(ahab > 0 && starbuck > 0 && ahab != starbuck, ahab + " / " + starbuck);
            for (String[] turn : new String[][]{{"ahab", "Some years ago?"}, {"starbuck", "And the sea?"}}) {
                long seen = model.session(turn[0]).orElseThrow().tokens();
                InferenceEngine.Stats before = e.stats();
                users.chat(turn[0], turn[1]);
                assertEquals(seen, e.stats().cachedTokens() - before.cachedTokens(), turn[0] + "'s first turn is cached");
            }
        }
    }

    @Test
    void sessionMetadataAndAFreshStartWhenTheHistoryDiffers() throws Exception {
        try (CottentionChatModel model = CottentionChatModel.builder().modelPath(dir).temperature(0.0).maxTokens(6).build()) {
            ChatRequestParameters s1 = CottentionChatRequestParameters.builder().sessionId("s1").build();
            UserMessage u1 = UserMessage.from("The sea");
            ChatResponse r1 = model.chat(ChatRequest.builder().messages(u1).parameters(s1).build());
            CottentionChatResponseMetadata m1 = (CottentionChatResponseMetadata) r1.metadata();
            assertEquals("s1", m1.sessionId());
            assertFalse(m1.sessionReset());
            assertEquals(0, m1.cachedTokens());
            assertEquals(r1.tokenUsage().inputTokenCount() + r1.tokenUsage().outputTokenCount(), m1.sessionTokens());
            assertEquals(model.session("s1").orElseThrow().stateBytes(), m1.sessionStateBytes());
            ChatResponse r2 = model.chat(ChatRequest.builder().messages(u1, r1.aiMessage(), UserMessage.from("and then")).parameters(s1).build());
            CottentionChatResponseMetadata m2 = (CottentionChatResponseMetadata) r2.metadata();
            assertFalse(m2.sessionReset());
            assertEquals(m1.sessionTokens().intValue(), m2.cachedTokens());
            assertEquals(m1.sessionStateBytes(), m2.sessionStateBytes(), "a cosine session's state does not grow");
            // another history under the same id: started afresh, and said so
            ChatResponse r3 = model.chat(ChatRequest.builder().messages(UserMessage.from("Something else")).parameters(s1).build());
            CottentionChatResponseMetadata m3 = (CottentionChatResponseMetadata) r3.metadata();
            assertTrue(m3.sessionReset());
            assertEquals(0, m3.cachedTokens());
            // saved as bytes (the same size at any length), restored in another id: it continues where it was
            byte[] state = model.engine().exportState(model.session("s1").orElseThrow());
            assertEquals(model.engine().stateSize(), state.length);
            assertTrue(model.forgetSession("s1"));
            assertTrue(model.session("s1").isEmpty());
            model.restoreSession("restored", state);
            ChatRequestParameters restored = CottentionChatRequestParameters.builder().sessionId("restored").build();
            ChatResponse r4 = model.chat(ChatRequest.builder().messages(UserMessage.from("Something else"), r3.aiMessage(), UserMessage.from("more"))
                    .parameters(restored).build());
            CottentionChatResponseMetadata m4 = (CottentionChatResponseMetadata) r4.metadata();
            assertFalse(m4.sessionReset());
            assertEquals(m3.sessionTokens().intValue(), m4.cachedTokens());
            state[state.length / 2] ^= 1;
            assertThrows(org.cottention.serve.StateFormatException.class, () -> model.restoreSession("bad", state));
        }
    }

    @Test
    void theLanguageModelCompletesPlainTextAndContinuesASession() {
        try (CottentionLanguageModel lm = CottentionLanguageModel.builder().modelPath(dir).temperature(0.0).maxTokens(6).sessionId("text").build()) {
            InferenceEngine e = lm.engine();
            String p1 = "Call me Ishmael.";
            var r1 = lm.generate(p1);
            Completion ref = e.generate(InferenceEngine.Request.text(p1, null, SamplingParams.greedy(6), null));
            assertEquals(ref.choices().getFirst().text(), r1.content());
            assertEquals(ref.promptTokens(), r1.tokenUsage().inputTokenCount());
            assertEquals(0, r1.metadata().get("cachedTokens"));
            var r2 = lm.generate(p1 + r1.content() + " Some years ago");
            assertEquals(false, r2.metadata().get("sessionReset"));
            assertEquals((long) (int) r2.metadata().get("cachedTokens"), (long) r1.metadata().get("sessionTokens"));
        }
    }
}
