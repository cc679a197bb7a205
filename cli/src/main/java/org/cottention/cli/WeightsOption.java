package org.cottention.cli;

import org.cottention.io.Checkpoint;
import picocli.CommandLine.Option;

/** The {@code --weights auto|safetensors|pytorch} option of commands that load a checkpoint (a picocli mixin). */
public final class WeightsOption {
    @Option(names = "--weights", paramLabel = "FORMAT", defaultValue = "auto",
            description = "Which weights to read from a checkpoint folder: auto (safetensors if present), safetensors or pytorch "
                    + "(default: ${DEFAULT-VALUE}).")
    String weights = "auto";

    /** The chosen format; an IllegalArgumentException naming the option for anything else. */
    public Checkpoint.Format format() {
        return Checkpoint.Format.parse(weights);
    }
}
