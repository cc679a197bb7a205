package org.cottention.spark;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.cottention.inference.Classification;
import org.cottention.model.BertConfig;
import org.cottention.tokenizer.Encoding;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Text column to label and class probabilities (in the order of the model's id2label) with a fine-tuned BERT
 * classifier, exactly as {@code cottention predict}: batchSize texts per padded forward pass. A regression model gives
 * one value column instead.
 */
public final class CottentionClassifier extends CottentionTransformer {
    private final Param<String> labelCol, probabilityCol, valueCol;
    private final BooleanParam truncate;

    public CottentionClassifier() {
        this(newUid("cottentionClassifier"));
    }

    public CottentionClassifier(String uid) {
        super(uid);
        labelCol = new Param<>(this, "labelCol", "predicted label column");
        probabilityCol = new Param<>(this, "probabilityCol", "class probabilities column (model label order)");
        valueCol = new Param<>(this, "valueCol", "predicted value column of a regression model");
        truncate = new BooleanParam(this, "truncate", "truncate texts longer than max_position_embeddings (false: such a row gets an error)");
        setDefault(labelCol, "label");
        setDefault(probabilityCol, "probabilities");
        setDefault(valueCol, "value");
        setDefault(truncate, true);
    }

    public Param<String> labelCol() { return labelCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public Param<String> valueCol() { return valueCol; }
    public BooleanParam truncate() { return truncate; }

    public CottentionClassifier setLabelCol(String v) { set(labelCol, v); return this; }
    public CottentionClassifier setProbabilityCol(String v) { set(probabilityCol, v); return this; }
    public CottentionClassifier setValueCol(String v) { set(valueCol, v); return this; }
    public CottentionClassifier setTruncate(boolean v) { set(truncate, v); return this; }

    public static MLReader<CottentionClassifier> read() {
        return new DefaultParamsReader<>();
    }

    /** Whether the model (as the driver sees its config) is a regressor; a folder only the executors have is taken as a classifier. */
    private boolean regression() {
        Path cfg = Path.of(value(modelPath())).resolve("config.json");
        if (!Files.isRegularFile(cfg)) return false;
        try {
            return BertConfig.read(cfg).regression();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected List<StructField> resultFields() {
        if (regression()) return List.of(DataTypes.createStructField(value(valueCol), DataTypes.FloatType, true));
        return List.of(DataTypes.createStructField(value(labelCol), DataTypes.StringType, true),
                DataTypes.createStructField(value(probabilityCol),
                        value(vectorsAsArrays()) ? DataTypes.createArrayType(DataTypes.DoubleType, false) : SQLDataTypes.VectorType(), true));
    }

    @Override
    protected RowScorer scorer(ModelHolder.ModelRef model) {
        return new Scorer(model, value(truncate), value(vectorsAsArrays()), value(batchSize()), regression());
    }

    private record Scorer(ModelHolder.ModelRef model, boolean truncate, boolean arrays, int batch, boolean regression) implements RowScorer {
        @Override
        public List<Object> score(List<String> texts, Counters c) {
            try (var lease = ModelHolder.borrow(model, BertModels.class, BertModels::load)) {
                BertModels m = lease.model();
                if (!m.bert().heads.classifier()) throw new IllegalArgumentException(m.dir() + " has no classifier head (train one with `cottention finetune`)");
                if (m.bert().cfg.regression() != regression) throw new IllegalStateException(m.dir() + ": the executor's model and the driver's config disagree on regression");
                Object[] out = new Object[texts.size()];
                List<Encoding> enc = new ArrayList<>();
                List<Integer> at = new ArrayList<>();
                for (int i = 0; i < texts.size(); i++) {
                    try {
                        enc.add(m.encode(texts.get(i), truncate));
                        at.add(i);
                    } catch (IllegalArgumentException tooLong) {
                        out[i] = new Failed(tooLong.getMessage());
                    }
                }
                int k = m.bert().cfg.numLabels();
                float[] y = enc.isEmpty() ? new float[0] : Classification.logits(m.bert(), enc, batch, m.tokenizer().padId());
                List<String> labels = m.bert().cfg.labels();
                for (int j = 0; j < enc.size(); j++) {
                    c.documents().add(1);
                    c.tokens().add(enc.get(j).length());
                    if (regression) {
                        out[at.get(j)] = List.of(y[j]);
                        continue;
                    }
                    double[] p = Classification.softmax(y, j * k, k);
                    out[at.get(j)] = List.of(labels.get(Classification.argmax(p)), arrays ? p : Vectors.dense(p));
                }
                return List.of(out);
            }
        }
    }
}
