package org.cottention.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * GLUE-style TSV files: one example per line, tab-separated columns, an optional header row. Columns are given by
 * name (needs a header row) or by 0-based number. A header is detected when the first line holds the named text
 * column. Empty lines are skipped and counted; a line without a needed column is an error naming file, line and column.
 */
public final class LabeledTexts {
    private LabeledTexts() {}

    /** Where the fields are: text, optional second text (null: single sentences), label (null: not needed). */
    public record Columns(String text, String textB, String label) {}

    /** One example; {@code b} and {@code label} may be null. {@code line} is 1-based in its file. */
    public record Example(String a, String b, String label, int line) {}

    /** What was read: the examples and the number of empty lines skipped. */
    public record Read(List<Example> examples, int emptyLines, boolean header) {}

    public static Read read(Path file, Columns cols, boolean labelRequired) throws IOException {
        String text = org.cottention.tokenizer.Utf8.readFile(file);
        String[] lines = text.split("\r?\n", -1);
        int first = 0;
        while (first < lines.length && lines[first].isBlank()) first++;
        if (first == lines.length) throw new IOException(file + ": no examples (the file is empty)");
        String[] head = lines[first].split("\t", -1);
        boolean header = !isNumber(cols.text()) && Arrays.asList(head).contains(cols.text());
        int ti = index(file, cols.text(), "--text-column", head, header);
        int bi = cols.textB() == null ? -1 : index(file, cols.textB(), "--text-b-column", head, header);
        int li = -1;
        if (cols.label() != null) {
            if (labelRequired || !header || Arrays.asList(head).contains(cols.label()) || isNumber(cols.label()))
                li = index(file, cols.label(), "--label-column", head, header);
        }
        List<Example> out = new ArrayList<>();
        int empty = 0;
        for (int i = header ? first + 1 : first; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                if (i < lines.length - 1) empty++;   // the final newline is not an empty example
                continue;
            }
            String[] f = lines[i].split("\t", -1);
            int need = Math.max(ti, Math.max(bi, li));
            if (f.length <= need) {
                String missing = f.length <= ti ? name(cols.text(), ti) : f.length <= bi ? name(cols.textB(), bi) : name(cols.label(), li);
                throw new IOException(file + " line " + (i + 1) + ": column " + missing + " is missing (the line has " + f.length
                        + " tab-separated field" + (f.length == 1 ? "" : "s") + ")");
            }
            String label = li < 0 ? null : f[li].trim();
            if (li >= 0 && label.isEmpty()) throw new IOException(file + " line " + (i + 1) + ": empty label in column " + name(cols.label(), li));
            out.add(new Example(f[ti], bi < 0 ? null : f[bi], label, i + 1));
        }
        if (out.isEmpty()) throw new IOException(file + ": no examples (only a header or empty lines)");
        return new Read(out, empty, header);
    }

    private static String name(String spec, int idx) {
        return isNumber(spec) ? "#" + idx : "'" + spec + "' (#" + idx + ")";
    }

    private static boolean isNumber(String s) {
        return s.matches("\\d+");
    }

    private static int index(Path file, String spec, String option, String[] head, boolean header) throws IOException {
        if (isNumber(spec)) return Integer.parseInt(spec);
        if (!header)
            throw new IOException(file + " has no header row naming the column '" + spec + "' (" + option
                    + "); first line: " + abbreviate(String.join("\\t", head)) + ". Give column numbers instead (0-based)");
        int i = Arrays.asList(head).indexOf(spec);
        if (i < 0) throw new IOException(file + ": no column '" + spec + "' (" + option + ") in the header " + Arrays.toString(head));
        return i;
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
