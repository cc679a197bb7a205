package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.CpuSteal;
import org.cottention.kernels.Machine;
import org.cottention.bench.DecodeBench;
import org.cottention.io.Charts;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.ModelStore;
import org.cottention.model.WeightStorage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention bench decode}: ms/token and memory against context length, cosine vs softmax. */
@Command(name = "decode", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Decoding time per token and memory against context length, cosine (constant state) vs softmax (KV cache).",
                "A random model of the given size (or --model DIR) is used; one JSON line per (attention, context)."})
public final class BenchDecodeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Model folder (its attention is used unless --attention lists others).")
    Path modelDir;

    @Option(names = "--dtype", defaultValue = "f32", description = "With --model: weights in memory, f32 or bf16 (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--mmap", description = "With --model: read f32 weight matrices in place from the mapped safetensors file.")
    boolean mmap;

    @Option(names = "--attention", split = ",", description = "Attention types to compare (default ${DEFAULT-VALUE}).")
    List<String> attention = List.of("cosine", "softmax");

    @Option(names = "--context", split = ",", description = "Context lengths (default ${DEFAULT-VALUE}).")
    List<Integer> contexts = List.of(1024, 4096, 16384, 65536);

    @Option(names = "--tokens", description = "Decoding steps timed per point (default ${DEFAULT-VALUE}).")
    int tokens = 32;

    @Option(names = "--real-prefill-limit", description = "Softmax contexts above this are filled with a synthetic KV cache (default ${DEFAULT-VALUE}).")
    int realPrefillLimit = 4096;

    @Option(names = "--n-layer", description = "Random model: blocks (default ${DEFAULT-VALUE}).")
    int nLayer = 6;
    @Option(names = "--n-embd", description = "Random model: width (default ${DEFAULT-VALUE}).")
    int nEmbd = 384;
    @Option(names = "--n-head", description = "Random model: heads (default ${DEFAULT-VALUE}).")
    int nHead = 6;
    @Option(names = "--vocab-size", description = "Random model: vocabulary (default ${DEFAULT-VALUE}).")
    int vocab = 8192;

    @Option(names = "--json", description = "JSON lines (default: a table).")
    boolean json;

    @Option(names = "--plot", description = "Write ms/token and heap against context (log-log) to this PNG/SVG.")
    Path plot;

    @Mixin
    ThreadsOption threads;

    @Mixin
    GatingOptions gating;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        WeightStorage.of(dtype, mmap);  // validates --dtype up front
        if (tokens < 3) throw new IllegalArgumentException("--tokens must be >= 3, got " + tokens);
        for (int c : contexts) if (c < 1) throw new IllegalArgumentException("--context must be >= 1, got " + c);
        ObjectMapper om = new ObjectMapper();
        Map<String, List<DecodeBench.Result>> byType = new LinkedHashMap<>();
        if (!json) System.out.printf("%-8s %8s %10s %12s %14s %10s%n", "attn", "context", "ms/token", "state bytes", "live heap", "prefill");
        for (String a : attention) {
            AttentionType type = AttentionType.parse(a);
            boolean gate = gating.given() && type == AttentionType.COSINE; // the gating options apply to the cosine rows
            GptJ m = modelDir != null ? ModelStore.loadGptJ(modelDir, type, org.cottention.io.Checkpoint.Format.AUTO, WeightStorage.of(dtype, mmap),
                    gate ? gating.gate() : null, gate ? gating.convSize() : null)
                    : new GptJ(maybeGated(GptJConfig.of(vocab, 1024, nEmbd, nLayer, nHead, 4 * nEmbd, Math.min(64, nEmbd / nHead), vocab - 1, type), gate)).initialise(1);
            for (int c : contexts) {
                DecodeBench.Result r;
                CpuSteal steal = CpuSteal.start();
                try {
                    r = DecodeBench.run(m, c, tokens, realPrefillLimit, 7);
                } catch (OutOfMemoryError e) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("attention", type.configName());
                    row.put("context", c);
                    row.put("isa", Machine.isa());
                    row.put("error", "out of memory (max heap " + Runtime.getRuntime().maxMemory() + " bytes)");
                    System.out.println(json ? om.writeValueAsString(row) : type.configName() + " " + c + ": out of memory");
                    continue;
                }
                byType.computeIfAbsent(r.attention(), k -> new ArrayList<>()).add(r);
                if (json) {
                    Map<String, Object> row = new LinkedHashMap<>(om.convertValue(r, Map.class));
                    row.put("threads", threads.threads());
                    row.put("isa", Machine.isa());
                    row.put("parameters", m.parameterCount());
                    row.put("cosineGate", m.cfg.cosineGate().configName());
                    row.put("qkvConvSize", m.cfg.qkvConvSize());
                    steal.percent().ifPresent(p -> row.put("stealPercent", p));
                    System.out.println(om.writeValueAsString(row));
                } else {
                    System.out.printf("%-8s %8d %10.3f %12d %14d %10s%n", r.attention(), r.context(), r.msPerToken(), r.stateBytes(), r.heapAfterDecodeBytes(), r.prefill());
                }
                System.out.flush();
            }
        }
        if (plot != null) {
            List<Charts.Series> time = new ArrayList<>(), mem = new ArrayList<>();
            byType.forEach((k, rs) -> {
                time.add(new Charts.Series(k, rs.stream().map(DecodeBench.Result::context).toList(), rs.stream().map(DecodeBench.Result::msPerToken).toList()));
                mem.add(new Charts.Series(k, rs.stream().map(DecodeBench.Result::context).toList(),
                        rs.stream().map(x -> x.heapAfterDecodeBytes() / 1048576.0).toList()));
            });
            Charts.write(plot, List.of(new Charts.Chart("Decoding time per token", "context (tokens)", "ms / token", true, true, time),
                    new Charts.Chart("Live heap while decoding", "context (tokens)", "MiB", true, true, mem)));
        }
        return 0;
    }

    private GptJConfig maybeGated(GptJConfig c, boolean gate) {
        return gate ? gating.apply(c) : c;
    }
}
