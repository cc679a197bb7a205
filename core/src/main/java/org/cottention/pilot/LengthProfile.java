package org.cottention.pilot;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** How long the user's documents are, in tokens of the pilot's tokenizer: what the usage cost is measured at. */
public record LengthProfile(String what, int documents, int median, int p90, int max, double mean) {
    public static LengthProfile of(String what, int[] lengths) {
        if (lengths.length == 0) throw new IllegalArgumentException("no documents to measure lengths of");
        int[] s = lengths.clone();
        Arrays.sort(s);
        double sum = 0;
        for (int x : s) sum += x;
        return new LengthProfile(what, s.length, s[(s.length - 1) / 2], s[(int) Math.ceil(0.9 * s.length) - 1], s[s.length - 1], sum / s.length);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("what", what);
        m.put("documents", documents);
        m.put("median", median);
        m.put("p90", p90);
        m.put("max", max);
        m.put("mean", Math.round(mean * 10) / 10.0);
        return m;
    }
}
