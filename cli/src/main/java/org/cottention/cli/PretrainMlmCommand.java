package org.cottention.cli;

import org.cottention.data.MlmData;
import org.cottention.data.TextSources;
import org.cottention.model.Bert;
import org.cottention.model.BertConfig;
import org.cottention.model.ModelStore;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.train.Batch;
import org.cottention.train.Checkpoints;
import org.cottention.train.TrainableModel;
import org.cottention.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention pretrain-mlm}: masked-LM (+ optional NSP) pretraining of a BERT encoder with the shared trainer. */
@Command(name = "pretrain-mlm", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Pretrain a BERT encoder (cosine or softmax attention) with masked-LM (dynamic 15%% masking, 80/10/10)",
                "and optionally next-sentence prediction, on text files, folders of them, or JSONL with a \"text\" field."})
public final class PretrainMlmCommand implements Callable<Integer> {
    @Parameters(paramLabel = "DATA", arity = "1..*", description = "Text files, folders, or .jsonl files; lines are sentences.")
    List<Path> data;

    @Option(names = "--nsp", description = "Also train next-sentence prediction (sentence pairs, 50%% random second segment).")
    boolean nsp;

    @Mixin
    ValidationOptions validation;

    @Option(names = "--json", description = "Print the final summary as one JSON object.")
    boolean json;

    @Mixin
    BertModelOptions shape;

    @Mixin
    TrainingOptions train;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        List<Path> files = TextSources.files(data);
        List<String> docs = BertModelOptions.texts(files);
        Path out = train.out;
        Files.createDirectories(out);
        WordPieceTokenizer tok;
        Bert model;
        if (train.resume) {
            Path ck = Checkpoints.latest(out);
            tok = BertModelOptions.wordPiece(ck);
            model = ModelStore.loadBert(ck, null);
            if (!model.heads.mlm() || model.heads.nsp() != nsp)
                throw new IllegalArgumentException(ck + " has heads " + model.heads + ", not those of this run (--nsp " + nsp + ")");
            System.err.println("resuming from " + ck);
        } else {
            tok = shape.tokenizer(docs);
            model = new Bert(shape.config(tok), nsp ? Bert.HeadSet.PRETRAINING : Bert.HeadSet.MASKED_LM).initialise(train.seed);
        }
        BertConfig cfg = model.cfg;
        int maxLen = cfg.rotary() ? shape.maxLength : Math.min(shape.maxLength, cfg.maxPositionEmbeddings());
        MlmData mlm = new MlmData(docs, tok, maxLen, train.batch, nsp, validation.fraction, train.seed);
        System.err.printf("model: %,d parameters, %s attention, %s positions, %d layers, width %d, %d heads%s; corpus: %,d tokens in %,d training / %,d validation segments of up to %d%n",
                model.parameterCount(), cfg.attentionType().configName(), cfg.rotary() ? "rotary" : "absolute", cfg.numHiddenLayers(),
                cfg.hiddenSize(), cfg.numAttentionHeads(), nsp ? ", MLM + NSP" : ", MLM", mlm.tokens(), mlm.trainSegments(),
                mlm.validationSegments(), maxLen);
        List<Batch> val = mlm.validation(validation.batches);
        Trainer.Evaluator eval = val.isEmpty() ? null : step -> {
            double loss = 0, nspLoss = 0;
            long count = 0, correct = 0, nspCount = 0, nspCorrect = 0;
            for (Batch b : val) {
                Bert.MlmResult r = model.mlmStep(b, 0, false);
                loss += r.mlm().loss();
                count += r.mlm().count();
                correct += r.mlm().correct();
                nspLoss += r.nsp().loss();
                nspCount += r.nsp().count();
                nspCorrect += r.nsp().correct();
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("valLoss", loss / count);
            m.put("valPerplexity", Math.exp(loss / count));
            m.put("valAccuracy", correct / (double) count);
            if (nspCount > 0) {
                m.put("valNspLoss", nspLoss / nspCount);
                m.put("valNspAccuracy", nspCorrect / (double) nspCount);
            }
            return m;
        };
        TrainableModel objective = model.mlmObjective();
        Trainer.Result r = new Trainer(objective, tok, mlm, eval, train.toOptions(null, false, 100)).run();
        return train.finish(r, model.parameterCount(), 3 * objective.flopsPerToken(maxLen), json);
    }
}
