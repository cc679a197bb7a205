package org.cottention.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

class ByteLevelBpeTokenizerTest {
    record Ref(String src, String text, int[] ids) {}

    static List<Ref> refs;
    static ByteLevelBpeTokenizer gpt2;          // from tokenizer.json
    static ByteLevelBpeTokenizer gpt2Files;     // from vocab.json + merges.txt

    @BeforeAll
    static void load() throws IOException {
        Path dir = Shared.data("tokenizers", "gpt2");
        gpt2 = ByteLevelBpeTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json"));
        Path tmp = Files.createTempDirectory("gpt2files");
        Files.copy(dir.resolve("vocab.json"), tmp.resolve("vocab.json"));
        Files.copy(dir.resolve("merges.txt"), tmp.resolve("merges.txt"));
        gpt2Files = ByteLevelBpeTokenizer.load(tmp);
        refs = new ArrayList<>();
        ObjectMapper om = new ObjectMapper();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                ByteLevelBpeTokenizerTest.class.getResourceAsStream("/tokenizer/gpt2-reference.jsonl"), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank()) continue;
                JsonNode n = om.readTree(line);
                int[] ids = new int[n.get("ids").size()];
                for (int i = 0; i < ids.length; i++) ids[i] = n.get("ids").get(i).intValue();
                refs.add(new Ref(n.get("src").asText(), n.get("text").asText(), ids));
            }
        }
    }

    @Test
    void vocabularyIsGpt2s() {
        assertEquals(50257, gpt2.vocabSize());
        assertEquals(50000, gpt2.mergeCount());
        assertEquals(50256, gpt2.endOfTextId());
        assertTrue(gpt2.isSpecial(50256));
        assertEquals("Ġthe", gpt2.idToToken(262));
        assertEquals(262, gpt2.tokenToId("Ġthe"));
        assertEquals(-1, gpt2.tokenToId("no such token"));
        assertArrayEquals(new String[] {"Ġ", "t"}, gpt2.merge(0));
        assertEquals(50256, gpt2Files.endOfTextId());
        assertTrue(gpt2Files.isSpecial(50256));
    }

    @Test
    void referenceFileIsLargeAndVaried() {
        assertTrue(refs.size() > 350, "reference lines: " + refs.size());
        long tokens = refs.stream().mapToLong(r -> r.ids.length).sum();
        assertTrue(tokens > 80_000, "reference tokens: " + tokens);
        assertTrue(refs.stream().anyMatch(r -> r.src.startsWith("stress")));
        assertTrue(refs.stream().anyMatch(r -> IntStream.of(r.ids).anyMatch(id -> id == 50256)));
    }

    @Test
    void idsEqualReferenceFromTokenizerJson() {
        for (Ref r : refs) assertArrayEquals(r.ids, gpt2.encode(r.text), () -> r.src + ": " + r.text);
    }

    @Test
    void idsEqualReferenceFromVocabAndMerges() {
        for (Ref r : refs) assertArrayEquals(r.ids, gpt2Files.encode(r.text), () -> r.src + ": " + r.text);
    }

    @Test
    void decodeOfReferenceIdsIsTheText() {
        for (Ref r : refs) assertEquals(r.text, gpt2.decode(r.ids), r.src);
    }

    @Test
    void roundTripsRandomUnicode() {
        Random rnd = new Random(7);
        for (int k = 0; k < 2000; k++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(30);
            for (int i = 0; i < len; i++) {
                int cp;
                do {
                    cp = switch (rnd.nextInt(4)) {
                        case 0 -> rnd.nextInt(128);
                        case 1 -> rnd.nextInt(0x3000);
                        case 2 -> rnd.nextInt(0x10000);
                        default -> rnd.nextInt(0x110000);
                    };
                } while (cp >= 0xD800 && cp <= 0xDFFF);
                sb.appendCodePoint(cp);
            }
            String s = sb.toString();
            int[] ids = gpt2.encode(s);
            assertEquals(s, gpt2.decode(ids), () -> "round trip of " + s.codePoints().mapToObj(Integer::toHexString).toList());
            for (int id : ids) assertTrue(id >= 0 && id < gpt2.vocabSize());
        }
    }

    @Test
    void roundTripsCorpus() throws IOException {
        String text = Utf8.readFile(Shared.data("corpus", "moby-dick.txt"));
        int[] ids = gpt2.encode(text);
        assertEquals(text, gpt2.decode(ids));
        assertTrue(ids.length < text.length() / 3, "compression: " + ids.length + " tokens for " + text.length() + " chars");
    }

    @Test
    void specialTokensAreMatchedUnlessOrdinary() {
        assertArrayEquals(new int[] {15496, 50256, 995}, gpt2.encode("Hello<|endoftext|> world"));
        int[] ordinary = gpt2.encodeOrdinary("<|endoftext|>");
        assertTrue(ordinary.length > 1 && IntStream.of(ordinary).noneMatch(id -> id == 50256));
        assertEquals("<|endoftext|>", gpt2.decode(ordinary));
        assertEquals("<|endoftext|>", gpt2.decode(new int[] {50256}));
    }

    @Test
    void knownIds() {
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        assertArrayEquals(new int[] {}, gpt2.encode(""));
        // "\s+(?!\S)": a run of spaces leaves its last space to the following word
        assertArrayEquals(new int[] {220, 220, 995}, gpt2.encode("   world")); // ids from tiktoken
        assertEquals(List.of("  ", " world"), Gpt2PreTokenizer.split("   world"));
    }

    @Test
    void bpeMergesLowestRankFirstWithoutRescan() {
        // a long single-piece word exercises the heap merge; compare with a naive rescanning BPE
        Random rnd = new Random(3);
        for (int k = 0; k < 300; k++) {
            byte[] b = new byte[1 + rnd.nextInt(200)];
            String alphabet = "abcdefghijklmnopqrstuvwxyz";
            for (int i = 0; i < b.length; i++) b[i] = (byte) alphabet.charAt(rnd.nextInt(k % 2 == 0 ? 3 : 26));
            assertArrayEquals(naiveBpe(gpt2, b), gpt2.bpe(b));
        }
    }

    static java.util.Map<String, Integer> naiveRanks; // of gpt2

    /** The original GPT-2 algorithm: find the lowest-rank pair, merge all its occurrences, repeat. */
    static int[] naiveBpe(ByteLevelBpeTokenizer t, byte[] bytes) {
        List<String> word = new ArrayList<>();
        for (byte x : bytes) word.add(String.valueOf(ByteLevel.byteToChar(x)));
        if (naiveRanks == null) {
            naiveRanks = new java.util.HashMap<>();
            for (int r = 0; r < t.mergeCount(); r++) naiveRanks.putIfAbsent(t.merge(r)[0] + " " + t.merge(r)[1], r);
        }
        java.util.Map<String, Integer> rank = naiveRanks;
        while (word.size() > 1) {
            int best = Integer.MAX_VALUE;
            String bl = null, br = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = rank.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    bl = word.get(i);
                    br = word.get(i + 1);
                }
            }
            if (bl == null) break;
            List<String> next = new ArrayList<>();
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(bl) && word.get(i + 1).equals(br)) {
                    next.add(bl + br);
                    i++;
                } else {
                    next.add(word.get(i));
                }
            }
            word = next;
        }
        return word.stream().mapToInt(t::tokenToId).toArray();
    }

    @Test
    void partialTokensDecodeWithReplacementAndStreamDecoderPrintsWholeCharacters() {
        String text = "naïve 中文 👨‍👩‍👧 done";
        int[] ids = gpt2.encode(text);
        // a prefix that cuts a character: U+FFFD, never an exception
        int[] cut = java.util.Arrays.copyOf(ids, 6);
        assertTrue(gpt2.decode(cut).contains("\uFFFD") || text.startsWith(gpt2.decode(cut)));
        ByteLevelBpeTokenizer.StreamDecoder sd = gpt2.streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            String piece = sd.push(id);
            assertFalse(piece.contains("\uFFFD"), "streamed piece has a replacement char");
            sb.append(piece);
        }
        sb.append(sd.flush());
        assertEquals(text, sb.toString());
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) bytes.writeBytes(gpt2.decodeBytes(id));
        assertEquals(text, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void badInput() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpt2.decode(new int[] {1, 50257}));
        assertTrue(e.getMessage().contains("50257"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> gpt2.idToToken(-1));
        e = assertThrows(IllegalArgumentException.class, () -> gpt2.encode("ab\uD800c"));
        assertTrue(e.getMessage().contains("index 2"), e.getMessage());
    }

    @Test
    void saveThenLoadGivesSameIds(@TempDir Path tmp) throws IOException {
        gpt2.save(tmp);
        for (String f : new String[] {"vocab.json", "merges.txt", "tokenizer.json"}) assertTrue(Files.isRegularFile(tmp.resolve(f)), f);
        ByteLevelBpeTokenizer fromJson = ByteLevelBpeTokenizer.fromTokenizerJson(tmp.resolve("tokenizer.json"));
        ByteLevelBpeTokenizer fromFiles = ByteLevelBpeTokenizer.fromVocabAndMerges(tmp);
        assertTrue(Tokenizers.load(tmp) instanceof ByteLevelBpeTokenizer);
        for (Ref r : refs.subList(0, 60)) {
            assertArrayEquals(r.ids, fromJson.encode(r.text));
            assertArrayEquals(r.ids, fromFiles.encode(r.text));
        }
        // the saved merges.txt equals the original one line for line
        assertEquals(Files.readAllLines(Shared.data("tokenizers", "gpt2", "merges.txt")).subList(1, 50001),
                Files.readAllLines(tmp.resolve("merges.txt")).subList(1, 50001));
    }

    /** Newer HF files store merges as [left, right] arrays, and some spell the pre-tokenizer as Split + ByteLevel. */
    @Test
    void loadsTokenizerJsonVariants(@TempDir Path tmp) throws IOException {
        ObjectMapper om = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode root =
                (com.fasterxml.jackson.databind.node.ObjectNode) om.readTree(Shared.data("tokenizers", "gpt2", "tokenizer.json").toFile());
        com.fasterxml.jackson.databind.node.ArrayNode arrays = om.createArrayNode();
        for (JsonNode m : root.path("model").path("merges")) {
            String[] p = m.asText().split(" ");
            arrays.addArray().add(p[0]).add(p[1]);
        }
        ((com.fasterxml.jackson.databind.node.ObjectNode) root.path("model")).set("merges", arrays);
        root.set("pre_tokenizer", om.readTree("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
                + om.writeValueAsString(Gpt2PreTokenizer.PATTERN) + "}, \"behavior\": \"Isolated\", \"invert\": false},"
                + " {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}"));
        Path f = tmp.resolve("tokenizer.json");
        om.writeValue(f.toFile(), root);
        ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.fromTokenizerJson(f);
        for (Ref r : refs.subList(0, 80)) assertArrayEquals(r.ids, t.encode(r.text), r.src);
        // add_prefix_space: a space is put before each segment that lacks one (HF ByteLevel semantics)
        root.set("pre_tokenizer", om.readTree("{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true}"));
        om.writeValue(f.toFile(), root);
        assertArrayEquals(new int[] {18435, 995}, ByteLevelBpeTokenizer.fromTokenizerJson(f).encode("Hello world"));
    }

    @Test
    void addedTokensFromHfSaveFolder(@TempDir Path tmp) throws IOException {
        Path dir = Shared.data("tokenizers", "gpt2");
        Files.copy(dir.resolve("vocab.json"), tmp.resolve("vocab.json"));
        Files.copy(dir.resolve("merges.txt"), tmp.resolve("merges.txt"));
        Files.writeString(tmp.resolve("added_tokens.json"), "{\"<|pad|>\": 50257, \"<sep>\": 50258}");
        Files.writeString(tmp.resolve("special_tokens_map.json"),
                "{\"eos_token\": \"<|endoftext|>\", \"pad_token\": {\"content\": \"<|pad|>\"}}");
        ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.load(tmp);
        assertEquals(50259, t.vocabSize());
        assertArrayEquals(new int[] {15496, 50257, 50258, 50256}, t.encode("Hello<|pad|><sep><|endoftext|>"));
        assertTrue(t.isSpecial(50257));
        assertFalse(t.isSpecial(50258));
        assertEquals("Hello<|pad|><sep>", t.decode(new int[] {15496, 50257, 50258}));
    }

    @Test
    void overlappingAddedTokensMatchLongestLeftmost() {
        ByteLevelBpeTokenizer t = new ByteLevelBpeTokenizer(baseVocab(), List.of(), List.of(
                new ByteLevelBpeTokenizer.AddedToken("<a>", 256, true),
                new ByteLevelBpeTokenizer.AddedToken("<a><b>", 257, true)));
        assertArrayEquals(new int[] {257, 256}, t.encode("<a><b><a>"));
        assertArrayEquals(new int[] {t.tokenToId("x"), 256, t.tokenToId("b")}, t.encode("x<a>b"));
    }

    static java.util.Map<String, Integer> baseVocab() {
        java.util.Map<String, Integer> v = new java.util.HashMap<>();
        for (int i = 0; i < 256; i++) v.put(String.valueOf(ByteLevel.byteToChar(ByteLevel.byteAtRank(i))), i);
        return v;
    }

    @Test
    void cacheIsThreadSafe() throws Exception {
        List<Ref> some = refs.subList(0, 40);
        AtomicInteger failures = new AtomicInteger();
        Thread[] ts = new Thread[4];
        for (int k = 0; k < ts.length; k++) {
            ts[k] = new Thread(() -> {
                for (Ref r : some) if (!java.util.Arrays.equals(r.ids, gpt2Files.encode(r.text))) failures.incrementAndGet();
            });
            ts[k].start();
        }
        for (Thread t : ts) t.join();
        assertEquals(0, failures.get());
    }

    @Test
    void rejectsUnsupportedFiles(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Unigram\"}}");
        IOException e = assertThrows(IOException.class, () -> Tokenizers.load(tmp));
        assertTrue(e.getMessage().contains("Unigram"), e.getMessage());
        Files.writeString(tmp.resolve("tokenizer.json"), "{not json");
        e = assertThrows(IOException.class, () -> ByteLevelBpeTokenizer.fromTokenizerJson(tmp.resolve("tokenizer.json")));
        assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
        Files.delete(tmp.resolve("tokenizer.json"));
        Files.writeString(tmp.resolve("vocab.json"), "{\"a\": 0}");
        Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\n");
        e = assertThrows(IOException.class, () -> Tokenizers.load(tmp));
        assertTrue(e.getMessage().contains("single-byte token"), e.getMessage());
        Files.write(tmp.resolve("vocab.json"), new byte[] {'{', (byte) 0xC3, '}'});
        e = assertThrows(IOException.class, () -> Tokenizers.load(tmp));
        assertTrue(e.getMessage().contains("byte offset 1"), e.getMessage());
    }
}
