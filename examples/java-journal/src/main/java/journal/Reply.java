package journal;

import java.util.LinkedHashMap;
import java.util.Map;

/** An HTTP answer: a status and a JSON object. */
final class Reply {
    final int status;
    final Map<String, Object> body;

    Reply(int status, Map<String, Object> body) {
        this.status = status;
        this.body = body;
    }

    static Reply unavailable(String why) {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put("error", "unavailable");
        b.put("detail", why == null ? "" : why);
        return new Reply(503, b);
    }
}

/** The store could not give a definite outcome: answered 503 (indeterminate). */
final class Unavailable extends RuntimeException {
    Unavailable(String msg, Throwable cause) {
        super(msg, cause);
    }
}

final class BadRequest extends RuntimeException {
    BadRequest(String msg) {
        super(msg);
    }
}
