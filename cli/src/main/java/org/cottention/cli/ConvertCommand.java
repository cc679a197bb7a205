package org.cottention.cli;

import org.cottention.io.CheckpointConverter;
import org.cottention.io.DType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code cottention convert --model DIR --out DIR}: any checkpoint folder to safetensors + config + tokenizer, atomically. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a checkpoint folder (pytorch_model.bin or safetensors, sharded or not) into model.safetensors "
                + "(sharded above --max-shard-size), config.json (attention_type resolved) and the tokenizer files. "
                + "Streams one tensor at a time; the output folder appears only when complete.")
public final class ConvertCommand implements Callable<Integer> {
    @Mixin
    ThreadsOption threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Checkpoint folder to read.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write (new, or a previous conversion's).")
    Path out;

    @Option(names = "--dtype", defaultValue = "f32", paramLabel = "TYPE", description = "Float type of the written weights: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Mixin
    WeightsOption weights;

    @Option(names = "--max-shard-size", defaultValue = "4GB", paramLabel = "SIZE",
            description = "Largest shard, e.g. 4GB, 500MB, 2GiB (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    static DType parseDtype(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "f32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            default -> throw new IllegalArgumentException("--dtype must be f32 or bf16, got \"" + s + "\"");
        };
    }

    @Override
    public Integer call() throws Exception {
        threads.apply();
        var opt = new CheckpointConverter.Options(parseDtype(dtype), weights.format(), CheckpointConverter.parseSize(maxShardSize));
        long t0 = System.nanoTime();
        CheckpointConverter.Result r = CheckpointConverter.convert(model, out, opt);
        var w = spec.commandLine().getOut();
        w.printf(Locale.ROOT, "wrote %s: %d tensors (%d tied duplicates dropped), %.1f MB of %s weights in %.1f s%n", out, r.tensors(),
                r.dropped(), r.weightBytes() / 1e6, opt.dtype(), (System.nanoTime() - t0) / 1e9);
        w.println("files: " + String.join(", ", r.files()));
        w.flush();
        return 0;
    }
}
