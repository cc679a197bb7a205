package org.cottention.spark;

import org.cottention.cli.TrainCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code cottention spark train} against {@code cottention train}: the same options (the CLI's mixins), the same
 * global batch and seed give the same loss curve (bit for bit with one task per step, ≤ 1e-5 relative with two), and
 * an interrupted run resumed gives the uninterrupted run's losses.
 */
class SparkTrainTest {
    static final int STEPS = 4;

    @TempDir
    static Path tmp;
    static Path tokenizer, corpus;

    @BeforeAll
    static void data() throws IOException {
        tokenizer = TinyModels.gpt(tmp.resolve("gpt"));
        corpus = tmp.resolve("corpus.txt");
        StringBuilder sb = new StringBuilder();
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int i = 0; i < 400; i++) sb.append(TinyModels.WORDS[r.nextInt(20)]).append(i % 11 == 10 ? ".\n" : " ");
        Files.writeString(corpus, sb);
    }

    /** train's options for a 1-layer model, 4 micro-batches of 2 windows of 8 per step, a checkpoint every 2 steps. */
    static List<String> args(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of(corpus.toString(), "--tokenizer", tokenizer.toString(), "--n-layer", "1",
                "--n-embd", "16", "--n-head", "2", "--context", "8", "--batch", "2", "--accumulation", "4", "--steps", String.valueOf(STEPS),
                "--log-every", "1", "--eval-every", "0", "--save-every", "2", "--val-fraction", "0.1", "--val-batches", "2",
                "--seed", "42", "--threads", "1", "--no-progress", "--json", "--out", out.toString()));
        a.addAll(List.of(more));
        return a;
    }

    static double[] spark(Path out, int partitions, String... more) throws Exception {
        List<String> a = new ArrayList<>(List.of("train", "--partitions", String.valueOf(partitions)));
        a.addAll(args(out, more));
        int rc = SparkJob.run(SharedSpark.get(), a.toArray(String[]::new));
        assertTrue(rc == 0 || rc == 130, "spark train exit " + rc);
        return DataParallelTest.losses(out);
    }

    @Test
    void sparkTrainGivesTrainsLossCurveAndResumes() throws Exception {
        Path single = tmp.resolve("single");
        assertEquals(0, new CommandLine(new TrainCommand()).execute(args(single).toArray(String[]::new)));
        double[] expected = DataParallelTest.losses(single);
        assertEquals(STEPS, expected.length);

        assertArrayEquals(expected, spark(tmp.resolve("p1"), 1), 0.0, "one task per step: bit-identical to train");

        double[] two = spark(tmp.resolve("p2"), 2);
        for (int i = 0; i < STEPS; i++)
            assertEquals(expected[i], two[i], 1e-5 * Math.abs(expected[i]), "step " + (i + 1) + " with two tasks");
        assertTrue(Files.isRegularFile(org.cottention.train.Checkpoints.latest(tmp.resolve("p2")).resolve("config.json")),
                "checkpoints are train's");

        Path resumed = tmp.resolve("resumed");
        spark(resumed, 2, "--stop-after", "2");
        assertEquals(2, DataParallelTest.losses(resumed).length);
        assertArrayEquals(two, spark(resumed, 2, "--resume"), 0.0, "interrupted at step 2 and resumed: the same losses");
    }
}
