package org.cottention.tokenizer;

import java.io.IOException;
import java.nio.file.Path;

/** A text tokenizer (GPT-2 byte-level BPE or BERT WordPiece), immutable and safe to share between threads. */
public interface Tokenizer {
    /** Token ids of the text, without any special tokens added. */
    int[] encode(String text);

    /** Text of the ids (special tokens included as their text); inverse of {@link #encode} where the format allows. */
    String decode(int[] ids);

    int vocabSize();

    /** Id of a token string (as stored in the vocabulary), or -1 if it has none. */
    int tokenToId(String token);

    /** The vocabulary string of an id; throws IllegalArgumentException naming the id when out of range. */
    String idToToken(int id);

    /** Writes the tokenizer's files into dir in HF layout (vocab.json + merges.txt + tokenizer.json, or vocab.txt + tokenizer.json). */
    void save(Path dir) throws IOException;
}
