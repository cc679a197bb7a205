package org.cottention.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.data.TextSources;
import org.cottention.io.AtomicFiles;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.train.AdamW;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;
import org.cottention.train.Checkpoints;
import org.cottention.train.GradClip;
import org.cottention.train.LrSchedule;
import org.cottention.train.TrainableModel;
import org.cottention.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Converts a softmax model (a BERT encoder, or a GPT-J causal LM) into a cosine-attention one that keeps its
 * behaviour (what {@code cottention linearize} runs; callable from code, e.g. by a pilot: {@link #bert}, {@link #gptJ}).
 * The student starts as a copy of the teacher; stage 1 ({@link BertDistillation#attentionTransfer},
 * {@link GptJDistillation#attentionTransfer}) trains each layer's attention to reproduce the teacher's, stage 2
 * ({@link BertDistillation#endToEnd}: hidden states and pooled embeddings; {@link GptJDistillation#endToEnd}: KL on
 * the next-token distributions) distils the whole model on unlabeled text. Both run on the shared
 * {@link Trainer} (progress bar, metrics.jsonl, checkpoints, resume, Ctrl-C) in {@code out/stage1} and
 * {@code out/stage2}; the final model (config, weights, tokenizer, pooling) and {@code linearize.json} (the
 * fidelity report on held-out texts: the unconverted swap, after stage 1, after stage 2) are written to {@code out}.
 */
public final class Linearize {
    /**
     * @param steps          optimizer steps of both stages together (used when minutes = 0)
     * @param minutes        wall-time budget of the whole run (0: use steps): stage 1's steps are sized from timed probe
     *                       steps, stage 2's when it starts, from the time left and probe steps timed then (JIT warm)
     * @param stage1Fraction share of the budget given to attention transfer
     * @param maxLength      longest training sequence in tokens ([CLS], [SEP] included); lengths vary from 8 up to it
     * @param evalTexts      held-out texts of the fidelity report
     * @param stopAfter      stop as Ctrl-C would after this many steps of the current run (tests); 0 = never
     * @param microBatch     sequences per forward/backward (batch / microBatch micro-batches accumulated per step): the
     *                       activations alive at once, student and teacher, scale with microBatch x maxLength
     * @param layerWeight    weight of the inner layers' hidden-state MSE in a BERT's stage 2 (0: final layer and pooled
     *                       embedding only; {@link BertDistillation#endToEnd})
     */
    public record Options(AttentionType attention, int steps, double minutes, double stage1Fraction, int maxLength, int batch,
                          float stage1Lr, float stage2Lr, double pooledWeight, int evalTexts, int evalEvery, int saveEvery,
                          long seed, boolean resume, boolean progress, int stopAfter, int microBatch, double layerWeight) {
        /** Without micro-batches (one forward/backward of the whole batch per step) or the inner-layer term. */
        public Options(AttentionType attention, int steps, double minutes, double stage1Fraction, int maxLength, int batch,
                       float stage1Lr, float stage2Lr, double pooledWeight, int evalTexts, int evalEvery, int saveEvery,
                       long seed, boolean resume, boolean progress, int stopAfter) {
            this(attention, steps, minutes, stage1Fraction, maxLength, batch, stage1Lr, stage2Lr, pooledWeight, evalTexts, evalEvery, saveEvery,
                    seed, resume, progress, stopAfter, batch, 0);
        }

        public Options {
            if (microBatch < 1 || batch % Math.max(microBatch, 1) != 0)
                throw new IllegalArgumentException("--micro-batch must divide --batch " + batch + ", got " + microBatch);
            if (attention != AttentionType.COSINE) throw new IllegalArgumentException("linearize converts to cosine attention (--attention cosine)");
            if (minutes <= 0 && steps < 2) throw new IllegalArgumentException("--steps must be >= 2 (both stages), got " + steps);
            if (minutes < 0) throw new IllegalArgumentException("--minutes must be > 0, got " + minutes);
            if (!(stage1Fraction > 0 && stage1Fraction < 1)) throw new IllegalArgumentException("stage 1 fraction must be in (0, 1), got " + stage1Fraction);
            if (maxLength < 10) throw new IllegalArgumentException("--max-length must be >= 10, got " + maxLength);
            if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
            if (!(pooledWeight >= 0)) throw new IllegalArgumentException("--pooled-weight must be >= 0, got " + pooledWeight);
            if (!(layerWeight >= 0)) throw new IllegalArgumentException("--layer-weight must be >= 0, got " + layerWeight);
            if (evalTexts < 3) throw new IllegalArgumentException("--eval-texts must be >= 3, got " + evalTexts);
        }
    }

    /** The fidelity report: before (the unconverted swap: same weights, cosine attention) and after each stage. */
    public record Report(Path out, Fidelity swap, Fidelity afterStage1, Fidelity afterStage2, long stage1Steps, long stage2Steps,
                         double stage1Seconds, double stage2Seconds, long trainTokens, boolean interrupted) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("out", out.toString());
            m.put("swap", swap == null ? null : swap.toMap());
            m.put("afterStage1", afterStage1 == null ? null : afterStage1.toMap());
            m.put("afterStage2", afterStage2 == null ? null : afterStage2.toMap());
            Fidelity last = afterStage2 != null ? afterStage2 : afterStage1;
            if (last != null) {
                m.put("meanCosine", last.meanCosine());
                m.put("spearman", last.spearman());
                m.put("top10Overlap", last.top10Overlap());
            }
            m.put("stage1Steps", stage1Steps);
            m.put("stage2Steps", stage2Steps);
            m.put("stage1Seconds", stage1Seconds);
            m.put("stage2Seconds", stage2Seconds);
            m.put("trainTokens", trainTokens);
            m.put("interrupted", interrupted);
            return m;
        }
    }

    /** The fidelity report in the output folder ({@link Report#toMap}; "interrupted": false once the model is written). */
    public static final String REPORT = "linearize.json";
    private static final String PLAN = "linearize-plan.json";

    private Linearize() {}

    /** The unlabeled text split into training pieces and held-out evaluation texts (every 10th paragraph). */
    record Corpus(int[] tokens, List<String> eval) {}

    static Corpus corpus(List<Path> data, Tokenizer tok, int evalTexts) throws IOException {
        List<String> paragraphs = new ArrayList<>();
        TextSources.documents(TextSources.files(data), d -> {
            for (String p : d.split("\\r?\\n\\s*\\r?\\n")) if (!p.isBlank()) paragraphs.add(p.strip());
        });
        if (paragraphs.size() < 20) throw new IllegalArgumentException("--data holds " + paragraphs.size() + " paragraphs; linearize needs at least 20 (1 in 10 is held out)");
        WordPieceTokenizer.IntList train = new WordPieceTokenizer.IntList(1 << 16);
        List<String> held = new ArrayList<>();
        for (int i = 0; i < paragraphs.size(); i++) {
            if (i % 10 == 9) held.add(paragraphs.get(i));
            else for (int id : tok.encode(paragraphs.get(i))) train.add(id);
        }
        // held-out texts: sentences (and every fourth a whole paragraph), spread evenly over the held-out part
        List<String> candidates = new ArrayList<>();
        for (String p : held) {
            String flat = p.replaceAll("\\s+", " ");
            if (candidates.size() % 4 == 3 && flat.length() > 40) candidates.add(flat);
            for (String s : flat.split("(?<=[.!?])\\s+")) if (s.length() >= 20) candidates.add(s);
        }
        if (candidates.size() < evalTexts) throw new IllegalArgumentException("held-out data give " + candidates.size() + " texts, fewer than --eval-texts " + evalTexts);
        List<String> eval = new ArrayList<>();
        for (int i = 0; i < evalTexts; i++) eval.add(candidates.get((int) ((long) i * candidates.size() / evalTexts)));
        if (train.size() < 1000) throw new IllegalArgumentException("--data gives only " + train.size() + " training tokens");
        return new Corpus(train.toArray(), eval);
    }

    /**
     * Deterministic batches of spans of the training tokens: each row [CLS] span [SEP] (an encoder; cls < 0: the bare
     * span, for a causal LM); one span length per batch,
     * log-uniform in [6, maxLength - 2] (short sentences and long passages both; the cosine stabiliser sees every
     * length), so rows need no padding and no step is spent on it.
     */
    record Spans(int[] tokens, int cls, int sep, int batch, int maxLength, long seed) implements BatchSource {
        @Override
        public Batch batch(long index) {
            SplittableRandom r = random(index);
            int len = spanLength(r), special = cls >= 0 ? 1 : 0, t = len + 2 * special;
            int[] ids = new int[batch * t];
            for (int i = 0; i < batch; i++) {
                int start = r.nextInt(tokens.length - len);
                System.arraycopy(tokens, start, ids, i * t + special, len);
                if (special == 0) continue;
                ids[i * t] = cls;
                ids[i * t + t - 1] = sep;
            }
            return new Batch(batch, t, ids, null, null, null, null);
        }

        /**
         * Batch index's own generator. Not {@code new Random(seed + index)}: java.util.Random's first draw hardly
         * changes between adjacent seeds, so the span length drifted over hundreds of steps instead of varying
         * from one to the next (one run's first 5,705 steps averaged 52 tokens a span, the next 1,111 101).
         */
        private SplittableRandom random(long index) {
            return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
        }

        /** The span length of a batch: the first draw of its generator. */
        private int spanLength(SplittableRandom r) {
            double lo = Math.log(6), hi = Math.log(maxLength - 2);
            return (int) Math.round(Math.exp(lo + r.nextDouble() * (hi - lo)));
        }

        /** Tokens of batch(index), without building it. */
        long tokens(long index) {
            return (long) batch * (spanLength(random(index)) + (cls >= 0 ? 2 : 0));
        }

        @Override
        public long batchesPerEpoch() {
            return Math.max(1, tokens.length / ((long) batch * maxLength / 2));
        }
    }

    /** The model being converted, as the loop sees it: its two objectives, its embeddings, and how it is saved. */
    interface Student {
        TrainableModel stage1();

        TrainableModel stage2();

        Params params();

        float[] embed(String text);

        /** The final model folder's files: config, weights, tokenizer and whatever else the family needs. */
        void save(Path out) throws IOException;
    }

    /** Builds the student from a folder (the teacher's at the start, a checkpoint when resuming). */
    @FunctionalInterface
    interface StudentLoader {
        Student load(Path from) throws IOException;
    }

    /** Linearizes the BERT encoder in teacherDir on the texts in data, writing the student to out. */
    public static Report bert(Path teacherDir, List<Path> data, Path out, Options o, Consumer<String> log) throws IOException {
        long start = System.nanoTime();   // --minutes counts from here: loading and tokenizing are part of the run
        Bert teacher = ModelStore.loadBert(teacherDir, null);
        if (teacher.cfg.attentionType() != AttentionType.SOFTMAX)
            throw new IllegalArgumentException(teacherDir + " already has " + teacher.cfg.attentionType().configName() + " attention; linearize converts softmax models");
        if (!(Tokenizers.load(teacherDir) instanceof WordPieceTokenizer tok)) throw new IOException(teacherDir + ": a BERT model needs a WordPiece tokenizer");
        Pooling saved = Pooling.read(teacherDir);
        Pooling pooling = saved != null ? saved : new Pooling(Pooling.Mode.MEAN, true, 0);
        int limit = Math.min(o.maxLength(), teacher.cfg.maxPositionEmbeddings());
        Corpus corpus = corpus(data, tok, o.evalTexts());
        Pooling evalPooling = new Pooling(pooling.mode(), pooling.normalize(), pooling.maxSeqLength() > 0 ? pooling.maxSeqLength() : limit);
        Embedder teacherEmb = new Embedder(teacher, tok, evalPooling);
        Spans spans = new Spans(corpus.tokens(), tok.clsId(), tok.sepId(), o.microBatch(), limit, o.seed());
        return run(corpus, spans, teacherEmb::embed, from -> {
            // a copy of the teacher with cosine attention (norm_const starts at its initial value), or a checkpoint
            Bert student = ModelStore.loadBert(from, AttentionType.COSINE);
            Embedder emb = new Embedder(student, tok, evalPooling);
            TrainableModel s1 = BertDistillation.attentionTransfer(teacher, student);
            TrainableModel s2 = BertDistillation.endToEnd(teacher, student, pooling.mode(), o.pooledWeight(), o.layerWeight());
            return new Student() {
                @Override public TrainableModel stage1() { return s1; }
                @Override public TrainableModel stage2() { return s2; }
                @Override public Params params() { return student.params; }
                @Override public float[] embed(String text) { return emb.embed(text); }
                @Override
                public void save(Path dir) throws IOException {
                    student.saveModel(dir);
                    tok.save(dir);
                    pooling.write(dir, student.cfg.hiddenSize());
                }
            };
        }, teacherDir, tok, out, o, start, log);
    }

    /**
     * Linearizes a softmax GPT-J causal LM: stage 1 attention transfer per block, stage 2 KL on the next-token
     * distributions. The fidelity report compares mean-pooled final hidden states of the held-out texts.
     */
    public static Report gptJ(Path teacherDir, List<Path> data, Path out, Options o, Consumer<String> log) throws IOException {
        long start = System.nanoTime();
        GptJ teacher = ModelStore.loadGptJ(teacherDir, null);
        if (teacher.cfg.attentionType() != AttentionType.SOFTMAX)
            throw new IllegalArgumentException(teacherDir + " already has " + teacher.cfg.attentionType().configName() + " attention; linearize converts softmax models");
        Tokenizer tok = Tokenizers.load(teacherDir);
        int limit = Math.min(o.maxLength(), teacher.cfg.nPositions());
        Corpus corpus = corpus(data, tok, o.evalTexts());
        Spans spans = new Spans(corpus.tokens(), -1, -1, o.microBatch(), limit + 2, o.seed());
        java.util.function.Function<String, int[]> ids = text -> {
            int[] a = tok.encode(text);
            return a.length > limit ? java.util.Arrays.copyOf(a, limit) : a.length == 0 ? new int[]{0} : a;
        };
        return run(corpus, spans, text -> GptJDistillation.embed(teacher, ids.apply(text)), from -> {
            GptJ student = ModelStore.loadGptJ(from, AttentionType.COSINE);
            TrainableModel s1 = GptJDistillation.attentionTransfer(teacher, student);
            TrainableModel s2 = GptJDistillation.endToEnd(teacher, student);
            return new Student() {
                @Override public TrainableModel stage1() { return s1; }
                @Override public TrainableModel stage2() { return s2; }
                @Override public Params params() { return student.params; }
                @Override public float[] embed(String text) { return GptJDistillation.embed(student, ids.apply(text)); }
                @Override
                public void save(Path dir) throws IOException {
                    student.saveModel(dir);
                    tok.save(dir);
                }
            };
        }, teacherDir, tok, out, o, start, log);
    }

    /** The loop shared by both families: plan, swap report, stage 1, stage 2, final model and report. */
    static Report run(Corpus corpus, Spans spans, java.util.function.Function<String, float[]> teacherEmbed, StudentLoader loader,
                      Path teacherDir, Tokenizer tok, Path out, Options o, long start, Consumer<String> log) throws IOException {
        float[][] want = new float[corpus.eval().size()][];
        for (int i = 0; i < want.length; i++) want[i] = teacherEmbed.apply(corpus.eval().get(i));
        if (o.resume() && !Files.isDirectory(out)) throw new IOException("nothing to resume: " + out + " does not exist");
        Files.createDirectories(out);
        Path run1 = out.resolve("stage1"), run2 = out.resolve("stage2");
        long done1 = o.resume() ? stepsDone(run1) : 0, done2 = o.resume() ? stepsDone(run2) : 0;
        Student student = loader.load(done2 > 0 ? Checkpoints.latest(run2) : done1 > 0 ? Checkpoints.latest(run1) : teacherDir);
        long[] plan = plan(out, o, student, spans, log);
        Trainer.Evaluator eval = step -> fidelity(want, student, corpus.eval()).toMap();

        long te = System.nanoTime();
        Fidelity swap = done1 == 0 ? fidelity(want, student, corpus.eval()) : readFidelity(out, "swap");
        double evalSeconds = (System.nanoTime() - te) / 1e9;   // one fidelity report (0 when resumed: read back)
        if (swap != null) log.accept("unconverted swap (same weights, cosine attention): " + swap);
        // resumed in stage 2: stage 1's report comes from the report file, read before this run writes it again
        Fidelity done1Report = done2 > 0 ? readFidelity(out, "afterStage1") : null;
        double done1Seconds = done2 > 0 ? readDouble(out, "stage1Seconds") : 0;
        writeReport(out, new Report(out, swap, done1Report, null, plan[0], plan[1], done1Seconds, 0, corpus.tokens().length, true));
        long t0 = System.nanoTime();
        Trainer.Result r1 = null;
        if (done1 < plan[0] && done2 == 0) {
            r1 = new Trainer(student.stage1(), tok, spans, eval, options(o, plan[0], o.stage1Lr(), run1, o.resume() && done1 > 0)).run();
            if (r1.interrupted()) return interrupted(out, swap, null, plan, corpus, t0, 0);
        }
        Fidelity f1 = r1 != null ? Fidelity.of(r1.lastEval()) : done1Report;
        double secs1 = r1 != null ? (System.nanoTime() - t0) / 1e9 : done1Seconds;
        log.accept("after stage 1 (attention transfer): " + f1);
        writeReport(out, new Report(out, swap, f1, null, plan[0], plan[1], secs1, 0, corpus.tokens().length, true));
        if (o.minutes() > 0 && done2 == 0 && !stage2Planned(out))
            plan[1] = planStage2(out, o, plan, student, spans, start, evalSeconds, log);
        long t1 = System.nanoTime();
        Trainer trainer2 = new Trainer(student.stage2(), tok, spans, eval, options(o, plan[1], o.stage2Lr(), run2, o.resume() && done2 > 0));
        if (o.minutes() > 0 && done2 == 0) trainer2.replan(REPLAN_EVERY, toDeadline(out, o, plan, student, start, evalSeconds, log));
        Trainer.Result r2 = trainer2.run();
        if (r2.interrupted()) return interrupted(out, swap, f1, plan, corpus, t0, secs1);
        Fidelity f2 = Fidelity.of(r2.lastEval());   // the trainer's evaluation at the last step
        log.accept("after stage 2 (end-to-end distillation): " + f2);
        student.save(out);
        Report rep = new Report(out, swap, f1, f2, plan[0], plan[1], secs1, (System.nanoTime() - t1) / 1e9, corpus.tokens().length, false);
        writeReport(out, rep);
        return rep;
    }

    private static Report interrupted(Path out, Fidelity swap, Fidelity f1, long[] plan, Corpus c, long t0, double secs1) throws IOException {
        Report r = new Report(out, swap, f1, null, plan[0], plan[1], secs1, f1 == null ? 0 : (System.nanoTime() - t0) / 1e9 - secs1, c.tokens().length, true);
        writeReport(out, r);
        return r;
    }

    /** Both stages' optimizer (no weight decay: the student starts at the teacher's weights). */
    static final AdamW.Config ADAM = new AdamW.Config(0.9f, 0.999f, 1e-8f, 0f);

    private static Trainer.Options options(Options o, long steps, float lr, Path run, boolean resume) {
        int s = (int) steps;
        return new Trainer.Options(s, o.batch() / o.microBatch(), new LrSchedule(lr, lr / 10, Math.max(1, s / 20), s, LrSchedule.Decay.COSINE),
                ADAM, 1.0, Math.max(1, Math.min(10, s / 10)), o.evalEvery(), o.saveEvery(), 1, o.seed(),
                run, resume, o.progress(), null, null, false, o.stopAfter());
    }

    /**
     * Steps of the two stages: from --steps (split by the stage-1 fraction), or from --minutes: stage 1's from its
     * share of the budget and the {@link StepCost} of probe steps, stage 2's when it starts ({@link #planStage2}; 0 in
     * the reports until then). Kept in out so a resume keeps them.
     */
    private static long[] plan(Path out, Options o, Student student, Spans spans, Consumer<String> log) throws IOException {
        Path f = out.resolve(PLAN);
        if (o.resume() && Files.isRegularFile(f)) {
            JsonNode n = GptJConfig.JSON.readTree(f.toFile());
            return new long[]{n.get("stage1Steps").asLong(), n.get("stage2Steps").asLong()};
        }
        long a, b;
        if (o.minutes() > 0) {
            int micro = o.batch() / o.microBatch();
            double budget = o.minutes() * 60 * 0.92;   // stage 2's plan counts what stage 1 really took
            StepCost c1 = probe(student.stage1(), spans, student.params(), micro, PROBE_WARMUP, PROBE_TIMED);
            a = stepsWithin(budget * o.stage1Fraction(), c1, spans, micro);
            b = 0;   // planned when stage 2 starts, from the time then left
            log.accept(String.format("budget %.1f min: stage 1 %s -> %d steps; stage 2 planned when it starts", o.minutes(), c1, a));
        } else {
            a = Math.max(1, Math.round(o.steps() * o.stage1Fraction()));
            b = Math.max(1, o.steps() - a);
        }
        writePlan(out, a, b, o.minutes() <= 0);
        return new long[]{a, b};
    }

    private static void writePlan(Path out, long stage1, long stage2, boolean stage2Planned) throws IOException {
        ObjectNode n = GptJConfig.JSON.createObjectNode();
        n.put("stage1Steps", stage1);
        n.put("stage2Steps", stage2);
        n.put("stage2Planned", stage2Planned);
        AtomicFiles.writeString(out.resolve(PLAN), n.toPrettyString());
    }

    private static boolean stage2Planned(Path out) throws IOException {
        Path f = out.resolve(PLAN);
        return Files.isRegularFile(f) && GptJConfig.JSON.readTree(f.toFile()).path("stage2Planned").asBoolean(true);
    }

    /**
     * Stage 2's steps under --minutes, when it starts: the budget left after what this run has spent (probes, the swap
     * report, stage 1), less the fidelity reports and checkpoints still to come, spent on steps costed by probe steps
     * timed now ({@link StepCost}, after stage 1 has warmed the shared kernels) over the spans those steps will see.
     */
    private static long planStage2(Path out, Options o, long[] plan, Student student, Spans spans, long start, double evalSeconds,
                                   Consumer<String> log) throws IOException {
        int micro = o.batch() / o.microBatch();
        StepCost c2 = probe(student.stage2(), spans, student.params(), micro, STAGE2_PROBE_WARMUP, STAGE2_PROBE_TIMED);
        double left = o.minutes() * 60 * 0.97 - (System.nanoTime() - start) / 1e9;
        // a checkpoint holds the weights and both Adam moments; the final folder the weights
        double saveSeconds = student.params().data.length * 12.0 / SAVE_BYTES_PER_SECOND, other = 0;
        long b = stepsWithin(left, c2, spans, micro);
        for (int i = 0; i < 2; i++) {   // fidelity reports (at the end, every evalEvery steps) and checkpoints take from the steps they count
            other = (1 + (o.evalEvery() > 0 ? b / o.evalEvery() : 0)) * evalSeconds + (1 + (o.saveEvery() > 0 ? b / o.saveEvery() : 0)) * saveSeconds;
            b = stepsWithin(left - other, c2, spans, micro);
        }
        log.accept(String.format("stage 2: %.1f of %.1f min left, %s -> %d steps", Math.max(left - other, 0) / 60, o.minutes(), c2, b));
        writePlan(out, plan[0], b, true);
        return b;
    }

    /** Steps between stage 2's re-plans under --minutes. */
    static final int REPLAN_EVERY = 100;

    /**
     * Stage 2's steps kept to the --minutes deadline while it runs: every {@link #REPLAN_EVERY} steps, the time left
     * (less the final fidelity report and checkpoint) at the pace of this run's steps so far. The up-front plan comes
     * from probe steps, and a MiniLM run's probes ran 12% faster than the run (a busy machine slows it further): a
     * 56-minute budget was on its way to 61 minutes. The revised count is written to the plan file, so a resume keeps
     * it (a resumed stage 2 is not re-planned: its minutes counted from an earlier start).
     */
    private static Trainer.Replan toDeadline(Path out, Options o, long[] plan, Student student, long start, double evalSeconds,
                                             Consumer<String> log) {
        double reserve = evalSeconds + 2 * student.params().data.length * 12.0 / SAVE_BYTES_PER_SECOND;
        return (step, perStep, total) -> {
            double left = o.minutes() * 60 * 0.97 - (System.nanoTime() - start) / 1e9 - reserve;
            long revised = step + (long) Math.max(0, Math.floor(left / perStep));
            if (revised == total) return total;
            if (Math.abs(revised - total) > total / 200)
                log.accept(String.format("stage 2 re-planned at step %d (%.3f s a step): %d steps, was %d", step, perStep, revised, total));
            plan[1] = revised;
            try {
                writePlan(out, plan[0], revised, true);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return revised;
        };
    }

    /** A cautious disk speed for the checkpoints' time (a MiniLM checkpoint is 270 MB: about a second). */
    static final double SAVE_BYTES_PER_SECOND = 250e6;

    /**
     * Seconds of one optimizer step: a fixed part (zeroing, clipping and the AdamW update over the parameters) plus a
     * part per token. Fitted on probe steps and applied to the planned steps' own spans rather than averaged over the
     * probes: span lengths vary from step to step (6 to max-length tokens, log-uniform), so 20 probe steps hold more or
     * fewer tokens than the run's average (a 58-minute MiniLM run's probes held 1,200 tokens a step, its 5,705 steps
     * 870: the plan ended 10 minutes early).
     */
    record StepCost(double fixed, double perToken) {
        double seconds(long tokens) {
            return fixed + perToken * tokens;
        }

        /** Least squares over (tokens, seconds) pairs; when noise gives a negative part, all of it per token. */
        static StepCost fit(double[] tokens, double[] seconds) {
            int n = tokens.length;
            double mx = 0, my = 0, sxx = 0, sxy = 0;
            for (int i = 0; i < n; i++) { mx += tokens[i] / n; my += seconds[i] / n; }
            for (int i = 0; i < n; i++) { sxx += (tokens[i] - mx) * (tokens[i] - mx); sxy += (tokens[i] - mx) * (seconds[i] - my); }
            double b = sxx > 0 ? sxy / sxx : 0, a = my - b * mx;
            return b > 0 && a >= 0 ? new StepCost(a, b) : new StepCost(0, my / Math.max(mx, 1));
        }

        @Override
        public String toString() {
            return String.format("%.3f s + %.1f us/token", fixed, perToken * 1e6);
        }
    }

    /**
     * Times {@code timed} whole optimizer steps (after {@code warmup} untimed ones: the first steps run before the JIT
     * has compiled the kernels) as the trainer runs them: zeroing, the micro-batches' forward and backward, clipping,
     * and an update by a scratch AdamW at learning rate 0 (its cost; every weight keeps its value). The gradients are
     * discarded.
     */
    private static StepCost probe(TrainableModel m, Spans spans, Params params, int micro, int warmup, int timed) {
        AdamW scratch = new AdamW(ADAM, params.size());
        double[] tokens = new double[timed], seconds = new double[timed];
        for (int s = 0; s < warmup + timed; s++) {
            long t = System.nanoTime(), tok = 0;
            params.zeroGrad();
            for (int k = 0; k < micro; k++) {
                Batch batch = spans.batch((long) s * micro + k);
                m.trainStep(batch, 1f / micro);
                tok += batch.realTokens();
            }
            GradClip.clip(params.grad(), 1.0);
            scratch.update(params, 0f, m::trainable);
            if (s < warmup) continue;
            tokens[s - warmup] = tok;
            seconds[s - warmup] = (System.nanoTime() - t) / 1e9;
        }
        params.zeroGrad();
        return StepCost.fit(tokens, seconds);
    }

    /** Steps from the first whose cost (each over the tokens of its own spans) fits in the seconds; at least 1. */
    static long stepsWithin(double seconds, StepCost cost, Spans spans, int micro) {
        double t = 0;
        long s = 0;
        for (; s < MAX_PLANNED_STEPS; s++) {
            long tok = 0;
            for (int k = 0; k < micro; k++) tok += spans.tokens(s * micro + k);
            t += cost.seconds(tok);
            if (t > seconds) break;
        }
        return Math.max(1, s);
    }

    static final int PROBE_WARMUP = 4, PROBE_TIMED = 8;
    /** Stage 2's probe runs after stage 1 has warmed the shared kernels; it times more steps. */
    static final int STAGE2_PROBE_WARMUP = 6, STAGE2_PROBE_TIMED = 16;
    static final long MAX_PLANNED_STEPS = 100_000_000L;

    private static long stepsDone(Path run) throws IOException {
        if (!Files.isDirectory(run)) return 0;
        try {
            Path ck = Checkpoints.latest(run);
            return GptJConfig.JSON.readTree(ck.resolve(Checkpoints.TRAINER_STATE).toFile()).path("step").asLong(0);
        } catch (IOException none) {
            return 0;
        }
    }

    static Fidelity fidelity(float[][] teacher, Student student, List<String> texts) {
        float[][] v = new float[texts.size()][];
        for (int i = 0; i < v.length; i++) v[i] = student.embed(texts.get(i));
        return Fidelity.of(teacher, v);
    }

    private static void writeReport(Path out, Report r) throws IOException {
        AtomicFiles.writeString(out.resolve(REPORT), GptJConfig.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(r.toMap()) + "\n");
    }

    private static JsonNode readReport(Path out) throws IOException {
        Path f = out.resolve(REPORT);
        return Files.isRegularFile(f) ? GptJConfig.JSON.readTree(f.toFile()) : GptJConfig.JSON.createObjectNode();
    }

    private static Fidelity readFidelity(Path out, String key) throws IOException {
        JsonNode n = readReport(out).path(key);
        return n.isObject() ? Fidelity.of(GptJConfig.JSON.convertValue(n, Map.class)) : null;
    }

    private static double readDouble(Path out, String key) throws IOException {
        return readReport(out).path(key).asDouble(0);
    }
}
