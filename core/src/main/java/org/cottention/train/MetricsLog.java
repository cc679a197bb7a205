package org.cottention.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.io.AtomicFiles;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code metrics.jsonl}: one JSON object per logged step, flushed as it is written. */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final BufferedWriter out;
    private final List<Map<String, Object>> rows = new ArrayList<>();

    /** Opens the log; on resume keeps only the rows up to {@code keepUpToStep} (later rows belong to a lost future). */
    public MetricsLog(Path file, long keepUpToStep) throws IOException {
        this.file = file;
        if (Files.exists(file) && keepUpToStep >= 0) {
            StringBuilder kept = new StringBuilder();
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    continue;  // a line torn by a crash mid-write
                }
                if (n.path("step").asLong(Long.MAX_VALUE) <= keepUpToStep) {
                    kept.append(line).append('\n');
                    @SuppressWarnings("unchecked") Map<String, Object> m = JSON.convertValue(n, LinkedHashMap.class);
                    rows.add(m);
                }
            }
            AtomicFiles.writeString(file, kept.toString());
        } else {
            AtomicFiles.writeString(file, "");
        }
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    public void log(Map<String, Object> row) throws IOException {
        rows.add(row);
        out.write(JSON.writeValueAsString(row));
        out.write('\n');
        out.flush();
    }

    /** All rows so far (including those kept from before a resume), for plotting. */
    public List<Map<String, Object>> rows() {
        return rows;
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
