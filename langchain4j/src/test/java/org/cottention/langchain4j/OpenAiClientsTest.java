package org.cottention.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiChatResponseMetadata;
import dev.langchain4j.model.openai.OpenAiEmbeddingModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.service.AiServices;
import org.cottention.model.AttentionType;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.server.CottentionServer;
import org.cottention.server.ServerConfig;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * langchain4j's own OpenAI clients, unchanged, against {@code serve}'s server started in-process on a free loopback
 * port: their answers are those of our in-process models on the same engine.
 */
class OpenAiClientsTest {
    static final String KEY = "test-key";
    @TempDir
    static Path tmp;
    static InferenceEngine gpt, bert;
    static CottentionServer gptServer, bertServer;
    static CottentionChatModel local;

    @BeforeAll
    static void start() throws Exception {
        gpt = InferenceEngine.load(TinyModels.gpt(tmp.resolve("tiny"), AttentionType.COSINE, 1), EngineConfig.defaults());
        bert = InferenceEngine.load(TinyModels.bert(tmp.resolve("encoder"), 3), EngineConfig.defaults());
        gptServer = new CottentionServer(gpt, ServerConfig.local(0).withApiKey(KEY)).start();
        bertServer = new CottentionServer(bert, ServerConfig.local(0).withApiKey(KEY)).start();
        local = CottentionChatModel.builder().engine(gpt).temperature(0.0).maxTokens(12).build();
    }

    @AfterAll
    static void stop() {
        local.close();
        gptServer.close();
        bertServer.close();
        gpt.close();
        bert.close();
    }

    static String url(CottentionServer s) {
        return "http://127.0.0.1:" + s.port() + "/v1";
    }

    static OpenAiChatModel.OpenAiChatModelBuilder openAi() {
        return OpenAiChatModel.builder().baseUrl(url(gptServer)).apiKey(KEY).modelName("tiny").temperature(0.0).maxTokens(12);
    }

    @Test
    void openAiChatModelGetsOurModelsAnswer() {
        OpenAiChatModel client = openAi().build();
        List<dev.langchain4j.data.message.ChatMessage> msgs = List.of(SystemMessage.from("Be brief."), UserMessage.from("Call me Ishmael."));
        ChatResponse remote = client.chat(msgs), in = local.chat(msgs);
        assertEquals(in.aiMessage().text(), remote.aiMessage().text());
        assertEquals(in.tokenUsage().inputTokenCount(), remote.tokenUsage().inputTokenCount());
        assertEquals(in.tokenUsage().outputTokenCount(), remote.tokenUsage().outputTokenCount());
        assertEquals(in.finishReason(), remote.finishReason());
        assertEquals("tiny", remote.metadata().modelName());
        // stop sequences and max tokens as request parameters
        String text = remote.aiMessage().text();
        ChatResponse cut = client.chat(ChatRequest.builder().messages(msgs).stopSequences(List.of(text.substring(3, 5))).build());
        assertEquals(text.substring(0, text.indexOf(text.substring(3, 5))), cut.aiMessage().text());
        assertEquals(FinishReason.STOP, cut.finishReason());
        ChatResponse two = client.chat(ChatRequest.builder().messages(msgs).maxOutputTokens(2).build());
        assertEquals(local.chat(ChatRequest.builder().messages(msgs).maxOutputTokens(2).build()).aiMessage().text(), two.aiMessage().text());
        // an AiServices interface over the unchanged client
        interface Assistant {
            String chat(String m);
        }
        assertEquals(local.chat("Who is Ahab?"), AiServices.create(Assistant.class, client).chat("Who is Ahab?"));
    }

    @Test
    void aSessionHeaderContinuesTheConversationWithCachedTokens() {
        OpenAiChatModel client = openAi().customHeaders(Map.of("X-Session-Id", "openai-client")).build();
        UserMessage u1 = UserMessage.from("Call me Ishmael.");
        ChatResponse r1 = client.chat(u1);
        ChatResponse r2 = client.chat(u1, AiMessage.from(r1.aiMessage().text()), UserMessage.from("Some years ago?"));
        OpenAiChatResponseMetadata md = (OpenAiChatResponseMetadata) r2.metadata();
        assertEquals(r1.tokenUsage().inputTokenCount() + r1.tokenUsage().outputTokenCount(), md.tokenUsage().inputTokensDetails().cachedTokens(),
                "the first turn was not prefilled again");
        // the same conversation in-process, with a session of its own, says the same
        ChatRequest s = ChatRequest.builder().messages(u1).parameters(CottentionChatRequestParameters.builder().sessionId("twin").build()).build();
        ChatResponse l1 = local.chat(s);
        ChatResponse l2 = local.chat(ChatRequest.builder().messages(u1, l1.aiMessage(), UserMessage.from("Some years ago?")).parameters(s.parameters()).build());
        assertEquals(l2.aiMessage().text(), r2.aiMessage().text());
        assertEquals(((CottentionChatResponseMetadata) l2.metadata()).cachedTokens(), md.tokenUsage().inputTokensDetails().cachedTokens());
    }

    @Test
    void openAiStreamingChatModelStreamsOurTokens() throws Exception {
        OpenAiStreamingChatModel client = OpenAiStreamingChatModel.builder().baseUrl(url(gptServer)).apiKey(KEY).modelName("tiny")
                .temperature(0.0).maxTokens(12).build();
        CottentionStreamingChatModelTest.Collector c = new CottentionStreamingChatModelTest.Collector();
        client.chat("Call me Ishmael.", c);
        ChatResponse r = c.get();
        List<String> partials = c.partials;
        ChatResponse in = local.chat(UserMessage.from("Call me Ishmael."));
        assertEquals(in.aiMessage().text(), r.aiMessage().text());
        assertEquals(r.aiMessage().text(), String.join("", partials));
        assertTrue(partials.size() > 1, partials.toString());
        assertEquals(in.tokenUsage().outputTokenCount(), r.tokenUsage().outputTokenCount());
        assertEquals(in.finishReason(), r.finishReason());
    }

    @Test
    void openAiLanguageModelCompletesAsOurs() {
        OpenAiLanguageModel client = OpenAiLanguageModel.builder().baseUrl(url(gptServer)).apiKey(KEY).modelName("tiny").temperature(0.0).build();
        try (CottentionLanguageModel in = CottentionLanguageModel.builder().engine(gpt).temperature(0.0).maxTokens(16).build()) { // OpenAI's default
            Response<String> remote = client.generate("Call me Ishmael."), mine = in.generate("Call me Ishmael.");
            assertEquals(mine.content(), remote.content());
            assertEquals(mine.tokenUsage().inputTokenCount(), remote.tokenUsage().inputTokenCount());
            assertEquals(mine.tokenUsage().outputTokenCount(), remote.tokenUsage().outputTokenCount());
            assertEquals(mine.finishReason(), remote.finishReason());
        }
    }

    @Test
    void openAiEmbeddingModelGetsOurVectors() {
        OpenAiEmbeddingModel client = OpenAiEmbeddingModel.builder().baseUrl(url(bertServer)).apiKey(KEY).modelName("encoder").build();
        try (CottentionEmbeddingModel in = CottentionEmbeddingModel.builder().engine(bert).build()) {
            List<TextSegment> texts = List.of(TextSegment.from("Call me Ishmael."), TextSegment.from("The whale breached beside the boat."));
            Response<List<Embedding>> remote = client.embedAll(texts), mine = in.embedAll(texts);
            for (int i = 0; i < texts.size(); i++) assertArrayEquals(mine.content().get(i).vector(), remote.content().get(i).vector(), 1e-6f);
            assertEquals(mine.tokenUsage().inputTokenCount(), remote.tokenUsage().inputTokenCount());
            assertEquals(in.dimension(), client.dimension());
        }
    }

    @Test
    void withoutTheKeyTheClientIsRefused() {
        OpenAiChatModel client = OpenAiChatModel.builder().baseUrl(url(gptServer)).apiKey("wrong").modelName("tiny").maxRetries(0).build();
        assertThrows(AuthenticationException.class, () -> client.chat("hi"));
    }
}
