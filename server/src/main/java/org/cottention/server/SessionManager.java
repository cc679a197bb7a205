package org.cottention.server;

import org.cottention.serve.InferenceEngine;
import org.cottention.serve.Session;
import org.cottention.serve.StateFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The server's sessions by id: in memory an LRU bounded by the bytes of the states it holds (the least recently used
 * idle sessions are dropped first; with a store they are read back when needed), and, with a {@link SessionStore},
 * every session's state written after each of its requests. A stored state that cannot be used (truncated,
 * corrupted, another model's) is refused with a warning and the session starts afresh. Softmax models' sessions
 * (KV caches) live in memory only.
 */
final class SessionManager {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SessionManager.class);
    /** Ids: 1 to 128 characters of letters, digits, '_', '-', '.', starting with a letter or digit (no path can be formed). */
    static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

    /** A session in memory, with when it was created and last used (epoch seconds). */
    static final class Entry {
        final String id;
        final Session session;
        final long created;
        volatile long lastUsed;

        Entry(String id, Session session, long created) {
            this.id = id;
            this.session = session;
            this.created = created;
            this.lastUsed = created;
        }
    }

    /** A session for a request, and why a stored one was refused (null if it was not). */
    record Lookup(Entry entry, String warning) {}

    private final InferenceEngine engine;
    private final SessionStore store;      // null: memory only
    private final long budgetBytes;
    private final LinkedHashMap<String, Entry> lru = new LinkedHashMap<>(16, 0.75f, true); // guarded by this
    private long bytes;                    // guarded by this (sum of stateBytes at the last put)
    private final Map<String, Long> sized = new java.util.HashMap<>();

    SessionManager(InferenceEngine engine, SessionStore store, long budgetBytes) {
        this.engine = engine;
        this.store = store;
        this.budgetBytes = budgetBytes;
    }

    static String checkId(String id) {
        if (id == null || !ID.matcher(id).matches())
            throw ApiError.badRequest("session", "invalid session id " + (id == null ? "null" : "\"" + abbreviate(id) + "\"")
                    + ": 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit");
        return id;
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }

    boolean persistent() {
        return store != null && engine.attention() == org.cottention.model.AttentionType.COSINE;
    }

    /** The session with this id: from memory (checked against a shared store), else the store, else a new one. */
    Lookup open(String id) throws IOException {
        checkId(id);
        Entry e;
        synchronized (this) {
            e = lru.get(id);
        }
        if (e != null && (!persistent() || !store.shared() || e.session.busy() || current(e))) return touch(e, null);
        String warning = null;
        if (persistent()) {
            Optional<byte[]> stored = store.load(id);
            if (stored.isPresent()) {
                try {
                    return touch(put(id, engine.importState(stored.get())), null);
                } catch (StateFormatException bad) {
                    warning = "stored state of session " + id + " refused (" + bad.getMessage() + "); the session starts afresh";
                    log.warn(warning);
                }
            }
        }
        if (e != null && warning == null) return touch(e, null);
        return new Lookup(put(id, engine.newSession()), warning);
    }

    /** Whether the store still holds the history this memory copy has (another replica may have moved on). */
    private boolean current(Entry e) throws IOException {
        Optional<byte[]> v = store.version(e.id);
        return v.isEmpty() ? e.session.tokens() == 0 : Arrays.equals(v.get(), version(e.session));
    }

    static byte[] version(Session s) {
        return ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(s.tokens()).putLong(s.historyHash().a())
                .putLong(s.historyHash().b()).array();
    }

    private Lookup touch(Entry e, String warning) {
        e.lastUsed = System.currentTimeMillis() / 1000;
        return new Lookup(e, warning);
    }

    /** The session in memory or in the store, without creating one; empty when there is none. */
    Optional<Entry> find(String id) throws IOException {
        checkId(id);
        synchronized (this) {
            Entry e = lru.get(id);
            if (e != null && (!persistent() || !store.shared())) return Optional.of(e);
        }
        if (!persistent()) return Optional.empty();
        Optional<byte[]> stored = store.load(id);
        if (stored.isEmpty()) {
            synchronized (this) {
                return Optional.ofNullable(lru.get(id));
            }
        }
        try {
            return Optional.of(put(id, engine.importState(stored.get())));
        } catch (StateFormatException bad) {
            throw new ApiError(409, "invalid_request_error", "session_state_refused", null, "stored state of session " + id + " refused: " + bad.getMessage());
        }
    }

    synchronized Entry put(String id, Session s) {
        Entry old = lru.remove(id);
        if (old != null) bytes -= sized.remove(id);
        Entry e = new Entry(id, s, System.currentTimeMillis() / 1000);
        lru.put(id, e);
        long b = s.stateBytes();
        sized.put(id, b);
        bytes += b;
        evict();
        return e;
    }

    /** After a request: the session's size may have changed; write it to the store. */
    void saved(Entry e) throws IOException {
        synchronized (this) {
            Long before = sized.get(e.id);
            if (before != null && lru.get(e.id) == e) {
                long b = e.session.stateBytes();
                bytes += b - before;
                sized.put(e.id, b);
            }
            evict();
        }
        if (persistent()) store.save(e.id, engine.exportState(e.session));
    }

    /** Drops the least recently used idle sessions while over the byte budget (the newest one always stays). */
    private void evict() {
        for (Iterator<Entry> it = lru.values().iterator(); bytes > budgetBytes && lru.size() > 1 && it.hasNext(); ) {
            Entry e = it.next();
            if (e.session.busy()) continue;
            it.remove();
            bytes -= sized.remove(e.id);
        }
    }

    boolean delete(String id) throws IOException {
        checkId(id);
        Entry e;
        synchronized (this) {
            e = lru.remove(id);
            if (e != null) bytes -= sized.remove(id);
        }
        if (e != null && e.session.busy()) {
            put(id, e.session);
            throw new ApiError(409, "invalid_request_error", "session_busy", null, "session " + id + " is busy with a request");
        }
        boolean stored = persistent() && store.delete(id);
        return e != null || stored;
    }

    synchronized int count() {
        return lru.size();
    }

    synchronized long bytes() {
        return bytes;
    }

    String storeDescription() {
        return store == null ? "memory" : store.describe();
    }
}
