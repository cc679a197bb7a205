package org.cottention.cli;

import picocli.CommandLine.Option;

/** The held-out split of commands that train on a corpus (train, pretrain-mlm, bench quality). */
public final class ValidationOptions {
    @Option(names = "--val-fraction", description = "Share of the data held out for validation (default ${DEFAULT-VALUE}).")
    double fraction = 0.05;

    @Option(names = "--val-batches", description = "Validation batches per evaluation, the same every time, 0 = all (default ${DEFAULT-VALUE}).")
    int batches = 20;
}
