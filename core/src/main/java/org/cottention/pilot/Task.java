package org.cottention.pilot;

/** What a pilot measures quality on: causal language modelling (--text) or GLUE-style classification (--train-dir). */
public enum Task {
    LM("causal language modelling", "gptj", "valPerplexity", false),
    CLASSIFY("classification", "bert", "accuracy", true);

    /** In words, for reports. */
    public final String words;
    /** The config.json model_type a --model must have. */
    public final String modelType;
    /** The headline quality metric and whether higher is better. */
    public final String metric;
    public final boolean higherIsBetter;

    Task(String words, String modelType, String metric, boolean higherIsBetter) {
        this.words = words;
        this.modelType = modelType;
        this.metric = metric;
        this.higherIsBetter = higherIsBetter;
    }

    public String id() {
        return name().toLowerCase();
    }
}
