package org.cottention.data;

import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.tokenizer.WordPieceTrainer;
import org.cottention.train.Batch;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Dynamic masking: 15% of real non-special tokens, 80/10/10, deterministic by batch index; NSP pairs. */
class MlmDataTest {
    static List<String> docs() {
        SplittableRandom r = new SplittableRandom(2);
        String[] words = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"};
        List<String> docs = new ArrayList<>();
        for (int d = 0; d < 20; d++) {
            StringBuilder sb = new StringBuilder();
            for (int l = 0; l < 30; l++) {
                for (int w = 0; w < 3 + r.nextInt(10); w++) sb.append(words[r.nextInt(words.length)]).append(' ');
                sb.append('\n');
            }
            docs.add(sb.toString());
        }
        return docs;
    }

    static WordPieceTokenizer tok(List<String> docs) {
        return WordPieceTrainer.trainOnTexts(docs, WordPieceTrainer.Config.uncased(60));
    }

    @Test
    void maskingRatesAndDeterminism() {
        List<String> docs = docs();
        WordPieceTokenizer tok = tok(docs);
        MlmData d = new MlmData(docs, tok, 32, 16, false, 0.1, 7);
        long real = 0, targets = 0, masked = 0, kept = 0;
        for (int i = 0; i < 40; i++) {
            Batch b = d.batch(i), again = d.batch(i);
            assertArrayEquals(b.inputIds(), again.inputIds(), "batch " + i + " is a function of its index");
            assertArrayEquals(b.targets(), again.targets());
            assertEquals(b.size() * b.seqLen(), b.targets().length, "no NSP labels without --nsp");
            for (int k = 0; k < b.inputIds().length; k++) {
                if (b.attentionMask()[k] == 0) {
                    assertEquals(tok.padId(), b.inputIds()[k]);
                    assertEquals(-100, b.targets()[k], "padding is never a target");
                    continue;
                }
                int id = b.inputIds()[k];
                if (id != tok.clsId() && id != tok.sepId()) real++;
                if (b.targets()[k] >= 0) {
                    targets++;
                    assertNotEquals(tok.clsId(), b.targets()[k]);
                    if (id == tok.maskId()) masked++;
                    else if (id == b.targets()[k]) kept++;
                }
            }
        }
        double rate = targets / (double) real, maskShare = masked / (double) targets, keepShare = kept / (double) targets;
        assertEquals(0.15, rate, 0.02, "target rate");
        assertEquals(0.8, maskShare, 0.04, "[MASK] share");
        assertTrue(keepShare > 0.07 && keepShare < 0.16, "kept share " + keepShare + " (10% kept + random hits of the same token)");
        assertNotEquals(java.util.Arrays.toString(d.batch(0).targets()), java.util.Arrays.toString(d.batch(d.batchesPerEpoch()).targets()),
                "a new epoch masks afresh");
        // validation is fixed
        assertArrayEquals(d.validation(0).get(0).inputIds(), d.validation(0).get(0).inputIds());
    }

    @Test
    void nspPairs() {
        List<String> docs = docs();
        WordPieceTokenizer tok = tok(docs);
        MlmData d = new MlmData(docs, tok, 40, 8, true, 0.1, 3);
        int random = 0, total = 0;
        for (int i = 0; i < 30; i++) {
            Batch b = d.batch(i);
            int n = b.size() * b.seqLen();
            assertEquals(n + b.size(), b.targets().length, "NSP labels follow the MLM targets");
            for (int s = 0; s < b.size(); s++) {
                int label = b.targets()[n + s];
                assertTrue(label == 0 || label == 1);
                random += label;
                total++;
                int seps = 0, firstType1 = -1;
                for (int j = 0; j < b.seqLen(); j++) {
                    int k = s * b.seqLen() + j;
                    if (b.attentionMask()[k] == 1 && b.inputIds()[k] == tok.sepId()) seps++;
                    if (b.tokenTypeIds()[k] == 1 && firstType1 < 0) firstType1 = j;
                }
                assertEquals(2, seps, "[CLS] A [SEP] B [SEP]");
                assertTrue(firstType1 > 1, "B has token type 1");
            }
        }
        assertEquals(0.5, random / (double) total, 0.12, "half the pairs are random");
    }
}
