package org.cottention.cli;

import org.cottention.bench.AttentionBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code cottention bench attention}: time and memory of every attention variant against sequence length. */
@Command(name = "attention", mixinStandardHelpOptions = true,
        description = {"Times forward and forward+backward of attention variants and measures the memory they allocate.",
                "Variants: cosine-causal, cosine-recurrent, cosine-bidir, cosine-causal-quadratic, softmax-causal,",
                "softmax-causal-flash, softmax-bidir, softmax-bidir-flash, and gated cosine attention (cosine_gate",
                "softplus, qkv_conv_size 2): cosine-gated-causal, cosine-gated-recurrent."})
public final class BenchAttentionCommand implements Callable<Integer> {
    @Mixin
    ThreadsOption threads;

    @Option(names = "--variant", split = ",", required = true, paramLabel = "V[,V...]", description = "Variants to run.")
    List<String> variants;

    @Option(names = "--seq", split = ",", required = true, paramLabel = "L[,L...]", description = "Sequence lengths.")
    List<Integer> seqs;

    @Option(names = "--heads", defaultValue = "8", description = "Heads H (default ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--head-dim", defaultValue = "64", description = "Head dimension D (default ${DEFAULT-VALUE}).")
    int headDim;

    @Option(names = "--batch", defaultValue = "1", description = "Batch size B (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--chunk", defaultValue = "64", description = "Chunk size of the chunkwise cosine form (default ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--runs", defaultValue = "3", description = "Timed runs per point; the median is reported (>= 3, default ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--json", description = "One JSON object per line.")
    boolean json;

    @Option(names = "--vs-gemm", description = {"Also time a 1024x1024x1024 GEMM after every timed run (same threads; warmed up",
            "first, median of 3) and report gemmGflops and the variant's FLOP rate as a fraction of it (fwdVsGemm,",
            "fwdBwdVsGemm: the median of each run's ratio to the GEMM right after it, so a shared machine's drift affects both)."})
    boolean vsGemm;

    @Option(names = "--vs-plain", description = {"With cosine-gated-causal: also time cosine-causal on the same shape right after every",
            "timed run and report plainFwdMs, plainFwdBwdMs and the gated row's time as a multiple of it (fwdVsPlain,",
            "fwdBwdVsPlain: the median of each run's ratio to the plain run beside it, so a drifting machine affects both)."})
    boolean vsPlain;

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Draw time and memory against length (log-log) into FILE.png.")
    Path plot;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        new AttentionBench(new AttentionBench.Options(variants, seqs, batch, heads, headDim, chunk, runs, json, plot, vsGemm, vsPlain), System.out).run();
        return 0;
    }
}
