package org.cottention.tokenizer;

import org.cottention.kernels.Parallel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeMap;

/**
 * Learns a WordPiece vocabulary from text: BERT basic tokenisation and word counting, then BPE-style merges chosen by
 * the WordPiece likelihood score count(ab) / (count(a) · count(b)), where the second symbol of a word-internal pair
 * carries the "##" prefix and loses it in the merge ("##i" + "##ng" → "##ing"). Vocabulary: special tokens first
 * (ids 0.. in the given order), then the character alphabet, then the merges in the order learned.
 */
public final class WordPieceTrainer {

    /**
     * How the next pair to merge is chosen. Measured on Moby-Dick (1.2 MB), vocabulary 8000, uncased: LIKELIHOOD gives
     * 2.22 tokens per word with minFrequency 2, 1.69 with 5, 1.26 with 20; FREQUENCY gives 1.11 (minFrequency 2).
     */
    public enum Scoring {
        /** WordPiece: count(ab) / (count(a) · count(b)), favouring pairs whose parts rarely occur apart. */
        LIKELIHOOD,
        /** BPE: count(ab) (what HF tokenizers' WordPieceTrainer, a BpeTrainer underneath, actually does). */
        FREQUENCY
    }

    /**
     * @param vocabSize      target vocabulary size, special tokens and alphabet included (the alphabet is always kept)
     * @param minFrequency   pairs seen fewer times are never merged (the likelihood score favours rare pairs; 1 merges anything)
     * @param limitAlphabet  keep only this many most frequent characters (0: all); words with others are skipped
     * @param specialTokens  given the first ids, in order; must include the options' unk, cls, sep and pad tokens
     * @param options        normalisation (lowercase, accents, CJK) and special token roles of the resulting tokenizer
     * @param scoring        pair selection rule
     */
    public record Config(int vocabSize, int minFrequency, int limitAlphabet, List<String> specialTokens,
                         WordPieceTokenizer.Options options, Scoring scoring) {
        public Config {
            if (scoring == null) throw new IllegalArgumentException("scoring must be set");
            if (options == null) throw new IllegalArgumentException("options must be set");
            if (vocabSize <= 0) throw new IllegalArgumentException("vocabSize must be > 0, got " + vocabSize);
            if (minFrequency < 1) throw new IllegalArgumentException("minFrequency must be >= 1, got " + minFrequency);
            if (limitAlphabet < 0) throw new IllegalArgumentException("limitAlphabet must be >= 0, got " + limitAlphabet);
            specialTokens = List.copyOf(specialTokens);
            if (new HashSet<>(specialTokens).size() != specialTokens.size())
                throw new IllegalArgumentException("specialTokens has duplicates: " + specialTokens);
        }

        /** Uncased BERT setup: [PAD] [UNK] [CLS] [SEP] [MASK] as ids 0..4, min pair frequency 2, whole alphabet. */
        public static Config uncased(int vocabSize) {
            return new Config(vocabSize, 2, 0, List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
                    WordPieceTokenizer.Options.uncased(), Scoring.LIKELIHOOD);
        }

        public Config withScoring(Scoring s) { return new Config(vocabSize, minFrequency, limitAlphabet, specialTokens, options, s); }
        public Config withMinFrequency(int f) { return new Config(vocabSize, f, limitAlphabet, specialTokens, options, scoring); }
        public Config withLimitAlphabet(int n) { return new Config(vocabSize, minFrequency, n, specialTokens, options, scoring); }
        public Config withSpecialTokens(List<String> t) { return new Config(vocabSize, minFrequency, limitAlphabet, t, options, scoring); }
        public Config withOptions(WordPieceTokenizer.Options o) { return new Config(vocabSize, minFrequency, limitAlphabet, specialTokens, o, scoring); }
    }

    private WordPieceTrainer() {}

    /** Trains on UTF-8 text files. */
    public static WordPieceTokenizer train(List<Path> files, Config config) throws IOException {
        return train(countWordsInFiles(files, config.options().basic(), config.options().maxInputCharsPerWord()), config);
    }

    /** Trains on in-memory texts. */
    public static WordPieceTokenizer trainOnTexts(List<String> texts, Config config) {
        return train(countWords(texts, config.options().basic(), config.options().maxInputCharsPerWord()), config);
    }

    // ------------------------------------------------------------------------------------------------ word counts

    /** Basic-tokenised word frequencies of the files (words longer than maxChars code points are dropped: they become [UNK]). */
    public static Map<String, Long> countWordsInFiles(List<Path> files, BertBasicTokenizer basic, int maxChars) throws IOException {
        List<String> texts = new ArrayList<>();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new IOException("training file not found: " + f);
            texts.add(Utf8.readFile(f));
        }
        return countWords(texts, basic, maxChars);
    }

    /** Basic-tokenised word frequencies of in-memory texts. */
    public static Map<String, Long> countWords(List<String> texts, BertBasicTokenizer basic, int maxChars) {
        // cut the texts into line-aligned chunks of ~256 KB, count each in parallel, then merge
        List<String> chunks = new ArrayList<>();
        for (String t : texts) {
            int start = 0;
            while (start < t.length()) {
                int end = Math.min(t.length(), start + (1 << 18));
                if (end < t.length()) {
                    int nl = t.indexOf('\n', end);
                    end = nl < 0 ? t.length() : nl + 1;
                }
                chunks.add(t.substring(start, end));
                start = end;
            }
        }
        @SuppressWarnings("unchecked")
        HashMap<String, long[]>[] partial = new HashMap[chunks.size()];
        Parallel.forEachDynamic(chunks.size(), i -> {
            HashMap<String, long[]> m = new HashMap<>();
            String chunk = chunks.get(i);
            int s = 0;
            while (s < chunk.length()) {   // line by line keeps the normalised strings small
                int nl = chunk.indexOf('\n', s);
                int e = nl < 0 ? chunk.length() : nl;
                basic.words(chunk.substring(s, e), w -> {
                    if (w.length() <= maxChars || w.codePointCount(0, w.length()) <= maxChars)
                        m.computeIfAbsent(w, k -> new long[1])[0]++;
                });
                s = e + 1;
            }
            partial[i] = m;
        });
        HashMap<String, Long> total = new HashMap<>();
        for (HashMap<String, long[]> m : partial) for (var e : m.entrySet()) total.merge(e.getKey(), e.getValue()[0], Long::sum);
        return total;
    }

    // ------------------------------------------------------------------------------------------------ merges

    /** One occurrence-weighted adjacent symbol pair. */
    private static final class PairStat {
        long count;
        int[] words = new int[4];   // words that contained the pair at some point (may be stale or repeated)
        int nWords;

        void addWord(int w) {
            if (nWords > 0 && words[nWords - 1] == w) return;
            if (nWords == words.length) words = Arrays.copyOf(words, nWords * 2);
            words[nWords++] = w;
        }
    }

    /** A heap entry: valid only while its count and score equal the pair's current ones (lazy deletion). */
    private record Candidate(double score, long count, long key) {}

    private static long key(int a, int b) { return ((long) a << 32) | (b & 0xFFFFFFFFL); }

    /** Trains on word frequencies (as from countWords). */
    public static WordPieceTokenizer train(Map<String, Long> wordCounts, Config config) {
        WordPieceTokenizer.Options opt = config.options();
        String prefix = opt.continuationPrefix();
        for (String role : new String[]{opt.unkToken(), opt.clsToken(), opt.sepToken(), opt.padToken()})
            if (!config.specialTokens().contains(role))
                throw new IllegalArgumentException("specialTokens " + config.specialTokens() + " lack '" + role + "' which the options name");

        // alphabet: character frequencies, optionally limited to the most frequent
        HashMap<Integer, Long> charFreq = new HashMap<>();
        for (var e : wordCounts.entrySet()) e.getKey().codePoints().forEach(cp -> charFreq.merge(cp, e.getValue(), Long::sum));
        HashSet<Integer> allowed = new HashSet<>(charFreq.keySet());
        if (config.limitAlphabet() > 0 && charFreq.size() > config.limitAlphabet()) {
            List<Map.Entry<Integer, Long>> byFreq = new ArrayList<>(charFreq.entrySet());
            byFreq.sort((x, y) -> x.getValue().equals(y.getValue()) ? Integer.compare(x.getKey(), y.getKey()) : Long.compare(y.getValue(), x.getValue()));
            allowed.clear();
            for (int i = 0; i < config.limitAlphabet(); i++) allowed.add(byFreq.get(i).getKey());
        }

        // symbols: specials, then the initial pieces ("c" word-initial, "##c" inside) sorted for determinism
        List<String> symbols = new ArrayList<>(config.specialTokens());
        HashMap<String, Integer> symId = new HashMap<>();
        for (int i = 0; i < symbols.size(); i++) symId.put(symbols.get(i), i);
        TreeMap<String, Long> initial = new TreeMap<>();
        List<String> words = new ArrayList<>(new TreeMap<>(wordCounts).keySet());   // sorted: deterministic word ids
        words.removeIf(w -> !w.codePoints().allMatch(allowed::contains));
        for (String w : words) {
            long f = wordCounts.get(w);
            int[] cps = w.codePoints().toArray();
            for (int i = 0; i < cps.length; i++) initial.merge(piece(cps[i], i > 0, prefix), f, Long::sum);
        }
        for (String s : initial.keySet()) if (!symId.containsKey(s)) { symId.put(s, symbols.size()); symbols.add(s); }

        int nWords = words.size();
        int[][] wsym = new int[nWords][];
        int[] wlen = new int[nWords];
        long[] wfreq = new long[nWords];
        long[] symCount = new long[Math.max(16, symbols.size() * 2)];
        HashMap<Long, PairStat> pairs = new HashMap<>();
        List<HashSet<Long>> symPairs = new ArrayList<>();   // pairs each symbol takes part in (may be stale)
        for (int i = 0; i < symbols.size(); i++) symPairs.add(new HashSet<>());
        for (int w = 0; w < nWords; w++) {
            String word = words.get(w);
            int[] cps = word.codePoints().toArray();
            int[] s = new int[cps.length];
            for (int i = 0; i < cps.length; i++) s[i] = symId.get(piece(cps[i], i > 0, prefix));
            wsym[w] = s;
            wlen[w] = s.length;
            wfreq[w] = wordCounts.get(word);
            for (int i = 0; i < s.length; i++) {
                symCount[s[i]] += wfreq[w];
                if (i + 1 < s.length) {
                    long k = key(s[i], s[i + 1]);
                    PairStat p = pairs.get(k);
                    if (p == null) { pairs.put(k, p = new PairStat()); symPairs.get(s[i]).add(k); symPairs.get(s[i + 1]).add(k); }
                    p.count += wfreq[w];
                    p.addWord(w);
                }
            }
        }

        PriorityQueue<Candidate> heap = new PriorityQueue<>((x, y) -> {
            int c = Double.compare(y.score, x.score);
            if (c != 0) return c;
            c = Long.compare(y.count, x.count);
            return c != 0 ? c : Long.compare(x.key, y.key);
        });
        boolean likelihood = config.scoring() == Scoring.LIKELIHOOD;
        for (var e : pairs.entrySet()) push(heap, e.getKey(), e.getValue().count, symCount, config.minFrequency(), likelihood);

        int[] lastVisit = new int[nWords];
        Arrays.fill(lastVisit, -1);
        HashMap<Long, Long> delta = new HashMap<>();
        int merge = 0;
        while (symbols.size() < config.vocabSize() && !heap.isEmpty()) {
            Candidate top = heap.poll();
            PairStat stat = pairs.get(top.key);
            if (stat == null || stat.count != top.count) continue;
            int a = (int) (top.key >>> 32), b = (int) top.key;
            if (score(stat.count, symCount[a], symCount[b], likelihood) != top.score) continue;

            String merged = symbols.get(a) + (symbols.get(b).startsWith(prefix) ? symbols.get(b).substring(prefix.length()) : symbols.get(b));
            Integer cId = symId.get(merged);
            int c;
            if (cId == null) {
                c = symbols.size();
                symbols.add(merged);
                symId.put(merged, c);
                symPairs.add(new HashSet<>());
                if (c >= symCount.length) symCount = Arrays.copyOf(symCount, symCount.length * 2);
            } else {
                c = cId;
            }

            // rewrite every word holding (a, b); pair count changes gathered in delta
            delta.clear();
            int[] ws = Arrays.copyOf(stat.words, stat.nWords);
            for (int w : ws) {
                if (lastVisit[w] == merge) continue;
                lastVisit[w] = merge;
                int[] s = wsym[w];
                int n = wlen[w];
                boolean has = false;
                for (int i = 0; i + 1 < n; i++) if (s[i] == a && s[i + 1] == b) { has = true; break; }
                if (!has) continue;
                long f = wfreq[w];
                for (int i = 0; i + 1 < n; i++) delta.merge(key(s[i], s[i + 1]), -f, Long::sum);
                int m = 0;
                for (int i = 0; i < n; ) {
                    if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                        s[m++] = c;
                        i += 2;
                        symCount[a] -= f;
                        symCount[b] -= f;
                        symCount[c] += f;
                    } else {
                        s[m++] = s[i++];
                    }
                }
                wlen[w] = m;
                for (int i = 0; i + 1 < m; i++) {
                    long k = key(s[i], s[i + 1]);
                    delta.merge(k, f, Long::sum);
                    PairStat p = pairs.get(k);
                    if (p == null) { pairs.put(k, p = new PairStat()); symPairs.get(s[i]).add(k); symPairs.get(s[i + 1]).add(k); }
                    p.addWord(w);
                }
            }
            HashSet<Long> touched = new HashSet<>();
            for (var e : delta.entrySet()) {
                if (e.getValue() == 0) continue;
                PairStat p = pairs.get(e.getKey());
                p.count += e.getValue();
                touched.add(e.getKey());
            }
            if (likelihood) {   // the counts of a and b fell, so the scores of all their other pairs rose: requeue them
                touched.addAll(symPairs.get(a));
                touched.addAll(symPairs.get(b));
            }
            for (long k : touched) {
                PairStat p = pairs.get(k);
                if (p == null) continue;
                if (p.count == 0) {
                    pairs.remove(k);
                    symPairs.get((int) (k >>> 32)).remove(k);
                    symPairs.get((int) k).remove(k);
                    continue;
                }
                push(heap, k, p.count, symCount, config.minFrequency(), likelihood);
            }
            // requeueing leaves stale entries behind; rebuild when they dominate, to bound memory
            if (heap.size() > 4 * pairs.size() + 100_000) {
                heap.clear();
                for (var e : pairs.entrySet()) push(heap, e.getKey(), e.getValue().count, symCount, config.minFrequency(), likelihood);
            }
            merge++;
        }

        try {
            return new WordPieceTokenizer(symbols, opt);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("trained vocabulary unusable: " + e.getMessage(), e);
        }
    }

    private static String piece(int cp, boolean inside, String prefix) {
        String s = new String(Character.toChars(cp));
        return inside ? prefix + s : s;
    }

    private static double score(long pair, long a, long b, boolean likelihood) {
        return likelihood ? (double) pair / ((double) a * (double) b) : (double) pair;
    }

    private static void push(PriorityQueue<Candidate> heap, long key, long count, long[] symCount, int minFrequency, boolean likelihood) {
        if (count < minFrequency) return;
        heap.add(new Candidate(score(count, symCount[(int) (key >>> 32)], symCount[(int) key], likelihood), count, key));
    }
}
