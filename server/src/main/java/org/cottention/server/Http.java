package org.cottention.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;

/** Reading bounded bodies and writing JSON, errors and server-sent events on a {@link HttpExchange}. */
final class Http {
    static final ObjectMapper JSON = new ObjectMapper();

    private Http() {}

    /** The body, at most {@code limit} bytes (413 beyond, judged by Content-Length first when there is one). */
    static byte[] body(HttpExchange ex, int limit) throws IOException {
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        if (cl != null) {
            long n;
            try {
                n = Long.parseLong(cl.trim());
            } catch (NumberFormatException e) {
                throw ApiError.badRequest(null, "Content-Length is not a number");
            }
            if (n > limit) {
                drain(ex.getRequestBody());
                throw tooLarge(limit);
            }
        }
        InputStream in = ex.getRequestBody();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        for (int r; (r = in.read(buf)) > 0; ) {
            if (out.size() + r > limit) {
                drain(in);
                throw tooLarge(limit);
            }
            out.write(buf, 0, r);
        }
        return out.toByteArray();
    }

    /**
     * Reads and drops what is left of a refused body, up to {@link #DRAIN_LIMIT} bytes. The JDK server closes a
     * connection whose request body is left unread (beyond 64 KB), and a client still sending it then gets a reset
     * instead of the 413: CI saw "connection reset" for a 5 MB body. A larger body is left, and the connection closed.
     */
    private static void drain(InputStream in) throws IOException {
        byte[] buf = new byte[1 << 16];
        long left = DRAIN_LIMIT;
        for (int r; left > 0 && (r = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0; ) left -= r;
    }

    static final long DRAIN_LIMIT = 64L << 20;

    private static ApiError tooLarge(int limit) {
        return new ApiError(413, "invalid_request_error", "request_too_large", null, "request body is larger than " + limit + " bytes");
    }

    /** The body as JSON (400 for invalid UTF-8, malformed JSON, or anything but an object). */
    static JsonNode json(byte[] body) {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        String text;
        try {
            CharBuffer cb = dec.decode(ByteBuffer.wrap(body));
            text = cb.toString();
        } catch (MalformedInputException e) {
            throw ApiError.badRequest(null, "request body is not valid UTF-8");
        } catch (CharacterCodingException e) {
            throw ApiError.badRequest(null, "request body is not valid UTF-8");
        }
        if (text.isBlank()) throw ApiError.badRequest(null, "request body is empty; expected a JSON object");
        JsonNode n;
        try {
            n = JSON.readTree(text);
        } catch (JacksonException e) {
            throw ApiError.badRequest(null, "malformed JSON in request body: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw ApiError.badRequest(null, "request body must be a JSON object");
        return n;
    }

    static void send(HttpExchange ex, int status, JsonNode body) throws IOException {
        byte[] b = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    static void sendBytes(HttpExchange ex, int status, String contentType, byte[] b) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    static ObjectNode error(ApiError e) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type);
        err.put("param", e.param);
        err.put("code", e.code);
        return root;
    }

    /** A server-sent events stream: one "data: ..." event per call, flushed at once. */
    static final class Events {
        private final OutputStream out;

        Events(HttpExchange ex) throws IOException {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            ex.getResponseHeaders().set("Cache-Control", "no-cache");
            ex.sendResponseHeaders(200, 0);
            out = ex.getResponseBody();
        }

        void send(JsonNode data) throws IOException {
            raw(JSON.writeValueAsString(data));
        }

        void raw(String data) throws IOException {
            out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        void close() {
            try {
                out.close();
            } catch (IOException ignored) {
                // the client went away; nothing more to say
            }
        }
    }
}
