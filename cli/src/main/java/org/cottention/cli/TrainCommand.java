package org.cottention.cli;

import org.cottention.data.LmWindows;
import org.cottention.data.TextSources;
import org.cottention.data.TokenFile;
import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.BpeTrainer;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.train.Batch;
import org.cottention.train.Checkpoints;
import org.cottention.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code cottention train}: trains a GPT-J causal LM (cosine or softmax attention) on text. {@code cottention spark
 * train} is this command with the step's gradient computed data-parallel on Spark ({@link #gradients}).
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a causal language model (GPT-J architecture, cosine or softmax attention) on text files,",
                "folders of them, or JSONL with a \"text\" field. Checkpoints and metrics.jsonl go to --out."})
public class TrainCommand implements Callable<Integer> {
    @Parameters(paramLabel = "DATA", arity = "1..*", description = "Text files, folders, or .jsonl files.")
    List<Path> data;

    @Option(names = "--config", description = "HF-style config.json for the model (else the flags below).")
    Path config;

    @Option(names = "--tokenizer", description = "Tokenizer folder (tokenizer.json or vocab.json + merges.txt).")
    Path tokenizerDir;

    @Option(names = "--vocab-size", description = "Train a byte-level BPE tokenizer of this size on DATA when no --tokenizer is given (default ${DEFAULT-VALUE}).")
    int vocabSize = 8192;

    @Option(names = "--n-layer", description = "Blocks (default ${DEFAULT-VALUE}).")
    int nLayer = 6;

    @Option(names = "--n-embd", description = "Model width (default ${DEFAULT-VALUE}).")
    int nEmbd = 384;

    @Option(names = "--n-head", description = "Attention heads (default ${DEFAULT-VALUE}).")
    int nHead = 6;

    @Option(names = "--n-inner", description = "MLP width (default 4 * n-embd).")
    Integer nInner;

    @Option(names = "--rotary-dim", description = "Rotary dims per head (default: the whole head, at most 64).")
    Integer rotaryDim;

    @Option(names = "--context", description = "Training context length T (default ${DEFAULT-VALUE}).")
    int context = 256;

    @Option(names = "--attention", description = "cosine or softmax (default ${DEFAULT-VALUE}).")
    String attention = "cosine";

    @Option(names = "--chunk", description = "Chunk size of the chunkwise cosine attention (default ${DEFAULT-VALUE}).")
    int chunk = 64;

    @Mixin
    ValidationOptions validation;

    @Option(names = "--cache-dir", description = "Where the tokenised corpus is cached (default: --out/cache).")
    Path cacheDir;

    @Option(names = "--json", description = "Print the final summary as one JSON object.")
    boolean json;

    @Mixin
    TrainingOptions train;

    @Mixin
    GatingOptions gating;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (config == null && !train.resume) // bad gating options fail before any tokenizer training
            gating.apply(GptJConfig.of(2, 1, 1, 1, 1, 1, 0, 0, AttentionType.parse(attention)));
        List<Path> files = TextSources.files(data);
        Path out = train.out;
        Files.createDirectories(out);

        Tokenizer tok;
        GptJ model;
        if (train.resume) {
            Path ck = Checkpoints.latest(out);
            tok = Tokenizers.load(ck);
            model = ModelStore.loadGptJ(ck, null);
            System.err.println("resuming from " + ck);
        } else {
            if (tokenizerDir != null) {
                tok = Tokenizers.load(tokenizerDir);
            } else {
                System.err.printf("training a byte-level BPE tokenizer of %d tokens on %d file(s)...%n", vocabSize, files.size());
                BpeTrainer bt = new BpeTrainer(vocabSize);
                TextSources.pieces(files, (piece, last) -> bt.addText(piece)); // pieces count as the whole text does
                tok = bt.train();
            }
            int eos = eosId(tok);
            GptJConfig cfg;
            if (config != null) {
                cfg = GptJConfig.read(config);
                if (cfg.attentionType() == null) cfg = cfg.withAttention(AttentionType.parse(attention));
            } else {
                int inner = nInner != null ? nInner : 4 * nEmbd;
                if (nHead < 1 || nEmbd % nHead != 0) throw new IllegalArgumentException("--n-embd " + nEmbd + " must be divisible by --n-head " + nHead);
                int rd = rotaryDim != null ? rotaryDim : Math.min(64, nEmbd / nHead);
                cfg = GptJConfig.of(tok.vocabSize(), context, nEmbd, nLayer, nHead, inner, rd, eos, AttentionType.parse(attention));
            }
            cfg = gating.apply(cfg);
            if (cfg.vocabSize() < tok.vocabSize())
                throw new IllegalArgumentException("the model's vocab_size " + cfg.vocabSize() + " is smaller than the tokenizer's " + tok.vocabSize());
            model = new GptJ(cfg, chunk).initialise(train.seed);
        }
        GptJConfig cfg = model.cfg;
        int eos = eosId(tok);
        TokenFile tokens = TokenFile.build(files, tok, eos, cacheDir != null ? cacheDir : out.resolve("cache"));
        int t = config != null || train.resume ? Math.min(context, cfg.nPositions()) : context;
        LmWindows windows = new LmWindows(tokens, t, train.batch, validation.fraction, train.seed);
        System.err.printf("model: %,d parameters, %s attention%s, %d layers, width %d, %d heads; corpus: %,d tokens, %,d training / %,d validation windows of %d%n",
                model.parameterCount(), cfg.attentionType().configName(), gatingDescription(cfg), cfg.nLayer(), cfg.nEmbd(), cfg.nHead(), tokens.size(),
                windows.trainWindows(), windows.valWindows(), t);
        List<Batch> val = windows.validation(validation.batches);
        Trainer.Evaluator eval = val.isEmpty() ? null : step -> model.validation(val);
        Trainer.Result r = new Trainer(model, tok, gradients(model, tokens.path(), t, windows), eval, train.toOptions(null, false, 100)).run();
        return train.finish(r, model.parameterCount(), 3 * model.flopsPerToken(t), json);
    }

    /**
     * Where a step's gradient is computed: here, one micro-batch after another (spark train: on Spark's tasks, from
     * the same token file, windows of seqLen and seed).
     */
    protected Trainer.Gradients gradients(GptJ model, Path tokenFile, int seqLen, LmWindows windows) throws java.io.IOException {
        return Trainer.local(model, windows);
    }

    /** The training options (batch, seed, --out ...). */
    protected TrainingOptions training() {
        return train;
    }

    /** The held-out fraction (--val-fraction), which a replica's windows must use too. */
    protected double valFraction() {
        return validation.fraction;
    }

    /** ", softplus gate, q/k/v conv 2" for a gated model, "" for a plain one. */
    static String gatingDescription(GptJConfig c) {
        if (!c.gated()) return "";
        return (c.cosineGate() != org.cottention.model.CosineGate.NONE ? ", " + c.cosineGate().configName() + " gate" : "")
                + (c.qkvConvSize() > 0 ? ", q/k/v conv " + c.qkvConvSize() : "");
    }

    /** End-of-text id: the tokenizer's <|endoftext|>, else its last id. */
    static int eosId(Tokenizer tok) {
        int id = tok.tokenToId(ByteLevelBpeTokenizer.END_OF_TEXT);
        return id >= 0 ? id : tok.vocabSize() - 1;
    }
}
