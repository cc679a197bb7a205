package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.CpuSteal;
import org.cottention.kernels.Machine;
import org.cottention.bench.GemmBench;
import org.cottention.bench.TrainBench;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;

/** {@code cottention bench train}: GPT training tokens/s and model FLOP utilisation, cosine vs softmax, per context. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Training throughput of a GPT-J model on random tokens: tokens/s and model FLOP utilisation (MFU) against",
                "this machine's measured 1024^3 GEMM rate at the same thread count: mfu against the GEMM's best run before",
                "the training, mfuPaired the median over the steps of each step against a GEMM timed right after it.",
                "Tokens per step stay --tokens-per-step."})
public final class BenchTrainCommand implements Callable<Integer> {
    @Option(names = "--attention", split = ",", description = "Attention types (default ${DEFAULT-VALUE}).")
    List<String> attention = List.of("cosine", "softmax");
    @Option(names = "--context", split = ",", description = "Context lengths (default ${DEFAULT-VALUE}).")
    List<Integer> contexts = List.of(256, 1024, 4096);
    @Option(names = "--tokens-per-step", description = "Batch x context (default ${DEFAULT-VALUE}: batch 16 at context 256).")
    int tokensPerStep = 4096;
    @Option(names = "--steps", description = "Timed steps per point (default ${DEFAULT-VALUE}).")
    int steps = 3;
    @Option(names = "--n-layer", description = "Blocks (default ${DEFAULT-VALUE}).")
    int nLayer = 6;
    @Option(names = "--n-embd", description = "Width (default ${DEFAULT-VALUE}).")
    int nEmbd = 384;
    @Option(names = "--n-head", description = "Heads (default ${DEFAULT-VALUE}).")
    int nHead = 6;
    @Option(names = "--vocab-size", description = "Vocabulary (default ${DEFAULT-VALUE}).")
    int vocab = 8192;
    @Option(names = "--json", description = "JSON lines (default: a table).")
    boolean json;
    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1");
        // MFU is taken against the GEMM's best run (its peak on this machine now): on a shared machine the median
        // is depressed by interference more than the long training GEMMs are, which would overstate MFU
        GemmBench.Result g = GemmBench.run(1024, 1024, 1024, false, threads.threads(), 3, 11);
        double gemm = 2.0 * 1024 * 1024 * 1024 / (g.minMs() * 1e-3) / 1e9;
        ObjectMapper om = new ObjectMapper();
        if (!json) System.out.printf("%-8s %7s %6s %10s %12s %9s %6s %7s   (GEMM best %.1f GFLOPS)%n", "attn", "context", "batch", "step ms", "tokens/s", "GFLOPS", "MFU", "paired", gemm);
        for (String a : attention) {
            GptJ m = new GptJ(GptJConfig.of(vocab, Math.max(1024, contexts.stream().max(Integer::compare).orElse(1024)), nEmbd, nLayer, nHead,
                    4 * nEmbd, Math.min(64, nEmbd / nHead), vocab - 1, AttentionType.parse(a))).initialise(1);
            for (int c : contexts) {
                int batch = Math.max(1, tokensPerStep / c);
                CpuSteal steal = CpuSteal.start();
                TrainBench.Result r = TrainBench.run(m, c, batch, steps, 3, true);
                OptionalDouble stolen = steal.percent();
                double mfu = r.gflops() / gemm;
                if (json) {
                    Map<String, Object> row = new LinkedHashMap<>(om.convertValue(r, Map.class));
                    row.put("threads", threads.threads());
                    row.put("isa", Machine.isa());
                    row.put("gemmBestGflops", gemm);
                    row.put("gemmMedianGflops", g.gflops());
                    row.put("mfu", mfu);
                    if (stolen.isPresent()) row.put("stealPercent", stolen.getAsDouble());
                    System.out.println(om.writeValueAsString(row));
                } else {
                    System.out.printf("%-8s %7d %6d %10.1f %12.0f %9.1f %5.1f%% %6.1f%%%n", r.attention(), c, batch, r.medianStepMs(), r.tokensPerSec(), r.gflops(), 100 * mfu, 100 * r.mfuPaired());
                }
                System.out.flush();
            }
        }
        return 0;
    }
}
