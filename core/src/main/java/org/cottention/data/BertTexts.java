package org.cottention.data;

import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.Truncation;
import org.cottention.tokenizer.WordPieceTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Encodes examples as [CLS] A [SEP] (B [SEP]) for BERT, with the truncation policy of the commands. */
public final class BertTexts {
    private BertTexts() {}

    /**
     * Encodes each example; longer than maxLength (0: no limit) is truncated (longest-first) with one warning line
     * per file, or, with noTruncate, an error naming the first such line.
     */
    public static List<Encoding> encode(WordPieceTokenizer tok, List<LabeledTexts.Example> ex, int maxLength, boolean noTruncate, Path file, String why) {
        return encode(tok, ex, maxLength, noTruncate, file, why, null);
    }

    /** The same; {@code fullLengths} (when not null, one slot per example) receives each text's untruncated token count. */
    public static List<Encoding> encode(WordPieceTokenizer tok, List<LabeledTexts.Example> ex, int maxLength, boolean noTruncate, Path file, String why,
                                        int[] fullLengths) {
        List<Encoding> out = new ArrayList<>(ex.size());
        List<Encoding> full = tok.encodeBatch(ex.stream().map(LabeledTexts.Example::a).toList(),
                ex.get(0).b() == null ? null : ex.stream().map(e -> e.b() == null ? "" : e.b()).toList(), 0, Truncation.LONGEST_FIRST, false);
        int truncated = 0, firstLine = -1, longest = 0;
        for (int i = 0; i < ex.size(); i++) {
            Encoding e = unpad(full.get(i));
            if (fullLengths != null) fullLengths[i] = e.length();
            if (maxLength > 0 && e.length() > maxLength) {
                if (noTruncate)
                    throw new IllegalArgumentException(file + " line " + ex.get(i).line() + ": the text has " + e.length()
                            + " tokens, more than " + maxLength + " (" + why + "); drop --no-truncate to truncate it");
                truncated++;
                if (firstLine < 0) firstLine = ex.get(i).line();
                longest = Math.max(longest, e.length());
                LabeledTexts.Example x = ex.get(i);
                e = tok.encode(x.a(), x.b(), maxLength, Truncation.LONGEST_FIRST, false);
            }
            out.add(e);
        }
        if (truncated > 0)
            System.err.printf("warning: %d of %d texts in %s are longer than %d tokens (%s) and were truncated (first at line %d, longest %d tokens)%n",
                    truncated, ex.size(), file, maxLength, why, firstLine, longest);
        return out;
    }

    /** encodeBatch pads to the longest; strip that again (batches pad themselves). */
    private static Encoding unpad(Encoding e) {
        int n = e.realLength();
        if (n == e.length()) return e;
        return new Encoding(java.util.Arrays.copyOf(e.inputIds(), n), java.util.Arrays.copyOf(e.tokenTypeIds(), n), java.util.Arrays.copyOf(e.attentionMask(), n));
    }
}
