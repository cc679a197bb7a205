package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;

/**
 * GPT-J hyper-parameters with HF {@code GPTJConfig} field names, plus {@code attention_type} (cosine | softmax) and
 * the gated cosine attention options of math doc §8: {@code cosine_gate} (none | softplus) and {@code qkv_conv_size}
 * (0 = none, or the width w >= 2 of the q/k/v convolution), both off by default. Missing fields take HF's defaults,
 * except {@code attention_type}, which is null when absent (the loader decides it from the weights).
 */
public record GptJConfig(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead, int nInner, int rotaryDim,
                         float layerNormEpsilon, String activationFunction, boolean tieWordEmbeddings,
                         int bosTokenId, int eosTokenId, AttentionType attentionType, CosineGate cosineGate, int qkvConvSize) {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A config without the gated options (the paper's models). */
    public GptJConfig(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead, int nInner, int rotaryDim,
                      float layerNormEpsilon, String activationFunction, boolean tieWordEmbeddings,
                      int bosTokenId, int eosTokenId, AttentionType attentionType) {
        this(vocabSize, nPositions, nEmbd, nLayer, nHead, nInner, rotaryDim, layerNormEpsilon, activationFunction,
                tieWordEmbeddings, bosTokenId, eosTokenId, attentionType, CosineGate.NONE, 0);
    }

    public GptJConfig {
        if (cosineGate == null) cosineGate = CosineGate.NONE;
        if (qkvConvSize < 0 || qkvConvSize == 1)
            throw new IllegalArgumentException("qkv_conv_size must be 0 (no convolution) or a width >= 2, got " + qkvConvSize);
        if (attentionType == AttentionType.SOFTMAX && cosineGate != CosineGate.NONE)
            throw new IllegalArgumentException("cosine_gate \"" + cosineGate.configName() + "\" needs attention_type cosine, not softmax");
        if (attentionType == AttentionType.SOFTMAX && qkvConvSize != 0)
            throw new IllegalArgumentException("qkv_conv_size " + qkvConvSize + " needs attention_type cosine, not softmax");
        positive("vocab_size", vocabSize);
        positive("n_positions", nPositions);
        positive("n_embd", nEmbd);
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_inner", nInner);
        if (nEmbd % nHead != 0) throw new IllegalArgumentException("n_embd " + nEmbd + " is not divisible by n_head " + nHead);
        int hd = nEmbd / nHead;
        if (rotaryDim < 0 || rotaryDim > hd || rotaryDim % 2 != 0)
            throw new IllegalArgumentException("rotary_dim must be even and in [0, head dim " + hd + "], got " + rotaryDim);
        if (!(layerNormEpsilon > 0)) throw new IllegalArgumentException("layer_norm_epsilon must be > 0, got " + layerNormEpsilon);
        if (!activationFunction.equals("gelu_new"))
            throw new IllegalArgumentException("activation_function \"" + activationFunction + "\" is not supported (GPT-J uses gelu_new)");
        if (tieWordEmbeddings) throw new IllegalArgumentException("tie_word_embeddings=true is not supported for GPT-J (lm_head is untied)");
        if (bosTokenId < 0 || bosTokenId >= vocabSize || eosTokenId < 0 || eosTokenId >= vocabSize)
            throw new IllegalArgumentException("bos/eos token ids " + bosTokenId + "/" + eosTokenId + " outside vocab_size " + vocabSize);
    }

    static void positive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    /** A config for a new model with GPT-J's conventions. */
    public static GptJConfig of(int vocab, int context, int nEmbd, int nLayer, int nHead, int nInner, int rotaryDim, int eos, AttentionType attn) {
        return new GptJConfig(vocab, context, nEmbd, nLayer, nHead, nInner, rotaryDim, 1e-5f, "gelu_new", false, eos, eos, attn);
    }

    public GptJConfig withAttention(AttentionType a) {
        return new GptJConfig(vocabSize, nPositions, nEmbd, nLayer, nHead, nInner, rotaryDim, layerNormEpsilon,
                activationFunction, tieWordEmbeddings, bosTokenId, eosTokenId, a, cosineGate, qkvConvSize);
    }

    /** The same config with gated cosine attention's options (math doc §8). */
    public GptJConfig withGating(CosineGate gate, int convSize) {
        return new GptJConfig(vocabSize, nPositions, nEmbd, nLayer, nHead, nInner, rotaryDim, layerNormEpsilon,
                activationFunction, tieWordEmbeddings, bosTokenId, eosTokenId, attentionType, gate, convSize);
    }

    /** True with a decay gate or a q/k/v convolution. */
    public boolean gated() {
        return cosineGate != CosineGate.NONE || qkvConvSize > 0;
    }

    public static GptJConfig read(Path file) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return fromJson(n, file.toString());
    }

    static GptJConfig fromJson(JsonNode n, String where) {
        if (n.has("model_type") && !n.get("model_type").asText().equals("gptj"))
            throw new IllegalArgumentException(where + ": model_type is \"" + n.get("model_type").asText() + "\", expected \"gptj\"");
        int nEmbd = n.path("n_embd").asInt(4096);
        try {
            return new GptJConfig(n.path("vocab_size").asInt(50400), n.path("n_positions").asInt(2048), nEmbd,
                    n.path("n_layer").asInt(28), n.path("n_head").asInt(16),
                    n.hasNonNull("n_inner") ? n.get("n_inner").asInt() : 4 * nEmbd, n.path("rotary_dim").asInt(64),
                    (float) n.path("layer_norm_epsilon").asDouble(1e-5), n.path("activation_function").asText("gelu_new"),
                    n.path("tie_word_embeddings").asBoolean(false), n.path("bos_token_id").asInt(50256),
                    n.path("eos_token_id").asInt(50256),
                    n.hasNonNull("attention_type") ? AttentionType.parse(n.get("attention_type").asText()) : null,
                    n.hasNonNull("cosine_gate") ? CosineGate.parse(n.get("cosine_gate").asText()) : CosineGate.NONE,
                    convSize(n.get("qkv_conv_size")));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    private static int convSize(JsonNode n) {
        if (n == null || n.isNull()) return 0;
        if (!n.canConvertToInt() || !n.isIntegralNumber())
            throw new IllegalArgumentException("qkv_conv_size must be an integer, got " + n);
        return n.asInt();
    }

    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("GPTJForCausalLM");
        n.put("model_type", "gptj");
        n.put("attention_type", (attentionType == null ? AttentionType.COSINE : attentionType).configName());
        n.put("vocab_size", vocabSize);
        n.put("n_positions", nPositions);
        n.put("n_embd", nEmbd);
        n.put("n_layer", nLayer);
        n.put("n_head", nHead);
        n.put("n_inner", nInner);
        n.put("rotary_dim", rotaryDim);
        n.put("rotary", true);
        n.put("layer_norm_epsilon", layerNormEpsilon);
        n.put("activation_function", activationFunction);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("bos_token_id", bosTokenId);
        n.put("eos_token_id", eosTokenId);
        n.put("torch_dtype", "float32");
        if (gated()) { // written only when on, so a plain model's config stays as it was
            n.put("cosine_gate", cosineGate.configName());
            n.put("qkv_conv_size", qkvConvSize);
        }
        return n;
    }

    public void write(Path file) throws IOException {
        AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
    }
}
