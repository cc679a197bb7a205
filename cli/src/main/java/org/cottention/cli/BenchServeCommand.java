package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.server.CottentionServer;
import org.cottention.server.LoadTest;
import org.cottention.server.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.concurrent.Callable;

/** {@code cottention bench serve}: aggregate tokens/s and latency of the HTTP server against concurrent clients. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Starts the OpenAI-compatible server in process on a free loopback port and runs C clients sending greedy",
                "completions for --seconds at each level; every answer is checked against the prompt's answer alone.",
                "One JSON line per level (clients, tokensPerSec, p50Ms, p99Ms, failed, mismatched, duplicateIds, peakHeapMB);",
                "--state-at adds the session state's bytes after that many prefilled tokens."})
public final class BenchServeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--clients", split = ",", description = "Concurrent clients per level (default ${DEFAULT-VALUE}).")
    List<Integer> clients = List.of(1, 4, 16);

    @Option(names = "--seconds", description = "Duration of each level (default ${DEFAULT-VALUE}).")
    double seconds = 20;

    @Option(names = "--max-tokens", description = "Tokens per request (default ${DEFAULT-VALUE}).")
    int maxTokens = 32;

    @Option(names = "--prompts", description = "Distinct prompts (default ${DEFAULT-VALUE}).")
    int prompts = 64;

    @Option(names = "--state-at", split = ",", description = "Also report a session's state bytes after these prefilled token counts (e.g. 1024,65536).")
    List<Integer> stateAt = List.of();

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        ObjectMapper json = new ObjectMapper();
        int maxClients = clients.stream().mapToInt(Integer::intValue).max().orElse(1);
        try (InferenceEngine engine = InferenceEngine.load(model.dir, EngineConfig.defaults().withAttention(model.attentionOverride())
                .withStorage(model.storage()).withMaxBatch(Math.max(64, maxClients)).withMaxQueued(Math.max(256, 4 * maxClients)));
             CottentionServer server = new CottentionServer(engine, ServerConfig.local(0)).start()) {
            for (int t : stateAt) System.out.println(json.writeValueAsString(LoadTest.stateAt(engine, t, t)));
            List<String> ps = LoadTest.prompts(prompts);
            List<String> expected = LoadTest.expected(engine, ps, maxTokens);
            LoadTest.run(server.port(), 2, Math.min(5, seconds), maxTokens, ps, expected); // warm-up
            for (int c : clients) {
                var line = new java.util.LinkedHashMap<String, Object>();
                line.put("bench", "serve");
                line.put("model", engine.name());
                line.put("attention", engine.attention().name().toLowerCase());
                line.put("threads", threads.threads());
                line.put("maxTokens", maxTokens);
                line.putAll(json.convertValue(LoadTest.run(server.port(), c, seconds, maxTokens, ps, expected), java.util.Map.class));
                System.out.println(json.writeValueAsString(line));
            }
        }
        return 0;
    }
}
