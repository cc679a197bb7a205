package org.cottention.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.cottention.serve.ChatTemplate;
import org.cottention.serve.Completion;
import org.cottention.serve.EngineException;
import org.cottention.serve.Generation;
import org.cottention.serve.GenerationListener;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.serve.Session;
import org.cottention.serve.StateFormatException;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The OpenAI-compatible HTTP API over one {@link InferenceEngine}: the JDK's HTTP server, one virtual thread per
 * request (they only parse, wait and write; decoding runs on the engine's thread, all requests in one batch).
 * <pre>
 *   POST /v1/completions, /v1/chat/completions   (causal models; "stream": true for server-sent events)
 *   POST /v1/embeddings                           (encoder models)
 *   GET  /v1/models, /v1/models/{id}, /health, /metrics (Prometheus text)
 *   GET|DELETE /v1/sessions/{id}, GET|PUT /v1/sessions/{id}/state
 * </pre>
 * Requests continue a session with {@code "session": "ID"} or the header {@code X-Session-Id}; see
 * {@link InferenceEngine} for how a prompt is matched against what the session has seen.
 */
public final class CottentionServer implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(CottentionServer.class);

    private final InferenceEngine engine;
    private final ServerConfig config;
    private final SessionManager sessions;
    private final SessionStore store;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final long started = System.currentTimeMillis() / 1000;
    private final Map<String, LongAdder> requestCounts = new ConcurrentHashMap<>();
    private final LongAdder completionTokens = new LongAdder(), embeddingTokens = new LongAdder();

    public CottentionServer(InferenceEngine engine, ServerConfig config) throws IOException {
        this.engine = engine;
        this.config = config;
        this.store = config.sessionsDir() != null ? new FileSessionStore(config.sessionsDir())
                : config.sessionStore() != null ? new RedisSessionStore(config.sessionStore()) : null;
        if (store != null && engine.kind() == InferenceEngine.Kind.CAUSAL && engine.attention() != org.cottention.model.AttentionType.COSINE)
            log.warn("{} uses softmax attention: its sessions (KV caches) stay in memory, {} is not used", engine.name(), store.describe());
        this.sessions = new SessionManager(engine, store, config.sessionBytes());
        http = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 256);
        http.setExecutor(executor);
        http.createContext("/", this::handle);
    }

    public CottentionServer start() {
        http.start();
        log.info("serving {} ({}, {} attention) on http://{}:{}, sessions in {}", engine.name(), engine.kind(), engine.attention(),
                config.host(), port(), sessions.storeDescription());
        return this;
    }

    public int port() {
        return http.getAddress().getPort();
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
        try {
            if (store != null) store.close();
        } catch (Exception e) {
            log.warn("closing the session store: {}", e.toString());
        }
    }

    // ------------------------------------------------------------------------------------------------ routing

    private void handle(HttpExchange ex) {
        String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
        String endpoint = endpoint(path);
        int status = 500;
        try {
            if (path.startsWith("/v1/") && config.apiKey() != null) {
                String auth = ex.getRequestHeaders().getFirst("Authorization");
                if (auth == null || !java.security.MessageDigest.isEqual(auth.getBytes(), ("Bearer " + config.apiKey()).getBytes()))
                    throw new ApiError(401, "invalid_request_error", "invalid_api_key", null,
                            auth == null ? "missing API key: send Authorization: Bearer KEY" : "incorrect API key");
            }
            status = route(ex, method, path);
        } catch (ApiError e) {
            status = e.status;
            reply(ex, e);
        } catch (EngineException.QueueFull e) {
            status = 429;
            reply(ex, new ApiError(429, "rate_limit_exceeded", "queue_full", null, e.getMessage(), "1"));
        } catch (EngineException.SessionBusy e) {
            status = 409;
            reply(ex, new ApiError(409, "invalid_request_error", "session_busy", "session", e.getMessage()));
        } catch (EngineException.Unsupported e) {
            status = 400;
            reply(ex, new ApiError(400, "invalid_request_error", "unsupported", "model", e.getMessage()));
        } catch (IllegalArgumentException e) {
            status = 400;
            reply(ex, ApiError.badRequest(null, e.getMessage()));
        } catch (IOException e) {
            status = 499; // the client went away, or the store failed
            log.debug("{} {}: {}", method, path, e.toString());
            reply(ex, new ApiError(500, "server_error", null, null, e.getMessage()));
        } catch (Throwable t) {
            status = 500;
            log.error("{} {} failed", method, path, t);
            reply(ex, new ApiError(500, "server_error", null, null, "internal error: " + t));
        } finally {
            requestCounts.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
            ex.close();
        }
    }

    private static void reply(HttpExchange ex, ApiError e) {
        try {
            if (e.retryAfter != null) ex.getResponseHeaders().set("Retry-After", e.retryAfter);
            Http.send(ex, e.status, Http.error(e));
        } catch (IOException | RuntimeException ignored) {
            // headers already sent (a stream failed half way) or the client left
        }
    }

    private static String endpoint(String path) {
        if (path.startsWith("/v1/sessions/")) return path.endsWith("/state") ? "/v1/sessions/{id}/state" : "/v1/sessions/{id}";
        if (path.startsWith("/v1/models/")) return "/v1/models/{id}";
        return switch (path) {
            case "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/models", "/health", "/metrics" -> path;
            default -> "other";
        };
    }

    private int route(HttpExchange ex, String method, String path) throws Exception {
        switch (path) {
            case "/v1/completions" -> {
                return generate(ex, requirePost(ex, method), false);
            }
            case "/v1/chat/completions" -> {
                return generate(ex, requirePost(ex, method), true);
            }
            case "/v1/embeddings" -> {
                return embeddings(ex, requirePost(ex, method));
            }
            case "/v1/models" -> {
                requireGet(method);
                ObjectNode list = Http.JSON.createObjectNode().put("object", "list");
                list.putArray("data").add(modelObject());
                Http.send(ex, 200, list);
                return 200;
            }
            case "/health" -> {
                requireGet(method);
                Http.send(ex, 200, Http.JSON.createObjectNode().put("status", "ok").put("model", engine.name())
                        .put("kind", engine.kind().name().toLowerCase()).put("attention", engine.attention().name().toLowerCase()));
                return 200;
            }
            case "/metrics" -> {
                requireGet(method);
                Http.sendBytes(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return 200;
            }
            default -> {
            }
        }
        if (path.startsWith("/v1/models/")) {
            requireGet(method);
            String id = path.substring("/v1/models/".length());
            if (!id.equals(engine.name())) throw ApiError.notFound("model_not_found", "The model '" + id + "' does not exist (this server has '" + engine.name() + "')");
            Http.send(ex, 200, modelObject());
            return 200;
        }
        if (path.startsWith("/v1/sessions/")) return sessionEndpoint(ex, method, path.substring("/v1/sessions/".length()));
        throw ApiError.notFound("unknown_url", "Unknown request URL: " + method + " " + path);
    }

    private void requireCausal() {
        if (engine.kind() != InferenceEngine.Kind.CAUSAL)
            throw new ApiError(400, "invalid_request_error", "unsupported", "model", "model " + engine.name() + " is an encoder: use /v1/embeddings");
    }

    private JsonNode requirePost(HttpExchange ex, String method) throws IOException {
        if (!method.equals("POST")) throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, "use POST");
        return Http.json(Http.body(ex, config.maxBodyBytes()));
    }

    private static void requireGet(String method) {
        if (!method.equals("GET")) throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, "use GET");
    }

    private ObjectNode modelObject() {
        return Http.JSON.createObjectNode().put("id", engine.name()).put("object", "model").put("created", started).put("owned_by", "cottention");
    }

    private void checkModel(JsonNode body) {
        JsonNode m = body.get("model");
        if (m != null && !m.isNull() && !m.asText().equals(engine.name()))
            throw ApiError.notFound("model_not_found", "The model '" + m.asText() + "' does not exist (this server has '" + engine.name() + "')");
    }

    // ------------------------------------------------------------------------------------------------ generation

    /** What a request asks for, after validation. */
    private record Prompt(String text, int[] ids) {
        InferenceEngine.Request request(Session session, SamplingParams p, GenerationListener l) {
            return text != null ? InferenceEngine.Request.text(text, session, p, l) : InferenceEngine.Request.ids(ids, session, p, l);
        }

        String echo(InferenceEngine e) {
            return text != null ? text : e.decode(ids);
        }
    }

    private record GenRequest(List<Prompt> prompts, SamplingParams params, String sessionId, boolean stream, boolean includeUsage, boolean echo) {}

    private GenRequest parseGeneration(HttpExchange ex, JsonNode b, boolean chat) {
        checkModel(b);
        requireCausal();
        List<Prompt> prompts = new ArrayList<>();
        if (chat) {
            JsonNode msgs = b.get("messages");
            if (msgs == null || !msgs.isArray() || msgs.isEmpty()) throw ApiError.badRequest("messages", "messages must be a non-empty array");
            List<ChatTemplate.Message> list = new ArrayList<>();
            for (JsonNode m : msgs) {
                if (!m.isObject() || !m.path("role").isTextual()) throw ApiError.badRequest("messages", "each message needs a role and content");
                list.add(new ChatTemplate.Message(m.get("role").asText(), content(m.get("content"))));
            }
            try {
                prompts.add(new Prompt(engine.template().render(list, true), null));
            } catch (IllegalArgumentException e) {
                throw ApiError.badRequest("messages", e.getMessage());
            }
        } else {
            JsonNode p = b.get("prompt");
            if (p == null || p.isNull()) throw ApiError.badRequest("prompt", "prompt is required");
            if (p.isTextual()) prompts.add(new Prompt(p.asText(), null));
            else if (p.isArray() && !p.isEmpty() && p.get(0).isTextual()) {
                for (JsonNode x : p) {
                    if (!x.isTextual()) throw ApiError.badRequest("prompt", "prompt must be a string, an array of strings, or token ids");
                    prompts.add(new Prompt(x.asText(), null));
                }
            } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
                int[] ids = new int[p.size()];
                for (int i = 0; i < ids.length; i++) {
                    if (!p.get(i).isIntegralNumber()) throw ApiError.badRequest("prompt", "token ids must be integers");
                    ids[i] = p.get(i).asInt();
                    if (ids[i] < 0 || ids[i] >= engine.tokenizer().vocabSize()) throw ApiError.badRequest("prompt", "token id " + ids[i] + " is outside the vocabulary");
                }
                prompts.add(new Prompt(null, ids));
            } else throw ApiError.badRequest("prompt", "prompt must be a string, an array of strings, or an array of token ids");
        }
        int maxTokens = intField(b, chat && b.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
                chat ? config.defaultMaxTokens() : 16, 0, Integer.MAX_VALUE);
        if (maxTokens > engine.config().maxNewTokens())
            throw ApiError.badRequest("max_tokens", "max_tokens " + maxTokens + " is more than this server allows (" + engine.config().maxNewTokens() + ")");
        float temperature = floatField(b, "temperature", 1f, 0f, 2f);
        float topP = floatField(b, "top_p", 1f, 0f, 1f);
        if (topP == 0f) throw ApiError.badRequest("top_p", "top_p must be > 0");
        int topK = intField(b, "top_k", 0, 0, Integer.MAX_VALUE);
        float rep = floatField(b, "repetition_penalty", 1f, 0.01f, 100f);
        int n = intField(b, "n", 1, 1, 128);
        Long seed = b.hasNonNull("seed") ? (b.get("seed").isIntegralNumber() ? b.get("seed").asLong() : badType("seed", "an integer")) : null;
        List<String> stop = new ArrayList<>();
        JsonNode st = b.get("stop");
        if (st != null && !st.isNull()) {
            if (st.isTextual()) stop.add(st.asText());
            else if (st.isArray() && st.size() <= 16) for (JsonNode s : st) {
                if (!s.isTextual() || s.asText().isEmpty()) throw ApiError.badRequest("stop", "stop strings must be non-empty strings");
                stop.add(s.asText());
            }
            else throw ApiError.badRequest("stop", "stop must be a string or an array of at most 16 strings");
            for (String s : stop) if (s.isEmpty()) throw ApiError.badRequest("stop", "stop strings must not be empty");
        }
        if (chat) for (String s : engine.template().stop()) if (!stop.contains(s)) stop.add(s);
        JsonNode lp = b.get("logprobs");
        if (lp != null && !lp.isNull() && !(lp.isBoolean() && !lp.asBoolean()) && !(lp.isNumber() && lp.asInt() == 0))
            throw ApiError.badRequest("logprobs", "logprobs are not supported by this server");
        boolean stream = boolField(b, "stream");
        boolean includeUsage = stream && b.path("stream_options").path("include_usage").asBoolean(false);
        boolean echo = !chat && boolField(b, "echo");
        String sid = b.hasNonNull("session") ? b.get("session").asText() : ex.getRequestHeaders().getFirst("X-Session-Id");
        if (sid != null) {
            SessionManager.checkId(sid);
            if (prompts.size() > 1) throw ApiError.badRequest("session", "a session request has one prompt");
        }
        boolean ignoreEos = boolField(b, "ignore_eos");
        SamplingParams params;
        try {
            params = new SamplingParams(temperature, topP, topK, rep, maxTokens, stop, seed, n, ignoreEos);
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest(null, e.getMessage());
        }
        return new GenRequest(prompts, params, sid, stream, includeUsage, echo);
    }

    private static String content(JsonNode c) {
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                if (!"text".equals(part.path("type").asText())) throw ApiError.badRequest("messages", "only text content parts are supported");
                sb.append(part.path("text").asText());
            }
            return sb.toString();
        }
        throw ApiError.badRequest("messages", "message content must be a string or an array of text parts");
    }

    private static <T> T badType(String field, String what) {
        throw ApiError.badRequest(field, field + " must be " + what);
    }

    private static int intField(JsonNode b, String f, int def, int min, int max) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return def;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiError.badRequest(f, f + " must be an integer");
        int x = v.asInt();
        if (x < min || x > max) throw ApiError.badRequest(f, f + " must be in [" + min + ", " + max + "], got " + x);
        return x;
    }

    private static float floatField(JsonNode b, String f, float def, float min, float max) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return def;
        if (!v.isNumber()) throw ApiError.badRequest(f, f + " must be a number");
        double x = v.asDouble();
        if (!(x >= min && x <= max)) throw ApiError.badRequest(f, f + " must be in [" + min + ", " + max + "], got " + x);
        return (float) x;
    }

    private static boolean boolField(JsonNode b, String f) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return false;
        if (!v.isBoolean()) throw ApiError.badRequest(f, f + " must be true or false");
        return v.asBoolean();
    }

    /** An event of a streaming request, from the decoding thread to the request's thread. */
    private record Event(int choice, String text, int gen, Completion done, Throwable failed) {}

    private int generate(HttpExchange ex, JsonNode body, boolean chat) throws Exception {
        GenRequest r = parseGeneration(ex, body, chat);
        SessionManager.Lookup lk = r.sessionId() != null ? sessions.open(r.sessionId()) : null;
        String id = (chat ? "chatcmpl-" : "cmpl-") + java.util.UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        int n = r.params().n();
        LinkedBlockingQueue<Event> events = r.stream() ? new LinkedBlockingQueue<>() : null;
        Semaphore steps = new Semaphore(0); // non-streaming: one permit per decoded text delta
        List<Generation> gens = new ArrayList<>();
        try {
            for (int p = 0; p < r.prompts().size(); p++) {
                final int base = p * n;
                GenerationListener l = events == null ? (c, d) -> steps.release() : (c, d) -> events.add(new Event(base + c, d, -1, null, null));
                gens.add(engine.submit(r.prompts().get(p).request(lk == null ? null : lk.entry().session, r.params(), l)));
            }
        } catch (RuntimeException e) {
            gens.forEach(Generation::cancel);
            throw e;
        }
        if (events != null) return stream(ex, r, chat, id, created, gens, events, lk);
        OutputStream out = commit(ex);
        if (!keepAliveUntilDone(out, gens, steps)) {
            for (Generation g : gens) g.result().handle((c, t) -> c).join(); // the cancelled rows have left the batch
            afterSession(lk);
            return 499;
        }
        List<Completion> results = new ArrayList<>();
        try {
            for (Generation g : gens) results.add(await(g));
        } catch (Exception e) {
            afterSession(lk);
            log.error("generation failed after the response was committed", e);
            writeBody(out, Http.error(new ApiError(500, "server_error", null, null, "internal error: " + e)));
            return 500;
        }
        afterSession(lk);
        ObjectNode resp = Http.JSON.createObjectNode().put("id", id).put("object", chat ? "chat.completion" : "text_completion")
                .put("created", created).put("model", engine.name());
        ArrayNode choices = resp.putArray("choices");
        int k = 0;
        for (int p = 0; p < results.size(); p++) {
            for (Completion.Choice c : results.get(p).choices()) {
                ObjectNode ch = choices.addObject().put("index", k++);
                String text = (r.echo() ? r.prompts().get(p).echo(engine) : "") + c.text();
                if (chat) ch.putObject("message").put("role", "assistant").put("content", text);
                else ch.put("text", text);
                ch.putNull("logprobs");
                ch.put("finish_reason", finishReason(c.finishReason()));
            }
        }
        resp.set("usage", usage(results));
        if (lk != null) resp.set("session", sessionInfo(lk, results.get(0)));
        writeBody(out, resp);
        return 200;
    }

    /**
     * A non-streaming answer is committed as soon as the request is accepted (validated and queued): 200 with a
     * chunked JSON body. The JDK server gives no signal when a client goes away, only a failed write; so while the
     * answer is being generated, one space (JSON-legal whitespace before the object) is written after every decoded
     * step, and a client that disconnected makes the second write at the latest fail.
     */
    private static OutputStream commit(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, 0);
        return ex.getResponseBody();
    }

    /**
     * Waits for every generation, writing a space per decoded step (and every 100 ms while queued or prefilling).
     * Returns false, with the generations cancelled (they leave the batch at the next step), when a write failed.
     */
    private static boolean keepAliveUntilDone(OutputStream out, List<Generation> gens, Semaphore steps) throws InterruptedException {
        CompletableFuture<Void> all = CompletableFuture.allOf(gens.stream().map(Generation::result).toArray(CompletableFuture[]::new));
        while (!all.isDone()) {
            steps.tryAcquire(100, TimeUnit.MILLISECONDS);
            steps.drainPermits();
            if (all.isDone()) break;
            try {
                out.write(' ');
                out.flush();
            } catch (IOException e) {
                gens.forEach(Generation::cancel);
                return false;
            }
        }
        return true;
    }

    private static void writeBody(OutputStream out, JsonNode body) throws IOException {
        try (out) {
            out.write(Http.JSON.writeValueAsBytes(body));
        }
    }

    private static String finishReason(String r) {
        return "length".equals(r) ? "length" : "stop";
    }

    private Completion await(Generation g) throws Exception {
        try {
            return g.result().get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception c) throw c;
            throw e;
        }
    }

    private void afterSession(SessionManager.Lookup lk) {
        if (lk == null) return;
        try {
            sessions.saved(lk.entry());
        } catch (IOException | RuntimeException e) {
            log.error("saving session {} failed: {}", lk.entry().id, e.toString());
        }
    }

    private ObjectNode usage(List<Completion> results) {
        int prompt = 0, completion = 0, cached = 0;
        for (Completion c : results) {
            prompt += c.promptTokens();
            completion += c.completionTokens();
            cached += c.cachedTokens();
        }
        completionTokens.add(completion);
        ObjectNode u = Http.JSON.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
        u.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return u;
    }

    private ObjectNode sessionInfo(SessionManager.Lookup lk, Completion c) {
        Completion.SessionInfo s = c.session();
        ObjectNode o = Http.JSON.createObjectNode().put("id", lk.entry().id).put("tokens", s.tokens()).put("stateBytes", s.stateBytes())
                .put("reset", s.reset() || lk.warning() != null);
        if (lk.warning() != null) o.put("warning", lk.warning());
        return o;
    }

    /** Server-sent events: a role delta per choice (chat), content deltas, finish chunks, optional usage, [DONE]. */
    private int stream(HttpExchange ex, GenRequest r, boolean chat, String id, long created, List<Generation> gens,
                       LinkedBlockingQueue<Event> events, SessionManager.Lookup lk) throws Exception {
        int choices = r.prompts().size() * r.params().n();
        for (int i = 0; i < gens.size(); i++) {
            final int gi = i;
            gens.get(i).result().whenComplete((c, t) -> events.add(new Event(-1, null, gi, c, t == null ? null : t)));
        }
        Http.Events sse = new Http.Events(ex);
        boolean open = true;
        Completion[] done = new Completion[gens.size()];
        int finished = 0;
        Throwable failure = null;
        try {
            for (int c = 0; c < choices && open; c++) {
                ObjectNode chunk = chunk(chat, id, created, r);
                ObjectNode ch = ((ArrayNode) chunk.get("choices")).addObject().put("index", c);
                if (chat) ch.putObject("delta").put("role", "assistant").put("content", "");
                else ch.put("text", r.echo() ? r.prompts().get(c / r.params().n()).echo(engine) : "");
                ch.putNull("logprobs");
                ch.putNull("finish_reason");
                open = send(sse, chunk, gens);
            }
            while (finished < gens.size()) {
                Event e = events.take();
                if (e.gen() >= 0) {
                    finished++;
                    done[e.gen()] = e.done();
                    if (e.failed() != null) failure = e.failed();
                    continue;
                }
                if (!open) continue;
                ObjectNode chunk = chunk(chat, id, created, r);
                ObjectNode ch = ((ArrayNode) chunk.get("choices")).addObject().put("index", e.choice());
                if (chat) ch.putObject("delta").put("content", e.text());
                else ch.put("text", e.text());
                ch.putNull("logprobs");
                ch.putNull("finish_reason");
                open = send(sse, chunk, gens);
            }
            afterSession(lk);
            if (failure != null) {
                if (open) sse.send(Http.error(new ApiError(500, "server_error", null, null, String.valueOf(failure.getMessage()))));
                return 200;
            }
            if (!open) return 499;
            List<Completion> results = List.of(done);
            int k = 0;
            ObjectNode last = null;
            for (Completion res : results) {
                for (Completion.Choice c : res.choices()) {
                    ObjectNode chunk = chunk(chat, id, created, r);
                    ObjectNode ch = ((ArrayNode) chunk.get("choices")).addObject().put("index", k++);
                    if (chat) ch.putObject("delta");
                    else ch.put("text", "");
                    ch.putNull("logprobs");
                    ch.put("finish_reason", finishReason(c.finishReason()));
                    if (last != null) sse.send(last);
                    last = chunk;
                }
            }
            ObjectNode usage = usage(results);
            if (r.includeUsage()) {
                sse.send(last);
                last = chunk(chat, id, created, r);
                last.set("usage", usage);
            }
            if (lk != null) last.set("session", sessionInfo(lk, results.get(0)));
            sse.send(last);
            sse.raw("[DONE]");
            return 200;
        } catch (IOException e) {
            gens.forEach(Generation::cancel);
            return 499;
        } finally {
            sse.close();
        }
    }

    private ObjectNode chunk(boolean chat, String id, long created, GenRequest r) {
        ObjectNode c = Http.JSON.createObjectNode().put("id", id).put("object", chat ? "chat.completion.chunk" : "text_completion")
                .put("created", created).put("model", engine.name());
        c.putArray("choices");
        if (r.includeUsage()) c.putNull("usage");
        return c;
    }

    /** Writes a chunk; on a broken connection cancels the generations (they leave the batch at the next step). */
    private static boolean send(Http.Events sse, ObjectNode chunk, List<Generation> gens) {
        try {
            sse.send(chunk);
            return true;
        } catch (IOException e) {
            gens.forEach(Generation::cancel);
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------ embeddings

    private int embeddings(HttpExchange ex, JsonNode b) throws IOException {
        checkModel(b);
        JsonNode in = b.get("input");
        List<String> texts = new ArrayList<>();
        if (in == null || in.isNull()) throw ApiError.badRequest("input", "input is required");
        if (in.isTextual()) texts.add(in.asText());
        else if (in.isArray() && !in.isEmpty()) for (JsonNode x : in) {
            if (!x.isTextual()) throw ApiError.badRequest("input", "input must be a string or an array of strings (token ids are not supported)");
            texts.add(x.asText());
        }
        else throw ApiError.badRequest("input", "input must be a non-empty string or array of strings");
        if (texts.size() > 2048) throw ApiError.badRequest("input", "at most 2048 inputs per request");
        String format = b.path("encoding_format").asText("float");
        if (!format.equals("float") && !format.equals("base64")) throw ApiError.badRequest("encoding_format", "encoding_format must be float or base64");
        InferenceEngine.Embeddings e = engine.embed(texts, true);
        int dim = engine.embeddingDimension();
        if (b.hasNonNull("dimensions") && b.get("dimensions").asInt() != dim)
            throw ApiError.badRequest("dimensions", "this model's embeddings have " + dim + " dimensions");
        ObjectNode resp = Http.JSON.createObjectNode().put("object", "list");
        ArrayNode data = resp.putArray("data");
        int tokens = 0;
        for (int i = 0; i < texts.size(); i++) {
            ObjectNode d = data.addObject().put("object", "embedding").put("index", i);
            float[] v = e.vectors()[i];
            if (format.equals("base64")) {
                ByteBuffer bb = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) bb.putFloat(x);
                d.put("embedding", Base64.getEncoder().encodeToString(bb.array()));
            } else {
                ArrayNode a = d.putArray("embedding");
                for (float x : v) a.add(x);
            }
            tokens += e.tokens()[i];
        }
        resp.put("model", engine.name());
        resp.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        embeddingTokens.add(tokens);
        Http.send(ex, 200, resp);
        return 200;
    }

    // ------------------------------------------------------------------------------------------------ sessions

    private int sessionEndpoint(HttpExchange ex, String method, String rest) throws IOException {
        boolean state = rest.endsWith("/state");
        String id = SessionManager.checkId(state ? rest.substring(0, rest.length() - "/state".length()) : rest);
        requireCausal();
        if (!state) {
            switch (method) {
                case "GET" -> {
                    SessionManager.Entry e = sessions.find(id).orElseThrow(() -> ApiError.notFound("session_not_found", "no session " + id));
                    Http.send(ex, 200, Http.JSON.createObjectNode().put("id", id).put("object", "session").put("tokens", e.session.tokens())
                            .put("stateBytes", e.session.stateBytes()).put("created", e.created).put("lastUsed", e.lastUsed)
                            .put("persistent", sessions.persistent()).put("historyHash", e.session.historyHash().hex()));
                    return 200;
                }
                case "DELETE" -> {
                    if (!sessions.delete(id)) throw ApiError.notFound("session_not_found", "no session " + id);
                    Http.send(ex, 200, Http.JSON.createObjectNode().put("id", id).put("object", "session.deleted").put("deleted", true));
                    return 200;
                }
                default -> throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, "use GET or DELETE");
            }
        }
        switch (method) {
            case "GET" -> {
                SessionManager.Entry e = sessions.find(id).orElseThrow(() -> ApiError.notFound("session_not_found", "no session " + id));
                Http.sendBytes(ex, 200, "application/octet-stream", engine.exportState(e.session));
                return 200;
            }
            case "PUT" -> {
                byte[] bytes = Http.body(ex, (int) Math.max(config.maxBodyBytes(), engine.stateSize() + 1024));
                try {
                    SessionManager.Entry e = sessions.put(id, engine.importState(bytes));
                    sessions.saved(e);
                    Http.send(ex, 200, Http.JSON.createObjectNode().put("id", id).put("object", "session").put("tokens", e.session.tokens())
                            .put("stateBytes", e.session.stateBytes()));
                    return 200;
                } catch (StateFormatException bad) {
                    throw ApiError.badRequest(null, "session state refused: " + bad.getMessage());
                }
            }
            default -> throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, "use GET or PUT");
        }
    }

    // ------------------------------------------------------------------------------------------------ metrics

    private String metrics() {
        InferenceEngine.Stats s = engine.stats();
        StringBuilder m = new StringBuilder();
        m.append("# HELP cottention_requests_total HTTP requests by endpoint and status.\n# TYPE cottention_requests_total counter\n");
        new java.util.TreeMap<>(requestCounts).forEach((k, v) -> {
            String[] p = k.split("\u0000");
            m.append("cottention_requests_total{endpoint=\"").append(p[0]).append("\",status=\"").append(p[1]).append("\"} ").append(v.sum()).append('\n');
        });
        counter(m, "cottention_prompt_tokens_total", "Prompt tokens of generation requests (tokens in).", s.promptTokens());
        counter(m, "cottention_cached_prompt_tokens_total", "Prompt tokens a session had seen (not prefilled again).", s.cachedTokens());
        counter(m, "cottention_prefill_tokens_total", "Tokens prefilled.", s.prefillTokens());
        counter(m, "cottention_completion_tokens_total", "Tokens generated (tokens out).", s.generatedTokens());
        counter(m, "cottention_embedding_tokens_total", "Tokens embedded.", embeddingTokens.sum());
        counter(m, "cottention_decode_steps_total", "Batched decoding steps.", s.steps());
        gauge(m, "cottention_queue_depth", "Requests waiting for their prefill.", s.waiting());
        gauge(m, "cottention_active_sequences", "Sequences decoding now.", s.active());
        gauge(m, "cottention_sessions_active", "Sessions held in memory.", sessions.count());
        gauge(m, "cottention_session_bytes", "Bytes of the session states held in memory.", sessions.bytes());
        return m.toString();
    }

    private static void counter(StringBuilder m, String name, String help, long v) {
        m.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(v).append('\n');
    }

    private static void gauge(StringBuilder m, String name, String help, long v) {
        m.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(v).append('\n');
    }
}
