package org.cottention.spark;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.cottention.model.Pooling;
import org.cottention.tokenizer.Encoding;

import java.util.ArrayList;
import java.util.List;

/**
 * Text column to embedding column with a BERT encoder: mean or [CLS] pooling, optionally L2-normalised, exactly as
 * {@code cottention embed} (one text per forward pass, so no padding enters a vector). Pooling and normalisation come
 * from the model folder (sentence-transformers' 1_Pooling/config.json and modules.json) unless set here.
 */
public final class CottentionEmbedder extends CottentionTransformer {
    private final Param<String> outputCol, pooling, normalize;
    private final BooleanParam truncate;

    public CottentionEmbedder() {
        this(newUid("cottentionEmbedder"));
    }

    public CottentionEmbedder(String uid) {
        super(uid);
        outputCol = new Param<>(this, "outputCol", "embedding column");
        pooling = new Param<>(this, "pooling", "model (what the folder says; else mean), mean or cls", ParamValidators.inArray(new String[]{"model", "mean", "cls"}));
        normalize = new Param<>(this, "normalize", "model (what the folder says; else no), true or false", ParamValidators.inArray(new String[]{"model", "true", "false"}));
        truncate = new BooleanParam(this, "truncate", "truncate texts longer than the model folder's max_seq_length (else, with absolute positions, max_position_embeddings), as embed does (false: such a row gets an error)");
        setDefault(outputCol, "embedding");
        setDefault(pooling, "model");
        setDefault(normalize, "model");
        setDefault(truncate, true);
    }

    public Param<String> outputCol() { return outputCol; }
    public Param<String> pooling() { return pooling; }
    public Param<String> normalize() { return normalize; }
    public BooleanParam truncate() { return truncate; }

    public CottentionEmbedder setOutputCol(String v) { set(outputCol, v); return this; }
    public CottentionEmbedder setPooling(String v) { set(pooling, v); return this; }
    public CottentionEmbedder setNormalize(String v) { set(normalize, v); return this; }
    public CottentionEmbedder setTruncate(boolean v) { set(truncate, v); return this; }

    public static MLReader<CottentionEmbedder> read() {
        return new DefaultParamsReader<>();
    }

    @Override
    protected List<StructField> resultFields() {
        return List.of(DataTypes.createStructField(value(outputCol),
                value(vectorsAsArrays()) ? DataTypes.createArrayType(DataTypes.FloatType, false) : SQLDataTypes.VectorType(), true));
    }

    @Override
    protected RowScorer scorer(ModelHolder.ModelRef model) {
        return new Scorer(model, value(pooling), value(normalize), value(truncate), value(vectorsAsArrays()));
    }

    private record Scorer(ModelHolder.ModelRef model, String pooling, String normalize, boolean truncate, boolean arrays) implements RowScorer {
        @Override
        public List<Object> score(List<String> texts, Counters c) {
            try (var lease = ModelHolder.borrow(model, BertModels.class, BertModels::load)) {
                BertModels m = lease.model();
                Pooling pool = pooling(m.saved());
                int e = m.bert().cfg.hiddenSize(), limit = m.embeddingLength();
                List<Object> out = new ArrayList<>(texts.size());
                for (String text : texts) {
                    Encoding enc;
                    try {
                        enc = m.encode(text, truncate, limit);
                    } catch (IllegalArgumentException tooLong) {
                        out.add(new Failed(tooLong.getMessage()));
                        continue;
                    }
                    int t = enc.length();
                    float[] v = pool.pool(m.bert().encode(1, t, enc.inputIds(), null, null), t, e);
                    c.documents().add(1);
                    c.tokens().add(t);
                    out.add(List.of(arrays ? v : Vectors.dense(widen(v))));
                }
                return out;
            }
        }

        private Pooling pooling(Pooling saved) {
            Pooling fromModel = saved != null ? saved : new Pooling(Pooling.Mode.MEAN, false, 0);
            return new Pooling(pooling.equals("model") ? fromModel.mode() : Pooling.Mode.parse(pooling),
                    normalize.equals("model") ? fromModel.normalize() : Boolean.parseBoolean(normalize), 0);
        }
    }

    static double[] widen(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
