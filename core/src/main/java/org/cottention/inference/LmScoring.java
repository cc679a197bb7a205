package org.cottention.inference;

import org.cottention.model.GptJ;
import org.cottention.train.Batch;
import org.cottention.train.TrainableModel;

import java.util.Arrays;

/**
 * Log-likelihood of a token sequence under a causal LM, in windows of {@code context} inputs predicting the next
 * {@code context} tokens; consecutive windows overlap by one token so every token after the first counts once.
 * One implementation for {@code cottention eval} and the Spark scorer.
 */
public final class LmScoring {
    private LmScoring() {}

    /** What a scoring gave: the summed negative log-likelihood (nats) and the windows it took. */
    public record Result(TrainableModel.Loss loss, int windows) {}

    /** Scores tokens (at least 2) with up to {@code batch} windows per forward pass. */
    public static Result score(GptJ m, int[] tokens, int context, int batch) {
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= m.cfg.vocabSize())
                throw new IllegalArgumentException("token id " + tokens[i] + " at position " + i + " is outside the vocabulary of " + m.cfg.vocabSize());
        if (tokens.length < 2) throw new IllegalArgumentException("need at least 2 tokens to evaluate, got " + tokens.length);
        if (context < 1 || batch < 1) throw new IllegalArgumentException("context and batch must be >= 1");
        TrainableModel.Loss total = new TrainableModel.Loss(0, 0);
        int windows = 0;
        for (int start = 0; start + 1 < tokens.length; ) {
            int rows = 0;
            int len = Math.min(context, tokens.length - 1 - start);
            int[] ids = new int[batch * len], tg = new int[batch * len];
            Arrays.fill(tg, -100);
            while (rows < batch && start + 1 < tokens.length && Math.min(context, tokens.length - 1 - start) == len) {
                System.arraycopy(tokens, start, ids, rows * len, len);
                System.arraycopy(tokens, start + 1, tg, rows * len, len);
                rows++;
                start += len;
            }
            total = total.plus(m.evaluate(Batch.lm(rows, len, Arrays.copyOf(ids, rows * len), null, Arrays.copyOf(tg, rows * len))));
            windows += rows;
        }
        return new Result(total, windows);
    }

    /** A document as the LM sees it in training and in {@code eval --data}: its tokens, then end-of-text. */
    public static int[] documentTokens(int[] encoded, int eos) {
        int[] t = Arrays.copyOf(encoded, encoded.length + 1);
        t[encoded.length] = eos;
        return t;
    }
}
