package org.cottention.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.attention.AttnShape;
import org.cottention.attention.CosineBidir;
import org.cottention.attention.CosineCausal;
import org.cottention.attention.CosineQuadratic;
import org.cottention.attention.CosineRecurrent;
import org.cottention.attention.CosineState;
import org.cottention.attention.FlashAttention;
import org.cottention.attention.Heads;
import org.cottention.attention.QkvConv;
import org.cottention.attention.QkvSource;
import org.cottention.attention.SoftmaxAttention;
import org.cottention.model.CosineGate;
import org.cottention.model.GateProjection;
import org.cottention.kernels.Machine;
import org.cottention.kernels.Parallel;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.cottention.bench.Stats.median;

/**
 * Attention benchmark: for each (variant, length) the median time of the complete operation as a model uses it
 * (normalisation, stabiliser, masking included) forward and forward+backward, and the memory it allocates.
 *
 * <p>Memory ({@code peakBytes}) is MEASURED: the sum over all live threads of
 * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} — the bytes the JVM handed out on those threads —
 * taken just before and just after one forward+backward. The operations allocate their context and scratch once per
 * call and keep it (per-thread scratch is reused across heads), so what they allocate is what they hold at their
 * peak (an upper bound: a buffer dropped before the call ends still counts). Inputs (q, k, v, dOut) and outputs (out,
 * dq, dk, dv) are allocated before the measurement, so they are excluded. The JIT is warmed up first: until the
 * Vector API code is compiled, every vector is a heap object and would be counted.
 */
public final class AttentionBench {
    public static final List<String> VARIANTS = List.of("cosine-causal", "cosine-recurrent", "cosine-bidir",
            "cosine-causal-quadratic", "softmax-causal", "softmax-causal-flash", "softmax-bidir", "softmax-bidir-flash",
            "cosine-gated-causal", "cosine-gated-recurrent");
    /** Width of the q/k/v convolution in the gated rows (the issue's, and math doc §8's, 2). */
    static final int GATED_CONV = 2;

    public record Options(List<String> variants, List<Integer> seqs, int batch, int heads, int headDim, int chunk,
                          int runs, boolean json, Path plot, boolean vsGemm, boolean vsPlain) {}

    private final Options opt;
    private final PrintStream out;
    private final ObjectMapper json = new ObjectMapper();
    private final List<Map<String, Object>> rows = new ArrayList<>();

    public AttentionBench(Options opt, PrintStream out) {
        for (String v : opt.variants())
            if (!VARIANTS.contains(v))
                throw new IllegalArgumentException("--variant: unknown variant '" + v + "' (known: " + String.join(", ", VARIANTS) + ")");
        if (opt.seqs().isEmpty()) throw new IllegalArgumentException("--seq: give at least one length");
        for (int s : opt.seqs()) if (s < 1) throw new IllegalArgumentException("--seq: lengths must be >= 1, got " + s);
        if (opt.batch() < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + opt.batch());
        if (opt.heads() < 1) throw new IllegalArgumentException("--heads must be >= 1, got " + opt.heads());
        if (opt.headDim() < 1) throw new IllegalArgumentException("--head-dim must be >= 1, got " + opt.headDim());
        if (opt.chunk() < 1) throw new IllegalArgumentException("--chunk must be >= 1, got " + opt.chunk());
        if (opt.runs() < 3) throw new IllegalArgumentException("--runs must be >= 3, got " + opt.runs());
        this.opt = opt;
        this.out = out;
    }

    public List<Map<String, Object>> run() throws IOException {
        for (String v : opt.variants())
            for (int seq : opt.seqs()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("variant", v);
                row.put("seq", seq);
                row.put("batch", opt.batch());
                row.put("heads", opt.heads());
                row.put("headDim", opt.headDim());
                row.put("threads", Parallel.threads());
                row.put("isa", Machine.isa());
                if (v.equals("cosine-causal") || v.equals("cosine-gated-causal")) row.put("chunk", opt.chunk());
                if (v.startsWith("cosine-gated")) {
                    row.put("cosineGate", "softplus");
                    row.put("qkvConvSize", GATED_CONV);
                }
                CpuSteal steal = CpuSteal.start();
                try {
                    measure(v, seq, row);
                } catch (OutOfMemoryError e) {
                    row.keySet().retainAll(List.of("variant", "seq", "batch", "heads", "headDim", "threads", "isa", "chunk", "cosineGate", "qkvConvSize"));
                    row.put("error", "out of memory");
                }
                steal.percent().ifPresent(p -> row.put("stealPercent", p));
                System.gc();
                rows.add(row);
                print(row);
            }
        if (opt.plot() != null) plot(opt.plot());
        return rows;
    }

    private void print(Map<String, Object> row) throws IOException {
        if (opt.json()) {
            out.println(json.writeValueAsString(row));
        } else {
            StringBuilder sb = new StringBuilder();
            row.forEach((k, v) -> sb.append(k).append('=').append(v).append("  "));
            out.println(sb.toString().trim());
        }
        out.flush();
    }

    /**
     * One operation on fixed buffers: forward (returns the context), backward given the context. The causal cosine
     * rows reuse their context's buffers from one forward to the next, as a model's layer does; {@link #forget}
     * drops them, so that the memory measurement counts everything a first call allocates.
     */
    private interface Op {
        Object forward();

        void backward(Object ctx);

        default void forget() {}
    }

    /** An {@link Op} over the causal cosine kernel, holding the context it reuses. */
    private abstract static class CausalOp implements Op {
        CosineCausal.Context ctx;

        @Override
        public void forget() {
            ctx = null;
        }
    }

    private void measure(String variant, int T, Map<String, Object> row) {
        final int B = opt.batch(), H = opt.heads(), D = opt.headDim();
        AttnShape shape = new AttnShape(B, T, H, D);
        long n = (long) B * T * H * D;
        // the inputs, outputs and gradients build() allocates (the gated row's are all in its estimate), and the rest
        long need = estimateBytes(variant, shape) + (variant.equals("cosine-gated-causal") ? 0 : 8 * 4 * n);
        if (opt.vsPlain() && variant.equals("cosine-gated-causal")) need += estimateBytes("cosine-causal", shape) + 8 * 4 * n;
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (need > free * 0.9) {
            row.put("error", "out of memory");
            row.put("needBytes", need);
            row.put("maxHeapBytes", rt.maxMemory());
            return;
        }
        if (variant.equals("cosine-recurrent") || variant.equals("cosine-gated-recurrent")) {
            recurrent(shape, row, variant.equals("cosine-gated-recurrent"));
            return;
        }
        // warm-up: repeat a short problem until the JIT has compiled the kernels, then run the real one once
        Op small = build(variant, new AttnShape(B, Math.min(T, 512), H, D));
        long until = System.nanoTime() + 2_000_000_000L;
        for (int i = 0; i < 500 && (i < 5 || System.nanoTime() < until); i++) small.backward(small.forward());
        small = null;
        Op op = build(variant, shape);
        op.backward(op.forward());
        // --vs-plain: the gated row's plain twin (cosine-causal, same shape; its kernels are the gated row's, already
        // compiled, so a short warm-up), timed right after each gated run
        Op plain = null;
        if (opt.vsPlain() && variant.equals("cosine-gated-causal")) {
            Op smallPlain = build("cosine-causal", new AttnShape(B, Math.min(T, 512), H, D));
            for (int i = 0; i < 5; i++) smallPlain.backward(smallPlain.forward());
            plain = build("cosine-causal", shape);
            plain.backward(plain.forward());
        }
        double[] fwd = new double[opt.runs()], fb = new double[opt.runs()], gemm = new double[opt.runs()];
        double[] plainFwd = new double[opt.runs()], plainFb = new double[opt.runs()];
        if (opt.vsGemm()) GemmReference.warmUp();
        for (int i = 0; i < opt.runs(); i++) {
            fwd[i] = timeForward(op);
            fb[i] = timeForwardBackward(op);
            if (plain != null) {
                plainFwd[i] = timeForward(plain);
                plainFb[i] = timeForwardBackward(plain);
            }
            if (opt.vsGemm()) gemm[i] = GemmReference.timeNow();
        }
        // memory last, after the timed runs: by then even a slow machine has compiled every kernel (interpreted Vector
        // API code would box every vector on the heap and be counted)
        op.forget();
        System.gc();
        long before = allocatedBytes();
        Object ctx = op.forward();
        long afterFwd = allocatedBytes();
        op.backward(ctx);
        long afterBwd = allocatedBytes();
        ctx = null;
        double fwdMs = median(fwd), fbMs = median(fb);
        row.put("fwdMs", round(fwdMs));
        row.put("fwdBwdMs", round(fbMs));
        row.put("peakBytes", afterBwd - before);
        row.put("fwdBytes", afterFwd - before);
        double[] flops = flops(variant, shape, opt.chunk());
        row.put("fwdGflops", round(flops[0] / fwdMs / 1e6));
        row.put("fwdBwdGflops", round(flops[1] / fbMs / 1e6));
        if (plain != null) {
            // each run's ratio to the plain kernel timed right after it, then the median (as for --vs-gemm)
            double[] fwdRatio = new double[opt.runs()], fbRatio = new double[opt.runs()];
            for (int i = 0; i < opt.runs(); i++) {
                fwdRatio[i] = fwd[i] / plainFwd[i];
                fbRatio[i] = fb[i] / plainFb[i];
            }
            row.put("plainFwdMs", round(median(plainFwd)));
            row.put("plainFwdBwdMs", round(median(plainFb)));
            row.put("fwdVsPlain", round(median(fwdRatio)));
            row.put("fwdBwdVsPlain", round(median(fbRatio)));
        }
        if (opt.vsGemm()) {
            // each run's ratio to the GEMM timed right after it, then the median of those: on a shared machine whose
            // speed drifts (other tenants on the same cores) the pairs drift together where separate medians do not
            double[] fwdRatio = new double[opt.runs()], fbRatio = new double[opt.runs()];
            for (int i = 0; i < opt.runs(); i++) {
                fwdRatio[i] = flops[0] / fwd[i] / GemmReference.FLOPS * gemm[i];
                fbRatio[i] = flops[1] / fb[i] / GemmReference.FLOPS * gemm[i];
            }
            row.put("gemmGflops", round(GemmReference.FLOPS / median(gemm) / 1e6));
            row.put("fwdVsGemm", round(median(fwdRatio)));
            if (flops[1] > 0) row.put("fwdBwdVsGemm", round(median(fbRatio)));
        }
    }

    private static double timeForward(Op op) {
        long t0 = System.nanoTime();
        op.forward();
        return (System.nanoTime() - t0) / 1e6;
    }

    private static double timeForwardBackward(Op op) {
        long t0 = System.nanoTime();
        op.backward(op.forward());
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Allocates random inputs and outputs for the shape (outside any measurement) and returns the operation on them. */
    private Op build(String variant, AttnShape shape) {
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), E = shape.width();
        int n = B * T * E;
        Random r = new Random(42);
        float[] m = new float[H], dm = new float[H];
        Arrays.fill(m, 0.5f);
        int[] mask = new int[B * T];
        Arrays.fill(mask, 1);
        // the gated row holds its own fused q|k|v buffers (before and after the convolution): only out and dOut here
        if (variant.equals("cosine-gated-causal")) return gated(shape, mask, m, Heads.of(new float[n], E), Heads.of(randn(r, n), E), dm, r);
        float[] q = randn(r, n), k = randn(r, n), v = randn(r, n), g = randn(r, n);
        float[] o = new float[n], dq = new float[n], dk = new float[n], dv = new float[n];
        Heads hq = Heads.of(q, E), hk = Heads.of(k, E), hv = Heads.of(v, E), ho = Heads.of(o, E), hg = Heads.of(g, E);
        Heads hdq = Heads.of(dq, E), hdk = Heads.of(dk, E), hdv = Heads.of(dv, E);
        return switch (variant) {
            case "cosine-causal" -> new CausalOp() {
                public Object forward() {
                    return ctx = CosineCausal.forward(ctx, shape, hq, hk, hv, mask, m, ho, opt.chunk(), null, null);
                }

                public void backward(Object c) {
                    CosineCausal.backwardInto((CosineCausal.Context) c, hg, hdq, hdk, hdv, dm, null);
                }
            };
            case "cosine-bidir" -> new Op() {
                public Object forward() {
                    return CosineBidir.forward(shape, hq, hk, hv, mask, m, ho);
                }

                public void backward(Object c) {
                    CosineBidir.backward((CosineBidir.Context) c, hg, hdq, hdk, hdv, dm);
                }
            };
            case "cosine-causal-quadratic" -> new Op() {
                public Object forward() {
                    return CosineQuadratic.forward(shape, hq, hk, hv, mask, m, ho);
                }

                public void backward(Object c) {
                    CosineQuadratic.backward((CosineQuadratic.Context) c, hg, hdq, hdk, hdv, dm);
                }
            };
            case "softmax-causal", "softmax-bidir" -> new Op() {
                final boolean causal = variant.equals("softmax-causal");

                public Object forward() {
                    return SoftmaxAttention.forward(shape, hq, hk, hv, mask, causal, ho);
                }

                public void backward(Object c) {
                    SoftmaxAttention.backward((SoftmaxAttention.Context) c, hg, hdq, hdk, hdv);
                }
            };
            case "softmax-causal-flash", "softmax-bidir-flash" -> new Op() {
                final boolean causal = variant.equals("softmax-causal-flash");

                public Object forward() {
                    return FlashAttention.forward(shape, hq, hk, hv, mask, causal, ho);
                }

                public void backward(Object c) {
                    FlashAttention.backward((FlashAttention.Context) c, hg, hdq, hdk, hdv);
                }
            };
            default -> throw new IllegalArgumentException("--variant: unknown variant '" + variant + "'");
        };
    }

    /**
     * Gated causal cosine attention as a GPT-J layer runs it in training (math doc §8): the q/k/v convolution over
     * the fused projections u [n, 3E], made row by row inside the kernel ({@link QkvConv#rows}: no [n, 3E] buffer after
     * it), the gate (x [n, E] W_g^T + b, -softplus), the chunkwise kernel with the decay; backward through all of them
     * (kernel, softplus, gate projection and its weight gradient, convolution and its weight gradient). The model's
     * rotary, which its row source also applies, is left out, as the plain row leaves it out.
     */
    private Op gated(AttnShape shape, int[] mask, float[] m, Heads ho, Heads hg, float[] dm, Random r) {
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), E = shape.width(), n = B * T, w = GATED_CONV;
        float[] u = randn(r, n * 3 * E), x = randn(r, n * E), dqkv = new float[n * 3 * E];   // dqkv: then du, in place
        // the gate's weights [H, E] and then its biases [H], as in a model's flat buffer; dwg the same layout
        float[] conv = new float[3 * E * w], dconv = new float[conv.length], wg = randn(r, H * E + H), dwg = new float[H * E + H];
        float[] logit = new float[n * H], decay = new float[n * H], dx = new float[n * E];
        for (int c = 0; c < 3 * E; c++) {
            conv[c * w + w - 1] = 1f;
            conv[c * w] = 0.1f;
        }
        for (int i = 0; i < H * E; i++) wg[i] *= 0.02f;
        for (int h = 0; h < H; h++) wg[H * E + h] = (float) Math.log(Math.expm1(1e-3 * Math.pow(100, H == 1 ? 0.5 : (double) h / (H - 1))));
        float[] da = new float[n * H]; // dL/d(log-decay), which the kernel adds into: zeroed per call
        return new CausalOp() {
            public Object forward() {
                QkvSource rows = QkvConv.rows(B, T, 3 * E, w, u, 0, 3 * E, conv, 0, mask, null);
                GateProjection.forward(x, 0, E, wg, 0, H * E, logit, n, E, H);
                CosineGate.logDecay(logit, decay, n * H);
                return ctx = CosineCausal.forward(ctx, shape, rows, mask, m, decay, ho, opt.chunk(), null, null);
            }

            public void backward(Object c) {
                Arrays.fill(da, 0f);
                CosineCausal.backwardInto((CosineCausal.Context) c, hg, new Heads(dqkv, 0, 3 * E), new Heads(dqkv, E, 3 * E), new Heads(dqkv, 2 * E, 3 * E), dm, da);
                CosineGate.logitGradient(logit, da, n * H);
                GateProjection.backward(x, 0, E, wg, 0, da, dx, 0, E, dwg, 0, H * E, n, E, H);
                QkvConv.backwardInPlace(B, T, 3 * E, w, u, 0, 3 * E, conv, 0, mask, null, dqkv, 0, 3 * E, dconv, 0);
            }
        };
    }

    /**
     * The whole sequence token by token through the recurrent step (forward only: decoding); gated: each token also
     * through the convolution (its tail in the state) and the gate.
     */
    private void recurrent(AttnShape shape, Map<String, Object> row, boolean gated) {
        final int B = shape.batch(), T = shape.seq(), H = shape.heads(), D = shape.headDim(), E = H * D;
        Random r = new Random(42);
        int n = B * T * E;
        float[] q = randn(r, n), k = randn(r, n), v = randn(r, n), o = new float[B * E], m = new float[H];
        Arrays.fill(m, 0.5f);
        int[] tokMask = new int[B];
        Arrays.fill(tokMask, 1);
        Heads out = Heads.of(o, E);
        int w = gated ? GATED_CONV : 0;
        Step step = gated ? gatedStep(B, T, H, E, q, k, v, tokMask, m, out, r) : (st, t) ->
                CosineRecurrent.step(st, new Heads(q, t * E, T * E), new Heads(k, t * E, T * E), new Heads(v, t * E, T * E), tokMask, m, out);
        // warm-up
        CosineState warm = new CosineState(B, H, D, w);
        for (int i = 0; i < 20_000; i++) step.run(warm, i % T);
        double[] total = new double[opt.runs()], first = new double[opt.runs()], last = new double[opt.runs()];
        long stateBytes = 0, runBytes = 0;
        int quarter = Math.max(1, T / 4);
        for (int i = 0; i < opt.runs(); i++) {
            long a0 = allocatedBytes();
            CosineState st = new CosineState(B, H, D, w);
            long a1 = allocatedBytes();
            long t0 = System.nanoTime(), tq1 = t0, tq3 = t0;
            for (int t = 0; t < T; t++) {
                if (t == quarter) tq1 = System.nanoTime();
                if (t == T - quarter) tq3 = System.nanoTime();
                step.run(st, t);
            }
            long t1 = System.nanoTime();
            stateBytes = a1 - a0;
            runBytes = allocatedBytes() - a1;
            total[i] = (t1 - t0) / 1e6;
            first[i] = (tq1 - t0) / 1e3 / quarter;
            last[i] = (t1 - tq3) / 1e3 / quarter;
        }
        double ms = median(total);
        row.put("fwdMs", round(ms));
        row.put("fwdBwdMs", null);
        // what the decoder holds is the state; the per-step bookkeeping (thread-pool latches, the views built
        // here) is short-lived garbage, reported per token
        row.put("peakBytes", stateBytes);
        row.put("garbageBytesPerToken", runBytes / T);
        row.put("firstQuarterUsPerToken", round(median(first)));
        row.put("lastQuarterUsPerToken", round(median(last)));
        row.put("fwdGflops", round(flops("cosine-recurrent", shape, opt.chunk())[0] / ms / 1e6));
    }

    /** One decoding step of token t. */
    private interface Step {
        void run(CosineState st, int t);
    }

    /**
     * The gated step: the token's q|k|v rows (here the random q, k, v stand for the projections) through the
     * convolution with the state's tail, its gate from x [B, E] W_g^T + b, then the recurrent step with the decay.
     */
    private static Step gatedStep(int B, int T, int H, int E, float[] q, float[] k, float[] v, int[] mask, float[] m, Heads out, Random r) {
        int w = GATED_CONV;
        float[] u = new float[B * 3 * E], qkv = new float[B * 3 * E], conv = new float[3 * E * w], x = randn(r, B * E), wg = randn(r, H * E + H);
        float[] logit = new float[B * H], decay = new float[B * H];
        for (int c = 0; c < 3 * E; c++) conv[c * w + w - 1] = 1f;
        for (int i = 0; i < wg.length; i++) wg[i] *= 0.02f;
        return (st, t) -> {
            for (int b = 0; b < B; b++) {
                System.arraycopy(q, (b * T + t) * E, u, b * 3 * E, E);
                System.arraycopy(k, (b * T + t) * E, u, b * 3 * E + E, E);
                System.arraycopy(v, (b * T + t) * E, u, b * 3 * E + 2 * E, E);
            }
            QkvConv.forward(B, 1, 3 * E, w, u, 0, 3 * E, conv, 0, mask, st.convTail, qkv, 0, 3 * E, st.convTail);
            GateProjection.forward(x, 0, E, wg, 0, H * E, logit, B, E, H);
            CosineGate.logDecay(logit, decay, B * H);
            CosineRecurrent.step(st, new Heads(qkv, 0, 3 * E), new Heads(qkv, E, 3 * E), new Heads(qkv, 2 * E, 3 * E), mask, m, decay, out);
        };
    }

    /**
     * Dense FLOPs {forward, forward+backward}. Cosine causal: math doc §4 (4 L D^2 + 2 L C D per head, backward
     * 2.5x). Causal softmax and the quadratic form count the non-zero triangle only.
     */
    static double[] flops(String variant, AttnShape s, int chunk) {
        double bh = (double) s.batch() * s.heads(), T = s.seq(), D = s.headDim();
        return switch (variant) {
            case "cosine-causal", "cosine-gated-causal" -> { // the gated rows count the same work (gate and conv are O(T E))
                double C = Math.min(chunk, T), f = bh * (4 * T * D * D + 2 * T * C * D);
                yield new double[]{f, 3.5 * f};
            }
            case "cosine-recurrent", "cosine-gated-recurrent" -> new double[]{bh * T * 4 * D * D, 0};
            case "cosine-bidir" -> new double[]{bh * 4 * T * D * D, bh * 12 * T * D * D};
            case "cosine-causal-quadratic", "softmax-causal" -> new double[]{bh * 2 * T * T * D, bh * 6 * T * T * D};
            case "softmax-bidir" -> new double[]{bh * 4 * T * T * D, bh * 12 * T * T * D};
            case "softmax-causal-flash" -> new double[]{bh * 2 * T * T * D, bh * 7 * T * T * D};
            case "softmax-bidir-flash" -> new double[]{bh * 4 * T * T * D, bh * 14 * T * T * D};
            default -> new double[]{0, 0};
        };
    }

    /** Rough bytes an operation needs beyond its inputs and outputs, to refuse a run that cannot fit. */
    private static long estimateBytes(String variant, AttnShape s) {
        long n = (long) s.batch() * s.seq() * s.width(), T = s.seq(), th = Parallel.threads();
        long bhtt = 4L * s.batch() * s.heads() * T * T;
        return switch (variant) {
            case "cosine-causal" -> (8L + 8L * s.heads()) * s.batch() * T + (16L << 20); // per-token counts and dL/dm terms, step buffers
            // the layer's buffers: out, dOut [n, E]; u, dqkv (then du, in place) [n, 3E]; x, dx [n, E]; gate logits,
            // decay, dL/da [B*T, H]; then the kernel's: per token and head z and gradients, per chunk of 64 a D x D state
            case "cosine-gated-causal" -> 4 * 10 * n + 12L * s.batch() * T * s.heads() + 48L * s.batch() * s.heads() * T
                    + 4L * n * s.headDim() / 64 + (16L << 20);
            case "cosine-bidir" -> 4 * 3 * n + 4L * 3 * s.batch() * s.heads() * T;
            case "cosine-causal-quadratic" -> 4 * 3 * n + th * (8 * T * T + 12 * T * s.headDim());
            case "softmax-causal", "softmax-bidir" -> bhtt + th * 4 * T * T;
            default -> 4L * 2 * s.batch() * s.heads() * T;
        };
    }

    /** Bytes the JVM has handed out so far on all live threads (differences of it measure what code allocates). */
    public static long allocatedBytes() {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long sum = 0;
        for (long a : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) if (a > 0) sum += a;
        return sum;
    }

    private static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }

    /** Time and memory against length, log-log, one line per variant (rows with an error are left out). */
    private void plot(Path file) throws IOException {
        XYChart time = new XYChartBuilder().width(800).height(600).title("Attention time (forward+backward; recurrent: forward)")
                .xAxisTitle("sequence length").yAxisTitle("ms").build();
        XYChart mem = new XYChartBuilder().width(800).height(600).title("Attention memory (measured allocation)")
                .xAxisTitle("sequence length").yAxisTitle("bytes").build();
        for (XYChart c : List.of(time, mem)) {
            c.getStyler().setXAxisLogarithmic(true);
            c.getStyler().setYAxisLogarithmic(true);
        }
        for (String v : opt.variants()) {
            List<Double> xs = new ArrayList<>(), ts = new ArrayList<>(), ms = new ArrayList<>();
            for (Map<String, Object> row : rows) {
                if (!row.get("variant").equals(v) || row.containsKey("error")) continue;
                Object t = row.get("fwdBwdMs") != null ? row.get("fwdBwdMs") : row.get("fwdMs");
                xs.add(((Integer) row.get("seq")).doubleValue());
                ts.add(Math.max(1e-3, (Double) t));
                ms.add(Math.max(1.0, ((Long) row.get("peakBytes")).doubleValue()));
            }
            if (xs.isEmpty()) continue;
            time.addSeries(v, xs, ts).setMarker(SeriesMarkers.CIRCLE);
            mem.addSeries(v, xs, ms).setMarker(SeriesMarkers.CIRCLE);
        }
        String name = file.toString();
        if (name.toLowerCase().endsWith(".png")) name = name.substring(0, name.length() - 4);
        BitmapEncoder.saveBitmap(List.of(time, mem), 1, 2, name, BitmapEncoder.BitmapFormat.PNG);
    }
}
