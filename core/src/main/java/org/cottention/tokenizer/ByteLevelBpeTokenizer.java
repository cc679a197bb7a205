package org.cottention.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * GPT-2 byte-level BPE (also GPT-J's and the paper's GPT models' tokenizer).
 *
 * <p>Encoding: (1) added tokens such as {@code <|endoftext|>} are cut out of the text first (leftmost, longest
 * match), (2) each remaining segment is split by {@link Gpt2PreTokenizer}, (3) each piece's UTF-8 bytes become
 * single-byte tokens, which (4) are merged pairwise, always the pair whose merge was learned first (lowest rank;
 * leftmost on ties), until no learned pair remains. Ids equal HF tokenizers' / tiktoken's on the same files.
 *
 * <p>Decoding concatenates the tokens' raw bytes and decodes them as UTF-8. Any UTF-8 text round-trips exactly:
 * {@code decode(encode(s)).equals(s)}. Ids that end or start in the middle of a multi-byte character (a prefix of a
 * generation, say) decode with U+FFFD for each malformed piece (Java's UTF-8 decoder, which follows the Unicode
 * "maximal subpart" practice); use {@link #decodeBytes(int)} or {@link #streamDecoder()} to print text as ids arrive.
 *
 * <p>Text holding a lone surrogate (which has no UTF-8 form) is rejected with an IllegalArgumentException naming its
 * index. Immutable and thread-safe; a bounded concurrent cache (100K pieces of up to 64 chars; once full, new pieces
 * are computed and not stored) remembers the ids of seen pieces.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {
    /** A token matched in the text before pre-tokenization; {@code special} marks control tokens (EOS, padding...). */
    public record AddedToken(String content, int id, boolean special) {}

    public static final String END_OF_TEXT = "<|endoftext|>";

    private static final int CACHE_CAPACITY = 100_000;
    private static final int CACHE_MAX_PIECE = 64;

    private final String[] idToToken;             // [vocabSize], null for holes
    private final Map<String, Integer> tokenToId;
    private final byte[][] idToBytes;             // raw bytes each id decodes to
    private final int[] byteToId = new int[256];  // single-byte token of each byte
    private final int[] mergeLeft, mergeRight;    // [merges] in rank order
    private final LongLongMap merges;             // (left<<32 | right) -> (rank<<32 | merged id)
    private final List<AddedToken> addedTokens;
    private final String[] addedContents;         // for matching, longest first
    private final int[] addedIds;
    private final boolean[] isSpecial;            // [vocabSize]
    private final boolean addPrefixSpace;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * Builds a tokenizer from its parts.
     *
     * @param vocab   token string (byte-level form, e.g. "Ġthe") → id; must contain all 256 single-byte tokens
     * @param merges  merge rules in rank order, each {left, right}; left+right must be in vocab
     * @param added   tokens matched before pre-tokenization; each is added to the vocabulary if its id is new
     */
    public ByteLevelBpeTokenizer(Map<String, Integer> vocab, List<String[]> merges, List<AddedToken> added) {
        this(vocab, merges, added, false);
    }

    ByteLevelBpeTokenizer(Map<String, Integer> vocab, List<String[]> mergeList, List<AddedToken> added, boolean addPrefixSpace) {
        this.addPrefixSpace = addPrefixSpace;
        Map<String, Integer> t2i = new HashMap<>(vocab);
        for (AddedToken a : added) {
            if (a.id() < 0) throw new IllegalArgumentException("added token " + a.content() + " has negative id " + a.id());
            Integer prev = t2i.putIfAbsent(a.content(), a.id());
            if (prev != null && prev != a.id()) {
                throw new IllegalArgumentException("added token " + a.content() + " has id " + a.id() + " but the vocabulary says " + prev);
            }
        }
        int size = 0;
        for (int id : t2i.values()) {
            if (id < 0) throw new IllegalArgumentException("vocabulary has a negative id " + id);
            size = Math.max(size, id + 1);
        }
        idToToken = new String[size];
        for (Map.Entry<String, Integer> e : t2i.entrySet()) {
            int id = e.getValue();
            if (idToToken[id] != null) {
                throw new IllegalArgumentException("vocabulary id " + id + " is used by both " + idToToken[id] + " and " + e.getKey());
            }
            idToToken[id] = e.getKey();
        }
        tokenToId = Collections.unmodifiableMap(t2i);
        isSpecial = new boolean[size];
        addedTokens = List.copyOf(added);
        for (AddedToken a : addedTokens) isSpecial[a.id()] = a.special();
        idToBytes = new byte[size][];
        for (int id = 0; id < size; id++) {
            String tok = idToToken[id];
            if (tok == null) continue;
            byte[] raw = isAdded(tok) ? null : ByteLevel.fromVocabString(tok);
            // added tokens (and any entry outside the byte alphabet) decode to their own UTF-8 text
            idToBytes[id] = raw != null ? raw : tok.getBytes(StandardCharsets.UTF_8);
        }
        for (int b = 0; b < 256; b++) {
            Integer id = t2i.get(String.valueOf(ByteLevel.byteToChar(b)));
            if (id == null) {
                throw new IllegalArgumentException("vocabulary lacks the single-byte token for byte " + b + " ('"
                        + ByteLevel.byteToChar(b) + "'); not a byte-level BPE vocabulary");
            }
            byteToId[b] = id;
        }
        int m = mergeList.size();
        mergeLeft = new int[m];
        mergeRight = new int[m];
        merges = new LongLongMap(Math.max(16, m * 2));
        for (int r = 0; r < m; r++) {
            String[] pair = mergeList.get(r);
            Integer l = t2i.get(pair[0]), rr = t2i.get(pair[1]), merged = t2i.get(pair[0] + pair[1]);
            if (l == null || rr == null || merged == null) {
                throw new IllegalArgumentException("merge " + (r + 1) + " \"" + pair[0] + " " + pair[1]
                        + "\" uses a token missing from the vocabulary: " + (l == null ? pair[0] : rr == null ? pair[1] : pair[0] + pair[1]));
            }
            mergeLeft[r] = l;
            mergeRight[r] = rr;
            long key = pairKey(l, rr);
            if (merges.get(key) < 0) merges.put(key, ((long) r << 32) | merged); // duplicate rule: the first rank wins
        }
        List<AddedToken> byLength = new ArrayList<>(addedTokens);
        byLength.removeIf(a -> a.content().isEmpty());
        byLength.sort((a, b) -> Integer.compare(b.content().length(), a.content().length()));
        addedContents = byLength.stream().map(AddedToken::content).toArray(String[]::new);
        addedIds = byLength.stream().mapToInt(AddedToken::id).toArray();
    }

    private boolean isAdded(String tok) {
        for (AddedToken a : addedTokens) if (a.content().equals(tok)) return true;
        return false;
    }

    // ---------------------------------------------------------------- loading

    /**
     * Loads a tokenizer folder: {@code tokenizer.json} if present, otherwise {@code vocab.json} + {@code merges.txt}
     * (with {@code added_tokens.json} and {@code special_tokens_map.json} when present).
     */
    public static ByteLevelBpeTokenizer load(Path dir) throws IOException {
        Path tj = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(tj)) return fromTokenizerJson(tj);
        Path vocab = dir.resolve("vocab.json"), merges = dir.resolve("merges.txt");
        if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) return fromVocabAndMerges(dir);
        throw new IOException(dir + ": no tokenizer.json nor vocab.json + merges.txt found");
    }

    /**
     * Loads {@code vocab.json} + {@code merges.txt} from a folder (HF GPT-2 save_pretrained layout). Added tokens come
     * from {@code added_tokens.json} and {@code special_tokens_map.json} when present; {@code <|endoftext|>} in the
     * vocabulary is always treated as a special token, as GPT-2's tokenizer does.
     */
    public static ByteLevelBpeTokenizer fromVocabAndMerges(Path dir) throws IOException {
        ObjectMapper om = new ObjectMapper();
        Path vocabFile = dir.resolve("vocab.json");
        Map<String, Integer> vocab = readVocab(om, vocabFile);
        List<String[]> merges = readMerges(dir.resolve("merges.txt"));
        Map<String, AddedToken> added = new LinkedHashMap<>();
        if (vocab.containsKey(END_OF_TEXT)) added.put(END_OF_TEXT, new AddedToken(END_OF_TEXT, vocab.get(END_OF_TEXT), true));
        Path addedFile = dir.resolve("added_tokens.json");
        if (Files.isRegularFile(addedFile)) {
            for (Map.Entry<String, Integer> e : readVocab(om, addedFile).entrySet()) {
                added.putIfAbsent(e.getKey(), new AddedToken(e.getKey(), e.getValue(), false));
            }
        }
        Path stm = dir.resolve("special_tokens_map.json");
        if (Files.isRegularFile(stm)) {
            List<String> specials = new ArrayList<>();
            collectSpecials(readJson(om, stm), specials);
            for (String s : specials) {
                Integer id = vocab.get(s);
                AddedToken prev = added.get(s);
                if (prev != null) id = prev.id();
                if (id == null) throw new IOException(stm + ": special token " + s + " is neither in vocab.json nor in added_tokens.json");
                added.put(s, new AddedToken(s, id, true));
            }
        }
        try {
            return new ByteLevelBpeTokenizer(vocab, merges, new ArrayList<>(added.values()));
        } catch (IllegalArgumentException e) {
            throw new IOException(dir + ": " + e.getMessage(), e);
        }
    }

    private static void collectSpecials(JsonNode n, List<String> out) {
        if (n.isTextual()) out.add(n.asText());
        else if (n.isArray()) for (JsonNode x : n) collectSpecials(x, out);
        else if (n.isObject()) {
            if (n.has("content")) out.add(n.get("content").asText());
            else for (JsonNode x : n) collectSpecials(x, out);
        }
    }

    private static JsonNode readJson(ObjectMapper om, Path file) throws IOException {
        try {
            return om.readTree(Utf8.readFile(file));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static Map<String, Integer> readVocab(ObjectMapper om, Path file) throws IOException {
        JsonNode root = readJson(om, file);
        if (!root.isObject()) throw new IOException(file + ": expected a JSON object {token: id}");
        return vocabOf(root, file);
    }

    private static Map<String, Integer> vocabOf(JsonNode obj, Path file) throws IOException {
        Map<String, Integer> vocab = new HashMap<>(obj.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt()) throw new IOException(file + ": id of token " + e.getKey() + " is not an integer");
            vocab.put(e.getKey(), e.getValue().intValue());
        }
        return vocab;
    }

    private static List<String[]> readMerges(Path file) throws IOException {
        String text = Utf8.readFile(file);
        List<String[]> merges = new ArrayList<>();
        int lineNo = 0;
        for (String line : text.split("\r?\n", -1)) {
            lineNo++;
            if (line.isEmpty() || (lineNo == 1 && line.startsWith("#version"))) continue;
            String[] pair = splitMerge(line);
            if (pair == null) throw new IOException(file + ": line " + lineNo + " is not \"left right\": " + line);
            merges.add(pair);
        }
        return merges;
    }

    private static String[] splitMerge(String s) {
        int sp = s.indexOf(' ');
        if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0) return null;
        return new String[] {s.substring(0, sp), s.substring(sp + 1)};
    }

    /** Loads an HF {@code tokenizer.json} whose model is BPE with GPT-2's byte-level pre-tokenizer. */
    public static ByteLevelBpeTokenizer fromTokenizerJson(Path file) throws IOException {
        ObjectMapper om = new ObjectMapper();
        JsonNode root = readJson(om, file);
        JsonNode model = root.path("model");
        String type = model.path("type").asText("");
        if (!type.equals("BPE")) throw new IOException(file + ": model type is '" + type + "', not BPE");
        if (!root.path("normalizer").isNull() && !root.path("normalizer").isMissingNode()) {
            throw new IOException(file + ": normalizer " + root.path("normalizer").path("type").asText() + " is not supported (GPT-2 has none)");
        }
        String prefix = model.path("continuing_subword_prefix").asText(""), suffix = model.path("end_of_word_suffix").asText("");
        if (!prefix.isEmpty() || !suffix.isEmpty()) throw new IOException(file + ": continuing_subword_prefix/end_of_word_suffix are not supported");
        boolean addPrefixSpace = checkPreTokenizer(root.path("pre_tokenizer"), file);
        if (!model.path("vocab").isObject()) throw new IOException(file + ": model.vocab is not an object");
        Map<String, Integer> vocab = vocabOf(model.path("vocab"), file);
        List<String[]> merges = new ArrayList<>();
        int i = 0;
        for (JsonNode m : model.path("merges")) {
            i++;
            String[] pair;
            if (m.isTextual()) pair = splitMerge(m.asText());
            else if (m.isArray() && m.size() == 2) pair = new String[] {m.get(0).asText(), m.get(1).asText()};
            else pair = null;
            if (pair == null) throw new IOException(file + ": merge " + i + " is neither \"left right\" nor [left, right]: " + m);
            merges.add(pair);
        }
        List<AddedToken> added = new ArrayList<>();
        for (JsonNode a : root.path("added_tokens")) {
            for (String flag : new String[] {"lstrip", "rstrip", "single_word"}) {
                if (a.path(flag).asBoolean(false)) {
                    throw new IOException(file + ": added token " + a.path("content").asText() + " sets " + flag + ", which is not supported");
                }
            }
            added.add(new AddedToken(a.path("content").asText(), a.path("id").asInt(-1), a.path("special").asBoolean(false)));
        }
        try {
            return new ByteLevelBpeTokenizer(vocab, merges, added, addPrefixSpace);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** Accepts GPT-2's ByteLevel pre-tokenizer (regex on), or Split(GPT-2 pattern) + ByteLevel(regex off); returns add_prefix_space. */
    private static boolean checkPreTokenizer(JsonNode pt, Path file) throws IOException {
        String type = pt.path("type").asText("");
        if (type.equals("ByteLevel")) {
            if (!pt.path("use_regex").asBoolean(true)) throw new IOException(file + ": ByteLevel pre-tokenizer without use_regex is not supported");
            return pt.path("add_prefix_space").asBoolean(false);
        }
        if (type.equals("Sequence")) {
            JsonNode ps = pt.path("pretokenizers");
            if (ps.size() == 2 && ps.get(0).path("type").asText().equals("Split")
                    && Gpt2PreTokenizer.PATTERN.equals(ps.get(0).path("pattern").path("Regex").asText())
                    && ps.get(1).path("type").asText().equals("ByteLevel") && !ps.get(1).path("use_regex").asBoolean(true)) {
                return ps.get(1).path("add_prefix_space").asBoolean(false);
            }
        }
        throw new IOException(file + ": pre_tokenizer " + pt + " is not supported (only GPT-2's byte-level pre-tokenizer and regex)");
    }

    // ---------------------------------------------------------------- encoding

    @Override
    public int[] encode(String text) {
        return encode(text, true);
    }

    /** Token ids of the text with added/special tokens treated as plain text (e.g. "<|endoftext|>" becomes 6 tokens). */
    public int[] encodeOrdinary(String text) {
        return encode(text, false);
    }

    private int[] encode(String text, boolean matchAdded) {
        checkNoLoneSurrogate(text);
        IntList out = new IntList(Math.max(16, text.length() / 3));
        int pos = 0, n = text.length();
        if (matchAdded && addedContents.length > 0) {
            int[] nextAt = new int[addedContents.length];
            Arrays.fill(nextAt, -2); // not searched yet
            while (pos < n) {
                int best = -1, bestAt = n;
                for (int k = 0; k < addedContents.length; k++) { // longest first, so the first at a position is the longest
                    if (nextAt[k] != -1 && nextAt[k] < pos) nextAt[k] = text.indexOf(addedContents[k], pos);
                    if (nextAt[k] >= 0 && nextAt[k] < bestAt) {
                        bestAt = nextAt[k];
                        best = k;
                    }
                }
                if (best < 0) break;
                encodeSegment(text, pos, bestAt, out);
                out.add(addedIds[best]);
                pos = bestAt + addedContents[best].length();
            }
        }
        encodeSegment(text, pos, n, out);
        return out.toArray();
    }

    /**
     * Whether {@code encode(text)} is {@code encode(text[0, at))} followed by {@code encode(text[at, n))}: no added
     * token spans the position and the pre-tokenizer cuts a piece there (BPE never merges across pieces). Lets a
     * session prefill only the new end of a prompt whose beginning it has already seen. Looks at up to 128
     * characters on either side (pre-tokenizer pieces are decided locally).
     */
    public boolean splitsAt(String text, int at) {
        if (at < 0 || at > text.length()) throw new IndexOutOfBoundsException(at);
        if (at == 0 || at == text.length()) return !addPrefixSpace || at == text.length();
        if (addPrefixSpace || Character.isLowSurrogate(text.charAt(at))) return false;
        int from = Math.max(0, at - 128), to = Math.min(text.length(), at + 128);
        for (String c : addedContents) {
            for (int i = Math.max(from, at - c.length() + 1); i < at; i++) if (text.startsWith(c, i)) return false;
            // an added token ending at or starting at the cut bounds the segment the pre-tokenizer sees
            int end = text.lastIndexOf(c, at - c.length());
            if (end >= 0 && end + c.length() > from && end + c.length() <= at) from = end + c.length();
            int start = text.indexOf(c, at);
            if (start >= 0 && start < to) to = start;
        }
        if (from == at || to == at) return true;
        boolean[] cut = {false, false};
        Gpt2PreTokenizer.split(text, from, to, (a, b) -> {
            if (a == at) cut[0] = true;
            if (a < at && b > at) cut[1] = true;
        });
        return cut[0] && !cut[1];
    }

    private static void checkNoLoneSurrogate(String text) {
        for (int i = 0, n = text.length(); i < n; i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) i++;
                else Utf8.encode(text); // throws, naming the index
            }
        }
    }

    private void encodeSegment(String text, int from, int to, IntList out) {
        if (from >= to) return;
        if (addPrefixSpace && text.charAt(from) != ' ') {
            String s = " " + text.substring(from, to);
            Gpt2PreTokenizer.split(s, 0, s.length(), (a, b) -> encodePiece(s, a, b, out));
        } else {
            Gpt2PreTokenizer.split(text, from, to, (a, b) -> encodePiece(text, a, b, out));
        }
    }

    private void encodePiece(String text, int start, int end, IntList out) {
        String piece = text.substring(start, end);
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = bpe(piece.getBytes(StandardCharsets.UTF_8));
            if (piece.length() <= CACHE_MAX_PIECE && cache.size() < CACHE_CAPACITY) cache.putIfAbsent(piece, ids);
        }
        out.addAll(ids);
    }

    /**
     * Merges the bytes of one piece. Symbols form a linked list; a min-heap holds (rank, position) of every adjacent
     * pair that has a merge rule. Popping the lowest rank (leftmost on ties) and merging updates only the two
     * neighbouring pairs, so a piece of n bytes costs O(n log n), not the O(n^2) of rescanning for the best pair.
     * A heap entry is stale when its position was merged away or now holds a different pair; it is then skipped.
     */
    int[] bpe(byte[] bytes) {
        int n = bytes.length;
        int[] sym = new int[n];
        for (int i = 0; i < n; i++) sym[i] = byteToId[bytes[i] & 0xFF];
        if (n < 2) return sym;
        int[] next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        long[] heap = new long[n]; // entries (rank << 32 | position); each merge adds at most 2 and removes 1
        int size = 0;
        for (int i = 0; i + 1 < n; i++) {
            long v = merges.get(pairKey(sym[i], sym[i + 1]));
            if (v >= 0) size = heapPush(heap, size, (v & 0xFFFFFFFF00000000L) | i);
        }
        while (size > 0) {
            long top = heap[0];
            size = heapPop(heap, size);
            int pos = (int) top, rank = (int) (top >>> 32);
            int nx = next[pos];
            if (sym[pos] < 0 || nx < 0) continue;
            long v = merges.get(pairKey(sym[pos], sym[nx]));
            if (v < 0 || (int) (v >>> 32) != rank) continue; // stale
            sym[pos] = (int) v;
            sym[nx] = -1;
            int nn = next[nx];
            next[pos] = nn;
            if (nn >= 0) prev[nn] = pos;
            if (heap.length < size + 2) heap = Arrays.copyOf(heap, heap.length * 2 + 2);
            int pv = prev[pos];
            if (pv >= 0) {
                long w = merges.get(pairKey(sym[pv], sym[pos]));
                if (w >= 0) size = heapPush(heap, size, (w & 0xFFFFFFFF00000000L) | pv);
            }
            if (nn >= 0) {
                long w = merges.get(pairKey(sym[pos], sym[nn]));
                if (w >= 0) size = heapPush(heap, size, (w & 0xFFFFFFFF00000000L) | pos);
            }
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) count++;
        int[] out = new int[count];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) out[k++] = sym[i];
        return out;
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private static int heapPush(long[] h, int size, long v) {
        int i = size++;
        while (i > 0) {
            int p = (i - 1) >>> 1;
            if (h[p] <= v) break;
            h[i] = h[p];
            i = p;
        }
        h[i] = v;
        return size;
    }

    private static int heapPop(long[] h, int size) {
        long v = h[--size];
        int i = 0;
        while (true) {
            int c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && h[c + 1] < h[c]) c++;
            if (h[c] >= v) break;
            h[i] = h[c];
            i = c;
        }
        h[i] = v;
        return size;
    }

    // ---------------------------------------------------------------- decoding

    /**
     * The text of the ids: their raw bytes concatenated and decoded as UTF-8, so multi-byte characters split across
     * tokens come out whole. Malformed byte sequences (only possible for id sequences that encode() does not produce,
     * e.g. a cut-off generation) become U+FFFD. Throws IllegalArgumentException naming an unknown id.
     */
    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) buf.writeBytes(bytesOf(id));
        return buf.toString(StandardCharsets.UTF_8);
    }

    /** The raw bytes an id stands for (a copy); for streaming output of generated ids. */
    public byte[] decodeBytes(int id) {
        return bytesOf(id).clone();
    }

    private byte[] bytesOf(int id) {
        if (id < 0 || id >= idToBytes.length || idToBytes[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size " + vocabSize() + ")");
        }
        return idToBytes[id];
    }

    /** A decoder for ids arriving one at a time (generation): each call returns only complete characters. */
    public StreamDecoder streamDecoder() {
        return new StreamDecoder(this);
    }

    /**
     * Incremental decoding: {@link #push(int)} returns the text completed by the id, holding back the trailing bytes
     * of a character that is not complete yet (at most 3). Not thread-safe (one per generation stream).
     * For valid UTF-8 output the concatenated results equal {@code decode(allIds)}.
     */
    public static final class StreamDecoder {
        private final ByteLevelBpeTokenizer tok;
        private byte[] pending = new byte[0];

        StreamDecoder(ByteLevelBpeTokenizer tok) {
            this.tok = tok;
        }

        public String push(int id) {
            byte[] b = tok.bytesOf(id);
            byte[] all = new byte[pending.length + b.length];
            System.arraycopy(pending, 0, all, 0, pending.length);
            System.arraycopy(b, 0, all, pending.length, b.length);
            int keep = all.length - Utf8.completePrefixLength(all, 0, all.length);
            pending = Arrays.copyOfRange(all, all.length - keep, all.length);
            return new String(all, 0, all.length - keep, StandardCharsets.UTF_8);
        }

        /** Whether bytes of an unfinished character are held back. */
        public boolean pending() {
            return pending.length > 0;
        }

        /** The held-back bytes (U+FFFD for an unfinished character); call at the end of the stream. */
        public String flush() {
            String s = new String(pending, StandardCharsets.UTF_8);
            pending = new byte[0];
            return s;
        }
    }

    // ---------------------------------------------------------------- vocabulary

    @Override
    public int vocabSize() {
        return idToToken.length;
    }

    @Override
    public int tokenToId(String token) {
        Integer id = tokenToId.get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String idToToken(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size " + vocabSize() + ")");
        }
        return idToToken[id];
    }

    /** Added tokens (special ones included), in the order they were defined. */
    public List<AddedToken> addedTokens() {
        return addedTokens;
    }

    public boolean isSpecial(int id) {
        return id >= 0 && id < isSpecial.length && isSpecial[id];
    }

    /** Id of {@code <|endoftext|>}, or -1 when the vocabulary has none. */
    public int endOfTextId() {
        return tokenToId(END_OF_TEXT);
    }

    public int mergeCount() {
        return mergeLeft.length;
    }

    /** The merge of the given rank as {left, right} token strings. */
    public String[] merge(int rank) {
        return new String[] {idToToken[mergeLeft[rank]], idToToken[mergeRight[rank]]};
    }

    // ---------------------------------------------------------------- saving

    /** Writes vocab.json, merges.txt and tokenizer.json (HF format) into dir, each file atomically. */
    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode vocab = om.createObjectNode();
        for (int id = 0; id < idToToken.length; id++) if (idToToken[id] != null) vocab.put(idToToken[id], id);
        AtomicFiles.write(dir.resolve("vocab.json"), out -> new ObjectMapper().writeValue(nonClosing(out), vocab));
        StringBuilder sb = new StringBuilder("#version: 0.2\n");
        for (int r = 0; r < mergeLeft.length; r++) sb.append(idToToken[mergeLeft[r]]).append(' ').append(idToToken[mergeRight[r]]).append('\n');
        AtomicFiles.writeString(dir.resolve("merges.txt"), sb.toString());

        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (AddedToken a : addedTokens) {
            ObjectNode o = added.addObject();
            o.put("id", a.id());
            o.put("content", a.content());
            o.put("single_word", false);
            o.put("lstrip", false);
            o.put("rstrip", false);
            o.put("normalized", !a.special());
            o.put("special", a.special());
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevelNode(om, addPrefixSpace, true));
        root.set("post_processor", byteLevelNode(om, false, false));
        root.set("decoder", byteLevelNode(om, false, true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.set("vocab", vocab);
        ArrayNode ms = model.putArray("merges");
        for (int r = 0; r < mergeLeft.length; r++) ms.add(idToToken[mergeLeft[r]] + " " + idToToken[mergeRight[r]]);
        AtomicFiles.write(dir.resolve("tokenizer.json"), out -> om.writeValue(nonClosing(out), root));
    }

    private static ObjectNode byteLevelNode(ObjectMapper om, boolean addPrefixSpace, boolean trimOffsets) {
        ObjectNode n = om.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", addPrefixSpace);
        n.put("trim_offsets", trimOffsets);
        n.put("use_regex", true);
        return n;
    }

    /** Jackson closes the stream it writes to; AtomicFiles must close (and fsync) it itself. */
    private static java.io.OutputStream nonClosing(java.io.OutputStream out) {
        return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                flush();
            }
        };
    }

    // ---------------------------------------------------------------- small helpers

    /** Growable int array. */
    static final class IntList {
        int[] a;
        int size;

        IntList(int cap) {
            a = new int[cap];
        }

        void add(int v) {
            if (size == a.length) a = Arrays.copyOf(a, a.length * 2 + 1);
            a[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, size + vs.length));
            System.arraycopy(vs, 0, a, size, vs.length);
            size += vs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(a, size);
        }
    }

    /** Open-addressing map from long keys to non-negative long values (get returns -1 when absent); insert-only. */
    static final class LongLongMap {
        private final long[] keys, values;
        private final boolean[] used;
        private final int mask;

        LongLongMap(int expected) {
            int cap = Integer.highestOneBit(Math.max(4, expected) * 2 - 1) << 1;
            keys = new long[cap];
            values = new long[cap];
            used = new boolean[cap];
            mask = cap - 1;
        }

        private int slot(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h >>> 32) & mask;
        }

        long get(long key) {
            for (int i = slot(key); ; i = (i + 1) & mask) {
                if (!used[i]) return -1;
                if (keys[i] == key) return values[i];
            }
        }

        void put(long key, long value) {
            for (int i = slot(key); ; i = (i + 1) & mask) {
                if (!used[i]) {
                    used[i] = true;
                    keys[i] = key;
                    values[i] = value;
                    return;
                }
                if (keys[i] == key) {
                    values[i] = value;
                    return;
                }
            }
        }
    }
}
