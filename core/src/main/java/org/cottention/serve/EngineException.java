package org.cottention.serve;

/** Why the engine refused a request (a server maps each to its HTTP status). */
public class EngineException extends RuntimeException {
    EngineException(String message) {
        super(message);
    }

    /** Too many requests are waiting or running ({@link EngineConfig#maxQueued()}); retry later. */
    public static final class QueueFull extends EngineException {
        QueueFull(String message) {
            super(message);
        }
    }

    /** The session is generating for another request now (one request per session at a time). */
    public static final class SessionBusy extends EngineException {
        SessionBusy(String message) {
            super(message);
        }
    }

    /** The engine's model cannot do this (e.g. chat with an encoder, embeddings with a causal model). */
    public static final class Unsupported extends EngineException {
        Unsupported(String message) {
            super(message);
        }
    }

    /** The engine was closed. */
    public static final class Closed extends EngineException {
        Closed(String message) {
            super(message);
        }
    }
}
