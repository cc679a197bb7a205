package org.cottention.server;

import java.io.IOException;
import java.util.Optional;

/**
 * Where sessions' state bytes ({@link org.cottention.serve.InferenceEngine#exportState}) outlive the process: a
 * folder ({@link FileSessionStore}) or Redis/Valkey ({@link RedisSessionStore}, shared by replicas). Ids are
 * validated before they get here.
 */
interface SessionStore extends AutoCloseable {
    /** The stored state of a session, if any. */
    Optional<byte[]> load(String id) throws IOException;

    /** Replaces the stored state atomically (a reader sees the old bytes or the new ones, never a mixture). */
    void save(String id, byte[] state) throws IOException;

    /** Removes a session; false when there was none. */
    boolean delete(String id) throws IOException;

    /**
     * The 24 bytes of a stored state that identify its history (token count and hash, offsets 44..67), or empty:
     * lets a replica check cheaply whether its copy in memory is still the latest one.
     */
    Optional<byte[]> version(String id) throws IOException;

    /** Whether other processes may change sessions behind this one's back (then memory is checked against the store). */
    boolean shared();

    String describe();

    @Override
    default void close() throws IOException {}
}
