package org.cottention.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code cottention bench ...}: benchmarks that print JSON lines. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks (JSON lines on stdout with --json).",
        subcommands = {CommandLine.HelpCommand.class, BenchGemmCommand.class, BenchAttentionCommand.class, BenchTrainCommand.class,
                BenchDecodeCommand.class, BenchScaleCommand.class, BenchQualityCommand.class,
                BenchServeCommand.class, BenchRecallCommand.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
