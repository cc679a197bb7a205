package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.model.AttentionType;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Two `serve` processes sharing sessions through a real Redis (Debian's redis-server, started here on a free loopback
 * port): each continues the sessions the other left, and the answers are those of one process that saw every turn.
 */
class ServeReplicasTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();
    @TempDir
    Path tmp;

    static Path redisBinary() {
        for (String name : new String[]{"redis-server", "valkey-server"})
            for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                if (Files.isExecutable(Path.of(dir, name))) return Path.of(dir, name);
        return null;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts `cottention serve` in a new JVM with this test's classpath; returns it once it listens, and its port. */
    static Process serve(Path model, String... extra) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx512m", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), "org.cottention.cli.Main", "serve", "--model", model.toString(), "--port", "0",
                "--threads", "1"));
        cmd.addAll(List.of(extra));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    static int awaitPort(Process p) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
        Pattern on = Pattern.compile("cottention: serving .* on http://[^:]+:(\\d+)");
        StringBuilder seen = new StringBuilder();
        for (String line; (line = r.readLine()) != null; ) {
            seen.append(line).append('\n');
            Matcher m = on.matcher(line);
            if (m.find()) {
                Thread.ofVirtual().start(() -> r.lines().forEach(l -> {})); // keep draining
                return Integer.parseInt(m.group(1));
            }
        }
        throw new AssertionError("serve exited before listening:\n" + seen);
    }

    static JsonNode complete(int port, String prompt, String session) throws Exception {
        String body = "{\"prompt\": " + JSON.writeValueAsString(prompt) + ", \"max_tokens\": 5, \"temperature\": 0, \"ignore_eos\": true"
                + (session == null ? "" : ", \"session\": \"" + session + "\"") + "}";
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    @Test
    void twoReplicasContinueEachOthersSessionsThroughRedis() throws Exception {
        Path bin = redisBinary();
        Assumptions.assumeTrue(bin != null, "redis-server (or valkey-server) is not installed: apt-get install -y redis-server; test skipped");
        Path model = TinyModels.gpt(tmp.resolve("tiny"), AttentionType.COSINE, 11);
        int redisPort = freePort();
        Process redis = new ProcessBuilder(bin.toString(), "--port", Integer.toString(redisPort), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", tmp.toString()).redirectErrorStream(true).redirectOutput(tmp.resolve("redis.log").toFile()).start();
        Process a = null, b = null;
        org.cottention.serve.InferenceEngine refEngine = org.cottention.serve.InferenceEngine.load(model, org.cottention.serve.EngineConfig.defaults());
        org.cottention.server.CottentionServer ref = new org.cottention.server.CottentionServer(refEngine, org.cottention.server.ServerConfig.local(0)).start();
        try {
            for (int i = 0; i < 100; i++) {
                try (Socket s = new Socket("127.0.0.1", redisPort)) {
                    break;
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            String store = "redis://127.0.0.1:" + redisPort;
            a = serve(model, "--session-store", store);
            b = serve(model, "--session-store", store);
            int pa = awaitPort(a), pb = awaitPort(b), pr = ref.port();
            int[] turns = {pa, pb, pa, pb};
            String prompt = "Call me Ishmael.";
            long tokens = 0;
            for (int t = 0; t < turns.length; t++) {
                JsonNode got = complete(turns[t], prompt, "shared");
                JsonNode want = complete(pr, prompt, "ref");
                assertEquals(want.get("choices").get(0).get("text").asText(), got.get("choices").get(0).get("text").asText(), "turn " + t);
                assertFalse(got.get("session").get("reset").asBoolean(), "turn " + t + ": " + got);
                assertEquals(tokens, got.get("usage").get("prompt_tokens_details").get("cached_tokens").asLong(), "turn " + t + " continued the other replica's state");
                tokens = got.get("session").get("tokens").asLong();
                prompt = prompt + got.get("choices").get(0).get("text").asText() + "\nUser: turn " + t + "\n";
            }
        } finally {
            for (Process p : new Process[]{a, b}) if (p != null) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            ref.close();
            refEngine.close();
            redis.destroy();
            if (!redis.waitFor(5, TimeUnit.SECONDS)) redis.destroyForcibly();
        }
    }
}
