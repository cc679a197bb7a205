package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.bench.CpuSteal;
import org.cottention.bench.ScaleBench;
import org.cottention.kernels.Machine;
import org.cottention.io.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code cottention bench scale}: the paper's 300M / 1.2B GPT written, mapped, prefilled and decoded; one JSON line. */
@Command(name = "scale", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a random GPT of the paper's 300M or 1.2B configuration as safetensors (streamed), load it memory-mapped,",
                "prefill and decode; report load time, live heap, tokens/s and the fraction of the memory-bandwidth bound reached."})
public final class BenchScaleCommand implements Callable<Integer> {
    @Option(names = "--size", required = true, description = "300m or 1.2b.")
    String size;

    @Option(names = "--dtype", defaultValue = "f32", description = "Weights in the file and in memory: f32 or bf16 (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the model (a new one; deleted afterwards unless --keep).")
    Path out;

    @Option(names = "--tokens", defaultValue = "32", description = "Decoding steps timed (default ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--prefill", defaultValue = "128", description = "Prompt tokens prefilled (default ${DEFAULT-VALUE}).")
    int prefill;

    @Option(names = "--bandwidth-mib", defaultValue = "1024", description = "Buffer for the read-bandwidth measurement, MiB (default ${DEFAULT-VALUE}).")
    int bandwidthMib;

    @Option(names = "--keep", description = "Keep the written model.")
    boolean keep;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        DType dt = ConvertCommand.parseDtype(dtype);
        ScaleBench.config(size);  // validates --size before anything is written
        if (tokens < 1 || prefill < 1) throw new IllegalArgumentException("--tokens and --prefill must be >= 1");
        if (Files.exists(out)) throw new IllegalArgumentException("--out " + out + " exists; give a new folder");
        try {
            CpuSteal steal = CpuSteal.start();
            ScaleBench.Result r = ScaleBench.run(size, dt, out, prefill, tokens, (long) bandwidthMib << 20);
            ObjectMapper om = new ObjectMapper();
            Map<String, Object> row = new LinkedHashMap<>(om.convertValue(r, Map.class));
            row.put("isa", Machine.isa());
            steal.percent().ifPresent(p -> row.put("stealPercent", p));
            System.out.println(om.writeValueAsString(row));
        } finally {
            if (!keep && Files.exists(out)) {
                try (Stream<Path> s = Files.walk(out)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        }
        return 0;
    }
}
