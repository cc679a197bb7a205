package org.cottention.langchain4j;

import org.cottention.kernels.Parallel;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;

import java.nio.file.Path;

/**
 * Builder options every Cottention model shares: where its engine comes from (a model folder, loaded once and
 * shared by every model built on that folder, or an engine the caller already has, e.g. the one a server runs on),
 * how the engine loads and schedules, and the compute threads.
 */
public abstract class CottentionModelBuilder<B extends CottentionModelBuilder<B>> {
    private Path modelPath;
    private InferenceEngine engine;
    private EngineConfig engineConfig = EngineConfig.defaults();
    private Integer threads;

    @SuppressWarnings("unchecked")
    B self() {
        return (B) this;
    }

    /** A model folder (HF layout: config.json, weights, tokenizer files; optional chat_template.json). */
    public B modelPath(Path modelPath) {
        this.modelPath = modelPath;
        return self();
    }

    public B modelPath(String modelPath) {
        return modelPath(Path.of(modelPath));
    }

    /** An engine already loaded (instead of {@link #modelPath}); the caller closes it. */
    public B engine(InferenceEngine engine) {
        this.engine = engine;
        return self();
    }

    /** How the engine loads (attention override, weight storage) and schedules (batch, queue, limits). */
    public B engineConfig(EngineConfig engineConfig) {
        this.engineConfig = engineConfig;
        return self();
    }

    /** Threads the kernels compute with (process-wide, as {@code --threads} is for a command; default all cores). */
    public B threads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        return self();
    }

    /** The shared engine for this builder's source, checked to be of the kind the model needs. */
    SharedEngine open(InferenceEngine.Kind kind, String model) {
        if ((modelPath == null) == (engine == null)) throw new IllegalArgumentException(model + ": set modelPath or engine (exactly one)");
        if (engineConfig == null) throw new IllegalArgumentException(model + ": engineConfig must not be null");
        if (threads != null) Parallel.setThreads(threads);
        SharedEngine s = engine != null ? SharedEngine.of(engine) : SharedEngine.acquire(modelPath, engineConfig);
        if (s.engine.kind() != kind) {
            s.release();
            throw new IllegalArgumentException(model + " needs " + (kind == InferenceEngine.Kind.CAUSAL ? "a causal language model (GPT-J family)"
                    : "an encoder model (BERT family)") + "; " + s.engine.name() + " is " + (kind == InferenceEngine.Kind.CAUSAL ? "an encoder" : "a causal LM"));
        }
        return s;
    }
}
