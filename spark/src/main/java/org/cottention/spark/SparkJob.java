package org.cottention.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.cottention.data.LmWindows;
import org.cottention.model.GptJ;
import org.cottention.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The batch job, for {@code spark-submit --class org.cottention.spark.SparkJob cottention-spark.jar embed|predict|score ...}
 * and for {@code ./cottention spark ...} (which runs it in local mode with Spark from the Maven repository): read
 * documents, run one of the Transformers, write Parquet (or JSONL) with the input's id, the result columns and an
 * error column, then print a one-line JSON summary (documents, tokens, errors, seconds, per-partition task times)
 * and the unreadable documents by id or line.
 */
@Command(name = "cottention spark", mixinStandardHelpOptions = true, sortOptions = false,
        subcommands = {SparkJob.Embed.class, SparkJob.Predict.class, SparkJob.Score.class, SparkJob.Train.class, SparkJob.BenchTrain.class},
        description = {"Embed, classify or score a corpus, or train a model data-parallel, on Apache Spark",
                "(local[*] unless --master or spark-submit says otherwise)."})
public final class SparkJob implements Runnable {
    /** Default input partitions of the batch jobs per core (Spark's tuning guide: 2-3 tasks per core). */
    static final int TASKS_PER_CORE = 3;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "name a job: embed, predict, score or train");
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SparkJob());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {  // as the CLI's: one line, the stack with COTTENTION_DEBUG
            if (System.getenv("COTTENTION_DEBUG") != null) ex.printStackTrace();
            cmd.getErr().println("error: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return 2;
        });
        return cl;
    }

    /** Runs a job (args as on the command line) in a session the caller owns and keeps (tests, notebooks). */
    public static int run(SparkSession spark, String... args) throws Exception {
        CommandLine.ParseResult pr = commandLine().parseArgs(args);
        if (!pr.hasSubcommand()) throw new IllegalArgumentException("name a job: embed, predict, score or train");
        return ((InSession) pr.subcommand().commandSpec().userObject()).run(spark);
    }

    /** A job that runs in a session it is given. */
    interface InSession {
        int run(SparkSession spark) throws Exception;

        /** Runs in a session of its own, stopped at the end (the command line's and spark-submit's way). */
        default int runAlone(String app, String master) throws Exception {
            SparkSession spark = session(app, master);
            try {
                return run(spark);
            } finally {
                spark.stop();
            }
        }
    }

    /**
     * A session on the master given, else spark-submit's (spark.master), else local[*]. In local mode (one JVM, the
     * job's whole life) the web UI is off: starting it is a fixed cost of every job, and the job's JSON line reports
     * the per-stage task times the UI would show. Broadcasts and shuffle blocks are not compressed there either: they
     * never leave the JVM, so LZ4 over them (the parameters and gradients spark train moves each step) is CPU spent
     * for nothing. spark.* system properties and spark-submit's --conf override each of these.
     */
    static SparkSession session(String app, String master) {
        SparkConf conf = new SparkConf().setAppName(app);
        if (master != null) conf.setMaster(master);
        else if (!conf.contains("spark.master")) conf.setMaster("local[*]");
        if (conf.get("spark.master").startsWith("local"))
            for (String k : List.of("spark.ui.enabled", "spark.broadcast.compress", "spark.shuffle.compress", "spark.shuffle.spill.compress"))
                conf.setIfMissing(k, "false");
        return SparkSession.builder().config(conf).getOrCreate();
    }

    /** The options every job has. */
    static final class Common {
        @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder (config.json, weights, tokenizer files).")
        String model;

        @Option(names = "--input", required = true, paramLabel = "PATH", description = "Text file(s) (one document per line), .jsonl ({\"id\", \"text\"} per line) or .parquet; a folder or glob.")
        String input;

        @Option(names = "--output", required = true, paramLabel = "PATH", description = "Output folder (Spark writes part files there).")
        String output;

        @Option(names = "--master", description = "Spark master (default: spark-submit's, else local[*]).")
        String master;

        @Option(names = "--format", defaultValue = "parquet", description = "Output format: parquet or jsonl (default ${DEFAULT-VALUE}).")
        String format;

        @Option(names = "--input-format", defaultValue = "auto", description = "text, jsonl, parquet or auto (from the name; default ${DEFAULT-VALUE}).")
        String inputFormat;

        @Option(names = "--id-column", defaultValue = "id", description = "Id column of Parquet input (default ${DEFAULT-VALUE}).")
        String idColumn;

        @Option(names = "--text-column", defaultValue = "text", description = "Text column of Parquet input (default ${DEFAULT-VALUE}).")
        String textColumn;

        @Option(names = "--partitions", defaultValue = "0", description = {"Minimum input partitions for text/JSONL (default: 3 per core of",
                "Spark's default parallelism, as Spark's tuning guide advises: input is split by bytes, and documents of unequal",
                "cost leave one core idle at the end of a stage of one task per core)."})
        int partitions;

        @Option(names = "--batch", defaultValue = "16", description = "Rows per model call within a partition (default ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--threads-per-task", defaultValue = "1", description = "Kernel threads per task; match spark.task.cpus (default ${DEFAULT-VALUE}).")
        int threads;

        @Option(names = "--weights", defaultValue = "mmap", description = "mmap, f32 or bf16 (default ${DEFAULT-VALUE}).")
        String weights;

        @Option(names = "--ship-model", description = "Send the model folder to the executors with SparkContext.addFile (when they cannot read --model).")
        boolean shipModel;

        @Option(names = "--overwrite", description = "Replace an existing output folder (default: refuse).")
        boolean overwrite;
    }

    /** What a job contributes: its transformer and the result columns it writes. */
    abstract static class Job implements Callable<Integer>, InSession {
        @Mixin
        Common c;

        abstract CottentionTransformer transformer();

        @Override
        public Integer call() throws Exception {
            return runAlone("cottention " + getClass().getSimpleName().toLowerCase(), c.master);
        }

        @Override
        public int run(SparkSession spark) throws Exception {
            if (!c.format.equals("parquet") && !c.format.equals("jsonl")) throw new IllegalArgumentException("--format must be parquet or jsonl, got " + c.format);
            if (!c.overwrite && Files.exists(Path.of(c.output))) throw new IllegalArgumentException("output " + c.output + " exists; pass --overwrite to replace it");
            if (!c.model.contains("://") && !Files.isDirectory(Path.of(c.model))) throw new IllegalArgumentException("model folder " + c.model + " does not exist");
            TaskTimes times = new TaskTimes();
            spark.sparkContext().addSparkListener(times);
            if (c.shipModel) spark.sparkContext().addFile(c.model, true);
            long t0 = System.nanoTime();
            int parts = c.partitions > 0 ? c.partitions : TASKS_PER_CORE * spark.sparkContext().defaultParallelism();
            Dataset<Row> docs = Documents.read(spark, c.input, Documents.Format.parse(c.inputFormat), c.idColumn, c.textColumn, parts);
            CottentionTransformer t = transformer();
            t.setModelPath(c.model).setInputCol("text").setBatchSize(c.batch).setThreadsPerTask(c.threads).setWeights(c.weights).setVectorsAsArrays(true);
            Dataset<Row> out = t.transform(docs);
            List<Column> cols = new ArrayList<>(List.of(out.col("id")));
            for (String r : out.columns()) if (!List.of("id", "text", "error").contains(r)) cols.add(out.col(r));
            cols.add(out.col("error"));
            var w = out.select(cols.toArray(Column[]::new)).write().mode(c.overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists);
            if (c.format.equals("parquet")) w.parquet(c.output);
            else w.option("ignoreNullFields", "false").json(c.output);  // every line has every field (error: null)
            double secs = (System.nanoTime() - t0) / 1e9;
            // Accumulators only over-count (a task run twice), never under-count: 0 means no row has an error, and
            // the output need not be read again. Otherwise the written rows give the exact count and the first ones.
            List<Row> bad = List.of();
            long errors = 0;
            if (t.counters().errors().value() > 0) {
                Dataset<Row> written = c.format.equals("parquet") ? spark.read().parquet(c.output) : spark.read().json(c.output);
                bad = written.filter(written.col("error").isNotNull()).select("id", "error").limit(20).collectAsList();
                errors = bad.size() < 20 ? bad.size() : written.filter(written.col("error").isNotNull()).count();
            }
            for (Row r : bad) System.err.println("unreadable document " + (r.isNullAt(0) ? "(no id)" : r.get(0)) + ": " + r.getString(1));
            if (errors > bad.size()) System.err.println("... " + (errors - bad.size()) + " more: select the rows whose error is not null");
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("job", getClass().getSimpleName().toLowerCase());
            s.put("output", c.output);
            long documents = t.counters().documents().value();
            s.put("documents", documents);
            s.put("tokens", t.counters().tokens().value());
            s.put("errors", errors);
            s.put("seconds", secs);
            s.put("documentsPerSec", documents / secs);
            s.put("master", spark.sparkContext().master());
            s.put("stages", times.stageSummary());
            System.out.println(new ObjectMapper().writeValueAsString(s));
            return 0;
        }
    }

    @Command(name = "embed", mixinStandardHelpOptions = true, description = "One embedding per document (column embedding, float32 array).")
    static final class Embed extends Job {
        @Option(names = "--pooling", defaultValue = "model", description = "model, mean or cls (default ${DEFAULT-VALUE}: the folder's sentence-transformers pooling, else mean).")
        String pooling;

        @Option(names = "--normalize", defaultValue = "model", description = "model, true or false (default ${DEFAULT-VALUE}).")
        String normalize;

        @Override
        CottentionTransformer transformer() {
            return new CottentionEmbedder().setPooling(pooling).setNormalize(normalize);
        }

    }

    @Command(name = "predict", mixinStandardHelpOptions = true, description = "Label and class probabilities (model label order) per document; a regressor gives value.")
    static final class Predict extends Job {
        @Override
        CottentionTransformer transformer() {
            return new CottentionClassifier();
        }

    }

    @Command(name = "score", mixinStandardHelpOptions = true, description = "Per-document tokens, logLikelihood (nats) and perplexity under a causal LM.")
    static final class Score extends Job {
        @Option(names = "--context", defaultValue = "0", description = "Window length (default: the model's n_positions).")
        int context;

        @Option(names = "--window-batch", defaultValue = "8", description = "Windows per forward pass (default ${DEFAULT-VALUE}).")
        int windowBatch;

        @Override
        CottentionTransformer transformer() {
            return new CottentionScorer().setContext(context).setWindowBatch(windowBatch);
        }

    }

    @Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"`cottention train` with each step's gradient computed data-parallel on Spark: the driver broadcasts",
                    "the parameters, each of --partitions tasks computes its share of the step's micro-batches, the partial",
                    "gradients are summed in a fixed binary tree and the driver clips and applies AdamW. Checkpoints,",
                    "--resume, metrics.jsonl and the progress bar are train's. --out (the token cache and the replicas'",
                    "config.json) must be on a path every executor reads."})
    static final class Train extends org.cottention.cli.TrainCommand implements InSession {
        @Option(names = "--master", description = "Spark master (default: spark-submit's, else local[*]).")
        String master;

        @Option(names = "--partitions", defaultValue = "0", description = "Spark tasks per step, at most --accumulation (default: Spark's default parallelism).")
        int partitions;

        private JavaSparkContext sc;

        @Override
        public Integer call() throws Exception {
            return runAlone("cottention train", master);
        }

        @Override
        public int run(SparkSession spark) throws Exception {
            sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            return super.call();
        }

        @Override
        protected Trainer.Gradients gradients(GptJ model, Path tokenFile, int seqLen, LmWindows windows) throws java.io.IOException {
            Path arch = training().out.resolve("cache").resolve("replica").toAbsolutePath();
            Files.createDirectories(arch);
            model.cfg.write(arch.resolve("config.json"));
            int p = partitions > 0 ? partitions : sc.defaultParallelism();
            CausalLmReplica replica = new CausalLmReplica(arch.toString(), tokenFile.toAbsolutePath().toString(), seqLen,
                    training().batch, valFraction(), training().seed, model.chunk());
            System.err.printf("spark: %s, %d task(s) per step of %d micro-batch(es)%n", sc.master(), Math.min(p, training().accumulation), training().accumulation);
            return new DataParallel(sc, model.params, replica, p);
        }
    }

    @Command(name = "bench-train", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"GPT training steps in this process, then data-parallel on Spark: step times, bytes moved per step, loss agreement (one JSON line)."})
    static final class BenchTrain implements Callable<Integer>, InSession {
        @Option(names = "--model", required = true, paramLabel = "DIR", description = "GPT-J model folder with its tokenizer (the starting weights).")
        Path model;

        @Option(names = "--data", required = true, arity = "1..*", paramLabel = "PATH", description = "Training text (files, folders, .jsonl).")
        List<Path> data;

        @Option(names = "--out", required = true, description = "Folder for the token cache, metrics and checkpoints of both runs.")
        Path out;

        @Option(names = "--master", description = "Spark master (default: spark-submit's, else local[*]).")
        String master;

        @Option(names = "--steps", defaultValue = "5") int steps;
        @Option(names = "--accumulation", defaultValue = "4", description = "Micro-batches per step (the global batch).") int accumulation;
        @Option(names = "--batch", defaultValue = "4", description = "Windows per micro-batch.") int batch;
        @Option(names = "--context", defaultValue = "128") int context;
        @Option(names = "--partitions", defaultValue = "2", description = "Spark tasks per step.") int partitions;
        @Option(names = "--threads", defaultValue = "1", description = "Kernel threads (the single-process run and each task).") int threads;

        @Override
        public Integer call() throws Exception {
            return runAlone("cottention bench-train", master);
        }

        @Override
        public int run(SparkSession spark) throws Exception {
            System.out.println(new ObjectMapper().writeValueAsString(TrainBench.run(spark,
                    new TrainBench.Setup(model, data, out, steps, accumulation, batch, context, partitions, threads))));
            return 0;
        }
    }
}
