package org.cottention.pilot;

import org.cottention.model.AttentionType;
import org.cottention.model.BertConfig;
import org.cottention.model.GptJConfig;

import java.util.function.UnaryOperator;

/**
 * One contender of a pilot: how its model config is made from the pilot's base config (training from scratch), and
 * how it is made from an existing softmax model (--model). A null config function means the variant does not apply
 * to that model family (task). See {@link Variants} for the registry.
 *
 * @param attention  the attention type the variant runs with
 * @param gpt        GPT-J config of the variant from the base config (causal LM), or null
 * @param bert       BERT config of the variant from the base config (classification), or null
 * @param fromModel  how the variant is obtained from a given softmax model
 */
public record Variant(String name, String description, AttentionType attention,
                      UnaryOperator<GptJConfig> gpt, UnaryOperator<BertConfig> bert, Conversion fromModel) {

    /** How a variant is made from an existing (softmax) model. */
    public enum Conversion {
        /** The model as it is (classification: fine-tuned when it has no classifier over the pilot's labels). */
        ORIGINAL("original", "the original model as it is"),
        /**
         * The existing attention switch (the same weights loaded with another attention; cosine starts norm_const at
         * 0.5), then fine-tuning (classification) or continued training (causal LM) with the pilot's steps.
         */
        SWAP_FINETUNE("swap + fine-tune", "the same weights with the attention swapped (norm_const starts at 0.5), then trained with the pilot's steps"),
        /**
         * Linearization ({@link org.cottention.model.Linearize}: attention transfer per layer, then end-to-end
         * distillation from the original on the pilot's own unlabeled text), then fine-tuning (classification) or
         * continued training (causal LM) with the pilot's steps. Its cost and fidelity are part of the report.
         */
        LINEARIZE("linearize + fine-tune", "the original distilled into cosine attention on your texts (attention transfer, then end-to-end), then trained with the pilot's steps");

        public final String label, words;

        Conversion(String label, String words) {
            this.label = label;
            this.words = words;
        }
    }

    public boolean appliesTo(Task task) {
        return task == Task.LM ? gpt != null : bert != null;
    }

    public boolean isBaseline() {
        return fromModel == Conversion.ORIGINAL;
    }
}
