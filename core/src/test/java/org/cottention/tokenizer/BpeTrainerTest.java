package org.cottention.tokenizer;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BpeTrainerTest {
    static String text;
    static ByteLevelBpeTokenizer trained;

    @BeforeAll
    static void train() throws IOException {
        text = Utf8.readFile(Shared.data("corpus", "moby-dick.txt")).substring(0, 200_000);
        BpeTrainer t = new BpeTrainer(1000);
        t.addText(text);
        trained = t.train();
    }

    @Test
    void vocabularyLayout() {
        assertEquals(1000, trained.vocabSize());
        assertEquals(1000 - 256 - 1, trained.mergeCount());
        assertEquals(999, trained.endOfTextId());
        assertTrue(trained.isSpecial(999));
        for (int i = 0; i < 256; i++) assertEquals(i, trained.tokenToId(String.valueOf(ByteLevel.byteToChar(ByteLevel.byteAtRank(i)))));
        // the first merges are the most frequent pairs of English text
        assertArrayEquals(new String[] {"Ġ", "t"}, trained.merge(0));
        assertTrue(trained.tokenToId("Ġthe") > 0);
    }

    @Test
    void roundTripsAndCompresses() {
        int[] ids = trained.encode(text);
        assertEquals(text, trained.decode(ids));
        int bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        assertTrue(ids.length * 2.5 < bytes, ids.length + " tokens for " + bytes + " bytes");
        String unseen = "Zürich 東京 😀 <|endoftext|> 42";
        int[] u = trained.encode(unseen);
        assertEquals(unseen, trained.decode(u));
        assertTrue(java.util.stream.IntStream.of(u).anyMatch(id -> id == 999));
    }

    @Test
    void deterministic() {
        BpeTrainer t = new BpeTrainer(1000);
        t.addText(text);
        ByteLevelBpeTokenizer again = t.train();
        for (int r = 0; r < trained.mergeCount(); r++) assertArrayEquals(trained.merge(r), again.merge(r));
        // order of the input does not matter, only the counts
        BpeTrainer halves = new BpeTrainer(1000);
        int cut = text.indexOf('\n', text.length() / 2) + 1;
        halves.addText(text.substring(cut));
        halves.addText(text.substring(0, cut));
        ByteLevelBpeTokenizer h = halves.train();
        for (int r = 0; r < trained.mergeCount(); r++) assertArrayEquals(trained.merge(r), h.merge(r));
    }

    /** The committed moby-bpe-1000 was trained by the CLI on exactly this text: training must still give it. */
    @Test
    void reproducesCommittedTokenizer() throws IOException {
        Path dir = Path.of("src/test/resources/tokenizer/moby-bpe-1000");
        assertEquals(Files.readString(dir.resolve("merges.txt")), mergesTxt(trained));
        assertEquals(Files.readString(dir.resolve("vocab.json")), vocabOf(trained));
    }

    private static String mergesTxt(ByteLevelBpeTokenizer t) {
        StringBuilder sb = new StringBuilder("#version: 0.2\n");
        for (int r = 0; r < t.mergeCount(); r++) sb.append(t.merge(r)[0]).append(' ').append(t.merge(r)[1]).append('\n');
        return sb.toString();
    }

    private static String vocabOf(ByteLevelBpeTokenizer t) throws IOException {
        Path tmp = Files.createTempDirectory("voc");
        t.save(tmp);
        return Files.readString(tmp.resolve("vocab.json"));
    }

    /** Ids computed by HF's tokenizers (JS port) from the tokenizer.json we wrote (scripts/gpt2-reference-ids.mjs). */
    @Test
    void writtenTokenizerJsonMeansTheSameToHf() throws IOException {
        Tokenizer t = Tokenizers.load(Path.of("src/test/resources/tokenizer/moby-bpe-1000"));
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        int lines = 0;
        for (String line : Files.readAllLines(Path.of("src/test/resources/tokenizer/trained-reference.jsonl"))) {
            if (line.isBlank()) continue;
            var n = om.readTree(line);
            int[] ids = new int[n.get("ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = n.get("ids").get(i).intValue();
            String text = n.get("text").asText();
            assertArrayEquals(ids, t.encode(text), n.get("src").asText());
            assertArrayEquals(ids, trained.encode(text), n.get("src").asText());
            lines++;
        }
        assertTrue(lines > 30);
    }

    @Test
    void mergesMatchNaiveTraining() {
        // a slow, obviously correct trainer (recount every pair each step) learns the same merges
        String small = text.substring(0, 20_000);
        BpeTrainer t = new BpeTrainer(400);
        t.addText(small);
        ByteLevelBpeTokenizer fast = t.train();
        List<String[]> naive = NaiveBpeTrainer.train(small, 400 - 256 - 1);
        assertEquals(naive.size(), fast.mergeCount());
        for (int r = 0; r < naive.size(); r++) assertArrayEquals(naive.get(r), fast.merge(r), "merge " + r);
    }

    @Test
    void specialTokensAreNotLearnedFrom() {
        BpeTrainer t = new BpeTrainer(300);
        t.addText("<|endoftext|><|endoftext|><|endoftext|> ab ab ab".repeat(20));
        ByteLevelBpeTokenizer tok = t.train();
        for (int r = 0; r < tok.mergeCount(); r++) assertFalse(String.join("", tok.merge(r)).contains("|"), "learned from a special token");
    }

    @Test
    void savesHfFilesThatLoadBack(@TempDir Path tmp) throws IOException {
        trained.save(tmp);
        Tokenizer fromJson = Tokenizers.load(tmp);
        Files.delete(tmp.resolve("tokenizer.json"));
        Tokenizer fromFiles = Tokenizers.load(tmp);
        String sample = text.substring(5000, 15000) + "<|endoftext|>";
        int[] ids = trained.encode(sample);
        assertArrayEquals(ids, fromJson.encode(sample));
        assertArrayEquals(ids, fromFiles.encode(sample));
    }

    @Test
    void trainsOnFilesAndRejectsInvalidUtf8(@TempDir Path tmp) throws IOException {
        Path good = tmp.resolve("good.txt"), bad = tmp.resolve("bad.txt");
        Files.writeString(good, text.substring(0, 5000));
        Files.write(bad, new byte[] {'o', 'k', ' ', (byte) 0xFE});
        assertEquals(300, BpeTrainer.trainOnFiles(List.of(good), 300).vocabSize());
        IOException e = assertThrows(IOException.class, () -> BpeTrainer.trainOnFiles(List.of(good, bad), 300));
        assertTrue(e.getMessage().contains("bad.txt") && e.getMessage().contains("byte offset 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(100));
    }
}
