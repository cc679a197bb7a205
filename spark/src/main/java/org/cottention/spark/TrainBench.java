package org.cottention.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.cottention.data.TokenFile;
import org.cottention.model.GptJ;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.train.AdamW;
import org.cottention.train.LrSchedule;
import org.cottention.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code cottention spark bench-train}: the same steps of GPT training in this process and data-parallel on Spark,
 * from the same model folder, data and seed: step times (median), the bytes the Spark steps moved (shuffle writes and
 * task results as Spark's task metrics count them, plus the broadcast of the parameters), and the largest relative
 * difference of the two loss curves. One JSON line.
 */
final class TrainBench {
    private TrainBench() {}

    record Setup(Path model, List<Path> data, Path out, int steps, int accumulation, int batch, int context, int partitions, int threads) {}

    static Map<String, Object> run(SparkSession spark, Setup s) throws IOException {
        org.cottention.kernels.Parallel.setThreads(s.threads());
        GptJ probe = ModelStore.loadGptJ(s.model(), null);
        Path tokens;
        try (TokenFile t = TokenFile.build(s.data(), Tokenizers.load(s.model()), probe.cfg.eosTokenId(), s.out().resolve("cache"))) {
            tokens = t.path();
        }
        CausalLmReplica replica = new CausalLmReplica(s.model().toAbsolutePath().toString(), tokens.toAbsolutePath().toString(), s.context(), s.batch(), 0.0, 1);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("parameters", probe.params.size());
        r.put("steps", s.steps());
        r.put("microBatches", s.accumulation());
        r.put("tokensPerStep", (long) s.accumulation() * s.batch() * s.context());
        r.put("partitions", s.partitions());
        r.put("master", spark.sparkContext().master());
        double[] single = train(replica, null, s, s.out().resolve("single"));
        TaskTimes times = new TaskTimes();
        spark.sparkContext().addSparkListener(times);
        double[] dp = train(replica, new JavaSparkContext(spark.sparkContext()), s, s.out().resolve("spark"));
        spark.sparkContext().removeSparkListener(times);
        r.put("stepSecSingle", single[single.length - 1]);
        r.put("stepSecSpark", dp[dp.length - 1]);
        double maxRel = 0;
        for (int i = 0; i < s.steps(); i++) maxRel = Math.max(maxRel, Math.abs(single[i] - dp[i]) / Math.abs(single[i]));
        r.put("lossMaxRelDiff", maxRel);
        long shuffle = 0, results = 0;
        for (TaskTimes.Task t : times.tasks()) {
            shuffle += t.shuffleWriteBytes();
            results += t.resultBytes();
        }
        r.put("shuffleBytesPerStep", shuffle / s.steps());
        r.put("resultBytesPerStep", results / s.steps());
        r.put("broadcastBytesPerExecutor", 4L * probe.params.size());
        r.put("modelBytesPerStep", DataParallel.bytesPerStep(probe.params.size(), Math.min(s.partitions(), s.accumulation()), 1));
        return r;
    }

    /** The loss of each step, then the median step seconds (the last element). */
    private static double[] train(CausalLmReplica replica, JavaSparkContext sc, Setup s, Path out) throws IOException {
        GptJ m = ModelStore.loadGptJ(s.model(), null);
        Trainer.Gradients g = sc == null ? Trainer.local(m, replica.windows(m)) : new DataParallel(sc, m.params, replica, s.partitions());
        Trainer.Options o = new Trainer.Options(s.steps(), s.accumulation(), new LrSchedule(1e-3f, 1e-4f, 1, s.steps(), LrSchedule.Decay.COSINE),
                AdamW.Config.defaults(0.01f), 1.0, 1, 0, 0, 1, 1, out, false, false, null, null, false, 0);
        new Trainer(m, null, g, null, o).run();
        ObjectMapper om = new ObjectMapper();
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) rows.add(om.readTree(l));
        double[] r = new double[rows.size() + 1];
        double[] secs = new double[rows.size() - 1];  // the first step pays the JIT and, on Spark, the first job
        long prev = rows.getFirst().get("tokensSeen").asLong();
        for (int i = 0; i < rows.size(); i++) {
            r[i] = rows.get(i).get("loss").asDouble();
            if (i == 0) continue;
            long seen = rows.get(i).get("tokensSeen").asLong();
            secs[i - 1] = (seen - prev) / rows.get(i).get("tokensPerSec").asDouble();
            prev = seen;
        }
        Arrays.sort(secs);
        r[rows.size()] = secs.length == 0 ? Double.NaN : secs[secs.length / 2];
        return r;
    }
}
