package org.cottention.spark;

import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.cottention.inference.LmScoring;
import org.cottention.model.GptJ;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-document log-likelihood and perplexity under a causal LM: the document's tokens then end-of-text, scored in
 * windows of {@code context} tokens exactly as {@code cottention eval} scores a file holding that one document.
 * Columns: tokens (the scored tokens: all but the first), logLikelihood (natural log, summed), perplexity.
 */
public final class CottentionScorer extends CottentionTransformer {
    private final Param<String> tokensCol, logLikelihoodCol, perplexityCol;
    private final IntParam context, windowBatch;

    public CottentionScorer() {
        this(newUid("cottentionScorer"));
    }

    public CottentionScorer(String uid) {
        super(uid);
        tokensCol = new Param<>(this, "tokensCol", "column of the number of scored tokens");
        logLikelihoodCol = new Param<>(this, "logLikelihoodCol", "column of the summed log-likelihood (nats)");
        perplexityCol = new Param<>(this, "perplexityCol", "column of the perplexity, exp(-logLikelihood / tokens)");
        context = new IntParam(this, "context", "window length (0: the model's n_positions)", ParamValidators.gtEq(0));
        windowBatch = new IntParam(this, "windowBatch", "windows per forward pass", ParamValidators.gtEq(1));
        setDefault(tokensCol, "tokens");
        setDefault(logLikelihoodCol, "logLikelihood");
        setDefault(perplexityCol, "perplexity");
        setDefault(context, 0);
        setDefault(windowBatch, 8);
    }

    public Param<String> tokensCol() { return tokensCol; }
    public Param<String> logLikelihoodCol() { return logLikelihoodCol; }
    public Param<String> perplexityCol() { return perplexityCol; }
    public IntParam context() { return context; }
    public IntParam windowBatch() { return windowBatch; }

    public CottentionScorer setContext(int v) { set(context, v); return this; }
    public CottentionScorer setWindowBatch(int v) { set(windowBatch, v); return this; }

    public static MLReader<CottentionScorer> read() {
        return new DefaultParamsReader<>();
    }

    /** A causal LM with its tokenizer, as loaded on an executor. */
    record Lm(GptJ model, Tokenizer tokenizer) {
        static Lm load(Path dir, String weights) throws IOException {
            return new Lm(ModelStore.loadGptJ(dir, null, org.cottention.io.Checkpoint.Format.AUTO, BertModels.storage(weights)), Tokenizers.load(dir));
        }
    }

    @Override
    protected List<StructField> resultFields() {
        return List.of(DataTypes.createStructField(value(tokensCol), DataTypes.LongType, true),
                DataTypes.createStructField(value(logLikelihoodCol), DataTypes.DoubleType, true),
                DataTypes.createStructField(value(perplexityCol), DataTypes.DoubleType, true));
    }

    @Override
    protected RowScorer scorer(ModelHolder.ModelRef model) {
        return new Scorer(model, value(context), value(windowBatch));
    }

    private record Scorer(ModelHolder.ModelRef model, int context, int windowBatch) implements RowScorer {
        @Override
        public List<Object> score(List<String> texts, Counters c) {
            try (var lease = ModelHolder.borrow(model, Lm.class, Lm::load)) {
                GptJ m = lease.model().model();
                int t = context > 0 ? context : m.cfg.nPositions();
                List<Object> out = new ArrayList<>(texts.size());
                for (String text : texts) {
                    int[] ids = LmScoring.documentTokens(lease.model().tokenizer().encode(text), m.cfg.eosTokenId());
                    LmScoring.Result r;
                    try {
                        r = LmScoring.score(m, ids, t, windowBatch);
                    } catch (IllegalArgumentException unscorable) {
                        out.add(new Failed(unscorable.getMessage()));
                        continue;
                    }
                    c.documents().add(1);
                    c.tokens().add(r.loss().count());
                    out.add(List.of(r.loss().count(), -r.loss().sum(), Math.exp(r.loss().mean())));
                }
                return out;
            }
        }
    }
}
