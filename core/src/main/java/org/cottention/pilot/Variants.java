package org.cottention.pilot;

import org.cottention.model.AttentionType;
import org.cottention.model.CosineGate;

import java.util.ArrayList;
import java.util.List;

/**
 * The registry of pilot variants: the softmax baseline first, then the cosine contenders. A new attention variant
 * is one entry here: its name, how its config derives from the base config (the same shape, tokenizer, data, steps
 * and seed as every other variant), and how it is made from an existing softmax model.
 *
 * <p>Made from an existing softmax model (--model), {@code cosine} is linearized ({@link org.cottention.model.Linearize}:
 * distilled from the original on the pilot's texts), then fine-tuned. The gated cosine variants (math doc §8: a
 * per-head decay, a width-2 convolution on q, k, v, or both) exist for GPT-J only (bert null); made from an
 * existing model, their new parameters start neutral (no decay, the identity convolution:
 * {@link org.cottention.model.ModelStore#loadGptJ}) on the attention swap, then train; a neutral gate stays shut
 * under training, so there the decay variants train the convolution only.
 */
public final class Variants {
    private Variants() {}

    public static final List<Variant> ALL = List.of(
            new Variant("softmax", "softmax attention (the baseline)", AttentionType.SOFTMAX,
                    c -> c.withAttention(AttentionType.SOFTMAX), c -> c.withAttention(AttentionType.SOFTMAX), Variant.Conversion.ORIGINAL),
            new Variant("cosine", "cosine attention (Cottention)", AttentionType.COSINE,
                    c -> c.withAttention(AttentionType.COSINE), c -> c.withAttention(AttentionType.COSINE), Variant.Conversion.LINEARIZE),
            gated("cosine-gate", "cosine attention with a per-head input-dependent decay", CosineGate.SOFTPLUS, 0),
            gated("cosine-conv", "cosine attention with a width-2 causal convolution on q, k, v", CosineGate.NONE, 2),
            gated("cosine-gate-conv", "cosine attention with the decay and the convolution", CosineGate.SOFTPLUS, 2));

    private static Variant gated(String name, String words, CosineGate gate, int convSize) {
        return new Variant(name, words, AttentionType.COSINE, c -> c.withAttention(AttentionType.COSINE).withGating(gate, convSize), null,
                Variant.Conversion.SWAP_FINETUNE);
    }

    /** The variants named (comma-separated; null or empty: all that apply to the task), in registry order. */
    public static List<Variant> select(String list, Task task) {
        List<Variant> out = new ArrayList<>();
        if (list == null || list.isBlank()) {
            for (Variant v : ALL) if (v.appliesTo(task)) out.add(v);
            return out;
        }
        List<String> names = new ArrayList<>();
        for (String s : list.split(",")) if (!s.isBlank()) names.add(s.trim());
        for (String n : names) {
            Variant v = ALL.stream().filter(x -> x.name().equals(n)).findFirst().orElseThrow(() -> new IllegalArgumentException(
                    "--variants: unknown variant '" + n + "'; known: " + String.join(", ", ALL.stream().filter(x -> x.appliesTo(task)).map(Variant::name).toList())));
            if (!v.appliesTo(task))
                throw new IllegalArgumentException("--variants: '" + n + "' does not apply to " + task.words + "; give one of "
                        + String.join(", ", ALL.stream().filter(x -> x.appliesTo(task)).map(Variant::name).toList()));
        }
        for (Variant v : ALL) if (names.contains(v.name())) out.add(v);
        return out;
    }
}
