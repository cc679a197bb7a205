package org.cottention.spark;

import org.cottention.model.Bert;
import org.cottention.model.ModelStore;
import org.cottention.model.WeightStorage;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.Truncation;
import org.cottention.tokenizer.WordPieceTokenizer;

import java.io.IOException;
import java.nio.file.Path;

/** A BERT model with its WordPiece tokenizer, as the embedder and the classifier load it on an executor. */
record BertModels(Bert bert, WordPieceTokenizer tokenizer, Path dir) {
    static BertModels load(Path dir, String weights) throws IOException {
        Tokenizer t = Tokenizers.load(dir);
        if (!(t instanceof WordPieceTokenizer w))
            throw new IllegalArgumentException(dir + " holds a " + t.getClass().getSimpleName() + ", BERT needs a WordPiece tokenizer (vocab.txt)");
        return new BertModels(ModelStore.loadBert(dir, null, org.cottention.io.Checkpoint.Format.AUTO, storage(weights)), w, dir);
    }

    static WeightStorage storage(String weights) {
        return weights.equals("mmap") ? WeightStorage.of("f32", true) : WeightStorage.of(weights, false);
    }

    /** The longest input the model takes: max_position_embeddings with absolute positions, none (0) with rotary. */
    int maxLength() {
        return bert.cfg.rotary() ? 0 : bert.cfg.maxPositionEmbeddings();
    }

    /**
     * [CLS] text [SEP], truncated to {@link #maxLength()} (longest first) as {@code embed} and {@code predict} do;
     * with truncate off, a longer text is an error naming its length.
     */
    Encoding encode(String text, boolean truncate) {
        Encoding enc = tokenizer.encode(text, null, 0, Truncation.LONGEST_FIRST, false);
        int limit = maxLength();
        if (limit > 0 && enc.length() > limit) {
            if (!truncate)
                throw new IllegalArgumentException("the text has " + enc.length() + " tokens, more than max_position_embeddings " + limit
                        + " of this model (absolute positions)");
            enc = tokenizer.encode(text, null, limit, Truncation.LONGEST_FIRST, false);
        }
        return enc;
    }
}
