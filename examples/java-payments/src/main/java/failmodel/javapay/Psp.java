package failmodel.javapay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;

/** The partner's PSP: POST /psp/charges with an idempotency key derived from the payment. */
final class Psp {
    enum Kind { CAPTURED, DECLINED, UNKNOWN }

    static final class Result {
        final Kind kind;
        final String chargeId;
        final String why;

        Result(Kind kind, String chargeId, String why) {
            this.kind = kind;
            this.chargeId = chargeId;
            this.why = why;
        }
    }

    /**
     * The bug variant: a fresh Idempotency-Key on every call (a UUID per HTTP attempt, as a
     * team that thinks "one key per request" would write it). Every retry -- the client's
     * resend or the reconciler's -- after a charge whose answer was lost charges again.
     */
    static final String BUG_FRESH_KEY = "fresh_key_per_attempt";

    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(4);
    static final Duration RECONCILE_TIMEOUT = Duration.ofSeconds(5);

    private final HttpClient http;
    private final URI chargesUri;
    private final String variant;

    Psp(String partnerUrl, String variant) {
        String base = partnerUrl.endsWith("/") ? partnerUrl.substring(0, partnerUrl.length() - 1) : partnerUrl;
        this.chargesUri = URI.create(base + "/psp/charges");
        this.variant = variant;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(2))
                .build();
    }

    String keyFor(String paymentId) {
        if (variant.equals(BUG_FRESH_KEY)) {
            return "jp-charge-" + paymentId + "-" + UUID.randomUUID();
        }
        return "jp-charge-" + paymentId; // the same on every attempt, by every process
    }

    /** One call; never throws. Anything but a definite answer is UNKNOWN (may have charged). */
    Result charge(String paymentId, long amount, Duration timeout) {
        // Exactly the same body on every attempt (the key's stored answer is matched on it).
        ObjectNode body = Main.JSON.createObjectNode();
        body.put("reference", paymentId);
        body.put("amount", amount);
        try {
            HttpRequest req = HttpRequest.newBuilder(chargesUri)
                    .timeout(timeout)
                    .header("Content-Type", "application/json")
                    .header("Idempotency-Key", keyFor(paymentId))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(Main.JSON.writeValueAsBytes(body)))
                    .build();
            HttpResponse<byte[]> resp = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            int status = resp.statusCode();
            if (status == 200) {
                JsonNode j = Main.JSON.readTree(resp.body());
                if (j != null && "succeeded".equals(j.path("status").asText())
                        && j.path("charge_id").isTextual() && !j.path("charge_id").asText().isEmpty()) {
                    return new Result(Kind.CAPTURED, j.get("charge_id").asText(), null);
                }
                return new Result(Kind.UNKNOWN, null, "200 with an unexpected body");
            }
            if (status == 402) {
                return new Result(Kind.DECLINED, null, null);
            }
            if (status == 422) {
                Main.log("PSP 422 for " + paymentId + " (key reused with another body?)");
            }
            return new Result(Kind.UNKNOWN, null, "PSP answered " + status);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(Kind.UNKNOWN, null, "interrupted");
        } catch (Exception e) {
            return new Result(Kind.UNKNOWN, null, e.toString());
        }
    }
}
