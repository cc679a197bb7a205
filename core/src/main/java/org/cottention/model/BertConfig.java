package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * BERT hyper-parameters with HF {@code BertConfig} field names, plus {@code attention_type} (cosine | softmax) and our
 * long-document extension {@code position_embedding_type: "rotary"} (rotary on q/k over {@code rotary_dim} dims of each
 * head, no position table, no length limit). A sequence-classification head is described by {@code id2label}
 * (labels in id order; empty: none) or, for regression, {@code problem_type: "regression"} (one output).
 */
public record BertConfig(int vocabSize, int hiddenSize, int numHiddenLayers, int numAttentionHeads, int intermediateSize,
                         int maxPositionEmbeddings, int typeVocabSize, float layerNormEps, String hiddenAct, int padTokenId,
                         AttentionType attentionType, boolean rotary, int rotaryDim, List<String> labels, boolean regression) {
    public BertConfig {
        GptJConfig.positive("vocab_size", vocabSize);
        GptJConfig.positive("hidden_size", hiddenSize);
        GptJConfig.positive("num_hidden_layers", numHiddenLayers);
        GptJConfig.positive("num_attention_heads", numAttentionHeads);
        GptJConfig.positive("intermediate_size", intermediateSize);
        GptJConfig.positive("max_position_embeddings", maxPositionEmbeddings);
        GptJConfig.positive("type_vocab_size", typeVocabSize);
        if (hiddenSize % numAttentionHeads != 0)
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numAttentionHeads);
        int hd = hiddenSize / numAttentionHeads;
        if (rotary && (rotaryDim < 2 || rotaryDim > hd || rotaryDim % 2 != 0))
            throw new IllegalArgumentException("rotary_dim must be even and in [2, head dim " + hd + "], got " + rotaryDim);
        if (!(layerNormEps > 0)) throw new IllegalArgumentException("layer_norm_eps must be > 0, got " + layerNormEps);
        if (!hiddenAct.equals("gelu"))
            throw new IllegalArgumentException("hidden_act \"" + hiddenAct + "\" is not supported (BERT uses exact \"gelu\")");
        if (padTokenId < 0 || padTokenId >= vocabSize) throw new IllegalArgumentException("pad_token_id " + padTokenId + " outside vocab_size " + vocabSize);
        labels = labels == null ? List.of() : List.copyOf(labels);
        if (regression && !labels.isEmpty()) throw new IllegalArgumentException("a regression config has no labels");
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Outputs of the sequence classification/regression head (0: none). */
    public int numLabels() {
        return regression ? 1 : labels.size();
    }

    /** A new model's config with BERT's conventions (eps 1e-12, 2 token types, pad id 0 unless given). */
    public static BertConfig of(int vocab, int hidden, int layers, int heads, int inner, int maxPositions, int padId,
                                AttentionType attn, boolean rotary) {
        return new BertConfig(vocab, hidden, layers, heads, inner, maxPositions, 2, 1e-12f, "gelu", padId, attn, rotary,
                hidden / heads, List.of(), false);
    }

    public BertConfig withAttention(AttentionType a) {
        return new BertConfig(vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings,
                typeVocabSize, layerNormEps, hiddenAct, padTokenId, a, rotary, rotaryDim, labels, regression);
    }

    /** The same encoder with a classification head over these labels (or a regression head when labels is null). */
    public BertConfig withTask(List<String> newLabels, boolean reg) {
        return new BertConfig(vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings,
                typeVocabSize, layerNormEps, hiddenAct, padTokenId, attentionType, rotary, rotaryDim, reg ? List.of() : newLabels, reg);
    }

    public static BertConfig read(Path file) throws IOException {
        JsonNode n;
        try {
            n = GptJConfig.JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return fromJson(n, file.toString());
    }

    static BertConfig fromJson(JsonNode n, String where) {
        if (n.has("model_type") && !n.get("model_type").asText().equals("bert"))
            throw new IllegalArgumentException(where + ": model_type is \"" + n.get("model_type").asText() + "\", expected \"bert\"");
        try {
            int hidden = n.path("hidden_size").asInt(768), heads = n.path("num_attention_heads").asInt(12);
            String pos = n.path("position_embedding_type").asText("absolute").toLowerCase(Locale.ROOT);
            if (!pos.equals("absolute") && !pos.equals("rotary"))
                throw new IllegalArgumentException("position_embedding_type \"" + pos + "\" is not supported (absolute or rotary)");
            List<String> labels = new ArrayList<>();
            boolean regression = n.path("problem_type").asText("").equals("regression");
            if (!regression && n.has("id2label") && n.path("num_labels").asInt(2) > 0 && n.has("label2id")) {
                Map<Integer, String> byId = new TreeMap<>();
                n.get("id2label").fields().forEachRemaining(e -> byId.put(Integer.parseInt(e.getKey()), e.getValue().asText()));
                for (int i = 0; i < byId.size(); i++) {
                    if (!byId.containsKey(i)) throw new IllegalArgumentException("id2label has no id " + i);
                    labels.add(byId.get(i));
                }
            }
            return new BertConfig(n.path("vocab_size").asInt(30522), hidden, n.path("num_hidden_layers").asInt(12), heads,
                    n.path("intermediate_size").asInt(4 * hidden), n.path("max_position_embeddings").asInt(512),
                    n.path("type_vocab_size").asInt(2), (float) n.path("layer_norm_eps").asDouble(1e-12),
                    n.path("hidden_act").asText("gelu"), n.path("pad_token_id").asInt(0),
                    n.hasNonNull("attention_type") ? AttentionType.parse(n.get("attention_type").asText()) : null,
                    pos.equals("rotary"), n.path("rotary_dim").asInt(hidden / heads), labels, regression);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    /** config.json; architectures names the heads the saved weights carry. */
    public ObjectNode toJson(String architecture) {
        ObjectNode n = GptJConfig.JSON.createObjectNode();
        n.putArray("architectures").add(architecture);
        n.put("model_type", "bert");
        n.put("attention_type", (attentionType == null ? AttentionType.COSINE : attentionType).configName());
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        n.put("num_hidden_layers", numHiddenLayers);
        n.put("num_attention_heads", numAttentionHeads);
        n.put("intermediate_size", intermediateSize);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("type_vocab_size", typeVocabSize);
        n.put("layer_norm_eps", layerNormEps);
        n.put("hidden_act", hiddenAct);
        n.put("pad_token_id", padTokenId);
        n.put("position_embedding_type", rotary ? "rotary" : "absolute");
        if (rotary) n.put("rotary_dim", rotaryDim);
        if (regression) {
            n.put("problem_type", "regression");
            n.put("num_labels", 1);
        } else if (!labels.isEmpty()) {
            n.put("problem_type", "single_label_classification");
            ObjectNode id2 = n.putObject("id2label"), l2i = n.putObject("label2id");
            for (int i = 0; i < labels.size(); i++) {
                id2.put(Integer.toString(i), labels.get(i));
                l2i.put(labels.get(i), i);
            }
        }
        n.put("torch_dtype", "float32");
        return n;
    }

    public void write(Path file, String architecture) throws IOException {
        AtomicFiles.writeString(file, GptJConfig.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(architecture)) + "\n");
    }
}
