package org.cottention.pilot;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The cost of using a trained model at the user's document lengths: time per document and memory of encoding (BERT)
 * or prefill (GPT), and for causal models decoding ms/token and state bytes (cosine: fixed-size state; softmax: KV
 * cache). Lengths run shortest first; a length whose time, extrapolated from the last one measured (quadratic for
 * softmax, linear for cosine), would exceed the cutoff is not run and is reported as too slow, as is one whose
 * memory would not fit the heap (or that runs out of memory). Short runs are repeated and their median kept.
 */
public final class UsageCost {
    /** A length to measure at and why (e.g. "p90", "16K"). */
    public record Length(int tokens, String label) {}

    /** One run at one length: ms for the document, bytes it allocated, and (causal) decoding figures. */
    public record Sample(double ms, long bytes, Double decodeMsPerToken, Long stateBytes) {}

    /** Runs the model at a length. */
    public interface Probe {
        Sample run(int length);

        /** Decoding alone at this context, for when the full run is too slow (softmax: a synthetic KV cache), or null. */
        default Sample decodeOnly(int length) {
            return null;
        }

        /**
         * Whether what a run holds grows with the length, so that its allocated bytes, extrapolated, say whether the
         * next length fits the heap. Not so for a causal model's prefill with cosine attention: it runs in segments and
         * carries a fixed-size state, so its allocation sums the segments' while its live memory stays the same.
         */
        default boolean heldMemoryGrows() {
            return true;
        }
    }

    /** The result at one length; ms null when not run (skipped says why). */
    public record Point(int length, String label, Double ms, Long bytes, int runs, Double decodeMsPerToken, Long stateBytes, String skipped) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("length", length);
            m.put("label", label);
            m.put("ms", ms);
            m.put("bytes", bytes);
            m.put("runs", runs);
            if (decodeMsPerToken != null) m.put("decodeMsPerToken", decodeMsPerToken);
            if (stateBytes != null) m.put("stateBytes", stateBytes);
            if (skipped != null) m.put("skipped", skipped);
            return m;
        }
    }

    private UsageCost() {}

    /**
     * @param quadratic  softmax: time grows with the square of the length (used to extrapolate)
     * @param cutoffSec  a document estimated to take longer than this is not run
     */
    public static List<Point> measure(List<Length> lengths, boolean quadratic, double cutoffSec, Probe probe, Consumer<String> progress) {
        for (int i = 0; i < 3; i++) probe.run(Math.min(512, lengths.get(0).tokens()));   // JIT warm-up on a short document, not reported
        List<Point> out = new ArrayList<>();
        double lastMs = -1;
        long lastBytes = -1;
        int lastLen = 0;
        Runtime rt = Runtime.getRuntime();
        for (Length l : lengths) {
            String skip = null;
            if (lastMs >= 0) {
                double ratio = (double) l.tokens() / lastLen;
                double est = lastMs * (quadratic ? ratio * ratio : ratio) / 1000;
                long needBytes = (long) (lastBytes * ratio);
                System.gc();
                long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
                if (est > cutoffSec)
                    skip = String.format("too slow: about %s per document (extrapolated from %,d tokens), over the cutoff of %s", secs(est), lastLen, secs(cutoffSec));
                else if (probe.heldMemoryGrows() && needBytes > 0.85 * free)
                    skip = String.format("out of memory: would need about %s (extrapolated from %,d tokens), more than 85%% of the %s the heap has free (raise -Xmx with COTTENTION_JAVA_OPTS)",
                            mb(needBytes), lastLen, mb(free));
            }
            Point p;
            if (skip != null) {
                p = skipped(l, skip, probe);
            } else {
                progress.accept(String.format("%s tokens (%s)", String.format("%,d", l.tokens()), l.label()));
                try {
                    List<Sample> runs = new ArrayList<>();
                    runs.add(probe.run(l.tokens()));
                    int repeat = runs.get(0).ms() < 300 ? 5 : runs.get(0).ms() < 2000 ? 3 : 1;
                    while (runs.size() < repeat) runs.add(probe.run(l.tokens()));
                    Sample first = runs.get(0);
                    double ms = median(runs.stream().mapToDouble(Sample::ms).toArray());
                    Double dec = first.decodeMsPerToken() == null ? null : median(runs.stream().mapToDouble(Sample::decodeMsPerToken).toArray());
                    p = new Point(l.tokens(), l.label(), round(ms), first.bytes(), runs.size(), dec == null ? null : round(dec), first.stateBytes(), null);
                    lastMs = ms;
                    lastBytes = first.bytes();
                    lastLen = l.tokens();
                } catch (OutOfMemoryError e) {
                    p = skipped(l, "out of memory", probe);
                }
            }
            if (p.skipped() != null) progress.accept(String.format("%,d tokens (%s): %s", l.tokens(), l.label(), p.skipped()));
            out.add(p);
            System.gc();
        }
        return out;
    }

    private static Point skipped(Length l, String why, Probe probe) {
        Sample d = null;
        try {
            d = probe.decodeOnly(l.tokens());
        } catch (OutOfMemoryError e) {
            why += "; decoding: out of memory";
        }
        return new Point(l.tokens(), l.label(), null, null, 0, d == null ? null : round(d.decodeMsPerToken()), d == null ? null : d.stateBytes(), why);
    }

    /** The lengths to measure: the data's median, p90 and max (each at most the largest fixed length), and the fixed ones (4K, 16K, 64K). */
    public static List<Length> lengths(LengthProfile p, List<Integer> fixed) {
        int cap = fixed.stream().mapToInt(Integer::intValue).max().orElse(65536);
        List<Length> out = new ArrayList<>();
        add(out, Math.min(cap, Math.max(1, p.median())), p.median() > cap ? "median (capped)" : "median");
        add(out, Math.min(cap, Math.max(1, p.p90())), p.p90() > cap ? "p90 (capped)" : "p90");
        add(out, Math.min(cap, Math.max(1, p.max())), p.max() > cap ? "max (capped)" : "max");
        for (int f : fixed) add(out, f, f % 1024 == 0 ? (f / 1024) + "K" : Integer.toString(f));
        out.sort((a, b) -> Integer.compare(a.tokens(), b.tokens()));
        return out;
    }

    private static void add(List<Length> out, int tokens, String label) {
        for (int i = 0; i < out.size(); i++)
            if (out.get(i).tokens() == tokens) {
                out.set(i, new Length(tokens, out.get(i).label() + ", " + label));
                return;
            }
        out.add(new Length(tokens, label));
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }

    static String secs(double s) {
        return s < 100 ? String.format("%.1f s", s) : String.format("%,.0f s", s);
    }

    static String mb(long bytes) {
        return bytes >= 1L << 30 ? String.format("%.1f GB", bytes / (double) (1L << 30)) : String.format("%.1f MB", bytes / (double) (1 << 20));
    }
}
