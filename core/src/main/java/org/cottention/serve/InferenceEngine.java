package org.cottention.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.cottention.attention.CosineState;
import org.cottention.model.AttentionType;
import org.cottention.model.Bert;
import org.cottention.model.Embedder;
import org.cottention.model.Pooling;
import org.cottention.model.GptJ;
import org.cottention.model.GptJSession;
import org.cottention.model.ModelStore;
import org.cottention.io.Checkpoint;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.WordPieceTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * One model loaded once and shared by any number of threads: the in-process inference API under the HTTP server and
 * the langchain4j integration.
 *
 * <h2>Causal models (GPT-J family)</h2>
 * {@link #submit} queues a request; a single decoding thread runs every active sequence of every request through
 * <em>one batched recurrent step per token</em> ({@link GptJSession#step}), admitting new requests between steps
 * (their prompts are prefilled in parallel segments, at most {@link EngineConfig#prefillBudget()} tokens between two
 * steps) and dropping finished or cancelled ones (a cancelled request leaves at the next step). Greedy output of a
 * request does not depend on what else runs beside it (each row of a batched step is computed as it would be alone).
 * Text streams through a {@link GenerationListener}; the result arrives as a {@link Completion}.
 *
 * <h2>Sessions</h2>
 * A {@link Session} keeps a conversation's state between requests. A request with a session passes the whole prompt
 * (everything the conversation has said so far, as OpenAI clients do) and the engine prefills only what the session
 * has not seen ({@code cachedTokens} = the rest); when the prompt does not extend the session's history it starts
 * the session afresh and says so ({@code reset}). How "extends" is decided:
 * <ul>
 *   <li>A text prompt: the session keeps the length, a hash and the last 128 characters of its history text. The
 *       prompt must begin with exactly that text; the new end is tokenised on its own and appended to the session's
 *       tokens. The boundary is checked first ({@link ByteLevelBpeTokenizer#splitsAt}): if the tokenizer would merge
 *       characters across it (the old text ends inside a word the new text continues, an added token straddles it),
 *       tokenising the two parts apart would give other tokens than the whole text, so the session is reset instead
 *       and the prompt prefilled whole: a merge never silently changes the result.</li>
 *   <li>Token ids (and tokenizers other than byte-level BPE): the prompt's first {@code session.tokens()} ids must
 *       hash to the session's {@link HistoryHash}.</li>
 * </ul>
 * Either way the output is exactly that of sending the session's tokens followed by the new tokens in one request.
 * After a request the session has seen its prompt and the returned completion of choice 0 (not the end-of-text
 * token, nor a stop string and what follows it), so a client that sends the completion back as it was returned, with
 * its next message after it, continues without a reset. (The session continues from the tokens the model generated,
 * which need not be the tokenizer's own tokenisation of their text: re-tokenising the history would often differ.)
 *
 * <p>{@link #exportState} writes a session as bytes (cosine models only): each layer's D x D states, the logits of
 * the last position, the token count and history hash, the model's {@link #fingerprint()} and a CRC32C checksum;
 * its size does not depend on the history. {@link #importState} refuses truncated, corrupted or other models' states
 * with a {@link StateFormatException} naming the problem.
 *
 * <h2>Encoder models (BERT family)</h2>
 * {@link #embed} gives the last hidden states pooled as the folder says (mean without a word; optionally unit length); texts of any length with rotary
 * positions, absolute positions truncate at {@code max_position_embeddings}.
 */
public final class InferenceEngine implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(InferenceEngine.class);

    /** What the model does: generate text, or encode it into vectors. */
    public enum Kind { CAUSAL, ENCODER }

    /**
     * A generation request: the prompt as text or as token ids (exactly one of the two).
     *
     * @param text     the whole prompt text (with a session: the whole conversation so far), or null
     * @param ids      the whole prompt's token ids, or null
     * @param session  the conversation to continue, or null for a one-off request
     * @param params   sampling and stopping
     * @param listener streaming callbacks (may be null)
     */
    public record Request(String text, int[] ids, Session session, SamplingParams params, GenerationListener listener) {
        public Request {
            if ((text == null) == (ids == null)) throw new IllegalArgumentException("a request has a prompt text or prompt ids, not both or neither");
            if (params == null) throw new IllegalArgumentException("a request needs sampling params");
        }

        public static Request text(String text, Session session, SamplingParams params, GenerationListener listener) {
            return new Request(text, null, session, params, listener);
        }

        public static Request ids(int[] ids, Session session, SamplingParams params, GenerationListener listener) {
            return new Request(null, ids, session, params, listener);
        }
    }

    /** Vectors of {@link #embed}, and the tokens each text had. */
    public record Embeddings(float[][] vectors, int[] tokens) {}

    /** Counters since the engine started, and the queue now (for metrics). */
    public record Stats(long requests, long promptTokens, long cachedTokens, long prefillTokens, long generatedTokens,
                        long steps, int waiting, int active) {}

    private final Path dir;
    private final String name;
    private final EngineConfig config;
    private final Kind kind;
    final GptJ gpt;
    private final Bert bert;
    private final Pooling pooling;     // encoders: the folder's sentence-embedding pooling, or null
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private volatile byte[] fingerprint; // computed on first use by engines made with of(...)
    private final Decoder decoder;

    private InferenceEngine(Path dir, String name, EngineConfig config, GptJ gpt, Bert bert, Pooling pooling, Tokenizer tok, ChatTemplate template, byte[] fp) {
        this.dir = dir;
        this.name = name;
        this.config = config;
        this.kind = gpt != null ? Kind.CAUSAL : Kind.ENCODER;
        this.gpt = gpt;
        this.bert = bert;
        this.pooling = pooling;
        this.tokenizer = tok;
        this.template = template;
        this.fingerprint = fp;
        this.decoder = gpt != null ? new Decoder(this, config) : null;
    }

    /**
     * An engine on a causal model already loaded (with whatever options the caller used: weight format, attention,
     * gating, storage), for in-process use such as the CLI's {@code generate}. {@code tok} may be null: then only
     * token-id prompts are accepted and the generated text is empty. The fingerprint (needed only for state bytes)
     * is computed from {@code dir} on first use.
     */
    public static InferenceEngine of(Path dir, GptJ gpt, Tokenizer tok, EngineConfig config) throws IOException {
        if (tok != null && tok.vocabSize() > gpt.cfg.vocabSize())
            throw new IOException(dir + ": the tokenizer has " + tok.vocabSize() + " tokens, the model only " + gpt.cfg.vocabSize());
        String name = dir.toAbsolutePath().normalize().getFileName().toString();
        return new InferenceEngine(dir, name, config, gpt, null, null, tok, ChatTemplate.load(dir), null);
    }

    /**
     * Loads a model folder (HF layout: config.json, weights, tokenizer files; optional {@value ChatTemplate#FILE}).
     * {@code model_type} "bert" is an encoder, anything else a GPT-J causal model. The model's name is the folder's.
     */
    public static InferenceEngine load(Path dir, EngineConfig config) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException("model folder " + dir + " does not exist");
        Path cfgFile = dir.resolve("config.json");
        if (!Files.isRegularFile(cfgFile)) throw new IOException("no config.json in " + dir);
        String type = new ObjectMapper().readTree(cfgFile.toFile()).path("model_type").asText("gptj");
        Tokenizer tok = Tokenizers.load(dir);
        ChatTemplate template = ChatTemplate.load(dir);
        GptJ gpt = null;
        Bert bert = null;
        AttentionType attention;
        if (type.equals("bert")) {
            if (!(tok instanceof WordPieceTokenizer)) throw new IOException(dir + ": a BERT model needs a WordPiece tokenizer (vocab.txt)");
            bert = ModelStore.loadBert(dir, config.attention(), Checkpoint.Format.AUTO, config.storage());
            attention = bert.cfg.attentionType();
        } else {
            gpt = ModelStore.loadGptJ(dir, config.attention(), Checkpoint.Format.AUTO, config.storage());
            if (tok.vocabSize() > gpt.cfg.vocabSize())
                throw new IOException(dir + ": the tokenizer has " + tok.vocabSize() + " tokens, the model only " + gpt.cfg.vocabSize());
            attention = gpt.cfg.attentionType();
        }
        String name = dir.toAbsolutePath().normalize().getFileName().toString();
        long t0 = System.nanoTime();
        byte[] fp = fingerprint(dir, attention, template);
        log.info("{}: fingerprint {} ({} ms)", name, HexFormat.of().formatHex(fp, 0, 8), (System.nanoTime() - t0) / 1_000_000);
        return new InferenceEngine(dir, name, config, gpt, bert, bert != null ? Pooling.read(dir) : null, tok, template, fp);
    }

    // ------------------------------------------------------------------------------------------------ identity

    public Kind kind() {
        return kind;
    }

    /** The model's name (its folder's name), as {@code /v1/models} lists it. */
    public String name() {
        return name;
    }

    public Path dir() {
        return dir;
    }

    public EngineConfig config() {
        return config;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public ChatTemplate template() {
        return template;
    }

    public AttentionType attention() {
        return gpt != null ? gpt.cfg.attentionType() : bert.cfg.attentionType();
    }

    /**
     * SHA-256 (hex) over config.json, every weight file's size and CRC32C, the tokenizer files, the effective
     * attention type and the chat template: two engines agree on it exactly when a saved session of one is valid in
     * the other.
     */
    public String fingerprint() {
        return HexFormat.of().formatHex(fp());
    }

    private byte[] fp() {
        byte[] f = fingerprint;
        if (f == null) {
            try {
                fingerprint = f = fingerprint(dir, attention(), template);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("fingerprint of " + dir + ": " + e.getMessage(), e);
            }
        }
        return f;
    }

    /** Token id that ends a text, or -1. */
    public int eosId() {
        return gpt != null ? gpt.cfg.eosTokenId() : -1;
    }

    /** Positions the model was trained for (cosine models with rotary positions run past it). */
    public int contextLength() {
        return gpt != null ? gpt.cfg.nPositions() : bert.cfg.maxPositionEmbeddings();
    }

    /** Width of the vectors {@link #embed} returns. */
    public int embeddingDimension() {
        requireKind(Kind.ENCODER, "embeddings");
        return bert.cfg.hiddenSize();
    }

    /** Token ids of a text (no special tokens added). */
    public int[] encode(String text) {
        return tokenizer.encode(text);
    }

    public String decode(int[] ids) {
        return tokenizer.decode(ids);
    }

    void requireKind(Kind k, String what) {
        if (kind != k) throw new EngineException.Unsupported("model " + name + " is " + (kind == Kind.CAUSAL ? "a causal LM" : "an encoder")
                + ": it does not do " + what);
    }

    // ------------------------------------------------------------------------------------------------ generation

    /** An empty session (nothing seen yet). */
    public Session newSession() {
        requireKind(Kind.CAUSAL, "generation sessions");
        return new Session(this, GptJSession.emptyRow(gpt), 0, HistoryHash.EMPTY, null, Session.Text.EMPTY);
    }

    /**
     * Queues a request and returns at once. Throws {@link IllegalArgumentException} for a bad request (empty prompt
     * without history, ids outside the vocabulary, max_tokens over the limit), {@link EngineException.QueueFull}
     * when {@link EngineConfig#maxQueued()} requests are already waiting or running, and
     * {@link EngineException.SessionBusy} when the session is generating for another request.
     */
    public Generation submit(Request request) {
        requireKind(Kind.CAUSAL, "text generation");
        return decoder.submit(request);
    }

    /** {@link #submit} and wait for the result. */
    public Completion generate(Request request) {
        try {
            return submit(request).result().join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw e;
        }
    }

    public Stats stats() {
        return decoder == null ? new Stats(0, 0, 0, 0, 0, 0, 0, 0) : decoder.stats();
    }

    // ------------------------------------------------------------------------------------------------ embeddings

    /**
     * Pooled last hidden states of each text: the model folder's pooling ({@link Pooling#read}: mean or [CLS], as
     * `import` writes it; mean without one), scaled to unit length when {@code normalize}; truncated at the folder's
     * max_seq_length, else at absolute positions' limit (rotary: none). The same {@link Embedder} as `embed`. One
     * text at a time through the inference forward; concurrent callers take turns.
     */
    public Embeddings embed(List<String> texts, boolean normalize) {
        requireKind(Kind.ENCODER, "embeddings");
        Pooling p = pooling != null ? pooling : new Pooling(Pooling.Mode.MEAN, false, 0);
        Embedder embedder = new Embedder(bert, (WordPieceTokenizer) tokenizer, new Pooling(p.mode(), normalize, p.maxSeqLength()));
        int limit = Pooling.inputLimit(p, bert.cfg.rotary() ? 0 : bert.cfg.maxPositionEmbeddings());
        float[][] out = new float[texts.size()][];
        int[] counts = new int[texts.size()];
        synchronized (bert) {
            for (int i = 0; i < texts.size(); i++) {
                int[] ids = embedder.ids(texts.get(i), limit);
                counts[i] = ids.length;
                out[i] = embedder.embedIds(ids);
            }
        }
        return new Embeddings(out, counts);
    }

    // ------------------------------------------------------------------------------------------------ state bytes

    private static final byte[] MAGIC = "CTNSTATE".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 2;  // 2: gated models' decayed counts and convolution tail
    private static final int HEADER = 8 + 4 + 32 + 8 + 16 + 4 + 16 + 8 + 16 + 4 + 2 * Session.TAIL; // through the text tail

    /**
     * The session's state as bytes (layout, little-endian: "CTNSTATE", version, 32-byte fingerprint, tokens, history
     * hash, position, L, H, D, V, the history text's length (-1: unknown), hash, tail length and tail (UTF-16, padded
     * to 128 chars), then per layer the token count, H*D*D float64 states, H float64 decayed counts z and the
     * convolution tail ((w-1)*3E float32; none without a convolution: math doc §8), a flag and V float32
     * logits, and a CRC32C of everything before it). Cosine models only: a softmax KV cache stays in memory.
     */
    public byte[] exportState(Session s) {
        requireKind(Kind.CAUSAL, "sessions");
        if (s.engine() != this) throw new IllegalArgumentException("the session belongs to another engine");
        if (!s.busy.compareAndSet(false, true)) throw new EngineException.SessionBusy("the session is generating; its state can be read when it is done");
        try {
            GptJSession.Row row;
            float[] logits;
            long tokens;
            HistoryHash h;
            Session.Text text;
            synchronized (s) {
                row = s.row();
                logits = s.lastLogits();
                tokens = s.tokens();
                h = s.historyHash();
                text = s.text();
            }
            if (!row.cosine())
                throw new EngineException.Unsupported("model " + name + " uses softmax attention: its sessions (a KV cache growing with the history) stay in memory");
            int L = gpt.cfg.nLayer(), H = gpt.cfg.nHead(), D = gpt.cfg.headDim(), V = gpt.cfg.vocabSize();
            long size = stateSize();
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN);
            b.put(MAGIC).putInt(VERSION).put(fp()).putLong(tokens).putLong(h.a()).putLong(h.b()).putInt(row.position())
                    .putInt(L).putInt(H).putInt(D).putInt(V);
            Session.Text t = text != null ? text : new Session.Text(-1, HistoryHash.EMPTY, "");
            b.putLong(t.chars()).putLong(t.hash().a()).putLong(t.hash().b()).putInt(t.tail().length());
            for (int i = 0; i < Session.TAIL; i++) b.putChar(i < t.tail().length() ? t.tail().charAt(i) : 0);
            for (int l = 0; l < L; l++) {
                CosineState st = row.layerState(l);
                b.putInt(st.count[0]);
                b.asDoubleBuffer().put(st.s);
                b.position(b.position() + 8 * st.s.length);
                b.asDoubleBuffer().put(st.z);
                b.position(b.position() + 8 * st.z.length);
                b.asFloatBuffer().put(st.convTail);
                b.position(b.position() + 4 * st.convTail.length);
            }
            b.putInt(logits != null ? 1 : 0);
            if (logits != null) {
                b.asFloatBuffer().put(logits);
                b.position(b.position() + 4 * V);
            } else b.position(b.position() + 4 * V);
            CRC32C crc = new CRC32C();
            crc.update(b.array(), 0, b.position());
            b.putInt((int) crc.getValue());
            return b.array();
        } finally {
            s.busy.set(false);
        }
    }

    /** Bytes a state of this model has (the same for every history length). */
    public long stateSize() {
        requireKind(Kind.CAUSAL, "sessions");
        int L = gpt.cfg.nLayer(), H = gpt.cfg.nHead(), D = gpt.cfg.headDim(), V = gpt.cfg.vocabSize();
        long tail = gpt.cfg.qkvConvSize() == 0 ? 0 : (gpt.cfg.qkvConvSize() - 1) * 3L * gpt.cfg.nEmbd();
        return HEADER + (long) L * (4 + 8L * H * D * D + 8L * H + 4 * tail) + 4 + 4L * V + 4;
    }

    /** A session from {@link #exportState} bytes; refuses anything truncated, corrupted or of another model. */
    public Session importState(byte[] bytes) throws StateFormatException {
        requireKind(Kind.CAUSAL, "sessions");
        if (attention() != AttentionType.COSINE) throw new StateFormatException("model " + name + " uses softmax attention: it has no state to import");
        if (bytes.length < HEADER + 8) throw new StateFormatException("session state is truncated (" + bytes.length + " bytes, less than a header)");
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(magic);
        if (!Arrays.equals(magic, MAGIC)) throw new StateFormatException("not a cottention session state (bad magic)");
        int version = b.getInt();
        if (version != VERSION) throw new StateFormatException("session state format version " + version + ", this build reads " + VERSION);
        long expected = stateSize();
        if (bytes.length != expected)
            throw new StateFormatException("session state has " + bytes.length + " bytes, this model's states have " + expected
                    + (bytes.length < expected ? " (truncated)" : "") + " (or it was saved by another model)");
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        int stored = ByteBuffer.wrap(bytes, bytes.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        if (stored != (int) crc.getValue()) throw new StateFormatException("session state is corrupted (checksum mismatch)");
        byte[] fp = new byte[32];
        b.get(fp);
        if (!Arrays.equals(fp, fp()))
            throw new StateFormatException("session state was saved by another model (fingerprint " + HexFormat.of().formatHex(fp, 0, 8)
                    + "..., this model " + HexFormat.of().formatHex(fp(), 0, 8) + "...)");
        long tokens = b.getLong();
        HistoryHash h = new HistoryHash(b.getLong(), b.getLong());
        int position = b.getInt();
        int L = b.getInt(), H = b.getInt(), D = b.getInt(), V = b.getInt();
        if (L != gpt.cfg.nLayer() || H != gpt.cfg.nHead() || D != gpt.cfg.headDim() || V != gpt.cfg.vocabSize())
            throw new StateFormatException("session state is [L=" + L + ", H=" + H + ", D=" + D + ", V=" + V + "], not this model's shape");
        long chars = b.getLong();
        HistoryHash th = new HistoryHash(b.getLong(), b.getLong());
        int tailLen = b.getInt();
        if (tailLen < 0 || tailLen > Session.TAIL || (chars >= 0 && tailLen > chars)) throw new StateFormatException("session state has an inconsistent text tail");
        char[] tail = new char[Session.TAIL];
        for (int i = 0; i < tail.length; i++) tail[i] = b.getChar();
        Session.Text text = chars < 0 ? null : new Session.Text(chars, th, new String(tail, 0, tailLen));
        if (tokens < 0 || position < 0 || position != tokens) throw new StateFormatException("session state has inconsistent token counts");
        CosineState[] states = new CosineState[L];
        for (int l = 0; l < L; l++) {
            CosineState st = states[l] = new CosineState(1, H, D, gpt.cfg.qkvConvSize());
            st.count[0] = b.getInt();
            b.asDoubleBuffer().get(st.s);
            b.position(b.position() + 8 * st.s.length);
            b.asDoubleBuffer().get(st.z);
            b.position(b.position() + 8 * st.z.length);
            b.asFloatBuffer().get(st.convTail);
            b.position(b.position() + 4 * st.convTail.length);
            for (double x : st.s) if (!Double.isFinite(x)) throw new StateFormatException("session state holds a non-finite value");
            for (double x : st.z) if (!Double.isFinite(x) || x < 0) throw new StateFormatException("session state holds an invalid decayed count");
            for (float x : st.convTail) if (!Float.isFinite(x)) throw new StateFormatException("session state holds a non-finite value");
        }
        boolean hasLogits = b.getInt() == 1;
        float[] logits = null;
        if (hasLogits) {
            logits = new float[V];
            b.asFloatBuffer().get(logits);
        }
        if ((tokens > 0) != hasLogits) throw new StateFormatException("session state has inconsistent logits");
        return new Session(this, GptJSession.cosineRow(gpt, states, position), tokens, h, logits, text);
    }

    // ------------------------------------------------------------------------------------------------ fingerprint

    static byte[] fingerprint(Path dir, AttentionType attention, ChatTemplate template) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        md.update("cottention-fingerprint-1\0".getBytes(StandardCharsets.UTF_8));
        md.update(("attention=" + attention.name() + "\0").getBytes(StandardCharsets.UTF_8));
        md.update(("template=" + template.canonical() + "\0").getBytes(StandardCharsets.UTF_8));
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = new ArrayList<>(s.filter(Files::isRegularFile).filter(p -> {
                String n = p.getFileName().toString();
                return n.equals("config.json") || n.endsWith(".safetensors") || n.endsWith(".bin") || n.endsWith(".safetensors.index.json")
                        || n.equals("tokenizer.json") || n.equals("vocab.json") || n.equals("merges.txt") || n.equals("vocab.txt");
            }).sorted().toList());
        }
        byte[] buf = new byte[1 << 20];
        for (Path f : files) {
            CRC32C crc = new CRC32C();
            long size = 0;
            try (InputStream in = Files.newInputStream(f)) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    crc.update(buf, 0, n);
                    size += n;
                }
            }
            md.update((f.getFileName() + "=" + size + ":" + Long.toHexString(crc.getValue()) + "\0").getBytes(StandardCharsets.UTF_8));
        }
        return md.digest();
    }

    /** Stops the decoding thread; queued and running requests fail with {@link EngineException.Closed}. */
    @Override
    public void close() {
        if (decoder != null) decoder.close();
    }
}
