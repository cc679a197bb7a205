package org.cottention.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.api.java.JavaSparkContext;
import org.cottention.data.LmWindows;
import org.cottention.data.TokenFile;
import org.cottention.kernels.Parallel;
import org.cottention.model.GptJ;
import org.cottention.model.ModelStore;
import org.cottention.train.AdamW;
import org.cottention.train.LrSchedule;
import org.cottention.train.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Data-parallel training through the shared Trainer gives the single-process loss curve, and resumes bit-identically. */
class DataParallelTest {
    static final int STEPS = 6, ACCUMULATION = 4, SEQ = 8, BATCH = 2;

    @TempDir
    static Path tmp;
    static Path model, tokens;

    @BeforeAll
    static void data() throws IOException {
        data(tmp);
    }

    /** The tiny model and its token file under dir. */
    static void data(Path dir) throws IOException {
        model = TinyModels.gpt(dir.resolve("gpt"));
        Path corpus = dir.resolve("corpus.txt");
        StringBuilder sb = new StringBuilder();
        java.util.SplittableRandom r = new java.util.SplittableRandom(11);
        for (int i = 0; i < 400; i++) sb.append(TinyModels.WORDS[r.nextInt(20)]).append(i % 13 == 12 ? ".\n" : " ");
        Files.writeString(corpus, sb);
        GptJ m = ModelStore.loadGptJ(model, null);
        try (TokenFile t = TokenFile.build(List.of(corpus), org.cottention.tokenizer.Tokenizers.load(model), m.cfg.eosTokenId(), dir.resolve("cache"))) {
            tokens = t.path();
        }
    }

    static Trainer.Options options(Path out, boolean resume, int stopAfter) {
        return new Trainer.Options(STEPS, ACCUMULATION, new LrSchedule(3e-3f, 3e-4f, 1, STEPS, LrSchedule.Decay.COSINE),
                AdamW.Config.defaults(0.01f), 1.0, 1, 0, 3, 2, 42, out, resume, false, null, null, false, stopAfter);
    }

    /** Trains from the model folder (or, resuming, its newest checkpoint); partitions 0: in this process. */
    static double[] train(Path out, int partitions, boolean resume, int stopAfter) throws IOException {
        return train(JavaSparkContext.fromSparkContext(SharedSpark.get().sparkContext()), out, partitions, resume, stopAfter);
    }

    static double[] train(JavaSparkContext sc, Path out, int partitions, boolean resume, int stopAfter) throws IOException {
        Parallel.setThreads(1);
        CausalLmReplica replica = new CausalLmReplica(model.toString(), tokens.toString(), SEQ, BATCH, 0.1, 42);
        GptJ m = ModelStore.loadGptJ(resume ? latestWeights(out) : model, null);
        LmWindows windows = replica.windows(m);
        Trainer.Gradients g = partitions == 0 ? Trainer.local(m, windows)
                : new DataParallel(sc, m.params, replica, partitions);
        new Trainer(m, null, g, null, options(out, resume, stopAfter)).run();
        return losses(out);
    }

    static Path latestWeights(Path out) throws IOException {
        return org.cottention.train.Checkpoints.latest(out);
    }

    static double[] losses(Path out) throws IOException {
        ObjectMapper om = new ObjectMapper();
        return Files.readAllLines(out.resolve("metrics.jsonl")).stream().mapToDouble(l -> {
            try {
                return om.readTree(l).get("loss").asDouble();
            } catch (IOException e) {
                throw new AssertionError(l, e);
            }
        }).toArray();
    }

    @Test
    void lossCurveEqualsSingleProcess() throws IOException {
        double[] single = train(tmp.resolve("single"), 0, false, 0);
        assertEquals(STEPS, single.length);
        assertTrue(single[STEPS - 1] < single[0], "it learns: " + java.util.Arrays.toString(single));
        double[] one = train(tmp.resolve("p1"), 1, false, 0);
        assertArrayEquals(single, one, 0.0, "one task sums the micro-batches in the single-process order: bit-identical");
        double[] two = train(tmp.resolve("p2"), 2, false, 0);
        for (int i = 0; i < STEPS; i++)
            assertEquals(single[i], two[i], 1e-5 * Math.abs(single[i]), "step " + (i + 1) + ": two tasks regroup the float sums only");
        double[] three = train(tmp.resolve("p3"), 3, false, 0);
        for (int i = 0; i < STEPS; i++) assertEquals(single[i], three[i], 1e-5 * Math.abs(single[i]), "step " + (i + 1));
    }

    @Test
    void resumesBitIdentically() throws IOException {
        double[] whole = train(tmp.resolve("whole"), 2, false, 0);
        Path run = tmp.resolve("interrupted");
        train(run, 2, false, 3);
        double[] resumed = train(run, 2, true, 0);
        assertArrayEquals(whole, resumed, 0.0, "the tree's fixed summation order makes a resumed (or retried) step identical");
    }
}
