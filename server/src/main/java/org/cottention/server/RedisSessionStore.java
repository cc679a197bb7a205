package org.cottention.server;

import redis.clients.jedis.RedisClient;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Sessions in Redis or Valkey under {@code cottention:session:ID} (one binary value per session; SET replaces it
 * atomically), shared by every replica pointed at the same server: any replica continues any session. Before using
 * its copy in memory a replica compares the stored value's history bytes (GETRANGE, 24 bytes) with its own.
 */
final class RedisSessionStore implements SessionStore {
    private final RedisClient redis;
    private final URI uri;

    RedisSessionStore(URI uri) throws IOException {
        if (!"redis".equals(uri.getScheme()) || uri.getHost() == null)
            throw new IOException("--session-store must look like redis://HOST:PORT, got " + uri);
        this.uri = uri;
        try {
            redis = RedisClient.create(uri);
            redis.ping();
        } catch (RuntimeException e) {
            throw new IOException("cannot reach the session store at " + uri + ": " + e.getMessage(), e);
        }
    }

    private static byte[] key(String id) {
        return ("cottention:session:" + id).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public Optional<byte[]> load(String id) throws IOException {
        try {
            return Optional.ofNullable(redis.get(key(id)));
        } catch (RuntimeException e) {
            throw new IOException("session store " + uri + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void save(String id, byte[] state) throws IOException {
        try {
            redis.set(key(id), state);
        } catch (RuntimeException e) {
            throw new IOException("session store " + uri + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean delete(String id) throws IOException {
        try {
            return redis.del(key(id)) > 0;
        } catch (RuntimeException e) {
            throw new IOException("session store " + uri + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<byte[]> version(String id) throws IOException {
        try {
            byte[] b = redis.getrange(key(id), 44, 67);
            return b == null || b.length < 24 ? Optional.empty() : Optional.of(b);
        } catch (RuntimeException e) {
            throw new IOException("session store " + uri + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    public String describe() {
        return "redis " + uri;
    }

    @Override
    public void close() {
        redis.close();
    }
}
