package org.cottention.cli;

import org.cottention.data.LabeledTexts;
import picocli.CommandLine.Option;

/** The TSV columns of GLUE-style training data, shared by `finetune` and `pilot` (a picocli mixin). */
public final class ColumnsOption {
    @Option(names = "--text-column", description = "Column (header name or 0-based number) of the text (default ${DEFAULT-VALUE}).")
    String textColumn = "sentence";

    @Option(names = "--text-b-column", description = "Column of the second text of sentence pairs (default: none).")
    String textBColumn;

    @Option(names = "--label-column", description = "Column of the label (default ${DEFAULT-VALUE}).")
    String labelColumn = "label";

    public LabeledTexts.Columns columns() {
        return new LabeledTexts.Columns(textColumn, textBColumn, labelColumn);
    }
}
