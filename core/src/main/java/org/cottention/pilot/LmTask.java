package org.cottention.pilot;
import org.cottention.bench.DecodeBench;
import org.cottention.data.LmWindows;
import org.cottention.data.TextSources;
import org.cottention.data.TokenFile;
import org.cottention.io.Checkpoint;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.Linearize;
import org.cottention.model.ModelStore;
import org.cottention.model.WeightStorage;
import org.cottention.tokenizer.BpeTrainer;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;
import org.cottention.train.TrainableModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Causal language modelling on GPT-J: a byte-level BPE tokenizer trained once on the data (or the model's), the
 * corpus tokenised once into a memory-mapped cache, packed windows with a held-out validation share; quality is
 * validation perplexity; usage is prefill of one document and decoding after it.
 */
final class LmTask extends PilotTask<GptJ> {
    /** Text fed to the BPE trainer: about this many characters (a sample of a larger corpus is enough for a pilot). */
    static final long TOKENIZER_CHARS = 4_000_000;
    static final double VAL_FRACTION = 0.05;
    static final int VAL_BATCHES = 20;
    /** At most this many documents are tokenised for the length profile (evenly spread). */
    static final int LENGTH_SAMPLE = 2000;

    private List<Path> files;
    private LmWindows windows;
    private List<Batch> val;
    private long corpusTokens;
    private int context;

    LmTask(PilotOptions opt) {
        super(opt);
    }

    @Override
    Task task() {
        return Task.LM;
    }

    @Override
    void validate() throws IOException {
        try {
            files = TextSources.files(opt.text());
        } catch (IOException e) {
            throw new IllegalArgumentException("--text: " + e.getMessage() + "; give text files, folders of them, or .jsonl files");
        }
        long bytes = 0;
        for (Path f : files) {
            if (!Files.isReadable(f)) throw new IllegalArgumentException("--text: " + f + " is not readable; check its permissions");
            bytes += Files.size(f);
        }
        if (bytes == 0) throw new IllegalArgumentException("--text: " + String.join(", ", files.stream().map(Path::toString).toList())
                + " holds no text (empty); give the text to model");
        checkModelFamily();
    }

    @Override
    void prepare() throws IOException {
        Path tokDir = dataDir.resolve("tokenizer");
        if (opt.model() != null) tok = Tokenizers.load(opt.model());
        else if (Files.isDirectory(tokDir)) tok = Tokenizers.load(tokDir);
        else {
            int vocab = opt.shape().vocabSize() != null ? opt.shape().vocabSize() : 4096;
            System.err.printf("[pilot] data: training a byte-level BPE tokenizer of %,d tokens...%n", vocab);
            BpeTrainer bt = new BpeTrainer(vocab);
            long[] fed = {0};
            TextSources.pieces(files, (piece, last) -> {
                if (fed[0] < TOKENIZER_CHARS) bt.addText(piece);
                fed[0] += piece.length();
            });
            tok = bt.train();
            Pilot.saveAtomically(tokDir, tok::save);
        }
        int eos = eosId(tok);
        TokenFile tokens;
        try {
            tokens = TokenFile.build(files, tok, eos, dataDir.resolve("cache"));
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("empty corpus"))
                throw new IllegalArgumentException("--text: " + e.getMessage() + "; give the text to model");
            throw e;
        }
        corpusTokens = tokens.size();
        GptJConfig modelCfg = opt.model() != null ? GptJConfig.read(opt.model().resolve("config.json")) : null;
        int want = opt.shape().length() != null ? opt.shape().length() : 256;
        context = modelCfg != null ? Math.min(want, modelCfg.nPositions()) : want;
        try {
            windows = new LmWindows(tokens, context, opt.training().batch(), VAL_FRACTION, opt.seed());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--text: " + e.getMessage().replace("(lower --context)", "") + "; give more text or a smaller --context");
        }
        val = windows.validation(VAL_BATCHES);
        lengths = lengthProfile();
    }

    /** Documents: JSONL records and blank-line-separated blocks of text files, tokenised (a sample of at most 2,000). */
    private LengthProfile lengthProfile() throws IOException {
        Path cache = dataDir.resolve("lengths.json");
        if (Files.isRegularFile(cache)) {
            var n = JSON.readTree(cache.toFile());
            return new LengthProfile(n.get("what").asText(), n.get("documents").asInt(), n.get("median").asInt(), n.get("p90").asInt(),
                    n.get("max").asInt(), n.get("mean").asDouble());
        }
        List<String> docs = new ArrayList<>();
        TextSources.documents(files, d -> {
            for (String block : d.split("\\n[ \\t\\r]*\\n")) if (!block.isBlank()) docs.add(block);
        });
        int step = Math.max(1, docs.size() / LENGTH_SAMPLE), n = (docs.size() + step - 1) / step;
        int[] len = new int[n];
        for (int i = 0; i < n; i++) len[i] = tok.encode(docs.get(i * step)).length;
        String what = "tokens per document (JSONL records and blank-line-separated blocks of text"
                + (step > 1 ? "; every " + step + "th of " + docs.size() + ")" : ")");
        LengthProfile p = LengthProfile.of(what, len);
        Pilot.writeJson(cache, p.toMap());
        return p;
    }

    static int eosId(Tokenizer tok) {
        int id = tok.tokenToId(ByteLevelBpeTokenizer.END_OF_TEXT);
        return id >= 0 ? id : tok.vocabSize() - 1;
    }

    @Override
    Map<String, Object> describeData() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("files", files.stream().map(p -> p.toAbsolutePath().toString()).toList());
        m.put("tokens", corpusTokens);
        m.put("context", context);
        m.put("trainWindows", windows.trainWindows());
        m.put("validationWindows", windows.valWindows());
        m.put("validationTokensEvaluated", (long) val.stream().mapToInt(Batch::size).sum() * context);
        m.put("tokenizer", opt.model() != null ? "the model's (" + tok.vocabSize() + " tokens)" : "byte-level BPE trained on the data (" + tok.vocabSize() + " tokens)");
        return m;
    }

    @Override
    GptJ fresh(Variant v) {
        PilotOptions.Shape s = opt.shape();
        int layers = s.nLayer() != null ? s.nLayer() : 4, embd = s.nEmbd() != null ? s.nEmbd() : 256, heads = s.nHead() != null ? s.nHead() : 4;
        if (heads < 1 || embd % heads != 0) throw new IllegalArgumentException("--n-embd " + embd + " must be divisible by --n-head " + heads);
        GptJConfig base = GptJConfig.of(tok.vocabSize(), context, embd, layers, heads, 4 * embd, Math.min(64, embd / heads) & ~1, eosId(tok), AttentionType.SOFTMAX);
        return new GptJ(v.gpt().apply(base), 64).initialise(opt.seed());
    }

    /** From --model: the swap also brings a gated variant's options (its new parameters start neutral). */
    @Override
    GptJ convert(Variant v, Path work) throws IOException {
        if (v.fromModel() != Variant.Conversion.SWAP_FINETUNE) return super.convert(v, work);
        GptJConfig want = v.gpt().apply(GptJConfig.read(opt.model().resolve("config.json")));
        return ModelStore.loadGptJ(opt.model(), want.attentionType(), Checkpoint.Format.AUTO, WeightStorage.HEAP, want.cosineGate(), want.qkvConvSize());
    }

    /**
     * Distils --model on the --text files (KL to the original's next-token distributions: its own predictions, not
     * the text's next tokens, are the target; the validation windows' text is among what it reads).
     */
    @Override
    Linearize.Report linearizeInto(Path work, Linearize.Options lin, Consumer<String> log) throws IOException {
        return Linearize.gptJ(opt.model(), files, work, lin, log);
    }

    @Override
    int unlabeledTexts() {
        return lengths.documents();
    }

    @Override
    GptJ load(Path dir, AttentionType attention) throws IOException {
        return ModelStore.loadGptJ(dir, attention);
    }

    @Override
    boolean trains(Variant v, GptJ model) {
        return opt.model() == null || v.fromModel() != Variant.Conversion.ORIGINAL;
    }

    @Override
    TrainableModel objective(GptJ model) {
        return model;
    }

    @Override
    BatchSource trainData() {
        return windows;
    }

    @Override
    List<Batch> validation() {
        return val;
    }

    @Override
    Map<String, Object> evaluate(GptJ model) {
        return model.validation(val);
    }

    @Override
    long parameterCount(GptJ model) {
        return model.parameterCount();
    }

    @Override
    AttentionType attention(GptJ model) {
        return model.cfg.attentionType();
    }

    @Override
    String describe(GptJ m) {
        GptJConfig c = m.cfg;
        return String.format("GPT-J, %d layers, width %d, %d heads, vocabulary %,d, %,d parameters", c.nLayer(), c.nEmbd(), c.nHead(), c.vocabSize(), m.parameterCount());
    }

    @Override
    int length() {
        return context;
    }

    @Override
    UsageCost.Probe probe(GptJ model) {
        int tokens = opt.decodeTokens();
        return new UsageCost.Probe() {
            @Override
            public UsageCost.Sample run(int length) {
                DecodeBench.Result r = DecodeBench.run(model, length, tokens, length, opt.seed());
                return new UsageCost.Sample(r.prefillMs(), r.prefillPeakBytes(), r.msPerToken(), r.stateBytes());
            }

            @Override
            public boolean heldMemoryGrows() {  // the KV cache grows; a cosine prefill is segmented with a fixed-size state
                return model.cfg.attentionType() == AttentionType.SOFTMAX;
            }

            @Override
            public UsageCost.Sample decodeOnly(int length) {
                if (model.cfg.attentionType() != AttentionType.SOFTMAX) return null;
                DecodeBench.Result r = DecodeBench.run(model, length, tokens, 0, opt.seed());  // synthetic KV cache of that length
                return new UsageCost.Sample(Double.NaN, 0, r.msPerToken(), r.stateBytes());
            }
        };
    }
}
