package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.CpuSteal;
import org.cottention.kernels.Machine;
import java.util.List;
import java.util.OptionalDouble;
import org.cottention.bench.GemmBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cottention bench gemm}: sgemm throughput for each combination of the listed sizes and thread counts. */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "Benchmark single-precision GEMM C[m,n] = A[m,k] * B[k,n]: warmup, then timed runs; GFLOPS from the median.")
public final class BenchGemmCommand implements Runnable {
    @Option(names = "--m", split = ",", paramLabel = "M", description = "Rows of C (comma-separated list allowed, default: ${DEFAULT-VALUE}).")
    List<Integer> m = List.of(1024);
    @Option(names = "--n", split = ",", paramLabel = "N", description = "Columns of C (list allowed, default: ${DEFAULT-VALUE}).")
    List<Integer> n = List.of(1024);
    @Option(names = "--k", split = ",", paramLabel = "K", description = "Inner dimension (list allowed, default: ${DEFAULT-VALUE}).")
    List<Integer> k = List.of(1024);
    @Option(names = "--threads", split = ",", paramLabel = "T", description = "Thread counts (list allowed, default: all cores).")
    List<Integer> threads = List.of(Runtime.getRuntime().availableProcessors());
    @Option(names = "--warmup", description = "Untimed runs before timing (at least ~0.5 s is spent anyway, default: ${DEFAULT-VALUE}).")
    int warmup = 3;
    @Option(names = "--runs", description = "Timed runs, >= 5 (default: ${DEFAULT-VALUE}).")
    int runs = 7;
    @Option(names = "--trans-b", description = "B is stored [n,k] and used transposed (decoding's x * W^T when m = 1).")
    boolean transB;
    @Option(names = "--json", description = "Print one JSON object per line instead of a table.")
    boolean json;

    @Override
    public void run() {
        if (runs < 5) throw new IllegalArgumentException("--runs must be >= 5, got " + runs);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
        for (List<Integer> l : List.of(m, n, k)) for (int v : l) if (v < 1) throw new IllegalArgumentException("--m/--n/--k must be >= 1, got " + v);
        for (int t : threads) if (t < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + t);
        ObjectMapper mapper = new ObjectMapper();
        if (!json) System.out.printf("%6s %6s %6s %6s %7s %10s %10s %9s %8s%n", "m", "n", "k", "transB", "threads", "median ms", "min ms", "GFLOPS", "GB/s");
        for (int t : threads) for (int mm : m) for (int nn : n) for (int kk : k) {
            CpuSteal steal = CpuSteal.start();
            GemmBench.Result r = GemmBench.run(mm, nn, kk, transB, t, warmup, runs);
            OptionalDouble stolen = steal.percent();
            if (json) {
                try {
                    var node = mapper.createObjectNode();
                    node.put("bench", "gemm").put("m", r.m()).put("n", r.n()).put("k", r.k()).put("transB", r.transB()).put("threads", r.threads())
                        .put("isa", Machine.isa())
                        .put("runs", r.runs()).put("gflops", round(r.gflops())).put("medianMs", round(r.medianMs()))
                        .put("minMs", round(r.minMs())).put("gbPerS", round(r.gbPerS()));
                    if (stolen.isPresent()) node.put("stealPercent", stolen.getAsDouble());
                    System.out.println(mapper.writeValueAsString(node));
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalStateException(e);
                }
            } else {
                System.out.printf("%6d %6d %6d %6b %7d %10.4f %10.4f %9.2f %8.2f%n", r.m(), r.n(), r.k(), r.transB(), r.threads(), r.medianMs(), r.minMs(), r.gflops(), r.gbPerS());
            }
            System.out.flush();
        }
    }

    private static double round(double v) {
        return Math.round(v * 1e4) / 1e4;
    }
}
