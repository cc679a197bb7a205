package org.cottention.server;

/** An error answered as OpenAI does: {@code {"error": {"message", "type", "param", "code"}}} with an HTTP status. */
final class ApiError extends RuntimeException {
    final int status;
    final String type, param, code;
    final String retryAfter;

    ApiError(int status, String type, String code, String param, String message) {
        this(status, type, code, param, message, null);
    }

    ApiError(int status, String type, String code, String param, String message, String retryAfter) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
        this.retryAfter = retryAfter;
    }

    static ApiError badRequest(String param, String message) {
        return new ApiError(400, "invalid_request_error", null, param, message);
    }

    static ApiError notFound(String code, String message) {
        return new ApiError(404, "invalid_request_error", code, null, message);
    }
}
