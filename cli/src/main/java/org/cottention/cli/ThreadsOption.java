package org.cottention.cli;

import org.cottention.kernels.Parallel;
import picocli.CommandLine.Option;

/** The {@code --threads} option every command carries (a picocli mixin). */
public final class ThreadsOption {
    @Option(names = "--threads", paramLabel = "N", description = "Threads to compute with (default: all cores, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();

    /** Applies the option to the kernels' thread pool; call first in a command's run(). */
    public void apply() {
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        Parallel.setThreads(threads);
    }

    public int threads() {
        return threads;
    }
}
