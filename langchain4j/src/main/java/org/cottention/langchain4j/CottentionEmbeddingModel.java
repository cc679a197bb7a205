package org.cottention.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.DimensionAwareEmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import org.cottention.serve.InferenceEngine;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A langchain4j embedding model on a Cottention encoder (BERT family) in-process: each text's mean-pooled last
 * hidden states ({@link InferenceEngine#embed}, the same path as {@code /v1/embeddings} and {@code embed}), unit
 * length by default. An encoder with rotary positions and cosine attention reads a long text whole, in one pass
 * with memory linear in its length (no chunking, no truncation); one with absolute positions truncates at
 * {@code max_position_embeddings}. Token usage counts every token read, [CLS] and [SEP] included.
 * <pre>{@code
 * EmbeddingModel model = CottentionEmbeddingModel.builder().modelPath("runs/encoder").build();
 * Embedding e = model.embed("a long document ...").content();
 * }</pre>
 */
public class CottentionEmbeddingModel extends DimensionAwareEmbeddingModel implements AutoCloseable {
    private final SharedEngine shared;
    private final boolean normalize;
    private final AtomicBoolean closed = new AtomicBoolean();

    private CottentionEmbeddingModel(Builder b) {
        this.shared = b.open(InferenceEngine.Kind.ENCODER, "CottentionEmbeddingModel");
        this.normalize = b.normalize;
        this.dimension = shared.engine.embeddingDimension();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        List<String> texts = new ArrayList<>(segments.size());
        for (TextSegment s : segments) texts.add(s.text());
        InferenceEngine.Embeddings out;
        try {
            out = shared.engine.embed(texts, normalize);
        } catch (RuntimeException e) {
            throw CottentionGenerativeModel.translate(e);
        }
        List<Embedding> embeddings = new ArrayList<>(texts.size());
        int tokens = 0;
        for (int i = 0; i < texts.size(); i++) {
            embeddings.add(Embedding.from(out.vectors()[i]));
            tokens += out.tokens()[i];
        }
        return Response.from(embeddings, new TokenUsage(tokens));
    }

    @Override
    protected Integer knownDimension() {
        return shared.engine.embeddingDimension();
    }

    @Override
    public String modelName() {
        return shared.engine.name();
    }

    /** The engine this model runs on (shared with every model built on the same folder). */
    public InferenceEngine engine() {
        return shared.engine;
    }

    /** Releases the engine (closed with the last model on it, unless the caller passed it in). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) shared.release();
    }

    public static class Builder extends CottentionModelBuilder<Builder> {
        private boolean normalize = true;

        /** Scale each vector to unit length (default true, as cosine similarity search expects). */
        public Builder normalize(boolean normalize) {
            this.normalize = normalize;
            return this;
        }

        public CottentionEmbeddingModel build() {
            return new CottentionEmbeddingModel(this);
        }
    }
}
