package org.cottention.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;

/** An HTTP client for the tests: JSON in, status and JSON (or SSE events) out. */
final class ServerTestSupport {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    record Reply(int status, String body, java.net.http.HttpHeaders headers) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (" + status + "): " + body, e);
            }
        }

        /** The data of each server-sent event. */
        List<String> events() {
            List<String> out = new ArrayList<>();
            for (String block : body.split("\n\n")) if (block.startsWith("data: ")) out.add(block.substring(6));
            return out;
        }
    }

    private ServerTestSupport() {}

    static Reply post(int port, String path, String body, String... headers) throws IOException, InterruptedException {
        return send(port, path, "POST", HttpRequest.BodyPublishers.ofString(body), headers);
    }

    static Reply post(int port, String path, byte[] body, String... headers) throws IOException, InterruptedException {
        return send(port, path, "POST", HttpRequest.BodyPublishers.ofByteArray(body), headers);
    }

    static Reply get(int port, String path, String... headers) throws IOException, InterruptedException {
        return send(port, path, "GET", HttpRequest.BodyPublishers.noBody(), headers);
    }

    static Reply delete(int port, String path) throws IOException, InterruptedException {
        return send(port, path, "DELETE", HttpRequest.BodyPublishers.noBody());
    }

    static byte[] getBytes(int port, String path) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw new AssertionError(path + ": " + r.statusCode() + " " + new String(r.body()));
        return r.body();
    }

    static Reply put(int port, String path, byte[] body) throws IOException, InterruptedException {
        return send(port, path, "PUT", HttpRequest.BodyPublishers.ofByteArray(body));
    }

    private static Reply send(int port, String path, String method, HttpRequest.BodyPublisher body, String... headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).method(method, body);
        if (method.equals("POST")) b.header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body(), r.headers());
    }

    /** A greedy completion request body with the given prompt (JSON string) or token ids. */
    static String completion(String promptJson, int maxTokens, String extra) {
        return "{\"prompt\": " + promptJson + ", \"max_tokens\": " + maxTokens + ", \"temperature\": 0, \"ignore_eos\": true"
                + (extra.isEmpty() ? "" : ", " + extra) + "}";
    }

    static String str(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
