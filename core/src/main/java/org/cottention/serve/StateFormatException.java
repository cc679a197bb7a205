package org.cottention.serve;

/**
 * A session state (bytes, file or Redis value) that cannot be used: truncated, corrupted (checksum), of another format
 * version, or saved by another model (fingerprint). The message says which; the caller starts a fresh session.
 */
public final class StateFormatException extends Exception {
    public StateFormatException(String message) {
        super(message);
    }
}
