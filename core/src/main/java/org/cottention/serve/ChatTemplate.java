package org.cottention.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.tokenizer.Utf8;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How chat messages become one prompt text. Each message is rendered with its role's pattern ({@code {content}} is
 * replaced by the message text), the results are concatenated, and the generation prompt is appended; the stop
 * strings end the assistant's turn. The default:
 * <pre>
 *   system:     "{content}\n"
 *   user:       "User: {content}\n"
 *   assistant:  "Assistant:{content}\n"
 *   generation: "Assistant:"
 *   stop:       ["\nUser:"]
 * </pre>
 * The generation prompt ends right after the colon, so the reply's first token carries its own leading space (as
 * GPT-2's pre-tokenizer splits " word"); returned as it is and sent back in the next request, it renders to exactly
 * the text the session saw, and a session continues without a reset. A model folder overrides the template with
 * {@code chat_template.json}: {@code {"system": "...", "user": "...", "assistant": "...", "generation": "...",
 * "stop": [...]}} (missing fields keep the default). The role "developer" is rendered as "system".
 */
public record ChatTemplate(Map<String, String> roles, String generation, List<String> stop) {
    public static final String FILE = "chat_template.json";

    public record Message(String role, String content) {}

    public ChatTemplate {
        roles = Map.copyOf(roles);
        stop = List.copyOf(stop);
        for (String r : List.of("system", "user", "assistant"))
            if (!roles.containsKey(r) || !roles.get(r).contains("{content}"))
                throw new IllegalArgumentException("chat template: the " + r + " pattern must contain {content}");
    }

    public static ChatTemplate defaults() {
        return new ChatTemplate(Map.of("system", "{content}\n", "user", "User: {content}\n", "assistant", "Assistant:{content}\n"),
                "Assistant:", List.of("\nUser:"));
    }

    /** The folder's {@value #FILE}, else the default. */
    public static ChatTemplate load(Path modelDir) throws IOException {
        Path f = modelDir.resolve(FILE);
        ChatTemplate d = defaults();
        if (!Files.isRegularFile(f)) return d;
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(Utf8.readFile(f));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(f + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (!n.isObject()) throw new IOException(f + ": expected a JSON object");
        Map<String, String> roles = new java.util.HashMap<>(d.roles);
        for (String r : List.of("system", "user", "assistant")) if (n.hasNonNull(r)) roles.put(r, n.get(r).asText());
        String gen = n.hasNonNull("generation") ? n.get("generation").asText() : d.generation;
        List<String> stop = d.stop;
        if (n.has("stop")) {
            stop = new ArrayList<>();
            for (JsonNode s : n.get("stop")) stop.add(s.asText());
        }
        try {
            return new ChatTemplate(roles, gen, stop);
        } catch (IllegalArgumentException e) {
            throw new IOException(f + ": " + e.getMessage());
        }
    }

    /** The prompt for these messages, ending with the generation prompt (when {@code addGeneration}). */
    public String render(List<Message> messages, boolean addGeneration) {
        StringBuilder sb = new StringBuilder();
        for (Message m : messages) {
            String role = "developer".equals(m.role()) ? "system" : m.role();
            String p = roles.get(role);
            if (p == null) throw new IllegalArgumentException("unsupported message role \"" + m.role() + "\" (system, developer, user, assistant)");
            sb.append(p.replace("{content}", m.content() == null ? "" : m.content()));
        }
        if (addGeneration) sb.append(generation);
        return sb.toString();
    }

    /** A stable text of the whole template (part of the model fingerprint). */
    String canonical() {
        return "system=" + roles.get("system") + "\u0000user=" + roles.get("user") + "\u0000assistant=" + roles.get("assistant")
                + "\u0000generation=" + generation + "\u0000stop=" + String.join("\u0001", stop);
    }
}
