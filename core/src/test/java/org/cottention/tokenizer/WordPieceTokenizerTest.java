package org.cottention.tokenizer;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Behaviour of the WordPiece tokenizer on bert-base-uncased and on a tiny hand-made vocabulary. */
class WordPieceTokenizerTest {
    static WordPieceTokenizer bert;

    @BeforeAll
    static void load() throws IOException {
        bert = WordPieceTokenizer.fromTokenizerJson(Shared.data("tokenizers", "bert-base-uncased", "tokenizer.json"));
    }

    /** [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then a few pieces. */
    static WordPieceTokenizer tiny(WordPieceTokenizer.Options o) {
        return new WordPieceTokenizer(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                "un", "##aff", "##able", "want", "##ed", "runn", "##ing", ",", "!", "a", "##b", "b", "ca", "##fe", "é"), o);
    }

    @Test
    void specialIdsAndVocabulary() {
        assertEquals(30522, bert.vocabSize());
        assertEquals(0, bert.padId());
        assertEquals(100, bert.unkId());
        assertEquals(101, bert.clsId());
        assertEquals(102, bert.sepId());
        assertEquals(103, bert.maskId());
        assertEquals("[MASK]", bert.idToToken(103));
        assertEquals(-1, bert.tokenToId("no-such-token"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bert.idToToken(30522));
        assertTrue(e.getMessage().contains("30522"), e.getMessage());
    }

    @Test
    void greedyLongestMatchFirst() {
        WordPieceTokenizer t = tiny(WordPieceTokenizer.Options.uncased());
        assertEquals(List.of("un", "##aff", "##able", ",", "want", "##ed", "runn", "##ing", "!"), t.tokenize("UNaffable, wanted RUNNING!"));
        // not decomposable -> the whole word is [UNK], neighbours unaffected
        assertEquals(List.of("want", "[UNK]", "want"), t.tokenize("want wantx want"));
        assertEquals(List.of("a", "##b", "##b", "b"), t.tokenize("abb b"));
        // accents stripped when uncased: "café" -> "cafe"; cased keeps é (not in vocab as a continuation -> [UNK])
        assertEquals(List.of("ca", "##fe"), t.tokenize("Café"));
        assertEquals(List.of("[UNK]"), tiny(WordPieceTokenizer.Options.uncased().withStripAccents(false)).tokenize("café"));
        assertEquals(List.of("é"), tiny(WordPieceTokenizer.Options.uncased().withStripAccents(false)).tokenize("É"));
    }

    @Test
    void basicTokenisationRules() {
        BertBasicTokenizer b = BertBasicTokenizer.UNCASED;
        assertEquals("hello world", b.normalize("He\u0000llo\u0007\u200b\ufffd\tWo\u0301rld"));
        assertEquals(" 你  好 a", b.normalize("你好a"));
        List<String> words = new java.util.ArrayList<>();
        b.words("Hi!!, it's \"3.5\" km—away 東京", words::add);
        assertEquals(List.of("hi", "!", "!", ",", "it", "'", "s", "\"", "3", ".", "5", "\"", "km", "—", "away", "東", "京"), words);
        assertTrue(BertBasicTokenizer.isPunctuation('$'));   // ASCII symbol counted as punctuation by BERT
        assertTrue(BertBasicTokenizer.isPunctuation('`'));
        assertFalse(BertBasicTokenizer.isPunctuation('€'));  // Unicode Sc is not
        assertTrue(BertBasicTokenizer.isPunctuation('¿'));
    }

    @Test
    void overLongWordIsUnknown() {
        assertArrayEquals(new int[]{100}, bert.encode("a".repeat(101)));
        int[] ok = bert.encode("a".repeat(100));
        assertTrue(ok.length > 1 && Arrays.stream(ok).noneMatch(i -> i == 100));
    }

    @Test
    void specialTokensInTextAreRecognised() {
        assertArrayEquals(new int[]{7592, 103, 2088}, bert.encode("hello[MASK]world"));
        assertEquals(List.of("[", "mask"), bert.tokenize("[mask").subList(0, 2));
    }

    @Test
    void pairWithTokenTypes() {
        Encoding e = bert.encode("Hello world", "How are you?", 0, Truncation.LONGEST_FIRST, false);
        assertArrayEquals(new int[]{101, 7592, 2088, 102, 2129, 2024, 2017, 1029, 102}, e.inputIds());
        assertArrayEquals(new int[]{0, 0, 0, 0, 1, 1, 1, 1, 1}, e.tokenTypeIds());
        assertArrayEquals(new int[]{1, 1, 1, 1, 1, 1, 1, 1, 1}, e.attentionMask());
        Encoding single = bert.encode("Hello world", null, 0, Truncation.LONGEST_FIRST, false);
        assertArrayEquals(new int[]{101, 7592, 2088, 102}, single.inputIds());
        assertArrayEquals(new int[4], single.tokenTypeIds());
    }

    @Test
    void truncationStrategies() {
        WordPieceTokenizer t = tiny(WordPieceTokenizer.Options.uncased());
        String a = "a a a a a a a a a a";   // 10 tokens of id 14
        String b = "b b b b b";             // 5 tokens of id 16
        // longest-first, HF semantics: limit 12-3 = 9; shorter (5) keeps max(5, 9-5)=5 -> 5+5 > 9 -> a=4... see HF:
        // n1=5 (b), n2=max(5,4)=5, 10 > 9 -> n1 = 9/2 = 4, n2 = 5 -> swapped back: a gets 5, b gets 4
        Encoding lf = t.encode(a, b, 12, Truncation.LONGEST_FIRST, false);
        assertEquals(12, lf.length());
        assertEquals(5, count(lf.inputIds(), 14));
        assertEquals(4, count(lf.inputIds(), 16));
        // lots of room for the short one: a is cut to fit, b intact
        Encoding lf2 = t.encode(a, b, 15, Truncation.LONGEST_FIRST, false);
        assertEquals(7, count(lf2.inputIds(), 14));
        assertEquals(5, count(lf2.inputIds(), 16));
        // equal lengths 10/10 within 15 -> 6 and 6
        Encoding lf3 = t.encode(a, a, 15, Truncation.LONGEST_FIRST, false);
        assertArrayEquals(new int[]{2, 14, 14, 14, 14, 14, 14, 3, 14, 14, 14, 14, 14, 14, 3}, lf3.inputIds());
        Encoding of = t.encode(a, b, 12, Truncation.ONLY_FIRST, false);
        assertEquals(4, count(of.inputIds(), 14));
        assertEquals(5, count(of.inputIds(), 16));
        Encoding os = t.encode(b, a, 12, Truncation.ONLY_SECOND, false);
        assertArrayEquals(new int[]{2, 16, 16, 16, 16, 16, 3, 14, 14, 14, 14, 3}, os.inputIds());
        assertArrayEquals(new int[]{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, os.tokenTypeIds());
        // single sequence
        assertEquals(6, t.encode(a, null, 6, Truncation.LONGEST_FIRST, false).length());
        // cannot fit / misuse -> clear errors
        IllegalArgumentException e1 = assertThrows(IllegalArgumentException.class, () -> t.encode(b, a, 8, Truncation.ONLY_FIRST, false));
        assertTrue(e1.getMessage().contains("only-first"), e1.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> t.encode(a, null, 5, Truncation.ONLY_SECOND, false));
        assertTrue(e2.getMessage().contains("second sequence"), e2.getMessage());
        IllegalArgumentException e3 = assertThrows(IllegalArgumentException.class, () -> t.encode(a, b, 2, Truncation.LONGEST_FIRST, false));
        assertTrue(e3.getMessage().contains("special tokens"), e3.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.encode(a, b, 12, Truncation.DO_NOT_TRUNCATE, false));
        assertEquals(Truncation.ONLY_SECOND, Truncation.parse("only-second"));
        assertThrows(IllegalArgumentException.class, () -> Truncation.parse("shortest"));
    }

    private static int count(int[] ids, int id) {
        return (int) Arrays.stream(ids).filter(i -> i == id).count();
    }

    @Test
    void paddingAndBatch() {
        Encoding p = bert.encode("Hello world", "ok", 8, Truncation.LONGEST_FIRST, true);
        assertArrayEquals(new int[]{101, 7592, 2088, 102, 7929, 102, 0, 0}, p.inputIds());
        assertArrayEquals(new int[]{0, 0, 0, 0, 1, 1, 0, 0}, p.tokenTypeIds());
        assertArrayEquals(new int[]{1, 1, 1, 1, 1, 1, 0, 0}, p.attentionMask());
        assertEquals(6, p.realLength());

        List<String> texts = List.of("short", "a somewhat longer sentence here", "mid length one");
        List<Encoding> toLongest = bert.encodeBatch(texts, null, 0, Truncation.LONGEST_FIRST, false);
        int longest = bert.encode(texts.get(1), null, 0, Truncation.LONGEST_FIRST, false).length();
        for (int i = 0; i < texts.size(); i++) {
            Encoding e = toLongest.get(i);
            assertEquals(longest, e.length());
            Encoding alone = bert.encode(texts.get(i), null, 0, Truncation.LONGEST_FIRST, false);
            assertArrayEquals(alone.inputIds(), Arrays.copyOf(e.inputIds(), alone.length()));
            assertEquals(alone.length(), e.realLength());
        }
        List<Encoding> toMax = bert.encodeBatch(texts, List.of("x", "y", "z"), 16, Truncation.LONGEST_FIRST, true);
        for (Encoding e : toMax) assertEquals(16, e.length());
        assertThrows(IllegalArgumentException.class, () -> bert.encodeBatch(texts, List.of("x"), 16, Truncation.LONGEST_FIRST, true));
    }

    @Test
    void decodeMergesPiecesAndCleansUp() {
        int[] ids = bert.encode("I don't like unaffable runners, do you?");
        // HF tokenizers cleans up token by token, so " ' " (which spans two tokens) stays; the space before , ? goes
        assertEquals("i don ' t like unaffable runners, do you?", bert.decode(ids));
        assertEquals("i don ' t like unaffable runners , do you ?", bert.decode(ids, false, false));
        Encoding e = bert.encode("hello", "world", 0, Truncation.LONGEST_FIRST, false);
        assertEquals("[CLS] hello [SEP] world [SEP]", bert.decode(e.inputIds()));
        assertEquals("hello world", bert.decode(e.inputIds(), true, true));
    }

    @Test
    void longTextEqualsConcatenationOfLines() throws IOException {
        // the chunked (and parallel) path for long texts must agree with encoding piece by piece
        String text = Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(0, 200_000);
        int[] whole = bert.encode(text);
        WordPieceTokenizer.IntList parts = new WordPieceTokenizer.IntList(1024);
        for (String line : text.split("\n", -1)) bert.encodeInto(line, parts);
        assertArrayEquals(parts.toArray(), whole);
    }

    @Test
    void vocabTxtOptionsAndSaveRoundTrip(@TempDir Path dir) throws IOException {
        WordPieceTokenizer cased = WordPieceTokenizer.fromVocabFile(Shared.data("tokenizers", "bert-base-uncased", "vocab.txt"),
                WordPieceTokenizer.Options.cased());
        assertEquals(List.of("[UNK]", "world"), cased.tokenize("Hello world"));   // uncased vocab has no "Hello"
        String text = "Héllo, WORLD! 你好 [MASK] naïve ﬁnance\tdon't";
        bert.save(dir);
        assertTrue(Files.isRegularFile(dir.resolve("vocab.txt")) && Files.isRegularFile(dir.resolve("tokenizer_config.json")));
        WordPieceTokenizer fromJson = WordPieceTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json"));
        WordPieceTokenizer fromTxt = WordPieceTokenizer.load(dir.resolve("vocab.txt"), WordPieceTokenizer.Options.uncased());
        assertArrayEquals(bert.encode(text), fromJson.encode(text));
        assertArrayEquals(bert.encode(text), fromTxt.encode(text));
        assertEquals(Files.readAllLines(Shared.data("tokenizers", "bert-base-uncased", "vocab.txt")), Files.readAllLines(dir.resolve("vocab.txt")));
    }

    @Test
    void badInputsGiveClearErrors(@TempDir Path dir) throws IOException {
        IOException missing = assertThrows(IOException.class, () -> WordPieceTokenizer.load(dir, WordPieceTokenizer.Options.uncased()));
        assertTrue(missing.getMessage().contains("vocab.txt"), missing.getMessage());
        Files.writeString(dir.resolve("vocab.txt"), "a\nb\n");
        IOException noUnk = assertThrows(IOException.class, () -> WordPieceTokenizer.fromVocabFile(dir.resolve("vocab.txt"), WordPieceTokenizer.Options.uncased()));
        assertTrue(noUnk.getMessage().contains("[UNK]"), noUnk.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}");
        IOException bpe = assertThrows(IOException.class, () -> WordPieceTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json")));
        assertTrue(bpe.getMessage().contains("WordPiece"), bpe.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "{not json");
        assertThrows(IOException.class, () -> WordPieceTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json")));
    }
}
