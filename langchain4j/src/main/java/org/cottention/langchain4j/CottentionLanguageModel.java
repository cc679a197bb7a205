package org.cottention.langchain4j;

import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.output.Response;
import org.cottention.serve.Completion;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A langchain4j {@link LanguageModel}: plain text completion of a prompt (no chat template) by a Cottention causal
 * model in-process, with the builder's sampling parameters and stop strings. With a {@code sessionId}, each prompt
 * should extend the previous prompt and completion (only the new tokens are prefilled; otherwise the session starts
 * afresh). The response's metadata holds {@code cachedTokens} and, with a session, {@code sessionTokens},
 * {@code sessionStateBytes} and {@code sessionReset}.
 */
public class CottentionLanguageModel extends CottentionGenerativeModel implements LanguageModel {
    private CottentionLanguageModel(Builder b) {
        super(b, "CottentionLanguageModel");
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<String> generate(String prompt) {
        try {
            Prepared p = prepare(prompt, defaults, List.of(), null);
            Completion c = engine.generate(p.request());
            Completion.Choice choice = c.choices().getFirst();
            Map<String, Object> md = new HashMap<>();
            md.put("cachedTokens", c.cachedTokens());
            if (c.session() != null) {
                md.put("sessionId", p.sessionId());
                md.put("sessionTokens", c.session().tokens());
                md.put("sessionStateBytes", c.session().stateBytes());
                md.put("sessionReset", c.session().reset());
            }
            return Response.from(choice.text(), usage(c), finishReason(choice.finishReason()), md);
        } catch (RuntimeException e) {
            throw translate(e);
        }
    }

    public static class Builder extends GenerationBuilder<Builder> {
        public CottentionLanguageModel build() {
            return new CottentionLanguageModel(this);
        }
    }
}
