package org.cottention.spark;

import org.cottention.model.AttentionType;
import org.cottention.model.Bert;
import org.cottention.model.BertConfig;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.tokenizer.WordPieceTokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Tiny random models with a small WordPiece vocabulary, saved in the HF layout the commands read. */
final class TinyModels {
    private TinyModels() {}

    static final String[] WORDS = {"the", "movie", "was", "quite", "a", "film", "plot", "really", "and", "so", "great", "lovely",
            "awful", "terrible", "happy", "sad", "whale", "ship", "sea", "captain", "##s", "##ing", "##ed", "of", "to", "in"};

    static WordPieceTokenizer tokenizer() {
        List<String> v = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","));
        v.addAll(List.of(WORDS));
        return new WordPieceTokenizer(v, WordPieceTokenizer.Options.uncased());
    }

    /** A BERT classifier (labels neg, pos; cosine attention, absolute positions up to 24 tokens). */
    static Path bertClassifier(Path dir) throws IOException {
        WordPieceTokenizer tok = tokenizer();
        BertConfig cfg = BertConfig.of(tok.vocabSize(), 32, 2, 2, 64, 24, 0, AttentionType.COSINE, false).withTask(List.of("neg", "pos"), false);
        new Bert(cfg, Bert.HeadSet.CLASSIFIER).initialise(7).saveModel(dir);
        tok.save(dir);
        return dir;
    }

    /** A GPT-J causal LM (context 8, so documents span several windows; [SEP] is end-of-text). */
    static Path gpt(Path dir) throws IOException {
        WordPieceTokenizer tok = tokenizer();
        GptJConfig cfg = GptJConfig.of(tok.vocabSize(), 8, 32, 2, 2, 64, 8, 3, AttentionType.COSINE);
        new GptJ(cfg).initialise(5).saveModel(dir);
        tok.save(dir);
        return dir;
    }
}
