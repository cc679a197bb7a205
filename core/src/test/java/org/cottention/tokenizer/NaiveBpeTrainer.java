package org.cottention.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Test oracle: BPE training by recounting all pairs every step (slow, obviously correct); same tie-breaking. */
final class NaiveBpeTrainer {
    private NaiveBpeTrainer() {}

    static List<String[]> train(String text, int merges) {
        Map<String, Long> counts = new HashMap<>();
        for (String piece : Gpt2PreTokenizer.split(text.replace("<|endoftext|>", ""))) counts.merge(piece, 1L, Long::sum);
        List<String> tokens = new ArrayList<>();
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < 256; i++) {
            String s = String.valueOf(ByteLevel.byteToChar(ByteLevel.byteAtRank(i)));
            tokens.add(s);
            ids.put(s, i);
        }
        List<List<Integer>> words = new ArrayList<>();
        List<Long> freq = new ArrayList<>();
        for (Map.Entry<String, Long> e : counts.entrySet()) {
            List<Integer> w = new ArrayList<>();
            for (byte b : e.getKey().getBytes(StandardCharsets.UTF_8)) w.add(ids.get(String.valueOf(ByteLevel.byteToChar(b))));
            words.add(w);
            freq.add(e.getValue());
        }
        List<String[]> out = new ArrayList<>();
        while (out.size() < merges) {
            Map<Long, Long> pc = new HashMap<>();
            for (int k = 0; k < words.size(); k++) {
                List<Integer> w = words.get(k);
                for (int i = 0; i + 1 < w.size(); i++) pc.merge(((long) w.get(i) << 32) | w.get(i + 1), freq.get(k), Long::sum);
            }
            long bestKey = -1, best = 0;
            for (Map.Entry<Long, Long> e : pc.entrySet()) {
                long c = e.getValue(), key = e.getKey();
                if (c > best || (c == best && key < bestKey)) {
                    best = c;
                    bestKey = key;
                }
            }
            if (best < 2) break;
            int l = (int) (bestKey >>> 32), r = (int) bestKey;
            String merged = tokens.get(l) + tokens.get(r);
            out.add(new String[] {tokens.get(l), tokens.get(r)});
            int id = ids.computeIfAbsent(merged, m -> {
                tokens.add(m);
                return tokens.size() - 1;
            });
            for (List<Integer> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i) == l && w.get(i + 1) == r) {
                        w.set(i, id);
                        w.remove(i + 1);
                    }
                }
            }
        }
        return out;
    }
}
