package org.cottention.testutil;

import org.cottention.model.AttentionType;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;
import org.cottention.tokenizer.BpeTrainer;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Small model folders written in a test's temp dir (a few ms): a BPE tokenizer trained on Moby-Dick and a GPT-J with seeded weights. */
public final class TinyModels {
    private TinyModels() {}

    private static ByteLevelBpeTokenizer tokenizer;

    public static synchronized ByteLevelBpeTokenizer tokenizer() throws IOException {
        if (tokenizer == null) {
            String moby = Files.readString(Shared.data("corpus", "moby-dick.txt"));
            BpeTrainer t = new BpeTrainer(400);
            t.addText(moby.substring(20_000, 80_000));
            tokenizer = t.train();
        }
        return tokenizer;
    }

    /** A BERT folder (rotary positions, cosine attention): a WordPiece vocabulary of 300 trained on Moby-Dick, seeded weights. */
    public static Path bert(Path dir, long seed) throws IOException {
        String moby = Files.readString(Shared.data("corpus", "moby-dick.txt")).substring(20_000, 60_000);
        org.cottention.tokenizer.WordPieceTokenizer tok = org.cottention.tokenizer.WordPieceTrainer.trainOnTexts(java.util.List.of(moby),
                org.cottention.tokenizer.WordPieceTrainer.Config.uncased(300));
        Files.createDirectories(dir);
        org.cottention.model.BertConfig cfg = org.cottention.model.BertConfig.of(tok.vocabSize(), 32, 2, 2, 64, 64, tok.tokenToId("[PAD]"),
                AttentionType.COSINE, true);
        new org.cottention.model.Bert(cfg, new org.cottention.model.Bert.HeadSet(true, false, false, false)).initialise(seed).saveModel(dir);
        tok.save(dir);
        return dir;
    }

    /** A GPT-J folder (config.json, model.safetensors, tokenizer files): 2 layers, width 32, 2 heads, 64 positions. */
    public static Path gpt(Path dir, AttentionType attention, long seed) throws IOException {
        return gpt(dir, attention, org.cottention.model.CosineGate.NONE, 0, seed);
    }

    /** The same GPT-J folder with gated cosine attention (math doc §8): a decay gate and/or a q/k/v convolution. */
    public static Path gpt(Path dir, AttentionType attention, org.cottention.model.CosineGate gate, int convSize, long seed) throws IOException {
        ByteLevelBpeTokenizer tok = tokenizer();
        Files.createDirectories(dir);
        GptJ m = new GptJ(GptJConfig.of(tok.vocabSize(), 64, 32, 2, 2, 64, 4, tok.endOfTextId(), attention).withGating(gate, convSize)).initialise(seed);
        // perturb the convolution away from the identity, so the tail it carries matters (as in a trained model)
        java.util.Random r = new java.util.Random(seed);
        for (org.cottention.model.Params.View v : m.params.views())
            if (v.name().endsWith("attn.qkv_conv.weight"))
                for (int i = v.offset(); i < v.offset() + v.size(); i++) m.params.data[i] += (float) (0.3 * r.nextGaussian());
        m.saveModel(dir);
        tok.save(dir);
        return dir;
    }
}
