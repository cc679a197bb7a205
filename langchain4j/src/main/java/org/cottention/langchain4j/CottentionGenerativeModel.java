package org.cottention.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.ChatRequestValidationUtils;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import org.cottention.serve.ChatTemplate;
import org.cottention.serve.Completion;
import org.cottention.serve.EngineException;
import org.cottention.serve.GenerationListener;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.serve.Session;
import org.cottention.serve.StateFormatException;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What the generating models share: the engine (one per model folder, see {@link CottentionModelBuilder}), the
 * default request parameters from the builder, the sessions by id, and the mapping between langchain4j's requests
 * and responses and the engine's ({@link InferenceEngine#submit}; there is no other decoding loop).
 *
 * <p>Chat messages become one prompt through the model's {@link ChatTemplate} (the default or the folder's
 * {@value ChatTemplate#FILE}); the template's stop strings end the assistant's turn. With a session, the whole
 * conversation is sent each time (as langchain4j's chat memory does) and the engine prefills only what the session
 * has not seen; a reply is returned as generated (with its leading space), so that sent back in the next request
 * it renders to exactly what the session saw.
 */
public abstract class CottentionGenerativeModel implements AutoCloseable {
    final SharedEngine shared;
    final InferenceEngine engine;
    final CottentionChatRequestParameters defaults;
    private final AtomicBoolean closed = new AtomicBoolean();

    CottentionGenerativeModel(GenerationBuilder<?> b, String model) {
        this.shared = b.open(InferenceEngine.Kind.CAUSAL, model);
        this.engine = shared.engine;
        CottentionChatRequestParameters d;
        try {
            d = b.defaults(engine.name());
            sampling(d, List.of()); // refuse bad defaults now rather than at the first request
        } catch (RuntimeException e) {
            shared.release();
            throw e instanceof IllegalArgumentException ? e : new IllegalArgumentException(e.getMessage(), e);
        }
        this.defaults = d;
    }

    /** The engine this model runs on (shared with every model built on the same folder). */
    public InferenceEngine engine() {
        return engine;
    }

    /** The conversation of this id, if a request has used it (e.g. to {@link InferenceEngine#exportState} it). */
    public Optional<Session> session(String sessionId) {
        return shared.existingSession(sessionId);
    }

    /**
     * Puts back a conversation saved with {@code engine().exportState(session(id).get())} (e.g. in a file, across
     * restarts): its next request prefills only what the state has not seen. A truncated or corrupted state, or one
     * of another model, is refused with a {@link StateFormatException} naming the problem.
     */
    public void restoreSession(String sessionId, byte[] state) throws StateFormatException {
        if (sessionId == null || sessionId.isBlank()) throw new IllegalArgumentException("sessionId must not be blank");
        shared.put(sessionId, engine.importState(state));
    }

    /** Drops a conversation's state; the next request with this id starts afresh. True when it existed. */
    public boolean forgetSession(String sessionId) {
        return shared.forget(sessionId);
    }

    /** Releases the engine (closed with the last model on it, unless the caller passed it in). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) shared.release();
    }

    // ------------------------------------------------------------------------------------------------ requests

    /** A request ready for the engine, and the session id it continues (or null). */
    record Prepared(InferenceEngine.Request request, String sessionId) {}

    /**
     * A chat request as an engine request. Its parameters are merged with the builder's defaults here too (ChatModel.chat
     * has done so already; merging again changes nothing), so that doChat called directly gets them as well.
     */
    Prepared prepare(ChatRequest chat, GenerationListener listener) {
        ChatRequestParameters p = defaults.overrideWith(chat.parameters());
        ChatRequestValidationUtils.validateMessages(chat.messages());
        ChatRequestValidationUtils.validate(p.toolSpecifications());
        ChatRequestValidationUtils.validate(p.toolChoice());
        ChatRequestValidationUtils.validate(p.responseFormat());
        ChatTemplate template = engine.template();
        String prompt = template.render(messages(chat.messages()), true);
        return prepare(prompt, p, template.stop(), listener);
    }

    /** A plain prompt with these parameters; {@code extraStops} come before the request's own stop strings. */
    Prepared prepare(String prompt, ChatRequestParameters p, List<String> extraStops, GenerationListener listener) {
        if (p.modelName() != null && !p.modelName().equals(engine.name()))
            throw new InvalidRequestException("model \"" + p.modelName() + "\" requested; this model is " + engine.name());
        String sessionId = p instanceof CottentionChatRequestParameters c ? c.sessionId() : null;
        Session session = null;
        if (sessionId != null) {
            if (sessionId.isBlank()) throw new InvalidRequestException("sessionId must not be blank");
            session = shared.session(sessionId);
        }
        return new Prepared(InferenceEngine.Request.text(prompt, session, sampling(p, extraStops), listener), sessionId);
    }

    static SamplingParams sampling(ChatRequestParameters p, List<String> extraStops) {
        if (p.frequencyPenalty() != null || p.presencePenalty() != null)
            throw new UnsupportedFeatureException("frequencyPenalty and presencePenalty are not supported by Cottention models (use repetitionPenalty)");
        List<String> stop = new ArrayList<>(extraStops);
        if (p.stopSequences() != null) for (String s : p.stopSequences()) if (!stop.contains(s)) stop.add(s);
        Long seed = null;
        float repetition = 1f;
        if (p instanceof CottentionChatRequestParameters c) {
            seed = c.seed();
            if (c.repetitionPenalty() != null) repetition = c.repetitionPenalty().floatValue();
        }
        try {
            return new SamplingParams(p.temperature() != null ? p.temperature().floatValue() : 1f, p.topP() != null ? p.topP().floatValue() : 1f,
                    p.topK() != null ? p.topK() : 0, repetition,
                    p.maxOutputTokens() != null ? p.maxOutputTokens() : GenerationBuilder.DEFAULT_MAX_TOKENS, stop, seed, 1, false);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
    }

    /** langchain4j's messages as the template's (system, user and assistant text; no tools, images or audio). */
    static List<ChatTemplate.Message> messages(List<ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) throw new InvalidRequestException("a chat request needs at least one message");
        List<ChatTemplate.Message> out = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> new ChatTemplate.Message("system", s.text());
                case UserMessage u -> new ChatTemplate.Message("user", text(u));
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) throw new UnsupportedFeatureException("tools are not supported by Cottention models");
                    yield new ChatTemplate.Message("assistant", a.text());
                }
                default -> throw new UnsupportedFeatureException(m.type() + " messages are not supported by Cottention models");
            });
        }
        return out;
    }

    private static String text(UserMessage u) {
        if (u.hasSingleText()) return u.singleText();
        StringBuilder sb = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) throw new UnsupportedFeatureException(c.type() + " content is not supported by Cottention models");
            if (!sb.isEmpty()) sb.append('\n');
            sb.append(t.text());
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------------ responses

    static FinishReason finishReason(String engineReason) {
        return switch (engineReason) {
            case "stop" -> FinishReason.STOP;
            case "length" -> FinishReason.LENGTH;
            default -> FinishReason.OTHER; // "cancelled"
        };
    }

    static TokenUsage usage(Completion c) {
        return new TokenUsage(c.promptTokens(), c.completionTokens());
    }

    ChatResponse chatResponse(Completion c, String sessionId) {
        Completion.Choice choice = c.choices().getFirst();
        CottentionChatResponseMetadata.Builder md = CottentionChatResponseMetadata.builder()
                .id("cottention-" + UUID.randomUUID()).modelName(engine.name())
                .tokenUsage(usage(c)).finishReason(finishReason(choice.finishReason())).cachedTokens(c.cachedTokens());
        if (c.session() != null)
            md.sessionId(sessionId).sessionTokens(c.session().tokens()).sessionStateBytes(c.session().stateBytes()).sessionReset(c.session().reset());
        return ChatResponse.builder().aiMessage(AiMessage.from(choice.text())).metadata(md.build()).build();
    }

    /** The engine's refusals and failures as langchain4j's exceptions (a future's wrapper unwrapped). */
    static RuntimeException translate(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
        return switch (t) {
            case LangChain4jException l -> l;
            case EngineException.QueueFull q -> new RateLimitException(q.getMessage(), q);
            case EngineException.Unsupported u -> new UnsupportedFeatureException(u.getMessage());
            case EngineException e -> new LangChain4jException(e.getMessage(), e);
            case IllegalArgumentException e -> new InvalidRequestException(e.getMessage(), e);
            case RuntimeException r -> r;
            case Error e -> throw e;
            default -> new LangChain4jException(t.getMessage(), t);
        };
    }
}
