package org.cottention.langchain4j;

import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.Session;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@link InferenceEngine} per model folder (and engine configuration), shared by every model built on it: a
 * chat model, a streaming chat model and a language model on the same folder load the weights once and decode in
 * the same batched steps. The engine is closed when the last model on it closes (an engine the caller passed in is
 * the caller's to close). The conversations by session id live here too, so models on one engine continue each
 * other's sessions.
 */
final class SharedEngine {
    private record Key(Path dir, EngineConfig config) {}

    private static final Map<Object, SharedEngine> OPEN = new HashMap<>(); // Key, or the caller's engine itself; guarded by the class

    final InferenceEngine engine;
    private final Object key;
    private final boolean owned;
    private int users; // guarded by the class
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();

    private SharedEngine(InferenceEngine engine, Object key, boolean owned) {
        this.engine = engine;
        this.key = key;
        this.owned = owned;
    }

    /** The engine of this folder and configuration, loaded on first use. */
    static SharedEngine acquire(Path dir, EngineConfig config) {
        Key k;
        try {
            k = new Key(dir.toRealPath(), config);
        } catch (IOException e) {
            throw new IllegalArgumentException("model folder " + dir + " does not exist", e);
        }
        synchronized (SharedEngine.class) {
            SharedEngine s = OPEN.get(k);
            if (s == null) {
                try {
                    s = new SharedEngine(InferenceEngine.load(k.dir(), config), k, true);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot load the model in " + dir + ": " + e.getMessage(), e);
                }
                OPEN.put(k, s);
            }
            s.users++;
            return s;
        }
    }

    /** An engine the caller loaded (and closes): shared the same way, never closed here. */
    static SharedEngine of(InferenceEngine engine) {
        synchronized (SharedEngine.class) {
            SharedEngine s = OPEN.computeIfAbsent(engine, e -> new SharedEngine(engine, e, false));
            s.users++;
            return s;
        }
    }

    /** One model on this engine is done with it; the last one closes an engine loaded here. */
    void release() {
        synchronized (SharedEngine.class) {
            if (--users > 0) return;
            OPEN.remove(key);
        }
        sessions.clear();
        if (owned) engine.close();
    }

    /** The conversation with this id, started empty on first use. */
    Session session(String id) {
        return sessions.computeIfAbsent(id, k -> engine.newSession());
    }

    Optional<Session> existingSession(String id) {
        return Optional.ofNullable(sessions.get(id));
    }

    void put(String id, Session session) {
        sessions.put(id, session);
    }

    boolean forget(String id) {
        return sessions.remove(id) != null;
    }
}
