package org.cottention.generate;

import org.cottention.tokenizer.Tokenizer;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The sampling loop around a {@link DecodeSession}: prefill, then one token per row per step until every row has hit
 * EOS, a stop string or the token limit. Tokens are handed to a listener as they are produced (for streaming).
 */
public final class Generator {
    /** Called with each new token of a row. */
    @FunctionalInterface
    public interface Listener {
        void onToken(int row, int id);
    }

    /** What to generate: limits, sampling, stop conditions ({@code eosId} -1 = none). */
    public record Options(int maxNewTokens, Sampler.Settings sampling, int eosId, List<String> stop) {
        public Options {
            if (maxNewTokens < 0) throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + maxNewTokens);
            stop = stop == null ? List.of() : List.copyOf(stop);
        }
    }

    /** Result of one row: generated ids only (the stop string's tokens trimmed), and the text. */
    public record Output(int[] ids, String text, String finishReason) {}

    /** Timing and memory of a run (JSON field names of the `generate --json` output). */
    public record Stats(long prefillTokens, double prefillMs, long decodeTokens, double decodeMs, long stateBytes, long peakHeapBytes) {}

    public record Result(List<Output> outputs, Stats stats) {}

    private Generator() {}

    public static Result generate(DecodeSession session, Tokenizer tok, int[][] prompts, Options opt, Listener listener) {
        int b = prompts.length;
        if (b == 0) throw new IllegalArgumentException("no prompt given");
        for (int r = 0; r < b; r++) {
            if (prompts[r].length == 0) throw new IllegalArgumentException("prompt " + r + " is empty (it needs at least one token)");
            for (int id : prompts[r])
                if (id < 0 || id >= session.vocabSize())
                    throw new IllegalArgumentException("prompt " + r + " has token id " + id + ", outside the vocabulary of " + session.vocabSize());
        }
        resetPeaks();
        int v = session.vocabSize();
        Sampler sampler = new Sampler(opt.sampling());
        boolean[][] seen = new boolean[b][v];
        for (int r = 0; r < b; r++) for (int id : prompts[r]) seen[r][id] = true;
        List<List<Integer>> gen = new ArrayList<>();
        for (int r = 0; r < b; r++) gen.add(new ArrayList<>());
        String[] finish = new String[b];
        long prefillTokens = Arrays.stream(prompts).mapToLong(p -> p.length).sum();

        long t0 = System.nanoTime();
        float[] logits = opt.maxNewTokens() > 0 ? session.prefill(prompts) : null;
        double prefillMs = (System.nanoTime() - t0) / 1e6;
        long decodeTokens = 0;
        long t1 = System.nanoTime();
        int[] next = new int[b];
        float[] row = new float[v];
        for (int step = 0; step < opt.maxNewTokens(); step++) {
            boolean any = false;
            for (int r = 0; r < b; r++) {
                if (finish[r] != null) {
                    next[r] = opt.eosId() >= 0 ? opt.eosId() : next[r];  // keep feeding something; its output is ignored
                    continue;
                }
                System.arraycopy(logits, r * v, row, 0, v);
                int id = sampler.next(row, seen[r]);
                next[r] = id;
                seen[r][id] = true;
                gen.get(r).add(id);
                if (listener != null) listener.onToken(r, id);
                if (id == opt.eosId()) finish[r] = "eos";
                else if (!opt.stop().isEmpty() && tok != null && endsWithStop(tok, gen.get(r), opt.stop())) finish[r] = "stop";
                else if (gen.get(r).size() == opt.maxNewTokens()) finish[r] = "length";
                if (finish[r] == null) any = true;
            }
            if (!any) break;
            logits = session.step(next);
            decodeTokens += Arrays.stream(finish).filter(f -> f == null).count();
        }
        double decodeMs = (System.nanoTime() - t1) / 1e6;
        List<Output> outs = new ArrayList<>();
        for (int r = 0; r < b; r++) {
            int[] ids = gen.get(r).stream().mapToInt(Integer::intValue).toArray();
            String text = tok == null ? null : tok.decode(ids);
            if ("stop".equals(finish[r])) text = cutAtStop(text, opt.stop());
            outs.add(new Output(ids, text, finish[r] == null ? "length" : finish[r]));
        }
        return new Result(outs, new Stats(prefillTokens, prefillMs, decodeTokens, decodeMs, session.stateBytes(), peakHeap()));
    }

    private static boolean endsWithStop(Tokenizer tok, List<Integer> ids, List<String> stops) {
        // decode only the tail: a stop string longer than 64 tokens is not a realistic case
        int from = Math.max(0, ids.size() - 64);
        String tail = tok.decode(ids.subList(from, ids.size()).stream().mapToInt(Integer::intValue).toArray());
        for (String s : stops) if (!s.isEmpty() && tail.contains(s)) return true;
        return false;
    }

    private static String cutAtStop(String text, List<String> stops) {
        int cut = text.length();
        for (String s : stops) {
            int i = s.isEmpty() ? -1 : text.indexOf(s);
            if (i >= 0) cut = Math.min(cut, i);
        }
        return text.substring(0, cut);
    }

    static void resetPeaks() {
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) p.resetPeakUsage();
    }

    /** Sum of the heap pools' peak usage since the last reset (includes garbage not yet collected). */
    static long peakHeap() {
        long s = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) s += p.getPeakUsage().getUsed();
        return s;
    }
}
