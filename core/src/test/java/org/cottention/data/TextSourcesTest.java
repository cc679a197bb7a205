package org.cottention.data;

import org.cottention.testutil.Shared;
import org.cottention.tokenizer.Utf8.InvalidUtf8Exception;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Streaming the training text: pieces rebuild the documents and tokenise to the same ids; errors keep file offsets. */
class TextSourcesTest {
    @TempDir
    Path tmp;

    @Test
    void piecesRebuildTheDocumentsAndCutOnlyBeforeALineBreak() throws IOException {
        String book = Files.readString(Shared.data("corpus", "moby-dick.txt"));
        Path a = Files.writeString(tmp.resolve("a.txt"), book), b = Files.writeString(tmp.resolve("b.txt"), "short one\n");
        List<String> pieces = new ArrayList<>();
        List<Boolean> lasts = new ArrayList<>();
        TextSources.pieces(List.of(a, b), (p, last) -> { pieces.add(p); lasts.add(last); }, 4096);
        assertTrue(pieces.size() > 100, "a 1 MB book in 4 KB windows: " + pieces.size() + " pieces");
        StringBuilder first = new StringBuilder();
        int i = 0;
        for (; !lasts.get(i); i++) {
            first.append(pieces.get(i));
            String p = pieces.get(i), next = pieces.get(i + 1);
            char end = p.charAt(p.length() - 1), start = next.charAt(0);
            assertTrue(end > ' ' && end < 0x7f && (start == '\n' || start == '\r'), "cut at piece " + i);
        }
        first.append(pieces.get(i));
        assertEquals(book, first.toString());
        assertEquals(List.of("short one\n"), pieces.subList(i + 1, pieces.size()));
        assertEquals(List.of(true, true), List.of(lasts.get(i), lasts.get(lasts.size() - 1)));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"gpt2,moby-dick.txt", "gpt2,sotu.txt", "bert-base-uncased,moby-dick.txt", "bert-base-uncased,sotu.txt"})
    void streamedTokenCacheHoldsTheIdsOfTheWholeDocuments(String tokenizer, String corpus) throws IOException {
        Tokenizer tok = Tokenizers.load(Shared.data("tokenizers", tokenizer));
        String book = Files.readString(Shared.data("corpus", corpus));
        Path a = Files.writeString(tmp.resolve("a.txt"), book.substring(0, 200_000));
        Path j = Files.writeString(tmp.resolve("b.jsonl"), "{\"text\": \"Call me Ishmael.\"}\n\n{\"text\": \"\\u00e9t\\u00e9\"}");
        try (TokenFile streamed = TokenFile.build(List.of(a, j), tok, 0, tmp.resolve("s"), 1000)) {
            List<Integer> expected = new ArrayList<>();
            for (String doc : List.of(book.substring(0, 200_000), "Call me Ishmael.", "été")) {
                for (int id : tok.encode(doc)) expected.add(id);
                expected.add(0);
            }
            assertEquals(expected.size(), streamed.size());
            for (int k = 0; k < expected.size(); k++) assertEquals((int) expected.get(k), streamed.get(k), "id " + k);
        }
    }

    @Test
    void errorsNameTheFileOffsetAndLineBeyondTheFirstWindow() throws IOException {
        byte[] text = ("x".repeat(5000) + "\nA line\n").getBytes(StandardCharsets.US_ASCII);
        byte[] bad = new byte[text.length + 1];
        System.arraycopy(text, 0, bad, 0, text.length);
        bad[text.length] = (byte) 0xff;
        Path f = Files.write(tmp.resolve("bad.txt"), bad);
        InvalidUtf8Exception e = assertThrows(InvalidUtf8Exception.class, () -> TextSources.pieces(List.of(f), (p, last) -> {}, 1024));
        assertEquals(text.length, e.offset());
        StringBuilder lines = new StringBuilder();
        for (int k = 0; k < 300; k++) lines.append("{\"text\": \"document ").append(k).append("\"}\n");
        lines.append("{\"txt\": 1}\n");
        Path jl = Files.writeString(tmp.resolve("c.jsonl"), lines.toString());
        IOException je = assertThrows(IOException.class, () -> TextSources.pieces(List.of(jl), (p, last) -> {}, 256));
        assertTrue(je.getMessage().contains("line 301"), je.getMessage());
    }
}
