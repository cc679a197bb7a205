package org.cottention.cli;

import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.server.CottentionServer;
import org.cottention.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.URI;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code cottention serve}: the OpenAI-compatible HTTP API with persistent, constant-size sessions. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve a model over an OpenAI-compatible HTTP API: /v1/completions, /v1/chat/completions, /v1/embeddings,",
                "/v1/models, /health, /metrics, and sessions (/v1/sessions/{id}) that keep a conversation's state between requests.",
                "All requests decode together in one batched recurrent step per token."})
public final class ServeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--host", description = "Address to listen on (default ${DEFAULT-VALUE}: this machine only).")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "Port (default ${DEFAULT-VALUE}; 0 = any free port).")
    int port = 8080;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Require Authorization: Bearer KEY on /v1 requests (default: $COTTENTION_API_KEY, else none).")
    String apiKey = System.getenv("COTTENTION_API_KEY");

    @Option(names = "--sessions", paramLabel = "DIR", description = "Keep sessions in this folder across restarts (atomic writes, checksummed).")
    Path sessions;

    @Option(names = "--session-store", paramLabel = "redis://HOST:PORT", description = "Keep sessions in Redis or Valkey, shared by every replica.")
    URI sessionStore;

    @Option(names = "--session-memory-mb", description = "Memory for sessions, an LRU (default ${DEFAULT-VALUE} MB).")
    long sessionMemoryMb = 1024;

    @Option(names = "--max-batch", description = "Sequences decoded together at most (default ${DEFAULT-VALUE}).")
    int maxBatch = 64;

    @Option(names = "--max-queue", description = "Requests waiting or running at most; more get 429 (default ${DEFAULT-VALUE}).")
    int maxQueue = 256;

    @Option(names = "--max-tokens-limit", description = "The largest max_tokens a request may ask for (default ${DEFAULT-VALUE}).")
    int maxTokensLimit = 16384;

    @Option(names = "--default-max-tokens", description = "max_tokens of a chat request that gives none (default ${DEFAULT-VALUE}).")
    int defaultMaxTokens = 512;

    @Option(names = "--max-body-kb", description = "Largest request body (default ${DEFAULT-VALUE} KB; 413 beyond).")
    int maxBodyKb = 4096;

    @Option(names = "--prefill-segment", description = "Prompt tokens per parallel prefill segment (default ${DEFAULT-VALUE}).")
    int segment = 512;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        EngineConfig ec = new EngineConfig(model.attentionOverride(), model.storage(), maxBatch, maxQueue, maxTokensLimit, segment, 2 * segment);
        ServerConfig sc = new ServerConfig(host, port, apiKey, sessions, sessionStore, Math.multiplyExact(maxBodyKb, 1024),
                sessionMemoryMb << 20, defaultMaxTokens);
        InferenceEngine engine = InferenceEngine.load(model.dir, ec);
        CottentionServer server = new CottentionServer(engine, sc).start();
        System.err.printf("cottention: serving %s (%s, %s attention) on http://%s:%d%n", engine.name(), engine.kind().name().toLowerCase(),
                engine.attention().name().toLowerCase(), host, server.port());
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            engine.close();
            stop.countDown();
        }));
        stop.await();
        return 0;
    }
}
