package org.cottention.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;
import org.cottention.kernels.Parallel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * BERT WordPiece tokenizer, bit-compatible with HF tokenizers' BertNormalizer + BertPreTokenizer + WordPiece model
 * + Bert/Template post-processing + WordPiece decoder. Special tokens written literally in the text ("[MASK]") are
 * recognised as such, as HF does for its added tokens. Immutable and thread-safe.
 */
public final class WordPieceTokenizer implements Tokenizer {

    /**
     * Construction options (what vocab.txt cannot say itself).
     *
     * @param lowercase            lower-case the text (uncased models)
     * @param stripAccents         NFD + drop Mn; null means "same as lowercase" (HF's default)
     * @param tokenizeChineseChars make every CJK ideograph its own word
     * @param cleanText            drop control characters, map whitespace to ' '
     * @param maxInputCharsPerWord longer words (in code points) become the unknown token
     * @param continuationPrefix   marks word-internal pieces, "##"
     * @param decodeCleanup        decode() removes the space before . , ! ? and English contractions (HF "cleanup")
     */
    public record Options(boolean lowercase, Boolean stripAccents, boolean tokenizeChineseChars, boolean cleanText,
                          String unkToken, String clsToken, String sepToken, String padToken, String maskToken,
                          int maxInputCharsPerWord, String continuationPrefix, boolean decodeCleanup) {
        public Options {
            if (maxInputCharsPerWord <= 0) throw new IllegalArgumentException("maxInputCharsPerWord must be > 0, got " + maxInputCharsPerWord);
            if (continuationPrefix == null || continuationPrefix.isEmpty()) throw new IllegalArgumentException("continuationPrefix must be non-empty");
        }

        public static Options uncased() {
            return new Options(true, null, true, true, "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", 100, "##", true);
        }

        public static Options cased() { return uncased().withLowercase(false); }

        public Options withLowercase(boolean lc) {
            return new Options(lc, stripAccents, tokenizeChineseChars, cleanText, unkToken, clsToken, sepToken, padToken,
                    maskToken, maxInputCharsPerWord, continuationPrefix, decodeCleanup);
        }

        public Options withStripAccents(Boolean strip) {
            return new Options(lowercase, strip, tokenizeChineseChars, cleanText, unkToken, clsToken, sepToken, padToken,
                    maskToken, maxInputCharsPerWord, continuationPrefix, decodeCleanup);
        }

        public Options withTokenizeChineseChars(boolean cjk) {
            return new Options(lowercase, stripAccents, cjk, cleanText, unkToken, clsToken, sepToken, padToken,
                    maskToken, maxInputCharsPerWord, continuationPrefix, decodeCleanup);
        }

        public boolean effectiveStripAccents() { return stripAccents != null ? stripAccents : lowercase; }

        BertBasicTokenizer basic() {
            return new BertBasicTokenizer(cleanText, tokenizeChineseChars, effectiveStripAccents(), lowercase);
        }
    }

    private final Options options;
    private final BertBasicTokenizer basic;
    private final String[] tokens;                 // id -> token
    private final HashMap<String, Integer> vocab;  // token -> id
    private final int maxTokenLength;              // longest vocabulary entry in UTF-16 units (bounds the greedy search)
    private final String[] specials;               // special tokens matched literally in raw text, longest first
    private final String specialFirstChars;        // their first characters, to skip the matching quickly
    private final int unkId, clsId, sepId, padId, maskId;

    /** A tokenizer over the given vocabulary (index = id). unk, cls, sep and pad tokens must be in it; mask may be absent. */
    public WordPieceTokenizer(List<String> vocabulary, Options options) {
        this.options = options;
        this.basic = options.basic();
        this.tokens = vocabulary.toArray(new String[0]);
        this.vocab = HashMap.newHashMap(tokens.length);
        int maxLen = 1;
        for (int i = 0; i < tokens.length; i++) {
            String t = tokens[i];
            if (t == null) throw new IllegalArgumentException("vocabulary: id " + i + " has no token");
            if (vocab.putIfAbsent(t, i) != null)
                throw new IllegalArgumentException("vocabulary: token '" + t + "' appears twice (ids " + vocab.get(t) + " and " + i + ")");
            maxLen = Math.max(maxLen, t.length());
        }
        this.maxTokenLength = maxLen;
        this.unkId = required(options.unkToken(), "unk");
        this.clsId = required(options.clsToken(), "cls");
        this.sepId = required(options.sepToken(), "sep");
        this.padId = required(options.padToken(), "pad");
        this.maskId = options.maskToken() == null ? -1 : vocab.getOrDefault(options.maskToken(), -1);
        List<String> sp = new ArrayList<>();
        for (String s : new String[]{options.padToken(), options.unkToken(), options.clsToken(), options.sepToken(), options.maskToken()})
            if (s != null && !s.isEmpty() && vocab.containsKey(s) && !sp.contains(s)) sp.add(s);
        sp.sort(Comparator.comparingInt(String::length).reversed());
        this.specials = sp.toArray(new String[0]);
        StringBuilder fc = new StringBuilder();
        for (String s : specials) if (fc.indexOf(s.substring(0, 1)) < 0) fc.append(s.charAt(0));
        this.specialFirstChars = fc.toString();
    }

    private int required(String token, String what) {
        if (token == null) throw new IllegalArgumentException(what + " token not set");
        Integer id = vocab.get(token);
        if (id == null) throw new IllegalArgumentException(what + " token '" + token + "' is not in the vocabulary");
        return id;
    }

    // ------------------------------------------------------------------------------------------------ loading

    /** Reads a BERT vocab.txt (one token per line, line number = id). */
    public static WordPieceTokenizer fromVocabFile(Path vocabTxt, Options options) throws IOException {
        if (!Files.isRegularFile(vocabTxt)) throw new IOException("vocab file not found: " + vocabTxt);
        List<String> lines = Files.readAllLines(vocabTxt, StandardCharsets.UTF_8);
        // a trailing newline yields no empty entry with readAllLines; a final empty line would be a token ""
        while (!lines.isEmpty() && lines.getLast().isEmpty()) lines.removeLast();
        if (lines.isEmpty()) throw new IOException("vocab file is empty: " + vocabTxt);
        for (int i = 0; i < lines.size(); i++) {   // tolerate CRLF files
            String l = lines.get(i);
            if (l.endsWith("\r")) lines.set(i, l.substring(0, l.length() - 1));
        }
        try {
            return new WordPieceTokenizer(lines, options);
        } catch (IllegalArgumentException e) {
            throw new IOException(vocabTxt + ": " + e.getMessage(), e);
        }
    }

    /** Reads an HF tokenizer.json whose model is WordPiece (BertNormalizer, BertPreTokenizer, Bert/Template post-processor). */
    public static WordPieceTokenizer fromTokenizerJson(Path json) throws IOException {
        if (!Files.isRegularFile(json)) throw new IOException("tokenizer.json not found: " + json);
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json.toFile());
        } catch (IOException e) {
            throw new IOException(json + ": not valid JSON: " + e.getMessage(), e);
        }
        JsonNode model = root.path("model");
        if (!"WordPiece".equals(model.path("type").asText()))
            throw new IOException(json + ": model type is '" + model.path("type").asText() + "', expected WordPiece");
        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject() || vocabNode.isEmpty()) throw new IOException(json + ": model.vocab missing or empty");
        String[] toks = new String[vocabNode.size()];
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            var e = it.next();
            int id = e.getValue().asInt(-1);
            if (id < 0 || id >= toks.length || toks[id] != null)
                throw new IOException(json + ": model.vocab ids are not 0.." + (toks.length - 1) + " without gaps (token '" + e.getKey() + "' has " + e.getValue() + ")");
            toks[id] = e.getKey();
        }

        boolean lowercase = false, cjk = false, clean = false;
        Boolean strip = null;
        JsonNode norm = root.path("normalizer");
        if (norm.isObject()) {
            if (!"BertNormalizer".equals(norm.path("type").asText()))
                throw new IOException(json + ": normalizer type '" + norm.path("type").asText() + "' not supported (BertNormalizer only)");
            clean = norm.path("clean_text").asBoolean(true);
            cjk = norm.path("handle_chinese_chars").asBoolean(true);
            lowercase = norm.path("lowercase").asBoolean(true);
            JsonNode s = norm.path("strip_accents");
            strip = s.isBoolean() ? s.asBoolean() : null;
        } else {
            strip = false;
        }
        JsonNode pre = root.path("pre_tokenizer");
        if (!pre.isObject() || !"BertPreTokenizer".equals(pre.path("type").asText()))
            throw new IOException(json + ": pre_tokenizer '" + pre.path("type").asText("null") + "' not supported (BertPreTokenizer only)");

        String cls = "[CLS]", sep = "[SEP]";
        JsonNode post = root.path("post_processor");
        if (post.isObject()) {
            switch (post.path("type").asText()) {
                case "BertProcessing" -> {
                    cls = post.path("cls").path(0).asText(cls);
                    sep = post.path("sep").path(0).asText(sep);
                }
                case "TemplateProcessing" -> {
                    // single template: [CLS] $A [SEP] — the first and last special tokens
                    List<String> sp = new ArrayList<>();
                    for (JsonNode piece : post.path("single")) if (piece.has("SpecialToken")) sp.add(piece.path("SpecialToken").path("id").asText());
                    if (sp.size() != 2) throw new IOException(json + ": TemplateProcessing single template must be '<cls> $A <sep>', got " + post.path("single"));
                    cls = sp.get(0);
                    sep = sp.get(1);
                }
                default -> throw new IOException(json + ": post_processor '" + post.path("type").asText() + "' not supported (BertProcessing or TemplateProcessing)");
            }
        }
        String pad = root.path("padding").path("pad_token").asText("[PAD]");
        String unk = model.path("unk_token").asText("[UNK]");
        String prefix = model.path("continuing_subword_prefix").asText("##");
        int maxChars = model.path("max_input_chars_per_word").asInt(100);
        boolean cleanup = root.path("decoder").path("cleanup").asBoolean(true);
        Options o = new Options(lowercase, strip, cjk, clean, unk, cls, sep, pad, "[MASK]", maxChars, prefix, cleanup);
        try {
            return new WordPieceTokenizer(Arrays.asList(toks), o);
        } catch (IllegalArgumentException e) {
            throw new IOException(json + ": " + e.getMessage(), e);
        }
    }

    /** Loads a directory: tokenizer.json if present, else vocab.txt with the given options. */
    public static WordPieceTokenizer load(Path dir, Options optionsForVocabTxt) throws IOException {
        if (Files.isRegularFile(dir)) {
            return dir.getFileName().toString().endsWith(".json") ? fromTokenizerJson(dir) : fromVocabFile(dir, optionsForVocabTxt);
        }
        Path json = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) return fromTokenizerJson(json);
        Path txt = dir.resolve("vocab.txt");
        if (Files.isRegularFile(txt)) return fromVocabFile(txt, optionsForVocabTxt);
        throw new IOException("no tokenizer.json or vocab.txt in " + dir);
    }

    // ------------------------------------------------------------------------------------------------ encoding

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        encodeInto(text, out);
        return out.toArray();
    }

    /** The token strings of the text (no special tokens added). */
    public List<String> tokenize(String text) {
        int[] ids = encode(text);
        List<String> out = new ArrayList<>(ids.length);
        for (int id : ids) out.add(tokens[id]);
        return out;
    }

    /** Appends the ids of text (no special tokens added) to out. */
    public void encodeInto(String text, IntList out) {
        if (specials.length == 0) { encodeSegment(text, out); return; }
        int segStart = 0;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            if (specialFirstChars.indexOf(text.charAt(i)) < 0) continue;
            for (String s : specials) {   // longest first: leftmost-longest match
                if (text.startsWith(s, i)) {
                    if (i > segStart) encodeSegment(text.substring(segStart, i), out);
                    out.add(vocab.get(s));
                    i += s.length() - 1;
                    segStart = i + 1;
                    break;
                }
            }
        }
        if (segStart < n) encodeSegment(segStart == 0 ? text : text.substring(segStart), out);
    }

    private static final int CHUNK = 8192;

    /**
     * Normalises and tokenises a text free of special tokens. Long texts are cut at ASCII whitespace into chunks
     * (exactly equivalent: whitespace separates words, and every normalisation step is per character or, for NFD,
     * never reorders across a whitespace starter), so the ASCII fast path applies chunk by chunk and very long texts
     * are encoded in parallel.
     */
    private void encodeSegment(String text, IntList out) {
        int n = text.length();
        if (n <= CHUNK) {
            BertBasicTokenizer.preTokenize(basic.normalize(text), w -> wordPiece(w, out));
            return;
        }
        List<String> chunks = new ArrayList<>(n / CHUNK + 1);
        int start = 0;
        while (start < n) {
            int end = start + CHUNK;
            if (end >= n) end = n;
            else {
                while (end < n && !isAsciiSpace(text.charAt(end))) end++;
            }
            chunks.add(text.substring(start, end));
            start = end;
        }
        if (chunks.size() < 8 || Parallel.threads() <= 1 || Parallel.inRegion()) {
            for (String c : chunks) BertBasicTokenizer.preTokenize(basic.normalize(c), w -> wordPiece(w, out));
            return;
        }
        IntList[] parts = new IntList[chunks.size()];
        Parallel.forEachDynamic(chunks.size(), i -> {
            IntList part = new IntList(CHUNK / 3);
            BertBasicTokenizer.preTokenize(basic.normalize(chunks.get(i)), w -> wordPiece(w, part));
            parts[i] = part;
        });
        for (IntList p : parts) for (int i = 0; i < p.size(); i++) out.add(p.get(i));
    }

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || c == '\n' || c == '\t' || c == '\r';
    }

    /** Greedy longest-match-first WordPiece of one pre-tokenized word. */
    private void wordPiece(String word, IntList out) {
        int n = word.length();
        if (n > options.maxInputCharsPerWord() && word.codePointCount(0, n) > options.maxInputCharsPerWord()) {
            out.add(unkId);
            return;
        }
        Integer whole = vocab.get(word);
        if (whole != null) { out.add(whole); return; }
        String prefix = options.continuationPrefix();
        int mark = out.size();
        int start = 0;
        while (start < n) {
            int end = Math.min(n, start + maxTokenLength);
            if (end < n && Character.isLowSurrogate(word.charAt(end))) end--;   // never split a surrogate pair
            int found = -1;
            while (end > start) {
                String piece = start == 0 ? word.substring(0, end) : prefix.concat(word.substring(start, end));
                Integer id = vocab.get(piece);
                if (id != null) { found = id; break; }
                end--;
                if (end > start && Character.isLowSurrogate(word.charAt(end))) end--;
            }
            if (found < 0) {   // not decomposable: the whole word is unknown
                out.truncate(mark);
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    /**
     * Model inputs: [CLS] A [SEP] (B [SEP]) truncated to maxLength tokens (special tokens included) with HF
     * tokenizers' strategies, and padded with [PAD] up to maxLength when padToMax. maxLength ≤ 0: no limit.
     */
    public Encoding encode(String a, String b, int maxLength, Truncation strategy, boolean padToMax) {
        int[] ia = encode(a);
        int[] ib = b == null ? null : encode(b);
        return build(ia, ib, maxLength, strategy, padToMax ? maxLength : 0);
    }

    /** encode(a, b) for each pair (bs may be null: single sequences), in parallel; without padToMax all are padded to the batch's longest. */
    public List<Encoding> encodeBatch(List<String> as, List<String> bs, int maxLength, Truncation strategy, boolean padToMax) {
        if (bs != null && bs.size() != as.size())
            throw new IllegalArgumentException("encodeBatch: " + as.size() + " first texts but " + bs.size() + " second texts");
        int n = as.size();
        Encoding[] unpadded = new Encoding[n];
        Parallel.forEachDynamic(n, i -> unpadded[i] = encode(as.get(i), bs == null ? null : bs.get(i), maxLength, strategy, false));
        int target = 0;
        if (padToMax && maxLength > 0) target = maxLength;
        else for (Encoding e : unpadded) target = Math.max(target, e.length());
        List<Encoding> out = new ArrayList<>(n);
        for (Encoding e : unpadded) out.add(pad(e, target));
        return out;
    }

    private Encoding build(int[] ia, int[] ib, int maxLength, Truncation strategy, int padTo) {
        int added = ib == null ? 2 : 3;
        if (maxLength > 0 && ia.length + (ib == null ? 0 : ib.length) + added > maxLength) {
            int limit = maxLength - added;
            if (limit < 0) throw new IllegalArgumentException("maxLength " + maxLength + " is smaller than the " + added + " special tokens");
            int[][] t = truncate(ia, ib, limit, strategy);
            ia = t[0];
            ib = t[1];
        }
        int len = ia.length + (ib == null ? 0 : ib.length) + added;
        int[] ids = new int[len], types = new int[len], mask = new int[len];
        int p = 0;
        ids[p++] = clsId;
        for (int id : ia) ids[p++] = id;
        ids[p++] = sepId;
        if (ib != null) {
            int b0 = p;
            for (int id : ib) ids[p++] = id;
            ids[p++] = sepId;
            Arrays.fill(types, b0, p, 1);
        }
        Arrays.fill(mask, 1);
        return pad(new Encoding(ids, types, mask), padTo);
    }

    /** HF tokenizers' truncate_encodings, with limit = max length minus the special tokens. */
    static int[][] truncate(int[] a, int[] b, int limit, Truncation strategy) {
        int na = a.length, nb = b == null ? 0 : b.length;
        int toRemove = na + nb - limit;
        if (toRemove <= 0) return new int[][]{a, b};
        if (limit == 0) return new int[][]{new int[0], b == null ? null : new int[0]};   // HF: no room leaves both empty, any strategy
        switch (strategy) {
            case LONGEST_FIRST -> {
                if (b == null) return new int[][]{Arrays.copyOf(a, limit), null};
                int n1 = na, n2 = nb;
                boolean swap = n1 > n2;
                if (swap) { int t = n1; n1 = n2; n2 = t; }
                if (n1 > limit) n2 = n1; else n2 = Math.max(n1, limit - n1);
                if (n1 + n2 > limit) { n1 = limit / 2; n2 = n1 + limit % 2; }
                if (swap) { int t = n1; n1 = n2; n2 = t; }
                return new int[][]{Arrays.copyOf(a, Math.min(na, n1)), Arrays.copyOf(b, Math.min(nb, n2))};
            }
            case ONLY_FIRST -> {
                if (na <= toRemove)
                    throw new IllegalArgumentException("only-first truncation cannot fit: the first sequence has " + na
                            + " tokens but " + toRemove + " must go (second has " + nb + ", room for " + limit + ")");
                return new int[][]{Arrays.copyOf(a, na - toRemove), b};
            }
            case ONLY_SECOND -> {
                if (b == null) throw new IllegalArgumentException("only-second truncation needs a second sequence, but there is none (first has " + na + " tokens, room for " + limit + ")");
                if (nb <= toRemove)
                    throw new IllegalArgumentException("only-second truncation cannot fit: the second sequence has " + nb
                            + " tokens but " + toRemove + " must go (first has " + na + ", room for " + limit + ")");
                return new int[][]{a, Arrays.copyOf(b, nb - toRemove)};
            }
            case DO_NOT_TRUNCATE -> throw new IllegalArgumentException("input has " + (na + nb) + " tokens plus special tokens, more than room for "
                    + limit + ", and truncation is off");
            default -> throw new AssertionError(strategy);
        }
    }

    private Encoding pad(Encoding e, int target) {
        int len = e.length();
        if (target <= len) return e;
        int[] ids = Arrays.copyOf(e.inputIds(), target);
        Arrays.fill(ids, len, target, padId);
        return new Encoding(ids, Arrays.copyOf(e.tokenTypeIds(), target), Arrays.copyOf(e.attentionMask(), target));
    }

    // ------------------------------------------------------------------------------------------------ decoding

    /** Tokens joined by spaces with ## pieces glued on; special tokens kept; cleanup as configured. */
    @Override
    public String decode(int[] ids) {
        return decode(ids, false, options.decodeCleanup());
    }

    /**
     * HF's WordPiece decoder: a token starting with the continuation prefix is glued to the previous one, others get
     * a leading space; cleanup removes the space before . ? ! , and in contractions ("do n't" → "don't").
     */
    public String decode(int[] ids, boolean skipSpecialTokens, boolean cleanup) {
        StringBuilder sb = new StringBuilder(ids.length * 5);
        String prefix = options.continuationPrefix();
        boolean first = true;
        for (int id : ids) {
            String t = idToToken(id);
            if (skipSpecialTokens && isSpecial(id)) continue;
            String piece;
            if (first) piece = t;
            else if (t.startsWith(prefix)) piece = t.substring(prefix.length());
            else piece = " " + t;
            if (cleanup) piece = cleanup(piece);
            sb.append(piece);
            first = false;
        }
        return sb.toString();
    }

    private boolean isSpecial(int id) {
        return id == clsId || id == sepId || id == padId || id == unkId || id == maskId;
    }

    /** HF tokenizers' decoders::wordpiece::cleanup, applied per token as HF does. */
    static String cleanup(String s) {
        if (s.indexOf(' ') < 0) return s;
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
                .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    // ------------------------------------------------------------------------------------------------ vocabulary

    @Override public int vocabSize() { return tokens.length; }

    @Override public int tokenToId(String token) { return vocab.getOrDefault(token, -1); }

    @Override
    public String idToToken(int id) {
        if (id < 0 || id >= tokens.length) throw new IllegalArgumentException("token id " + id + " out of range [0, " + tokens.length + ")");
        return tokens[id];
    }

    public Options options() { return options; }
    public BertBasicTokenizer basicTokenizer() { return basic; }
    public int unkId() { return unkId; }
    public int clsId() { return clsId; }
    public int sepId() { return sepId; }
    public int padId() { return padId; }
    /** Id of the mask token, -1 if the vocabulary has none. */
    public int maskId() { return maskId; }

    // ------------------------------------------------------------------------------------------------ saving

    /** Writes vocab.txt, tokenizer.json (HF format) and tokenizer_config.json into dir. */
    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder sb = new StringBuilder(tokens.length * 8);
        for (String t : tokens) sb.append(t).append('\n');
        AtomicFiles.writeString(dir.resolve("vocab.txt"), sb.toString());
        ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        byte[] json = om.writeValueAsBytes(tokenizerJson(om));
        AtomicFiles.write(dir.resolve("tokenizer.json"), out -> out.write(json));
        ObjectNode cfg = om.createObjectNode();
        cfg.put("tokenizer_class", "BertTokenizer");
        cfg.put("do_lower_case", options.lowercase());
        cfg.put("tokenize_chinese_chars", options.tokenizeChineseChars());
        if (options.stripAccents() == null) cfg.putNull("strip_accents"); else cfg.put("strip_accents", options.stripAccents());
        cfg.put("unk_token", options.unkToken());
        cfg.put("cls_token", options.clsToken());
        cfg.put("sep_token", options.sepToken());
        cfg.put("pad_token", options.padToken());
        if (maskId >= 0) cfg.put("mask_token", options.maskToken());
        byte[] cfgBytes = om.writeValueAsBytes(cfg);
        AtomicFiles.write(dir.resolve("tokenizer_config.json"), out -> out.write(cfgBytes));
    }

    private ObjectNode tokenizerJson(ObjectMapper om) {
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        List<Integer> specialIds = new ArrayList<>();
        for (String s : specials) specialIds.add(vocab.get(s));
        specialIds.sort(null);
        for (int id : specialIds) {
            ObjectNode t = added.addObject();
            t.put("id", id);
            t.put("content", tokens[id]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "BertNormalizer");
        norm.put("clean_text", options.cleanText());
        norm.put("handle_chinese_chars", options.tokenizeChineseChars());
        if (options.stripAccents() == null) norm.putNull("strip_accents"); else norm.put("strip_accents", options.stripAccents());
        norm.put("lowercase", options.lowercase());
        root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        String cls = options.clsToken(), sep = options.sepToken();
        ArrayNode single = post.putArray("single");
        special(single, cls, 0); sequence(single, "A", 0); special(single, sep, 0);
        ArrayNode pair = post.putArray("pair");
        special(pair, cls, 0); sequence(pair, "A", 0); special(pair, sep, 0); sequence(pair, "B", 1); special(pair, sep, 1);
        ObjectNode st = post.putObject("special_tokens");
        for (String s : new String[]{cls, sep}) {
            ObjectNode o = st.putObject(s);
            o.put("id", s);
            o.putArray("ids").add(vocab.get(s));
            o.putArray("tokens").add(s);
        }
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "WordPiece");
        dec.put("prefix", options.continuationPrefix());
        dec.put("cleanup", options.decodeCleanup());
        ObjectNode model = root.putObject("model");
        model.put("type", "WordPiece");
        model.put("unk_token", options.unkToken());
        model.put("continuing_subword_prefix", options.continuationPrefix());
        model.put("max_input_chars_per_word", options.maxInputCharsPerWord());
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < tokens.length; i++) v.put(tokens[i], i);
        return root;
    }

    private static void special(ArrayNode a, String id, int type) {
        ObjectNode o = a.addObject().putObject("SpecialToken");
        o.put("id", id);
        o.put("type_id", type);
    }

    private static void sequence(ArrayNode a, String id, int type) {
        ObjectNode o = a.addObject().putObject("Sequence");
        o.put("id", id);
        o.put("type_id", type);
    }

    /** Growable int array (no boxing). */
    public static final class IntList {
        private int[] a;
        private int n;

        public IntList(int capacity) { a = new int[Math.max(1, capacity)]; }

        public void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, a.length * 2);
            a[n++] = v;
        }

        public int size() { return n; }
        public int get(int i) { return a[i]; }
        public void truncate(int size) { n = size; }
        public void clear() { n = 0; }
        public int[] toArray() { return Arrays.copyOf(a, n); }
    }

    @Override
    public String toString() {
        return "WordPieceTokenizer[vocab=" + tokens.length + ", lowercase=" + options.lowercase() + "]";
    }

}
