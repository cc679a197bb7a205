package org.cottention.cli;

import org.cottention.data.TextSources;
import org.cottention.model.AttentionType;
import org.cottention.model.BertConfig;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.tokenizer.WordPieceTrainer;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Shape of a new BERT model and its WordPiece tokenizer, shared by `pretrain-mlm` and `finetune` (a picocli mixin). */
public final class BertModelOptions {
    @Option(names = "--tokenizer", description = "WordPiece tokenizer folder (vocab.txt or tokenizer.json).")
    Path tokenizerDir;

    @Option(names = "--vocab-size", description = "Train a WordPiece vocabulary of this size on the training text when no --tokenizer is given.")
    Integer vocabSize;

    @Option(names = "--n-layer", description = "Encoder layers (default ${DEFAULT-VALUE}).")
    int nLayer = 4;

    @Option(names = "--n-embd", description = "Hidden size (default ${DEFAULT-VALUE}).")
    int nEmbd = 256;

    @Option(names = "--n-head", description = "Attention heads (default ${DEFAULT-VALUE}).")
    int nHead = 4;

    @Option(names = "--n-inner", description = "Intermediate size (default 4 * n-embd).")
    Integer nInner;

    @Option(names = "--max-length", description = "Longest input in tokens, [CLS]/[SEP] included; absolute positions: max_position_embeddings (default ${DEFAULT-VALUE}).")
    int maxLength = 128;

    @Option(names = "--attention", description = {"cosine or softmax (default: cosine for a new model; a model loaded with",
            "--model keeps its own unless this is given, e.g. to fine-tune a cosine checkpoint with softmax attention)."})
    String attention;

    @Option(names = "--position", description = "absolute (learned table, BERT) or rotary (no length limit) (default ${DEFAULT-VALUE}).")
    String position = "absolute";

    @Option(names = "--rotary-dim", description = "Rotary dims per head (default: the whole head).")
    Integer rotaryDim;

    /** The attention a loaded model should use: --attention when given, else null (the model's own). */
    AttentionType attentionOverride() {
        return attention == null ? null : AttentionType.parse(attention);
    }

    /** The tokenizer from --tokenizer, or one trained on the texts (--vocab-size). */
    WordPieceTokenizer tokenizer(List<String> trainingTexts) throws IOException {
        if (tokenizerDir != null) return wordPiece(tokenizerDir);
        if (vocabSize == null) throw new IllegalArgumentException("give --tokenizer DIR or --vocab-size N (to train a WordPiece vocabulary)");
        System.err.printf("training a WordPiece vocabulary of %d tokens on %d text(s)...%n", vocabSize, trainingTexts.size());
        return WordPieceTrainer.trainOnTexts(trainingTexts, WordPieceTrainer.Config.uncased(vocabSize));
    }

    /** The tokenizer of a folder, which must be WordPiece (BERT). */
    static WordPieceTokenizer wordPiece(Path dir) throws IOException {
        Tokenizer t = Tokenizers.load(dir);
        if (!(t instanceof WordPieceTokenizer w)) throw new IllegalArgumentException(dir + " holds a " + t.getClass().getSimpleName() + ", BERT needs a WordPiece tokenizer (vocab.txt)");
        return w;
    }

    /** All texts of files (for training a vocabulary). */
    static List<String> texts(List<Path> files) throws IOException {
        List<String> out = new java.util.ArrayList<>();
        TextSources.documents(files, out::add);
        return out;
    }

    BertConfig config(WordPieceTokenizer tok) {
        if (nHead < 1 || nEmbd % nHead != 0) throw new IllegalArgumentException("--n-embd " + nEmbd + " must be divisible by --n-head " + nHead);
        if (maxLength < 3) throw new IllegalArgumentException("--max-length must be >= 3, got " + maxLength);
        boolean rotary = switch (position) {
            case "absolute" -> false;
            case "rotary" -> true;
            default -> throw new IllegalArgumentException("--position must be absolute or rotary, got \"" + position + "\"");
        };
        int inner = nInner != null ? nInner : 4 * nEmbd;
        int hd = nEmbd / nHead;
        BertConfig c = BertConfig.of(tok.vocabSize(), nEmbd, nLayer, nHead, inner, maxLength, tok.padId(), AttentionType.parse(attention != null ? attention : "cosine"), rotary);
        if (rotaryDim != null)
            c = new BertConfig(c.vocabSize(), nEmbd, nLayer, nHead, inner, maxLength, 2, c.layerNormEps(), "gelu", c.padTokenId(),
                    c.attentionType(), rotary, rotaryDim, List.of(), false);
        else if (hd % 2 != 0 && rotary) throw new IllegalArgumentException("head dim " + hd + " is odd; give an even --rotary-dim");
        return c;
    }
}
