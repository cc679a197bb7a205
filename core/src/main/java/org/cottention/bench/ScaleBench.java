package org.cottention.bench;

import org.cottention.io.Checkpoint;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.kernels.Ops;
import org.cottention.kernels.Parallel;
import org.cottention.kernels.SegmentMatmul;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.GptJSession;
import org.cottention.model.ModelStore;
import org.cottention.model.Params;
import org.cottention.model.WeightStorage;
import org.cottention.generate.Sampler;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The paper's GPT sizes at full scale (issue 5 §5): writes a randomly initialised model as safetensors, one tensor in
 * memory at a time; loads it memory-mapped (matrices stay in the file's pages, off the heap); prefills and decodes;
 * and compares decoding speed with the memory-bandwidth bound: every decoded token reads every weight matrix once
 * (plus one embedding row), so tokens/s cannot exceed read bandwidth ÷ weight bytes per token.
 */
public final class ScaleBench {
    private ScaleBench() {}

    /** 300m: E 1024, 20 layers, inner 3072; 1.2b: E 2048, 20 layers, inner 8192; both 16 heads, rotary 64, vocab 50400, context 1024. */
    public static GptJConfig config(String size) {
        return switch (size.trim().toLowerCase(Locale.ROOT)) {
            case "300m" -> GptJConfig.of(50400, 1024, 1024, 20, 16, 3072, 64, 50256, AttentionType.COSINE);
            case "1.2b" -> GptJConfig.of(50400, 1024, 2048, 20, 16, 8192, 64, 50256, AttentionType.COSINE);
            default -> throw new IllegalArgumentException("--size must be 300m or 1.2b, got \"" + size + "\"");
        };
    }

    public record Result(String size, String dtype, long parameters, long fileBytes, double writeSeconds, double loadSeconds,
                         long heapBytes, int prefillTokens, double prefillTokensPerSec, int decodeTokens, double decodeTokensPerSec,
                         long weightBytesPerToken, double measuredReadBandwidth, double boundTokensPerSec, double fractionOfBound,
                         int threads, double decodeStepMsMedian, double readBandwidthPaired, double fractionOfBoundPaired) {}

    /**
     * Writes config.json and model.safetensors (F32 or BF16) of a random model into dir. Matrices ~ U(-a, a) with
     * the std 0.02 of HF's init (a uniform draw is ten times cheaper than a Gaussian, and a benchmark does not care).
     */
    public static void writeRandom(GptJConfig cfg, DType dtype, Path dir, long seed) throws IOException {
        // an off-heap model allocates no matrix: only its names and shapes are needed here
        GptJ shapes = new GptJ(cfg, 64, WeightStorage.MAPPED);
        List<SafeTensors.Entry> entries = new ArrayList<>();
        int idx = 0;
        for (Params.View v : shapes.params.views()) {
            long s = seed * 0x9E3779B97F4A7C15L + idx++;
            String n = v.name();
            entries.add(new SafeTensors.Entry(n, dtype, v.shapeLong(), (SafeTensors.Lazy) () -> {
                float[] x = new float[v.size()];
                if (n.endsWith("norm_const")) java.util.Arrays.fill(x, 0.5f);
                else if (n.contains("ln_") && n.endsWith(".weight")) java.util.Arrays.fill(x, 1f);
                else if (v.shape().length == 2) {
                    SplittableRandom r = new SplittableRandom(s);
                    float a = 0.02f * (float) Math.sqrt(3);
                    for (int i = 0; i < x.length; i++) x[i] = a * (2 * r.nextFloat() - 1);
                }
                return x;
            }));
        }
        Files.createDirectories(dir);
        cfg.write(dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("model.safetensors"), entries, Map.of("format", "pt"));
    }

    /**
     * The read bandwidth decoding is held to: a parallel streaming read (a vector sum) of an off-heap buffer, filled
     * once, the same kind of access as decoding's matrix-vector products, on the same threads. {@link #pass} is one
     * read of all of it in bytes per second; one probe serves both the best-of bound and the reads paired with
     * decoding steps.
     */
    static final class ReadProbe implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment seg;
        private final int chunks;  // 1 MiB per task
        private final float[] sink;

        ReadProbe(long bytes) {
            chunks = (int) (bytes / (1 << 20));
            if (chunks < 1) throw new IllegalArgumentException("the read-bandwidth buffer must be at least 1 MiB, got " + bytes + " bytes");
            seg = arena.allocate((long) chunks << 20, 64);
            long floats = seg.byteSize() / 4;
            Parallel.forRange((int) (floats / 4096), 1, (lo, hi) -> {
                for (long i = (long) lo * 4096; i < (long) hi * 4096; i++) seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, i % 7);
            });
            sink = new float[chunks];
        }

        /** One parallel read of the whole buffer: bytes per second. */
        double pass() {
            long t0 = System.nanoTime();
            Parallel.forRange(chunks, 1, (lo, hi) -> {
                for (int c = lo; c < hi; c++) sink[c] = sumChunk(seg, (long) c << 20, 1 << 20);
            });
            double s = (System.nanoTime() - t0) / 1e9;
            if (Float.isNaN(sink[0])) throw new IllegalStateException();  // keep the sums alive
            return seg.byteSize() / s;
        }

        /** The best of {@code reps} passes, bytes per second. */
        double best(int reps) {
            double best = 0;
            for (int r = 0; r < reps; r++) best = Math.max(best, pass());
            return best;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /**
     * Sum of the floats in seg[off, off + len): its four quarters read side by side, four streams, as the
     * matrix-vector products read four weight rows (one stream reads slower here, so it would understate the bound).
     */
    private static float sumChunk(MemorySegment seg, long off, int len) {
        VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int vb = F.vectorByteSize(), q = len / 4;
        for (int b = 0; b <= q - vb; b += vb) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, seg, off + b, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, seg, off + q + b, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, seg, off + 2L * q + b, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, seg, off + 3L * q + b, ByteOrder.LITTLE_ENDIAN));
        }
        return Ops.sumLanes(a0.add(a1).add(a2.add(a3)));
    }

    public static Result run(String size, DType dtype, Path dir, int prefillTokens, int decodeTokens, long bandwidthBytes) throws IOException {
        return run(size, config(size), dtype, dir, prefillTokens, decodeTokens, bandwidthBytes);
    }

    public static Result run(String size, GptJConfig cfg, DType dtype, Path dir, int prefillTokens, int decodeTokens, long bandwidthBytes)
            throws IOException {
        long t0 = System.nanoTime();
        writeRandom(cfg, dtype, dir, 1);
        double write = (System.nanoTime() - t0) / 1e9;
        long fileBytes = Files.size(dir.resolve("model.safetensors"));

        t0 = System.nanoTime();
        GptJ m = ModelStore.loadGptJ(dir, null, Checkpoint.Format.SAFETENSORS, dtype == DType.BF16 ? WeightStorage.BF16 : WeightStorage.MAPPED);
        double load = (System.nanoTime() - t0) / 1e9;
        long heap = liveHeap();

        int[] prompt = new int[prefillTokens];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < prompt.length; i++) prompt[i] = r.nextInt(cfg.vocabSize());
        // warm-up (JIT) in a session of its own, so the timings below are steady-state: a prompt long enough to take
        // the prefill's GEMM path (more than SMALL_N rows; 8 tokens took the matrix-vector path, and the timed prefill
        // then ran half-compiled code), then decoding steps
        GptJSession warm = new GptJSession(m, 512);
        float[] wl = null;
        for (int i = 0; i < 2; i++) wl = warm.prefill(new int[][]{java.util.Arrays.copyOf(prompt, Math.min(SegmentMatmul.SMALL_N + 16, prompt.length))});
        for (int i = 0; i < 4; i++) wl = warm.step(new int[]{Sampler.argmax(wl)});
        GptJSession s = new GptJSession(m, 512);
        t0 = System.nanoTime();
        float[] logits = s.prefill(new int[][]{prompt});
        double prefill = (System.nanoTime() - t0) / 1e9;
        double[] stepMs = new double[decodeTokens];
        t0 = System.nanoTime();
        for (int i = 0; i < decodeTokens; i++) {
            long t = System.nanoTime();
            logits = s.step(new int[]{Sampler.argmax(logits)});
            stepMs[i] = (System.nanoTime() - t) / 1e6;
        }
        double decode = (System.nanoTime() - t0) / 1e9;

        // every matrix is read once per token, except the embedding table, of which one row is read
        long matrixBytes = m.params.valueBytes() - 4L * m.params.data.length;
        int eb = dtype == DType.BF16 ? 2 : 4;
        long wte = (long) cfg.vocabSize() * cfg.nEmbd() * eb;
        long perToken = matrixBytes - wte + (long) cfg.nEmbd() * eb + 4L * m.params.data.length;
        double bw, bwPaired, pairedFraction;
        try (ReadProbe probe = new ReadProbe(bandwidthBytes)) {
            bw = probe.best(10);
            // The bound above is the best of ten reads, the speed the average of the timed steps; on a shared host
            // the read bandwidth moves by tens of percent from minute to minute, so the two can come from different
            // moments. Here each decoding step is followed at once by one read of the probe, and the fraction is the
            // median over the steps of (weight bytes / step time) / (that read's bandwidth).
            double[] fraction = new double[decodeTokens], read = new double[decodeTokens];
            for (int i = 0; i < decodeTokens; i++) {
                long t = System.nanoTime();
                logits = s.step(new int[]{Sampler.argmax(logits)});
                double stepSeconds = (System.nanoTime() - t) / 1e9;
                read[i] = probe.pass();
                fraction[i] = perToken / stepSeconds / read[i];
            }
            bwPaired = Stats.median(read);
            pairedFraction = Stats.median(fraction);
        }
        double bound = bw / perToken, tps = decodeTokens / decode;
        long params = m.params.views().stream().mapToLong(Params.View::size).sum();
        return new Result(size, dtype.name(), params, fileBytes, write, load, heap, prefillTokens,
                prefillTokens / prefill, decodeTokens, tps, perToken, bw, bound, tps / bound, Parallel.threads(),
                Stats.median(stepMs), bwPaired, pairedFraction);
    }

    static long liveHeap() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }
}
