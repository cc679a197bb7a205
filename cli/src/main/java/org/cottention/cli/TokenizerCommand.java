package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.tokenizer.BpeTrainer;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;
import org.cottention.tokenizer.Tokenizers;
import org.cottention.tokenizer.Utf8;
import org.cottention.tokenizer.WordPieceTokenizer;
import org.cottention.tokenizer.WordPieceTrainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code cottention tokenizer train|encode|decode}. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true,
        description = "Train a tokenizer, or encode / decode text with one.",
        subcommands = {CommandLine.HelpCommand.class, TokenizerCommand.Train.class, TokenizerCommand.Encode.class,
                TokenizerCommand.Decode.class})
public final class TokenizerCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Writes UTF-8 whatever the platform's console encoding is (decoded text can hold any character). */
    static void printUtf8(String s) {
        System.out.flush();
        System.out.write(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), 0, s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        System.out.flush();
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Learn a vocabulary from UTF-8 text files; writes vocab.json, merges.txt and tokenizer.json.")
    static final class Train implements Callable<Integer> {
        @Mixin ThreadsOption threads;

        @Option(names = "--input", required = true, arity = "1..*", paramLabel = "FILE", description = "UTF-8 text files.")
        List<Path> inputs;

        @Option(names = "--vocab-size", required = true, paramLabel = "N", description = "Vocabulary size, bytes and special tokens included.")
        int vocabSize;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write the tokenizer into.")
        Path out;

        @Option(names = "--type", defaultValue = "bpe", paramLabel = "TYPE", description = "bpe (GPT-2 byte-level BPE) or wordpiece (BERT). Default: ${DEFAULT-VALUE}.")
        String type;

        @Option(names = "--special", paramLabel = "TOKEN", description = "Special tokens (default: <|endoftext|>).")
        List<String> specials;

        @Option(names = "--min-frequency", defaultValue = "2", paramLabel = "N", description = "Least count of a merged pair. Default: ${DEFAULT-VALUE}.")
        int minFrequency;

        @Override
        public Integer call() throws IOException {
            threads.apply();
            if (!type.equals("bpe") && !type.equals("wordpiece"))
                throw new IllegalArgumentException("--type " + type + " is not supported (bpe or wordpiece)");
            for (Path p : inputs) if (!Files.isRegularFile(p)) throw new IOException(p + ": input file not found");
            if (type.equals("wordpiece")) {
                long t0 = System.nanoTime();
                WordPieceTokenizer wp = WordPieceTrainer.train(inputs, WordPieceTrainer.Config.uncased(vocabSize).withMinFrequency(minFrequency));
                wp.save(out);
                System.err.printf("trained a WordPiece vocabulary of %d tokens in %.1f s; wrote %s%n", wp.vocabSize(), (System.nanoTime() - t0) / 1e9, out);
                return 0;
            }
            long t0 = System.nanoTime();
            BpeTrainer trainer = new BpeTrainer(vocabSize, specials == null ? List.of(ByteLevelBpeTokenizer.END_OF_TEXT) : specials, minFrequency);
            long bytes = 0;
            for (Path p : inputs) {
                trainer.addFile(p);
                bytes += Files.size(p);
            }
            if (trainer.distinctWords() == 0) throw new IllegalArgumentException("--input: the files hold no text to train on");
            long t1 = System.nanoTime();
            ByteLevelBpeTokenizer tok = trainer.train();
            long t2 = System.nanoTime();
            tok.save(out);
            System.err.printf("trained %d tokens (%d merges) on %.1f MB (%d distinct words): counting %.1f s, merging %.1f s; wrote %s%n",
                    tok.vocabSize(), tok.mergeCount(), bytes / 1e6, trainer.distinctWords(), (t1 - t0) / 1e9, (t2 - t1) / 1e9, out);
            return 0;
        }
    }

    @Command(name = "encode", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
    static final class Encode implements Callable<Integer> {
        @Mixin ThreadsOption threads;

        @Option(names = "--tokenizer", required = true, paramLabel = "DIR") Path dir;

        @CommandLine.ArgGroup(multiplicity = "1")
        Source source;

        static final class Source {
            @Option(names = "--text", paramLabel = "TEXT") String text;
            @Option(names = "--file", paramLabel = "FILE") Path file;
        }

        @Option(names = "--json", description = "Print {\"ids\": [...], \"tokens\": [...]} instead of ids separated by spaces.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            threads.apply();
            Tokenizer tok = Tokenizers.load(dir);
            String text = source.text != null ? source.text : Utf8.readFile(source.file);
            int[] ids = tok.encode(text);
            if (json) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode o = om.createObjectNode();
                var a = o.putArray("ids");
                for (int id : ids) a.add(id);
                var t = o.putArray("tokens");
                for (int id : ids) t.add(tok.idToToken(id));
                printUtf8(om.writeValueAsString(o) + "\n");
            } else {
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < ids.length; i++) sb.append(i == 0 ? "" : " ").append(ids[i]);
                System.out.println(sb);
            }
            return 0;
        }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true, description = "Print the text of token ids.")
    static final class Decode implements Callable<Integer> {
        @Mixin ThreadsOption threads;

        @Option(names = "--tokenizer", required = true, paramLabel = "DIR") Path dir;

        @Option(names = "--ids", required = true, paramLabel = "IDS", description = "Ids separated by spaces or commas, e.g. \"15496 995\".")
        String ids;

        @Override
        public Integer call() throws IOException {
            threads.apply();
            Tokenizer tok = Tokenizers.load(dir);
            List<Integer> list = new ArrayList<>();
            for (String s : ids.trim().split("[\\s,\\[\\]]+")) {
                if (s.isEmpty()) continue;
                try {
                    list.add(Integer.parseInt(s));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--ids: '" + s + "' is not an integer id");
                }
            }
            int[] a = list.stream().mapToInt(Integer::intValue).toArray();
            for (int id : a) {
                if (id < 0 || id >= tok.vocabSize()) throw new IllegalArgumentException("--ids: token id " + id + " is outside the vocabulary (size " + tok.vocabSize() + ")");
            }
            printUtf8(tok.decode(a));
            return 0;
        }
    }
}
