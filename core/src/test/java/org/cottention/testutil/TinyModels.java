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

    /** A GPT-J folder (config.json, model.safetensors, tokenizer files): 2 layers, width 32, 2 heads, 64 positions. */
    public static Path gpt(Path dir, AttentionType attention, long seed) throws IOException {
        ByteLevelBpeTokenizer tok = tokenizer();
        Files.createDirectories(dir);
        GptJ m = new GptJ(GptJConfig.of(tok.vocabSize(), 64, 32, 2, 2, 64, 4, tok.endOfTextId(), attention)).initialise(seed);
        m.saveModel(dir);
        tok.save(dir);
        return dir;
    }
}
