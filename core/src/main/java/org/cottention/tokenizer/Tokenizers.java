package org.cottention.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads whichever tokenizer a folder holds. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * Detects the format of a tokenizer folder: {@code tokenizer.json} (HF; model type BPE or WordPiece), else
     * {@code vocab.json} + {@code merges.txt} (GPT-2 BPE), else {@code vocab.txt} (BERT WordPiece).
     */
    public static Tokenizer load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": tokenizer folder not found");
        Path tj = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(tj)) {
            JsonNode model;
            try {
                model = new ObjectMapper().readTree(Utf8.readFile(tj)).path("model");
            } catch (com.fasterxml.jackson.core.JacksonException e) {
                throw new IOException(tj + ": not valid JSON: " + e.getOriginalMessage(), e);
            }
            String type = model.path("type").asText("");
            if (type.isEmpty() && model.has("merges")) type = "BPE"; // older files omit the type
            return switch (type) {
                case "BPE" -> ByteLevelBpeTokenizer.fromTokenizerJson(tj);
                case "WordPiece" -> loadWordPiece(dir);
                default -> throw new IOException(tj + ": model type '" + type + "' is not supported (BPE or WordPiece)");
            };
        }
        if (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt"))) {
            return ByteLevelBpeTokenizer.fromVocabAndMerges(dir);
        }
        if (Files.isRegularFile(dir.resolve("vocab.txt"))) return loadWordPiece(dir);
        throw new IOException(dir + ": no tokenizer.json, vocab.json + merges.txt, or vocab.txt found");
    }

    /**
     * WordPiece from tokenizer.json, else vocab.txt; for a bare vocab.txt, lower-casing follows tokenizer_config.json's
     * do_lower_case when present, else the vocabulary itself (a cased vocabulary holds capitalised words).
     */
    private static Tokenizer loadWordPiece(Path dir) throws IOException {
        WordPieceTokenizer.Options o = WordPieceTokenizer.Options.uncased();
        Path cfg = dir.resolve("tokenizer_config.json");
        if (Files.isRegularFile(cfg)) {
            JsonNode n = new ObjectMapper().readTree(Utf8.readFile(cfg));
            if (n.has("do_lower_case") && !n.get("do_lower_case").asBoolean()) o = WordPieceTokenizer.Options.cased();
        } else if (Files.isRegularFile(dir.resolve("vocab.txt")) && !Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            long capitalised = Utf8.readFile(dir.resolve("vocab.txt")).lines()
                    .filter(t -> !t.startsWith("[") && !t.isEmpty() && Character.isUpperCase(t.charAt(0))).limit(100).count();
            if (capitalised >= 100) o = WordPieceTokenizer.Options.cased();
        }
        return WordPieceTokenizer.load(dir, o);
    }
}
