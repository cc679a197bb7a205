package org.cottention.spark;

import org.cottention.model.Bert;
import org.cottention.model.ModelStore;
import org.cottention.model.Pooling;
import org.cottention.model.WeightStorage;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.Truncation;
import org.cottention.tokenizer.WordPieceTokenizer;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A BERT model with its WordPiece tokenizer and the pooling its folder was saved with (null: none), as the embedder
 * and the classifier load it on an executor (once, through the holder).
 */
record BertModels(Bert bert, WordPieceTokenizer tokenizer, Path dir, Pooling saved) {
    static BertModels load(Path dir, String weights) throws IOException {
        Tokenizer t = Tokenizers.load(dir);
        if (!(t instanceof WordPieceTokenizer w))
            throw new IllegalArgumentException(dir + " holds a " + t.getClass().getSimpleName() + ", BERT needs a WordPiece tokenizer (vocab.txt)");
        return new BertModels(ModelStore.loadBert(dir, null, org.cottention.io.Checkpoint.Format.AUTO, storage(weights)), w, dir, Pooling.read(dir));
    }

    static WeightStorage storage(String weights) {
        return weights.equals("mmap") ? WeightStorage.of("f32", true) : WeightStorage.of(weights, false);
    }

    /** The longest input the model takes: max_position_embeddings with absolute positions, none (0) with rotary. */
    int maxLength() {
        return bert.cfg.rotary() ? 0 : bert.cfg.maxPositionEmbeddings();
    }

    /**
     * The longest input of a sentence embedding, as {@code embed} truncates without --max-length
     * ({@link Pooling#inputLimit}), never past the positions.
     */
    int embeddingLength() {
        int max = maxLength(), limit = Pooling.inputLimit(saved, max);
        return max > 0 ? Math.min(limit, max) : limit;
    }

    /**
     * [CLS] text [SEP], truncated to {@link #maxLength()} (longest first) as {@code predict} does; with truncate off,
     * a longer text is an error naming its length.
     */
    Encoding encode(String text, boolean truncate) {
        return encode(text, truncate, maxLength());
    }

    /** {@link #encode(String, boolean)} with the limit given (0: none), e.g. {@link #embeddingLength}. */
    Encoding encode(String text, boolean truncate, int limit) {
        Encoding enc = tokenizer.encode(text, null, 0, Truncation.LONGEST_FIRST, false);
        if (limit > 0 && enc.length() > limit) {
            if (!truncate)
                throw new IllegalArgumentException("the text has " + enc.length() + " tokens, more than "
                        + (limit == maxLength() ? "max_position_embeddings " + limit + " of this model (absolute positions)"
                        : "the model folder's max_seq_length " + limit));
            enc = tokenizer.encode(text, null, limit, Truncation.LONGEST_FIRST, false);
        }
        return enc;
    }
}
