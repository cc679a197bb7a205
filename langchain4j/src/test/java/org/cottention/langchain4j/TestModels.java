package org.cottention.langchain4j;

import org.cottention.model.AttentionType;
import org.cottention.model.Bert;
import org.cottention.model.BertConfig;
import org.cottention.testutil.Shared;
import org.cottention.testutil.TinyModels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Model folders for the tests: core's tiny GPT-J, and a tiny cosine encoder with rotary positions. */
final class TestModels {
    private TestModels() {}

    static Path gpt(Path dir) throws IOException {
        return TinyModels.gpt(dir, AttentionType.COSINE, 1);
    }

    /**
     * A BERT encoder (2 layers, width 32, cosine attention, rotary positions so texts of any length are read whole,
     * 64 trained positions) with seeded weights and bert-base-uncased's WordPiece vocabulary.
     */
    static Path encoder(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path vocab = Shared.data("tokenizers", "bert-base-uncased", "vocab.txt");
        int size = (int) Files.readAllLines(vocab).size();
        new Bert(BertConfig.of(size, 32, 2, 2, 64, 64, 0, AttentionType.COSINE, true), Bert.HeadSet.ENCODER).initialise(7).saveModel(dir);
        Files.copy(vocab, dir.resolve("vocab.txt"));
        return dir;
    }
}
