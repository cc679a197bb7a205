package org.cottention.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code cottention} command. Each subcommand lives in its own class in this package. */
@Command(name = "cottention", mixinStandardHelpOptions = true, version = "cottention 0.1.0",
        description = "Transformers with cosine attention on the JVM: train, evaluate, generate, benchmark.",
        subcommands = {CommandLine.HelpCommand.class, QuickstartCommand.class, TrainCommand.class, GenerateCommand.class, EvalCommand.class,
                ForwardCommand.class, PretrainMlmCommand.class, FinetuneCommand.class, PredictCommand.class, EmbedCommand.class,
                TokenizerCommand.class, InspectCommand.class, ConvertCommand.class, BenchCommand.class, ImportCommand.class, LinearizeCommand.class,
                ServeCommand.class, PilotCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command tree with the project's error handling: one clear line for bad input, no stack trace. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (System.getenv("COTTENTION_DEBUG") != null) ex.printStackTrace();
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            cmd.getErr().println("error: " + msg);
            return 2;
        });
        return cl;
    }
}
