package org.cottention.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.cottention.model.AttentionType;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.cottention.server.ServerTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

/** The HTTP API end to end on tiny models: shapes, streaming, errors, sessions and their persistence. */
class ServerTest {
    @TempDir
    static Path tmp;
    static Path cosineDir;
    static InferenceEngine engine;
    static CottentionServer server;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        cosineDir = TinyModels.gpt(tmp.resolve("tiny"), AttentionType.COSINE, 7);
        engine = InferenceEngine.load(cosineDir, EngineConfig.defaults());
        server = new CottentionServer(engine, ServerConfig.local(0).withSessionsDir(tmp.resolve("sessions"))).start();
        port = server.port();
    }

    @AfterAll
    static void stop() {
        server.close();
        engine.close();
    }

    static JsonNode ok(Reply r) {
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    static void error(Reply r, int status, String fragment) {
        assertEquals(status, r.status(), r.body());
        JsonNode e = r.json().get("error");
        assertNotNull(e, r.body());
        for (String f : new String[]{"message", "type", "code"}) assertTrue(e.has(f), "error lacks " + f + ": " + r.body());
        assertTrue(e.get("message").asText().contains(fragment), r.body());
    }

    @Test
    void modelsHealthAndMetrics() throws Exception {
        JsonNode models = ok(get(port, "/v1/models"));
        assertEquals("list", models.get("object").asText());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        assertEquals("model", models.get("data").get(0).get("object").asText());
        ok(get(port, "/v1/models/tiny"));
        error(get(port, "/v1/models/gpt-4"), 404, "does not exist");
        assertEquals("ok", ok(get(port, "/health")).get("status").asText());
        ok(post(port, "/v1/completions", completion(str("The whale"), 3, "")));
        Reply m = get(port, "/metrics");
        assertEquals(200, m.status());
        for (String name : new String[]{"cottention_requests_total{endpoint=\"/v1/completions\",status=\"200\"}", "cottention_prompt_tokens_total",
                "cottention_completion_tokens_total", "cottention_queue_depth", "cottention_sessions_active", "cottention_session_bytes"})
            assertTrue(m.body().contains(name), "metrics lack " + name + ":\n" + m.body());
    }

    @Test
    void chatAndCompletionShapes() throws Exception {
        JsonNode c = ok(post(port, "/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
                + " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hello\"}]}], \"max_tokens\": 5, \"temperature\": 0, \"n\": 2}"));
        assertTrue(c.get("id").asText().startsWith("chatcmpl-"));
        assertEquals("chat.completion", c.get("object").asText());
        assertTrue(c.get("created").asLong() > 1_600_000_000L);
        assertEquals("tiny", c.get("model").asText());
        assertEquals(2, c.get("choices").size());
        JsonNode ch = c.get("choices").get(1);
        assertEquals(1, ch.get("index").asInt());
        assertEquals("assistant", ch.get("message").get("role").asText());
        assertTrue(ch.get("message").has("content"));
        assertTrue(ch.has("logprobs") && ch.get("logprobs").isNull());
        assertTrue(List.of("stop", "length").contains(ch.get("finish_reason").asText()));
        JsonNode u = c.get("usage");
        assertEquals(u.get("prompt_tokens").asInt() + u.get("completion_tokens").asInt(), u.get("total_tokens").asInt());
        assertEquals(0, u.get("prompt_tokens_details").get("cached_tokens").asInt());
        assertEquals(engine.encode(engine.template().render(List.of(new org.cottention.serve.ChatTemplate.Message("system", "Be brief."),
                new org.cottention.serve.ChatTemplate.Message("user", "Hello")), true)).length, u.get("prompt_tokens").asInt());

        JsonNode t = ok(post(port, "/v1/completions", completion("[" + str("The whale") + ", " + str("Ahab") + "]", 4, "")));
        assertEquals("text_completion", t.get("object").asText());
        assertEquals(2, t.get("choices").size());
        assertEquals("length", t.get("choices").get(0).get("finish_reason").asText());
        assertEquals(8, t.get("usage").get("completion_tokens").asInt());
        // token ids as the prompt
        int[] ids = engine.encode("The whale");
        JsonNode byIds = ok(post(port, "/v1/completions", completion(java.util.Arrays.toString(ids), 4, "")));
        assertEquals(t.get("choices").get(0).get("text").asText(), byIds.get("choices").get(0).get("text").asText());
    }

    @Test
    void streamingSendsRoleDeltasFinishUsageAndDone() throws Exception {
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me\"}], \"max_tokens\": 6, \"temperature\": 0, \"ignore_eos\": true";
        String full = ok(post(port, "/v1/chat/completions", body + "}")).get("choices").get(0).get("message").get("content").asText();
        Reply r = post(port, "/v1/chat/completions", body + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
        assertEquals(200, r.status());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<String> ev = r.events();
        assertEquals("[DONE]", ev.getLast());
        JsonNode first = JSON.readTree(ev.get(0));
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String e : ev.subList(0, ev.size() - 1)) {
            JsonNode j = JSON.readTree(e);
            assertEquals(first.get("id").asText(), j.get("id").asText(), "one id for every chunk");
            if (j.get("choices").isEmpty()) {
                usage = j.get("usage");
                continue;
            }
            JsonNode c = j.get("choices").get(0);
            if (c.get("delta").has("content")) text.append(c.get("delta").get("content").asText());
            if (!c.get("finish_reason").isNull()) finish = c.get("finish_reason").asText();
        }
        assertEquals(full, text.toString(), "deltas add up to the non-streamed answer");
        assertEquals("length", finish);
        assertNotNull(usage, "a usage chunk with empty choices");
        assertEquals(6, usage.get("completion_tokens").asInt());

        Reply plain = post(port, "/v1/completions", completion(str("The whale"), 4, "\"stream\": true"));
        List<String> pe = plain.events();
        assertEquals("[DONE]", pe.getLast());
        assertEquals("text_completion", JSON.readTree(pe.get(0)).get("object").asText());
        for (String e : pe.subList(0, pe.size() - 1)) assertFalse(JSON.readTree(e).has("usage"), "no usage without include_usage");
    }

    @Test
    void badRequestsGetTheRightErrorAndTheServerKeepsServing() throws Exception {
        error(post(port, "/v1/completions", "{\"prompt\": \"x\", "), 400, "malformed JSON");
        error(post(port, "/v1/completions", new byte[]{'{', '"', 'p', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'}), 400, "UTF-8");
        error(post(port, "/v1/completions", "[1, 2]"), 400, "JSON object");
        error(post(port, "/v1/completions", "{\"prompt\": \"" + "x".repeat(5 << 20) + "\"}"), 413, "larger than");
        error(post(port, "/v1/completions", completion(str("x"), 1_000_000_000, "")), 400, "max_tokens");
        error(post(port, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": -1}"), 400, "max_tokens");
        error(post(port, "/v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}"), 400, "temperature");
        error(post(port, "/v1/completions", "{\"max_tokens\": 2}"), 400, "prompt");
        error(post(port, "/v1/completions", "{\"prompt\": \"x\", \"model\": \"gpt-4\"}"), 404, "does not exist");
        error(post(port, "/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}"), 400, "role");
        error(post(port, "/v1/embeddings", "{\"input\": \"x\"}"), 400, "causal");
        error(get(port, "/v1/sessions/nobody"), 404, "no session");
        error(delete(port, "/v1/sessions/nobody"), 404, "no session");
        error(get(port, "/v1/sessions/..%2F..%2Fetc%2Fpasswd"), 400, "invalid session id");
        error(post(port, "/v1/completions", completion(str("x"), 2, "\"session\": \"" + "a".repeat(200) + "\"")), 400, "invalid session id");
        error(post(port, "/v1/completions", completion(str("x"), 2, ""), "X-Session-Id", "../x"), 400, "invalid session id");
        error(get(port, "/v1/nothing"), 404, "Unknown request URL");
        error(get(port, "/v1/completions"), 405, "POST");
        assertEquals("ok", ok(get(port, "/health")).get("status").asText());
        ok(post(port, "/v1/completions", completion(str("still"), 2, "")));
    }

    @Test
    void aSessionContinuesAsOnePromptAndReportsCachedTokens() throws Exception {
        String p1 = "Call me Ishmael.";
        JsonNode a = ok(post(port, "/v1/completions", completion(str(p1), 6, "\"session\": \"talk-1\"")));
        JsonNode s1 = a.get("session");
        assertEquals("talk-1", s1.get("id").asText());
        assertFalse(s1.get("reset").asBoolean());
        String out1 = a.get("choices").get(0).get("text").asText();
        assertEquals(engine.encode(p1).length + 6, s1.get("tokens").asInt());
        String p2 = p1 + out1 + "\nUser: more";
        JsonNode b = ok(post(port, "/v1/completions", completion(str(p2), 6, ""), "X-Session-Id", "talk-1"));
        assertFalse(b.get("session").get("reset").asBoolean(), b.toString());
        assertEquals(s1.get("tokens").asInt(), b.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
        assertEquals(s1.get("stateBytes").asLong(), b.get("session").get("stateBytes").asLong(), "constant size");
        // the same as one request with the session's tokens and the new ones
        int[] gen1 = engine.encode(out1);
        JsonNode oneShot = ok(post(port, "/v1/completions", completion(ids(engine.encode(p1), a, engine.encode("\nUser: more")), 6, "")));
        assertEquals(oneShot.get("choices").get(0).get("text").asText(), b.get("choices").get(0).get("text").asText());
        assertTrue(gen1.length > 0);
        JsonNode info = ok(get(port, "/v1/sessions/talk-1"));
        assertEquals(b.get("session").get("tokens").asLong(), info.get("tokens").asLong());
        assertTrue(info.has("lastUsed") && info.has("stateBytes"));
        assertTrue(Files.isRegularFile(tmp.resolve("sessions").resolve("talk-1.state")));
        assertTrue(ok(delete(port, "/v1/sessions/talk-1")).get("deleted").asBoolean());
        error(get(port, "/v1/sessions/talk-1"), 404, "no session");
        assertFalse(Files.exists(tmp.resolve("sessions").resolve("talk-1.state")));
    }

    /** Token ids of a session's history: its first prompt, the completion's ids as generated, then the new part. */
    private static String ids(int[] prompt, JsonNode firstReply, int[] next) throws Exception {
        // the ids the model generated are those of a one-off request with the same prompt (greedy)
        int[] gen = generatedIds(prompt, firstReply.get("usage").get("completion_tokens").asInt());
        int[] all = new int[prompt.length + gen.length + next.length];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(gen, 0, all, prompt.length, gen.length);
        System.arraycopy(next, 0, all, prompt.length + gen.length, next.length);
        return java.util.Arrays.toString(all);
    }

    private static int[] generatedIds(int[] prompt, int n) {
        return engine.generate(InferenceEngine.Request.ids(prompt, null, new org.cottention.serve.SamplingParams(0f, 1f, 0, 1f, n, List.of(), 0L, 1, true), null))
                .choices().get(0).ids();
    }

    @Test
    void sessionsSurviveARestartAndBadFilesAreRefused() throws Exception {
        Path dir = tmp.resolve("restart");
        String p1 = "It was the best";
        JsonNode a, b;
        try (InferenceEngine e1 = InferenceEngine.load(cosineDir, EngineConfig.defaults());
             CottentionServer s1 = new CottentionServer(e1, ServerConfig.local(0).withSessionsDir(dir)).start()) {
            a = ok(post(s1.port(), "/v1/completions", completion(str(p1), 5, "\"session\": \"keep\"")));
            ok(post(s1.port(), "/v1/completions", completion(str(p1), 5, "\"session\": \"bad\"")));
            ok(post(s1.port(), "/v1/completions", completion(str(p1), 5, "\"session\": \"short\"")));
        }
        String p2 = p1 + a.get("choices").get(0).get("text").asText() + "\nUser: then";
        // what a server that never restarted answers
        ok(post(port, "/v1/completions", completion(str(p1), 5, "\"session\": \"ref\"")));
        JsonNode ref = ok(post(port, "/v1/completions", completion(str(p2), 5, "\"session\": \"ref\"")));
        byte[] good = Files.readAllBytes(dir.resolve("bad.state"));
        byte[] flipped = good.clone();
        flipped[200] ^= 0x10;
        Files.write(dir.resolve("bad.state"), flipped);
        Files.write(dir.resolve("short.state"), java.util.Arrays.copyOf(good, good.length / 2));
        Path otherDir = TinyModels.gpt(tmp.resolve("other"), AttentionType.COSINE, 99);
        try (InferenceEngine e2 = InferenceEngine.load(cosineDir, EngineConfig.defaults());
             CottentionServer s2 = new CottentionServer(e2, ServerConfig.local(0).withSessionsDir(dir)).start()) {
            b = ok(post(s2.port(), "/v1/completions", completion(str(p2), 5, "\"session\": \"keep\"")));
            assertFalse(b.get("session").get("reset").asBoolean(), b.toString());
            assertEquals(a.get("session").get("tokens").asInt(), b.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
            assertEquals(ref.get("choices").get(0).get("text").asText(), b.get("choices").get(0).get("text").asText(), "restart changes nothing");
            for (String id : new String[]{"bad", "short"}) {
                JsonNode r = ok(post(s2.port(), "/v1/completions", completion(str(p2), 5, "\"session\": \"" + id + "\"")));
                assertTrue(r.get("session").get("reset").asBoolean(), r.toString());
                assertTrue(r.get("session").get("warning").asText().contains(id.equals("bad") ? "corrupted" : "truncated"), r.toString());
                assertEquals(0, r.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
            }
        }
        // a state saved by another model
        try (InferenceEngine e3 = InferenceEngine.load(otherDir, EngineConfig.defaults());
             CottentionServer s3 = new CottentionServer(e3, ServerConfig.local(0).withSessionsDir(dir)).start()) {
            JsonNode r = ok(post(s3.port(), "/v1/completions", completion(str(p2), 5, "\"session\": \"keep\"")));
            assertTrue(r.get("session").get("warning").asText().contains("another model"), r.toString());
        }
    }

    @Test
    void stateExportAndImportOverHttp() throws Exception {
        String p1 = "Queequeg was";
        JsonNode a = ok(post(port, "/v1/completions", completion(str(p1), 4, "\"session\": \"src\"")));
        byte[] state = getBytes(port, "/v1/sessions/src/state");
        assertEquals(engine.stateSize(), state.length);
        JsonNode imported = ok(put(port, "/v1/sessions/copy/state", state));
        assertEquals(a.get("session").get("tokens").asLong(), imported.get("tokens").asLong());
        String p2 = p1 + a.get("choices").get(0).get("text").asText() + " and";
        JsonNode x = ok(post(port, "/v1/completions", completion(str(p2), 4, "\"session\": \"src\"")));
        JsonNode y = ok(post(port, "/v1/completions", completion(str(p2), 4, "\"session\": \"copy\"")));
        assertEquals(x.get("choices").get(0).get("text").asText(), y.get("choices").get(0).get("text").asText());
        assertFalse(y.get("session").get("reset").asBoolean());
        byte[] broken = state.clone();
        broken[broken.length - 10] ^= 1;
        error(put(port, "/v1/sessions/copy/state", broken), 400, "checksum");
        error(put(port, "/v1/sessions/copy/state", new byte[10]), 400, "truncated");
    }

    @Test
    void concurrentRequestsGetTheirOwnAnswers() throws Exception {
        String[] prompts = new String[12];
        String[] alone = new String[prompts.length];
        for (int i = 0; i < prompts.length; i++) {
            prompts[i] = "Prompt number " + i + " about the sea";
            alone[i] = ok(post(port, "/v1/completions", completion(str(prompts[i]), 8, ""))).get("choices").get(0).get("text").asText();
        }
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<String>> fs = new ArrayList<>();
            for (int rep = 0; rep < 3; rep++)
                for (String p : prompts)
                    fs.add(pool.submit((Callable<String>) () -> ok(post(port, "/v1/completions", completion(str(p), 8, ""))).get("choices").get(0).get("text").asText()));
            for (int i = 0; i < fs.size(); i++) assertEquals(alone[i % prompts.length], fs.get(i).get(), "request " + i);
        }
    }

    /** Sends POST /v1/completions over a raw socket (so the test can close it mid-answer); returns the response stream. */
    private static java.io.InputStream rawPost(java.net.Socket sock, String body) throws java.io.IOException {
        byte[] b = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        sock.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                + b.length + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        sock.getOutputStream().write(b);
        sock.getOutputStream().flush();
        return sock.getInputStream();
    }

    @Test
    void aStreamingClientThatDisconnectsStopsItsGeneration() throws Exception {
        long before = engine.stats().generatedTokens();
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", port)) {
            java.io.InputStream in = rawPost(sock, completion(str("The whale"), 10_000, "\"stream\": true"));
            byte[] buf = new byte[4096];
            int got = 0;
            while (got < 600) got += Math.max(0, in.read(buf)); // headers and the first chunks
        }
        for (int i = 0; i < 200 && engine.stats().active() > 0; i++) Thread.sleep(25);
        assertEquals(0, engine.stats().active(), "the generation left the batch");
        // the batch step that was running when the slot left may still count its tokens: let the counter settle
        long generated = engine.stats().generatedTokens() - before;
        for (int i = 0; i < 20; i++) {
            Thread.sleep(50);
            long now = engine.stats().generatedTokens() - before;
            if (now == generated) break;
            generated = now;
        }
        assertTrue(generated < 10_000, "stopped early: " + generated + " tokens");
        Thread.sleep(200);
        assertEquals(generated, engine.stats().generatedTokens() - before, "nothing more is generated");
    }

    /**
     * A non-streaming answer is committed (200, chunked) when the request is accepted, and a space is written per
     * decoded step; a client that closes its connection mid-generation makes a write fail, which cancels the sequence.
     */
    @Test
    void aNonStreamingClientThatDisconnectsStopsItsGeneration() throws Exception {
        long before = engine.stats().generatedTokens();
        long stepsAtClose;
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", port)) {
            java.io.InputStream in = rawPost(sock, completion(str("The whale"), 10_000, ""));
            StringBuilder head = new StringBuilder();
            while (!head.toString().contains("\r\n\r\n")) {
                int c = in.read();
                assertTrue(c >= 0, "headers arrive before the answer is complete: " + head);
                head.append((char) c);
            }
            assertTrue(head.toString().startsWith("HTTP/1.1 200"), head.toString());
            for (int i = 0; i < 40; i++) in.read(); // keep-alive whitespace while it generates
            assertTrue(engine.stats().active() > 0, "still generating");
            stepsAtClose = engine.stats().steps();
        }
        for (int i = 0; i < 200 && engine.stats().active() > 0; i++) Thread.sleep(25);
        assertEquals(0, engine.stats().active(), "the generation left the batch");
        long stepsAfter = engine.stats().steps() - stepsAtClose;
        long generated = engine.stats().generatedTokens() - before;
        System.out.println("non-streaming disconnect: the sequence left the batch " + stepsAfter + " steps after the close (" + generated + " tokens)");
        assertTrue(generated < 10_000, "stopped early: " + generated + " tokens");
        assertTrue(stepsAfter < 1000, "left within a few steps: " + stepsAfter);
        Thread.sleep(200);
        assertEquals(generated, engine.stats().generatedTokens() - before, "nothing more is generated");
        ok(post(port, "/v1/completions", completion(str("x"), 2, ""))); // and the server keeps serving
    }

    @Test
    void apiKeyAndFullQueue() throws Exception {
        try (InferenceEngine e = InferenceEngine.load(cosineDir, EngineConfig.defaults().withMaxQueued(1));
             CottentionServer s = new CottentionServer(e, ServerConfig.local(0).withApiKey("sekrit")).start()) {
            error(post(s.port(), "/v1/completions", completion(str("x"), 2, "")), 401, "API key");
            error(post(s.port(), "/v1/completions", completion(str("x"), 2, ""), "Authorization", "Bearer wrong"), 401, "API key");
            assertEquals(200, get(s.port(), "/health").status());
            // a long generation holds the only queue place; the next request is told to come back
            org.cottention.serve.Generation hold = e.submit(InferenceEngine.Request.text("long", null,
                    new org.cottention.serve.SamplingParams(0f, 1f, 0, 1f, 16_000, List.of(), 0L, 1, true), null));
            Reply busy = post(s.port(), "/v1/completions", completion(str("x"), 2, ""), "Authorization", "Bearer sekrit");
            hold.cancel();
            error(busy, 429, "retry");
            assertEquals("1", busy.headers().firstValue("Retry-After").orElse(null));
            hold.result().get();
            ok(post(s.port(), "/v1/completions", completion(str("x"), 2, ""), "Authorization", "Bearer sekrit"));
        }
    }

    @Test
    void softmaxModelsAndEncodersAreServedToo() throws Exception {
        Path soft = TinyModels.gpt(tmp.resolve("soft"), AttentionType.SOFTMAX, 3);
        try (InferenceEngine e = InferenceEngine.load(soft, EngineConfig.defaults());
             CottentionServer s = new CottentionServer(e, ServerConfig.local(0).withSessionsDir(tmp.resolve("soft-sessions"))).start()) {
            JsonNode a = ok(post(s.port(), "/v1/completions", completion(str("The whale"), 4, "\"session\": \"kv\"")));
            String p2 = "The whale" + a.get("choices").get(0).get("text").asText() + "\nUser: x";
            JsonNode b = ok(post(s.port(), "/v1/completions", completion(str(p2), 4, "\"session\": \"kv\"")));
            assertFalse(b.get("session").get("reset").asBoolean());
            assertTrue(b.get("session").get("stateBytes").asLong() > a.get("session").get("stateBytes").asLong(), "a KV cache grows");
            error(get(s.port(), "/v1/sessions/kv/state"), 400, "softmax");
            assertFalse(Files.exists(tmp.resolve("soft-sessions").resolve("kv.state")), "softmax sessions stay in memory");
        }
        Path bert = TinyModels.bert(tmp.resolve("bert"), 5);
        try (InferenceEngine e = InferenceEngine.load(bert, EngineConfig.defaults());
             CottentionServer s = new CottentionServer(e, ServerConfig.local(0)).start()) {
            JsonNode r = ok(post(s.port(), "/v1/embeddings", "{\"model\": \"bert\", \"input\": [\"the whale\", \"a ship at sea\"]}"));
            assertEquals("list", r.get("object").asText());
            assertEquals(2, r.get("data").size());
            JsonNode d = r.get("data").get(1);
            assertEquals("embedding", d.get("object").asText());
            assertEquals(1, d.get("index").asInt());
            assertEquals(32, d.get("embedding").size());
            double norm = 0;
            for (JsonNode x : d.get("embedding")) norm += x.asDouble() * x.asDouble();
            assertEquals(1.0, norm, 1e-4);
            assertTrue(r.get("usage").get("prompt_tokens").asInt() > 4);
            JsonNode b64 = ok(post(s.port(), "/v1/embeddings", "{\"input\": \"the whale\", \"encoding_format\": \"base64\"}"));
            byte[] raw = java.util.Base64.getDecoder().decode(b64.get("data").get(0).get("embedding").asText());
            assertEquals(4 * 32, raw.length);
            assertEquals((float) r.get("data").get(0).get("embedding").get(0).asDouble(),
                    java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN).getFloat(0), 1e-6);
            error(post(s.port(), "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}"), 400, "encoder");
        }
    }
}
