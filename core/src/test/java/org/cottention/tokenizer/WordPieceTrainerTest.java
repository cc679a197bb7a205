package org.cottention.tokenizer;

import org.cottention.testutil.Shared;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Training a WordPiece vocabulary on a slice of Moby-Dick. */
class WordPieceTrainerTest {
    static String corpus;
    static WordPieceTokenizer trained;

    @BeforeAll
    static void train() throws IOException {
        corpus = Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(20_000, 270_000);
        trained = WordPieceTrainer.trainOnTexts(List.of(corpus), WordPieceTrainer.Config.uncased(3000));
    }

    @Test
    void specialTokensFirstAndTargetSize() {
        assertEquals(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
                List.of(trained.idToToken(0), trained.idToToken(1), trained.idToToken(2), trained.idToToken(3), trained.idToToken(4)));
        assertEquals(0, trained.padId());
        assertEquals(1, trained.unkId());
        assertEquals(4, trained.maskId());
        assertEquals(3000, trained.vocabSize());
        assertTrue(trained.tokenToId("##e") > 4 && trained.tokenToId("e") > 4, "alphabet in both forms");
    }

    @Test
    void tokenizesItsCorpusWithoutUnknownsAndRoundTripsWords() {
        int[] ids = trained.encode(corpus);
        long unk = java.util.Arrays.stream(ids).filter(i -> i == trained.unkId()).count();
        Map<String, Long> words = WordPieceTrainer.countWords(List.of(corpus), BertBasicTokenizer.UNCASED, 100);
        long nWords = words.values().stream().mapToLong(Long::longValue).sum();
        assertTrue(unk <= nWords / 10_000, unk + " unknown tokens");
        double perWord = (double) ids.length / nWords;
        // the likelihood score spends many merges on rare pairs (see Scoring), so words stay split more than with BPE
        assertTrue(perWord < 3.0, "tokens per word " + perWord);
        int checked = 0;
        for (String w : words.keySet()) {
            assertEquals(w, trained.decode(trained.encode(w)), "round trip of " + w);
            checked++;
        }
        assertTrue(checked > 5000, "distinct words " + checked);
    }

    @Test
    void frequencyScoringMergesFrequentWords() {
        WordPieceTokenizer bpe = WordPieceTrainer.trainOnTexts(List.of(corpus),
                WordPieceTrainer.Config.uncased(1500).withScoring(WordPieceTrainer.Scoring.FREQUENCY));
        for (String w : new String[]{"the", "and", "whale", "ship"}) assertEquals(List.of(w), bpe.tokenize(w), w);
        Map<String, Long> words = WordPieceTrainer.countWords(List.of(corpus), BertBasicTokenizer.UNCASED, 100);
        double perWord = (double) bpe.encode(corpus).length / words.values().stream().mapToLong(Long::longValue).sum();
        assertTrue(perWord < 1.5, "tokens per word " + perWord);
    }

    @Test
    void deterministicSaveAndReload(@TempDir Path dir) throws IOException {
        WordPieceTokenizer again = WordPieceTrainer.trainOnTexts(List.of(corpus), WordPieceTrainer.Config.uncased(3000));
        for (int i = 0; i < trained.vocabSize(); i++) assertEquals(trained.idToToken(i), again.idToToken(i), "id " + i);
        trained.save(dir);
        Files.writeString(dir.resolve("train.txt"), corpus.substring(0, 50_000));
        WordPieceTokenizer json = WordPieceTokenizer.fromTokenizerJson(dir.resolve("tokenizer.json"));
        WordPieceTokenizer txt = WordPieceTokenizer.fromVocabFile(dir.resolve("vocab.txt"), WordPieceTokenizer.Options.uncased());
        String sample = corpus.substring(0, 20_000);
        assertArrayEquals(trained.encode(sample), json.encode(sample));
        assertArrayEquals(trained.encode(sample), txt.encode(sample));
        // training from files gives the same vocabulary as from the same text in memory
        WordPieceTokenizer fromFile = WordPieceTrainer.train(List.of(dir.resolve("train.txt")), WordPieceTrainer.Config.uncased(800));
        WordPieceTokenizer fromText = WordPieceTrainer.trainOnTexts(List.of(corpus.substring(0, 50_000)), WordPieceTrainer.Config.uncased(800));
        List<String> a = new ArrayList<>(), b = new ArrayList<>();
        for (int i = 0; i < fromFile.vocabSize(); i++) a.add(fromFile.idToToken(i));
        for (int i = 0; i < fromText.vocabSize(); i++) b.add(fromText.idToToken(i));
        assertEquals(b, a);
    }

    @Test
    void badConfigurations() {
        assertThrows(IllegalArgumentException.class, () -> WordPieceTrainer.Config.uncased(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WordPieceTrainer.trainOnTexts(List.of("x y"),
                WordPieceTrainer.Config.uncased(100).withSpecialTokens(List.of("[PAD]", "[CLS]", "[SEP]"))));
        assertTrue(e.getMessage().contains("[UNK]"), e.getMessage());
        assertThrows(IOException.class, () -> WordPieceTrainer.train(List.of(Path.of("/no/such/file.txt")), WordPieceTrainer.Config.uncased(100)));
    }
}
