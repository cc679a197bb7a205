package org.cottention.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Training text from the user's paths: plain text files (one document each), folders of them (recursively, sorted,
 * hidden files skipped), and JSONL files ({@code .jsonl}) whose lines are objects with a {@code text} field (one
 * document per line). Text must be valid UTF-8; an error names the file and the byte offset of the first bad byte.
 */
public final class TextSources {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TextSources() {}

    /** The files the paths stand for, in a stable order; an error if a path does not exist or holds no files. */
    public static List<Path> files(List<Path> paths) throws IOException {
        if (paths.isEmpty()) throw new IllegalArgumentException("no training data given");
        List<Path> out = new ArrayList<>();
        for (Path p : paths) {
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    s.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith("."))
                            .sorted().forEach(out::add);
                }
            } else if (Files.isRegularFile(p)) {
                out.add(p);
            } else {
                throw new IOException("data path not found: " + p);
            }
        }
        if (out.isEmpty()) throw new IOException("no files in " + paths);
        return out;
    }

    /** Calls {@code sink} with each document of each file, in order. Empty documents are skipped. */
    public static void documents(List<Path> files, Consumer<String> sink) throws IOException {
        for (Path f : files) {
            String text = org.cottention.tokenizer.Utf8.readFile(f);
            if (f.getFileName().toString().endsWith(".jsonl")) {
                int lineNo = 0;
                for (String line : text.split("\n", -1)) {
                    lineNo++;
                    if (line.isBlank()) continue;
                    JsonNode n;
                    try {
                        n = JSON.readTree(line);
                    } catch (IOException e) {
                        throw new IOException(f + " line " + lineNo + ": not a JSON object: " + e.getMessage().lines().findFirst().orElse(""));
                    }
                    if (!n.path("text").isTextual()) throw new IOException(f + " line " + lineNo + ": no string field \"text\"");
                    String doc = n.get("text").asText();
                    if (!doc.isEmpty()) sink.accept(doc);
                }
            } else if (!text.isEmpty()) {
                sink.accept(text);
            }
        }
    }

}
