package org.cottention.spark;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;
import org.cottention.kernels.Parallel;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * What the three Spark ML Transformers share: the model folder, the text column, rows batched within a partition, the
 * kernels' threads, the per-row error column, and Spark accumulators that count documents, tokens and errors (they
 * show in the Spark UI's stage page). The model is borrowed from the executor's {@link ModelHolder} once per batch.
 *
 * <p>A row whose text cannot be processed (null, too short to score, an error the reader put in the error column)
 * keeps its other columns, gets null results and the reason in the error column: one bad document never fails the
 * job. A failure of the model itself (e.g. out of memory) fails the task, which Spark retries; the kernels are
 * deterministic, so a retried task writes the same values.
 */
public abstract class CottentionTransformer extends Transformer implements MLWritable {
    private final String uid;
    private final Param<String> modelPath, inputCol, errorCol, weights;
    private final IntParam batchSize, threadsPerTask;
    private final BooleanParam vectorsAsArrays;
    private transient Counters counters;

    protected CottentionTransformer(String uid) {
        this.uid = uid;
        modelPath = new Param<>(this, "modelPath", "model folder (config.json, weights, tokenizer files): a path every executor can read, or one shipped with SparkContext.addFile(path, true)");
        inputCol = new Param<>(this, "inputCol", "text column");
        errorCol = new Param<>(this, "errorCol", "column for the reason a row has no result (null when it has one); kept when the input already has it");
        weights = new Param<>(this, "weights", "weights in memory: mmap (f32 matrices read in place from the mapped safetensors file), f32 or bf16",
                ParamValidators.inArray(new String[]{"mmap", "f32", "bf16"}));
        batchSize = new IntParam(this, "batchSize", "rows handed to the model at a time (the classifier runs them as one padded forward pass)", ParamValidators.gtEq(1));
        threadsPerTask = new IntParam(this, "threadsPerTask", "kernel threads of a task (0: leave the JVM's setting); the kernels' pool is one per JVM, so match spark.task.cpus", ParamValidators.gtEq(0));
        vectorsAsArrays = new BooleanParam(this, "vectorsAsArrays", "vector results as array<float|double> columns instead of ML vectors (for Parquet readers outside Spark)");
        setDefault(inputCol, "text");
        setDefault(errorCol, "error");
        setDefault(weights, "mmap");
        setDefault(batchSize, 16);
        setDefault(threadsPerTask, 1);
        setDefault(vectorsAsArrays, false);
    }

    @Override
    public String uid() {
        return uid;
    }

    protected static String newUid(String prefix) {
        return Identifiable$.MODULE$.randomUID(prefix);
    }

    public Param<String> modelPath() { return modelPath; }
    public Param<String> inputCol() { return inputCol; }
    public Param<String> errorCol() { return errorCol; }
    public Param<String> weights() { return weights; }
    public IntParam batchSize() { return batchSize; }
    public IntParam threadsPerTask() { return threadsPerTask; }
    public BooleanParam vectorsAsArrays() { return vectorsAsArrays; }

    public CottentionTransformer setModelPath(String v) { set(modelPath, v); return this; }
    public CottentionTransformer setInputCol(String v) { set(inputCol, v); return this; }
    public CottentionTransformer setErrorCol(String v) { set(errorCol, v); return this; }
    public CottentionTransformer setWeights(String v) { set(weights, v); return this; }
    public CottentionTransformer setBatchSize(int v) { set(batchSize, v); return this; }
    public CottentionTransformer setThreadsPerTask(int v) { set(threadsPerTask, v); return this; }
    public CottentionTransformer setVectorsAsArrays(boolean v) { set(vectorsAsArrays, v); return this; }

    protected <T> T value(Param<T> p) {
        return getOrDefault(p);
    }

    protected int value(IntParam p) {
        return (Integer) getOrDefault(p);
    }

    protected boolean value(BooleanParam p) {
        return (Boolean) getOrDefault(p);
    }

    /** The result columns this transformer adds (after the input's columns, before the error column). */
    protected abstract List<StructField> resultFields();

    /** The per-partition work, serialised to the executors: the model reference and this transformer's settings. */
    protected abstract RowScorer scorer(ModelHolder.ModelRef model);

    /** Scores a batch of texts; a text it cannot score gets a {@link Failed} instead of its result values. */
    public interface RowScorer extends Serializable {
        List<Object> score(List<String> texts, Counters counters);
    }

    /** The result for one text that has none, with the reason. */
    public record Failed(String reason) {}

    /** The job-wide counts a task adds to. */
    public record Counters(LongAccumulator documents, LongAccumulator tokens, LongAccumulator errors) implements Serializable {}

    /** The counters of the last transform (filled as its result is computed; a retried task may count twice). */
    public Counters counters() {
        return counters;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String in = value(inputCol);
        if (!Arrays.asList(schema.fieldNames()).contains(in))
            throw new IllegalArgumentException("no text column \"" + in + "\" in " + schema.simpleString());
        if (!schema.apply(in).dataType().equals(DataTypes.StringType))
            throw new IllegalArgumentException("column \"" + in + "\" is " + schema.apply(in).dataType().simpleString() + ", not a string");
        StructType out = schema;
        for (StructField f : resultFields()) {
            if (Arrays.asList(schema.fieldNames()).contains(f.name()))
                throw new IllegalArgumentException("the input already has a column \"" + f.name() + "\"");
            out = out.add(f);
        }
        if (!Arrays.asList(schema.fieldNames()).contains(value(errorCol))) out = out.add(value(errorCol), DataTypes.StringType, true);
        return out;
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType in = dataset.schema(), out = transformSchema(in);
        var sc = dataset.sparkSession().sparkContext();
        Counters c = new Counters(sc.longAccumulator("cottention documents"), sc.longAccumulator("cottention tokens"),
                sc.longAccumulator("cottention errors"));
        counters = c;
        String path = value(modelPath);
        if (path == null || path.isEmpty()) throw new IllegalArgumentException("modelPath is not set");
        ModelHolder.ModelRef ref = ModelHolder.ModelRef.of(path, value(weights));
        int text = in.fieldIndex(value(inputCol));
        int error = Arrays.asList(in.fieldNames()).indexOf(value(errorCol));
        int results = resultFields().size();
        return dataset.toDF().mapPartitions(new Partition(scorer(ref), c, text, error, results, value(batchSize), value(threadsPerTask)),
                Encoders.row(out));
    }

    /** One partition: rows in batches of batchSize, each batch scored by one borrowed model. */
    private record Partition(RowScorer scorer, Counters counters, int text, int error, int results, int batch, int threads)
            implements MapPartitionsFunction<Row, Row> {
        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            if (threads > 0) Parallel.setThreads(threads);
            return new Iterator<>() {
                final List<Row> ready = new ArrayList<>();
                int next;

                @Override
                public boolean hasNext() {
                    if (next < ready.size()) return true;
                    ready.clear();
                    next = 0;
                    List<Row> in = new ArrayList<>(batch);
                    while (in.size() < batch && rows.hasNext()) in.add(rows.next());
                    if (in.isEmpty()) return false;
                    List<String> texts = new ArrayList<>();
                    for (Row r : in) if (usable(r)) texts.add(r.getString(text));
                    List<Object> scored = texts.isEmpty() ? List.of() : scorer.score(texts, counters);
                    int k = 0;
                    for (Row r : in) {
                        Object result = usable(r) ? scored.get(k++) : new Failed(error >= 0 && !r.isNullAt(error) ? r.getString(error) : "no text");
                        ready.add(row(r, result));
                    }
                    return true;
                }

                @Override
                public Row next() {
                    if (!hasNext()) throw new NoSuchElementException();
                    return ready.get(next++);
                }
            };
        }

        private boolean usable(Row r) {
            return !r.isNullAt(text) && (error < 0 || r.isNullAt(error));
        }

        /** The input row, then the result values (nulls for a failed one), then the error column when it is new. */
        private Row row(Row r, Object result) {
            List<Object> v = new ArrayList<>(r.length() + results + 1);
            for (int i = 0; i < r.length(); i++) v.add(r.get(i));
            String why = null;
            if (result instanceof Failed f) {
                why = f.reason();
                counters.errors().add(1);
                for (int i = 0; i < results; i++) v.add(null);
            } else {
                v.addAll((List<?>) result);
            }
            if (error < 0) v.add(why);
            else v.set(error, why);
            return RowFactory.create(v.toArray());
        }
    }

    @Override
    public Transformer copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    @Override
    public MLWriter write() {
        return new DefaultParamsWriter(this);
    }
}
