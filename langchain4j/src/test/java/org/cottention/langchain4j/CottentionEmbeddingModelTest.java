package org.cottention.langchain4j;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.document.loader.FileSystemDocumentLoader;
import dev.langchain4j.data.document.parser.TextDocumentParser;
import dev.langchain4j.data.document.splitter.DocumentSplitters;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.store.embedding.EmbeddingMatch;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.EmbeddingStoreIngestor;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import org.cottention.model.AttentionType;
import org.cottention.serve.InferenceEngine;
import org.cottention.testutil.Shared;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.*;

/** CottentionEmbeddingModel: the engine's vectors, long texts whole, and retrieval over a folder of documents. */
class CottentionEmbeddingModelTest {
    @TempDir
    static Path tmp;
    static CottentionEmbeddingModel model;

    @BeforeAll
    static void load() throws Exception {
        model = CottentionEmbeddingModel.builder().modelPath(TinyModels.bert(tmp.resolve("bert"), 3)).build();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void vectorsAreTheEnginesWithTheirDimensionAndUsage() {
        List<String> texts = List.of("Call me Ishmael.", "The whale breached beside the boat.");
        Response<List<Embedding>> r = model.embedAll(texts.stream().map(TextSegment::from).toList());
        InferenceEngine.Embeddings ref = model.engine().embed(texts, true);
        for (int i = 0; i < texts.size(); i++) assertArrayEquals(ref.vectors()[i], r.content().get(i).vector());
        assertEquals(32, model.dimension());
        assertEquals(32, r.content().getFirst().dimension());
        assertEquals(ref.tokens()[0] + ref.tokens()[1], r.tokenUsage().inputTokenCount());
        assertEquals(1.0, norm(r.content().get(1).vector()), 1e-5);
        assertEquals("bert", model.modelName());
    }

    @Test
    void aLongTextIsReadWholeInOnePass() throws Exception {
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        String text = moby.substring(100_000, 101_400);
        Response<Embedding> whole = model.embed(text);
        int positions = model.engine().contextLength();
        assertTrue(whole.tokenUsage().inputTokenCount() > 8 * positions,
                whole.tokenUsage().inputTokenCount() + " tokens read, " + positions + " trained positions");
        // every part counts: changing the last sentence changes the vector
        Embedding changed = model.embed(text.substring(0, text.length() - 200) + " And then the harpooneers all sang together.").content();
        assertTrue(cosine(whole.content().vector(), changed.vector()) < 1 - 1e-6, "the end of the text is part of its vector");
    }

    @Test
    void retrievalOverAFolderOfDocuments() throws Exception {
        // five documents on different topics, each a few paragraphs of the shared corpora
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt")), sotu = Files.readString(Shared.data("corpus", "sotu.txt"));
        Path docs = Files.createDirectories(tmp.resolve("docs"));
        String[] texts = {moby.substring(30_000, 32_000), moby.substring(400_000, 402_000), moby.substring(900_000, 902_000),
                sotu.substring(50_000, 52_000), sotu.substring(400_000, 402_000)};
        for (int i = 0; i < texts.length; i++) Files.writeString(docs.resolve("doc" + i + ".txt"), texts[i]);
        List<Document> documents = FileSystemDocumentLoader.loadDocuments(docs, new TextDocumentParser());
        assertEquals(texts.length, documents.size());
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        EmbeddingStoreIngestor.builder().documentSplitter(DocumentSplitters.recursive(600, 0)).embeddingModel(model).embeddingStore(store)
                .build().ingest(documents);
        int hits = 0, queries = 0;
        for (int i = 0; i < texts.length; i++) {
            for (int at : new int[]{300, 1200}) {
                // a sentence-sized piece of document i, as a question would quote it
                String query = texts[i].substring(at, at + 160);
                List<EmbeddingMatch<TextSegment>> m = store.search(EmbeddingSearchRequest.builder()
                        .queryEmbedding(model.embed(query).content()).maxResults(1).build()).matches();
                queries++;
                if (m.getFirst().embedded().metadata().getString("file_name").equals("doc" + i + ".txt")) hits++;
            }
        }
        assertTrue(hits >= queries - 1, hits + " of " + queries + " queries found their document");

        // retrieval-augmented AiServices: the chat model is prompted with the segment the question quotes
        List<ChatRequest> seen = new CopyOnWriteArrayList<>();
        ChatModelListener spy = new ChatModelListener() {
            @Override
            public void onRequest(ChatModelRequestContext c) {
                seen.add(c.chatRequest());
            }
        };
        try (CottentionChatModel chat = CottentionChatModel.builder().modelPath(TinyModels.gpt(tmp.resolve("gpt"), AttentionType.COSINE, 1))
                .temperature(0.0).maxTokens(4).listeners(List.of(spy)).build()) {
            Assistant a = AiServices.builder(Assistant.class).chatModel(chat)
                    .contentRetriever(EmbeddingStoreContentRetriever.builder().embeddingStore(store).embeddingModel(model).maxResults(1).build()).build();
            String question = texts[3].substring(300, 460);
            assertNotNull(a.chat(question));
            String prompt = ((UserMessage) seen.getLast().messages().getLast()).singleText();
            List<EmbeddingMatch<TextSegment>> best = store.search(EmbeddingSearchRequest.builder()
                    .queryEmbedding(model.embed(question).content()).maxResults(1).build()).matches();
            assertTrue(prompt.contains(best.getFirst().embedded().text()), "the retrieved segment is in the prompt:\n" + prompt);
            assertTrue(texts[3].contains(best.getFirst().embedded().text().substring(0, 100)));
        }
    }

    interface Assistant {
        String chat(String question);
    }

    static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += x * x;
        return Math.sqrt(s);
    }

    static double cosine(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d += a[i] * b[i];
        return d / (norm(a) * norm(b));
    }
}
