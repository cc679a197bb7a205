package org.cottention.serve;

import org.cottention.model.GptJSession;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A conversation's decoding state, kept between requests: each layer's recurrent state (cosine: fixed size whatever
 * the history; softmax: the KV cache), the logits after the last token, how many tokens it has seen and their
 * {@link HistoryHash}. The tokens themselves are not kept.
 *
 * <p>Created by {@link InferenceEngine#newSession()} or {@link InferenceEngine#importState(byte[])}; continued by
 * passing it to {@link InferenceEngine#submit}. One request per session at a time (a second one gets
 * {@link EngineException.SessionBusy}); the accessors are safe from any thread.
 */
public final class Session {
    // replaced as a whole by the engine when a request finishes (guarded by this)
    private GptJSession.Row row;
    private long tokens;
    private HistoryHash hash;
    private float[] lastLogits; // [V], null when nothing has been seen
    private Text text;          // what the history reads as, or null when it came as token ids
    final AtomicBoolean busy = new AtomicBoolean();
    private final InferenceEngine engine;

    /**
     * The history as text, kept in constant size: its length in chars, a hash of it, and its last
     * {@value #TAIL} characters (to check how a new prompt's first piece tokenises after it).
     */
    record Text(long chars, HistoryHash hash, String tail) {
        static final Text EMPTY = new Text(0, HistoryHash.EMPTY, "");

        Text append(CharSequence more) {
            String t = tail + more;
            return new Text(chars + more.length(), hash.extend(more), t.length() > TAIL ? t.substring(t.length() - TAIL) : t);
        }
    }

    static final int TAIL = 128;

    Session(InferenceEngine engine, GptJSession.Row row, long tokens, HistoryHash hash, float[] lastLogits, Text text) {
        this.engine = engine;
        set(row, tokens, hash, lastLogits, text);
    }

    synchronized void set(GptJSession.Row row, long tokens, HistoryHash hash, float[] lastLogits, Text text) {
        this.row = row;
        this.tokens = tokens;
        this.hash = hash;
        this.lastLogits = lastLogits;
        this.text = text;
    }

    synchronized Text text() {
        return text;
    }

    synchronized GptJSession.Row row() {
        return row;
    }

    synchronized float[] lastLogits() {
        return lastLogits;
    }

    InferenceEngine engine() {
        return engine;
    }

    /** Tokens seen (prompts and completions of every request so far). */
    public synchronized long tokens() {
        return tokens;
    }

    public synchronized HistoryHash historyHash() {
        return hash;
    }

    /** Bytes of the state in memory: constant for cosine models, growing with the tokens for softmax ones. */
    public synchronized long stateBytes() {
        return row.bytes() + (lastLogits == null ? 0 : 4L * lastLogits.length);
    }

    /** True while a request is generating with this session. */
    public boolean busy() {
        return busy.get();
    }

    /** Whether this session's state can be exported as bytes (cosine models; a KV cache stays in memory). */
    public synchronized boolean exportable() {
        return row.cosine();
    }
}
