package org.cottention.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.serve.Session;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load against a running {@link CottentionServer} over loopback HTTP: C clients, each sending greedy completion
 * requests back to back for a fixed time. Every answer is checked against the prompt's answer when it ran alone
 * (lost, mixed up or duplicated responses are counted); reports aggregate tokens/s and latency percentiles.
 */
public final class LoadTest {
    private LoadTest() {}

    /** The result of one level of concurrency (the JSON line of `bench serve`). */
    public record Result(int clients, int requests, long completionTokens, double seconds, double tokensPerSec, double p50Ms,
                         double p99Ms, double maxMs, int failed, int mismatched, int duplicateIds, long peakHeapMB) {}

    /** Greedy prompts of the load: distinct texts, so a mixed-up answer shows. */
    public static List<String> prompts(int n) {
        String[] words = {"whale", "sea", "ship", "captain", "harpoon", "storm", "island", "sailor", "ocean", "night"};
        List<String> p = new ArrayList<>();
        for (int i = 0; i < n; i++) p.add("Request " + i + ": the " + words[i % words.length] + " and the " + words[(i * 7 + 3) % words.length]);
        return p;
    }

    /** Each prompt's greedy answer computed alone (one request at a time, in process). */
    public static List<String> expected(InferenceEngine engine, List<String> prompts, int maxTokens) {
        List<String> out = new ArrayList<>();
        for (String p : prompts)
            out.add(engine.generate(InferenceEngine.Request.text(p, null, greedy(maxTokens), null)).choices().get(0).text());
        return out;
    }

    static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0f, 1f, 0, 1f, maxTokens, List.of(), 0L, 1, true);
    }

    public static Result run(int port, int clients, double seconds, int maxTokens, List<String> prompts, List<String> expected) throws InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        Set<String> ids = ConcurrentHashMap.newKeySet();
        AtomicLong tokens = new AtomicLong(), failed = new AtomicLong(), mismatched = new AtomicLong(), duplicates = new AtomicLong(),
                peakHeap = new AtomicLong();
        long t0 = System.nanoTime(), end = t0 + (long) (seconds * 1e9);
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                Runtime rt = Runtime.getRuntime();
                peakHeap.accumulateAndGet(rt.totalMemory() - rt.freeMemory(), Math::max);
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < clients; c++) {
                final int client = c;
                pool.submit(() -> {
                    for (int k = 0; System.nanoTime() < end; k++) {
                        int i = (client * 31 + k) % prompts.size();
                        String body = "{\"prompt\": " + Http.JSON.valueToTree(prompts.get(i)) + ", \"max_tokens\": " + maxTokens
                                + ", \"temperature\": 0, \"ignore_eos\": true}";
                        long s = System.nanoTime();
                        try {
                            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                                    .timeout(Duration.ofSeconds(600)).POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                            latencies.add((System.nanoTime() - s) / 1e6);
                            if (r.statusCode() != 200) {
                                failed.incrementAndGet();
                                continue;
                            }
                            JsonNode j = Http.JSON.readTree(r.body());
                            if (!ids.add(j.get("id").asText())) duplicates.incrementAndGet();
                            if (!j.get("choices").get(0).get("text").asText().equals(expected.get(i))) mismatched.incrementAndGet();
                            tokens.addAndGet(j.get("usage").get("completion_tokens").asLong());
                        } catch (IOException | InterruptedException | RuntimeException e) {
                            failed.incrementAndGet();
                        }
                    }
                });
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        sampler.interrupt();
        double[] lat = latencies.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new Result(clients, lat.length, tokens.get(), secs, tokens.get() / secs, pct(lat, 0.5), pct(lat, 0.99),
                lat.length == 0 ? 0 : lat[lat.length - 1], (int) failed.get(), (int) mismatched.get(), (int) duplicates.get(), peakHeap.get() >> 20);
    }

    private static double pct(double[] sorted, double q) {
        if (sorted.length == 0) return 0;
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    /** A session's state bytes (in memory and exported) after prefilling {@code tokens} tokens, and the prefill time. */
    public static Map<String, Object> stateAt(InferenceEngine engine, int tokens, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int v = engine.tokenizer().vocabSize();
        int[] ids = new int[tokens];
        Arrays.setAll(ids, i -> r.nextInt(v));
        Session s = engine.newSession();
        long t0 = System.nanoTime();
        engine.generate(InferenceEngine.Request.ids(ids, s, greedy(1), null));
        double secs = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bench", "serve-state");
        m.put("attention", engine.attention().name().toLowerCase());
        m.put("tokens", s.tokens());
        m.put("stateBytes", s.stateBytes());
        m.put("exportedBytes", engine.attention() == org.cottention.model.AttentionType.COSINE ? (long) engine.exportState(s).length : -1L);
        m.put("prefillSeconds", secs);
        return m;
    }
}
