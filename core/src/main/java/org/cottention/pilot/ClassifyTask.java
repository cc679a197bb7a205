package org.cottention.pilot;

import org.cottention.data.BertTexts;
import org.cottention.data.LabeledTexts;
import org.cottention.data.SequenceBatches;
import org.cottention.io.AtomicFiles;
import org.cottention.model.AttentionType;
import org.cottention.model.Bert;
import org.cottention.model.BertConfig;
import org.cottention.model.Linearize;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.Encoding;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.tokenizer.WordPieceTrainer;
import org.cottention.train.Batch;
import org.cottention.train.BatchSource;
import org.cottention.train.ClassifierEval;
import org.cottention.train.TrainableModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * GLUE-style classification on BERT: train.tsv and dev.tsv, a WordPiece vocabulary trained once on the training
 * texts (or the model's), texts truncated to the training length; quality is dev accuracy, F1 and MCC; usage is
 * encoding one document. Models trained from scratch use rotary positions, so any length can be encoded.
 */
final class ClassifyTask extends PilotTask<Bert> {
    private Path trainFile, devFile;
    private LabeledTexts.Read train, dev;
    private List<String> labels;
    private WordPieceTokenizer wordPiece;
    private SequenceBatches trainBatches;
    private List<Batch> devBatches;
    private int maxLen;
    private double meanTrainTokens;
    private BertConfig modelCfg;

    ClassifyTask(PilotOptions opt) {
        super(opt);
    }

    @Override
    Task task() {
        return Task.CLASSIFY;
    }

    @Override
    void validate() throws IOException {
        Path dir = opt.trainDir();
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--train-dir " + dir + " is not a folder; give a folder holding train.tsv and dev.tsv");
        trainFile = dir.resolve("train.tsv");
        devFile = dir.resolve("dev.tsv");
        LabeledTexts.Columns cols = opt.columns();
        String fix = "; --train-dir needs train.tsv and dev.tsv (GLUE style: a header row, a text column and a label column, "
                + "named by --text-column and --label-column)";
        for (Path f : List.of(trainFile, devFile)) {
            if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + " not found" + fix);
            if (!Files.isReadable(f)) throw new IllegalArgumentException(f + " is not readable; check its permissions");
        }
        try {
            train = LabeledTexts.read(trainFile, cols, true);
            dev = LabeledTexts.read(devFile, cols, true);
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage() + fix);
        }
        labels = ClassifierEval.labelSet(train.examples());
        ClassifierEval.classIds(dev.examples(), labels, devFile);  // every dev label must be known
        checkModelFamily();
        if (opt.model() != null) modelCfg = BertConfig.read(opt.model().resolve("config.json"));
    }

    @Override
    void prepare() throws IOException {
        Path tokDir = dataDir.resolve("tokenizer");
        WordPieceTokenizer tok;
        if (opt.model() != null) tok = wordPiece(Tokenizers.load(opt.model()), opt.model());
        else if (Files.isDirectory(tokDir)) tok = wordPiece(Tokenizers.load(tokDir), tokDir);
        else {
            int vocab = opt.shape().vocabSize() != null ? opt.shape().vocabSize() : 8192;
            System.err.printf("[pilot] data: training a WordPiece vocabulary of %,d tokens...%n", vocab);
            List<String> texts = new ArrayList<>();
            for (LabeledTexts.Example e : train.examples()) {
                texts.add(e.a());
                if (e.b() != null) texts.add(e.b());
            }
            tok = WordPieceTrainer.trainOnTexts(texts, WordPieceTrainer.Config.uncased(vocab));
            Pilot.saveAtomically(tokDir, tok::save);
        }
        this.tok = wordPiece = tok;
        int want = opt.shape().length() != null ? opt.shape().length() : 256;
        maxLen = modelCfg == null || modelCfg.rotary() ? want : Math.min(want, modelCfg.maxPositionEmbeddings());
        int[] trFull = new int[train.examples().size()], dvFull = new int[dev.examples().size()];
        String why = "the pilot's training length --max-length";
        List<Encoding> trEnc = BertTexts.encode(tok, train.examples(), maxLen, false, trainFile, why, trFull);
        List<Encoding> dvEnc = BertTexts.encode(tok, dev.examples(), maxLen, false, devFile, why, dvFull);
        int[] all = new int[trFull.length + dvFull.length];
        System.arraycopy(trFull, 0, all, 0, trFull.length);
        System.arraycopy(dvFull, 0, all, trFull.length, dvFull.length);
        lengths = LengthProfile.of("tokens per text of train.tsv and dev.tsv, [CLS] and [SEP] included, before truncation", all);
        meanTrainTokens = trEnc.stream().mapToInt(Encoding::length).average().orElse(0);
        int bs = opt.training().batch();
        trainBatches = new SequenceBatches(trEnc, ClassifierEval.classIds(train.examples(), labels, trainFile), null, bs, tok.padId(), opt.seed(), true);
        devBatches = new SequenceBatches(dvEnc, ClassifierEval.classIds(dev.examples(), labels, devFile), null, bs, tok.padId(), opt.seed(), false).inOrder();
    }

    private static WordPieceTokenizer wordPiece(Tokenizer t, Path dir) {
        if (!(t instanceof WordPieceTokenizer w))
            throw new IllegalArgumentException(dir + " holds a " + t.getClass().getSimpleName() + "; BERT classification needs a WordPiece tokenizer (vocab.txt)");
        return w;
    }

    @Override
    Map<String, Object> describeData() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("trainFile", trainFile.toAbsolutePath().toString());
        m.put("devFile", devFile.toAbsolutePath().toString());
        m.put("trainExamples", train.examples().size());
        m.put("devExamples", dev.examples().size());
        m.put("labels", labels);
        m.put("maxLength", maxLen);
        m.put("tokenizer", opt.model() != null ? "the model's WordPiece (" + tok.vocabSize() + " tokens)" : "WordPiece trained on train.tsv (" + tok.vocabSize() + " tokens)");
        return m;
    }

    @Override
    Bert fresh(Variant v) {
        PilotOptions.Shape s = opt.shape();
        int layers = s.nLayer() != null ? s.nLayer() : 2, embd = s.nEmbd() != null ? s.nEmbd() : 128, heads = s.nHead() != null ? s.nHead() : 4;
        if (heads < 1 || embd % heads != 0) throw new IllegalArgumentException("--n-embd " + embd + " must be divisible by --n-head " + heads);
        String pos = s.position() != null ? s.position() : "rotary";
        if (!pos.equals("rotary") && !pos.equals("absolute")) throw new IllegalArgumentException("--position must be absolute or rotary, got \"" + pos + "\"");
        BertConfig base = BertConfig.of(wordPiece.vocabSize(), embd, layers, heads, 4 * embd, maxLen, wordPiece.padId(), AttentionType.SOFTMAX, pos.equals("rotary"));
        return new Bert(v.bert().apply(base).withTask(labels, false), Bert.HeadSet.CLASSIFIER).initialise(opt.seed());
    }

    @Override
    Bert load(Path dir, AttentionType attention) throws IOException {
        return ModelStore.loadBert(dir, attention, Bert.HeadSet.CLASSIFIER, c -> c.labels().equals(labels) ? c : c.withTask(labels, false), opt.seed());
    }

    /**
     * Distils --model into cosine attention on the texts of train.tsv (dev.tsv stays unseen), written one per
     * paragraph to data/unlabeled-train.txt; labels play no part.
     */
    @Override
    Linearize.Report linearizeInto(Path work, Linearize.Options lin, Consumer<String> log) throws IOException {
        Path texts = dataDir.resolve("unlabeled-train.txt");
        StringBuilder sb = new StringBuilder();
        for (LabeledTexts.Example e : train.examples()) {
            sb.append(e.a()).append("\n\n");
            if (e.b() != null) sb.append(e.b()).append("\n\n");
        }
        Files.createDirectories(dataDir);
        AtomicFiles.writeString(texts, sb.toString());
        return Linearize.bert(opt.model(), List.of(texts), work, lin, log);
    }

    @Override
    int unlabeledTexts() {
        return train.examples().size();
    }

    @Override
    boolean trains(Variant v, Bert model) {
        // the original is evaluated as it is only when it already classifies over the pilot's labels
        return opt.model() == null || v.fromModel() != Variant.Conversion.ORIGINAL || !modelCfg.labels().equals(labels);
    }

    @Override
    TrainableModel objective(Bert model) {
        return model.classifierObjective();
    }

    @Override
    BatchSource trainData() {
        return trainBatches;
    }

    @Override
    List<Batch> validation() {
        return devBatches;
    }

    @Override
    Map<String, Object> evaluate(Bert model) {
        return ClassifierEval.evaluate(model, devBatches, labels.size(), ClassifierEval.positiveClass(labels));
    }

    @Override
    long parameterCount(Bert model) {
        return model.parameterCount();
    }

    @Override
    AttentionType attention(Bert model) {
        return model.cfg.attentionType();
    }

    @Override
    String describe(Bert m) {
        BertConfig c = m.cfg;
        return String.format("BERT, %d layers, width %d, %d heads, %s positions, vocabulary %,d, %,d parameters", c.numHiddenLayers(), c.hiddenSize(),
                c.numAttentionHeads(), c.rotary() ? "rotary" : "absolute (" + c.maxPositionEmbeddings() + ")", c.vocabSize(), m.parameterCount());
    }

    @Override
    int length() {
        return maxLen;
    }

    @Override
    long tokensPerStep() {
        return Math.round(opt.training().batch() * opt.training().accumulation() * meanTrainTokens);
    }

    /**
     * Encoding one document of random ids. A model with absolute positions cannot take more than its table holds;
     * beyond that the cost is measured on a model of the same shape with rotary positions (the cost does not depend on
     * the weights), which the report says.
     */
    @Override
    UsageCost.Probe probe(Bert model) {
        BertConfig c = model.cfg;
        Bert[] longer = {null};
        return length -> {
            Bert m = model;
            if (!c.rotary() && length > c.maxPositionEmbeddings()) {
                if (longer[0] == null)
                    longer[0] = new Bert(new BertConfig(c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(), c.intermediateSize(),
                            c.maxPositionEmbeddings(), c.typeVocabSize(), c.layerNormEps(), c.hiddenAct(), c.padTokenId(), c.attentionType(), true,
                            c.headDim() & ~1, List.of(), false), Bert.HeadSet.ENCODER).initialise(opt.seed());
                m = longer[0];
            }
            SplittableRandom r = new SplittableRandom(opt.seed());
            int[] ids = new int[length], mask = new int[length];
            for (int i = 0; i < length; i++) {
                ids[i] = r.nextInt(c.vocabSize());
                mask[i] = 1;
            }
            long a0 = org.cottention.bench.AttentionBench.allocatedBytes(), t0 = System.nanoTime();
            m.encode(1, length, ids, mask, null);
            double ms = (System.nanoTime() - t0) / 1e6;
            return new UsageCost.Sample(ms, org.cottention.bench.AttentionBench.allocatedBytes() - a0, null, null);
        };
    }

    /** Whether the usage cost beyond the position table was measured on a same-shape rotary model. */
    boolean longerOnRotaryCopy(Bert model) {
        return !model.cfg.rotary();
    }
}
