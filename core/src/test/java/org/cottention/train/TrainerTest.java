package org.cottention.train;

import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.Params;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The shared loop on a small real model: next-token prediction by a bigram table (softmax regression). */
class TrainerTest {
    static final int V = 12;

    /** logits(next | cur) = W[cur] + b; loss = mean cross-entropy. */
    static final class Bigram implements TrainableModel {
        final Params p;
        final Params.View w, b;
        float poison = 0f;  // multiplies nothing unless set to NaN: lets a test make the loss diverge

        Bigram(long seed) {
            Params.Builder pb = Params.builder();
            w = pb.add("w", true, V, V);
            b = pb.add("b", false, V);
            p = pb.build();
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < p.size(); i++) p.data[i] = (float) (r.nextGaussian() * 0.1);
        }

        public Params params() {
            return p;
        }

        Loss run(Batch batch, float gradScale, boolean backward) {
            double sum = 0;
            int count = 0;
            float[] g = backward ? p.grad() : null;
            int n = batch.size() * batch.seqLen();
            for (int i = 0; i < n; i++) if (batch.targets()[i] >= 0) count++;
            for (int i = 0; i < n; i++) {
                int cur = batch.inputIds()[i], tgt = batch.targets()[i];
                if (tgt < 0) continue;
                double max = Double.NEGATIVE_INFINITY;
                double[] z = new double[V];
                for (int j = 0; j < V; j++) {
                    z[j] = p.data[w.offset() + cur * V + j] + p.data[b.offset() + j] + poison;
                    max = Math.max(max, z[j]);
                }
                double se = 0;
                for (int j = 0; j < V; j++) se += Math.exp(z[j] - max);
                sum += -(z[tgt] - max - Math.log(se));
                if (backward) {
                    for (int j = 0; j < V; j++) {
                        double d = (Math.exp(z[j] - max) / se - (j == tgt ? 1 : 0)) * gradScale / count;
                        g[w.offset() + cur * V + j] += (float) d;
                        g[b.offset() + j] += (float) d;
                    }
                }
            }
            return backward ? new Loss(sum / count, 1) : new Loss(sum, count);
        }

        public Loss trainStep(Batch batch, float gradScale) {
            return run(batch, gradScale, true);
        }

        public Loss evaluate(Batch batch) {
            return run(batch, 0, false);
        }

        public double flopsPerToken(int seqLen) {
            return 2.0 * V;
        }

        public void saveModel(Path dir) throws IOException {
            org.cottention.io.AtomicFiles.writeString(dir.resolve("config.json"), "{\"model_type\":\"bigram\"}");
            p.save(dir.resolve("model.safetensors"), false, DType.F32, Map.of());
        }

        void load(Path dir) throws IOException {
            try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
                for (Params.View v : p.views()) System.arraycopy(st.floats(v.name()), 0, p.data, v.offset(), v.size());
            }
        }
    }

    /** Sequences from a fixed Markov chain cur -> (3*cur + noise) mod V: learnable, deterministic per batch index. */
    static final BatchSource DATA = new BatchSource() {
        public Batch batch(long index) {
            SplittableRandom r = new SplittableRandom(1234 + index);
            int bsz = 4, t = 16;
            int[] ids = new int[bsz * t], tg = new int[bsz * t];
            for (int s = 0; s < bsz; s++) {
                int cur = r.nextInt(V);
                for (int i = 0; i < t; i++) {
                    int next = (3 * cur + (r.nextInt(10) == 0 ? 1 : 0)) % V;
                    ids[s * t + i] = cur;
                    tg[s * t + i] = i == t - 1 ? -100 : next;
                    cur = next;
                }
            }
            return Batch.lm(bsz, t, ids, null, tg);
        }

        public long batchesPerEpoch() {
            return 1000;
        }
    };

    static Trainer.Options options(Path out, int steps, boolean resume) {
        return new Trainer.Options(steps, 2, new LrSchedule(0.05f, 0.005f, 3, steps, LrSchedule.Decay.COSINE),
                AdamW.Config.defaults(0.01f), 1.0, 1, 5, 5, 2, 7, out, resume, false, null, null, true, 0);
    }

    static Trainer.Evaluator eval(Bigram m) {
        return step -> Map.of("valLoss", m.evaluate(DATA.batch(999_999)).mean());
    }

    @Test
    void lossFallsAndCheckpointsAreWhole(@TempDir Path dir) throws IOException {
        Bigram m = new Bigram(1);
        double before = m.evaluate(DATA.batch(999_999)).mean();
        Trainer.Result r = new Trainer(m, null, DATA, eval(m), options(dir, 40, false)).run();
        double after = (double) r.lastEval().get("valLoss");
        assertTrue(after < before * 0.5, "validation loss " + before + " -> " + after);
        assertEquals(40, r.step());
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        assertTrue(Files.isRegularFile(dir.resolve("checkpoint-000040/optimizer.safetensors")));
        assertEquals(2, Checkpoints.list(dir).size(), "keeps the newest two");
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(40, lines.size());
        assertTrue(lines.get(4).contains("\"valLoss\""), lines.get(4));
        assertTrue(lines.get(0).contains("\"tokensPerSec\"") && lines.get(0).contains("\"lr\""));
    }

    /**
     * A re-planned run ends at the revised total, with the schedule stretched or shrunk to it: a run planned for 40
     * steps and cut to 25 at step 10 matches a run planned for 25 from the start after step 10 (warmup and the
     * decay's end the same), and ends at the schedule's floor.
     */
    @Test
    void replanningChangesWhereTheRunAndItsScheduleEnd(@TempDir Path dir) throws IOException {
        Bigram cut = new Bigram(1);
        List<Long> asked = new java.util.ArrayList<>();
        Trainer.Result r = new Trainer(cut, null, DATA, eval(cut), options(dir.resolve("cut"), 40, false)).replan(5, (step, perStep, total) -> {
            asked.add(step);
            assertTrue(perStep > 0);
            return step >= 10 ? 25 : total;
        }).run();
        assertEquals(25, r.step());
        assertEquals(List.of(5L, 10L, 15L, 20L), asked, "asked every 5 steps while steps remain");
        List<String> lines = Files.readAllLines(dir.resolve("cut/metrics.jsonl"));
        assertEquals(25, lines.size());
        LrSchedule planned25 = new LrSchedule(0.05f, 0.005f, 3, 25, LrSchedule.Decay.COSINE);
        for (int step : new int[]{11, 20, 25}) // the lr of update `step` (1-based) in the log
            assertEquals(planned25.at(step - 1), Float.parseFloat(lines.get(step - 1).replaceAll(".*\"lr\":([-0-9.eE]+).*", "$1")), 1e-9, "step " + step);
        assertThrows(IllegalArgumentException.class, () -> new Trainer(cut, null, DATA, eval(cut), options(dir.resolve("x"), 4, false)).replan(0, (a, b, c) -> c));
    }

    @Test
    void resumeIsBitIdentical(@TempDir Path dir) throws IOException {
        Bigram full = new Bigram(1);
        new Trainer(full, null, DATA, eval(full), options(dir.resolve("full"), 20, false)).run();

        Bigram first = new Bigram(1);
        Trainer.Options o = options(dir.resolve("split"), 20, false);
        // stop after step 10 as Ctrl-C would: the loop saves and returns
        Trainer.Options half = new Trainer.Options(20, o.accumulation(), o.lr(), o.adam(), o.clipNorm(), 1, 5, 0, 2, 7, o.out(), false, false, null, null, true, 10);
        new Trainer(first, null, DATA, eval(first), half).run();

        Bigram resumed = new Bigram(99);  // different init: everything must come from the checkpoint
        resumed.load(Checkpoints.latest(o.out()));
        new Trainer(resumed, null, DATA, eval(resumed), options(o.out(), 20, true)).run();
        assertArrayEquals(full.p.data, resumed.p.data, "resumed run must match the uninterrupted one bit for bit");
        assertEquals(Files.readAllLines(dir.resolve("full/metrics.jsonl")).size(), Files.readAllLines(o.out().resolve("metrics.jsonl")).size());
    }

    @Test
    void divergenceStopsWithoutTouchingTheLastCheckpoint(@TempDir Path dir) throws IOException {
        Bigram m = new Bigram(1);
        new Trainer(m, null, DATA, eval(m), options(dir, 10, false)).run();
        byte[] saved = Files.readAllBytes(dir.resolve("checkpoint-000010/model.safetensors"));
        m.poison = Float.NaN;
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class,
                () -> new Trainer(m, null, DATA, eval(m), options(dir, 20, true)).run());
        assertTrue(e.getMessage().contains("step 11") && e.getMessage().contains("NaN"), e.getMessage());
        assertArrayEquals(saved, Files.readAllBytes(Checkpoints.latest(dir).resolve("model.safetensors")));
    }

    @Test
    void aCheckpointThatCannotBeWrittenLeavesThePreviousOneWhole(@TempDir Path dir) throws IOException {
        Bigram m = new Bigram(1);
        new Trainer(m, null, DATA, eval(m), options(dir, 10, false)).run();
        byte[] saved = Files.readAllBytes(dir.resolve("checkpoint-000010/model.safetensors"));
        TrainableModel full = new TrainableModel() {  // the disk fills up while the model is being written
            public Params params() { return m.params(); }
            public Loss trainStep(Batch b, float s) { return m.trainStep(b, s); }
            public Loss evaluate(Batch b) { return m.evaluate(b); }
            public double flopsPerToken(int t) { return m.flopsPerToken(t); }
            public void saveModel(Path d) throws IOException {
                org.cottention.io.AtomicFiles.write(d.resolve("model.safetensors"), out -> {
                    out.write(new byte[4096]);
                    throw new IOException("No space left on device");
                });
            }
        };
        IOException e = assertThrows(IOException.class, () -> new Trainer(full, null, DATA, eval(m), options(dir, 20, true)).run());
        assertTrue(e.getMessage().contains("No space left") && e.getMessage().contains("untouched"), e.getMessage());
        assertEquals(dir.resolve("checkpoint-000010"), Checkpoints.latest(dir));
        assertArrayEquals(saved, Files.readAllBytes(dir.resolve("checkpoint-000010/model.safetensors")));
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no staging folders left behind");
        }
    }

    @Test
    void badOptionsAreNamed() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> options(Path.of("x"), 0, false)).getMessage().contains("steps"));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(-1f, 0f, 0, 10, LrSchedule.Decay.LINEAR));
    }

    @Test
    void scheduleWarmsUpThenDecays() {
        LrSchedule s = new LrSchedule(1f, 0.1f, 10, 110, LrSchedule.Decay.LINEAR);
        assertEquals(0.1f, s.at(0), 1e-6);
        assertEquals(1f, s.at(9), 1e-6);
        assertEquals(0.55f, s.at(60), 1e-6);
        assertEquals(0.1f, s.at(110), 1e-6);
        LrSchedule c = new LrSchedule(1f, 0f, 0, 100, LrSchedule.Decay.COSINE);
        assertEquals(0.5f, c.at(50), 1e-6);
    }
}
