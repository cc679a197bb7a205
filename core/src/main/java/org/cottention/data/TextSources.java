package org.cottention.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.tokenizer.Utf8;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Training text from the user's paths: plain text files (one document each), folders of them (recursively, sorted,
 * hidden files skipped), and JSONL files ({@code .jsonl}) whose lines are objects with a {@code text} field (one
 * document per line). Text must be valid UTF-8; an error names the file and the byte offset of the first bad byte.
 *
 * <p>Files are read as a stream, {@link #PIECE_BYTES} at a time, so a corpus larger than memory can be tokenised
 * ({@link #pieces}): a long plain-text document arrives in pieces cut just before a line break that follows an ASCII
 * non-space character. Both tokenizers split there anyway (no GPT-2 pre-token runs from a visible character into
 * whitespace, and whitespace runs are decided by what follows them, which the next piece still has; WordPiece splits
 * on whitespace), so the pieces tokenise to exactly the ids of the whole document. (Cutting after the line break
 * instead would not: a trailing "\n\n" is one pre-token at the end of a piece but two before a word.)
 */
public final class TextSources {
    /** About how many bytes of a file are held at once. */
    public static final int PIECE_BYTES = 8 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private TextSources() {}

    /** Receives documents in order, each as one or more pieces; {@code last} marks a document's final piece. */
    @FunctionalInterface
    public interface PieceSink {
        void accept(String piece, boolean last) throws IOException;
    }

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

    /** Calls {@code sink} with each whole document of each file, in order. Empty documents are skipped. */
    public static void documents(List<Path> files, Consumer<String> sink) throws IOException {
        StringBuilder doc = new StringBuilder();
        pieces(files, (piece, last) -> {
            doc.append(piece);
            if (last) {
                sink.accept(doc.toString());
                doc.setLength(0);
            }
        });
    }

    /** Streams each document of each file, in order, in pieces (see the class comment). Empty documents are skipped. */
    public static void pieces(List<Path> files, PieceSink sink) throws IOException {
        pieces(files, sink, PIECE_BYTES);
    }

    static void pieces(List<Path> files, PieceSink sink, int pieceBytes) throws IOException {
        for (Path f : files) {
            if (f.getFileName().toString().endsWith(".jsonl")) jsonl(f, sink, pieceBytes);
            else text(f, sink, pieceBytes);
        }
    }

    /** A plain text file: one document, in pieces cut before a line break that follows an ASCII non-space character. */
    private static void text(Path f, PieceSink sink, int pieceBytes) throws IOException {
        try (Chunks in = new Chunks(f, pieceBytes)) {
            String pending = null; // a piece is passed on only when the next one shows whether it was the last
            while (in.fill()) {
                int cut = in.eof() ? in.len : lastCut(in.buf, in.len);
                if (cut <= 0) { // no cut point in the buffer yet: read more
                    in.grow();
                    continue;
                }
                String piece = Utf8.decode(in.buf, 0, cut, f.toString(), in.base);
                in.consume(cut);
                if (piece.isEmpty()) continue;
                if (pending != null) sink.accept(pending, false);
                pending = piece;
            }
            if (pending != null) sink.accept(pending, true);
        }
    }

    /** The last index i in buf[1, len) holding a line break ("\n" or "\r") after an ASCII non-space byte (0 if none). */
    private static int lastCut(byte[] buf, int len) {
        for (int i = len - 1; i >= 1; i--)
            if ((buf[i] == '\n' || buf[i] == '\r') && buf[i - 1] > ' ' && buf[i - 1] < 0x7f) return i;
        return 0;
    }

    /** A JSONL file: one document per non-blank line, from its "text" field. */
    private static void jsonl(Path f, PieceSink sink, int pieceBytes) throws IOException {
        try (Chunks in = new Chunks(f, pieceBytes)) {
            long lineNo = 0;
            while (in.fill()) {
                int start = 0;
                for (int i = 0; i < in.len; i++) {
                    if (in.buf[i] != '\n') continue;
                    document(f, ++lineNo, Utf8.decode(in.buf, start, i - start, f.toString(), in.base + start), sink);
                    start = i + 1;
                }
                if (in.eof() && start < in.len) {
                    document(f, ++lineNo, Utf8.decode(in.buf, start, in.len - start, f.toString(), in.base + start), sink);
                    start = in.len;
                }
                if (start == 0 && !in.eof()) in.grow(); // a line longer than the buffer
                else in.consume(start);
            }
        }
    }

    private static void document(Path f, long lineNo, String line, PieceSink sink) throws IOException {
        if (line.isBlank()) return;
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            throw new IOException(f + " line " + lineNo + ": not a JSON object: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (!n.path("text").isTextual()) throw new IOException(f + " line " + lineNo + ": no string field \"text\"");
        String doc = n.get("text").asText();
        if (!doc.isEmpty()) sink.accept(doc, true);
    }

    /** A file read into a buffer a window at a time: buf[0, len) holds the file's bytes from offset base. */
    private static final class Chunks implements AutoCloseable {
        private final InputStream in;
        byte[] buf;
        int len;
        long base;
        private boolean eof;

        Chunks(Path f, int size) throws IOException {
            in = Files.newInputStream(f);
            buf = new byte[Math.max(16, size)];
        }

        /** Reads until the buffer is full or the file ends; false when nothing is left at all. */
        boolean fill() throws IOException {
            while (!eof && len < buf.length) {
                int r = in.read(buf, len, buf.length - len);
                if (r < 0) eof = true;
                else len += r;
            }
            return len > 0;
        }

        boolean eof() {
            return eof;
        }

        /** Drops buf[0, n): the rest moves to the front. */
        void consume(int n) {
            System.arraycopy(buf, n, buf, 0, len - n);
            len -= n;
            base += n;
        }

        /** Doubles the buffer (a piece or line longer than it). */
        void grow() {
            buf = Arrays.copyOf(buf, buf.length * 2);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
