package org.cottention.cli;

import org.cottention.io.Checkpoint;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.ModelStore;
import org.cottention.model.WeightStorage;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code --model DIR} and how to read it: shared by generate, eval, forward, predict, embed (a picocli mixin). */
public final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder (HF layout: config.json, weights, tokenizer files).")
    public Path dir;

    @Option(names = "--attention", paramLabel = "TYPE", description = "Override the attention type: cosine or softmax (default: config, else detected from the weights).")
    public String attention;

    @picocli.CommandLine.Mixin
    public WeightsOption weights;

    @picocli.CommandLine.Mixin
    public GatingOptions gating;

    @Option(names = "--dtype", paramLabel = "TYPE", defaultValue = "f32",
            description = "Weights in memory: f32, or bf16 (half the memory; computes in f32; inference only) (default: ${DEFAULT-VALUE}).")
    public String dtype = "f32";

    @Option(names = "--mmap", description = "Read f32 weight matrices in place from the memory-mapped safetensors file (no heap copy; inference only).")
    public boolean mmap;

    public WeightStorage storage() {
        return WeightStorage.of(dtype, mmap);
    }

    public AttentionType attentionOverride() {
        return attention == null ? null : AttentionType.parse(attention);
    }

    public GptJ loadGptJ() throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException("model folder " + dir + " does not exist");
        return ModelStore.loadGptJ(dir, attentionOverride(), weights.format(), storage(), gating.gate(), gating.convSize());
    }

    public org.cottention.model.Bert loadBert() throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException("model folder " + dir + " does not exist");
        return ModelStore.loadBert(dir, attentionOverride(), weights.format(), storage());
    }

    /** The tokenizer beside the weights, or null when the folder has none (then only --ids input works). */
    public Tokenizer tokenizerOrNull() throws IOException {
        boolean any = Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isRegularFile(dir.resolve("vocab.json"))
                || Files.isRegularFile(dir.resolve("vocab.txt"));
        return any ? Tokenizers.load(dir) : null;
    }

    public Tokenizer tokenizer() throws IOException {
        Tokenizer t = tokenizerOrNull();
        if (t == null) throw new IOException("model folder " + dir + " has no tokenizer files (tokenizer.json, vocab.json + merges.txt, or vocab.txt)");
        return t;
    }

    /** model_type from config.json ("gptj", "bert", ...). */
    public String modelType() throws IOException {
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) throw new IOException("no config.json in " + dir);
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(cfg.toFile()).path("model_type").asText("gptj");
    }
}
