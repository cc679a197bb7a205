package org.cottention.server;

import java.net.URI;
import java.nio.file.Path;

/**
 * How {@code serve} listens and keeps sessions.
 *
 * @param host             address to bind (127.0.0.1: this machine only)
 * @param port             TCP port (0: any free one)
 * @param apiKey           when set, every /v1 request needs {@code Authorization: Bearer KEY}
 * @param sessionsDir      folder for session files, or null
 * @param sessionStore     redis://HOST:PORT to keep sessions in Redis/Valkey, or null
 * @param maxBodyBytes     largest request body (413 beyond it); a session state PUT may be as large as a state
 * @param sessionBytes     byte budget of the sessions held in memory
 * @param defaultMaxTokens max_tokens of a chat request that gives none
 */
public record ServerConfig(String host, int port, String apiKey, Path sessionsDir, URI sessionStore, int maxBodyBytes,
                           long sessionBytes, int defaultMaxTokens) {
    public ServerConfig {
        if (host == null || host.isBlank()) host = "127.0.0.1";
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        if (sessionsDir != null && sessionStore != null) throw new IllegalArgumentException("give --sessions or --session-store, not both");
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("the body limit must be at least 1024 bytes");
        if (apiKey != null && apiKey.isEmpty()) apiKey = null;
    }

    public static ServerConfig local(int port) {
        return new ServerConfig("127.0.0.1", port, null, null, null, 4 << 20, 1L << 30, 512);
    }

    public ServerConfig withApiKey(String key) {
        return new ServerConfig(host, port, key, sessionsDir, sessionStore, maxBodyBytes, sessionBytes, defaultMaxTokens);
    }

    public ServerConfig withSessionsDir(Path dir) {
        return new ServerConfig(host, port, apiKey, dir, sessionStore, maxBodyBytes, sessionBytes, defaultMaxTokens);
    }

    public ServerConfig withSessionStore(URI uri) {
        return new ServerConfig(host, port, apiKey, sessionsDir, uri, maxBodyBytes, sessionBytes, defaultMaxTokens);
    }

    public ServerConfig withSessionBytes(long b) {
        return new ServerConfig(host, port, apiKey, sessionsDir, sessionStore, maxBodyBytes, b, defaultMaxTokens);
    }

    public ServerConfig withMaxBodyBytes(int b) {
        return new ServerConfig(host, port, apiKey, sessionsDir, sessionStore, b, sessionBytes, defaultMaxTokens);
    }
}
