package org.cottention.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
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
            String text = readUtf8(f);
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

    /** Reads a file as strict UTF-8 (a leading BOM dropped); malformed input names the file and byte offset. */
    public static String readUtf8(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        int start = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF ? 3 : 0;
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, start, bytes.length - start);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = dec.decode(in, out, true);
        if (r.isError()) throw new CharacterCodingException() {
            @Override
            public String getMessage() {
                return "invalid UTF-8 in " + file + " at byte offset " + in.position();
            }
        };
        dec.flush(out);
        return out.flip().toString();
    }
}
