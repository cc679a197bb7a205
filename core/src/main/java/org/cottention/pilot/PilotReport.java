package org.cottention.pilot;

import org.cottention.io.AtomicFiles;
import org.cottention.io.Charts;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The pilot's report from the variants' results: report.json (every number, the machine, the software, the
 * command), report.md and report.html (the same sections: a decision summary in plain words, tables, charts; the
 * HTML is one self-contained file with the charts inline) and the charts as PNG beside them.
 */
final class PilotReport {
    /** One table: title, header, rows of cells (already formatted), and a note under it (or null). */
    record Table(String title, List<String> header, List<List<String>> rows, String note) {}

    /** One chart file and what it shows. */
    record Figure(String file, String caption) {}

    private PilotReport() {}

    @SuppressWarnings("unchecked")
    static Map<String, Object> write(PilotOptions opt, Task task, Map<String, Object> manifest, Map<String, Object> data, Map<String, Object> lengths,
                                     List<Map<String, Object>> results, double seconds) throws IOException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("title", "Cosine against softmax attention: " + task.words + " pilot");
        r.put("generated", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        r.put("command", opt.command());
        r.put("task", task.id());
        r.put("metric", task.metric);
        r.put("settings", manifest);
        r.put("machine", Machine.describe());
        r.put("loadAverage", loadAverage());
        r.put("data", data);
        r.put("lengths", lengths);
        r.put("variants", results);
        r.put("summary", summary(task, lengths, results));
        r.put("seconds", PilotTask.round(seconds, 1));
        Path out = opt.out();
        List<Figure> figs = charts(out, task, results);
        r.put("charts", figs.stream().map(Figure::file).toList());
        Pilot.writeJson(out.resolve("report.json"), r);
        List<Table> tables = tables(task, r, results);
        AtomicFiles.writeString(out.resolve("report.md"), markdown(r, tables, figs));
        AtomicFiles.writeString(out.resolve("report.html"), html(out, r, tables, figs));
        System.err.println("[pilot] report: " + out.resolve("report.html") + " (also report.md, report.json and the PNG charts)");
        return r;
    }

    // ------------------------------------------------------------------------------------------------ numbers

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> usage(Map<String, Object> variant) {
        return (List<Map<String, Object>>) variant.get("usage");
    }

    /** The object under key (empty when there is none). */
    @SuppressWarnings("unchecked")
    static Map<String, Object> sub(Map<String, Object> m, String key) {
        return m.get(key) instanceof Map<?, ?> x ? (Map<String, Object>) x : Map.of();
    }

    static Double num(Object o) {
        return o instanceof Number n && Double.isFinite(n.doubleValue()) ? n.doubleValue() : null;
    }

    /** The usage point of a variant at a length, or null. */
    static Map<String, Object> at(Map<String, Object> variant, int length) {
        for (Map<String, Object> p : usage(variant)) if (((Number) p.get("length")).intValue() == length) return p;
        return null;
    }

    /** Plain-words sentences: each contender against the softmax baseline (when both ran). */
    static List<String> summary(Task task, Map<String, Object> lengths, List<Map<String, Object>> results) {
        List<String> out = new ArrayList<>();
        Map<String, Object> base = results.stream().filter(x -> x.get("attention").equals("softmax")).findFirst().orElse(null);
        int p90 = ((Number) lengths.get("p90")).intValue();
        String verb = task == Task.LM ? "prefills" : "encodes";
        for (Map<String, Object> c : results) {
            if (c == base) continue;
            String name = c.get("variant").toString();
            StringBuilder s = new StringBuilder();
            if (base == null) {
                s.append(name).append(": ").append(quality(task, c)).append(" (no softmax baseline in this pilot).");
                out.add(s.toString());
                continue;
            }
            int m90 = p90Point(c);
            Map<String, Object> pc = at(c, m90), pb = at(base, m90);
            if (m90 == p90) s.append(String.format("At your p90 length of %,d tokens %s %s ", p90, name, verb));
            else s.append(String.format("At your p90 length of %,d tokens (measured at the longest length asked for, %,d) %s %s ", p90, m90, name, verb));
            if (pc != null && pb != null && num(pc.get("ms")) != null && num(pb.get("ms")) != null)
                s.append(String.format("in %sx the time and %sx the memory of softmax", ratio(pc.get("ms"), pb.get("ms")), ratio(pc.get("bytes"), pb.get("bytes"))));
            else s.append("a document; softmax could not be measured there");
            s.append("; ").append(qualityVs(task, c, base)).append('.');
            out.add(s.toString());
            // the longest length: where softmax stops, or how far apart they are
            List<Map<String, Object>> uc = usage(c);
            for (Map<String, Object> p : uc) {
                Map<String, Object> b = at(base, ((Number) p.get("length")).intValue());
                if (num(p.get("ms")) != null && b != null && b.get("skipped") != null) {
                    out.add(String.format("At %,d tokens softmax stops (%s) while %s %s a document in %s using %s.", ((Number) p.get("length")).intValue(),
                            b.get("skipped"), name, verb, ms(p.get("ms")), bytes(p.get("bytes"))));
                    break;
                }
            }
            Map<String, Object> longest = null;
            for (Map<String, Object> p : uc) {
                Map<String, Object> b = at(base, ((Number) p.get("length")).intValue());
                if (num(p.get("ms")) != null && b != null && num(b.get("ms")) != null) longest = p;
            }
            if (longest != null) {
                Map<String, Object> b = at(base, ((Number) longest.get("length")).intValue());
                out.add(String.format("At %,d tokens, the longest both ran, %s takes %s (%sx) and %s (%sx) against softmax's %s and %s.",
                        ((Number) longest.get("length")).intValue(), name, ms(longest.get("ms")), ratio(longest.get("ms"), b.get("ms")), bytes(longest.get("bytes")),
                        ratio(longest.get("bytes"), b.get("bytes")), ms(b.get("ms")), bytes(b.get("bytes"))));
            }
            if (task == Task.LM) {
                Map<String, Object> dc = null, db = null;
                for (Map<String, Object> p : uc) {
                    Map<String, Object> b = at(base, ((Number) p.get("length")).intValue());
                    if (num(p.get("decodeMsPerToken")) != null && b != null && num(b.get("decodeMsPerToken")) != null) {
                        dc = p;
                        db = b;
                    }
                }
                if (dc != null)
                    out.add(String.format("Generating after %,d tokens of context: %s %s ms/token with a %s state, softmax %s ms/token with a %s KV cache.",
                            ((Number) dc.get("length")).intValue(), name, fixed(dc.get("decodeMsPerToken")), bytes(dc.get("stateBytes")),
                            fixed(db.get("decodeMsPerToken")), bytes(db.get("stateBytes"))));
            }
            Map<String, Object> tc = sub(c, "training"), tb = sub(base, "training");
            Map<String, Object> lin = sub(tc, "linearization");
            if (!lin.isEmpty())
                out.add(String.format("Converting: %s was linearized from the original in %s; on held-out texts its embeddings' cosine to the original's went from %s "
                                + "(the attention swapped, nothing trained) to %s (Spearman of pairwise similarities %s to %s), then it was trained %s steps on the task.",
                        name, secs(tc.get("conversionSeconds")), fixed(sub(lin, "swap").get("meanCosine")), fixed(lin.get("meanCosine")),
                        fixed(sub(lin, "swap").get("spearman")), fixed(lin.get("spearman")), tc.get("steps")));
            if (num(tc.get("seconds")) != null && num(tb.get("seconds")) != null && num(tb.get("seconds")) > 0 && num(tc.get("seconds")) > 0)
                out.add(String.format("Getting there: %s trained in %s (%sx softmax's %s) at %,.0f tokens/s.", name, secs(tc.get("seconds")),
                        ratio(tc.get("seconds"), tb.get("seconds")), secs(tb.get("seconds")), num(tc.get("tokensPerSec"))));
            else if (num(tc.get("seconds")) != null && num(tc.get("seconds")) > 0)
                out.add(String.format("Getting there: %s (%s) took %s of training at %,.0f tokens/s; softmax is the original, evaluated as it is.", name,
                        tc.get("method"), secs(tc.get("seconds")), num(tc.get("tokensPerSec"))));
        }
        return out;
    }

    /** The length the p90 was measured at (the p90 itself unless it is beyond the longest length measured). */
    static int p90Point(Map<String, Object> variant) {
        for (Map<String, Object> p : usage(variant)) if (p.get("label").toString().contains("p90")) return ((Number) p.get("length")).intValue();
        return -1;
    }

    static String quality(Task task, Map<String, Object> v) {
        Map<String, Object> q = sub(v, "quality");
        if (task == Task.LM) return String.format("validation perplexity %s", fixed(q.get("valPerplexity")));
        return String.format("dev accuracy %s (F1 %s, MCC %s)", pct(q.get("accuracy")), fixed(q.get("f1")), fixed(q.get("mcc")));
    }

    static String qualityVs(Task task, Map<String, Object> c, Map<String, Object> b) {
        Map<String, Object> qc = sub(c, "quality"), qb = sub(b, "quality");
        if (task == Task.LM)
            return String.format("validation perplexity %s against %s", fixed(qc.get("valPerplexity")), fixed(qb.get("valPerplexity")));
        return String.format("dev accuracy %s against %s (F1 %s against %s)", pct(qc.get("accuracy")), pct(qb.get("accuracy")), fixed(qc.get("f1")), fixed(qb.get("f1")));
    }

    // ------------------------------------------------------------------------------------------------ tables

    static List<Table> tables(Task task, Map<String, Object> r, List<Map<String, Object>> results) {
        List<Table> t = new ArrayList<>();
        List<List<String>> rows = new ArrayList<>();
        for (Map<String, Object> v : results) {
            Map<String, Object> q = sub(v, "quality");
            rows.add(task == Task.LM ? List.of(v.get("variant").toString(), sub(v, "training").get("method").toString(), fixed(q.get("valPerplexity")), fixed(q.get("valLoss")))
                    : List.of(v.get("variant").toString(), sub(v, "training").get("method").toString(), pct(q.get("accuracy")), fixed(q.get("f1")),
                    fixed(q.get("mcc")), fixed(q.get("valLoss"))));
        }
        t.add(new Table("Quality", task == Task.LM ? List.of("variant", "how made", "validation perplexity", "validation loss")
                : List.of("variant", "how made", "dev accuracy", "F1", "MCC", "dev loss"), rows, null));

        rows = new ArrayList<>();
        for (Map<String, Object> v : results) {
            Map<String, Object> tr = sub(v, "training");
            rows.add(List.of(v.get("variant").toString(), v.get("model").toString(), String.valueOf(tr.get("steps")), count(tr.get("tokens")), secs(tr.get("seconds")),
                    tr.get("tokensPerSec") == null ? "-" : count(tr.get("tokensPerSec")), tr.get("peakBytes") == null ? "-" : bytes(tr.get("peakBytes")),
                    secs(tr.get("conversionSeconds"))));
        }
        t.add(new Table("Cost of getting there", List.of("variant", "model", "steps", "tokens", "training time", "tokens/s", "training memory", "conversion"), rows,
                "Training memory: weights, gradients and AdamW moments (16 bytes per parameter) plus the activations a training step keeps (measured: live heap after a full GC)."));

        rows = new ArrayList<>();
        for (Map<String, Object> v : results) {
            Map<String, Object> lin = sub(sub(v, "training"), "linearization");
            if (lin.isEmpty()) continue;
            Map<String, Object> a = sub(lin, "swap"), b = sub(lin, "afterStage1"), c = sub(lin, "afterStage2");
            rows.add(List.of(v.get("variant").toString(), count(lin.get("stage1Steps")) + " + " + count(lin.get("stage2Steps")),
                    secs(num(lin.get("stage1Seconds")) + num(lin.get("stage2Seconds"))),
                    fixed(a.get("meanCosine")) + " / " + fixed(b.get("meanCosine")) + " / " + fixed(c.get("meanCosine")),
                    fixed(a.get("spearman")) + " / " + fixed(b.get("spearman")) + " / " + fixed(c.get("spearman")),
                    fixed(a.get("top10Overlap")) + " / " + fixed(b.get("top10Overlap")) + " / " + fixed(c.get("top10Overlap"))));
        }
        if (!rows.isEmpty())
            t.add(new Table("Conversion by linearization", List.of("variant", "steps (stage 1 + 2)", "time", "meanCosine", "spearman", "top10Overlap"), rows,
                    "Fidelity to the original on held-out texts of your data, for the unconverted swap / after attention transfer / after end-to-end "
                            + "distillation: the cosine between the student's and the original's embeddings (mean of the final hidden states for a causal LM), "
                            + "the Spearman correlation of their pairwise similarities, and the share of the same 10 nearest neighbours."));

        Map<String, Object> l = sub(r, "lengths");
        t.add(new Table("Your documents", List.of("documents", "median", "p90", "max", "mean"),
                List.of(List.of(count(l.get("documents")), count(l.get("median")), count(l.get("p90")), count(l.get("max")), fixed(l.get("mean")))), "Lengths in " + l.get("what") + "."));

        String op = task == Task.LM ? "Prefill" : "Encoding";
        List<String> head = new ArrayList<>(List.of("tokens", "which"));
        for (Map<String, Object> v : results) {
            head.add(v.get("variant") + " time");
            head.add(v.get("variant") + " memory");
        }
        rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        for (Map<String, Object> p : usage(results.get(0))) {
            int len = ((Number) p.get("length")).intValue();
            List<String> row = new ArrayList<>(List.of(String.format("%,d", len), p.get("label").toString()));
            for (Map<String, Object> v : results) {
                Map<String, Object> q = at(v, len);
                if (q == null || q.get("skipped") != null) {
                    String why = q == null ? "not measured" : q.get("skipped").toString();
                    row.add(why.startsWith("too slow") ? "too slow" : why.startsWith("out of memory") ? "out of memory" : why);
                    row.add("-");
                    if (q != null) notes.add(v.get("variant") + " at " + String.format("%,d", len) + ": " + why);
                } else {
                    row.add(ms(q.get("ms")));
                    row.add(bytes(q.get("bytes")));
                }
            }
            rows.add(row);
        }
        for (Map<String, Object> v : results) if (v.get("usageNote") != null) notes.add(v.get("variant") + ": " + v.get("usageNote"));
        t.add(new Table(op + " of one document by length", head, rows, "Time: median of repeated runs where short. Memory: "
                + (task == Task.LM ? "what a prefill holds at its peak, weights excluded: the KV cache or state it has reached plus what its last 512-token segment allocates (an upper bound)"
                : "bytes allocated by one encoding, weights excluded (an upper bound of what it holds at its peak)") + "."
                + (notes.isEmpty() ? "" : " " + String.join("; ", notes) + ".")));
        if (task == Task.LM) {
            head = new ArrayList<>(List.of("context"));
            for (Map<String, Object> v : results) {
                head.add(v.get("variant") + " ms/token");
                head.add(v.get("variant") + (v.get("attention").equals("softmax") ? " KV cache" : " state"));
            }
            rows = new ArrayList<>();
            for (Map<String, Object> p : usage(results.get(0))) {
                int len = ((Number) p.get("length")).intValue();
                List<String> row = new ArrayList<>(List.of(String.format("%,d", len)));
                for (Map<String, Object> v : results) {
                    Map<String, Object> q = at(v, len);
                    row.add(q == null || q.get("decodeMsPerToken") == null ? "-" : fixed(q.get("decodeMsPerToken")));
                    row.add(q == null || q.get("stateBytes") == null ? "-" : bytes(q.get("stateBytes")));
                }
                rows.add(row);
            }
            t.add(new Table("Generating after a context of that length", head, rows,
                    "Median ms per generated token (greedy, after a warm-up); state: what the model keeps per sequence (cosine: fixed-size state; softmax: KV cache). "
                            + "Where a softmax prefill was too slow, decoding ran on a KV cache of that length filled with random entries."));
        }
        Map<String, Object> m = sub(r, "machine");
        rows = new ArrayList<>();
        for (var e : m.entrySet())
            rows.add(List.of(e.getKey(), e.getKey().endsWith("Bytes") ? bytes(e.getValue()) : String.valueOf(e.getValue())));
        rows.add(List.of("load average (1, 5, 15 min) at the end", String.valueOf(r.get("loadAverage"))));
        rows.add(List.of("command", String.valueOf(r.get("command"))));
        Map<String, Object> s = sub(r, "settings");
        rows.add(List.of("steps per variant", String.valueOf(s.get("steps"))));
        rows.add(List.of("seed", String.valueOf(s.get("seed"))));
        rows.add(List.of("cutoff per document", secs(s.get("cutoffSeconds"))));
        rows.add(List.of("pilot took", secs(r.get("seconds"))));
        t.add(new Table("Machine, software, settings", List.of("what", "value"), rows,
                "All timings are from this one run on this machine; a machine shared with other work gives slower and noisier times, the ratios between variants hold better."));
        return t;
    }

    /** The summary table printed on the terminal at the end. */
    static String table(Map<String, Object> r) {
        @SuppressWarnings("unchecked") List<Map<String, Object>> vs = (List<Map<String, Object>>) r.get("variants");
        Task task = Task.valueOf(r.get("task").toString().toUpperCase());
        StringBuilder sb = new StringBuilder();
        List<Map<String, Object>> points = usage(vs.get(0));
        sb.append(String.format("%-10s %-24s %12s %10s", "variant", task == Task.LM ? "val perplexity" : "dev acc / F1", "train time", "tokens/s"));
        for (Map<String, Object> p : points) sb.append(String.format(" %12s", String.format("%,d tok", ((Number) p.get("length")).intValue())));
        sb.append('\n');
        for (Map<String, Object> v : vs) {
            Map<String, Object> q = sub(v, "quality"), tr = sub(v, "training");
            String ql = task == Task.LM ? fixed(q.get("valPerplexity")) : pct(q.get("accuracy")) + " / " + fixed(q.get("f1"));
            sb.append(String.format("%-10s %-24s %12s %10s", v.get("variant"), ql, secs(tr.get("seconds")), tr.get("tokensPerSec") == null ? "-" : count(tr.get("tokensPerSec"))));
            for (Map<String, Object> p : points) {
                Map<String, Object> x = at(v, ((Number) p.get("length")).intValue());
                sb.append(String.format(" %12s", x == null ? "-" : x.get("skipped") != null ? (x.get("skipped").toString().startsWith("too slow") ? "too slow" : "no memory") : ms(x.get("ms"))));
            }
            sb.append('\n');
        }
        sb.append("(time per document of ").append(task == Task.LM ? "prefill" : "encoding").append(" by length)\n");
        @SuppressWarnings("unchecked") List<String> summary = (List<String>) r.get("summary");
        for (String s : summary) sb.append(s).append('\n');
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------------ charts

    static List<Figure> charts(Path out, Task task, List<Map<String, Object>> results) throws IOException {
        List<Figure> figs = new ArrayList<>();
        List<String> names = results.stream().map(v -> v.get("variant").toString()).toList();
        String metric = task == Task.LM ? "valPerplexity" : "accuracy";
        String metricName = task == Task.LM ? "validation perplexity (lower is better)" : "dev accuracy (higher is better)";
        Charts.writeBars(out.resolve("quality.png"), "Quality", metricName, names,
                results.stream().map(v -> (Number) num(sub(v, "quality").get(metric))).map(x -> x == null ? 0 : x).toList());
        figs.add(new Figure("quality.png", "Quality of each variant: " + metricName + "."));

        List<Charts.Series> loss = new ArrayList<>(), val = new ArrayList<>();
        for (Map<String, Object> v : results) {
            @SuppressWarnings("unchecked") List<Map<String, Object>> curve = (List<Map<String, Object>>) v.get("curve");
            List<Number> xs = new ArrayList<>(), ys = new ArrayList<>(), vx = new ArrayList<>(), vy = new ArrayList<>();
            for (Map<String, Object> row : curve) {
                if (num(row.get("loss")) != null) {
                    xs.add((Number) row.get("step"));
                    ys.add(num(row.get("loss")));
                }
                if (num(row.get(metric)) != null) {
                    vx.add((Number) row.get("step"));
                    vy.add(num(row.get(metric)));
                }
            }
            loss.add(new Charts.Series(v.get("variant").toString(), xs, ys));
            val.add(new Charts.Series(v.get("variant").toString(), vx, vy));
        }
        if (loss.stream().anyMatch(s -> !s.x().isEmpty())) {
            Charts.write(out.resolve("training.png"), List.of(new Charts.Chart("Training loss", "step", "loss", false, false, loss),
                    new Charts.Chart(task == Task.LM ? "Validation perplexity" : "Dev accuracy", "step", metricName, false, false, val)));
            figs.add(new Figure("training.png", "Training curves: training loss and " + metricName + " against step."));
        }
        String op = task == Task.LM ? "prefill" : "encoding";
        List<Charts.Series> time = new ArrayList<>(), mem = new ArrayList<>(), dec = new ArrayList<>(), state = new ArrayList<>();
        for (Map<String, Object> v : results) {
            List<Number> x = new ArrayList<>(), t = new ArrayList<>(), b = new ArrayList<>(), dx = new ArrayList<>(), d = new ArrayList<>(), s = new ArrayList<>();
            for (Map<String, Object> p : usage(v)) {
                Number len = (Number) p.get("length");
                if (num(p.get("ms")) != null) {
                    x.add(len);
                    t.add(Math.max(1e-3, num(p.get("ms"))));
                    b.add(Math.max(1.0, num(p.get("bytes"))));
                }
                if (num(p.get("decodeMsPerToken")) != null) {
                    dx.add(len);
                    d.add(Math.max(1e-3, num(p.get("decodeMsPerToken"))));
                    s.add(Math.max(1.0, num(p.get("stateBytes"))));
                }
            }
            String n = v.get("variant").toString();
            time.add(new Charts.Series(n, x, t));
            mem.add(new Charts.Series(n, x, b));
            dec.add(new Charts.Series(n, dx, d));
            state.add(new Charts.Series(n, dx, s));
        }
        Charts.write(out.resolve("time.png"), List.of(new Charts.Chart("Time per document (" + op + ")", "tokens", "ms", true, true, time)));
        figs.add(new Figure("time.png", "Time of " + op + " per document against its length (log axes; missing points: too slow or out of memory)."));
        Charts.write(out.resolve("memory.png"), List.of(new Charts.Chart("Memory per document (" + op + ")", "tokens", "bytes allocated", true, true, mem)));
        figs.add(new Figure("memory.png", "Memory of " + op + " per document against its length (log axes)."));
        if (task == Task.LM && dec.stream().anyMatch(s -> !s.x().isEmpty())) {
            Charts.write(out.resolve("decode.png"), List.of(new Charts.Chart("Decoding", "context tokens", "ms/token", true, true, dec),
                    new Charts.Chart("State (cosine) / KV cache (softmax)", "context tokens", "bytes", true, true, state)));
            figs.add(new Figure("decode.png", "Generating: ms per token and the bytes kept per sequence against the context length (log axes)."));
        }
        return figs;
    }

    // ------------------------------------------------------------------------------------------------ markdown, html

    @SuppressWarnings("unchecked")
    static String markdown(Map<String, Object> r, List<Table> tables, List<Figure> figs) {
        StringBuilder sb = new StringBuilder("# ").append(r.get("title")).append("\n\n");
        sb.append("## Summary\n\n");
        for (String s : (List<String>) r.get("summary")) sb.append("- ").append(s).append('\n');
        sb.append('\n');
        for (Table t : tables) {
            sb.append("## ").append(t.title()).append("\n\n");
            sb.append("| ").append(String.join(" | ", t.header().stream().map(PilotReport::mdCell).toList())).append(" |\n");
            sb.append("|").append("---|".repeat(t.header().size())).append('\n');
            for (List<String> row : t.rows()) sb.append("| ").append(String.join(" | ", row.stream().map(PilotReport::mdCell).toList())).append(" |\n");
            if (t.note() != null) sb.append('\n').append(t.note()).append('\n');
            sb.append('\n');
        }
        sb.append("## Charts\n\n");
        for (Figure f : figs) sb.append("![").append(f.caption()).append("](").append(f.file()).append(")\n\n").append(f.caption()).append("\n\n");
        sb.append("Every number: `report.json`. Generated ").append(r.get("generated")).append(" by `cottention pilot`.\n");
        return sb.toString();
    }

    private static String mdCell(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }

    @SuppressWarnings("unchecked")
    static String html(Path out, Map<String, Object> r, List<Table> tables, List<Figure> figs) throws IOException {
        StringBuilder sb = new StringBuilder();
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(r.get("title").toString())).append("</title>\n<style>\n")
                .append("body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\n")
                .append("h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}\n")
                .append(".summary{background:#f3f7fb;border-left:4px solid #2a6ebb;padding:.6em 1.2em}.summary li{margin:.3em 0}\n")
                .append("table{border-collapse:collapse;margin:.5em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}\n")
                .append("th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.88em;max-width:60em}\n")
                .append("figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.9em}\n")
                .append("</style></head><body>\n");
        sb.append("<h1>").append(esc(r.get("title").toString())).append("</h1>\n");
        sb.append("<div class=\"summary\"><h2 style=\"border:none;margin-top:.4em\">Summary</h2><ul>\n");
        for (String s : (List<String>) r.get("summary")) sb.append("<li>").append(esc(s)).append("</li>\n");
        sb.append("</ul></div>\n");
        for (Table t : tables) {
            sb.append("<h2>").append(esc(t.title())).append("</h2>\n<table><thead><tr>");
            for (String h : t.header()) sb.append("<th>").append(esc(h)).append("</th>");
            sb.append("</tr></thead><tbody>\n");
            for (List<String> row : t.rows()) {
                sb.append("<tr>");
                for (String c : row) sb.append("<td>").append(esc(c)).append("</td>");
                sb.append("</tr>\n");
            }
            sb.append("</tbody></table>\n");
            if (t.note() != null) sb.append("<p class=\"note\">").append(esc(t.note())).append("</p>\n");
        }
        sb.append("<h2>Charts</h2>\n");
        for (Figure f : figs) {
            String b64 = Base64.getEncoder().encodeToString(Files.readAllBytes(out.resolve(f.file())));
            sb.append("<figure><img alt=\"").append(esc(f.caption())).append("\" src=\"data:image/png;base64,").append(b64).append("\"><figcaption>")
                    .append(esc(f.caption())).append("</figcaption></figure>\n");
        }
        sb.append("<p class=\"note\">Every number: report.json. Generated ").append(esc(r.get("generated").toString())).append(" by cottention pilot.</p>\n</body></html>\n");
        return sb.toString();
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    // ------------------------------------------------------------------------------------------------ formatting

    static String ratio(Object a, Object b) {
        Double x = num(a), y = num(b);
        if (x == null || y == null || y == 0) return "?";
        double q = x / y;
        return q >= 10 ? String.format("%.0f", q) : q >= 0.095 ? String.format("%.2f", q).replaceAll("0$", "") : String.format("%.3f", q);
    }

    static String ms(Object o) {
        Double x = num(o);
        if (x == null) return "-";
        return x >= 10_000 ? String.format("%.1f s", x / 1000) : x >= 1000 ? String.format("%.2f s", x / 1000) : x >= 100 ? String.format("%.0f ms", x) : String.format("%.2f ms", x);
    }

    static String secs(Object o) {
        Double x = num(o);
        return x == null ? "-" : x >= 120 ? Pilot.dur(x) : String.format("%.1f s", x);
    }

    static String bytes(Object o) {
        Double x = num(o);
        if (x == null) return "-";
        return x >= 1 << 30 ? String.format("%.2f GB", x / (1 << 30)) : x >= 1 << 20 ? String.format("%.1f MB", x / (1 << 20)) : String.format("%.1f KB", x / 1024);
    }

    static String fixed(Object o) {
        Double x = num(o);
        return x == null ? "-" : Math.abs(x) >= 100 ? String.format("%.1f", x) : String.format("%.3f", x);
    }

    static String pct(Object o) {
        Double x = num(o);
        return x == null ? "-" : String.format("%.1f%%", 100 * x);
    }

    static String count(Object o) {
        Double x = num(o);
        return x == null ? "-" : String.format("%,.0f", x);
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + ", " + f[1] + ", " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
