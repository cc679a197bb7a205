package org.cottention.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Ids identical to HF tokenizers (Rust, via scripts/wordpiece-reference.cjs) on bert-base-uncased over ~1.4 M chars
 * of corpus slices, spam e-mails, Unicode stress strings and random strings; pairs under the three truncation
 * strategies; decoding.
 */
class WordPieceReferenceTest {
    static List<JsonNode> cases = new ArrayList<>();

    @BeforeAll
    static void load() throws IOException {
        ObjectMapper om = new ObjectMapper();
        try (InputStream in = WordPieceReferenceTest.class.getResourceAsStream("/tokenizer/bert-base-uncased-reference.jsonl.gz");
             BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(in), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isEmpty()) cases.add(om.readTree(line));
        }
        assertTrue(cases.size() > 1000, "reference cases: " + cases.size());
    }

    static int[] ids(String s) {
        return s.isEmpty() ? new int[0] : Arrays.stream(s.split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    static WordPieceTokenizer fromJson() throws IOException {
        return WordPieceTokenizer.fromTokenizerJson(Shared.data("tokenizers", "bert-base-uncased", "tokenizer.json"));
    }

    static WordPieceTokenizer fromVocab() throws IOException {
        return WordPieceTokenizer.fromVocabFile(Shared.data("tokenizers", "bert-base-uncased", "vocab.txt"), WordPieceTokenizer.Options.uncased());
    }

    private static void checkSingles(WordPieceTokenizer tok) {
        int n = 0, bad = 0;
        long tokens = 0;
        StringBuilder report = new StringBuilder();
        for (JsonNode c : cases) {
            if (!c.path("kind").asText().equals("single")) continue;
            n++;
            String text = c.path("text").asText();
            int[] want = ids(c.path("ids").asText());
            int[] got = tok.encode(text);
            tokens += want.length;
            if (!Arrays.equals(want, got)) {
                if (bad++ < 5) report.append("\n  text ").append(abbrev(text)).append("\n   want ").append(tok.decode(want))
                        .append("\n   got  ").append(tok.decode(got));
            }
        }
        assertEquals(0, bad, bad + " of " + n + " texts differ (" + tokens + " reference tokens):" + report);
        assertTrue(n > 1000 && tokens > 300_000, "texts " + n + ", tokens " + tokens);
    }

    private static String abbrev(String s) {
        return (s.length() > 120 ? s.substring(0, 120) + "..." : s).replace("\n", "\\n");
    }

    @Test
    void singleTextsFromTokenizerJson() throws IOException { checkSingles(fromJson()); }

    @Test
    void singleTextsFromVocabTxt() throws IOException { checkSingles(fromVocab()); }

    @Test
    void pairsWithTokenTypesAndTruncation() throws IOException {
        WordPieceTokenizer tok = fromJson();
        int n = 0;
        for (JsonNode c : cases) {
            if (!c.path("kind").asText().equals("pair")) continue;
            n++;
            Truncation t = switch (c.path("strategy").asText()) {
                case "LongestFirst" -> Truncation.LONGEST_FIRST;
                case "OnlyFirst" -> Truncation.ONLY_FIRST;
                case "OnlySecond" -> Truncation.ONLY_SECOND;
                default -> throw new AssertionError(c);
            };
            int max = c.path("max").asInt();
            Encoding e = tok.encode(c.path("a").asText(), c.path("b").asText(), max, t, false);
            String where = t + " max " + max + ": " + abbrev(c.path("a").asText()) + " | " + abbrev(c.path("b").asText());
            assertArrayEquals(ids(c.path("ids").asText()), e.inputIds(), where);
            assertArrayEquals(ids(c.path("types").asText()), e.tokenTypeIds(), where);
            assertTrue(Arrays.stream(e.attentionMask()).allMatch(m -> m == 1), where);
        }
        assertTrue(n > 100, "pair cases: " + n);
    }

    @Test
    void decodeLikeHf() throws IOException {
        WordPieceTokenizer tok = fromJson();
        int n = 0;
        for (JsonNode c : cases) {
            if (!c.path("kind").asText().equals("decode")) continue;
            n++;
            assertEquals(c.path("text").asText(), tok.decode(ids(c.path("ids").asText())));
        }
        assertTrue(n > 100, "decode cases: " + n);
    }
}
