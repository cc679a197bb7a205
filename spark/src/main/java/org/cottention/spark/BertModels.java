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
     * The longest input of a sentence embedding: the folder's {@code max_seq_length} (sentence-transformers'
     * sentence_bert_config.json, as {@code import} writes it: 128 for all-MiniLM-L6-v2, whose tokenizer truncates
     * there) when it has one (and it is below the positions), else {@link #maxLength()} — what {@code embed} does
     * without --max-length.
     */
    int embeddingLength(Pooling saved) {
        int max = maxLength(), seq = saved != null ? saved.maxSeqLength() : 0;
        return seq > 0 && (max == 0 || seq < max) ? seq : max;
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
